//! The store as the bearer strategy's [`UserDirectory`].

use authn::{AuthError, UserProfile};
use authn_jwt::{UserDirectory, VerifiedToken};

use super::service::profile;
use crate::store::Store;

/// Answers whether a verified token's user still exists, with the stored profile.
pub struct StoreDirectory(pub Store);

#[async_trait::async_trait]
impl UserDirectory for StoreDirectory {
    async fn find_user(&self, token: &VerifiedToken) -> Result<Option<UserProfile>, AuthError> {
        let user = self
            .0
            .users()
            .find(&token.user.id)
            .await
            .map_err(AuthError::internal)?;
        Ok(user.map(profile))
    }
}
