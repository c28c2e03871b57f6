use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

/// Why a request could not be authenticated.
///
/// Renders as LoopBack's error envelope, so the status and message a strategy chooses are what the
/// client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The caller did not prove who they are: 401 with `message`, and a `WWW-Authenticate`
    /// header carrying `challenge` (for example `Bearer`) when the strategy names one.
    #[error("{message}")]
    Unauthorized {
        /// The message for the client, e.g. `Authorization header not found.`
        message: String,
        /// The authentication scheme to announce in `WWW-Authenticate`.
        challenge: Option<&'static str>,
    },
    /// A layer asked for a strategy nobody registered: a programming error found at start-up.
    #[error("authentication strategy '{0}' is not registered")]
    UnknownStrategy(String),
    /// The strategy could not decide (its user store failed, say): 500, with the cause kept for
    /// the log and a generic message for the client.
    #[error("authentication failed internally: {0}")]
    Internal(String),
}

impl AuthError {
    /// A 401 without a challenge header.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized {
            message: message.into(),
            challenge: None,
        }
    }

    /// A 401 that announces `scheme` in `WWW-Authenticate`.
    pub fn challenge(scheme: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthorized {
            message: message.into(),
            challenge: Some(scheme),
        }
    }

    /// The HTTP status this error renders with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::UnknownStrategy(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Self::Unauthorized { message, .. } => json!({"error": {
                "statusCode": status.as_u16(),
                "name": "UnauthorizedError",
                "message": message,
            }}),
            Self::UnknownStrategy(_) | Self::Internal(_) => {
                // The cause is for the operator's log, never for the client.
                tracing::error!(error = %self, "authentication could not complete");
                json!({"error": {"statusCode": status.as_u16(), "message": "Internal Server Error"}})
            }
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Self::Unauthorized {
            challenge: Some(scheme),
            ..
        } = self
        {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
        }
        response
    }
}
