//! Tokens sent by mail: issuing one (the account's previous one for the purpose stops working,
//! and it works only while the account keeps its address) with the message that carries it,
//! and the hourly share of the routes that send one on request. Signup, the verification
//! resend, the password reset and the address change share these.

use std::future::Future;

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{Accounts, model::credential_properties};
use crate::{
    clock,
    http::{
        body::json_body_schema,
        error::{self, Result},
    },
    mail::{
        CHANGE_EMAIL, CHANGE_EMAIL_LIFETIME, Letter, Mailer, PASSWORD_RESET,
        PASSWORD_RESET_LIFETIME, VERIFY_EMAIL, VERIFY_EMAIL_LIFETIME,
    },
    ops::telemetry,
    secret_token::{random_token, token_hash},
    store::{NewToken, Transaction, User, email_key},
};

/// An address a token is asked for (`POST /users/password-reset`, `/users/verify-email/resend`).
#[derive(Debug, Deserialize)]
pub struct EmailAddress {
    pub email: String,
}

json_body_schema!(
    EmailAddress,
    json!({
        "type": "object",
        "required": ["email"],
        "additionalProperties": false,
        "properties": {"email": credential_properties()["email"].clone()},
        "example": {"email": "ann@example.com"},
    })
);

/// Answers 202 at once and does `work` after, in the request's log context: the answer, and its time,
/// are the same whether or not the address is an account's. A failure is logged (`what`).
pub(super) fn accepted_then(
    what: &'static str,
    work: impl Future<Output = Result<()>> + Send + 'static,
) -> StatusCode {
    tokio::spawn(telemetry::context::in_request(async move {
        if let Err(failure) = work.await {
            tracing::warn!(cause = %error::chain(&failure), "{what} failed");
        }
    }));
    StatusCode::ACCEPTED
}

/// A kind of mailed token: what it is stored as, how long it works, the message carrying it.
pub(super) struct Mailed {
    purpose: &'static str,
    lifetime: i64,
    letter: fn(&Mailer, &str) -> Letter,
}

/// Proves an address (signup's message, and its resend).
pub(super) const VERIFICATION: Mailed = Mailed {
    purpose: VERIFY_EMAIL,
    lifetime: VERIFY_EMAIL_LIFETIME,
    letter: Mailer::verification,
};

/// Sets a new password.
pub(super) const RESET: Mailed = Mailed {
    purpose: PASSWORD_RESET,
    lifetime: PASSWORD_RESET_LIFETIME,
    letter: Mailer::password_reset,
};

/// Moves an account to a new address: sent to that address, which it proves.
pub(super) const CHANGE: Mailed = Mailed {
    purpose: CHANGE_EMAIL,
    lifetime: CHANGE_EMAIL_LIFETIME,
    letter: Mailer::email_change,
};

impl Accounts {
    /// Issues a new `mailed` token for `user` and writes the message carrying it to their
    /// address, in `transaction` (the caller commits, then wakes the sender).
    pub(super) async fn mail_token(
        &self,
        transaction: &Transaction,
        user: &User,
        mailed: &Mailed,
    ) -> Result<()> {
        self.mail_token_to(transaction, user, &user.email, mailed)
            .await
    }

    /// As [`Accounts::mail_token`], to `recipient`; for [`CHANGE`] the account moves there
    /// once the token is used. The token works only while the account has `user.email`.
    pub(super) async fn mail_token_to(
        &self,
        transaction: &Transaction,
        user: &User,
        recipient: &str,
        mailed: &Mailed,
    ) -> Result<()> {
        let (token, now) = (random_token(), clock::now());
        let mail = transaction.mail();
        let (hash, account_key) = (token_hash(&token), email_key(&user.email));
        let new_token = NewToken {
            hash: &hash,
            purpose: mailed.purpose,
            now,
            expires_at: now + mailed.lifetime,
            new_email: (mailed.purpose == CHANGE_EMAIL).then_some(recipient),
            account_key: &account_key,
        };
        mail.token_add(new_token, &user.id).await?;
        let letter = (mailed.letter)(self.mailer(), &token);
        self.mailer().enqueue(mail, recipient, &letter, now).await?;
        Ok(())
    }

    /// [`Accounts::mail_token`] in a transaction of its own, and the sender woken.
    pub(super) async fn send_token(&self, user: &User, mailed: &Mailed) -> Result<()> {
        let transaction = self.store().transaction().await?;
        self.mail_token(&transaction, user, mailed).await?;
        transaction.commit().await?;
        self.mailer().wake();
        Ok(())
    }

    /// The account of `email`, unless `email` has asked for `mailed` more than `per_hour` times
    /// this hour. Counted whether or not the address is an account's, so the count tells
    /// nothing either.
    pub(super) async fn asking_account(
        &self,
        email: &str,
        mailed: &Mailed,
        per_hour: i64,
    ) -> Result<Option<User>> {
        let key = format!("{}:{}", mailed.purpose, email_key(email));
        let counter = self
            .store()
            .throttle()
            .hit(&key, clock::now(), 3600)
            .await?;
        if counter.count > per_hour {
            tracing::info!(
                purpose = mailed.purpose,
                "not sent: this email's hourly share is spent"
            );
            return Ok(None);
        }
        Ok(self
            .store()
            .users()
            .find_by_email(email)
            .await?
            .map(|record| record.user))
    }
}
