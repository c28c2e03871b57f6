//! The users' and todos' statements on PostgreSQL, written once for both ways of running them:
//! on a pooled connection per statement, or on a transaction's connection.

use std::{future::Future, ops::Deref, sync::LazyLock};

use deadpool_postgres::{ClientWrapper, Object};
use futures_util::TryStreamExt;
use sea_query::{PostgresQueryBuilder, Value as SqlValue, Values};
use tokio_postgres::{Row, Statement, types::ToSql};

use super::{PostgresEngine, PostgresTransaction};
use crate::{
    filter::{Condition, Filter},
    store::{
        AuditRecord, AuditStatements, Counter, KeyRecord, KeyStatements, RefreshRecord, Session,
        SessionStatements, StoreError, ThrottleStatements, Todo, TodoChanges, TodoFields, TodoRef,
        TodoStatements, User, UserRecord, UserStatements, Visitor,
        todo_sql::{self, Dialect, FixedStatements},
    },
};

/// The most statements one connection keeps prepared. Filters make statements of many shapes
/// (each number of `order` keys or `inq` items is its own): unbounded, a client could make
/// each PostgreSQL backend hold thousands of them (1.2 GB after 2,000 shapes). When a
/// connection's cache is full it is emptied, and what is needed next is prepared again.
pub(super) const MAX_CACHED_STATEMENTS: usize = 100;

/// Prepares `sql` on `client` through its statement cache, keeping the cache within
/// [`MAX_CACHED_STATEMENTS`].
async fn prepare_bounded(client: &ClientWrapper, sql: &str) -> Result<Statement, StoreError> {
    if client.statement_cache.size() >= MAX_CACHED_STATEMENTS {
        client.statement_cache.clear();
    }
    Ok(client.prepare_cached(sql).await?)
}

/// This dialect's fixed statements, built once.
static STATEMENTS: LazyLock<FixedStatements> =
    LazyLock::new(|| FixedStatements::for_dialect(Dialect::Postgres));

/// A connection to run statements on: taken from the pool for one statement, or the
/// transaction's own.
#[expect(
    clippy::large_enum_variant,
    reason = "lives on the stack for one statement; boxing it would allocate for each"
)]
pub(super) enum Client<'a> {
    Pooled(Object),
    Transaction(&'a Object),
}

impl Deref for Client<'_> {
    type Target = ClientWrapper;

    fn deref(&self) -> &ClientWrapper {
        match self {
            Self::Pooled(client) => client,
            Self::Transaction(client) => client,
        }
    }
}

/// Builds this dialect's fixed statements now, at start-up, rather than inside the first
/// statement that needs them.
pub(super) fn prepare() {
    LazyLock::force(&STATEMENTS);
}

/// The statements, on anything they can run on ([`Exec`]): the engine or a transaction.
pub(super) struct Postgres<E>(pub E);

/// Where statements run.
pub(super) trait Exec: Send + Sync + 'static {
    /// The connection for the next statement.
    fn client(&self) -> impl Future<Output = Result<Client<'_>, StoreError>> + Send;
    /// A turn for a costly statement, held while it runs (none inside a transaction, which
    /// already has its connection).
    fn costly_turn(
        &self,
    ) -> impl Future<Output = Result<Option<tokio::sync::OwnedSemaphorePermit>, StoreError>> + Send;
}

/// A costly turn when `condition` is costly.
async fn turn_for(
    exec: &impl Exec,
    condition: Option<&Condition>,
) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, StoreError> {
    if condition.is_some_and(Condition::is_costly) {
        exec.costly_turn().await
    } else {
        Ok(None)
    }
}

impl Exec for PostgresEngine {
    async fn client(&self) -> Result<Client<'_>, StoreError> {
        Ok(Client::Pooled(self.pool.get().await?))
    }

    async fn costly_turn(&self) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, StoreError> {
        let turn = tokio::time::timeout(
            self.limits.query_timeout,
            std::sync::Arc::clone(&self.costly).acquire_owned(),
        )
        .await
        .map_err(|_| StoreError::TimedOut)?
        .map_err(|_| StoreError::Closed)?;
        Ok(Some(turn))
    }
}

