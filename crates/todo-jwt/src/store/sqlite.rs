//! SQLite through rusqlite: one writer thread, a read connection per reading thread, cached
//! prepared statements.

use std::{
    borrow::Cow,
    cell::RefCell,
    collections::{HashMap, hash_map::Entry},
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
};

use regex::Regex;
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Row,
    functions::FunctionFlags,
    params, params_from_iter,
    types::{Value as SqliteValue, ValueRef},
};
use sea_query::{SqliteQueryBuilder, Value as SqlValue, Values};
use tokio::sync::oneshot;

use super::{
    Credentials, NewUserRecord, StoreError, Todo, TodoChanges, TodoFields, TodoRef, TodoStore,
    User, UserStore, email_key,
};
use crate::filter::{
    Condition, Filter,
    sql::{self, Dialect},
};

/// Schema changes in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/sqlite/0001_users.sql"),
    include_str!("migrations/sqlite/0002_todos.sql"),
];

/// The embedded store: one database file in WAL mode.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// The writer thread's queue: every write runs there, one at a time, on its connection.
    writer: mpsc::Sender<WriteJob>,
    /// Opens this database's read connections, one per thread that reads (see [`Self::read`]).
    connections: Arc<Connections>,
    /// Tells this store's thread-local read connections from other stores' (tests run many).
    id: u64,
}

thread_local! {
    /// Each thread's read connections, by store id. A runtime worker reads with its own
    /// connection: no pool lock, no hand-over between threads, warm statement cache.
    static READERS: RefCell<HashMap<u64, Connection>> = RefCell::new(HashMap::new());
}

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

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

/// A write for the writer thread.
type WriteJob = Box<dyn FnOnce(&mut Connection) + Send>;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connections = Connections {
            path: path.to_owned(),
        };
        // The writer's connection. WAL is a property of the file: it is set here, before any
        // reader opens one. This first statement also takes the file for this process (see
        // [`Connections`]).
        let mut connection = connections
            .open()
            .and_then(|connection| {
                connection.pragma_update(None, "journal_mode", "WAL")?;
                Ok(connection)
            })
            .map_err(|error| match error.sqlite_error_code() {
                Some(ErrorCode::DatabaseBusy) => StoreError::Backend(format!(
                    "{} is in use by another process (an SQLite database serves one todo-jwt \
                     instance; run several on PostgreSQL)",
                    path.display()
                )),
                _ => error.into(),
            })?;
        migrate(&mut connection)?;
        let (writer, jobs) = mpsc::channel::<WriteJob>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                // Ends when the last handle to the store is dropped.
                for job in jobs {
                    // A panicking write fails its own request (its reply is dropped), not
                    // every later one.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut connection)));
                }
            })
            .map_err(|error| StoreError::Backend(format!("cannot start the writer: {error}")))?;
        Ok(Self {
            writer,
            connections: Arc::new(connections),
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Runs a read on the calling thread: it is short, and WAL lets readers run beside a writer.
    ///
    /// It uses this thread's own connection to this database, opened on first use. (Measured:
    /// taking a pooled connection per read cost more than the read, through the pool's lock and
    /// cross-thread wake-ups.)
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        READERS.with_borrow_mut(|readers| {
            let connection = match readers.entry(self.id) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => entry.insert(self.connections.open()?),
            };
            Ok(query(connection)?)
        })
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
        let stopped = || StoreError::Backend("the database writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Box::new(move |connection| {
                let _ = reply.send(statement(connection));
            }))
            .map_err(|_| stopped())?;
        Ok(answer.await.map_err(|_| stopped())??)
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

/// The VFS that owns the database file for the process.
const EXCLUSIVE_VFS: &str = "unix-excl";

impl Connections {
    fn open(&self) -> rusqlite::Result<Connection> {
        let connection =
            Connection::open_with_flags_and_vfs(&self.path, OpenFlags::default(), EXCLUSIVE_VFS)?;
        // `case_sensitive_like`: LIKE is case-sensitive, as in PostgreSQL; `ilike` exists
        // for the other kind.
        connection.execute_batch(
            "PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             PRAGMA case_sensitive_like = ON;",
        )?;
        add_regexp_function(&connection)?;
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

/// sea-query's bound values as rusqlite's.
fn bind(values: Values) -> Vec<SqliteValue> {
    values
        .into_iter()
        .map(|value| match value {
            SqlValue::Bool(flag) => {
                flag.map_or(SqliteValue::Null, |flag| SqliteValue::Integer(flag.into()))
            }
            SqlValue::BigInt(number) => number.map_or(SqliteValue::Null, SqliteValue::Integer),
            SqlValue::BigUnsigned(number) => number.map_or(SqliteValue::Null, |number| {
                SqliteValue::Integer(i64::try_from(number).unwrap_or(i64::MAX))
            }),
            SqlValue::String(text) => text.map_or(SqliteValue::Null, SqliteValue::Text),
            // The filter compiler binds nothing else.
            other => unreachable!("unexpected bound value {other:?}"),
        })
        .collect()
}

/// Column `index` as borrowed text (no copy), `None` for NULL.
fn text<'row>(row: &'row Row<'_>, index: usize) -> rusqlite::Result<Option<&'row str>> {
    row.get_ref(index)?.as_str_or_null().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, error.into())
    })
}

