//! Thin handlers: extract, call [`Accounts`], shape the answer.

use authn::CurrentUser;
use axum::{Json, extract::State};

use super::model::{Credentials, NewUser, TokenBody, UserBody};
use crate::{app::AppState, body::JsonBody, error::Result};

/// `POST /signup`: creates an account; 409 when the email is taken.
pub async fn sign_up(
    State(state): State<AppState>,
    JsonBody(new_user): JsonBody<NewUser>,
) -> Result<Json<UserBody>> {
    let user = state.accounts.sign_up(new_user).await?;
    Ok(Json(user.into()))
}

/// `POST /users/login`: a token for valid credentials.
pub async fn log_in(
    State(state): State<AppState>,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<Json<TokenBody>> {
    let token = state.accounts.log_in(credentials).await?;
    Ok(Json(TokenBody { token }))
}

/// `GET /whoAmI`: the caller's id, as plain text.
pub async fn who_am_i(CurrentUser(user): CurrentUser) -> String {
    user.id
}
