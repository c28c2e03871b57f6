//! PostgreSQL's executors ([`Run`]): each statement prepared through the connection's bounded
//! cache (or, behind a pooler in transaction mode, sent unnamed with its parameters' types:
//! see `pooler`) and run on a pooled connection, a shared one (a short read by a key: see
//! `shared`), or a transaction's own; costly ones take a turn first. And tokio-postgres' rows
//! and parameters in the store's terms.

use std::{
    error::Error,
    future::Future,
    ops::{ControlFlow, Deref},
    time::Duration,
};

use bytes::BytesMut;
use deadpool_postgres::{ClientWrapper, Object};
use futures_util::{TryStreamExt, pin_mut};
use tokio::sync::OwnedSemaphorePermit;
use tokio_postgres::{
    Row, Statement as Prepared,
    types::{IsNull, ToSql, Type, to_sql_checked},
};

use super::{PostgresEngine, PostgresTransaction, pooler::Pooling, shared::Lent};
use crate::store::{
    StoreError, Visitor,
    rows::{Column, Columns, FromRow, todo_ref},
    run::{Access, Run, Statement},
    sql::{Dialect, Param, todos::TodoSelect},
};

/// The most statements one connection keeps prepared. Filters make statements of many shapes
/// (each number of `order` keys or `inq` items is its own): unbounded, a client could make
/// each PostgreSQL backend hold thousands of them (1.2 GB after 2,000 shapes). When a
/// connection's cache is full it is emptied, and what is needed next is prepared again.
pub(super) const MAX_CACHED_STATEMENTS: usize = 100;

/// Prepares `sql` on `client` through its statement cache, keeping the cache within
/// [`MAX_CACHED_STATEMENTS`].
/// Every statement run passes here, so here they are counted (`database_statements_total`).
async fn prepare_bounded(client: &ClientWrapper, sql: &str) -> Result<Prepared, StoreError> {
    metrics::counter!("database_statements_total").increment(1);
    if client.statement_cache.size() >= MAX_CACHED_STATEMENTS {
        client.statement_cache.clear();
    }
    Ok(client.prepare_cached(sql).await?)
}

/// A connection to run statements on: taken from the pool for one statement, shared with other
/// short reads, or the transaction's own.
#[expect(
    clippy::large_enum_variant,
    reason = "lives on the stack for one statement; boxing it would allocate for each"
)]
pub(super) enum Client<'a> {
    Pooled(Object),
    Shared(Lent<'a>),
    Transaction(&'a Object),
}

impl Deref for Client<'_> {
    type Target = ClientWrapper;

    fn deref(&self) -> &ClientWrapper {
        match self {
            Self::Pooled(client) => client,
            Self::Shared(client) => client,
            Self::Transaction(client) => client,
        }
    }
}

/// The statements, on anything they can run on ([`Exec`]): the engine or a transaction.
pub(super) struct Postgres<E>(pub E);

/// Where statements run.
pub(super) trait Exec: Send + Sync + 'static {
    /// The connection for the next statement.
    fn client(&self) -> impl Future<Output = Result<Client<'_>, StoreError>> + Send;
    /// The connection for a short read that answers one row at most: a shared one where there
    /// is one (see `shared`), else as [`Exec::client`].
    fn key_client(&self) -> impl Future<Output = Result<Client<'_>, StoreError>> + Send;
    /// A turn for a costly statement, held while it runs (none inside a transaction, which
    /// already has its connection).
    fn costly_turn(
        &self,
    ) -> impl Future<Output = Result<Option<OwnedSemaphorePermit>, StoreError>> + Send;
    /// How the connections reach PostgreSQL.
    fn pooling(&self) -> Pooling;
    /// The budget a costly statement must set for itself, in a transaction of its own: behind
    /// a pooler in transaction mode, outside a transaction (which sets it at its start).
    fn own_budget(&self) -> Option<Duration>;
}

impl Exec for PostgresEngine {
    async fn client(&self) -> Result<Client<'_>, StoreError> {
        Ok(Client::Pooled(self.pool.get().await?))
    }

    async fn key_client(&self) -> Result<Client<'_>, StoreError> {
        match self.shared.get().await {
            Some(client) => Ok(Client::Shared(client)),
            None => self.client().await,
        }
    }

    async fn costly_turn(&self) -> Result<Option<OwnedSemaphorePermit>, StoreError> {
        let turn = tokio::time::timeout(
            self.limits.query_timeout,
            std::sync::Arc::clone(&self.costly).acquire_owned(),
        )
        .await
        .map_err(|_| StoreError::TimedOut)?
        .map_err(|_| StoreError::Closed)?;
        Ok(Some(turn))
    }

    fn pooling(&self) -> Pooling {
        self.pooling
    }

    fn own_budget(&self) -> Option<Duration> {
        (self.pooling == Pooling::Transaction).then_some(self.limits.query_timeout)
    }
}