/// The list query. Lists without a `where` or an `order` (the common case) use a fixed
/// statement; anything else is compiled by the filter module. (Measured: building the
/// statement with sea-query was a tenth of a 20-todo read.)
///
/// LIMIT and OFFSET are written into the SQL as integers rather than bound: SQLite plans a
/// bound LIMIT by its value, and so re-prepares the statement each time it is re-bound (perf:
/// `sqlite3Reprepare` under `sqlite3_step` was a sixth of a list request). They are `u64`s from
/// the typed filter, never client text; each distinct pair gets its own cached statement.
///
/// The fixed statement binds the owner itself (`None` values): no copy of the SQL or the owner
/// per request.
fn select_sql(owner: &str, filter: &Filter) -> (Cow<'static, str>, Option<Vec<SqliteValue>>) {
    let (sql, values) = if filter.condition.is_none() && filter.order.is_empty() {
        let sql = "SELECT id, title, description, is_complete FROM todos \
                   WHERE owner_id = ?1 ORDER BY id ASC";
        (Cow::Borrowed(sql), None)
    } else {
        let unbounded = Filter {
            limit: None,
            skip: 0,
            ..filter.clone()
        };
        let (sql, values) =
            sql::select(owner, &unbounded, Dialect::Sqlite).build(SqliteQueryBuilder);
        (Cow::Owned(sql), Some(bind(values)))
    };
    if filter.limit.is_none() && filter.skip == 0 {
        return (sql, values);
    }
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let limit = filter.limit.map_or(-1, clamp);
    let sql = format!("{sql} LIMIT {limit} OFFSET {}", clamp(filter.skip));
    (Cow::Owned(sql), values)
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

#[async_trait::async_trait]
impl TodoStore for SqliteStore {
    async fn create_todo(&self, owner: &str, todo: TodoFields) -> Result<Todo, StoreError> {
        let owner = owner.to_owned();
        self.write(move |connection| {
            let id = connection
                .prepare_cached(
                    "INSERT INTO todos (owner_id, title, description, is_complete)
                     VALUES (?1, ?2, ?3, ?4) RETURNING id",
                )?
                .query_row(
                    params![owner, todo.title, todo.desc, todo.is_complete],
                    |row| row.get(0),
                )?;
            Ok(Todo {
                id,
                title: todo.title,
                desc: todo.desc,
                is_complete: todo.is_complete,
            })
        })
        .await
    }

    async fn visit_todos(
        &self,
        owner: &str,
        filter: &Filter,
        visit: &mut (dyn for<'a> FnMut(TodoRef<'a>) + Send),
    ) -> Result<(), StoreError> {
        let (sql, values) = select_sql(owner, filter);
        self.read(|connection| {
            let mut statement = connection.prepare_cached(&sql)?;
            let mut rows = match values {
                Some(values) => statement.query(params_from_iter(values))?,
                None => statement.query([owner])?,
            };
            while let Some(row) = rows.next()? {
                visit(TodoRef {
                    id: row.get(0)?,
                    title: text(row, 1)?.unwrap_or_default(),
                    desc: text(row, 2)?,
                    is_complete: row.get(3)?,
                });
            }
            Ok(())
        })
    }

    async fn count_todos(
        &self,
        owner: &str,
        where_: Option<&Condition>,
    ) -> Result<u64, StoreError> {
        let (sql, values) = sql::count(owner, where_, Dialect::Sqlite).build(SqliteQueryBuilder);
        let count: i64 = self.read(|connection| {
            connection
                .prepare_cached(&sql)?
                .query_row(params_from_iter(bind(values)), |row| row.get(0))
        })?;
        Ok(count.unsigned_abs())
    }

    async fn update_todos(
        &self,
        owner: &str,
        where_: Option<&Condition>,
        changes: TodoChanges,
    ) -> Result<u64, StoreError> {
        if changes.is_empty() {
            return self.count_todos(owner, where_).await;
        }
        let (sql, values) = sql::update(owner, where_, changes.columns(), Dialect::Sqlite)
            .build(SqliteQueryBuilder);
        let values = bind(values);
        let changed = self
            .write(move |connection| {
                connection
                    .prepare_cached(&sql)?
                    .execute(params_from_iter(values))
            })
            .await?;
        Ok(changed as u64)
    }

    async fn delete_todo(&self, owner: &str, id: i64) -> Result<bool, StoreError> {
        let owner = owner.to_owned();
        let deleted = self
            .write(move |connection| {
                connection
                    .prepare_cached("DELETE FROM todos WHERE owner_id = ?1 AND id = ?2")?
                    .execute(params![owner, id])
            })
            .await?;
        Ok(deleted > 0)
    }
}
