//! PostgreSQL through tokio-postgres and a deadpool connection pool, beside which a few
//! connections are shared by short reads (`shared.rs`). The executors the repositories run
//! their statements with are in `statements.rs`; TLS, in `tls.rs`.
//!
//! Several `todo-jwt` instances can share one database: ids come from an identity column,
//! uniqueness from constraints, and migrations take an advisory lock so instances starting
//! together apply each one once.

mod pooler;
mod shared;
mod statements;
mod tls;

use std::sync::Arc;

use pooler::Pooling;
use shared::Shared;
use statements::{Exec, Postgres};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::{NoTls, error::SqlState, types::Type};

use super::{
    Engine, Limits, PoolStatus, StoreError, TransactionEngine,
    sql::{Dialect, FixedStatements},
};

/// Schema changes in order; `schema_migrations` records the applied ones.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_users.sql"),
    include_str!("migrations/0002_todos.sql"),
    include_str!("migrations/0003_todos_index_without_texts.sql"),
    include_str!("migrations/0004_todo_count.sql"),
    include_str!("migrations/0005_sessions.sql"),
    include_str!("migrations/0006_refresh_tokens.sql"),
    include_str!("migrations/0007_throttle.sql"),
    include_str!("migrations/0008_audit_events.sql"),
    include_str!("migrations/0009_signing_keys.sql"),
    include_str!("migrations/0010_audit_counts.sql"),
    include_str!("migrations/0011_refresh_token_rotation.sql"),
    include_str!("migrations/0012_mail.sql"),
    include_str!("migrations/0013_email_change.sql"),
    include_str!("migrations/0014_mfa.sql"),
    include_str!("migrations/0015_todo_versions.sql"),
];

/// An arbitrary constant: the advisory lock that serialises migrations between instances.
const MIGRATION_LOCK: i64 = 0x746f_646f_6a77;

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.code() {
            Some(&SqlState::UNIQUE_VIOLATION) => Self::Conflict,
            // "current transaction is aborted": an earlier statement of it failed.
            Some(&SqlState::IN_FAILED_SQL_TRANSACTION) => Self::Aborted,
            // `statement_timeout` (the query budget) stopped it.
            Some(&SqlState::QUERY_CANCELED) => Self::TimedOut,
            // "invalid regular expression: regular expression is too complex", say.
            Some(&SqlState::INVALID_REGULAR_EXPRESSION) => Self::PatternTooComplex,
            // A deadlock, a serialization failure, or a lock not had within `lock_timeout`.
            Some(
                &SqlState::T_R_DEADLOCK_DETECTED
                | &SqlState::T_R_SERIALIZATION_FAILURE
                | &SqlState::LOCK_NOT_AVAILABLE,
            ) => Self::Contention,
            // No room on the server's disk (53100), or its memory (53200) for this write.
            Some(&SqlState::DISK_FULL | &SqlState::OUT_OF_MEMORY) => {
                Self::StorageFull(Box::new(error))
            }
            // The server is going away or not there yet (shutdown, crash, start-up), or has no
            // connection to spare.
            Some(
                &SqlState::ADMIN_SHUTDOWN
                | &SqlState::CRASH_SHUTDOWN
                | &SqlState::CANNOT_CONNECT_NOW
                | &SqlState::TOO_MANY_CONNECTIONS,
            ) => Self::Unavailable(Box::new(error)),
            // Class 08, the connection failed: PgBouncer says so with 08P01 when it cannot
            // reach the server ("server login has been failing", "query_wait_timeout").
            Some(state) if state.code().starts_with("08") => Self::Unavailable(Box::new(error)),
            // No SQLSTATE: the connection itself broke (closed, reset, I/O).
            None if error.is_closed() || io_cause(&error) => Self::Unavailable(Box::new(error)),
            _ => Self::Postgres(error),
        }
    }
}

/// `url` without the query parameters `take` consumes (it sees each decoded key and value and
/// answers whether it took it); the others are kept as written, encoding included.
fn take_params(
    url: &str,
    mut take: impl FnMut(&str, &str) -> Result<bool, StoreError>,
) -> Result<String, StoreError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(url.to_owned());
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = form_urlencoded::parse(pair.as_bytes())
            .next()
            .unwrap_or_default();
        if !take(&key, &value)? {
            kept.push(pair);
        }
    }
    Ok(if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    })
}

