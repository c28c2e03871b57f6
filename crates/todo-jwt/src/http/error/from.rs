//! What other layers' failures become: the authentication layer's refusals, the store's
//! errors (by their kind, never their text), and a filter's problems.

use authn::AuthError;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ApiError, MAX_DETAILS};
use crate::{filter::FilterError, store::StoreError};

/// How the `authn` layer's refusals look: LoopBack's envelope, with the strategy's challenge.
pub fn render_auth_error(error: AuthError) -> Response {
    ApiError::from(error).into_response()
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            // The same 503 as any request's when the database is down.
            AuthError::Unavailable(cause) => Self::DatabaseUnavailable(cause),
            AuthError::Forbidden { message, code } => Self::Denied { code, message },
            other => Self::Auth(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => {
                Self::Conflict("The request conflicts with a stored record.".into())
            }
            StoreError::StorageFull(cause) => Self::InsufficientStorage(cause),
            // Transient, but each with its own answer: a query out of its budget is most often
            // the client's costly filter, and a collision is no outage.
            StoreError::TimedOut => Self::QueryTimeout,
            StoreError::Contention => Self::Contention,
            error if error.is_transient() => Self::database_unavailable(error),
            StoreError::PatternTooComplex => Self::bad_request(
                "INVALID_PARAMETER_VALUE",
                "The regular expression is too complex to run; simplify it.",
            ),
            other => Self::internal(other),
        }
    }
}

impl From<FilterError> for ApiError {
    fn from(error: FilterError) -> Self {
        // As for bodies: enough problems to fix the filter, never megabytes of them.
        let details: Vec<Value> = error
            .problems
            .iter()
            .take(MAX_DETAILS)
            .map(|problem| json!({"path": problem.path, "message": problem.message}))
            .collect();
        ApiError::BadRequest {
            code: Some("INVALID_PARAMETER_VALUE"),
            message: error.to_string(),
            details: Some(Value::Array(details)),
        }
    }
}
