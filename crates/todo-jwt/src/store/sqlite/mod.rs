//! SQLite through rusqlite: one writer thread, a read connection per reading thread, cached
//! prepared statements. Statement executors: `statements.rs`; transactions: `transaction.rs`;
//! connections: `connection.rs`; migrations: `migrate.rs`; restoring a backup: `restore.rs`.

mod connection;
mod migrate;
mod restore;
mod statements;
#[cfg(test)]
mod tests;
mod transaction;
mod writes;

pub use restore::Restore;

use std::{
    cell::RefCell,
    panic::AssertUnwindSafe,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use rusqlite::{Connection, ErrorCode};
use thread_local::ThreadLocal;
use tokio::sync::oneshot;

use super::{
    Engine, Limits, StoreError, TransactionEngine, WriteMark,
    sql::{Dialect, FixedStatements},
};
use connection::{BUSY_TIMEOUT, Connections, PrivateMode, create_private, within};
use migrate::migrate;
use statements::Sqlite;
use transaction::SqliteTransaction;

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if is_unique_violation(&error) {
            Self::Conflict
        } else if error.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) {
            // The progress handler stopped it: out of its budget.
            Self::TimedOut
        } else if error.sqlite_error_code() == Some(ErrorCode::DiskFull) {
            Self::StorageFull(Box::new(error))
        } else {
            Self::Sqlite(error)
        }
    }
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(code, _)
        if code.code == ErrorCode::ConstraintViolation
            && (code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY))
}

/// What the writer thread is asked to do.
enum Job {
    /// A write, run on the writer's connection.
    Write(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Lend the connection to a transaction, and wait until it comes back.
    Lend(oneshot::Sender<Lent>),
}

/// The writer's connection, lent to a transaction. It goes back to the writer thread when
/// dropped, rolled back unless the transaction committed.
struct Lent {
    connection: Option<Connection>,
    give_back: mpsc::Sender<Connection>,
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            if !connection.is_autocommit() {
                // Not committed: undo. (Should ROLLBACK fail, the writer sees the transaction
                // still open and replaces the connection: see `write_loop`.)
                let _ = connection.execute_batch("ROLLBACK");
            }
            let _ = self.give_back.send(connection);
        }
    }
}

/// The embedded engine: one database file in WAL mode.
pub struct SqliteEngine {
    /// Shared with the threads that run costly reads.
    shared: Arc<Shared>,
}

/// The engine's connections.
struct Shared {
    /// The writer thread's queue: every write runs there, one at a time, on its connection.
    writer: mpsc::Sender<Job>,
    /// Each thread's read connection. A runtime worker reads with its own connection: no pool
    /// lock, no hand-over between threads, warm statement cache. Closed with the engine.
    readers: ThreadLocal<RefCell<Connection>>,
    connections: Connections,
    limits: Limits,
    /// The threads costly reads run on, off the runtime.
    costly: rayon::ThreadPool,
    /// A turn on `costly`: waited for at most the query budget.
    turns: Arc<tokio::sync::Semaphore>,
    /// The last write (or commit) failed for lack of room, and none has succeeded since:
    /// readiness then probes with a write of its own.
    full: Arc<AtomicBool>,
    /// The file's write count (shared with any other engine of this process on it), moved by
    /// the writer thread before and after each job: see `Store::write_mark`.
    writes: Arc<writes::Writes>,
}

/// Remembers whether a write's `result` found the disk full (and clears it when one succeeds).
fn note_room<T>(full: &AtomicBool, result: &Result<T, StoreError>) {
    match result {
        Ok(_) => full.store(false, Ordering::Relaxed),
        Err(StoreError::StorageFull(_)) => full.store(true, Ordering::Relaxed),
        Err(_) => {}
    }
}

