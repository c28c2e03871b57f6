//! The users repository: accounts and their password hashes.

use super::{
    StoreError, User, UserRecord,
    run::{Run, Statement},
};

/// The statements each engine implements for [`Users`].
#[async_trait::async_trait]
pub trait UserStatements: Send + Sync {
    /// Inserts `record`, keyed by `email_key`; [`StoreError::Conflict`] when the key is taken.
    async fn insert_user(&self, record: UserRecord, email_key: String) -> Result<User, StoreError>;
    /// The user with this id.
    async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// The user, with its hash, whose email key is `email_key`.
    async fn find_user_by_email_key(
        &self,
        email_key: &str,
    ) -> Result<Option<UserRecord>, StoreError>;
    /// Replaces the user's password hash; whether the user exists.
    async fn update_password_hash(&self, id: &str, hash: String) -> Result<bool, StoreError>;
    /// Replaces the user's password hash only while it is `checked`; whether it did.
    async fn replace_password_hash(
        &self,
        id: &str,
        checked: &str,
        hash: String,
    ) -> Result<bool, StoreError>;
    /// Moves the user to `email` (keyed by `email_key`), proven at `now`; whether the user
    /// exists. [`StoreError::Conflict`] when the key is taken.
    async fn move_email(
        &self,
        id: &str,
        email: &str,
        email_key: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Deletes the user (and, by cascade, their todos, sessions and refresh tokens); whether
    /// there was one.
    async fn delete_user(&self, id: &str) -> Result<bool, StoreError>;
}

/// Accounts, on the store or inside a transaction.
#[derive(Clone, Copy)]
pub struct Users<'a>(pub(super) &'a dyn UserStatements);

impl Users<'_> {
    /// Stores a new user; [`StoreError::Conflict`] when the email (in any letter case) is taken.
    pub async fn insert(&self, record: UserRecord) -> Result<User, StoreError> {
        let key = email_key(&record.user.email);
        self.0.insert_user(record, key).await
    }

    /// The user with this id.
    pub async fn find(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.0.find_user(id).await
    }

    /// Replaces the user's password hash; whether the user exists.
    pub async fn set_password_hash(&self, id: &str, hash: String) -> Result<bool, StoreError> {
        self.0.update_password_hash(id, hash).await
    }

    /// Replaces the user's password hash only while it is still `checked` (the one a password
    /// was just checked against): a password change or an account deletion in between wins.
    /// Whether it was replaced.
    pub async fn replace_password_hash(
        &self,
        id: &str,
        checked: &str,
        hash: String,
    ) -> Result<bool, StoreError> {
        self.0.replace_password_hash(id, checked, hash).await
    }

    /// Moves the user to `email`, proven at `now` (its owner followed a link sent there);
    /// whether the user exists. [`StoreError::Conflict`] when another account has the
    /// address, in any letter case.
    pub async fn move_email(&self, id: &str, email: &str, now: i64) -> Result<bool, StoreError> {
        self.0.move_email(id, email, &email_key(email), now).await
    }

    /// Deletes the user with everything that is theirs; whether there was one.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.0.delete_user(id).await
    }

    /// The user with this email, compared case-insensitively, with the password hash.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.0.find_user_by_email_key(&email_key(email)).await
    }
}

/// The key emails are compared by: two emails are the same account when their keys are equal.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The statements, once for both engines.
#[async_trait::async_trait]
impl<X: Run> UserStatements for X {
    async fn insert_user(&self, record: UserRecord, email_key: String) -> Result<User, StoreError> {
        let UserRecord {
            user,
            password_hash,
        } = record;
        let params = [
            (&user.id).into(),
            (&user.email).into(),
            (&email_key).into(),
            (&user.username).into(),
            (&user.realm).into(),
            (&password_hash).into(),
        ];
        self.execute(Statement::write(&self.sql().users.insert, &params))
            .await?;
        Ok(user)
    }

    async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.optional(Statement::read(&self.sql().users.find, &[id.into()]))
            .await
    }

    async fn find_user_by_email_key(
        &self,
        email_key: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let sql = &self.sql().users.find_by_email_key;
        self.optional(Statement::read(sql, &[email_key.into()]))
            .await
    }

    async fn update_password_hash(&self, id: &str, hash: String) -> Result<bool, StoreError> {
        let sql = &self.sql().users.update_password_hash;
        let params = [(&hash).into(), id.into()];
        Ok(self.execute(Statement::write(sql, &params)).await? > 0)
    }

    async fn replace_password_hash(
        &self,
        id: &str,
        checked: &str,
        hash: String,
    ) -> Result<bool, StoreError> {
        let sql = &self.sql().users.replace_password_hash;
        let params = [(&hash).into(), id.into(), checked.into()];
        Ok(self.execute(Statement::write(sql, &params)).await? > 0)
    }

    async fn move_email(
        &self,
        id: &str,
        email: &str,
        email_key: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let params = [email.into(), email_key.into(), now.into(), id.into()];
        let sql = &self.sql().users.move_email;
        Ok(self.execute(Statement::write(sql, &params)).await? > 0)
    }

    async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        let sql = &self.sql().users.delete;
        Ok(self.execute(Statement::write(sql, &[id.into()])).await? > 0)
    }
}
