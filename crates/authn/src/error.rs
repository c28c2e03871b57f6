use http::StatusCode;

/// Why a request could not be authenticated: data, not a response.
///
/// The application decides how a failure looks on the wire (see
/// [`crate::StrategyRegistry::render_with`]); this crate only says what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The caller did not prove who they are: 401 with `message`, and a `WWW-Authenticate`
    /// challenge naming `challenge` (for example `Bearer`) when the strategy has one.
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
    /// The strategy could not decide (its user store failed, say). Not a verdict on the caller:
    /// a 500, whose cause is for the operator's log, never for the client.
    #[error("authentication could not complete")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The strategy could not decide because something it depends on is unavailable for now
    /// (its user store's database is down, say): a 503, worth retrying. Not a verdict either.
    #[error("authentication is unavailable for now")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
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

    /// An internal failure caused by `cause` (kept as the error's `source()`).
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }

    /// A temporary failure caused by `cause` (kept as the error's `source()`).
    pub fn unavailable(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(cause.into())
    }

    /// The HTTP status this error stands for.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::UnknownStrategy(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Whether this is a verdict on the caller (a 401) rather than a failure of ours.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }
}
