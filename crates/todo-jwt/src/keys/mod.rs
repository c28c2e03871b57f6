//! The keys access tokens are signed with: stored in the database, shared by every instance,
//! rotated without a restart, and published at `GET /.well-known/jwks.json`.
//!
//! - A key is a row of `signing_keys` ([`crate::store::KeyRecord`]). An Ed25519 key (EdDSA)
//!   keeps its public half in the clear and its private seed sealed; an HS256 row's key is the
//!   service secret itself (its tokens carry no `kid`, as LoopBack's do), and the row holds a
//!   seal of its own. Every seal is made with the service secret over every field of its row
//!   ([`sealing`]), so reading the table (a dump, a replica, a backup) does not let anyone
//!   sign tokens without the secret too, and writing to it does not let anyone add a key,
//!   change one, or retire one.
//! - Only rows this secret opens are trusted, to sign, to verify and to retire others, of
//!   whatever algorithm. A row that does not open (written without the secret, or altered) is
//!   left out, said once in the log, and the service goes on with the keys that open; at
//!   start, a table none of whose rows opens is refused (the secret is not the keys').
//! - The first start of an installation adds its first key: EdDSA unless `--jwt-algorithm`
//!   says otherwise. (An installation from before keys were stored, whose clients hold HS256
//!   tokens, got an HS256 row from the migration that made the table.) Starting with another
//!   `--jwt-algorithm` than the newest key's adds a key of that algorithm.
//! - Rows sealed by a release before every field was bound are re-sealed once, at the first
//!   start with the secret ([`reseal`]).
//! - A rotation ([`rotate`]: `todo-jwt rotate-keys`, or `SIGUSR2`) adds an Ed25519 key that is
//!   published at once and signs only from `signs_from` on, so every instance (which reload
//!   the table every few seconds) and every verifier caching the JWK Set knows it before the
//!   first token it signs. The key added last whose time has come signs. Older keys verify
//!   until the tokens they signed have expired: a key is removed once a key added after it
//!   has signed for longer than the token lifetime. [`revoke`] removes one at once;
//!   [`replace_all`] (after `todo-jwt restore`) replaces them all with a new one.
//!
//! Layout: [`sealing`] (keys at rest: what is bound, what cannot be), [`reseal`] (the upgrade
//! of older rows), [`rotation`] (adding, switching and removing rows), [`ring`] (the keys in
//! force, kept in step with the table), [`jwks`] (the public route).

mod jwks;
mod reseal;
mod ring;
mod rotation;
mod sealing;

pub use jwks::{Jwks, PublicJwk, jwks};
pub use reseal::reseal;
pub use ring::{KeyOptions, Keyring};
pub use rotation::{replace_all, revoke, rotate};
pub use sealing::Sealer;

use axum::extract::FromRef;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::store::{KeyRecord, StoreError};

/// The algorithm new access tokens are signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JwtAlgorithm {
    /// Ed25519 signatures: others verify tokens with the public keys alone.
    #[value(name = "EdDSA", alias = "eddsa")]
    EdDsa,
    /// HMAC-SHA256 with the service secret: only holders of the secret can verify (LoopBack's).
    #[value(name = "HS256", alias = "hs256")]
    Hs256,
}

impl JwtAlgorithm {
    /// The name stored in `signing_keys.algorithm` (and written in tokens' `alg`).
    pub fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Hs256 => "HS256",
        }
    }

    fn of(record: &KeyRecord) -> Option<Self> {
        match record.algorithm.as_str() {
            "EdDSA" => Some(Self::EdDsa),
            "HS256" => Some(Self::Hs256),
            _ => None,
        }
    }
}

/// How long a verifier may cache the JWK Set (`Cache-Control: public, max-age=300`): a
/// rotation should publish a key longer than this before it signs (`--key-activation-delay`
/// defaults to 600 s).
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

/// Why the keys could not be loaded or rotated.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another rotation took the same generation at the same moment.
    #[error("another instance added a signing key at the same moment; try again")]
    Concurrent,
    /// A key of the table does not open with this secret.
    #[error(
        "signing key {0} cannot be opened with this service secret (TODO_JWT_SECRET when set, \
         else <data-dir>/jwt-secret): it was sealed with another one, or its row was altered; \
         use the secret the keys were made with, or see \"Changing the secret\" in the README"
    )]
    Unopenable(String),
    /// A row that opens, but appeared below the newest key this instance has loaded: keys are
    /// only ever added after the newest, so this one was removed and put back (from a dump,
    /// say), perhaps after it was revoked.
    #[error(
        "signing key {0} appeared below the newest key in force, where no key is ever added: \
         a removed key put back is not trusted"
    )]
    Reappeared(String),
    /// A row holds the largest generation there is: no key can be added after it.
    #[error("signing key {0} holds the last generation: remove it (todo-jwt revoke-key)")]
    NoGenerationLeft(String),
    /// A row of an algorithm this version does not know.
    #[error("signing key {0} has an unknown algorithm")]
    UnknownAlgorithm(String),
    /// No key of the table can sign.
    #[error("no signing key can sign")]
    NoSigningKey,
    /// `revoke-key` of a key that is not in the table.
    #[error("there is no signing key {0}")]
    UnknownKey(String),
    /// `revoke-key` of the newest key: nothing would take over.
    #[error(
        "{0} is the newest signing key: add another first (todo-jwt rotate-keys \
         --key-activation-delay 0), then revoke this one"
    )]
    NewestKey(String),
    /// A key could not be built.
    #[error("a signing key is unusable")]
    Key(#[from] authn_jwt::JwtError),
}

/// The JWK Set's route (public), over any state that holds the [`Keyring`].
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Keyring: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(jwks::jwks))
}

#[cfg(test)]
mod tests;
