//! Sessions: logging in (`/users/login`, and the OAuth 2.0 token endpoint `/users/token`) starts
//! one; logging out ends it; the caller's sessions can be listed and ended one by one. And the
//! directory the bearer strategy asks whether a verified token still speaks for someone.
//! Refresh tokens rotate, with reuse detection (`refresh.rs`).

mod directory;
mod ended;
mod ending;
mod handlers;
mod mfa;
mod refresh;
mod service;
mod token;

pub use directory::StoreDirectory;
pub use ended::{EndedFirst, EndedSessions};
pub use mfa::{SECOND_FACTOR, SecondStep};
pub use refresh::{RefreshKey, random_token, token_hash};
pub use service::{RefreshPolicy, Sessions, Tokens};

use axum::extract::FromRef;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The login routes (public), over any state that holds [`Sessions`].
pub fn public_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Sessions: FromRef<S>,
    crate::http::body::BodyLimits: FromRef<S>,
    crate::throttle::Throttles: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(handlers::log_in))
        .routes(routes!(handlers::refresh_login))
        .routes(routes!(handlers::refresh))
        .routes(routes!(token::issue_token))
}

/// The routes a token of the password alone (`aal1`) may call too: completing its login, and
/// ending it.
pub fn first_factor_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Sessions: FromRef<S>,
    crate::http::body::BodyLimits: FromRef<S>,
    crate::throttle::Throttles: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(mfa::complete_login))
        .routes(routes!(handlers::log_out))
}

/// The session routes that need an authenticated caller.
pub fn protected_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Sessions: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(handlers::log_out_everywhere))
        .routes(routes!(handlers::list_sessions))
        .routes(routes!(handlers::end_session))
}
