//! The sessions repository: one row per login, until it is ended (logout, logout-all) or
//! expires. Access tokens carry the session's id; a token whose session is gone is refused.

use super::{
    StoreError, User,
    run::{Run, Statement},
};

/// A session as stored. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// UUID v4: the access tokens' `sid`.
    pub id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// When it started.
    pub created_at: i64,
    /// When it was last used to get a token.
    pub last_used_at: i64,
    /// When it ends at the latest.
    pub expires_at: i64,
    /// The client's `User-Agent` at login.
    pub user_agent: Option<String>,
    /// The client's address at login.
    pub ip: Option<String>,
}

/// A refresh token as found: its session, whether (and when) it was spent, and the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// The session it belongs to.
    pub session_id: String,
    /// When a rotation spent it; `None` while it is the session's current token.
    pub spent_at: Option<i64>,
    /// Its place in the session's chain (0 for a login's).
    pub rotation: i64,
    /// The session's user.
    pub user: User,
}

/// The statements each engine implements for [`SessionStore`].
#[async_trait::async_trait]
pub trait SessionStatements: Send + Sync {
    /// Stores a new session if its user's password hash is still `password_hash`; whether it
    /// was stored.
    async fn insert_session(
        &self,
        session: Session,
        password_hash: &str,
    ) -> Result<bool, StoreError>;
    /// The user of session `id`, if it belongs to `user_id` and has not expired at `now`.
    async fn find_session_user(
        &self,
        id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Option<User>, StoreError>;
    /// The user's sessions that have not expired at `now`, newest first, after the position
    /// (`started`, `id`), at most `limit`.
    async fn list_sessions(
        &self,
        user_id: &str,
        now: i64,
        (started, id): (i64, &str),
        limit: i64,
    ) -> Result<Vec<Session>, StoreError>;
    /// When the user's session `id` started, if it is theirs.
    async fn session_started(&self, user_id: &str, id: &str) -> Result<Option<i64>, StoreError>;
    /// Deletes the user's session `id`; how many rows went (0 or 1).
    async fn delete_session(&self, user_id: &str, id: &str) -> Result<u64, StoreError>;
    /// Deletes every session of the user; how many went.
    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError>;
    /// Deletes every session expired at `now`; how many went.
    async fn delete_expired_sessions(&self, now: i64) -> Result<u64, StoreError>;
    /// Deletes the user's sessions except `keep`; how many went.
    async fn delete_other_sessions(&self, user_id: &str, keep: &str) -> Result<u64, StoreError>;
    /// Deletes the user's sessions but `current` and the `others` newest; how many went.
    async fn delete_sessions_beyond(
        &self,
        user_id: &str,
        current: &str,
        others: i64,
    ) -> Result<u64, StoreError>;
    /// Sets the session's `last_used_at`.
    async fn touch_session(&self, id: &str, now: i64) -> Result<(), StoreError>;
    /// Stores a refresh token's hash for the session, at `rotation` in its chain.
    async fn insert_refresh_token(
        &self,
        hash: &str,
        session_id: &str,
        rotation: i64,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Deletes the session's refresh tokens from before `rotation`; how many went.
    async fn delete_refresh_tokens_before(
        &self,
        session_id: &str,
        rotation: i64,
    ) -> Result<u64, StoreError>;
    /// The refresh token with this hash, if its session is live at `now` (locked until the
    /// transaction ends, on PostgreSQL).
    async fn find_refresh_token(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<RefreshRecord>, StoreError>;
    /// Marks the token spent at `now` unless it already is; whether it was current.
    async fn spend_refresh_token(&self, hash: &str, now: i64) -> Result<bool, StoreError>;
}

/// Sessions, on the store or inside a transaction.
#[derive(Clone, Copy)]
pub struct SessionStore<'a>(pub(super) &'a dyn SessionStatements);

impl SessionStore<'_> {
    /// Stores a new session for a login that checked `password_hash`: only if the user still
    /// has it (a password change or an account deletion since the check starts nothing).
    /// Whether it was stored.
    pub async fn start(&self, session: Session, password_hash: &str) -> Result<bool, StoreError> {
        self.0.insert_session(session, password_hash).await
    }

    /// The user a live session `id` of `user_id` speaks for; `None` once it has ended or expired.
    pub async fn find_user(
        &self,
        id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Option<User>, StoreError> {
        self.0.find_session_user(id, user_id, now).await
    }

    /// A page of the user's live sessions, newest first (by start time, then by id): those
    /// after the session `before` (from the first when `None`), at most `limit`. `None` when
    /// `before` is not one of the user's sessions (it ended, or never was theirs).
    pub async fn list(
        &self,
        user_id: &str,
        now: i64,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Option<Vec<Session>>, StoreError> {
        let position = match before {
            None => (i64::MAX, ""),
            Some(id) => match self.0.session_started(user_id, id).await? {
                Some(started) => (started, id),
                None => return Ok(None),
            },
        };
        let page = self.0.list_sessions(user_id, now, position, limit).await?;
        Ok(Some(page))
    }

    /// Ends the user's session `id`; whether there was one.
    pub async fn end(&self, user_id: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self.0.delete_session(user_id, id).await? > 0)
    }

    /// Ends every session of the user; how many there were.
    pub async fn end_all(&self, user_id: &str) -> Result<u64, StoreError> {
        self.0.delete_user_sessions(user_id).await
    }

    /// Removes the sessions (and their refresh tokens) expired at `now`; how many there were.
    pub async fn remove_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.0.delete_expired_sessions(now).await
    }

    /// Ends every session of every user (their refresh tokens with them); how many there
    /// were. As if all had expired: after a restore, whose sessions are the backup's.
    pub async fn end_every_session(&self) -> Result<u64, StoreError> {
        self.0.delete_expired_sessions(i64::MAX).await
    }

    /// Ends the user's sessions but `current` and the newest others, `keep` in all (their
    /// refresh tokens with them); how many went.
    pub async fn keep_newest(
        &self,
        user_id: &str,
        current: &str,
        keep: u64,
    ) -> Result<u64, StoreError> {
        let others = i64::try_from(keep.saturating_sub(1)).unwrap_or(i64::MAX);
        self.0
            .delete_sessions_beyond(user_id, current, others)
            .await
    }

    /// Ends every session of the user but `keep`; how many there were.
    pub async fn end_others(&self, user_id: &str, keep: &str) -> Result<u64, StoreError> {
        self.0.delete_other_sessions(user_id, keep).await
    }

    /// Notes that the session was used (a refresh) at `now`.
    pub async fn touch(&self, id: &str, now: i64) -> Result<(), StoreError> {
        self.0.touch_session(id, now).await
    }

    /// Adds a refresh token (by its hash) to the session, at `rotation` in its chain (0 for a
    /// login's).
    pub async fn add_refresh_token(
        &self,
        hash: &str,
        session_id: &str,
        rotation: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.0
            .insert_refresh_token(hash, session_id, rotation, now)
            .await
    }

    /// Forgets the session's (spent) refresh tokens from before `rotation`; how many.
    pub async fn forget_refresh_tokens_before(
        &self,
        session_id: &str,
        rotation: i64,
    ) -> Result<u64, StoreError> {
        self.0
            .delete_refresh_tokens_before(session_id, rotation)
            .await
    }

    /// The refresh token with this hash, if its session is live; inside a transaction on
    /// PostgreSQL, concurrent callers for the same token wait for each other here.
    pub async fn find_refresh_token(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        self.0.find_refresh_token(hash, now).await
    }

    /// Spends the token; whether it was still current.
    pub async fn spend_refresh_token(&self, hash: &str, now: i64) -> Result<bool, StoreError> {
        self.0.spend_refresh_token(hash, now).await
    }
}

/// The statements, once for both engines.
#[async_trait::async_trait]
impl<X: Run> SessionStatements for X {
    async fn insert_session(
        &self,
        session: Session,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let params = [
            (&session.id).into(),
            session.created_at.into(),
            session.last_used_at.into(),
            session.expires_at.into(),
            (&session.user_agent).into(),
            (&session.ip).into(),
            (&session.user_id).into(),
            password_hash.into(),
        ];
        let sql = &self.sql().sessions.insert;
        Ok(self.execute(Statement::write(sql, &params)).await? > 0)
    }

