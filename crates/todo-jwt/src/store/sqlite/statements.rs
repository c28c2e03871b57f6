//! The users' and todos' statements on SQLite, written once for both ways of running them:
//! on the engine (reads inline, writes on the writer thread) and inside a transaction (both
//! inline, on the borrowed writer connection).

use std::{borrow::Cow, future::Future, sync::LazyLock};

use rusqlite::{
    Connection, OptionalExtension, Row, params, params_from_iter, types::Value as SqliteValue,
};
use sea_query::{SqliteQueryBuilder, Value as SqlValue, Values};

use super::{SqliteEngine, SqliteTransaction};
use crate::{
    filter::{Condition, Filter},
    store::{
        AuditRecord, AuditStatements, Counter, KeyRecord, KeyStatements, RefreshRecord, Session,
        SessionStatements, StoreError, ThrottleStatements, Todo, TodoChanges, TodoFields, TodoRef,
        TodoStatements, User, UserRecord, UserStatements, Visitor,
        todo_sql::{self, Dialect, FixedStatements},
    },
};

/// This dialect's fixed statements, built once.
static STATEMENTS: LazyLock<FixedStatements> =
    LazyLock::new(|| FixedStatements::for_dialect(Dialect::Sqlite));

/// Builds this dialect's fixed statements now, at start-up, rather than inside the first
/// statement that needs them.
pub(super) fn prepare() {
    LazyLock::force(&STATEMENTS);
}

/// The statements, on anything they can run on ([`Exec`]): the engine or a transaction.
pub(super) struct Sqlite<E>(pub E);

/// Where statements run.
pub(super) trait Exec: Send + Sync + 'static {
    /// A short read, on the calling thread.
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError>;

    /// A write.
    fn write<T: Send + 'static>(
        &self,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send;

    /// A write whose condition may take its whole time budget.
    fn write_costly<T: Send + 'static>(
        &self,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send;

    /// A read that may take its whole time budget (a pattern match over long texts).
    fn read_costly<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send;
}

impl Exec for SqliteEngine {
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.shared.read(query)
    }

    fn write<T: Send + 'static>(
        &self,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        self.shared.write(statement)
    }

    fn read_costly<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        self.shared.read_costly(query)
    }

    fn write_costly<T: Send + 'static>(
        &self,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        self.shared.write_costly(statement)
    }
}

/// Inside a transaction everything runs inline: the writer's connection is already ours.
impl Exec for SqliteTransaction {
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.with(|connection| query(connection))
    }

    fn write<T: Send + 'static>(
        &self,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        std::future::ready(self.with(statement))
    }

    fn write_costly<T: Send + 'static>(
        &self,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        std::future::ready(self.with(statement))
    }

    /// Inside a transaction the writer's connection is ours: it runs here, within the budget.
    fn read_costly<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        std::future::ready(self.with(|connection| query(connection)))
    }
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
/// statement; anything else is compiled by [`todo_sql`]. (Measured: building the
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
        (Cow::Borrowed(STATEMENTS.list_todos.as_str()), None)
    } else {
        let unbounded = Filter {
            limit: None,
            skip: 0,
            ..filter.clone()
        };
        let (sql, values) =
            todo_sql::select(owner, &unbounded, Dialect::Sqlite).build(SqliteQueryBuilder);
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

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: row.get(0)?,
        user_id: row.get(1)?,
        created_at: row.get(2)?,
        last_used_at: row.get(3)?,
        expires_at: row.get(4)?,
        user_agent: row.get(5)?,
        ip: row.get(6)?,
    })
}

#[async_trait::async_trait]
impl<E: Exec> ThrottleStatements for Sqlite<E> {
    async fn throttle_hit(
        &self,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Counter, StoreError> {
        let key = key.to_owned();
        self.0
            .write(move |connection| {
                connection
                    .prepare_cached(&STATEMENTS.throttle_hit)?
                    .query_row(params![key, now, expires_at], |row| {
                        Ok(Counter {
                            count: row.get(0)?,
                            expires_at: row.get(1)?,
                        })
                    })
            })
            .await
    }

    async fn throttle_get(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        self.0.read(|connection| {
            connection
                .prepare_cached(&STATEMENTS.throttle_get)?
                .query_row([key], |row| {
                    Ok(Counter {
                        count: row.get(0)?,
                        expires_at: row.get(1)?,
                    })
                })
                .optional()
        })
    }

    async fn throttle_clear(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.0
            .write(move |connection| {
                connection
                    .prepare_cached(&STATEMENTS.throttle_clear)?
                    .execute([key])?;
                Ok(())
            })
            .await
    }

    async fn throttle_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.0
            .write(move |connection| {
                let deleted = connection
                    .prepare_cached(&STATEMENTS.throttle_expired)?
                    .execute([now])?;
                Ok(deleted as u64)
            })
            .await
    }
}

