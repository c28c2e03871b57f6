//! The second factor's repository: each account's authenticator-app secret (sealed) with the
//! last time step a code was accepted at, its recovery codes (hashes), and the assurance level
//! each session reached.

use super::{
    StoreError,
    run::{Run, Statement},
};

/// An account's authenticator-app factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// The secret, sealed.
    pub secret: Vec<u8>,
    /// When its first code was accepted; `None` while the enrolment waits for it.
    pub activated_at: Option<i64>,
    /// The time step of the last code accepted.
    pub last_step: Option<i64>,
    /// Wrong app codes in a row.
    pub failures: i64,
}

/// The statements each engine implements for [`Mfa`].
#[async_trait::async_trait]
pub trait MfaStatements: Send + Sync {
    /// The account's factor, active or waiting.
    async fn totp_find(&self, user_id: &str) -> Result<Option<TotpRecord>, StoreError>;
    /// Starts (or starts over) the account's enrolment with `secret`, unless its factor is
    /// active; whether it did.
    async fn totp_enrol(&self, user_id: &str, secret: &[u8], now: i64) -> Result<bool, StoreError>;
    /// Accepts a code of time step `step` (clearing the failures): only if no code of this
    /// step or a later one was accepted before (on any instance), and, with `activating`
    /// (the sealed secret the code was checked against), the enrolment of that very secret is
    /// waiting (it then becomes active at `now`), else the factor is active. Whether it was
    /// accepted.
    async fn totp_accept(
        &self,
        user_id: &str,
        step: i64,
        activating: Option<&[u8]>,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Counts a wrong app code (`true`) or clears the count (`false`).
    async fn totp_failed(&self, user_id: &str, wrong: bool) -> Result<(), StoreError>;
    /// Takes the account's row for the rest of the transaction (PostgreSQL): a login that
    /// starts a session (which shares the row) waits, or is waited for.
    async fn user_lock(&self, user_id: &str) -> Result<(), StoreError>;
    /// How many refresh tokens the session has.
    async fn session_refresh_tokens(&self, session_id: &str) -> Result<i64, StoreError>;
    /// Upgrades a waiting (`aal1`) session to `aal2`, living until `expires_at`; whether it
    /// was waiting.
    async fn session_upgrade(&self, session_id: &str, expires_at: i64) -> Result<bool, StoreError>;
    /// Removes the account's factor and its recovery codes.
    async fn totp_remove(&self, user_id: &str) -> Result<(), StoreError>;
    /// Replaces the account's recovery codes by `hashes`.
    async fn codes_replace(&self, user_id: &str, hashes: &[String]) -> Result<(), StoreError>;
    /// Uses the recovery code `hash` of the account at `now`; whether it was there, unused.
    async fn code_use(&self, user_id: &str, hash: &str, now: i64) -> Result<bool, StoreError>;
    /// How many unused recovery codes the account has.
    async fn codes_left(&self, user_id: &str) -> Result<i64, StoreError>;
    /// The assurance level the session reached (`None`: no second factor at its login).
    async fn session_aal(&self, session_id: &str) -> Result<Option<String>, StoreError>;
    /// Sets the session's assurance level; whether the session exists.
    async fn session_set_aal(&self, session_id: &str, aal: &str) -> Result<bool, StoreError>;
}

/// The second factor, on the store or inside a transaction.
#[derive(Clone, Copy)]
pub struct Mfa<'a>(pub(super) &'a dyn MfaStatements);

impl<'a> std::ops::Deref for Mfa<'a> {
    type Target = dyn MfaStatements + 'a;

    fn deref(&self) -> &Self::Target {
        self.0
    }
}

/// The statements, once for both engines.
#[async_trait::async_trait]
impl<X: Run> MfaStatements for X {
    async fn totp_find(&self, user_id: &str) -> Result<Option<TotpRecord>, StoreError> {
        let sql = &self.sql().mfa.find;
        self.optional(Statement::read(sql, &[user_id.into()])).await
    }

