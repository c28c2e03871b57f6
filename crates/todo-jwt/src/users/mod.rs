//! Accounts: signup, login and whoAmI.

mod accounts;
mod handlers;
mod model;
mod passwords;
mod token;

pub use accounts::{Accounts, StoreDirectory};
pub use passwords::Passwords;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;

/// The public account routes.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::sign_up))
        .routes(routes!(handlers::log_in))
        .routes(routes!(token::issue_token))
}

/// The account routes that need an authenticated caller.
pub fn protected_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(handlers::who_am_i))
}
