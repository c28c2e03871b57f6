//! Sessions: logging in (`/users/login`, and the OAuth 2.0 token endpoint `/users/token`), and
//! the directory the bearer strategy asks whether a verified token still speaks for someone.
//! (Refresh tokens, logout and the session list belong here too.)

mod directory;
mod handlers;
mod service;
mod token;

pub use directory::StoreDirectory;
pub use service::Sessions;

use axum::extract::FromRef;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The login routes (public), over any state that holds [`Sessions`].
pub fn public_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Sessions: FromRef<S>,
    crate::body::BodyLimits: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(handlers::log_in))
        .routes(routes!(token::issue_token))
}