#[async_trait::async_trait]
impl<E: Exec> SessionStatements for Sqlite<E> {
    async fn insert_session(
        &self,
        session: Session,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let password_hash = password_hash.to_owned();
        self.0
            .write(move |connection| {
                let inserted = connection
                    .prepare_cached(&STATEMENTS.insert_session)?
                    .execute(params![
                        session.id,
                        session.created_at,
                        session.last_used_at,
                        session.expires_at,
                        session.user_agent,
                        session.ip,
                        session.user_id,
                        password_hash
                    ])?;
                Ok(inserted > 0)
            })
            .await
    }

    async fn find_session_user(
        &self,
        id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Option<User>, StoreError> {
        self.0.read(|connection| {
            connection
                .prepare_cached(&STATEMENTS.find_session_user)?
                .query_row(params![id, user_id, now], user_from_row)
                .optional()
        })
    }

    async fn list_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>, StoreError> {
        self.0.read(|connection| {
            connection
                .prepare_cached(&STATEMENTS.list_sessions)?
                .query_map(params![user_id, now], session_from_row)?
                .collect()
        })
    }

    async fn delete_session(&self, user_id: &str, id: &str) -> Result<u64, StoreError> {
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        self.0
            .write(move |connection| {
                let deleted = connection
                    .prepare_cached(&STATEMENTS.delete_session)?
                    .execute(params![user_id, id])?;
                Ok(deleted as u64)
            })
            .await
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        let user_id = user_id.to_owned();
        self.0
            .write(move |connection| {
                let deleted = connection
                    .prepare_cached(&STATEMENTS.delete_user_sessions)?
                    .execute([user_id])?;
                Ok(deleted as u64)
            })
            .await
    }

    async fn delete_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        self.0
            .write(move |connection| {
                let deleted = connection
                    .prepare_cached(&STATEMENTS.delete_expired_sessions)?
                    .execute([now])?;
                Ok(deleted as u64)
            })
            .await
    }

    async fn delete_other_sessions(&self, user_id: &str, keep: &str) -> Result<u64, StoreError> {
        let (user_id, keep) = (user_id.to_owned(), keep.to_owned());
        self.0
            .write(move |connection| {
                let deleted = connection
                    .prepare_cached(&STATEMENTS.delete_other_sessions)?
                    .execute(params![user_id, keep])?;
                Ok(deleted as u64)
            })
            .await
    }

    async fn touch_session(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.0
            .write(move |connection| {
                connection
                    .prepare_cached(&STATEMENTS.touch_session)?
                    .execute(params![now, id])?;
                Ok(())
            })
            .await
    }

    async fn insert_refresh_token(
        &self,
        hash: &str,
        session_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let (hash, session_id) = (hash.to_owned(), session_id.to_owned());
        self.0
            .write(move |connection| {
                connection
                    .prepare_cached(&STATEMENTS.insert_refresh_token)?
                    .execute(params![hash, session_id, now])?;
                Ok(())
            })
            .await
    }

    async fn find_refresh_token(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        // Through the writer: inside a transaction this is its connection, so the read and
        // the rotation that follows cannot interleave with another refresh.
        let hash = hash.to_owned();
        self.0
            .write(move |connection| {
                connection
                    .prepare_cached(&STATEMENTS.find_refresh_token)?
                    .query_row(params![hash, now], |row| {
                        Ok(RefreshRecord {
                            session_id: row.get(0)?,
                            spent_at: row.get(1)?,
                            user: User {
                                id: row.get(2)?,
                                email: row.get(3)?,
                                username: row.get(4)?,
                                realm: row.get(5)?,
                            },
                        })
                    })
                    .optional()
            })
            .await
    }

    async fn spend_refresh_token(&self, hash: &str, now: i64) -> Result<bool, StoreError> {
        let hash = hash.to_owned();
        self.0
            .write(move |connection| {
                let spent = connection
                    .prepare_cached(&STATEMENTS.spend_refresh_token)?
                    .execute(params![now, hash])?;
                Ok(spent > 0)
            })
            .await
    }
}

#[async_trait::async_trait]
impl<E: Exec> UserStatements for Sqlite<E> {
    async fn insert_user(&self, record: UserRecord, email_key: String) -> Result<User, StoreError> {
        self.0
            .write(move |connection| {
                let UserRecord {
                    user,
                    password_hash,
                } = record;
                connection
                    .prepare_cached(&STATEMENTS.insert_user)?
                    .execute(params![
                        user.id,
                        user.email,
                        email_key,
                        user.username,
                        user.realm,
                        password_hash
                    ])?;
                Ok(user)
            })
            .await
    }

