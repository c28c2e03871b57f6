//! The audit log: who did what to their account and sessions, when, from where.
//!
//! Each event of the vocabulary ([`AuthEvent`]: signups, logins, refreshes, logouts, password
//! changes, deletions, throttling) goes through [`record`]: a log line, a metric, and a row in `audit_events`, written in the
//! transaction of the change it records (a login's session, a password change, a deletion), or
//! on its own for attempts that change nothing (a failed login, a throttled one). The client's
//! address, `User-Agent` and request id come from the request being served: the credential and
//! session routes run inside [`with_context`], which makes them known to the code below
//! without passing them through every call. `GET /users/me/events` returns the caller's own
//! events, newest first; an account keeps its newest events only (the store's
//! `events_per_account`). Attempts that name no account are counted per client bucket and
//! minute instead of recorded ([`COUNT_WINDOW`]); events and counts older than the retention
//! are removed periodically.

use authn::CurrentUser;
use axum::{
    Json,
    extract::{RawQuery, Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

mod client;
mod events;

pub use client::{ClientBucket, ClientInfo};
pub use events::{AuthEvent, COUNT_WINDOW, record};

use crate::{
    http::error::Result,
    http::openapi::{BadRequest, ServiceUnavailable, Unauthorized},
    http::page,
    http::server::PeerAddr,
    store::{AuditRecord, Store},
};

/// Where a request comes from, as the audit log records it.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The client's address and `User-Agent`.
    pub client: ClientInfo,
    /// The request's id (`X-Request-Id`, the client's or ours).
    pub request_id: Option<String>,
    /// The client's rate-limit bucket, when the throttle's layer has set it.
    pub bucket: Option<std::sync::Arc<str>>,
}

/// What [`RequestContext`] is made of, kept as the request has it (header values are shared
/// buffers, the address a copy): most requests record no event, so nothing is converted
/// unless one does.
#[derive(Debug, Clone, Default)]
struct Captured {
    user_agent: Option<HeaderValue>,
    peer: Option<PeerAddr>,
    request_id: Option<HeaderValue>,
    bucket: Option<ClientBucket>,
}

tokio::task_local! {
    static CONTEXT: Captured;
}

/// Runs the request with its [`RequestContext`] known to the events it causes. A route layer
/// of the credential and session routes only: the todo routes record no events and do not
/// pay for it.
pub async fn with_context(request: Request, next: Next) -> Response {
    let captured = Captured {
        user_agent: request.headers().get(header::USER_AGENT).cloned(),
        peer: request.extensions().get::<PeerAddr>().copied(),
        // As the front layer kept or made it (a client's id that is not plain is replaced).
        request_id: crate::ops::telemetry::context::current_id(),
        bucket: request.extensions().get::<ClientBucket>().cloned(),
    };
    CONTEXT.scope(captured, next.run(request)).await
}

/// The context of the request being served (empty outside one).
pub fn current() -> RequestContext {
    CONTEXT
        .try_with(|captured| RequestContext {
            client: ClientInfo::from_parts(captured.user_agent.as_ref(), captured.peer),
            request_id: captured
                .request_id
                .as_ref()
                .and_then(|id| id.to_str().ok())
                .map(str::to_owned),
            bucket: captured
                .bucket
                .as_ref()
                .map(|ClientBucket(bucket)| bucket.clone()),
        })
        .unwrap_or_default()
}

/// The names an event can have, as the document's enum.
fn event_names() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(events::NAMES))
        .description(Some("What happened"))
        .build()
}

/// One event of the caller's, as `GET /users/me/events` lists it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditEvent)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    /// The event's id; pass the last one seen as `before` for the next page.
    pub id: i64,
    /// When (RFC 3339).
    #[schema(format = DateTime)]
    pub at: String,
    /// What happened.
    #[schema(schema_with = event_names)]
    pub event: String,
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The request's id (`X-Request-Id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The session concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

impl From<AuditRecord> for EventBody {
    fn from(record: AuditRecord) -> Self {
        Self {
            id: record.id,
            at: crate::clock::rfc3339(record.at),
            event: record.event,
            ip: record.ip,
            user_agent: record.user_agent,
            request_id: record.request_id,
            session_id: record.session_id,
        }
    }
}

/// The caller's own authentication and session events, newest first, a page at a time.
#[utoipa::path(
    get, path = "/users/me/events", tag = "UserController",
    operation_id = "UserController.findEvents",
    security(("jwt" = []), ("password" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200,
         description = "Events per page, 1 to 200 (50)"),
        ("before" = Option<i64>, Query, minimum = 1,
         description = "Only events with a lower id: the last id of the previous page"),
    ),
    responses(
        (status = 200, description = "The caller's events, newest first", body = Vec<EventBody>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn list_events(
    State(store): State<Store>,
    CurrentUser(caller): CurrentUser,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<EventBody>>> {
    let limit = page::limit(query.as_deref())?;
    let before = page::whole_number(query.as_deref(), "before", 1..=i64::MAX)?;
    let events = store.audit().list(&caller.id, before, limit).await?;
    Ok(Json(events.into_iter().map(EventBody::from).collect()))
}

/// The audit route (behind the bearer strategy), over any state that holds the [`Store`].
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Store: axum::extract::FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list_events))
}

/// Removes events older than `retention`. Run periodically by the app; a failure is logged
/// and tried again next time.
pub async fn remove_older_than(store: &Store, retention: std::time::Duration) {
    let keep = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    let before = crate::clock::now().saturating_sub(keep);
    match store.audit().remove_before(before).await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "old audit events removed"),
        Err(error) => tracing::warn!(
            cause = %crate::http::error::chain(&error),
            "cannot remove old audit events"
        ),
    }
}
