//! One error type for the service, rendered as LoopBack's error envelope:
//! `{"error":{"statusCode","name","message","code"?,"details"?}}`. Authentication failures
//! from the `authn` layer are rendered here too ([`render_auth_error`]), so every error a
//! client sees has one format.

use std::sync::atomic::{AtomicU64, Ordering};

use authn::AuthError;
use axum::{
    Json,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Value, json};

/// The most problems a 422 lists: enough to fix a form, not a way to make the server write
/// megabytes (one problem per unknown key of a huge body).
pub const MAX_DETAILS: usize = 20;

mod chain;
mod from;

pub use chain::chain;
pub use from::render_auth_error;

/// `Result` with [`ApiError`] as the default error.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// One problem found in a request body, in the shape LoopBack (AJV) reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationDetail {
    /// JSON pointer to the offending value (`""` for the body itself).
    pub path: String,
    /// The failed keyword: `type`, `required`, `additionalProperties`, `minLength`, ...
    pub code: String,
    /// AJV's wording, e.g. `must NOT have fewer than 8 characters`.
    pub message: String,
    /// The keyword's parameters, e.g. `{"limit":8}`.
    pub info: Value,
}

/// Everything a request can end in other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422: the body parsed but breaks the schema; every problem is listed.
    #[error("the request body is invalid")]
    Validation(Vec<ValidationDetail>),
    /// 400 `BadRequestError`, with an optional LoopBack code and details.
    #[error("{message}")]
    BadRequest {
        code: Option<&'static str>,
        message: String,
        details: Option<Value>,
    },
    /// 400 `SyntaxError`: the body is not JSON.
    #[error("{0}")]
    Syntax(String),
    /// 415: the body is not declared as JSON.
    #[error("Content-type {0} does not match [application/json].")]
    UnsupportedMediaType(String),
    /// 413: the body is over the limit.
    #[error("request entity too large")]
    PayloadTooLarge,
    /// 401 from the service itself (login), with a Bearer challenge.
    #[error("{0}")]
    Unauthorized(String),
    /// 401 (or 500) from the authentication layer.
    #[error(transparent)]
    Auth(AuthError),
    /// 403: the caller is known but may not do this (a wrong current password).
    #[error("{0}")]
    Forbidden(String),
    /// 403 with a code a client can act on (`EMAIL_NOT_VERIFIED`: the login needs a proven
    /// address).
    #[error("{message}")]
    Denied { code: &'static str, message: String },
    /// 429: a rate limit; retry after `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests { retry_after: u64, message: String },
    /// 404 for a record that does not exist (or belongs to someone else).
    #[error("Entity not found: {model} with id {id}")]
    EntityNotFound { model: &'static str, id: String },
    /// 404 for a route that does not exist.
    #[error("Endpoint \"{0} {1}\" not found.")]
    EndpointNotFound(Method, String),
    /// 405 for a known path and a method it does not serve.
    #[error("Method {0} is not allowed on {1}.")]
    MethodNotAllowed(Method, String),
    /// 409: the request conflicts with stored state (an email already registered).
    #[error("{0}")]
    Conflict(String),
    /// 412: a precondition (`If-Match`, `If-None-Match`) failed and nothing was changed; the
    /// current entity tag, when there is one, is sent as `ETag`.
    #[error("{message}")]
    PreconditionFailed {
        message: &'static str,
        etag: Option<HeaderValue>,
    },
    /// 428: this service requires `If-Match` on writes (`TODO_JWT_REQUIRE_IF_MATCH`).
    #[error(
        "This server requires conditional writes: send If-Match with the ETag of your last read          of what you change."
    )]
    PreconditionRequired,
    /// 408: the request body did not arrive within the body timeout.
    #[error("The request body was not received in time.")]
    RequestTimeout,
    /// 503: too many request bodies are being received at once; retry shortly.
    #[error("The server is receiving too many request bodies at once; retry shortly.")]
    Busy,
    /// 503: too many large responses are held at once (their memory budget is spent).
    #[error(
        "The server is sending too many large responses at once; retry shortly, or page the \
         list with `limit` and `skip`."
    )]
    ResponsesBusy,
    /// 503: password checks are queued longer than the configured wait; retry shortly.
    #[error("The server is checking too many passwords at once; retry shortly.")]
    HashingBusy,
    /// 503: the database gave up on the request's transaction because of concurrent ones.
    #[error("The request collided with concurrent ones; retry it.")]
    Contention,
    /// 503: the request's database work ran out of its time budget (a filter too costly for
    /// the data, or a server too busy to give it a turn); retry later or narrow the filter.
    #[error("The query took longer than the server allows; narrow the filter, or retry later.")]
    QueryTimeout,
    /// 503: the database cannot be reached (an outage or a restart); the cause goes to the
    /// log. Answered at once, with `Retry-After`.
    #[error("The database is unavailable; retry shortly.")]
    DatabaseUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 507: the database has no room to write (a full disk); nothing was stored. Logged at
    /// `error` once a minute at most, and counted (`storage_full_total`), for the operator.
    #[error("The server has no room to store this; nothing was changed. Retry later.")]
    InsufficientStorage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 503 from readiness: the database has no room to write (code `INSUFFICIENT_STORAGE`,
    /// as the 507 of a refused write), so a load balancer sends requests elsewhere.
    #[error("The database has no room to write.")]
    CannotWrite(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 503 from readiness: the service is shutting down.
    #[error("The service is shutting down.")]
    ShuttingDown,
    /// 500: a fault of ours. The cause (kept as the `source()`) goes to the log; the client
    /// sees a generic message.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// A 500 caused by `cause`.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }

    /// A 503 because the database could not be reached, caused by `cause`.
    pub fn database_unavailable(
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::DatabaseUnavailable(cause.into())
    }

    /// A 400 with a LoopBack error code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: Some(code),
            message: message.into(),
            details: None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } | Self::Syntax(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::Denied { .. } => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Auth(error) => error.status(),
            Self::EntityNotFound { .. } | Self::EndpointNotFound(..) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(..) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::QueryTimeout
            | Self::Busy
            | Self::ResponsesBusy
            | Self::Contention
            | Self::HashingBusy
            | Self::DatabaseUnavailable(_)
            | Self::CannotWrite(_)
            | Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Validation(_) => "UnprocessableEntityError",
            Self::BadRequest { .. } => "BadRequestError",
            Self::Syntax(_) => "SyntaxError",
            Self::UnsupportedMediaType(_) => "UnsupportedMediaTypeError",
            Self::PayloadTooLarge => "PayloadTooLargeError",
            Self::Unauthorized(_) | Self::Auth(_) => "UnauthorizedError",
            Self::Forbidden(_) | Self::Denied { .. } => "ForbiddenError",
            Self::TooManyRequests { .. } => "TooManyRequestsError",
            Self::EntityNotFound { .. } => "Error",
            Self::EndpointNotFound(..) => "NotFoundError",
            Self::MethodNotAllowed(..) => "MethodNotAllowedError",
            Self::Conflict(_) => "ConflictError",
            Self::PreconditionFailed { .. } => "PreconditionFailedError",
            Self::PreconditionRequired => "PreconditionRequiredError",
            Self::QueryTimeout
            | Self::Busy
            | Self::ResponsesBusy
            | Self::Contention
            | Self::HashingBusy
            | Self::DatabaseUnavailable(_)
            | Self::CannotWrite(_)
            | Self::ShuttingDown => "ServiceUnavailableError",
            Self::RequestTimeout => "RequestTimeoutError",
            Self::InsufficientStorage(_) => "InsufficientStorageError",
            Self::Internal(_) => "InternalServerError",
        }
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            Self::Validation(_) => Some("VALIDATION_FAILED"),
            Self::BadRequest { code, .. } => *code,
            Self::Denied { code, .. } => Some(code),
            Self::UnsupportedMediaType(_) => Some("UNSUPPORTED_MEDIA_TYPE"),
            Self::Conflict(_) => Some("CONFLICT"),
            Self::PreconditionFailed { .. } => Some("PRECONDITION_FAILED"),
            Self::PreconditionRequired => Some("PRECONDITION_REQUIRED"),
            Self::EntityNotFound { .. } => Some("ENTITY_NOT_FOUND"),
            Self::QueryTimeout => Some("QUERY_TIMEOUT"),
            Self::Busy | Self::ResponsesBusy => Some("BUSY"),
            Self::Contention => Some("CONTENTION"),
            Self::HashingBusy => Some("OVERLOADED"),
            Self::DatabaseUnavailable(_) => Some("DATABASE_UNAVAILABLE"),
            Self::InsufficientStorage(_) | Self::CannotWrite(_) => Some("INSUFFICIENT_STORAGE"),
            Self::ShuttingDown => Some("SHUTTING_DOWN"),
            Self::TooManyRequests { .. } => Some("TOO_MANY_REQUESTS"),
            Self::Auth(AuthError::Unauthorized {
                reason: authn::FailureReason::Ended,
                ..
            }) => Some("SESSION_ENDED"),
            _ => None,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Validation(_) => "The request body is invalid. See error object `details` \
                                   property for more info."
                .to_owned(),
            other => other.to_string(),
        }
    }
}