/// Whether `error` or one of its causes says `text`.
fn says(error: &(dyn std::error::Error + 'static), text: &str) -> bool {
    let mut cause = Some(error);
    while let Some(inner) = cause {
        if inner.to_string().contains(text) {
            return true;
        }
        cause = inner.source();
    }
    false
}

/// Whether an I/O error is among `error`'s causes (a reset or refused connection).
fn io_cause(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = error.source();
    while let Some(inner) = cause {
        if inner.is::<std::io::Error>() {
            return true;
        }
        cause = inner.source();
    }
    false
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            // Every connection stayed busy for the whole query budget: as over budget.
            deadpool_postgres::PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => {
                Self::TimedOut
            }
            // A connection could not be made (refused, timed out, the server not ready).
            other @ (deadpool_postgres::PoolError::Backend(_)
            | deadpool_postgres::PoolError::Timeout(_)) => Self::Unavailable(Box::new(other)),
            other => Self::NoConnection(other),
        }
    }
}

/// The PostgreSQL engine.
pub struct PostgresEngine {
    pool: Pool,
    /// Turns for costly statements (pattern matches): as many as SQLite's costly-read threads
    /// (half the cores, at least one; never more than the pooled connections), so that they can neither hold
    /// every connection nor every core of a database server on the same machine.
    costly: Arc<tokio::sync::Semaphore>,
    limits: Limits,
    pooling: Pooling,
    /// The connections short reads by a key share (none behind a pooler in transaction mode).
    shared: Shared,
}

impl PostgresEngine {
    /// Connects to `url` with `pool_size` connections at most (a few of them shared, the rest
    /// pooled) and brings the schema up to date.
    pub(super) async fn connect(
        url: &str,
        pool_size: usize,
        limits: Limits,
    ) -> Result<Arc<dyn Engine>, StoreError> {
        FixedStatements::of(Dialect::Postgres);
        let (url, pooling) = pooler::split_url(url)?;
        let (url, tls_settings) = tls::split_url(&url)?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|error| StoreError::Url(Box::new(error)))?;
        let tls_mode = tls_settings.mode_for(config.get_hosts());
        let (ssl_mode, tls_config) = tls_settings.client_config(tls_mode)?;
        config.ssl_mode(ssl_mode);
        let local = tls::all_local(config.get_hosts());
        // Every statement of every connection within the budget, enforced by the server (a
        // pooler in transaction mode gets it per transaction instead: see `pooler`).
        if pooling == Pooling::Session {
            let timeout = format!(
                "-c statement_timeout={}",
                limits.query_timeout.as_millis().max(1)
            );
            let options = match config.get_options() {
                Some(given) => format!("{given} {timeout}"),
                None => timeout,
            };
            config.options(&options);
        }
        let host = describe_hosts(&config);
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let (manager, connect) = match tls_config {
            Some(tls_config) => {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config);
                let connect = shared::connector(config.clone(), tls.clone(), limits.query_timeout);
                (Manager::from_config(config, tls, manager_config), connect)
            }
            None => (
                Manager::from_config(config.clone(), NoTls, manager_config),
                shared::connector(config, NoTls, limits.query_timeout),
            ),
        };
        let shared = match pooling {
            Pooling::Session => shared::shared_count(pool_size),
            Pooling::Transaction => 0,
        };
        // Waiting for a connection counts against the query budget too: when every connection
        // is busy for that long, the request is answered 503 rather than queued without end.
        let pool = Pool::builder(manager)
            .max_size(pool_size.saturating_sub(shared).max(1))
            .wait_timeout(Some(limits.query_timeout))
            // A server that does not answer (not one that refuses: that fails at once) costs a
            // request at most the budget too, then 503.
            .create_timeout(Some(limits.query_timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|error| StoreError::Url(Box::new(error)))?;
        let engine = Self {
            pool,
            costly: Arc::new(tokio::sync::Semaphore::new(
                limits
                    .costly_reads
                    .clamp(1, pool_size.saturating_sub(shared).max(1)),
            )),
            limits,
            pooling,
            shared: Shared::new(shared, connect, limits.query_timeout),
        };
        engine.migrate().await.map_err(|error| match error {
            error
                if pooling == Pooling::Session && says(&error, "unsupported startup parameter") =>
            {
                StoreError::PoolerMode {
                    host: host.clone(),
                    source: Box::new(error),
                }
            }
            StoreError::NoConnection(_) | StoreError::Unavailable(_) => StoreError::Unreachable {
                host: host.clone(),
                source: Box::new(error),
            },
            other => StoreError::Migration(Box::new(other)),
        })?;
        if !local {
            engine.warn_if_unprotected(&host, tls_mode).await;
        }
        Ok(Arc::new(Postgres(engine)))
    }

    /// Warns when the connection to a host on another machine is in plain text, or encrypted
    /// without checking whom it talks to.
    async fn warn_if_unprotected(&self, host: &str, mode: tls::Mode) {
        let encrypted = match self.pool.get().await {
            Ok(client) => client
                .query_typed_opt(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .await
                .ok()
                .flatten()
                .is_some_and(|row| row.get::<_, bool>(0)),
            Err(_) => return,
        };
        if !encrypted {
            tracing::warn!(
                %host,
                "connected to PostgreSQL on another machine in plain text: passwords' hashes \
                 and todos cross the network readable; add sslmode=verify-full (and \
                 sslrootcert=<ca.pem>) to the database URL"
            );
        } else if !matches!(mode, tls::Mode::VerifyFull) {
            tracing::warn!(
                %host,
                "connected to PostgreSQL with TLS but without checking the server's name: use \
                 sslmode=verify-full to be sure of the server"
            );
        }
    }

    /// Applies the migrations this database has not seen, one transaction each, under an
    /// advisory lock.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        // Migrations (and waiting for another instance's) are not bound by the query budget.
        // And quiet: `CREATE TABLE IF NOT EXISTS` of a table that exists is a NOTICE, which
        // every start wrote to the log.
        transaction
            .batch_execute(
                "SET LOCAL statement_timeout = 0; SET LOCAL client_min_messages = warning",
            )
            .await?;
        // Unnamed statements (typed here), which a pooler in transaction mode allows.
        transaction
            .execute_typed(
                "SELECT pg_advisory_xact_lock($1)",
                &[(&MIGRATION_LOCK, Type::INT8)],
            )
            .await?;
        transaction
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)",
            )
            .await?;
        let applied: i64 = transaction
            .query_typed_one("SELECT COUNT(*) FROM schema_migrations", &[])
            .await?
            .get(0);
        for (version, sql) in (1_i32..)
            .zip(MIGRATIONS)
            .skip(usize::try_from(applied).unwrap_or(0))
        {
            transaction.batch_execute(sql).await?;
            transaction
                .execute_typed(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[(&version, Type::INT4)],
                )
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }
}

