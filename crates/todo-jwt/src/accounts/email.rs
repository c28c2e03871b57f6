//! Proving an address: `POST /users/verify-email` with the token the signup message carried.

use axum::{extract::State, http::StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{
    Accounts,
    tokens::{EmailAddress, VERIFICATION, accepted_then},
};
use crate::{
    audit::{self, AuthEvent},
    clock,
    http::{
        body::{JsonBody, json_body_schema},
        error::{ApiError, Result},
        openapi::{JsonBodyErrors, ServiceUnavailable, TooManyRequests},
    },
    mail::VERIFY_EMAIL,
    secret_token::token_hash,
    throttle::AddressLimited,
};

/// The code of a token that is unknown, used, replaced by a newer one, or expired.
pub const INVALID_TOKEN: &str = "INVALID_TOKEN";

/// A token from a message (`POST /users/verify-email`).
#[derive(Debug, Deserialize)]
pub struct EmailToken {
    pub token: String,
}

json_body_schema!(
    EmailToken,
    json!({
        "type": "object",
        "required": ["token"],
        "additionalProperties": false,
        "properties": {"token": {"type": "string", "minLength": 1, "maxLength": 128}},
        "example": {"token": "q1x...the token from the message"},
    })
);

/// Verification messages one email may receive an hour by asking again.
pub const RESENDS_PER_HOUR: i64 = 3;

impl Accounts {
    /// Sends a new verification message (the older links stop working) if `email` is an
    /// account's whose address is not proven yet and it has not had its hourly share; otherwise
    /// nothing. Says nothing either way.
    pub async fn resend_verification(&self, email: &str) -> Result<()> {
        let Some(user) = self
            .asking_account(email, &VERIFICATION, RESENDS_PER_HOUR)
            .await?
        else {
            return Ok(());
        };
        let verified = self.store().mail().user_verified_at(&user.id).await?;
        if verified.flatten().is_some() {
            return Ok(());
        }
        self.send_token(&user, &VERIFICATION).await
    }

    /// Marks the address of the token's account proven, and uses the token up.
    pub async fn verify_email(&self, token: &str) -> Result<()> {
        let now = clock::now();
        let transaction = self.store().transaction().await?;
        let user = transaction
            .mail()
            .token_use(&token_hash(token), VERIFY_EMAIL, now)
            .await?
            .map(|used| used.user_id);
        let Some(user) = user else {
            return Err(invalid_token());
        };
        transaction.mail().user_verify(&user, now).await?;
        audit::record(
            transaction.audit(),
            AuthEvent::EmailVerified { user: &user },
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }
}

/// 400 for a token that does not work (whatever the reason: unknown, used, replaced, expired).
pub(super) fn invalid_token() -> ApiError {
    ApiError::BadRequest {
        code: Some(INVALID_TOKEN),
        message: "The token is invalid, already used, replaced by a newer one, or expired."
            .to_owned(),
        details: None,
    }
}

/// Proves the address of the account the token was sent to (the signup message's link).
#[utoipa::path(
    post, path = "/users/verify-email", tag = "UserController",
    operation_id = "UserController.verifyEmail",
    request_body = EmailToken,
    responses(
        (status = 204, description = "The address is proven. A token that is unknown, used, \
            replaced by a newer one or expired is 400 `INVALID_TOKEN`"),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
        JsonBodyErrors,
    ),
)]
pub async fn verify_email(
    _: AddressLimited,
    State(accounts): State<Accounts>,
    JsonBody(body): JsonBody<EmailToken>,
) -> Result<StatusCode> {
    accounts.verify_email(&body.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends the verification message again, if the address is an account's and not proven yet.
/// The answer is the same either way, and comes before the work.
#[utoipa::path(
    post, path = "/users/verify-email/resend", tag = "UserController",
    operation_id = "UserController.resendVerification",
    request_body = EmailAddress,
    responses(
        (status = 202, description = "Accepted: if the address is an unverified account's (and \
            has not had 3 of these this hour), a new message is on its way; older links stop \
            working"),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
        JsonBodyErrors,
    ),
)]
pub async fn resend_verification(
    _: AddressLimited,
    State(accounts): State<Accounts>,
    JsonBody(body): JsonBody<EmailAddress>,
) -> StatusCode {
    accepted_then("a verification resend", async move {
        accounts.resend_verification(&body.email).await
    })
}
