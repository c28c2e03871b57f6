//! Storage: one [`Store`] handle over SQLite or PostgreSQL, with a repository per concern.
//!
//! - [`Store::open`] opens the configured engine and brings its schema up to date;
//!   [`Store::ping`] says whether it answers (readiness).
//! - [`Store::users`] and [`Store::todos`] are the repositories ([`Users`], [`Todos`]); the
//!   rules they share (emails compared case-insensitively, a patch that changes nothing) are
//!   written there, once, above the engines.
//! - [`Store::transaction`] starts a unit of work that offers the same repositories and
//!   commits or rolls back as one (dropped without [`Transaction::commit`], it rolls back).
//!   Keep transactions short, and never hash a password inside one: on SQLite a transaction
//!   holds the only writer connection until it ends. For the same reason, while a task holds
//!   a transaction it must write only through it: a write through the [`Store`] would wait
//!   for the writer connection the task itself holds.
//! - Each repository's statements (`UserStatements`, `TodoStatements`, ...) are implemented
//!   once, above the engines, in the repository's file, through an engine's few executors
//!   (`run.rs`: one row, an optional row, all rows, execute, and visiting a list's rows) and
//!   one mapping per record from a row (`rows.rs`). Table and column names live in
//!   [`schema`]; every statement, the filter language's included, is built from them in
//!   [`sql`], once per dialect.
//! - Each engine implements only what differs: its executors, its rows and parameters, its
//!   migrations and its transactions: `sqlite/` (rusqlite; reads inline on the calling thread
//!   with a connection per thread, writes on one writer thread) and `postgres/`
//!   (tokio-postgres over a deadpool pool).
//! - [`StoreError::is_transient`] says which failures are worth retrying later.
//!
//! A new table is a migration in each engine's `migrations/`, its names in [`schema`], its
//! statements in [`sql`], a mapping of its rows in `rows.rs`, and a statements trait,
//! repository and the trait's one implementation here (as `users.rs`).

mod audit;
mod error;
mod keys;
mod mail;
mod mfa;
mod model;
mod postgres;
mod rows;
mod run;
pub mod schema;
mod sessions;
pub mod sql;
mod sqlite;
mod throttle;
mod todos;
mod users;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

pub use audit::{Audit, AuditCount, AuditRecord, AuditStatements};
pub use error::{SchemaDifference, SchemaObjectName, StoreError};
pub use keys::{KeyRecord, KeyStatements, SigningKeys};
pub use mail::{Mail, MailStatements, NewToken, OutboxMessage, UsedToken};
pub use mfa::{Mfa, MfaStatements, TotpRecord};
pub use model::{Todo, TodoChanges, TodoFields, TodoRef, User, UserRecord, Versions, Written};
pub use sessions::{RefreshRecord, Session, SessionStatements, SessionStore};
pub use sqlite::Restore as SqliteRestore;
pub use throttle::{Counter, Throttle, ThrottleStatements};
pub use todos::{TodoStatements, Todos, Visitor};
pub use users::{UserStatements, Users, email_key};

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (the embedded default).
    Sqlite(PathBuf),
    /// A PostgreSQL server, through a pool of at most `pool_size` connections.
    Postgres {
        /// `postgres://user:password@host:port/database`.
        url: String,
        /// Connections this instance may open.
        pool_size: usize,
    },
}

/// Bounds on the database work one request can cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest one statement may run, and the longest a costly read (a pattern match, see
    /// `Condition::is_costly`) may wait for its turn; beyond it, [`StoreError::TimedOut`].
    /// SQLite checks the clock every few thousand steps of its virtual machine; PostgreSQL
    /// enforces it as `statement_timeout`.
    pub query_timeout: Duration,
    /// How many costly statements run at once (SQLite: on threads of their own, never on the
    /// request threads; PostgreSQL: turns on the pool), so that pattern matches over long
    /// texts cannot stall other requests.
    pub costly_reads: usize,
    /// The most audit events one account keeps: each event written removes its account's
    /// beyond the newest this many, in the same transaction.
    pub events_per_account: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            query_timeout: Duration::from_secs(2),
            costly_reads: 1,
            events_per_account: 1_000,
        }
    }
}