    async fn update_password_hash(&self, id: &str, hash: String) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.0
            .write(move |connection| {
                let updated = connection
                    .prepare_cached(&STATEMENTS.update_password_hash)?
                    .execute(params![hash, id])?;
                Ok(updated > 0)
            })
            .await
    }

    async fn replace_password_hash(
        &self,
        id: &str,
        checked: &str,
        hash: String,
    ) -> Result<bool, StoreError> {
        let (id, checked) = (id.to_owned(), checked.to_owned());
        self.0
            .write(move |connection| {
                let updated = connection
                    .prepare_cached(&STATEMENTS.replace_password_hash)?
                    .execute(params![hash, id, checked])?;
                Ok(updated > 0)
            })
            .await
    }

    async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.0
            .write(move |connection| {
                let deleted = connection
                    .prepare_cached(&STATEMENTS.delete_user)?
                    .execute([id])?;
                Ok(deleted > 0)
            })
            .await
    }

    async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.0.read(|connection| {
            connection
                .prepare_cached(&STATEMENTS.find_user)?
                .query_row([id], user_from_row)
                .optional()
        })
    }

    async fn find_user_by_email_key(
        &self,
        email_key: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.0.read(|connection| {
            connection
                .prepare_cached(&STATEMENTS.find_user_by_email_key)?
                .query_row([email_key], |row| {
                    Ok(UserRecord {
                        user: user_from_row(row)?,
                        password_hash: row.get(4)?,
                    })
                })
                .optional()
        })
    }
}

#[async_trait::async_trait]
impl<E: Exec> TodoStatements for Sqlite<E> {
    async fn insert_todo(
        &self,
        owner: &str,
        todo: TodoFields,
        limit: u64,
    ) -> Result<Option<Todo>, StoreError> {
        let owner = owner.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.0
            .write(move |connection| {
                let id: Option<i64> = connection
                    .prepare_cached(&STATEMENTS.insert_todo)?
                    .query_row(
                        params![todo.title, todo.desc, todo.is_complete, owner, limit],
                        |row| row.get(0),
                    )
                    .optional()?;
                Ok(id.map(|id| todo.with_id(id)))
            })
            .await
    }