    async fn find_session_user(
        &self,
        id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Option<User>, StoreError> {
        let params = [id.into(), user_id.into(), now.into()];
        self.optional(Statement::read(&self.sql().sessions.find_user, &params))
            .await
    }

    async fn list_sessions(
        &self,
        user_id: &str,
        now: i64,
        (started, id): (i64, &str),
        limit: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let params = [
            user_id.into(),
            now.into(),
            started.into(),
            started.into(),
            id.into(),
            limit.into(),
        ];
        self.all(Statement::read(&self.sql().sessions.list, &params))
            .await
    }

    async fn session_started(&self, user_id: &str, id: &str) -> Result<Option<i64>, StoreError> {
        let params = [user_id.into(), id.into()];
        self.optional(Statement::read(&self.sql().sessions.started, &params))
            .await
    }

    async fn delete_session(&self, user_id: &str, id: &str) -> Result<u64, StoreError> {
        let params = [user_id.into(), id.into()];
        self.execute(Statement::write(&self.sql().sessions.delete, &params))
            .await
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        let sql = &self.sql().sessions.delete_for_user;
        self.execute(Statement::write(sql, &[user_id.into()])).await
    }

    async fn delete_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let sql = &self.sql().sessions.delete_expired;
        self.execute(Statement::write(sql, &[now.into()])).await
    }

