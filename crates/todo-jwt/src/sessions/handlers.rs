//! Thin handlers: extract, call [`Sessions`], shape the answer.

use authn::CurrentUser;
use axum::{
    Json,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{Sessions, Tokens, token::with_no_store};
use crate::audit::ClientInfo;
use crate::{
    accounts::Credentials,
    http::body::{JsonBody, json_body_schema},
    http::error::Result,
    http::openapi::{
        BadRequest, Forbidden, JsonBodyErrors, NotFound, ServiceUnavailable, TooManyRequests,
        Unauthorized,
    },
    http::page,
    store::Session,
    throttle::AddressLimited,
};

/// `POST /users/login`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Token)]
#[serde(rename_all = "camelCase")]
pub struct TokenBody {
    /// A JWT (EdDSA, or HS256 where so configured); send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// Present (`true`) when the account has a second factor: the token works only for
    /// `POST /users/login/mfa` (and `GET /users/me/mfa`) until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub mfa_required: Option<bool>,
}

/// Logs in: an access token for valid credentials.
#[utoipa::path(
    post, path = "/users/login", tag = "UserController", operation_id = "UserController.login",
    request_body = Credentials,
    responses(
        (status = 200, description = "An access token", body = TokenBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        JsonBodyErrors,
    ),
)]
pub async fn log_in(
    _: AddressLimited,
    State(sessions): State<Sessions>,
    client: ClientInfo,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<Response> {
    let tokens = sessions.log_in(credentials, client).await?;
    let body = TokenBody {
        token: tokens.access_token,
        mfa_required: tokens.mfa_required.then_some(true),
    };
    Ok(with_no_store(Json(body).into_response()))
}

/// A new access token and refresh token (LoopBack's `TokenObject`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshedTokens {
    /// An access token (a JWT with the session's `sid`).
    pub access_token: String,
    /// The refresh token to present next time (absent when rotation is off: the one presented
    /// stays valid).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub refresh_token: Option<String>,
    /// Present (`true`) when the account has a second factor: the access token works only for
    /// `POST /users/login/mfa` (and `GET /users/me/mfa`), and the refresh token refreshes
    /// nothing, until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub mfa_required: Option<bool>,
}

/// `POST /users/refresh-login`'s answer: [`RefreshedTokens`] with its refresh token, which
/// a login always gives (documentation only).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "documents the JSON `refresh_login` writes")]
pub struct LoginTokens {
    /// An access token (a JWT with the session's `sid`).
    access_token: String,
    /// The session's refresh token, for `POST /refresh`.
    refresh_token: String,
    /// Present (`true`) when the account has a second factor: the access token works only for
    /// `POST /users/login/mfa` (and `GET /users/me/mfa`), and the refresh token refreshes
    /// nothing, until then.
    #[schema(nullable = false)]
    mfa_required: Option<bool>,
}

/// Logs in with a refresh token as well: LoopBack's `POST /users/refresh-login`.
#[utoipa::path(
    post, path = "/users/refresh-login", tag = "UserController",
    operation_id = "UserController.refreshLogin",
    request_body = Credentials,
    responses(
        (status = 200, description = "An access token and a refresh token", body = LoginTokens),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        JsonBodyErrors,
    ),
)]
pub async fn refresh_login(
    _: AddressLimited,
    State(sessions): State<Sessions>,
    client: ClientInfo,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<Response> {
    let tokens = sessions.log_in_with_refresh(credentials, client).await?;
    Ok(with_no_store(
        Json(RefreshedTokens::from(tokens)).into_response(),
    ))
}

impl From<Tokens> for RefreshedTokens {
    fn from(tokens: Tokens) -> Self {
        Self {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            mfa_required: tokens.mfa_required.then_some(true),
        }
    }
}

/// `POST /refresh`'s body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshGrant {
    refresh_token: String,
}

json_body_schema!(
    RefreshGrant,
    json!({
        "type": "object",
        "required": ["refreshToken"],
        "additionalProperties": false,
        "properties": {
            "refreshToken": {"type": "string", "minLength": 1, "maxLength": 512},
        },
    })
);

