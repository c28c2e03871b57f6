//! Moving an account to another address: `PUT /users/me/email` (the new address and the current
//! password) sends a link to the new address and a notice to the current one; the account moves
//! only when the link's token comes back to `POST /users/me/email/confirm` (public: the link
//! may be opened while logged out), which proves the new address, and tells the former one.
//! Addresses stay unique in any letter case, checked when asked and again when confirmed.

use authn::{CurrentUser, UserProfile};
use axum::{extract::State, http::StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::{
    Accounts,
    email::{EmailToken, invalid_token},
    model::credential_properties,
    service::taken,
    tokens::CHANGE,
};
use crate::{
    audit::{self, AuthEvent},
    clock,
    http::{
        body::{JsonBody, json_body_schema},
        error::{ApiError, Result},
        openapi::{
            Conflict, Forbidden, JsonBodyErrors, ServiceUnavailable, TooManyRequests, Unauthorized,
        },
    },
    mail::CHANGE_EMAIL,
    secret_token::token_hash,
    store::email_key,
    throttle::AddressLimited,
};

/// Address changes one account may ask for an hour.
pub const CHANGES_PER_HOUR: i64 = 3;

/// `PUT /users/me/email`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailChange {
    pub new_email: String,
    pub password: SecretString,
}

json_body_schema!(
    EmailChange,
    json!({
        "type": "object",
        "required": ["newEmail", "password"],
        "additionalProperties": false,
        "properties": {
            "newEmail": credential_properties()["email"].clone(),
            "password": {"type": "string", "minLength": 1, "maxLength": 256},
        },
        "example": {"newEmail": "ann@example.org", "password": "correct horse"},
    })
);

impl Accounts {
    /// Sends a link to `new` that moves the caller's account there, and a notice to their
    /// current address (403 if `password` is wrong, 409 if `new` is an account's, 400 if it
    /// is already theirs, 429 past [`CHANGES_PER_HOUR`]).
    pub async fn request_email_change(
        &self,
        caller: &UserProfile,
        new: &str,
        password: SecretString,
    ) -> Result<()> {
        let user = self.confirm(caller, password).await?;
        // Every request with the right password counts, refused ones included: the answers
        // (409 for an address that is an account's) must not become a way to list accounts.
        let now = clock::now();
        let key = format!("{CHANGE_EMAIL}:{}", user.id);
        let counter = self.store().throttle().hit(&key, now, 3600).await?;
        if counter.count > CHANGES_PER_HOUR {
            return Err(ApiError::TooManyRequests {
                retry_after: u64::try_from(counter.expires_at - now).unwrap_or(1).max(1),
                message: format!("At most {CHANGES_PER_HOUR} address changes an hour."),
            });
        }
        if email_key(new) == email_key(&user.email) {
            return Err(ApiError::bad_request(
                "SAME_EMAIL",
                "That is already the account's address.",
            ));
        }
        if self.store().users().find_by_email(new).await?.is_some() {
            return Err(taken(crate::store::StoreError::Conflict));
        }
        let transaction = self.store().transaction().await?;
        self.mail_token_to(&transaction, &user, new, &CHANGE)
            .await?;
        let notice = self.mailer().email_change_requested(new);
        self.mailer()
            .enqueue(transaction.mail(), &user.email, &notice, now)
            .await?;
        audit::record(
            transaction.audit(),
            AuthEvent::EmailChangeRequested {
                user: &user.id,
                email: new,
            },
        )
        .await?;
        transaction.commit().await?;
        self.mailer().wake();
        Ok(())
    }

    /// Moves the token's account to the address the token was sent to, now proven; the links
    /// sent before stop working, and the former address is told.
    pub async fn confirm_email_change(&self, token: &str) -> Result<()> {
        let now = clock::now();
        let transaction = self.store().transaction().await?;
        let used = transaction
            .mail()
            .token_use(&token_hash(token), CHANGE_EMAIL, now)
            .await?;
        let Some((user, Some(new))) = used.map(|used| (used.user_id, used.new_email)) else {
            return Err(invalid_token());
        };
        let Some(former) = transaction.users().find(&user).await? else {
            return Err(invalid_token());
        };
        let moved = transaction
            .users()
            .move_email(&user, &new, now)
            .await
            .map_err(taken)?;
        if !moved {
            return Err(invalid_token());
        }
        transaction.mail().tokens_drop(&user).await?;
        audit::record(
            transaction.audit(),
            AuthEvent::EmailChanged {
                user: &user,
                email: &new,
            },
        )
        .await?;
        let notice = self.mailer().email_changed(&new);
        self.mailer()
            .enqueue(transaction.mail(), &former.email, &notice, now)
            .await?;
        transaction.commit().await.map_err(taken)?;
        self.mailer().wake();
        Ok(())
    }
}

/// Asks to move the caller's account to another address: a link goes there, a notice to the
/// current one; nothing changes until the link is opened.
#[utoipa::path(
    put, path = "/users/me/email", tag = "UserController",
    operation_id = "UserController.changeEmail",
    security(("jwt" = []), ("password" = [])),
    request_body = EmailChange,
    responses(
        (status = 202, description = "Accepted: a confirmation link was sent to the new address \
            (it works for a day; a newer request replaces it) and a notice to the current \
            one. The same address in another letter case is 400 `SAME_EMAIL`"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
        JsonBodyErrors,
    ),
)]
pub async fn change_email(
    _: AddressLimited,
    State(accounts): State<Accounts>,
    CurrentUser(caller): CurrentUser,
    JsonBody(change): JsonBody<EmailChange>,
) -> Result<StatusCode> {
    accounts
        .request_email_change(&caller, &change.new_email, change.password)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Confirms an email change: moves the account to its new address with the token sent there
/// (no login needed: the link may be opened anywhere).
#[utoipa::path(
    post, path = "/users/me/email/confirm", tag = "UserController",
    operation_id = "UserController.confirmEmailChange",
    request_body = EmailToken,
    responses(
        (status = 204, description = "The account has its new address, proven; the former \
            address was told. A token that is unknown, used, replaced by a newer one or expired \
            is 400 `INVALID_TOKEN`"),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
        JsonBodyErrors,
    ),
)]
pub async fn confirm_email_change(
    _: AddressLimited,
    State(accounts): State<Accounts>,
    JsonBody(body): JsonBody<EmailToken>,
) -> Result<StatusCode> {
    accounts.confirm_email_change(&body.token).await?;
    Ok(StatusCode::NO_CONTENT)
}