    async fn delete_sessions_beyond(
        &self,
        user_id: &str,
        current: &str,
        others: i64,
    ) -> Result<u64, StoreError> {
        let sql = &self.sql().sessions.delete_beyond;
        let params = [
            user_id.into(),
            current.into(),
            user_id.into(),
            current.into(),
            others.into(),
        ];
        self.execute(Statement::write(sql, &params)).await
    }

    async fn delete_other_sessions(&self, user_id: &str, keep: &str) -> Result<u64, StoreError> {
        let params = [user_id.into(), keep.into()];
        let sql = &self.sql().sessions.delete_others;
        self.execute(Statement::write(sql, &params)).await
    }

    async fn touch_session(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let params = [now.into(), id.into()];
        self.execute(Statement::write(&self.sql().sessions.touch, &params))
            .await?;
        Ok(())
    }

    async fn insert_refresh_token(
        &self,
        hash: &str,
        session_id: &str,
        rotation: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let params = [hash.into(), session_id.into(), now.into(), rotation.into()];
        let sql = &self.sql().sessions.insert_refresh_token;
        self.execute(Statement::write(sql, &params)).await?;
        Ok(())
    }

    async fn delete_refresh_tokens_before(
        &self,
        session_id: &str,
        rotation: i64,
    ) -> Result<u64, StoreError> {
        let params = [session_id.into(), rotation.into()];
        let sql = &self.sql().sessions.delete_refresh_tokens_before;
        self.execute(Statement::write(sql, &params)).await
    }

    /// Through the writer on SQLite: inside a transaction this is its connection, so the read
    /// and the rotation that follows cannot interleave with another refresh. On PostgreSQL the
    /// token's session is locked first.
    async fn find_refresh_token(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        self.lock_token_session(hash).await?;
        let sql = &self.sql().sessions.find_refresh_token;
        self.optional(Statement::write(sql, &[hash.into(), now.into()]))
            .await
    }

    async fn spend_refresh_token(&self, hash: &str, now: i64) -> Result<bool, StoreError> {
        let params = [now.into(), hash.into()];
        let sql = &self.sql().sessions.spend_refresh_token;
        Ok(self.execute(Statement::write(sql, &params)).await? > 0)
    }
}
