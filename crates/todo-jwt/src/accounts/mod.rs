//! Accounts: signup and whoAmI; the account service and password hashing behind them.
//! The caller's account (`GET /users/me`), password change and account deletion
//! (`/users/me/password`, `DELETE /users/me`); addresses proven, changed and passwords reset
//! by mail.

mod address;
mod email;
mod handlers;
pub mod mfa;
mod model;
mod passwords;
mod reset;
mod service;
mod tokens;

pub use email::INVALID_TOKEN;
pub use model::{Credentials, NewUser, UserBody};
pub use passwords::{Passwords, PasswordsError, bcrypt_cost};
pub use service::{Accounts, EMAIL_NOT_VERIFIED, INVALID_CREDENTIALS};

use axum::extract::FromRef;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The public account routes, over any state that holds [`Accounts`].
pub fn public_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Accounts: FromRef<S>,
    crate::http::body::BodyLimits: FromRef<S>,
    crate::throttle::Throttles: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(handlers::sign_up))
        .routes(routes!(email::verify_email))
        .routes(routes!(email::resend_verification))
        .routes(routes!(reset::request_password_reset))
        .routes(routes!(reset::confirm_password_reset))
        .routes(routes!(address::confirm_email_change))
}

/// `GET /whoAmI`: needs an authenticated caller, and changes nothing (no audit event).
pub fn who_am_i_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    OpenApiRouter::new().routes(routes!(handlers::who_am_i))
}

/// The account changes that need an authenticated caller.
pub fn protected_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Accounts: FromRef<S>,
    crate::http::body::BodyLimits: FromRef<S>,
    crate::throttle::Throttles: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(handlers::change_password))
        .routes(routes!(handlers::delete_account))
        .routes(routes!(handlers::find_me))
        .routes(routes!(address::change_email))
        .routes(routes!(mfa::handlers::enrol_totp))
        .routes(routes!(mfa::handlers::verify_totp))
        .routes(routes!(mfa::handlers::new_recovery_codes))
        .routes(routes!(mfa::handlers::disable_totp))
}

/// The account routes a token of the password alone (`aal1`) may call too: what factors the
/// account has.
pub fn first_factor_router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Accounts: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(mfa::handlers::find_factors))
}