impl SqliteEngine {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub(super) fn open(path: &Path, limits: Limits) -> Result<Arc<dyn Engine>, StoreError> {
        FixedStatements::of(Dialect::Sqlite);
        create_private(path).map_err(StoreError::Create)?;
        let connections = Connections {
            path: path.to_owned(),
        };
        // The writer's connection. WAL is a property of the file: it is set here, before any
        // reader opens one. This first statement also takes the file for this process (see
        // [`Connections`]).
        let mut connection = connections
            .open()
            .and_then(|connection| {
                // Another process holding the file is reported at once, not after the busy
                // timeout (5 s) that waits for a lock any other time.
                connection.busy_timeout(Duration::ZERO)?;
                connection.pragma_update(None, "journal_mode", "WAL")?;
                connection.busy_timeout(BUSY_TIMEOUT)?;
                Ok(connection)
            })
            .map_err(|error| match error.sqlite_error_code() {
                Some(ErrorCode::DatabaseBusy) => StoreError::InUse(path.to_owned()),
                _ => error.into(),
            })?;
        migrate(&mut connection).map_err(|error| StoreError::Migration(Box::new(error)))?;
        let (writer, jobs) = mpsc::channel::<Job>();
        let reopen = connections.clone();
        let budget = limits.query_timeout;
        let writes = writes::of(path).map_err(StoreError::Create)?;
        let marks = Arc::clone(&writes);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(connection, &jobs, (&reopen, budget), &marks))
            .map_err(StoreError::Thread)?;
        let costly_reads = limits.costly_reads.max(1);
        let costly = rayon::ThreadPoolBuilder::new()
            .num_threads(costly_reads)
            .thread_name(|index| format!("sqlite-costly-{index}"))
            .build()
            .map_err(|error| StoreError::Thread(std::io::Error::other(error)))?;
        Ok(Arc::new(Sqlite(Self {
            shared: Arc::new(Shared {
                writer,
                readers: ThreadLocal::new(),
                connections,
                limits,
                costly,
                turns: Arc::new(tokio::sync::Semaphore::new(costly_reads)),
                full: Arc::default(),
                writes,
            }),
        })))
    }
}

/// The writer thread: runs jobs one at a time until the engine is gone, each between a begin
/// and an end of the file's write count (its changes committed before the end: see
/// `Store::write_mark`).
fn write_loop(
    mut connection: Connection,
    jobs: &mpsc::Receiver<Job>,
    (reopen, budget): (&Connections, Duration),
    writes: &writes::Writes,
) {
    for job in jobs {
        writes.begin();
        // Ended once the job is over, however it ends (a panic, or the thread's end when its
        // connection cannot be replaced: no write can happen after that).
        let _done = Ended(writes);
        match job {
            Job::Write(write) => {
                // A panicking write fails its own request (its reply is dropped), not every
                // later one.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    within(budget, || write(&mut connection));
                }));
            }
            Job::Lend(borrower) => {
                let (give_back, returned) = mpsc::channel();
                let lent = Lent {
                    connection: Some(connection),
                    give_back,
                };
                let back = match borrower.send(lent) {
                    // The borrower went away before it got it: nothing happened on it.
                    Err(mut lent) => lent.connection.take(),
                    Ok(()) => returned.recv().ok(),
                };
                // Back in autocommit mode, or (should it never come back, or come back with its
                // transaction still open after a failed ROLLBACK) replaced by a new connection:
                // closing the old one undoes its transaction, and writes never run inside it.
                connection = match back.filter(Connection::is_autocommit) {
                    Some(connection) => connection,
                    None => match reopen.open() {
                        Ok(connection) => connection,
                        Err(error) => {
                            tracing::error!(%error, "the SQLite writer cannot reopen its connection");
                            return;
                        }
                    },
                };
            }
        }
    }
}

/// Ends a writer job in the write count when dropped.
struct Ended<'a>(&'a writes::Writes);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

impl Shared {
    /// Runs a read on the calling thread: it is short, and WAL lets readers run beside a writer.
    ///
    /// It uses this thread's own connection to this database, opened on first use. (Measured:
    /// taking a pooled connection per read cost more than the read, through the pool's lock and
    /// cross-thread wake-ups.)
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.read_within(self.limits.query_timeout, query)
    }

    /// Runs a costly read (see `Condition::is_costly`) on the costly-read threads, waiting at
    /// most the query budget for a turn: such a read can take its whole budget, and on a
    /// request thread it would hold up every request queued behind it.
    async fn read_costly<T: Send + 'static>(
        self: &Arc<Self>,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let deadline = Instant::now() + self.limits.query_timeout;
        // Owned, and moved into the job: the turn is held while the job runs (or waits), even
        // when the request that asked has gone away, so abandoned jobs cannot pile up.
        let turn = self.take_turn().await?;
        let (reply, answer) = oneshot::channel();
        let shared = Arc::clone(self);
        self.costly.spawn(move || {
            let _turn = turn;
            // Nobody waits for it any more, or its time is already up: skip it.
            if reply.is_closed() || Instant::now() >= deadline {
                return;
            }
            let budget = deadline.saturating_duration_since(Instant::now());
            let result =
                std::panic::catch_unwind(AssertUnwindSafe(|| shared.read_within(budget, query)));
            // A panicking read fails its own request (the reply is dropped), not the pool.
            if let Ok(result) = result {
                let _ = reply.send(result);
            }
        });
        answer.await.map_err(|_| StoreError::TimedOut)?
    }

    /// Runs a write on the writer thread and waits for it without blocking the runtime.
    ///
    /// One connection writes, so writes never wait on SQLite's lock. (Measured: with a pool of
    /// writer connections, writes queued in SQLite's busy handler, which sleeps in steps of up
    /// to 100 ms: `POST /todos` had a p99 of ~170 ms under load.)
    async fn write<T: Send + 'static>(
        &self,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Job::Write(Box::new(move |connection| {
                // Its request is gone (the client hung up while it was queued): skip it.
                if !reply.is_closed() {
                    let _ = reply.send(statement(connection));
                }
            })))
            .map_err(|_| StoreError::Closed)?;
        let result = answer
            .await
            .map_err(|_| StoreError::Closed)?
            .map_err(StoreError::from);
        note_room(&self.full, &result);
        result
    }

    /// A turn for costly work, waited for at most the query budget. Owned, so that it can be
    /// moved into the job and held while the job waits and runs.
    async fn take_turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit, StoreError> {
        tokio::time::timeout(
            self.limits.query_timeout,
            Arc::clone(&self.turns).acquire_owned(),
        )
        .await
        .map_err(|_| StoreError::TimedOut)?
        .map_err(|_| StoreError::Closed)
    }

    /// A write whose `WHERE` is costly (a pattern match): it takes a turn on the costly-read
    /// threads' allowance first, held until it has run, so that such writes cannot queue up on
    /// the writer thread faster than one budget at a time per turn.
    async fn write_costly<T: Send + 'static>(
        &self,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let turn = self.take_turn().await?;
        self.write(move |connection| {
            let _turn = turn;
            statement(connection)
        })
        .await
    }

    /// [`Shared::read`] with its own budget.
    fn read_within<T>(
        &self,
        budget: Duration,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let connection = self
            .readers
            .get_or_try(|| self.connections.open_reader().map(RefCell::new))?;
        Ok(within(budget, || query(&connection.borrow()))?)
    }
}

