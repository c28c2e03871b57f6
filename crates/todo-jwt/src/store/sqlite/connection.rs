//! How every connection to the SQLite file is opened and set up, and the time budget its
//! statements run within.

use std::{
    cell::Cell,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use regex::Regex;
use rusqlite::{Connection, OpenFlags, functions::FunctionFlags, types::ValueRef};

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
pub(super) fn within<T>(budget: Duration, work: impl FnOnce() -> T) -> T {
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
pub(super) struct Connections {
    pub(super) path: PathBuf,
}

/// How long a statement waits for a lock held by another connection of this process.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The VFS that owns the database file for the process.
const EXCLUSIVE_VFS: &str = "unix-excl";

impl Connections {
    pub(super) fn open(&self) -> rusqlite::Result<Connection> {
        let connection =
            Connection::open_with_flags_and_vfs(&self.path, OpenFlags::default(), EXCLUSIVE_VFS)?;
        // rusqlite waits 5 s on a lock by default; setting up must not (see `SqliteEngine::open`).
        connection.busy_timeout(Duration::ZERO)?;
        // `case_sensitive_like`: LIKE is case-sensitive, as in PostgreSQL; `ilike` exists
        // for the other kind. `trusted_schema` off: a view, trigger, index or default in the
        // file may call no function with side effects (the schema made by the migrations calls
        // none; `restore` refuses a file whose schema is not theirs).
        connection.execute_batch(
            "PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA case_sensitive_like = ON;
             PRAGMA trusted_schema = OFF;",
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        add_regexp_function(&connection)?;
        connection.progress_handler(PROGRESS_STEPS, Some(past_deadline))?;
        connection.set_prepared_statement_cache_capacity(64);
        Ok(connection)
    }

    /// A read connection: it cannot write (`query_only`). Every write goes through the writer
    /// thread, which keeps the write mark (`Store::write_mark`) kept answers are served by.
    pub(super) fn open_reader(&self) -> rusqlite::Result<Connection> {
        let connection = self.open()?;
        connection.pragma_update(None, "query_only", true)?;
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

/// Opening files readable by their owner only.
pub(super) trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600);
        self
    }
}

/// Creates the database file, if it does not exist, readable by its owner only: it holds
/// password hashes. SQLite gives its `-wal` and `-shm` files the database file's mode.
pub(super) fn create_private(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode_private()
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}
