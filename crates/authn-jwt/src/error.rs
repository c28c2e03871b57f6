//! What can go wrong: with the token service itself ([`JwtError`]), or with a presented token
//! ([`TokenError`]).

use jsonwebtoken::errors::ErrorKind;

// The rules an HS256 secret must meet sit with the error that reports a breach of them, so
// that `keys` (which enforces them) depends on this module and not the other way round.

/// The shortest HS256 secret accepted: 256 bits, the size of the hash (RFC 7518, 3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// The fewest different bytes an HS256 secret may have: a long run of a few characters
/// (`aaaa…`) passes a length check but not this one, while a random hex secret has about 16.
pub const MIN_SECRET_DISTINCT_BYTES: usize = 8;

/// A problem with the token service itself (its keys, or signing).
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The secret is shorter than [`MIN_SECRET_BYTES`].
    #[error("the JWT secret must be at least {min} bytes long (it has {0})", min = MIN_SECRET_BYTES)]
    SecretTooShort(usize),
    /// The secret has fewer than [`MIN_SECRET_DISTINCT_BYTES`] different bytes.
    #[error("the JWT secret has only {0} different bytes")]
    SecretTooSimple(usize),
    /// A key set of several keys needs a distinct id on each.
    #[error("every key of a key set with several keys needs its own id")]
    KeyIdRequired,
    /// An Ed25519 key that is not one: a public key (`x`) that is not 32 bytes of base64url
    /// or not a point of the curve, or a private key that cannot be encoded.
    #[error("invalid Ed25519 key: {0}")]
    InvalidKey(&'static str),
    /// The signing key of a set can only verify (a public key).
    #[error("the signing key has no private half")]
    VerifyOnly,
    /// Signing failed (it cannot for HS256 with valid claims; kept for completeness).
    #[error("could not sign the token")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

/// Why a presented token is not valid. The `Display` text is the reason LoopBack prints after
/// `Error verifying token : `.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("jwt malformed")]
    Malformed,
    /// The signature does not match.
    #[error("invalid signature")]
    BadSignature,
    /// `exp` has passed.
    #[error("jwt expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("jwt not active")]
    NotActive,
    /// Well-formed but unacceptable: another algorithm, an unknown key id, a missing `exp` or
    /// `id`, another issuer or audience.
    #[error("invalid token")]
    Invalid,
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(error: jsonwebtoken::errors::Error) -> Self {
        match error.kind() {
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => Self::Malformed,
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotActive,
            _ => Self::Invalid,
        }
    }
}
