//! Getting back in after a lost password, as OWASP's Forgot Password cheat sheet says:
//! `POST /users/password-reset` answers 202 whether or not the address has an account (the work
//! is done after the answer, so neither the body nor the time tells); the message carries a
//! single-use token (256 bits, stored as its SHA-256, 30 minutes, only the newest valid);
//! `POST /users/password-reset/confirm` sets the new password (signup's rules), ends every
//! session, cancels an address change asked before, proves the address, records the event and
//! sends a notice. No automatic login. Requests are limited per
//! address (the credential routes' limit) and per email ([`RESETS_PER_HOUR`]: no mail bombing).

use axum::{extract::State, http::StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::{
    Accounts,
    email::invalid_token,
    model::credential_properties,
    tokens::{EmailAddress, RESET, accepted_then},
};
use crate::{
    audit::{self, AuthEvent},
    clock,
    http::{
        body::{JsonBody, json_body_schema},
        error::Result,
        openapi::{JsonBodyErrors, ServiceUnavailable, TooManyRequests},
    },
    mail::{CHANGE_EMAIL, PASSWORD_RESET},
    secret_token::token_hash,
    throttle::AddressLimited,
};

/// Reset messages one email may receive an hour; further requests answer the same and send
/// nothing.
pub const RESETS_PER_HOUR: i64 = 3;

/// `POST /users/password-reset/confirm`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetConfirmation {
    pub token: String,
    pub new_password: SecretString,
}

json_body_schema!(
    ResetConfirmation,
    json!({
        "type": "object",
        "required": ["token", "newPassword"],
        "additionalProperties": false,
        "properties": {
            "token": {"type": "string", "minLength": 1, "maxLength": 128},
            // Signup's rule.
            "newPassword": credential_properties()["password"].clone(),
        },
        "example": {"token": "q1x...the token from the message", "newPassword": "a new one"},
    })
);

impl Accounts {
    /// Sends a reset message to `email` if it is an account's and has not had its hourly
    /// share; otherwise nothing. Says nothing either way.
    pub async fn send_password_reset(&self, email: &str) -> Result<()> {
        match self.asking_account(email, &RESET, RESETS_PER_HOUR).await? {
            Some(user) => self.send_token(&user, &RESET).await,
            None => Ok(()),
        }
    }

    /// Sets the password of the token's account and ends every session of it.
    pub async fn reset_password(&self, token: &str, new: SecretString) -> Result<()> {
        let (token, now) = (token_hash(token), clock::now());
        // A token that cannot work costs no password hash (made-up tokens must not buy CPU);
        // the one that can is used, for good, in the transaction below.
        if !self
            .store()
            .mail()
            .token_works(&token, PASSWORD_RESET, now)
            .await?
        {
            return Err(invalid_token());
        }
        let hash = self.passwords().hash(new).await?;
        // Now again: the token must still work after the hashing.
        let now = clock::now();
        let transaction = self.store().transaction().await?;
        let user = transaction
            .mail()
            .token_use(&token, PASSWORD_RESET, now)
            .await?
            .map(|used| used.user_id);
        let Some(user) = user else {
            return Err(invalid_token());
        };
        let Some(account) = transaction.users().find(&user).await? else {
            return Err(invalid_token());
        };
        transaction.users().set_password_hash(&user, hash).await?;
        let ended = transaction.sessions().end_all(&user).await?;
        // The link came through the mailbox, which is proven; an address change asked before
        // (by whoever knew the old password) is cancelled.
        transaction.mail().user_verify(&user, now).await?;
        transaction.mail().token_drop(&user, CHANGE_EMAIL).await?;
        audit::record(
            transaction.audit(),
            AuthEvent::PasswordReset { user: &user, ended },
        )
        .await?;
        let notice = self
            .mailer()
            .password_changed("through a password reset link");
        self.mailer()
            .enqueue(transaction.mail(), &account.email, &notice, now)
            .await?;
        transaction.commit().await?;
        self.mailer().wake();
        Ok(())
    }
}

/// Sends a password reset link to the address, if it is an account's. The answer is the same
/// either way, and comes before the work.
#[utoipa::path(
    post, path = "/users/password-reset", tag = "UserController",
    operation_id = "UserController.requestPasswordReset",
    request_body = EmailAddress,
    responses(
        (status = 202, description = "Accepted: if the address is an account's (and has not had \
            3 reset messages this hour), a message with a reset link is on its way"),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
        JsonBodyErrors,
    ),
)]
pub async fn request_password_reset(
    _: AddressLimited,
    State(accounts): State<Accounts>,
    JsonBody(body): JsonBody<EmailAddress>,
) -> StatusCode {
    accepted_then("a password reset request", async move {
        accounts.send_password_reset(&body.email).await
    })
}

/// Sets a new password with the token of a reset message; every session of the account ends.
#[utoipa::path(
    post, path = "/users/password-reset/confirm", tag = "UserController",
    operation_id = "UserController.confirmPasswordReset",
    request_body = ResetConfirmation,
    responses(
        (status = 204, description = "The password is set and every session has ended; log in \
            with it. A token that is unknown, used, replaced by a newer one or expired is 400 \
            `INVALID_TOKEN`"),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
        JsonBodyErrors,
    ),
)]
pub async fn confirm_password_reset(
    _: AddressLimited,
    State(accounts): State<Accounts>,
    JsonBody(body): JsonBody<ResetConfirmation>,
) -> Result<StatusCode> {
    accounts
        .reset_password(&body.token, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
