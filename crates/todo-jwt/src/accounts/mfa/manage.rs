//! Keeping a factor: what the caller has, new recovery codes, removal.

use authn::UserProfile;
use secrecy::SecretString;

use super::codes::recovery_codes;
use crate::{
    accounts::Accounts,
    audit::{self, AuthEvent},
    clock,
    http::error::{ApiError, Result},
};

impl Accounts {
    /// Whether the caller has an active factor, and how many recovery codes are left.
    pub async fn factors_of(&self, caller: &UserProfile) -> Result<(bool, i64)> {
        let active = self.second_factor_active(&caller.id).await?;
        let left = self.store().mfa().codes_left(&caller.id).await?;
        Ok((active, if active { left } else { 0 }))
    }

    /// New recovery codes for the caller (the old ones stop working), after their password.
    pub async fn regenerate_codes(
        &self,
        caller: &UserProfile,
        password: SecretString,
    ) -> Result<Vec<String>> {
        let user = self.confirm(caller, password).await?;
        if !self.second_factor_active(&user.id).await? {
            return Err(ApiError::Conflict("No second factor is active.".to_owned()));
        }
        let (codes, hashes) = recovery_codes();
        let transaction = self.store().transaction().await?;
        transaction.mfa().codes_replace(&user.id, &hashes).await?;
        audit::record(
            transaction.audit(),
            AuthEvent::RecoveryCodesRegenerated { user: &user.id },
        )
        .await?;
        let notice = self
            .mailer()
            .second_factor_changed("given new recovery codes");
        self.mailer()
            .enqueue(transaction.mail(), &user.email, &notice, clock::now())
            .await?;
        transaction.commit().await?;
        self.mailer().wake();
        Ok(codes)
    }

    /// Removes the caller's factor and recovery codes, after their password and a fresh code.
    pub async fn disable_totp(
        &self,
        caller: &UserProfile,
        password: SecretString,
        code: &str,
    ) -> Result<()> {
        let user = self.confirm(caller, password).await?;
        if !self.second_factor_active(&user.id).await? {
            return Err(ApiError::Conflict("No second factor is active.".to_owned()));
        }
        self.check_second_factor(&user, code).await?;
        let transaction = self.store().transaction().await?;
        transaction.mfa().totp_remove(&user.id).await?;
        audit::record(
            transaction.audit(),
            AuthEvent::MfaDisabled { user: &user.id },
        )
        .await?;
        let notice = self.mailer().second_factor_changed("turned off");
        self.mailer()
            .enqueue(transaction.mail(), &user.email, &notice, clock::now())
            .await?;
        transaction.commit().await?;
        self.mailer().wake();
        Ok(())
    }
}
