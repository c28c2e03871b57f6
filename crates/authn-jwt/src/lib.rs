//! JWT access tokens for [`authn`], the Rust counterpart of `@loopback/authentication-jwt`.
//!
//! - [`JwtService`] signs and verifies access tokens: HS256 with a configured secret of at least
//!   32 bytes (there is no default secret), LoopBack's claims (`id`, `name`, `email`, `iat`,
//!   `exp`) plus `sub`, `iss`, `aud` and `jti`. The algorithm is pinned and `exp` is required,
//!   so `alg: none`, another HMAC algorithm or a token that never expires are all refused.
//! - [`BearerJwtStrategy`] is the `jwt` strategy: it reads `Authorization: Bearer <jwt>`, and
//!   answers with LoopBack's exact 401 messages, so LoopBack clients see what they expect.
//!   Give it a [`UserDirectory`] and a token whose user no longer exists is refused too;
//!   [`CachedUserDirectory`] bounds what that costs (one lookup per user per TTL).
//!
//! # Example
//!
//! ```
//! use authn::{StrategyRegistry, UserProfile};
//! use authn_jwt::{BearerJwtStrategy, JwtConfig, JwtService};
//! use secrecy::SecretString;
//! use std::sync::Arc;
//!
//! let secret = SecretString::from("a secret of at least thirty-two bytes!!");
//! let jwt = Arc::new(JwtService::new(JwtConfig::new(secret)).expect("long enough"));
//! let token = jwt.sign(&UserProfile::new("user-1")).expect("signed");
//! assert_eq!(jwt.verify(&token).expect("valid").id, "user-1");
//!
//! // Routers then require it with `registry.require(["jwt"])`.
//! let registry = StrategyRegistry::new().with(BearerJwtStrategy::new(jwt));
//! assert!(registry.get("jwt").is_some());
//! ```
#![warn(missing_docs)]

mod bearer;
mod token;

pub use bearer::{BearerJwtStrategy, CachedUserDirectory, UserDirectory};
pub use token::{AccessClaims, JwtConfig, JwtError, JwtService, MIN_SECRET_BYTES, TokenError};
