//! Accounts: signup, login and whoAmI.

mod accounts;
mod handlers;
mod model;
mod passwords;

pub use accounts::{Accounts, StoreDirectory};
pub use passwords::Passwords;

use axum::{
    Router,
    routing::{get, post},
};

use crate::app::AppState;

/// The public account routes.
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/signup", post(handlers::sign_up))
        .route("/users/login", post(handlers::log_in))
}

/// The account routes that need an authenticated caller.
pub fn protected_router() -> Router<AppState> {
    Router::new().route("/whoAmI", get(handlers::who_am_i))
}
