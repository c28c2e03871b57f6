//! JWT access tokens for [`authn`], the Rust counterpart of `@loopback/authentication-jwt`.
//!
//! - [`Key`] and [`KeySet`]: what tokens are signed and verified with. A key is HS256 (a
//!   secret of at least 32 bytes; there is no default secret) or Ed25519 (EdDSA, with a
//!   `kid`, its public half published as a JWK). A set is a rotation's schedule: each signing
//!   key signs from its time on, older ones still verify, and a token's `kid` picks the key
//!   ([`KeySet::jwks`] is the JWK Set to publish).
//! - [`JwtService`] signs and verifies access tokens: LoopBack's claims (`id`, `name`, `email`,
//!   `iat`, `exp`) plus `sub`, `iss`, `aud`, `jti`, and `sid` when the user has a session.
//!   The algorithm is pinned to the key's and `exp` is required, so `alg: none`, another HMAC
//!   algorithm or a token that never expires are all refused. [`JwtService::verify`] returns a
//!   [`VerifiedToken`]: the profile, and the token's id, issue and expiry times. Verified
//!   tokens are remembered (bounded, never past `exp`, forgotten when the keys change), and
//!   [`JwtService::set_keys`] rotates the keys of a running service.
//! - [`BearerJwtStrategy`] is the `jwt` strategy: it reads `Authorization: Bearer <jwt>`, and
//!   answers with LoopBack's exact 401 messages, so LoopBack clients see what they expect;
//!   each refusal also carries its [`authn::FailureReason`] (a [`TokenError`] becomes
//!   `Malformed`, `Expired`, ...), which is what metrics and logs read.
//!   Give it a [`UserDirectory`] and it asks, for each verified token, whether the token still
//!   speaks for someone (its user exists, its session is live): a token it refuses gets a 401.
//!   [`CachedUserDirectory`] bounds what that costs (one lookup per user per TTL); a
//!   directory that knows an answer without waiting says so in `UserDirectory::known`, which
//!   the strategy asks first. Each thread keeps copies of the answers it uses again
//!   ([`near`]): a cached answer then costs no lock.
//! - [`near::NearCopies`]: a thread's copies of a shared cache's hot entries, for any cache
//!   whose reads contend (the application's own use it too).
//!
//! Nothing here names an application: the issuer, audience and keys are the caller's.
//!
//! # Example
//!
//! ```
//! use authn::{StrategyRegistry, UserProfile};
//! use authn_jwt::{BearerJwtStrategy, JwtConfig, JwtService, Key, KeySet};
//! use secrecy::SecretString;
//! use std::sync::Arc;
//!
//! let secret = SecretString::from("a secret of at least thirty-two bytes!!");
//! let key = Key::hs256(&secret).expect("long enough");
//! let jwt = Arc::new(JwtService::new(JwtConfig::new(KeySet::single(key), "my-app", "my-app")));
//! let token = jwt.sign(&UserProfile::new("user-1")).expect("signed");
//! assert_eq!(jwt.verify(&token).expect("valid").user.id, "user-1");
//!
//! // Routers then require it with `registry.require(["jwt"])`.
//! let registry = StrategyRegistry::new().with(BearerJwtStrategy::new(jwt));
//! assert!(registry.get("jwt").is_some());
//! ```
#![warn(missing_docs)]

mod bearer;
mod claims;
mod directory;
mod error;
mod keys;
pub mod near;
mod token;

pub use bearer::{BearerJwtStrategy, FIRST_FACTOR, MFA_REQUIRED};
pub use claims::{AccessClaims, VerifiedToken};
pub use directory::{CachedUserDirectory, Standing, UserDirectory};
pub use error::{JwtError, MIN_SECRET_BYTES, MIN_SECRET_DISTINCT_BYTES, TokenError};
pub use keys::{Key, KeySet};
pub use token::{JwtConfig, JwtService};
