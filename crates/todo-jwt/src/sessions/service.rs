//! The session service: turning a checked password into access tokens.

use std::{sync::Arc, time::Duration};

use authn::UserProfile;
use authn_jwt::JwtService;

use crate::{
    accounts::{Accounts, Credentials},
    error::{ApiError, Result},
    store::User,
};

/// Login over the account service and the token service.
#[derive(Clone, Debug)]
pub struct Sessions {
    accounts: Accounts,
    jwt: Arc<JwtService>,
}

impl Sessions {
    /// The service over its parts.
    pub fn new(accounts: Accounts, jwt: Arc<JwtService>) -> Self {
        Self { accounts, jwt }
    }

    /// How long the access tokens this service signs live.
    pub fn token_lifetime(&self) -> Duration {
        self.jwt.lifetime()
    }

    /// A signed access token for valid credentials (401 otherwise, the same for an unknown
    /// email and a wrong password).
    pub async fn log_in(&self, credentials: Credentials) -> Result<String> {
        let user = self.accounts.check_password(credentials).await?;
        self.jwt.sign(&profile(user)).map_err(ApiError::internal)
    }
}

/// The profile a token carries for `user`.
pub fn profile(user: User) -> UserProfile {
    UserProfile {
        id: user.id,
        name: user.username,
        email: Some(user.email),
        session: None,
    }
}
