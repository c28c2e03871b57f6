//! Pluggable request authentication for axum, the Rust counterpart of
//! `@loopback/authentication`.
//!
//! The pieces, and the LoopBack idea each one stands for:
//!
//! - [`AuthenticationStrategy`]: a named way to turn a request into a [`UserProfile`]
//!   (LoopBack's `AuthenticationStrategy`). This crate ships none: JWT lives in `authn-jwt`.
//! - [`StrategyRegistry`]: the strategies an application knows, by name
//!   (LoopBack's `registerAuthenticationStrategy`).
//! - [`AuthLayer`]: "this router requires strategy X" (LoopBack's `@authenticate('x')`), with
//!   [`AuthLayer::skip`] for a route that is public (`@authenticate.skip()`) and
//!   [`AuthLayer::optional`] for routes that accept anonymous callers.
//! - [`CurrentUser`]: the authenticated user as an extractor (`SecurityBindings.USER`);
//!   `Option<CurrentUser>` where authentication is optional.
//!
//! Apply the layer with [`axum::Router::route_layer`], not `layer`: routing then happens before
//! authentication, so an unknown path stays a 404 instead of becoming a 401.
//!
//! Failures render as LoopBack's error envelope (`{"error":{"statusCode":401,...}}`) with a
//! `WWW-Authenticate` challenge, so clients of a LoopBack service see the same wire format.
//!
//! # Example
//!
//! ```
//! use authn::{AuthError, AuthenticationStrategy, CurrentUser, StrategyRegistry, UserProfile};
//! use axum::{Router, routing::get};
//! use http::request::Parts;
//!
//! /// Accepts the caller named in an `X-User` header (for illustration only).
//! struct HeaderStrategy;
//!
//! #[async_trait::async_trait]
//! impl AuthenticationStrategy for HeaderStrategy {
//!     fn name(&self) -> &str {
//!         "header"
//!     }
//!
//!     async fn authenticate(&self, request: &Parts) -> Result<UserProfile, AuthError> {
//!         let id = request
//!             .headers
//!             .get("x-user")
//!             .and_then(|value| value.to_str().ok())
//!             .ok_or_else(|| AuthError::unauthorized("X-User header not found."))?;
//!         Ok(UserProfile::new(id))
//!     }
//! }
//!
//! async fn who_am_i(CurrentUser(user): CurrentUser) -> String {
//!     user.id
//! }
//!
//! let registry = StrategyRegistry::new().with(HeaderStrategy);
//! let app: Router = Router::new()
//!     .route("/whoAmI", get(who_am_i))
//!     .route("/ping", get(|| async { "pong" }))
//!     .route_layer(registry.require(["header"]).expect("registered").skip("/ping"));
//! ```
#![warn(missing_docs)]

mod error;
mod layer;
mod registry;
mod user;

pub use error::AuthError;
pub use layer::{AuthLayer, AuthService};
pub use registry::{AuthenticationStrategy, StrategyRegistry};
pub use user::{CurrentUser, UserProfile};
