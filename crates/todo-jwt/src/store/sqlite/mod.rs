//! SQLite through rusqlite: one writer thread, a read connection per reading thread, cached
//! prepared statements. The statements themselves are in `statements.rs`.

mod statements;

use statements::Sqlite;

use std::{
    cell::{Cell, RefCell},
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use regex::Regex;
use rusqlite::{Connection, ErrorCode, OpenFlags, functions::FunctionFlags, types::ValueRef};
use thread_local::ThreadLocal;
use tokio::sync::oneshot;

use super::{Engine, Limits, StoreError, TransactionEngine};

/// Schema changes in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_users.sql"),
    include_str!("migrations/0002_todos.sql"),
    include_str!("migrations/0003_todo_count.sql"),
    include_str!("migrations/0004_sessions.sql"),
    include_str!("migrations/0005_refresh_tokens.sql"),
    include_str!("migrations/0006_throttle.sql"),
    include_str!("migrations/0007_audit_events.sql"),
    include_str!("migrations/0008_signing_keys.sql"),
];

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if is_unique_violation(&error) {
            Self::Conflict
        } else if error.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) {
            // The progress handler stopped it: out of its budget.
            Self::TimedOut
        } else {
            Self::Sqlite(error)
        }
    }
}

thread_local! {
    /// When the statements running on this thread must stop; `None` outside [`within`].
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// How many steps of SQLite's virtual machine run between two looks at the clock: a step can
/// be one LIKE or REGEXP over a long text, so the clock is read often (a few times for a
/// 20-todo list, some tens of nanoseconds in all).
const PROGRESS_STEPS: std::ffi::c_int = 100;

/// Runs `work` with the SQLite statements it runs on this thread stopped (interrupted, then
/// [`StoreError::TimedOut`]) once `budget` has passed. A single function call (one LIKE or
/// REGEXP over one text) is not cut short, but the next step after it is; the filter module
/// bounds what one call can cost.
fn within<T>(budget: Duration, work: impl FnOnce() -> T) -> T {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEADLINE.set(self.0);
        }
    }
    let deadline = Instant::now() + budget;
    let outer = DEADLINE.get();
    // Nested, the earlier deadline holds.
    let _restore =
        Restore(DEADLINE.replace(Some(outer.map_or(deadline, |outer| outer.min(deadline)))));
    work()
}

fn past_deadline() -> bool {
    DEADLINE
        .get()
        .is_some_and(|deadline| Instant::now() >= deadline)
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
}

impl SqliteEngine {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub(super) fn open(path: &Path, limits: Limits) -> Result<Arc<dyn Engine>, StoreError> {
        statements::prepare();
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
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(connection, &jobs, &reopen, budget))
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
            }),
        })))
    }
}

/// The writer thread: runs jobs one at a time until the engine is gone.
fn write_loop(
    mut connection: Connection,
    jobs: &mpsc::Receiver<Job>,
    reopen: &Connections,
    budget: Duration,
) {
    for job in jobs {
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
        Ok(answer.await.map_err(|_| StoreError::Closed)??)
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
            .get_or_try(|| self.connections.open().map(RefCell::new))?;
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

    /// Both a read connection and the writer (behind any queued writes) must answer.
    async fn ping(&self) -> Result<(), StoreError> {
        let select = |connection: &Connection| connection.query_row("SELECT 1", [], |_| Ok(()));
        self.0.shared.read(select)?;
        self.0
            .shared
            .write(move |connection: &mut Connection| select(connection))
            .await
    }
}

/// A transaction on the writer's borrowed connection.
struct SqliteTransaction {
    /// Locked for one statement at a time, never across an await.
    lent: Mutex<Lent>,
    /// A statement failed: as on PostgreSQL, the transaction can only roll back. (SQLite
    /// itself would commit the other statements, or, after some errors, has already rolled
    /// back and would run the next ones outside any transaction.)
    failed: AtomicBool,
    /// The time budget of each of its statements.
    budget: Duration,
}

impl SqliteTransaction {
    /// Runs `statement` inline on the borrowed connection: statements inside a transaction do
    /// not sync to disk (its commit may, and runs off the runtime).
    fn with<T>(
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
        tokio::task::spawn_blocking(move || {
            transaction.with(|connection| connection.execute_batch("COMMIT"))
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

/// Creates the database file, if it does not exist, readable by its owner only: it holds
/// password hashes. SQLite gives its `-wal` and `-shm` files the database file's mode.
/// Opening files readable by their owner only.
trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600);
        self
    }
}

/// Replaces the database at `database` with the backup at `backup`, page by page in one
/// transaction (SQLite's backup API), after checking the backup is an intact database of this
/// service no newer than it. The service must be stopped: the database is opened as this
/// process's alone, so a running service makes it fail, and nothing changes.
pub fn restore(database: &Path, backup: &Path) -> Result<(), StoreError> {
    let source = Connection::open_with_flags(backup, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|error| StoreError::Backup(format!("{}: {error}", backup.display())))?;
    let check: String = source
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|error| StoreError::Backup(format!("{}: {error}", backup.display())))?;
    if check != "ok" {
        return Err(StoreError::Backup(format!(
            "{} is damaged: {check}",
            backup.display()
        )));
    }
    let version: i64 = source.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version == 0 || version > known {
        return Err(StoreError::Backup(format!(
            "{} is not a database of this version of todo-jwt (schema {version}, known 1..={known})",
            backup.display()
        )));
    }
    let connections = Connections {
        path: database.to_owned(),
    };
    let in_use = |error: rusqlite::Error| match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) => StoreError::InUse(database.to_owned()),
        _ => error.into(),
    };
    // Takes the file for this process (fails at once when a service holds it).
    let mut target = connections.open().map_err(in_use)?;
    target
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(in_use)?;
    let copy = rusqlite::backup::Backup::new(&source, &mut target)?;
    copy.run_to_completion(256, Duration::ZERO, None)?;
    Ok(())
}

fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// Runs the migrations this database has not seen, each in its own transaction.
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let applied: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, sql) in (0_i64..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(applied).unwrap_or(0))
    {
        let transaction = connection.transaction()?;
        transaction.execute_batch(sql)?;
        transaction.pragma_update(None, "user_version", index + 1)?;
        transaction.commit()?;
    }
    Ok(())
}

/// How every connection to one database file is opened and set up.
///
/// Through SQLite's `unix-excl` VFS: the first connection takes an exclusive lock on the file
/// for this process and holds it while any connection is open, so another process cannot
/// open the database (a second instance on the same data directory is refused), and the
/// connections of this process coordinate in memory. (Measured: with the default VFS, every
/// read transaction took and released a lock on the `-shm` file with `fcntl` while holding a
/// mutex that every reader thread shares; two threads then queued on it — 1.5 `fcntl` and
/// 1.25 `futex` calls per `GET /todos` under load, against none now.)
#[derive(Clone, Debug)]
struct Connections {
    path: PathBuf,
}

/// How long a statement waits for a lock held by another connection of this process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The VFS that owns the database file for the process.
const EXCLUSIVE_VFS: &str = "unix-excl";

impl Connections {
    fn open(&self) -> rusqlite::Result<Connection> {
        let connection =
            Connection::open_with_flags_and_vfs(&self.path, OpenFlags::default(), EXCLUSIVE_VFS)?;
        // rusqlite waits 5 s on a lock by default; setting up must not (see `SqliteEngine::open`).
        connection.busy_timeout(Duration::ZERO)?;
        // `case_sensitive_like`: LIKE is case-sensitive, as in PostgreSQL; `ilike` exists
        // for the other kind.
        connection.execute_batch(
            "PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA case_sensitive_like = ON;",
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        add_regexp_function(&connection)?;
        connection.progress_handler(PROGRESS_STEPS, Some(past_deadline))?;
        connection.set_prepared_statement_cache_capacity(64);
        Ok(connection)
    }
}

/// `x REGEXP p` for the filter language's `regexp`, with the `regex` crate (linear time, so a
/// client's pattern cannot make a query run away). Each statement compiles its pattern once.
fn add_regexp_function(connection: &Connection) -> rusqlite::Result<()> {
    connection.create_scalar_function(
        "regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |context| {
            let regex: std::sync::Arc<Regex> = context.get_or_create_aux(0, |pattern| {
                Regex::new(pattern.as_str()?)
                    .map_err(|error| rusqlite::Error::UserFunctionError(error.into()))
            })?;
            Ok(match context.get_raw(1) {
                ValueRef::Text(text) => {
                    std::str::from_utf8(text).is_ok_and(|text| regex.is_match(text))
                }
                _ => false,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counting to ten million takes SQLite about a second: the budget stops it within a few
    /// milliseconds of the deadline, as `TimedOut`, and the connection works afterwards.
    #[test]
    fn a_statement_over_its_budget_is_interrupted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let connections = Connections {
            path: dir.path().join("budget.sqlite3"),
        };
        let connection = connections.open().expect("open");
        let count = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) \
                     SELECT count(*) FROM c";
        let started = Instant::now();
        let result = within(Duration::from_millis(20), || {
            connection.query_row(count, [], |row| row.get::<_, i64>(0))
        });
        let error = StoreError::from(result.expect_err("interrupted"));
        assert!(matches!(error, StoreError::TimedOut), "{error:?}");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        // Outside a budget, nothing is interrupted.
        let small = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000) \
                     SELECT count(*) FROM c";
        assert_eq!(
            connection
                .query_row(small, [], |row| row.get::<_, i64>(0))
                .ok(),
            Some(1000)
        );
    }
}
