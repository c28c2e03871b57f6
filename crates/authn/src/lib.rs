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
//!   `Option<CurrentUser>` where authentication is optional; [`CurrentUserId`] for a handler
//!   that needs only the id (it copies one string, not the profile).
//!
//! Apply the layer with [`axum::Router::route_layer`], not `layer`: routing then happens before
//! authentication, so an unknown path stays a 404 instead of becoming a 401.
//!
//! Two hooks, set on the registry and shared by every layer built from it:
//!
//! - failures are data ([`AuthError`]; a refusal carries a [`FailureReason`] for metrics and
//!   logs beside the client's message); the application renders them in its own wire format
//!   with [`StrategyRegistry::render_with`] (default: [`Renderer::plain`], the status, the
//!   `WWW-Authenticate` challenge and the message as plain text);
//! - an [`AuthObserver`] added with [`StrategyRegistry::observe`] hears every outcome (who was
//!   accepted by which strategy, who was refused and why, with the request), for throttling,
//!   metrics or an audit log, without the handlers knowing.
//!
//! A new strategy is a type implementing [`AuthenticationStrategy`], registered with
//! [`StrategyRegistry::with`]; routers then require it by name.
//!
//! # Example
//!
//! ```
//! use authn::{
//!     AuthError, AuthenticationStrategy, CurrentUser, FailureReason, StrategyRegistry,
//!     UserProfile,
//! };
//! use axum::{Router, response::IntoResponse, routing::get};
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
//!             .ok_or_else(|| {
//!                 AuthError::unauthorized(FailureReason::Missing, "X-User header not found.")
//!             })?;
//!         Ok(UserProfile::new(id))
//!     }
//! }
//!
//! async fn who_am_i(CurrentUser(user): CurrentUser) -> String {
//!     user.id
//! }
//!
//! let registry = StrategyRegistry::new()
//!     .with(HeaderStrategy)
//!     // The application's wire format for a refusal.
//!     .render_with(|error: AuthError| (error.status(), format!("no: {error}")).into_response());
//! let app: Router = Router::new()
//!     .route("/whoAmI", get(who_am_i))
//!     .route("/ping", get(|| async { "pong" }))
//!     .route_layer(registry.require(["header"]).expect("registered").skip("/ping"));
//! ```
#![warn(missing_docs)]

mod error;
mod hooks;
mod layer;
mod profile;
mod registry;
mod strategy;
mod user;

pub use error::{AuthError, FailureReason};
pub use hooks::{AuthObserver, AuthOutcome, Renderer};
pub use layer::{AuthLayer, AuthService};
pub use profile::UserProfile;
pub use registry::StrategyRegistry;
pub use strategy::AuthenticationStrategy;
pub use user::{CurrentUser, CurrentUserId, Unauthenticated};
