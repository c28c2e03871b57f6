//! Why the service cannot start with its configuration.

use std::{io, ops::RangeInclusive, path::PathBuf};

use authn_jwt::JwtError;

/// Why the service cannot start with this configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A number outside its accepted range ([`super::ranges`]).
    #[error("{name}: {value} is out of range; accepted: {} to {}", range.start(), range.end())]
    OutOfRange {
        /// The setting's environment variable.
        name: &'static str,
        /// The value given.
        value: u64,
        /// What is accepted.
        range: RangeInclusive<u64>,
    },
    /// A database URL of a kind the service does not take (it was taken for a SQLite file
    /// path, and failed later naming no path).
    #[error("TODO_JWT_DATABASE_URL: the scheme {scheme:?} {hint}")]
    DatabaseUrl {
        /// The URL's scheme, as given, without its colon (never the rest: it may hold a
        /// password).
        scheme: String,
        /// What is accepted instead.
        hint: &'static str,
    },
    /// PostgreSQL's `key=value` connection string, which is not taken.
    #[error(
        "TODO_JWT_DATABASE_URL looks like a PostgreSQL key=value connection string, which is \
         not taken: write it as a URL, postgres://user[:password]@host[:port]/database"
    )]
    DatabaseConnectionString,
    /// A trusted proxy that is neither an address nor a CIDR.
    #[error("TODO_JWT_TRUSTED_PROXIES: {0:?} is not an address or a CIDR (10.0.0.0/8, ::1)")]
    TrustedProxy(String),
    /// A CORS origin that is not `scheme://host[:port]`.
    #[error(
        "TODO_JWT_CORS_ORIGINS: {0:?} is not an origin; write scheme://host[:port] (for \
         example https://app.example.com), comma-separated, or * for any"
    )]
    CorsOrigin(String),
    /// PostgreSQL means several instances, which must share one configured secret.
    #[error(
        "with PostgreSQL every instance must use the same token secret, so one must be \
         configured: set TODO_JWT_SECRET (or --secret) to the same random value of at least \
         32 bytes on every instance, e.g. `openssl rand -hex 32`"
    )]
    SharedSecretRequired,
    /// The configured secret is too short to be safe.
    #[error(
        "the JWT secret must be at least {min} bytes (it has {0}); set TODO_JWT_SECRET to a long \
         random value, e.g. `openssl rand -hex 32`",
        min = authn_jwt::MIN_SECRET_BYTES
    )]
    SecretTooShort(usize),
    /// The secret file can be read by other local users.
    #[error(
        "{} is readable by other users (mode {mode:o}): anyone who can read it can sign tokens \
         for any account; run `chmod 600 {}`",
        path.display(), path.display()
    )]
    SecretFileExposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The configured secret repeats a few characters: easy to guess whatever its length.
    #[error(
        "the JWT secret has only {0} different characters; use a random value, e.g. \
         `openssl rand -hex 32`"
    )]
    SecretTooSimple(usize),
    /// The configured secret looks chosen by a person.
    #[error(
        "the JWT secret looks chosen by a person ({0}): anyone holding a token can test guesses \
         of it offline. Generate one, e.g. `openssl rand -hex 32`, or set \
         TODO_JWT_ALLOW_GUESSABLE_SECRET=true to use it anyway"
    )]
    SecretGuessable(String),
    /// The token keys are unusable for another reason.
    #[error("{setting}: {reason}")]
    Mail {
        setting: &'static str,
        reason: String,
    },
    #[error("the token keys are unusable")]
    Keys(#[source] JwtError),
    /// The data directory or the secret file could not be used.
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}