/// Exchanges a refresh token: a new access token and, with rotation (the default), the
/// session's next refresh token; the one presented is spent. LoopBack mode
/// (`TODO_JWT_REFRESH_ROTATION=false`) answers `{"accessToken"}` only.
#[utoipa::path(
    post, path = "/refresh", tag = "UserController", operation_id = "UserController.refresh",
    request_body = RefreshGrant,
    responses(
        (status = 200, description = "New tokens", body = RefreshedTokens),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        JsonBodyErrors,
    ),
)]
pub async fn refresh(
    _: AddressLimited,
    State(sessions): State<Sessions>,
    JsonBody(grant): JsonBody<RefreshGrant>,
) -> Result<Response> {
    let tokens = sessions.refresh(&grant.refresh_token).await?;
    Ok(with_no_store(
        Json(RefreshedTokens::from(tokens)).into_response(),
    ))
}

/// Logs out: ends the caller's session, so its tokens are refused (within a second on every
/// instance).
#[utoipa::path(
    post, path = "/users/logout", tag = "UserController", operation_id = "UserController.logout",
    security(("jwt" = []), ("password" = [])),
    responses(
        (status = 204, description = "The session has ended"),
        (status = 401, response = Unauthorized),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn log_out(
    State(sessions): State<Sessions>,
    CurrentUser(caller): CurrentUser,
) -> Result<StatusCode> {
    sessions.log_out(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Logs out everywhere: ends every session of the caller.
#[utoipa::path(
    post, path = "/users/logout-all", tag = "UserController",
    operation_id = "UserController.logoutAll",
    security(("jwt" = []), ("password" = [])),
    responses(
        (status = 204, description = "Every session of the caller has ended"),
        (status = 401, response = Unauthorized),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn log_out_everywhere(
    State(sessions): State<Sessions>,
    CurrentUser(caller): CurrentUser,
) -> Result<StatusCode> {
    sessions.log_out_everywhere(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The longest `before` taken (a session id is a 36-character UUID).
const MAX_SESSION_ID: usize = 64;

/// One of the caller's sessions.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    /// The session's id (the `sid` of its access tokens).
    pub id: String,
    /// When it started (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When it last got a token (RFC 3339).
    #[schema(format = DateTime)]
    pub last_used_at: String,
    /// The client's `User-Agent` at login.
    pub user_agent: Option<String>,
    /// The client's address at login.
    pub ip: Option<String>,
    /// Whether this is the session of the token that asks.
    pub current: bool,
}

impl SessionBody {
    fn of(session: Session, current: Option<&str>) -> Self {
        Self {
            current: current == Some(session.id.as_str()),
            id: session.id,
            created_at: crate::clock::rfc3339(session.created_at),
            last_used_at: crate::clock::rfc3339(session.last_used_at),
            user_agent: session.user_agent,
            ip: session.ip,
        }
    }
}

/// The caller's live sessions, newest first (by start time, then by id), a page at a time.
#[utoipa::path(
    get, path = "/users/me/sessions", tag = "UserController",
    operation_id = "UserController.findSessions",
    security(("jwt" = []), ("password" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200,
         description = "Sessions per page, 1 to 200 (50)"),
        ("before" = Option<String>, Query, min_length = 1, max_length = 64,
         description = "Only sessions after this one in the list: the last id of the previous page"),
    ),
    responses(
        (status = 200, description = "The caller's sessions, newest first", body = Vec<SessionBody>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn list_sessions(
    State(sessions): State<Sessions>,
    CurrentUser(caller): CurrentUser,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<SessionBody>>> {
    let limit = page::limit(query.as_deref())?;
    let before = page::text(query.as_deref(), "before", MAX_SESSION_ID)?;
    let current = caller.session.as_deref();
    let list = sessions.list(&caller, before.as_deref(), limit).await?;
    Ok(Json(
        list.into_iter()
            .map(|session| SessionBody::of(session, current))
            .collect(),
    ))
}

/// Ends one of the caller's sessions (404 for an unknown id or another user's session).
#[utoipa::path(
    delete, path = "/users/me/sessions/{id}", tag = "UserController",
    operation_id = "UserController.deleteSessionById",
    security(("jwt" = []), ("password" = [])),
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 204, description = "The session has ended"),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn end_session(
    State(sessions): State<Sessions>,
    CurrentUser(caller): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    sessions.end(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