/// What an engine offers: its statements, transactions and a health check.
#[async_trait::async_trait]
trait Engine:
    UserStatements
    + TodoStatements
    + SessionStatements
    + ThrottleStatements
    + AuditStatements
    + KeyStatements
    + MailStatements
    + MfaStatements
    + 'static
{
    /// Starts a transaction.
    async fn begin(&self) -> Result<Box<dyn TransactionEngine>, StoreError>;
    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// How many statements a connection of this engine keeps prepared, at most (PostgreSQL;
    /// SQLite's cache has a fixed capacity and reports 0).
    async fn cached_statements(&self) -> usize {
        0
    }
    /// The connection pool's state (PostgreSQL; SQLite has no pool).
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }
    /// Writes a consistent copy of the database to `to` (a new file) while the service goes on
    /// reading and writing (SQLite).
    async fn backup(&self, to: &Path) -> Result<(), StoreError> {
        let _ = to;
        Err(StoreError::BackupUnsupported)
    }
    /// See [`Store::write_mark`] (SQLite; `None` on PostgreSQL).
    fn write_mark(&self) -> Option<WriteMark> {
        None
    }
}

/// Where the embedded store's writes stand: see [`Store::write_mark`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteMark(u64);

impl WriteMark {
    /// The mark's number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// A mark of this number, for tests.
    #[cfg(test)]
    pub(crate) fn at(number: u64) -> Self {
        Self(number)
    }
}

/// How a connection pool's connections are used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Lent to requests.
    pub in_use: usize,
    /// Open and waiting.
    pub idle: usize,
    /// Open and shared by short reads (PostgreSQL's, see `store/postgres/shared.rs`).
    pub shared: usize,
    /// The most the pool opens, the shared connections included.
    pub max: usize,
}

