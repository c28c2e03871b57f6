//! Thin handlers: extract, call [`Sessions`], shape the answer.

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;

use super::Sessions;
use crate::{accounts::Credentials, body::JsonBody, error::Result};

/// `POST /users/login`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Token)]
pub struct TokenBody {
    /// An HS256 JWT; send it as `Authorization: Bearer <token>`.
    pub token: String,
}

/// Logs in: an access token for valid credentials.
#[utoipa::path(
    post, path = "/users/login", tag = "UserController",
    request_body = Credentials,
    responses((status = 200, description = "An access token", body = TokenBody)),
)]
pub async fn log_in(
    State(sessions): State<Sessions>,
    JsonBody(credentials): JsonBody<Credentials>,
) -> Result<Json<TokenBody>> {
    let token = sessions.log_in(credentials).await?;
    Ok(Json(TokenBody { token }))
}
