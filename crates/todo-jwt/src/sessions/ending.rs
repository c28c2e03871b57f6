//! Sessions ending: by logout (one, or every one of the caller's), from the session list, or
//! by expiry. Each end is refused by this instance at once ([`super::ended`]), and by every
//! instance within the directory cache's TTL.

use authn::UserProfile;

use super::Sessions;
use crate::{
    audit::{self, AuthEvent},
    clock::now,
    http::error::{ApiError, Result},
    store::Session,
};

impl Sessions {
    /// Removes expired sessions (they are refused once expired; this takes their rows away).
    /// Run periodically by the app; a failure is logged and tried again next time.
    pub async fn remove_expired(&self) {
        match self.store.sessions().remove_expired(now()).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired sessions removed"),
            Err(error) => {
                tracing::warn!(cause = %crate::http::error::chain(&error), "cannot remove expired sessions");
            }
        }
    }

    /// Ends the caller's session (nothing for a token from before sessions, which has none).
    ///
    /// This instance refuses the session's tokens from now on, even should the database write
    /// fail (a full disk); the event is recorded only by the logout that ended it (a hundred
    /// concurrent logouts with one token record one).
    pub async fn log_out(&self, caller: &UserProfile) -> Result<()> {
        if let Some(session) = &caller.session {
            self.ended.end(session);
            let transaction = self.store.transaction().await?;
            if transaction.sessions().end(&caller.id, session).await? {
                audit::record(
                    transaction.audit(),
                    AuthEvent::LoggedOut {
                        user: &caller.id,
                        session,
                    },
                )
                .await?;
                transaction.commit().await?;
            }
        }
        Ok(())
    }

    /// Ends every session of the caller.
    pub async fn log_out_everywhere(&self, caller: &UserProfile) -> Result<()> {
        let transaction = self.store.transaction().await?;
        let count = transaction.sessions().end_all(&caller.id).await?;
        audit::record(
            transaction.audit(),
            AuthEvent::LoggedOutEverywhere {
                user: &caller.id,
                count,
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// A page of the caller's live sessions, newest first: those after the session `before`
    /// (400 when it is not one of the caller's: it has ended, say), at most `limit`.
    pub async fn list(
        &self,
        caller: &UserProfile,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Session>> {
        let sessions = self.store.sessions();
        let page = sessions.list(&caller.id, now(), before, limit).await?;
        page.ok_or_else(|| {
            ApiError::bad_request(
                "INVALID_PARAMETER_VALUE",
                "`before` must be the id of one of your live sessions; start again from the first page.",
            )
        })
    }

    /// Ends the caller's session `id`; 404 when the caller has no such session.
    pub async fn end(&self, caller: &UserProfile, id: &str) -> Result<()> {
        let transaction = self.store.transaction().await?;
        if transaction.sessions().end(&caller.id, id).await? {
            self.ended.end(id);
            audit::record(
                transaction.audit(),
                AuthEvent::SessionEnded {
                    user: &caller.id,
                    session: id,
                },
            )
            .await?;
            transaction.commit().await?;
            Ok(())
        } else {
            Err(ApiError::EntityNotFound {
                model: "Session",
                id: id.to_owned(),
            })
        }
    }
}
