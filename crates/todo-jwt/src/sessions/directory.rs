//! The store as the bearer strategy's [`UserDirectory`].

use authn::{AuthError, UserProfile};
use authn_jwt::{UserDirectory, VerifiedToken};

use super::service::profile;
use crate::clock::now;
use crate::store::{Store, StoreError};

/// Answers whether a verified token still speaks for someone: its session is live (tokens
/// with a `sid`), or its user exists (tokens from before sessions, which have none), with the
/// stored profile.
pub struct StoreDirectory(pub Store);

#[async_trait::async_trait]
impl UserDirectory for StoreDirectory {
    async fn find_user(&self, token: &VerifiedToken) -> Result<Option<UserProfile>, AuthError> {
        let user = match token.user.session.as_deref() {
            Some(session) => self
                .0
                .sessions()
                .find_user(session, &token.user.id, now())
                .await
                .map_err(auth_error)?,
            None => self
                .0
                .users()
                .find(&token.user.id)
                .await
                .map_err(auth_error)?,
        };
        Ok(user.map(profile))
    }
}

/// A store failure as the strategy's: temporary ones ([`StoreError::is_transient`]) are 503s
/// worth retrying, anything else a 500.
fn auth_error(error: StoreError) -> AuthError {
    if error.is_transient() {
        AuthError::unavailable(error)
    } else {
        AuthError::internal(error)
    }
}