impl Exec for PostgresTransaction {
    async fn client(&self) -> Result<Client<'_>, StoreError> {
        self.client
            .as_ref()
            .map(Client::Transaction)
            .ok_or(StoreError::Closed)
    }

    async fn costly_turn(&self) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, StoreError> {
        Ok(None)
    }
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
impl<E: Exec> UserStatements for Postgres<E> {
    async fn insert_user(&self, record: UserRecord, email_key: String) -> Result<User, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.insert_user).await?;
        let UserRecord {
            user,
            password_hash,
        } = record;
        client
            .execute(
                &statement,
                &[
                    &user.id,
                    &user.email,
                    &email_key,
                    &user.username,
                    &user.realm,
                    &password_hash,
                ],
            )
            .await?;
        Ok(user)
    }

    async fn update_password_hash(&self, id: &str, hash: String) -> Result<bool, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.update_password_hash).await?;
        Ok(client.execute(&statement, &[&hash, &id]).await? > 0)
    }

    async fn replace_password_hash(
        &self,
        id: &str,
        checked: &str,
        hash: String,
    ) -> Result<bool, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.replace_password_hash).await?;
        Ok(client.execute(&statement, &[&hash, &id, &checked]).await? > 0)
    }

    async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.delete_user).await?;
        Ok(client.execute(&statement, &[&id]).await? > 0)
    }

    async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.find_user).await?;
        Ok(client
            .query_opt(&statement, &[&id])
            .await?
            .as_ref()
            .map(user_from_row))
    }

    async fn find_user_by_email_key(
        &self,
        email_key: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.find_user_by_email_key).await?;
        let row = client.query_opt(&statement, &[&email_key]).await?;
        Ok(row.map(|row| UserRecord {
            user: user_from_row(&row),
            password_hash: row.get(4),
        }))
    }
}

fn session_from_row(row: &Row) -> Session {
    Session {
        id: row.get(0),
        user_id: row.get(1),
        created_at: row.get(2),
        last_used_at: row.get(3),
        expires_at: row.get(4),
        user_agent: row.get(5),
        ip: row.get(6),
    }
}

#[async_trait::async_trait]
impl<E: Exec> ThrottleStatements for Postgres<E> {
    async fn throttle_hit(
        &self,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Counter, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.throttle_hit).await?;
        let row = client
            .query_one(&statement, &[&key, &now, &expires_at])
            .await?;
        Ok(Counter {
            count: row.get(0),
            expires_at: row.get(1),
        })
    }

    async fn throttle_get(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.throttle_get).await?;
        let row = client.query_opt(&statement, &[&key]).await?;
        Ok(row.map(|row| Counter {
            count: row.get(0),
            expires_at: row.get(1),
        }))
    }

    async fn throttle_clear(&self, key: &str) -> Result<(), StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.throttle_clear).await?;
        client.execute(&statement, &[&key]).await?;
        Ok(())
    }

    async fn throttle_expired(&self, now: i64) -> Result<u64, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.throttle_expired).await?;
        Ok(client.execute(&statement, &[&now]).await?)
    }
}

