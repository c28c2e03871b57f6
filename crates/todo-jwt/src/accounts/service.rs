//! The account service: what signing up and checking a password mean, independent of HTTP.

use super::{
    Passwords,
    model::{Credentials, NewUser},
};
use crate::{
    error::{ApiError, Result},
    store::{Store, StoreError, User, UserRecord},
};

/// What a failed password check says, whichever part was wrong.
pub const INVALID_CREDENTIALS: &str = "Invalid email or password.";

/// Signup and password checks over the store.
#[derive(Clone, Debug)]
pub struct Accounts {
    store: Store,
    passwords: Passwords,
}

impl Accounts {
    /// The service over its parts.
    pub fn new(store: Store, passwords: Passwords) -> Self {
        Self { store, passwords }
    }

    /// Creates the account with a fresh UUID v4 and an argon2id hash of the password.
    pub async fn sign_up(&self, new_user: NewUser) -> Result<User> {
        let NewUser {
            email,
            password,
            username,
            realm,
        } = new_user;
        let password_hash = self.passwords.hash(password).await?;
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            email,
            username,
            realm,
        };
        self.store
            .users()
            .insert(UserRecord {
                user,
                password_hash,
            })
            .await
            .map_err(|error| match error {
                StoreError::Conflict => {
                    ApiError::Conflict("Email is already registered.".to_owned())
                }
                other => other.into(),
            })
    }

    /// The user whose email and password these are; an unknown email and a wrong password give
    /// the same 401 after the same work.
    pub async fn check_password(&self, credentials: Credentials) -> Result<User> {
        let found = self.store.users().find_by_email(&credentials.email).await?;
        let (user, hash) = match found {
            Some(found) => (Some(found.user), Some(found.password_hash)),
            None => (None, None),
        };
        let valid = self.passwords.verify(credentials.password, hash).await?;
        match user {
            Some(user) if valid => Ok(user),
            _ => Err(ApiError::Unauthorized(INVALID_CREDENTIALS.to_owned())),
        }
    }
}
