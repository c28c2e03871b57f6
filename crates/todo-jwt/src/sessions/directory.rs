//! The store as the bearer strategy's [`UserDirectory`].

use authn::AuthError;
use authn_jwt::{Standing, UserDirectory, VerifiedToken};

use super::service::profile;
use crate::clock::now;
use crate::store::{Store, StoreError};

/// Answers whether a verified token still speaks for someone: its session is live (tokens
/// with a `sid`), or its user exists (tokens from before sessions, which have none), with the
/// stored profile.
pub struct StoreDirectory(pub Store);

#[async_trait::async_trait]
impl UserDirectory for StoreDirectory {
    async fn find_user(&self, token: &VerifiedToken) -> Result<Standing, AuthError> {
        let users = self.0.users();
        let Some(session) = token.user.session.as_deref() else {
            let user = users.find(&token.user.id).await.map_err(auth_error)?;
            return Ok(Standing::from_user(user.map(profile)));
        };
        let user = (self.0.sessions())
            .find_user(session, &token.user.id, now())
            .await
            .map_err(auth_error)?;
        if let Some(user) = user {
            return Ok(Standing::Current(profile(user)));
        }
        // The session is over (or never was): say which, so the client knows to log in
        // again rather than that its account is gone. Only on a refusal, which the cache in
        // front keeps for its ttl.
        let user = users.find(&token.user.id).await.map_err(auth_error)?;
        Ok(if user.is_some() {
            Standing::SessionEnded
        } else {
            Standing::UserGone
        })
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
