//! Thin handlers: extract, call [`Accounts`], shape the answer.

use authn::CurrentUser;
use axum::{Json, extract::State};

use super::model::{Credentials, NewUser, TokenBody, UserBody};
use crate::{app::AppState, body::JsonBody, error::Result};

/// Creates an account; 409 when the email is taken (in any letter case).
#[utoipa::path(
    post, path = "/signup", tag = "UserController",
    request_body = NewUser,
    responses((status = 200, description = "The new user, without its password", body = UserBody)),
)]
pub async fn sign_up(
    State(state): State<AppState>,
    JsonBody(new_user): JsonBody<NewUser>,
) -> Result<Json<UserBody>> {
    let user = state.accounts.sign_up(new_user).await?;
    Ok(Json(user.into()))
}

/// Logs in: an access token for valid credentials.
#[utoipa::path(
    post, path = "/users/login", tag = "UserController",
    request_body = Credentials,
    responses((status = 200, description = "An access token", body = TokenBody)),
)]
pub async fn log_in(
    State(state): State<AppState>,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<Json<TokenBody>> {
    let token = state.accounts.log_in(credentials).await?;
    Ok(Json(TokenBody { token }))
}

/// The caller's user id, as plain text.
#[utoipa::path(
    get, path = "/whoAmI", tag = "UserController",
    security(("jwt" = []), ("password" = [])),
    responses((status = 200, description = "The user id", body = String, content_type = "text/plain")),
)]
pub async fn who_am_i(CurrentUser(user): CurrentUser) -> String {
    user.id
}