#[async_trait::async_trait]
impl<E: Exec> SessionStatements for Postgres<E> {
    async fn insert_session(
        &self,
        session: Session,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.insert_session).await?;
        let inserted = client
            .execute(
                &statement,
                &[
                    &session.id,
                    &session.created_at,
                    &session.last_used_at,
                    &session.expires_at,
                    &session.user_agent,
                    &session.ip,
                    &session.user_id,
                    &password_hash,
                ],
            )
            .await?;
        Ok(inserted > 0)
    }

    async fn find_session_user(
        &self,
        id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Option<User>, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.find_session_user).await?;
        let row = client.query_opt(&statement, &[&id, &user_id, &now]).await?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn list_sessions(&self, user_id: &str, now: i64) -> Result<Vec<Session>, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.list_sessions).await?;
        let rows = client.query(&statement, &[&user_id, &now]).await?;
        Ok(rows.iter().map(session_from_row).collect())
    }

    async fn delete_session(&self, user_id: &str, id: &str) -> Result<u64, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.delete_session).await?;
        Ok(client.execute(&statement, &[&user_id, &id]).await?)
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.delete_user_sessions).await?;
        Ok(client.execute(&statement, &[&user_id]).await?)
    }

    async fn delete_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.delete_expired_sessions).await?;
        Ok(client.execute(&statement, &[&now]).await?)
    }

    async fn delete_other_sessions(&self, user_id: &str, keep: &str) -> Result<u64, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.delete_other_sessions).await?;
        Ok(client.execute(&statement, &[&user_id, &keep]).await?)
    }

    async fn touch_session(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.touch_session).await?;
        client.execute(&statement, &[&now, &id]).await?;
        Ok(())
    }

    async fn insert_refresh_token(
        &self,
        hash: &str,
        session_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.insert_refresh_token).await?;
        client
            .execute(&statement, &[&hash, &session_id, &now])
            .await?;
        Ok(())
    }

    async fn find_refresh_token(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        let client = self.0.client().await?;
        // One session's refreshes wait for each other on its row; a client that sends many at
        // once gets 503s after a moment rather than holding the whole pool in that queue.
        client
            .batch_execute("SET LOCAL lock_timeout = '1s'")
            .await?;
        let lock = prepare_bounded(&client, &STATEMENTS.lock_token_session).await?;
        client.query(&lock, &[&hash]).await?;
        let statement = prepare_bounded(&client, &STATEMENTS.find_refresh_token).await?;
        let row = client.query_opt(&statement, &[&hash, &now]).await?;
        Ok(row.map(|row| RefreshRecord {
            session_id: row.get(0),
            spent_at: row.get(1),
            user: User {
                id: row.get(2),
                email: row.get(3),
                username: row.get(4),
                realm: row.get(5),
            },
        }))
    }

    async fn spend_refresh_token(&self, hash: &str, now: i64) -> Result<bool, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.spend_refresh_token).await?;
        Ok(client.execute(&statement, &[&now, &hash]).await? > 0)
    }
}

#[async_trait::async_trait]
impl<E: Exec> TodoStatements for Postgres<E> {
    async fn insert_todo(
        &self,
        owner: &str,
        todo: TodoFields,
        limit: u64,
    ) -> Result<Option<Todo>, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.insert_todo).await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let row = client
            .query_opt(
                &statement,
                &[&todo.title, &todo.desc, &todo.is_complete, &owner, &limit],
            )
            .await?;
        Ok(row.map(|row| todo.with_id(row.get(0))))
    }

    async fn visit_todos(
        &self,
        owner: &str,
        filter: &Filter,
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        let plain = filter.condition.is_none()
            && filter.order.is_empty()
            && filter.limit.is_none()
            && filter.skip == 0;
        let _turn = turn_for(&self.0, filter.condition.as_ref()).await?;
        let client = self.0.client().await?;
        // Rows are visited as they arrive, never collected: a list of megabytes is not held
        // twice (as rows, then as the response).
        let rows = if plain {
            // The common case, without building a statement.
            let statement = prepare_bounded(&client, &STATEMENTS.list_todos).await?;
            client.query_raw(&statement, [owner]).await?
        } else {
            let (sql, values) =
                todo_sql::select(owner, filter, Dialect::Postgres).build(PostgresQueryBuilder);
            let values = bind(values);
            let statement = prepare_bounded(&client, &sql).await?;
            client.query_raw(&statement, parameters(&values)).await?
        };
        let mut rows = std::pin::pin!(rows);
        while let Some(row) = rows.try_next().await? {
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
            todo_sql::count(owner, where_, Dialect::Postgres).build(PostgresQueryBuilder);
        let values = bind(values);
        let _turn = turn_for(&self.0, where_).await?;
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &sql).await?;
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
        let (sql, values) =
            todo_sql::update(owner, where_, changes, Dialect::Postgres).build(PostgresQueryBuilder);
        let values = bind(values);
        let _turn = turn_for(&self.0, where_).await?;
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &sql).await?;
        Ok(client.execute(&statement, &parameters(&values)).await?)
    }

    async fn delete_todo(&self, owner: &str, id: i64) -> Result<u64, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.delete_todo).await?;
        Ok(client.execute(&statement, &[&owner, &id]).await?)
    }

    async fn todo_owner(&self, id: i64) -> Result<Option<String>, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.todo_owner).await?;
        Ok(client
            .query_opt(&statement, &[&id])
            .await?
            .map(|row| row.get(0)))
    }

    async fn insert_todos_with_ids(
        &self,
        owner: &str,
        todos: Vec<Todo>,
        limit: u64,
    ) -> Result<usize, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, &STATEMENTS.insert_todo_with_id).await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut inserted = 0;
        for todo in &todos {
            let row = client
                .query_opt(
                    &statement,
                    &[
                        &todo.id,
                        &todo.title,
                        &todo.desc,
                        &todo.is_complete,
                        &owner,
                        &limit,
                    ],
                )
                .await?;
            if row.is_none() {
                break;
            }
            inserted += 1;
        }
        if inserted > 0
            && let Some(follow) = &STATEMENTS.follow_todo_ids
        {
            // `setval` is not transactional: rolled back, the import leaves a gap in the ids,
            // never a reused one.
            client.execute(follow.as_str(), &[]).await?;
        }
        Ok(inserted)
    }
}