fn describe_hosts(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}:{port}",
        if hosts.is_empty() {
            "localhost".to_owned()
        } else {
            hosts.join(",")
        }
    )
}

#[async_trait::async_trait]
impl Engine for Postgres<PostgresEngine> {
    async fn begin(&self) -> Result<Box<dyn TransactionEngine>, StoreError> {
        let client = self.0.pool.get().await?;
        // From here on, dropping the transaction undoes what it did (see its `Drop`).
        let transaction = PostgresTransaction {
            client: Some(client),
            pooling: self.0.pooling,
        };
        let begin = match self.0.pooling {
            Pooling::Session => "BEGIN".to_owned(),
            // The budget is not the connection's here: the transaction's own.
            Pooling::Transaction => format!(
                "BEGIN; SET LOCAL statement_timeout = {}",
                self.0.limits.query_timeout.as_millis().max(1)
            ),
        };
        transaction.client().await?.batch_execute(&begin).await?;
        Ok(Box::new(Postgres(transaction)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.0.pool.get().await?.batch_execute("SELECT 1").await?;
        Ok(())
    }

    async fn cached_statements(&self) -> usize {
        match self.0.pool.get().await {
            Ok(client) => client.statement_cache.size(),
            Err(_) => 0,
        }
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        let status = self.0.pool.status();
        Some(PoolStatus {
            in_use: status.size.saturating_sub(status.available),
            idle: status.available,
            shared: self.0.shared.open(),
            max: status.max_size + self.0.shared.slots(),
        })
    }
}

/// A transaction on one pooled connection, with `BEGIN` already sent.
struct PostgresTransaction {
    /// `None` once committed.
    client: Option<Object>,
    pooling: Pooling,
}

#[async_trait::async_trait]
impl TransactionEngine for Postgres<PostgresTransaction> {
    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let client = self.0.client.take().ok_or(StoreError::Closed)?;
        // After a failed statement PostgreSQL answers COMMIT with a rollback and no error; the
        // `SELECT 1` before it fails instead ("current transaction is aborted"), and the
        // COMMIT after it is not run.
        match client.batch_execute("SELECT 1; COMMIT").await {
            Ok(()) => Ok(()),
            Err(error) => {
                // Rolled back when `self` drops, on a task of its own.
                self.0.client = Some(client);
                Err(error.into())
            }
        }
    }
}

impl Drop for PostgresTransaction {
    /// Not committed: roll back on a task of its own (a destructor cannot wait), then return
    /// the connection to the pool. Without a runtime, close the connection instead: the
    /// server rolls back a transaction whose connection ends.
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                });
            }
            Err(_) => drop(Object::take(client)),
        }
    }
}
