//! Thin handlers: extract, call [`Accounts`], shape the answer.

use authn::CurrentUser;
use axum::{Json, extract::State, http::StatusCode};

use super::{
    Accounts,
    model::{AccountDeletion, NewUser, PasswordChange, UserBody},
};
use crate::{
    http::body::JsonBody,
    http::error::Result,
    http::openapi::{
        Conflict, Forbidden, JsonBodyErrors, ServiceUnavailable, TooManyRequests, Unauthorized,
    },
    throttle::AddressLimited,
};

/// Creates an account; 409 when the email is taken (in any letter case).
#[utoipa::path(
    post, path = "/signup", tag = "UserController", operation_id = "UserController.signUp",
    request_body = NewUser,
    responses(
        (status = 200, description = "The new user, without its password", body = UserBody),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        JsonBodyErrors,
    ),
)]
pub async fn sign_up(
    _: AddressLimited,
    State(accounts): State<Accounts>,
    JsonBody(new_user): JsonBody<NewUser>,
) -> Result<Json<UserBody>> {
    let user = accounts.sign_up(new_user).await?;
    // Just created: its address is not proven yet.
    Ok(Json(UserBody::new(user, false)))
}

/// The caller's account (without its password), and whether its address is proven.
#[utoipa::path(
    get, path = "/users/me", tag = "UserController", operation_id = "UserController.findMe",
    security(("jwt" = []), ("password" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserBody),
        (status = 401, response = Unauthorized),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn find_me(
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
) -> Result<Json<UserBody>> {
    let (user, verified) = accounts.current_verified(&caller).await?;
    Ok(Json(UserBody::new(user, verified)))
}

/// The caller's user id, as plain text.
#[utoipa::path(
    get, path = "/whoAmI", tag = "UserController", operation_id = "UserController.whoAmI",
    security(("jwt" = []), ("password" = [])),
    responses(
        (status = 200, description = "The user id", body = String, content_type = "text/plain"),
        (status = 401, response = Unauthorized),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn who_am_i(CurrentUser(user): CurrentUser) -> String {
    user.id
}

/// Changes the caller's password; every other session of the caller ends (this one stays).
#[utoipa::path(
    put, path = "/users/me/password", tag = "UserController",
    operation_id = "UserController.changePassword",
    security(("jwt" = []), ("password" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; the caller's other sessions have ended"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        JsonBodyErrors,
    ),
)]
pub async fn change_password(
    _: AddressLimited,
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
    JsonBody(change): JsonBody<PasswordChange>,
) -> Result<StatusCode> {
    accounts
        .change_password(&caller, change.current_password, change.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the caller's account with its todos and sessions; the email can sign up again.
#[utoipa::path(
    delete, path = "/users/me", tag = "UserController",
    operation_id = "UserController.deleteAccount",
    security(("jwt" = []), ("password" = [])),
    request_body = AccountDeletion,
    responses(
        (status = 204, description = "The account and everything in it are gone"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        JsonBodyErrors,
    ),
)]
pub async fn delete_account(
    _: AddressLimited,
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
    JsonBody(deletion): JsonBody<AccountDeletion>,
) -> Result<StatusCode> {
    accounts.delete_account(&caller, deletion.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