/// The audit statements: fixed, parameterised SQL (the same on every call).
const AUDIT_ADD: &str = "INSERT INTO audit_events \
    (at, event, user_id, email, ip, user_agent, request_id, session_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const AUDIT_LIST: &str = "SELECT id, at, event, user_id, email, ip, user_agent, request_id, \
    session_id FROM audit_events WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
const AUDIT_EXPIRED: &str = "DELETE FROM audit_events WHERE at < $1";

#[async_trait::async_trait]
impl<E: Exec> AuditStatements for Postgres<E> {
    async fn audit_add(&self, record: AuditRecord) -> Result<(), StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, AUDIT_ADD).await?;
        client
            .execute(
                &statement,
                &[
                    &record.at,
                    &record.event,
                    &record.user_id,
                    &record.email,
                    &record.ip,
                    &record.user_agent,
                    &record.request_id,
                    &record.session_id,
                ],
            )
            .await?;
        Ok(())
    }

    async fn audit_list(
        &self,
        user_id: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, AUDIT_LIST).await?;
        let rows = client
            .query(&statement, &[&user_id, &before, &limit])
            .await?;
        Ok(rows
            .iter()
            .map(|row| AuditRecord {
                id: row.get(0),
                at: row.get(1),
                event: row.get(2),
                user_id: row.get(3),
                email: row.get(4),
                ip: row.get(5),
                user_agent: row.get(6),
                request_id: row.get(7),
                session_id: row.get(8),
            })
            .collect())
    }

    async fn audit_expired(&self, at: i64) -> Result<u64, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, AUDIT_EXPIRED).await?;
        Ok(client.execute(&statement, &[&at]).await?)
    }
}

/// The signing key statements.
const KEYS_LIST: &str = "SELECT kid, generation, algorithm, public_key, sealed_private_key, \
    created_at, signs_from FROM signing_keys ORDER BY generation";
const KEYS_ADD: &str = "INSERT INTO signing_keys \
    (kid, generation, algorithm, public_key, sealed_private_key, created_at, signs_from) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
const KEYS_REMOVE: &str = "DELETE FROM signing_keys WHERE kid = $1";

#[async_trait::async_trait]
impl<E: Exec> KeyStatements for Postgres<E> {
    async fn keys_list(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, KEYS_LIST).await?;
        let rows = client.query(&statement, &[]).await?;
        Ok(rows
            .iter()
            .map(|row| KeyRecord {
                kid: row.get(0),
                generation: row.get(1),
                algorithm: row.get(2),
                public_key: row.get(3),
                sealed_private_key: row.get(4),
                created_at: row.get(5),
                signs_from: row.get(6),
            })
            .collect())
    }

    async fn keys_add(&self, record: KeyRecord) -> Result<bool, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, KEYS_ADD).await?;
        let added = client
            .execute(
                &statement,
                &[
                    &record.kid,
                    &record.generation,
                    &record.algorithm,
                    &record.public_key,
                    &record.sealed_private_key,
                    &record.created_at,
                    &record.signs_from,
                ],
            )
            .await?;
        Ok(added == 1)
    }

    async fn keys_remove(&self, kid: &str) -> Result<u64, StoreError> {
        let client = self.0.client().await?;
        let statement = prepare_bounded(&client, KEYS_REMOVE).await?;
        Ok(client.execute(&statement, &[&kid]).await?)
    }
}
