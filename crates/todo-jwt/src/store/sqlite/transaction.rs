//! A transaction on the writer's borrowed connection: its statements run inline, in order,
//! within the budget; a failed one leaves it only able to roll back, as on PostgreSQL.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use rusqlite::Connection;

use super::{Lent, connection::within, note_room, statements::Sqlite};
use crate::store::{StoreError, TransactionEngine};

/// A transaction on the writer's borrowed connection.
pub(super) struct SqliteTransaction {
    /// Locked for one statement at a time, never across an await.
    pub(super) lent: Mutex<Lent>,
    /// A statement failed: as on PostgreSQL, the transaction can only roll back. (SQLite
    /// itself would commit the other statements, or, after some errors, has already rolled
    /// back and would run the next ones outside any transaction.)
    pub(super) failed: AtomicBool,
    /// The time budget of each of its statements.
    pub(super) budget: Duration,
    /// The engine's record of a write that found the disk full (see `note_room`).
    pub(super) full: Arc<AtomicBool>,
}

impl SqliteTransaction {
    /// Runs `statement` inline on the borrowed connection: statements inside a transaction do
    /// not sync to disk (its commit may, and runs off the runtime).
    pub(super) fn with<T>(
        &self,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(StoreError::Aborted);
        }
        let mut lent = self.lent.lock().unwrap_or_else(PoisonError::into_inner);
        let connection = lent.connection.as_mut().ok_or(StoreError::Closed)?;
        within(self.budget, || statement(connection)).map_err(|error| {
            self.failed.store(true, Ordering::Relaxed);
            error.into()
        })
    }
}

#[async_trait::async_trait]
impl TransactionEngine for Sqlite<SqliteTransaction> {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let Self(transaction) = *self;
        if transaction.failed.load(Ordering::Relaxed) {
            // Dropped: rolled back, and the connection goes back to the writer.
            return Err(StoreError::Aborted);
        }
        // COMMIT may checkpoint the WAL, which syncs the disk: not on a runtime thread. The
        // connection goes back to the writer when the transaction drops there, committed or not.
        let full = Arc::clone(&transaction.full);
        let committed = tokio::task::spawn_blocking(move || {
            transaction.with(|connection| connection.execute_batch("COMMIT"))
        })
        .await
        .map_err(|_| StoreError::Closed)?;
        note_room(&full, &committed);
        committed
    }
}