    async fn totp_enrol(&self, user_id: &str, secret: &[u8], now: i64) -> Result<bool, StoreError> {
        let secret = Some(secret.to_vec());
        let params = [user_id.into(), (&secret).into(), now.into()];
        let sql = &self.sql().mfa.enrol;
        Ok(self.execute(Statement::write(sql, &params)).await? > 0)
    }

    async fn totp_accept(
        &self,
        user_id: &str,
        step: i64,
        activating: Option<&[u8]>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = &self.sql().mfa;
        let accepted = if let Some(secret) = activating {
            let secret = Some(secret.to_vec());
            let params = [
                step.into(),
                now.into(),
                user_id.into(),
                (&secret).into(),
                step.into(),
            ];
            self.execute(Statement::write(&sql.activate, &params))
                .await?
        } else {
            let params = [step.into(), user_id.into(), step.into()];
            self.execute(Statement::write(&sql.accept, &params)).await?
        };
        Ok(accepted > 0)
    }

    async fn totp_failed(&self, user_id: &str, wrong: bool) -> Result<(), StoreError> {
        let sql = &self.sql().mfa;
        let sql = if wrong {
            &sql.fail
        } else {
            &sql.clear_failures
        };
        self.execute(Statement::write(sql, &[user_id.into()]))
            .await?;
        Ok(())
    }

    async fn user_lock(&self, user_id: &str) -> Result<(), StoreError> {
        let sql = &self.sql().mfa.lock_user;
        self.execute(Statement::write(sql, &[user_id.into()]))
            .await?;
        Ok(())
    }

    async fn session_refresh_tokens(&self, session_id: &str) -> Result<i64, StoreError> {
        let sql = &self.sql().mfa.refresh_tokens;
        self.one::<i64>(Statement::read(sql, &[session_id.into()]))
            .await
    }

    async fn session_upgrade(&self, session_id: &str, expires_at: i64) -> Result<bool, StoreError> {
        let params = [expires_at.into(), session_id.into()];
        let sql = &self.sql().mfa.upgrade_session;
        Ok(self.execute(Statement::write(sql, &params)).await? > 0)
    }

    async fn totp_remove(&self, user_id: &str) -> Result<(), StoreError> {
        let sql = &self.sql().mfa;
        self.execute(Statement::write(&sql.remove_codes, &[user_id.into()]))
            .await?;
        self.execute(Statement::write(&sql.remove, &[user_id.into()]))
            .await?;
        Ok(())
    }

    async fn codes_replace(&self, user_id: &str, hashes: &[String]) -> Result<(), StoreError> {
        let sql = &self.sql().mfa;
        self.execute(Statement::write(&sql.remove_codes, &[user_id.into()]))
            .await?;
        for hash in hashes {
            let params = [hash.into(), user_id.into()];
            self.execute(Statement::write(&sql.add_code, &params))
                .await?;
        }
        Ok(())
    }

    async fn code_use(&self, user_id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
        let params = [now.into(), hash.into(), user_id.into()];
        let used = self
            .execute(Statement::write(&self.sql().mfa.use_code, &params))
            .await?;
        Ok(used > 0)
    }

    async fn codes_left(&self, user_id: &str) -> Result<i64, StoreError> {
        self.one::<i64>(Statement::read(
            &self.sql().mfa.codes_left,
            &[user_id.into()],
        ))
        .await
    }

    async fn session_aal(&self, session_id: &str) -> Result<Option<String>, StoreError> {
        let sql = &self.sql().mfa.session_aal;
        let found = self
            .optional::<Option<String>>(Statement::read(sql, &[session_id.into()]))
            .await?;
        Ok(found.flatten())
    }

    async fn session_set_aal(&self, session_id: &str, aal: &str) -> Result<bool, StoreError> {
        let params = [aal.into(), session_id.into()];
        let sql = &self.sql().mfa.set_session_aal;
        Ok(self.execute(Statement::write(sql, &params)).await? > 0)
    }
}
