//! Failures as data: what went wrong, and for a refusal, why in a word.

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
        /// Why, as a type: what metrics and logs read, so the message stays the client's.
        reason: FailureReason,
    },
    /// The caller is known but these credentials may not be used here: 403 with `message`,
    /// and `code` for the client to act on (e.g. `MFA_REQUIRED`: the token has one factor of
    /// two).
    #[error("{message}")]
    Forbidden {
        /// The message for the client.
        message: String,
        /// What the client can act on, e.g. `MFA_REQUIRED`.
        code: &'static str,
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
    /// A 401 without a challenge header, refused for `reason`.
    pub fn unauthorized(reason: FailureReason, message: impl Into<String>) -> Self {
        Self::Unauthorized {
            message: message.into(),
            challenge: None,
            reason,
        }
    }

    /// A 401 that announces `scheme` in `WWW-Authenticate`, refused for `reason`.
    pub fn challenge(
        scheme: &'static str,
        reason: FailureReason,
        message: impl Into<String>,
    ) -> Self {
        Self::Unauthorized {
            message: message.into(),
            challenge: Some(scheme),
            reason,
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
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::UnknownStrategy(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Whether this is a verdict on the caller (a 401) rather than a failure of ours.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }

    /// Why the caller was refused; `None` when this is not a verdict on the caller.
    pub fn reason(&self) -> Option<FailureReason> {
        match self {
            Self::Unauthorized { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}

/// Why a caller was refused, in words a metric label or a log field can hold: a small closed
/// set, whatever the credentials (a bearer token, an API key, a signed cookie), so a client
/// cannot mint new values and nobody has to read the client's message to tell refusals apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureReason {
    /// No credentials, or none the strategy can read: the header is absent, of another scheme,
    /// or not in the expected shape.
    Missing,
    /// Credentials in the right place that cannot be parsed.
    Malformed,
    /// Credentials that were valid but whose time is over.
    Expired,
    /// Credentials whose validity has not begun yet.
    NotActive,
    /// Credentials whose signature (or secret) does not match.
    BadSignature,
    /// Credentials that were valid but no longer speak for anyone: the user is gone.
    Revoked,
    /// Credentials of a session that has ended (a logout, say) while its user remains: the
    /// client should authenticate again.
    Ended,
    /// Well-formed, authentic credentials this service does not accept (another issuer, an
    /// unknown key, a required field missing, ...).
    Invalid,
    /// Anything else, or a reason the strategy does not tell.
    Other,
}

impl FailureReason {
    /// The reason as one lowercase word (`missing`, `malformed`, `expired`, `not_active`,
    /// `bad_signature`, `revoked`, `session_ended`, `invalid`, `other`): a metric label, a log field.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::NotActive => "not_active",
            Self::BadSignature => "bad_signature",
            Self::Revoked => "revoked",
            Self::Ended => "session_ended",
            Self::Invalid => "invalid",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