/// The envelope as a response. (`X-Content-Type-Options: nosniff` is added to every response
/// by the middleware in `app`.)
pub fn envelope(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The cause is for the operator's log, never for the client.
            tracing::error!(cause = %chain(&self), "request failed");
            return envelope(
                status,
                json!({"error": {"statusCode": status.as_u16(), "message": "Internal Server Error"}}),
            );
        }
        if let Self::DatabaseUnavailable(_) = &self {
            tracing::warn!(cause = %chain(&self), "database unavailable");
        }
        if let Self::InsufficientStorage(_) = &self {
            storage_full(&self);
        }
        let mut error = json!({
            "statusCode": status.as_u16(),
            "name": self.name(),
            "message": self.message(),
        });
        if let Some(code) = self.code() {
            error["code"] = json!(code);
        }
        match &self {
            Self::Validation(details) => error["details"] = json!(details),
            Self::BadRequest {
                details: Some(details),
                ..
            } => error["details"] = details.clone(),
            _ => {}
        }
        let mut response = envelope(status, json!({ "error": error }));
        let challenge = match &self {
            Self::Unauthorized(_) => Some("Bearer"),
            Self::Auth(AuthError::Unauthorized { challenge, .. }) => *challenge,
            _ => None,
        };
        if let Some(scheme) = challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
        }
        if let Self::TooManyRequests { retry_after, .. } = &self
            && let Ok(value) = HeaderValue::from_str(&retry_after.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if let Self::QueryTimeout
        | Self::Busy
        | Self::ResponsesBusy
        | Self::Contention
        | Self::HashingBusy
        | Self::ShuttingDown = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Self::PreconditionFailed {
            etag: Some(etag), ..
        } = &self
        {
            response.headers_mut().insert(header::ETAG, etag.clone());
        }
        if let Self::InsufficientStorage(_) = self {
            // Space is freed by an operator, not in a second.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        if let Self::DatabaseUnavailable(_) = self {
            // A database restart takes a few seconds.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        response
    }
}

/// The seconds between two `error` lines about a full disk: each refused write is counted, and
/// logged at `debug`, but an operator needs one line a minute, not one a request.
const STORAGE_FULL_LOG_EVERY: u64 = 60;

/// Counts a write refused for lack of room, and logs it at `error` at most once a minute (per
/// process: the disk is the process's).
fn storage_full(error: &ApiError) {
    static LAST_LOGGED: AtomicU64 = AtomicU64::new(0);
    metrics::counter!("storage_full_total").increment(1);
    let now = crate::clock::now().unsigned_abs();
    let last = LAST_LOGGED.load(Ordering::Relaxed);
    let due = now.saturating_sub(last) >= STORAGE_FULL_LOG_EVERY;
    if due
        && LAST_LOGGED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::error!(
            cause = %chain(error),
            "the database has no room to write: writes are refused (507) until space is freed"
        );
    } else {
        tracing::debug!(cause = %chain(error), "write refused: no room");
    }
}