    async fn visit_todos(
        &self,
        owner: &str,
        filter: &Filter,
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        let (sql, values) = select_sql(owner, filter);
        if filter.condition.as_ref().is_some_and(Condition::is_costly) {
            // Off the request threads; the rows are copied out and visited here.
            let sql = sql.into_owned();
            let todos = self
                .0
                .read_costly(move |connection| {
                    let mut statement = connection.prepare_cached(&sql)?;
                    let rows = statement.query_map(
                        params_from_iter(values.unwrap_or_default()),
                        |row| {
                            Ok(Todo {
                                id: row.get(0)?,
                                title: row.get(1)?,
                                desc: row.get(2)?,
                                is_complete: row.get(3)?,
                            })
                        },
                    )?;
                    rows.collect::<rusqlite::Result<Vec<Todo>>>()
                })
                .await?;
            for todo in &todos {
                visit(TodoRef::from(todo));
            }
            return Ok(());
        }
        self.0.read(|connection| {
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
        let (sql, values) =
            todo_sql::count(owner, where_, Dialect::Sqlite).build(SqliteQueryBuilder);
        let values = bind(values);
        let count = move |connection: &Connection| -> rusqlite::Result<i64> {
            connection
                .prepare_cached(&sql)?
                .query_row(params_from_iter(values), |row| row.get(0))
        };
        let count = if where_.is_some_and(Condition::is_costly) {
            self.0.read_costly(count).await?
        } else {
            self.0.read(count)?
        };
        Ok(count.unsigned_abs())
    }

    async fn update_todos(
        &self,
        owner: &str,
        where_: Option<&Condition>,
        changes: TodoChanges,
    ) -> Result<u64, StoreError> {
        let (sql, values) =
            todo_sql::update(owner, where_, changes, Dialect::Sqlite).build(SqliteQueryBuilder);
        let values = bind(values);
        let update = move |connection: &mut Connection| {
            connection
                .prepare_cached(&sql)?
                .execute(params_from_iter(values))
        };
        let changed = if where_.is_some_and(Condition::is_costly) {
            self.0.write_costly(update).await?
        } else {
            self.0.write(update).await?
        };
        Ok(changed as u64)
    }

    async fn delete_todo(&self, owner: &str, id: i64) -> Result<u64, StoreError> {
        let owner = owner.to_owned();
        let deleted = self
            .0
            .write(move |connection| {
                connection
                    .prepare_cached(&STATEMENTS.delete_todo)?
                    .execute(params![owner, id])
            })
            .await?;
        Ok(deleted as u64)
    }

    async fn todo_owner(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.0.read(|connection| {
            connection
                .prepare_cached(&STATEMENTS.todo_owner)?
                .query_row([id], |row| row.get(0))
                .optional()
        })
    }

    /// `AUTOINCREMENT` keeps its sequence past every id inserted, explicit ones too.
    async fn insert_todos_with_ids(
        &self,
        owner: &str,
        todos: Vec<Todo>,
        limit: u64,
    ) -> Result<usize, StoreError> {
        let owner = owner.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.0
            .write(move |connection| {
                let mut statement = connection.prepare_cached(&STATEMENTS.insert_todo_with_id)?;
                let mut inserted = 0;
                for todo in todos {
                    let row = statement
                        .query_row(
                            params![
                                todo.id,
                                todo.title,
                                todo.desc,
                                todo.is_complete,
                                owner,
                                limit
                            ],
                            |row| row.get::<_, i64>(0),
                        )
                        .optional()?;
                    if row.is_none() {
                        break;
                    }
                    inserted += 1;
                }
                Ok(inserted)
            })
            .await
    }
}

/// The audit statements: fixed, parameterised SQL (the same on every call).
const AUDIT_ADD: &str = "INSERT INTO audit_events \
    (at, event, user_id, email, ip, user_agent, request_id, session_id) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const AUDIT_LIST: &str = "SELECT id, at, event, user_id, email, ip, user_agent, request_id, \
    session_id FROM audit_events WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
const AUDIT_EXPIRED: &str = "DELETE FROM audit_events WHERE at < ?1";

#[async_trait::async_trait]
impl<E: Exec> AuditStatements for Sqlite<E> {
    async fn audit_add(&self, record: AuditRecord) -> Result<(), StoreError> {
        self.0
            .write(move |connection| {
                connection.prepare_cached(AUDIT_ADD)?.execute(params![
                    record.at,
                    record.event,
                    record.user_id,
                    record.email,
                    record.ip,
                    record.user_agent,
                    record.request_id,
                    record.session_id
                ])?;
                Ok(())
            })
            .await
    }

    async fn audit_list(
        &self,
        user_id: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.0.read(|connection| {
            connection
                .prepare_cached(AUDIT_LIST)?
                .query_map(params![user_id, before, limit], |row| {
                    Ok(AuditRecord {
                        id: row.get(0)?,
                        at: row.get(1)?,
                        event: row.get(2)?,
                        user_id: row.get(3)?,
                        email: row.get(4)?,
                        ip: row.get(5)?,
                        user_agent: row.get(6)?,
                        request_id: row.get(7)?,
                        session_id: row.get(8)?,
                    })
                })?
                .collect()
        })
    }

    async fn audit_expired(&self, at: i64) -> Result<u64, StoreError> {
        self.0
            .write(move |connection| {
                let deleted = connection.prepare_cached(AUDIT_EXPIRED)?.execute([at])?;
                Ok(deleted as u64)
            })
            .await
    }
}

/// The signing key statements.
const KEYS_LIST: &str = "SELECT kid, generation, algorithm, public_key, sealed_private_key, \
    created_at, signs_from FROM signing_keys ORDER BY generation";
const KEYS_ADD: &str = "INSERT INTO signing_keys \
    (kid, generation, algorithm, public_key, sealed_private_key, created_at, signs_from) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING";
const KEYS_REMOVE: &str = "DELETE FROM signing_keys WHERE kid = ?1";

#[async_trait::async_trait]
impl<E: Exec> KeyStatements for Sqlite<E> {
    async fn keys_list(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.0.read(|connection| {
            connection
                .prepare_cached(KEYS_LIST)?
                .query_map([], |row| {
                    Ok(KeyRecord {
                        kid: row.get(0)?,
                        generation: row.get(1)?,
                        algorithm: row.get(2)?,
                        public_key: row.get(3)?,
                        sealed_private_key: row.get(4)?,
                        created_at: row.get(5)?,
                        signs_from: row.get(6)?,
                    })
                })?
                .collect()
        })
    }

    async fn keys_add(&self, record: KeyRecord) -> Result<bool, StoreError> {
        self.0
            .write(move |connection| {
                let added = connection.prepare_cached(KEYS_ADD)?.execute(params![
                    record.kid,
                    record.generation,
                    record.algorithm,
                    record.public_key,
                    record.sealed_private_key,
                    record.created_at,
                    record.signs_from
                ])?;
                Ok(added == 1)
            })
            .await
    }

    async fn keys_remove(&self, kid: &str) -> Result<u64, StoreError> {
        let kid = kid.to_owned();
        self.0
            .write(move |connection| {
                let removed = connection.prepare_cached(KEYS_REMOVE)?.execute([kid])?;
                Ok(removed as u64)
            })
            .await
    }
}
