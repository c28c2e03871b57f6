//! The audit repository: one row per authentication or session event, written through the
//! same transaction as the change it records where there is one.

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
    /// `logout_all`, `session_ended`, `password_changed`, `password_upgraded`,
    /// `account_deleted`, `throttled`.
    pub event: String,
    /// Whose, when known.
    pub user_id: Option<String>,
    /// The email given (signup, failed logins, throttled attempts).
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
}

/// Audit events, on the store or in a transaction.
#[derive(Clone, Copy)]
pub struct Audit<'a>(pub(super) &'a dyn AuditStatements);

impl Audit<'_> {
    /// Stores `record`.
    pub async fn add(&self, record: AuditRecord) -> Result<(), StoreError> {
        self.0.audit_add(record).await
    }

    /// A page of the user's events, newest first: those with an id below `before` (all when
    /// `None`), at most `limit`.
    pub async fn list(
        &self,
        user_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.0
            .audit_list(user_id, before.unwrap_or(i64::MAX), limit)
            .await
    }

    /// Removes the events from before `at` (retention).
    pub async fn remove_before(&self, at: i64) -> Result<u64, StoreError> {
        self.0.audit_expired(at).await
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
}