/// An open transaction of an engine: the same statements, then commit.
#[async_trait::async_trait]
trait TransactionEngine:
    UserStatements
    + TodoStatements
    + SessionStatements
    + AuditStatements
    + KeyStatements
    + MailStatements
    + MfaStatements
{
    /// Makes the transaction's writes durable and visible.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// The storage handle: cheap to clone (one `Arc`), shared by every request.
#[derive(Clone)]
pub struct Store {
    engine: Arc<dyn Engine>,
    /// The most audit events an account keeps.
    events_kept: i64,
}

impl Store {
    /// Opens `database` (creating an SQLite file if needed) and applies the migrations it has
    /// not seen (what `todo-jwt migrate` runs), with the default [`Limits`].
    pub async fn open(database: &Database) -> Result<Self, StoreError> {
        Self::open_with(database, Limits::default()).await
    }

    /// [`Store::open`] with these limits.
    pub async fn open_with(database: &Database, limits: Limits) -> Result<Self, StoreError> {
        let engine = match database {
            Database::Sqlite(path) => {
                let engine = sqlite::SqliteEngine::open(path, limits)?;
                tracing::info!(path = %path.display(), "using SQLite");
                engine
            }
            Database::Postgres { url, pool_size } => {
                let engine = postgres::PostgresEngine::connect(url, *pool_size, limits).await?;
                tracing::info!("using PostgreSQL");
                engine
            }
        };
        let events_kept = i64::try_from(limits.events_per_account).unwrap_or(i64::MAX);
        Ok(Self {
            engine,
            events_kept,
        })
    }

    /// Accounts.
    pub fn users(&self) -> Users<'_> {
        Users(&*self.engine)
    }

    /// Todos.
    pub fn todos(&self) -> Todos<'_> {
        Todos(&*self.engine)
    }

    /// Sessions.
    pub fn sessions(&self) -> SessionStore<'_> {
        SessionStore(&*self.engine)
    }

    /// Throttle counters.
    pub fn throttle(&self) -> Throttle<'_> {
        Throttle(&*self.engine)
    }

    /// Audit events.
    pub fn audit(&self) -> Audit<'_> {
        Audit {
            statements: &*self.engine,
            keep: self.events_kept,
        }
    }

    /// The token signing keys.
    pub fn signing_keys(&self) -> SigningKeys<'_> {
        SigningKeys(&*self.engine)
    }

    /// The outbox and the tokens sent by mail.
    pub fn mail(&self) -> Mail<'_> {
        Mail(&*self.engine)
    }

    /// The second factor.
    pub fn mfa(&self) -> Mfa<'_> {
        Mfa(&*self.engine)
    }

    /// Starts a unit of work (see [`Transaction`]).
    pub async fn transaction(&self) -> Result<Transaction, StoreError> {
        Ok(Transaction {
            engine: self.engine.begin().await?,
            events_kept: self.events_kept,
        })
    }

    /// Whether the database answers a trivial query (for readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.engine.ping().await
    }

    /// Writes a consistent copy of the database to `to`, a file that must not exist yet, while
    /// requests go on (SQLite; PostgreSQL is backed up with its own tools).
    pub async fn backup(&self, to: &Path) -> Result<(), StoreError> {
        self.engine.backup(to).await
    }

    /// SQLite: a mark that stays the same while nothing is written to the database (it moves
    /// with every job of a writer, reads there included, so sometimes without a write);
    /// `None` while such a job is under way, and always on PostgreSQL (where other instances
    /// write too). A value read after a mark was taken (a list's version, say) is still the
    /// database's while [`Store::write_mark`] gives the same mark.
    ///
    /// Exact because this process holds the file for itself (no other process can open it
    /// through SQLite's locks: see `sqlite::connection`), its read connections cannot write
    /// (`query_only`), and each writer connection of this process on the file (one per store)
    /// moves the file's one count before and after each write and each lent transaction; a
    /// restore is refused while a store of this process has the file. A tool that writes the
    /// file while the service runs, ignoring SQLite's locks (`nolock=1`, another VFS, a raw
    /// copy), is not seen until the service's next write.
    pub fn write_mark(&self) -> Option<WriteMark> {
        self.engine.write_mark()
    }

    /// The connection pool's state (PostgreSQL; `None` on SQLite).
    pub fn pool_status(&self) -> Option<PoolStatus> {
        self.engine.pool_status()
    }

    /// How many statements the next connection of the pool keeps prepared (PostgreSQL; 0 on
    /// SQLite, whose per-connection cache has a fixed capacity). Bounded whatever clients send.
    pub async fn cached_statements(&self) -> usize {
        self.engine.cached_statements().await
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// A unit of work: its repositories see its own writes, and nothing it wrote is visible to
/// others until [`Transaction::commit`]. Dropped without a commit (an error, a client that
/// went away), it rolls back.
///
/// While it is open, write only through it, never through the [`Store`], and open no second
/// one in the same task: on SQLite it holds the writer connection, and such a write would wait
/// for it forever.
///
/// After a statement fails (a conflict, say), the transaction can only roll back: on both
/// engines further statements fail and [`Transaction::commit`] returns
/// [`StoreError::Aborted`].
pub struct Transaction {
    engine: Box<dyn TransactionEngine>,
    events_kept: i64,
}

impl Transaction {
    /// Accounts, inside the transaction.
    pub fn users(&self) -> Users<'_> {
        Users(&*self.engine)
    }

    /// Todos, inside the transaction.
    pub fn todos(&self) -> Todos<'_> {
        Todos(&*self.engine)
    }

    /// Sessions, inside the transaction.
    pub fn sessions(&self) -> SessionStore<'_> {
        SessionStore(&*self.engine)
    }

    /// Audit events, written in this transaction.
    pub fn audit(&self) -> Audit<'_> {
        Audit {
            statements: &*self.engine,
            keep: self.events_kept,
        }
    }

    /// The token signing keys, inside the transaction.
    pub fn signing_keys(&self) -> SigningKeys<'_> {
        SigningKeys(&*self.engine)
    }

    /// The outbox and the tokens sent by mail.
    pub fn mail(&self) -> Mail<'_> {
        Mail(&*self.engine)
    }

    /// The second factor.
    pub fn mfa(&self) -> Mfa<'_> {
        Mfa(&*self.engine)
    }

    /// Commits; [`StoreError::Aborted`] (and nothing is kept) when one of its statements
    /// failed, on either engine.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.engine.commit().await
    }
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").finish_non_exhaustive()
    }
}
