//! The throttle repository: counters with a fixed window, shared by every instance on the
//! database, for the login and credential rate limits.

use super::{
    StoreError,
    run::{Run, Statement},
};

/// A counter: hits within its window, and when the window ends (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Hits within the window.
    pub count: i64,
    /// When the window ends.
    pub expires_at: i64,
}

/// The statements each engine implements for [`Throttle`].
#[async_trait::async_trait]
pub trait ThrottleStatements: Send + Sync {
    /// Counts a hit on `key` at `now`; a window that has ended starts over, lasting until
    /// `expires_at`. The counter after the hit.
    async fn throttle_hit(
        &self,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Counter, StoreError>;
    /// The counter for `key`, if any.
    async fn throttle_get(&self, key: &str) -> Result<Option<Counter>, StoreError>;
    /// Removes the counter for `key`.
    async fn throttle_clear(&self, key: &str) -> Result<(), StoreError>;
    /// Takes one hit back from the counter for `key`.
    async fn throttle_release(&self, key: &str) -> Result<(), StoreError>;
    /// Removes every counter whose window ended by `now`; how many.
    async fn throttle_expired(&self, now: i64) -> Result<u64, StoreError>;
}

/// Throttle counters, on the store.
#[derive(Clone, Copy)]
pub struct Throttle<'a>(pub(super) &'a dyn ThrottleStatements);

impl Throttle<'_> {
    /// Counts a hit on `key` at `now`, in a window of `window` seconds.
    pub async fn hit(&self, key: &str, now: i64, window: i64) -> Result<Counter, StoreError> {
        self.0
            .throttle_hit(key, now, now.saturating_add(window))
            .await
    }

    /// The counter for `key` while its window lasts at `now`.
    pub async fn current(&self, key: &str, now: i64) -> Result<Option<Counter>, StoreError> {
        Ok(self
            .0
            .throttle_get(key)
            .await?
            .filter(|counter| counter.expires_at > now))
    }

    /// Forgets the counter for `key`.
    pub async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.0.throttle_clear(key).await
    }

    /// Takes back one hit on `key` (one that turned out not to be an attempt).
    pub async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.0.throttle_release(key).await
    }

    /// Removes the counters whose window ended by `now`.
    pub async fn remove_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.0.throttle_expired(now).await
    }
}

/// The statements, once for both engines.
#[async_trait::async_trait]
impl<X: Run> ThrottleStatements for X {
    async fn throttle_hit(
        &self,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Counter, StoreError> {
        let params = [key.into(), now.into(), expires_at.into()];
        self.one(Statement::write(&self.sql().throttle.hit, &params))
            .await
    }

    async fn throttle_get(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        self.optional(Statement::read(&self.sql().throttle.get, &[key.into()]))
            .await
    }

    async fn throttle_clear(&self, key: &str) -> Result<(), StoreError> {
        self.execute(Statement::write(&self.sql().throttle.clear, &[key.into()]))
            .await?;
        Ok(())
    }

    async fn throttle_release(&self, key: &str) -> Result<(), StoreError> {
        let sql = &self.sql().throttle.release;
        self.execute(Statement::write(sql, &[key.into()])).await?;
        Ok(())
    }

    async fn throttle_expired(&self, now: i64) -> Result<u64, StoreError> {
        let sql = &self.sql().throttle.expired;
        self.execute(Statement::write(sql, &[now.into()])).await
    }
}