impl Exec for PostgresTransaction {
    async fn client(&self) -> Result<Client<'_>, StoreError> {
        self.client
            .as_ref()
            .map(Client::Transaction)
            .ok_or(StoreError::Closed)
    }

    async fn key_client(&self) -> Result<Client<'_>, StoreError> {
        self.client().await
    }

    async fn costly_turn(&self) -> Result<Option<OwnedSemaphorePermit>, StoreError> {
        Ok(None)
    }

    fn pooling(&self) -> Pooling {
        self.pooling
    }

    fn own_budget(&self) -> Option<Duration> {
        None
    }
}

/// `params` with the PostgreSQL type of each, for an unnamed statement (the store's columns
/// are `TEXT`, `BIGINT`, `BOOLEAN` and `BYTEA`).
fn typed<'a>(params: &'a [Param<'a>]) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    params
        .iter()
        .map(|param| {
            let kind = match param {
                Param::Text(_) => Type::TEXT,
                Param::Int(_) => Type::INT8,
                Param::Bool(_) => Type::BOOL,
                Param::Bytes(_) => Type::BYTEA,
            };
            (param as &(dyn ToSql + Sync), kind)
        })
        .collect()
}

/// Runs `work` on `client`, in a transaction of its own with `budget` as its
/// `statement_timeout` when there is one (a costly statement behind a pooler in transaction
/// mode); a failure rolls it back.
async fn within<T>(
    client: Client<'_>,
    turn: Option<OwnedSemaphorePermit>,
    budget: Option<Duration>,
    work: impl AsyncFnOnce(&ClientWrapper) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let Some(budget) = budget else {
        return work(&client).await;
    };
    metrics::counter!("database_statements_total").increment(2);
    let begun = Begun(Some(client), turn);
    let client = begun.client();
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL statement_timeout = {}",
            budget.as_millis().max(1)
        ))
        .await?;
    let result = work(client).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    client.batch_execute(end).await?;
    begun.done();
    result
}

/// A connection between the `BEGIN` and the end of [`within`]'s transaction, with the costly
/// statement's turn. Dropped before that end (the client hung up, or the end failed), the
/// statement may still be running (at most its budget): the transaction is rolled back after
/// it, on a task of its own that holds the turn until then (so that clients who hang up cannot
/// run more costly statements at once than the turns allow), and only then is the connection
/// given back; should the rollback fail, the connection is closed instead. Never is it returned to the
/// pool inside the transaction, where the next statements would run in one nobody ends.
struct Begun<'a>(Option<Client<'a>>, Option<OwnedSemaphorePermit>);

impl Begun<'_> {
    fn client(&self) -> &ClientWrapper {
        self.0.as_deref().expect("a connection until done")
    }

    /// The transaction ended: the connection goes back to the pool, the turn to the others.
    fn done(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Begun<'_> {
    fn drop(&mut self) {
        let Some(Client::Pooled(connection)) = self.0.take() else {
            return;
        };
        let turn = self.1.take();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            drop(Object::take(connection));
            return;
        };
        runtime.spawn(async move {
            // Sent after the statement, which its budget stops. (Not a cancel request:
            // PgBouncer 1.18 crashed on ours, `bad client state`, as the canceller hangs up.)
            if connection.batch_execute("ROLLBACK").await.is_err() {
                drop(Object::take(connection));
            }
            drop(turn);
        });
    }
}

impl Columns for Row {
    type Error = tokio_postgres::Error;

    fn get<T: Column>(&self, index: usize) -> Result<T, tokio_postgres::Error> {
        self.try_get(index)
    }

    fn text(&self, index: usize) -> Result<Option<&str>, tokio_postgres::Error> {
        self.try_get(index)
    }
}

/// Each value checks that the column's type accepts it, as tokio-postgres' own do.
impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Self::Text(text) => text.as_deref().to_sql_checked(ty, out),
            Self::Int(number) => number.to_sql_checked(ty, out),
            Self::Bool(flag) => flag.to_sql_checked(ty, out),
            Self::Bytes(bytes) => bytes.as_deref().to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<E: Exec> Postgres<E> {
    /// Runs `statement` (a costly one with a turn) and calls `each` with its rows as they
    /// arrive. `by_key`: the statement answers one row at most.
    async fn each_row(
        &self,
        statement: Statement<'_>,
        by_key: bool,
        mut each: impl FnMut(&Row) -> Result<ControlFlow<()>, StoreError> + Send,
    ) -> Result<(), StoreError> {
        let turn = self.turn(statement.access).await?;
        let client = self
            .client_for(statement.access, by_key && !statement.wide)
            .await?;
        let mut visit = async |rows: tokio_postgres::RowStream| {
            pin_mut!(rows);
            while let Some(row) = rows.try_next().await? {
                if each(&row)?.is_break() {
                    // The rest of the rows are discarded as the stream drops.
                    break;
                }
            }
            Ok(())
        };
        match self.0.pooling() {
            Pooling::Session => {
                let _turn = turn;
                let prepared = prepare_bounded(&client, &statement.sql).await?;
                visit(client.query_raw(&prepared, statement.params).await?).await
            }
            Pooling::Transaction => {
                metrics::counter!("database_statements_total").increment(1);
                let budget = self.budget_for(statement.access);
                within(client, turn, budget, async |client: &ClientWrapper| {
                    let rows = client
                        .query_typed_raw(&statement.sql, typed(statement.params))
                        .await?;
                    visit(rows).await
                })
                .await
            }
        }
    }

    /// The connection for a statement of `access`: a short read by a key may share one.
    async fn client_for(&self, access: Access, by_key: bool) -> Result<Client<'_>, StoreError> {
        if by_key && access == Access::Read {
            self.0.key_client().await
        } else {
            self.0.client().await
        }
    }

    /// The budget `access` must set for itself (see [`Exec::own_budget`]).
    fn budget_for(&self, access: Access) -> Option<Duration> {
        match access {
            Access::CostlyRead | Access::CostlyWrite => self.0.own_budget(),
            Access::Read | Access::Write => None,
        }
    }

    /// A turn when `access` is costly.
    async fn turn(&self, access: Access) -> Result<Option<OwnedSemaphorePermit>, StoreError> {
        match access {
            Access::CostlyRead | Access::CostlyWrite => self.0.costly_turn().await,
            Access::Read | Access::Write => Ok(None),
        }
    }
}

