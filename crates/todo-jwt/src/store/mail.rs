//! The mail repository: the outbox (messages written with the change that causes them, sent
//! later by the mail module's sender) and the single-use tokens those messages carry.

use super::{
    StoreError,
    run::{Run, Statement},
    sql::CLAIM_BATCH,
};

/// A message claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Its id.
    pub id: i64,
    /// The address it goes to.
    pub recipient: String,
    /// Its subject.
    pub subject: String,
    /// Its text.
    pub body: String,
    /// Failed attempts so far.
    pub attempts: i64,
}

/// A token just used: its account, and for an address change the new address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedToken {
    /// The account it acts on.
    pub user_id: String,
    /// The address a `change-email` token moves the account to.
    pub new_email: Option<String>,
}

/// The statements each engine implements for [`Mail`].
#[async_trait::async_trait]
pub trait MailStatements: Send + Sync {
    /// Writes a message, due at `now`.
    async fn outbox_add(
        &self,
        recipient: &str,
        subject: &str,
        body: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Claims the messages due at `now` until `until`.
    async fn outbox_claim(&self, now: i64, until: i64) -> Result<Vec<OutboxMessage>, StoreError>;
    /// Marks a message sent at `now`.
    async fn outbox_sent(&self, id: i64, now: i64) -> Result<(), StoreError>;
    /// Counts a failed attempt; the next at `next`.
    async fn outbox_retry(&self, id: i64, next: i64, error: &str) -> Result<(), StoreError>;
    /// Gives a message up at `now`.
    async fn outbox_failed(&self, id: i64, now: i64, error: &str) -> Result<(), StoreError>;
    /// How many messages wait, and how many were given up.
    async fn outbox_counts(&self) -> Result<(i64, i64), StoreError>;
    /// Stores `token` for `user_id`, replacing the account's token for its purpose.
    async fn token_add(&self, token: NewToken<'_>, user_id: &str) -> Result<(), StoreError>;
    /// Uses the token `hash` for `purpose` at `now`: its account (and new address), if it was
    /// unused and unexpired.
    async fn token_use(
        &self,
        hash: &str,
        purpose: &str,
        now: i64,
    ) -> Result<Option<UsedToken>, StoreError>;
    /// Whether the token `hash` for `purpose` would work at `now` (unused, unexpired), without
    /// using it.
    async fn token_works(&self, hash: &str, purpose: &str, now: i64) -> Result<bool, StoreError>;
    /// Forgets every token of the account (its address changed: links sent before stop
    /// working).
    async fn tokens_drop(&self, user_id: &str) -> Result<(), StoreError>;
    /// Forgets the account's token for `purpose`, if any.
    async fn token_drop(&self, user_id: &str, purpose: &str) -> Result<(), StoreError>;
    /// Marks the account's address proven at `now` (the first proof's time is kept).
    async fn user_verify(&self, user_id: &str, now: i64) -> Result<(), StoreError>;
    /// When the account's address was proven (`None` inside: not yet; outside: no account).
    async fn user_verified_at(&self, user_id: &str) -> Result<Option<Option<i64>>, StoreError>;
}

/// A token to store (only its hash).
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    /// The token's SHA-256, hex.
    pub hash: &'a str,
    /// What it proves.
    pub purpose: &'a str,
    /// When it was made.
    pub now: i64,
    /// When it stops working.
    pub expires_at: i64,
    /// For an address change, the new address.
    pub new_email: Option<&'a str>,
    /// The account's email key now: the token works only while the account keeps it.
    pub account_key: &'a str,
}

/// The outbox and the tokens sent by mail.
#[derive(Clone, Copy)]
pub struct Mail<'a>(pub(super) &'a dyn MailStatements);

impl<'a> std::ops::Deref for Mail<'a> {
    type Target = dyn MailStatements + 'a;

    fn deref(&self) -> &Self::Target {
        self.0
    }
}

