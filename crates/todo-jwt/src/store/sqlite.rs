//! SQLite through rusqlite, with a small connection pool and cached prepared statements.

use std::{path::Path, time::Duration};

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};

use super::{Credentials, NewUserRecord, StoreError, User, UserStore, email_key};

/// Schema changes in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[include_str!("migrations/sqlite/0001_users.sql")];

/// The embedded store: one database file in WAL mode.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: Pool<SqliteConnectionManager>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        match error.sqlite_error_code() {
            Some(ErrorCode::ConstraintViolation) if is_unique_violation(&error) => Self::Conflict,
            _ => Self::Backend(error.to_string()),
        }
    }
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(code, _)
        if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

impl From<r2d2::Error> for StoreError {
    fn from(error: r2d2::Error) -> Self {
        Self::Backend(format!("no database connection: {error}"))
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // WAL is a property of the file: set it once, before the pool opens connections in
        // parallel (concurrent switches to WAL fail with "database is locked").
        Connection::open(path)?.pragma_update(None, "journal_mode", "WAL")?;
        let manager = SqliteConnectionManager::file(path).with_init(|connection| {
            connection.execute_batch(
                "PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 5000;",
            )?;
            connection.set_prepared_statement_cache_capacity(64);
            Ok(())
        });
        let pool = Pool::builder()
            .max_size(16)
            // A checkout test is a round trip into SQLite on every query; a broken file
            // connection does not heal by being replaced, so it buys nothing.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(5))
            .build(manager)?;
        let store = Self { pool };
        store.migrate()?;
        Ok(store)
    }

    /// Runs the migrations this database has not seen, each in its own transaction.
    pub fn migrate(&self) -> Result<(), StoreError> {
        let mut connection = self.pool.get()?;
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

    /// Runs a read on the calling thread: it is short, and WAL lets readers run beside a writer.
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let connection: PooledConnection<_> = self.pool.get()?;
        Ok(query(&connection)?)
    }

    /// Runs a write on the blocking pool, where waiting for the writer lock harms no one.
    async fn write<T: Send + 'static>(
        &self,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = pool.get()?;
            Ok(statement(&mut connection)?)
        })
        .await
        .map_err(|error| StoreError::Backend(format!("database task failed: {error}")))?
    }
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        username: row.get(2)?,
        realm: row.get(3)?,
    })
}

#[async_trait::async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, record: NewUserRecord) -> Result<User, StoreError> {
        self.write(move |connection| {
            let user = record.user;
            connection
                .prepare_cached(
                    "INSERT INTO users (id, email, email_key, username, realm, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, unixepoch())",
                )?
                .execute(params![
                    user.id,
                    user.email,
                    email_key(&user.email),
                    user.username,
                    user.realm,
                    record.password_hash
                ])?;
            Ok(user)
        })
        .await
    }

    async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.read(|connection| {
            connection
                .prepare_cached("SELECT id, email, username, realm FROM users WHERE id = ?1")?
                .query_row([id], user_from_row)
                .optional()
        })
    }

    async fn find_credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        self.read(|connection| {
            connection
                .prepare_cached(
                    "SELECT id, email, username, realm, password_hash FROM users WHERE email_key = ?1",
                )?
                .query_row([email_key(email)], |row| {
                    Ok(Credentials { user: user_from_row(row)?, password_hash: row.get(4)? })
                })
                .optional()
        })
    }
}
