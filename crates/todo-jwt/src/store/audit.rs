//! The audit repository: one row per authentication or session event, written through the
//! same transaction as the change it records where there is one; an account keeps its newest
//! events only (older ones go as each new one is written). Attempts that name no account are
//! counted instead, one row per kind, client and window ([`AuditCount`]).

use super::{
    StoreError,
    run::{Run, Statement},
};

/// One audit event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditRecord {
    /// Its id, in the order events were written (0 before it is stored).
    pub id: i64,
    /// When, in Unix seconds.
    pub at: i64,
    /// What: `signup`, `login`, `login_failed`, `refresh`, `reuse_detected`, `logout`,
    /// `logout_all`, `session_ended`, `password_changed`, `password_reset`,
    /// `password_upgraded`, `email_verified`, `email_change_requested`, `email_changed`,
    /// `account_deleted`, `throttled`.
    pub event: String,
    /// Whose, when known.
    pub user_id: Option<String>,
    /// The email given (signup, failed logins, throttled attempts, the new address of a
    /// change).
    pub email: Option<String>,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's `User-Agent` (at most 256 characters).
    pub user_agent: Option<String>,
    /// The request's id (`X-Request-Id`).
    pub request_id: Option<String>,
    /// The session concerned, when there is one.
    pub session_id: Option<String>,
}

/// An attempt that names no account, counted on its client's row for the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCount<'a> {
    /// What is counted (`login_failed`, `throttled`).
    pub kind: &'a str,
    /// The client's rate-limit bucket (its address when it has none).
    pub client: &'a str,
    /// When the window began (Unix seconds).
    pub window_start: i64,
    /// When the attempt came (Unix seconds).
    pub at: i64,
    /// The email it gave.
    pub email: Option<&'a str>,
}

/// The statements each engine implements for [`Audit`].
#[async_trait::async_trait]
pub trait AuditStatements: Send + Sync {
    /// Stores `record` (its `id` is ignored).
    async fn audit_add(&self, record: AuditRecord) -> Result<(), StoreError>;
    /// The user's events with an id below `before`, newest first, at most `limit`.
    async fn audit_list(
        &self,
        user_id: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Removes the events from before `at`; how many.
    async fn audit_expired(&self, at: i64) -> Result<u64, StoreError>;
    /// Removes the user's events but the newest `keep`; how many.
    async fn audit_trim(&self, user_id: &str, keep: i64) -> Result<u64, StoreError>;
    /// Counts one attempt on its client's row for the window.
    async fn audit_count(&self, count: AuditCount<'_>) -> Result<(), StoreError>;
    /// Removes the counts of windows that began before `at`; how many.
    async fn audit_counts_expired(&self, at: i64) -> Result<u64, StoreError>;
}

/// Audit events, on the store or in a transaction.
#[derive(Clone, Copy)]
pub struct Audit<'a> {
    pub(super) statements: &'a dyn AuditStatements,
    /// The most events an account keeps.
    pub(super) keep: i64,
}

impl Audit<'_> {
    /// Stores `record`; for an account's event, removes its events beyond the newest it keeps
    /// (in the same transaction, so the bound holds whatever the rate of events).
    pub async fn add(&self, record: AuditRecord) -> Result<(), StoreError> {
        let user = record.user_id.clone();
        self.statements.audit_add(record).await?;
        if let Some(user) = user {
            self.statements.audit_trim(&user, self.keep).await?;
        }
        Ok(())
    }

    /// Counts an attempt that names no account.
    pub async fn count(&self, count: AuditCount<'_>) -> Result<(), StoreError> {
        self.statements.audit_count(count).await
    }

    /// A page of the user's events, newest first: those with an id below `before` (all when
    /// `None`), at most `limit`.
    pub async fn list(
        &self,
        user_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.statements
            .audit_list(user_id, before.unwrap_or(i64::MAX), limit)
            .await
    }

    /// Removes the events and counts from before `at` (retention); how many rows went.
    pub async fn remove_before(&self, at: i64) -> Result<u64, StoreError> {
        let events = self.statements.audit_expired(at).await?;
        Ok(events + self.statements.audit_counts_expired(at).await?)
    }
}

/// The statements, once for both engines.
#[async_trait::async_trait]
impl<X: Run> AuditStatements for X {
    async fn audit_add(&self, record: AuditRecord) -> Result<(), StoreError> {
        let params = [
            record.at.into(),
            (&record.event).into(),
            (&record.user_id).into(),
            (&record.email).into(),
            (&record.ip).into(),
            (&record.user_agent).into(),
            (&record.request_id).into(),
            (&record.session_id).into(),
        ];
        self.execute(Statement::write(&self.sql().audit.add, &params))
            .await?;
        Ok(())
    }

    async fn audit_list(
        &self,
        user_id: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let params = [user_id.into(), before.into(), limit.into()];
        self.all(Statement::read(&self.sql().audit.list, &params))
            .await
    }

    async fn audit_expired(&self, at: i64) -> Result<u64, StoreError> {
        self.execute(Statement::write(&self.sql().audit.expired, &[at.into()]))
            .await
    }

    async fn audit_trim(&self, user_id: &str, keep: i64) -> Result<u64, StoreError> {
        let params = [user_id.into(), user_id.into(), 1_i64.into(), keep.into()];
        self.execute(Statement::write(&self.sql().audit.trim, &params))
            .await
    }

    async fn audit_count(&self, count: AuditCount<'_>) -> Result<(), StoreError> {
        let params = [
            count.kind.into(),
            count.client.into(),
            count.window_start.into(),
            count.at.into(),
            count.email.into(),
        ];
        self.execute(Statement::write(&self.sql().audit.count, &params))
            .await?;
        Ok(())
    }

    async fn audit_counts_expired(&self, at: i64) -> Result<u64, StoreError> {
        let sql = &self.sql().audit.counts_expired;
        self.execute(Statement::write(sql, &[at.into()])).await
    }
}
