//! The session service: a checked password starts a session, and access tokens are signed for
//! it; sessions end by logout, logout-all, or expiry.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use authn::UserProfile;
use authn_jwt::JwtService;

use super::ClientInfo;
use crate::{
    accounts::{Accounts, Credentials},
    error::{ApiError, Result},
    store::{Session, Store, User},
};

/// Login, sessions and tokens, over the account service, the store and the token service.
#[derive(Clone, Debug)]
pub struct Sessions {
    accounts: Accounts,
    store: Store,
    jwt: Arc<JwtService>,
    /// How long a session lives at most.
    lifetime: Duration,
}

impl Sessions {
    /// The service over its parts; sessions live at most `lifetime`.
    pub fn new(accounts: Accounts, store: Store, jwt: Arc<JwtService>, lifetime: Duration) -> Self {
        Self {
            accounts,
            store,
            jwt,
            lifetime,
        }
    }

    /// How long the access tokens this service signs live.
    pub fn token_lifetime(&self) -> Duration {
        self.jwt.lifetime()
    }

    /// For valid credentials, a new session and an access token for it (401 otherwise, the
    /// same for an unknown email and a wrong password).
    pub async fn log_in(&self, credentials: Credentials, client: ClientInfo) -> Result<String> {
        let user = self.accounts.check_password(credentials).await?;
        let now = now();
        let session = Session {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            created_at: now,
            last_used_at: now,
            expires_at: now
                .saturating_add(i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX)),
            user_agent: client.user_agent,
            ip: client.ip,
        };
        let id = session.id.clone();
        self.store.sessions().start(session).await?;
        let mut profile = profile(user);
        profile.session = Some(id);
        self.jwt.sign(&profile).map_err(ApiError::internal)
    }

    /// Ends the caller's session (nothing for a token from before sessions, which has none).
    pub async fn log_out(&self, caller: &UserProfile) -> Result<()> {
        if let Some(session) = &caller.session {
            self.store.sessions().end(&caller.id, session).await?;
        }
        Ok(())
    }

    /// Ends every session of the caller.
    pub async fn log_out_everywhere(&self, caller: &UserProfile) -> Result<()> {
        self.store.sessions().end_all(&caller.id).await?;
        Ok(())
    }

    /// The caller's live sessions, newest first.
    pub async fn list(&self, caller: &UserProfile) -> Result<Vec<Session>> {
        Ok(self.store.sessions().list(&caller.id, now()).await?)
    }

    /// Ends the caller's session `id`; 404 when the caller has no such session.
    pub async fn end(&self, caller: &UserProfile, id: &str) -> Result<()> {
        if self.store.sessions().end(&caller.id, id).await? {
            Ok(())
        } else {
            Err(ApiError::EntityNotFound {
                model: "Session",
                id: id.to_owned(),
            })
        }
    }
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

/// The profile a token carries for `user` (no session yet).
pub fn profile(user: User) -> UserProfile {
    UserProfile {
        id: user.id,
        name: user.username,
        email: Some(user.email),
        session: None,
    }
}
