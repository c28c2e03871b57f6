//! The account service: what signing up and logging in mean, independent of HTTP.

use std::sync::Arc;

use authn::{AuthError, UserProfile};
use authn_jwt::{JwtService, UserDirectory};

use super::{
    Passwords,
    model::{Credentials, NewUser},
};
use crate::{
    error::{ApiError, Result},
    store::{NewUserRecord, StoreError, User, UserStore},
};

const INVALID_CREDENTIALS: &str = "Invalid email or password.";

/// Signup and login over a [`UserStore`].
#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserStore>,
    passwords: Passwords,
    jwt: Arc<JwtService>,
}

impl Accounts {
    /// The service over its parts.
    pub fn new(users: Arc<dyn UserStore>, passwords: Passwords, jwt: Arc<JwtService>) -> Self {
        Self {
            users,
            passwords,
            jwt,
        }
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
        self.users
            .insert_user(NewUserRecord {
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

    /// How long the tokens this service signs live.
    pub fn token_lifetime(&self) -> std::time::Duration {
        self.jwt.lifetime()
    }

    /// A signed access token for valid credentials. Unknown email and wrong password give the
    /// same answer after the same work.
    pub async fn log_in(&self, credentials: Credentials) -> Result<String> {
        let found = self.users.find_credentials(&credentials.email).await?;
        let (user, hash) = match found {
            Some(found) => (Some(found.user), Some(found.password_hash)),
            None => (None, None),
        };
        let valid = self.passwords.verify(credentials.password, hash).await?;
        match user {
            Some(user) if valid => self.jwt.sign(&profile(user)).map_err(ApiError::internal),
            _ => Err(ApiError::Unauthorized(INVALID_CREDENTIALS.to_owned())),
        }
    }
}

fn profile(user: User) -> UserProfile {
    UserProfile {
        id: user.id,
        name: user.username,
        email: Some(user.email),
    }
}

/// The user store as the bearer strategy's [`UserDirectory`].
pub struct StoreDirectory(pub Arc<dyn UserStore>);

#[async_trait::async_trait]
impl UserDirectory for StoreDirectory {
    async fn find_user(&self, id: &str) -> Result<Option<UserProfile>, AuthError> {
        let user = self
            .0
            .find_user(id)
            .await
            .map_err(|error| AuthError::Internal(error.to_string()))?;
        Ok(user.map(profile))
    }
}