/// The statements, once for both engines.
#[async_trait::async_trait]
impl<X: Run> MailStatements for X {
    async fn outbox_add(
        &self,
        recipient: &str,
        subject: &str,
        body: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let params = [
            recipient.into(),
            subject.into(),
            body.into(),
            now.into(),
            now.into(),
        ];
        self.execute(Statement::write(&self.sql().mail.add, &params))
            .await?;
        Ok(())
    }

    async fn outbox_claim(&self, now: i64, until: i64) -> Result<Vec<OutboxMessage>, StoreError> {
        // The batch size travels as a parameter too (sea-query binds `LIMIT`).
        let batch = i64::try_from(CLAIM_BATCH).unwrap_or(i64::MAX);
        let params = [until.into(), now.into(), batch.into()];
        self.all(Statement::write(&self.sql().mail.claim, &params))
            .await
    }

    async fn outbox_sent(&self, id: i64, now: i64) -> Result<(), StoreError> {
        let params = [now.into(), id.into()];
        self.execute(Statement::write(&self.sql().mail.sent, &params))
            .await?;
        Ok(())
    }

    async fn outbox_retry(&self, id: i64, next: i64, error: &str) -> Result<(), StoreError> {
        let params = [next.into(), error.into(), id.into()];
        self.execute(Statement::write(&self.sql().mail.retry, &params))
            .await?;
        Ok(())
    }

    async fn outbox_failed(&self, id: i64, now: i64, error: &str) -> Result<(), StoreError> {
        let params = [now.into(), error.into(), id.into()];
        self.execute(Statement::write(&self.sql().mail.failed, &params))
            .await?;
        Ok(())
    }

    async fn outbox_counts(&self) -> Result<(i64, i64), StoreError> {
        let depth = self
            .one::<i64>(Statement::read(&self.sql().mail.depth, &[]))
            .await?;
        let given_up = self
            .one::<i64>(Statement::read(&self.sql().mail.given_up, &[]))
            .await?;
        Ok((depth, given_up))
    }

    async fn token_add(&self, token: NewToken<'_>, user_id: &str) -> Result<(), StoreError> {
        let params = [
            token.hash.into(),
            user_id.into(),
            token.purpose.into(),
            token.now.into(),
            token.expires_at.into(),
            token.new_email.into(),
            token.account_key.into(),
        ];
        self.execute(Statement::write(&self.sql().mail.add_token, &params))
            .await?;
        Ok(())
    }

    async fn token_use(
        &self,
        hash: &str,
        purpose: &str,
        now: i64,
    ) -> Result<Option<UsedToken>, StoreError> {
        let params = [now.into(), hash.into(), purpose.into(), now.into()];
        self.optional(Statement::write(&self.sql().mail.use_token, &params))
            .await
    }

    async fn token_works(&self, hash: &str, purpose: &str, now: i64) -> Result<bool, StoreError> {
        let params = [hash.into(), purpose.into(), now.into()];
        let found = self
            .optional::<String>(Statement::read(&self.sql().mail.token_works, &params))
            .await?;
        Ok(found.is_some())
    }

    async fn tokens_drop(&self, user_id: &str) -> Result<(), StoreError> {
        let sql = &self.sql().mail.drop_tokens;
        self.execute(Statement::write(sql, &[user_id.into()]))
            .await?;
        Ok(())
    }

    async fn token_drop(&self, user_id: &str, purpose: &str) -> Result<(), StoreError> {
        let sql = &self.sql().mail.drop_token;
        self.execute(Statement::write(sql, &[user_id.into(), purpose.into()]))
            .await?;
        Ok(())
    }

    async fn user_verify(&self, user_id: &str, now: i64) -> Result<(), StoreError> {
        let params = [now.into(), user_id.into()];
        self.execute(Statement::write(&self.sql().mail.verify_user, &params))
            .await?;
        Ok(())
    }

    async fn user_verified_at(&self, user_id: &str) -> Result<Option<Option<i64>>, StoreError> {
        self.optional(Statement::read(
            &self.sql().mail.verified_at,
            &[user_id.into()],
        ))
        .await
    }
}