impl<E: Exec> Run for Postgres<E> {
    const DIALECT: Dialect = Dialect::Postgres;

    async fn one<T: FromRow>(&self, statement: Statement<'_>) -> Result<T, StoreError> {
        let turn = self.turn(statement.access).await?;
        // Not shared: such a statement may count many rows (`count_todos`).
        let client = self.0.client().await?;
        let row = match self.0.pooling() {
            Pooling::Session => {
                let _turn = turn;
                let prepared = prepare_bounded(&client, &statement.sql).await?;
                let params: Vec<&(dyn ToSql + Sync)> =
                    statement.params.iter().map(|param| param as _).collect();
                client.query_one(&prepared, &params).await?
            }
            Pooling::Transaction => {
                metrics::counter!("database_statements_total").increment(1);
                let budget = self.budget_for(statement.access);
                within(client, turn, budget, async |client: &ClientWrapper| {
                    let typed = typed(statement.params);
                    Ok(client.query_typed_one(&statement.sql, &typed).await?)
                })
                .await?
            }
        };
        Ok(T::from_row(&row)?)
    }

    async fn optional<T: FromRow>(
        &self,
        statement: Statement<'_>,
    ) -> Result<Option<T>, StoreError> {
        let mut found = None;
        self.each_row(statement, true, |row| {
            // Such a statement reads by a key: one row at most.
            if found.is_none() {
                found = Some(T::from_row(row)?);
            }
            Ok(ControlFlow::Continue(()))
        })
        .await?;
        Ok(found)
    }

    async fn all<T: FromRow>(&self, statement: Statement<'_>) -> Result<Vec<T>, StoreError> {
        let mut all = Vec::new();
        self.each_row(statement, false, |row| {
            all.push(T::from_row(row)?);
            Ok(ControlFlow::Continue(()))
        })
        .await?;
        Ok(all)
    }

    async fn execute(&self, statement: Statement<'_>) -> Result<u64, StoreError> {
        let turn = self.turn(statement.access).await?;
        let client = self.0.client().await?;
        match self.0.pooling() {
            Pooling::Session => {
                let _turn = turn;
                let prepared = prepare_bounded(&client, &statement.sql).await?;
                Ok(client.execute_raw(&prepared, statement.params).await?)
            }
            Pooling::Transaction => {
                metrics::counter!("database_statements_total").increment(1);
                let budget = self.budget_for(statement.access);
                within(client, turn, budget, async |client: &ClientWrapper| {
                    let typed = typed(statement.params);
                    Ok(client.execute_typed(&statement.sql, &typed).await?)
                })
                .await
            }
        }
    }

    /// Rows are visited as they arrive, never collected: a list of megabytes is not held
    /// twice (as rows, then as the response).
    async fn visit_rows(
        &self,
        select: TodoSelect<'_>,
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        let statement = Statement::read(select.sql, select.params.as_slice());
        self.each_row(statement.costly(select.costly), false, |row| {
            Ok(visit(todo_ref(row)?))
        })
        .await
    }

    /// One session's refreshes wait for each other on its row; a client that sends many at
    /// once gets 503s after a moment rather than holding the whole pool in that queue.
    async fn lock_token_session(&self, hash: &str) -> Result<(), StoreError> {
        let client = self.0.client().await?;
        client
            .batch_execute("SET LOCAL lock_timeout = '1s'")
            .await?;
        let sql = &self.sql().sessions.lock_token_session;
        match self.0.pooling() {
            Pooling::Session => {
                let lock = prepare_bounded(&client, sql).await?;
                client.query(&lock, &[&hash]).await?;
            }
            Pooling::Transaction => {
                metrics::counter!("database_statements_total").increment(1);
                client.query_typed(sql, &[(&hash, Type::TEXT)]).await?;
            }
        }
        Ok(())
    }
}
