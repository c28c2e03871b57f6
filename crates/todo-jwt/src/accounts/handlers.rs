//! Thin handlers: extract, call [`Accounts`], shape the answer.

use authn::CurrentUser;
use axum::{Json, extract::State};

use super::{
    Accounts,
    model::{NewUser, UserBody},
};
use crate::{body::JsonBody, error::Result};

/// Creates an account; 409 when the email is taken (in any letter case).
#[utoipa::path(
    post, path = "/signup", tag = "UserController",
    request_body = NewUser,
    responses((status = 200, description = "The new user, without its password", body = UserBody)),
)]
pub async fn sign_up(
    State(accounts): State<Accounts>,
    JsonBody(new_user): JsonBody<NewUser>,
) -> Result<Json<UserBody>> {
    let user = accounts.sign_up(new_user).await?;
    Ok(Json(user.into()))
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
