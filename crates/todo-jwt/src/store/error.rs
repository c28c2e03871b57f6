//! Why a storage operation failed, and which failures are worth retrying.

use std::path::PathBuf;

use rusqlite::ErrorCode;

/// Why a storage operation failed. The cause is kept as the `source()`, for the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (an email already registered).
    #[error("conflict with a stored record")]
    Conflict,
    /// SQLite failed.
    #[error("SQLite failed")]
    Sqlite(#[source] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("PostgreSQL failed")]
    Postgres(#[source] tokio_postgres::Error),
    /// No PostgreSQL connection could be had.
    #[error("no PostgreSQL connection")]
    NoConnection(#[source] deadpool_postgres::PoolError),
    /// The database cannot be reached: the connection was lost or refused, or the server is
    /// shutting down or starting up. Retrying later works.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// What the work needed is gone: the SQLite writer thread (the store is shutting down),
    /// or a transaction's connection.
    #[error("the database connection is closed")]
    Closed,
    /// The owner already has as many todos as they may.
    #[error("the owner has reached the todo limit")]
    LimitReached,
    /// The work ran out of its time budget ([`Limits::query_timeout`]) and was stopped.
    #[error("the query ran out of its time budget")]
    TimedOut,
    /// The database refused a filter's regular expression as too complex to run (PostgreSQL
    /// can, for some the validator lets through).
    #[error("the regular expression is too complex for the database")]
    PatternTooComplex,
    /// Concurrent transactions collided (a deadlock or serialization failure); retrying works.
    #[error("the database gave up on a transaction because of concurrent ones")]
    Contention,
    /// A statement of the transaction failed, so it can only roll back: it is not committed.
    #[error("the transaction was not committed: one of its statements failed")]
    Aborted,
    /// The database has no room to write (a full disk, or quota): nothing was stored. Not
    /// transient in the retry-soon sense: it lasts until an operator frees space.
    #[error("the database has no room to write: nothing was stored")]
    StorageFull(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The SQLite file is held by another process.
    #[error(
        "{} is in use by another process (an SQLite database serves one todo-jwt instance; \
         run several on PostgreSQL)", .0.display()
    )]
    InUse(PathBuf),
    /// The PostgreSQL URL does not parse, or the pool cannot be built from it.
    #[error("invalid PostgreSQL URL")]
    Url(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The TLS settings for PostgreSQL cannot be used (a root certificate file that does not
    /// read, say).
    #[error("PostgreSQL TLS: {0}")]
    Tls(String),
    /// PostgreSQL could not be reached at start-up.
    #[error("cannot connect to PostgreSQL at {host}")]
    Unreachable {
        /// `host:port`, for the operator.
        host: String,
        /// Why.
        source: Box<StoreError>,
    },
    /// A pooler in transaction mode refused the session setting of a direct connection.
    #[error(
        "{host} refuses the session setting that carries the query budget (`options`): is it \
         a pooler in transaction mode, such as PgBouncer? Then add pooler=transaction to \
         TODO_JWT_DATABASE_URL"
    )]
    PoolerMode {
        /// `host:port`, for the operator.
        host: String,
        /// Why.
        source: Box<StoreError>,
    },
    /// A migration failed.
    #[error("the database migration failed")]
    Migration(#[source] Box<StoreError>),
    /// The SQLite file could not be created.
    #[error("cannot create the database file")]
    Create(#[source] std::io::Error),
    /// A thread the store needs could not be started.
    #[error("cannot start a database thread")]
    Thread(#[source] std::io::Error),
    /// Backups are taken here of the embedded database only (PostgreSQL: `pg_dump`).
    #[error("backups of a PostgreSQL database are taken with pg_dump, not by the service")]
    BackupUnsupported,
    /// The backup could not be written (or a backup to restore could not be read).
    #[error("the backup failed: {0}")]
    Backup(String),
    /// A backup to restore has not exactly the schema this service makes at its version: an
    /// object was added (a trigger that undoes password changes, a view, a table, an index),
    /// removed or changed. Restored, it would run or miss them on every request.
    #[error(
        "{} does not have the schema todo-jwt makes at its version ({version}): {}",
        .backup.display(),
        listed(.differences)
    )]
    ForeignSchema {
        /// The backup file.
        backup: PathBuf,
        /// Its schema version (`PRAGMA user_version`).
        version: i64,
        /// What differs, in the order of the objects' kinds and names.
        differences: Vec<SchemaDifference>,
    },
}

/// How one object of a backup's schema differs from the schema expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaDifference {
    /// An object the service never makes.
    Extra(SchemaObjectName),
    /// An object of the expected schema the backup lacks.
    Missing(SchemaObjectName),
    /// An object of the expected name whose definition differs.
    Changed(SchemaObjectName),
}

/// An object of an SQLite schema: its kind (`table`, `index`, `view`, `trigger`), its name,
/// and the table it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SchemaObjectName {
    /// `table`, `index`, `view` or `trigger`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The table it is on (its own name for a table or view).
    pub table: String,
}

impl std::fmt::Display for SchemaObjectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.name)?;
        if self.table != self.name {
            write!(f, " on {}", self.table)?;
        }
        Ok(())
    }
}

impl std::fmt::Display for SchemaDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Extra(object) => write!(f, "an extra {object}"),
            Self::Missing(object) => write!(f, "no {object}"),
            Self::Changed(object) => write!(f, "a changed {object}"),
        }
    }
}

/// The differences, separated by `; `.
fn listed(differences: &[SchemaDifference]) -> String {
    differences
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl StoreError {
    /// Whether the failure is temporary: the database is unavailable for now (unreachable, no
    /// connection to be had, busy or locked), the work ran out of its time budget, or
    /// concurrent transactions collided; the same request may succeed if retried later. The
    /// one place this is decided: HTTP answers these with a 503 and `Retry-After`.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::NoConnection(_) | Self::TimedOut | Self::Contention => {
                true
            }
            // Another connection held the lock for longer than the busy timeout.
            Self::Sqlite(error) => matches!(
                error.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ),
            // At start-up: the server cannot be reached yet.
            Self::Unreachable { source, .. } => source.is_transient(),
            Self::PoolerMode { .. } => false,
            Self::Conflict
            | Self::Postgres(_)
            | Self::Closed
            | Self::LimitReached
            | Self::PatternTooComplex
            | Self::Aborted
            | Self::StorageFull(_)
            | Self::InUse(_)
            | Self::Url(_)
            | Self::Tls(_)
            | Self::Migration(_)
            | Self::Create(_)
            | Self::Thread(_)
            | Self::BackupUnsupported
            | Self::Backup(_)
            | Self::ForeignSchema { .. } => false,
        }
    }
}