#[async_trait::async_trait]
impl Engine for Sqlite<SqliteEngine> {
    /// Borrows the writer's connection for the transaction: the writer thread waits until it
    /// comes back, so the transaction's statements run inline, in order, with no other write
    /// between them (SQLite has one writer anyway).
    async fn begin(&self) -> Result<Box<dyn TransactionEngine>, StoreError> {
        let (borrower, lent) = oneshot::channel();
        self.0
            .shared
            .writer
            .send(Job::Lend(borrower))
            .map_err(|_| StoreError::Closed)?;
        let lent = lent.await.map_err(|_| StoreError::Closed)?;
        let transaction = SqliteTransaction {
            lent: Mutex::new(lent),
            failed: AtomicBool::new(false),
            budget: self.0.shared.limits.query_timeout,
            full: Arc::clone(&self.0.shared.full),
        };
        transaction.with(|connection| connection.execute_batch("BEGIN IMMEDIATE"))?;
        Ok(Box::new(Sqlite(transaction)))
    }

    /// `VACUUM INTO` on a connection of its own, off the runtime: one read transaction, so it
    /// sees one consistent state while the writer goes on (WAL readers do not block writers).
    /// The file is made first, empty and private (0600), as the database's.
    async fn backup(&self, to: &Path) -> Result<(), StoreError> {
        let connections = self.0.shared.connections.clone();
        let to = to.to_owned();
        tokio::task::spawn_blocking(move || {
            let connection = connections.open()?;
            connection.busy_timeout(BUSY_TIMEOUT)?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode_private()
                .open(&to)
                .map_err(|error| StoreError::Backup(format!("{}: {error}", to.display())))?;
            let target = to.to_str().ok_or_else(|| {
                StoreError::Backup(format!("{} is not a UTF-8 path", to.display()))
            })?;
            connection.execute("VACUUM INTO ?1", [target])?;
            Ok(())
        })
        .await
        .map_err(|error| StoreError::Backup(error.to_string()))?
    }

    fn write_mark(&self) -> Option<WriteMark> {
        self.0.shared.writes.mark().map(WriteMark)
    }

    /// Both a read connection and the writer (behind any queued writes) must answer; and
    /// after a write failed for lack of room, a write of the probe's own must succeed (it
    /// rewrites the header's unused application id with its own value: a page in the WAL).
    async fn ping(&self) -> Result<(), StoreError> {
        let select = |connection: &Connection| connection.query_row("SELECT 1", [], |_| Ok(()));
        self.0.shared.read(select)?;
        if !self.0.shared.full.load(Ordering::Relaxed) {
            return self
                .0
                .shared
                .write(move |connection: &mut Connection| select(connection))
                .await;
        }
        self.0
            .shared
            .write(|connection: &mut Connection| {
                let id: i64 =
                    connection.query_row("PRAGMA application_id", [], |row| row.get(0))?;
                connection.pragma_update(None, "application_id", id)
            })
            .await
    }
}
