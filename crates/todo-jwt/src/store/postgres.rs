//! PostgreSQL through tokio-postgres and a deadpool connection pool.
//!
//! Several `todo-jwt` instances can share one database: ids come from an identity column,
//! uniqueness from constraints, and migrations take an advisory lock so instances starting
//! together apply each one once.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use sea_query::{PostgresQueryBuilder, Value as SqlValue, Values};
use tokio_postgres::{NoTls, Row, error::SqlState, types::ToSql};

use super::{
    Credentials, NewUserRecord, StoreError, Todo, TodoChanges, TodoFields, TodoRef, TodoStore,
    User, UserStore, email_key,
};
use crate::filter::{
    Condition, Filter,
    sql::{self, Dialect},
};

/// Schema changes in order; `schema_migrations` records the applied ones.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_users.sql"),
    include_str!("migrations/postgres/0002_todos.sql"),
];

/// An arbitrary constant: the advisory lock that serialises migrations between instances.
const MIGRATION_LOCK: i64 = 0x746f_646f_6a77;

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("status", &self.pool.status())
            .finish()
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            Self::Conflict
        } else {
            Self::Backend(error.to_string())
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Backend(format!("no database connection: {error}"))
    }
}

/// Why PostgreSQL could not be used at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL does not parse.
    #[error("invalid PostgreSQL URL: {0}")]
    Url(String),
    /// The server could not be reached or refused us.
    #[error("cannot connect to PostgreSQL at {host}: {cause}")]
    Connect { host: String, cause: String },
    /// A migration failed.
    #[error("PostgreSQL migration failed: {0}")]
    Migrate(String),
}

impl PostgresStore {
    /// Connects to `url` with a pool of `pool_size` connections and brings the schema up to date.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, ConnectError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|error| ConnectError::Url(format!("{error}")))?;
        let host = describe_hosts(&config);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|error| ConnectError::Url(error.to_string()))?;
        let store = Self { pool };
        store.migrate().await.map_err(|error| match error {
            StoreError::Backend(cause) if cause.starts_with("no database connection") => {
                ConnectError::Connect {
                    host: host.clone(),
                    cause,
                }
            }
            other => ConnectError::Migrate(other.to_string()),
        })?;
        Ok(store)
    }

    /// Applies the migrations this database has not seen, one transaction each, under an
    /// advisory lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        transaction
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)",
            )
            .await?;
        let applied: i64 = transaction
            .query_one("SELECT COUNT(*) FROM schema_migrations", &[])
            .await?
            .get(0);
        for (version, sql) in (1_i32..)
            .zip(MIGRATIONS)
            .skip(usize::try_from(applied).unwrap_or(0))
        {
            transaction.batch_execute(sql).await?;
            transaction
                .execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[&version],
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

/// sea-query's bound values as tokio-postgres parameters.
fn bind(values: Values) -> Vec<Box<dyn ToSql + Sync + Send>> {
    values
        .into_iter()
        .map(|value| -> Box<dyn ToSql + Sync + Send> {
            match value {
                SqlValue::Bool(flag) => Box::new(flag),
                SqlValue::BigInt(number) => Box::new(number),
                SqlValue::BigUnsigned(number) => {
                    Box::new(number.map(|number| i64::try_from(number).unwrap_or(i64::MAX)))
                }
                SqlValue::String(text) => Box::new(text),
                // The filter compiler binds nothing else.
                other => unreachable!("unexpected bound value {other:?}"),
            }
        })
        .collect()
}

fn parameters(values: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| value.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn user_from_row(row: &Row) -> User {
    User {
        id: row.get(0),
        email: row.get(1),
        username: row.get(2),
        realm: row.get(3),
    }
}

#[async_trait::async_trait]
impl UserStore for PostgresStore {
    async fn insert_user(&self, record: NewUserRecord) -> Result<User, StoreError> {
        let client = self.pool.get().await?;
        let user = record.user;
        let statement = client
            .prepare_cached(
                "INSERT INTO users (id, email, email_key, username, realm, password_hash)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .await?;
        client
            .execute(
                &statement,
                &[
                    &user.id,
                    &user.email,
                    &email_key(&user.email),
                    &user.username,
                    &user.realm,
                    &record.password_hash,
                ],
            )
            .await?;
        Ok(user)
    }

    async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached("SELECT id, email, username, realm FROM users WHERE id = $1")
            .await?;
        Ok(client
            .query_opt(&statement, &[&id])
            .await?
            .as_ref()
            .map(user_from_row))
    }

    async fn find_credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(
                "SELECT id, email, username, realm, password_hash FROM users WHERE email_key = $1",
            )
            .await?;
        let row = client.query_opt(&statement, &[&email_key(email)]).await?;
        Ok(row.map(|row| Credentials {
            user: user_from_row(&row),
            password_hash: row.get(4),
        }))
    }
}

#[async_trait::async_trait]
impl TodoStore for PostgresStore {
    async fn create_todo(&self, owner: &str, todo: TodoFields) -> Result<Todo, StoreError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO todos (owner_id, title, description, is_complete)
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .await?;
        let row = client
            .query_one(
                &statement,
                &[&owner, &todo.title, &todo.desc, &todo.is_complete],
            )
            .await?;
        Ok(Todo {
            id: row.get(0),
            title: todo.title,
            desc: todo.desc,
            is_complete: todo.is_complete,
        })
    }

    async fn visit_todos(
        &self,
        owner: &str,
        filter: &Filter,
        visit: &mut (dyn for<'a> FnMut(TodoRef<'a>) + Send),
    ) -> Result<(), StoreError> {
        let (sql, values) =
            sql::select(owner, filter, Dialect::Postgres).build(PostgresQueryBuilder);
        let values = bind(values);
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(&sql).await?;
        for row in client.query(&statement, &parameters(&values)).await? {
            visit(TodoRef {
                id: row.get(0),
                title: row.get(1),
                desc: row.get(2),
                is_complete: row.get(3),
            });
        }
        Ok(())
    }

    async fn count_todos(
        &self,
        owner: &str,
        where_: Option<&Condition>,
    ) -> Result<u64, StoreError> {
        let (sql, values) =
            sql::count(owner, where_, Dialect::Postgres).build(PostgresQueryBuilder);
        let values = bind(values);
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(&sql).await?;
        let count: i64 = client
            .query_one(&statement, &parameters(&values))
            .await?
            .get(0);
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
        let (sql, values) = sql::update(owner, where_, changes.columns(), Dialect::Postgres)
            .build(PostgresQueryBuilder);
        let values = bind(values);
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(&sql).await?;
        Ok(client.execute(&statement, &parameters(&values)).await?)
    }

    async fn delete_todo(&self, owner: &str, id: i64) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached("DELETE FROM todos WHERE owner_id = $1 AND id = $2")
            .await?;
        Ok(client.execute(&statement, &[&owner, &id]).await? > 0)
    }
}
