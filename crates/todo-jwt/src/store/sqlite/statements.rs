//! SQLite's executors ([`Run`]): each statement prepared through the connection's cache and
//! run where its [`Access`] says, on the engine (reads inline, writes on the writer thread,
//! costly ones with a turn) or inside a transaction (all inline, on the borrowed writer
//! connection); and rusqlite's rows and parameters in the store's terms.

use std::future::Future;

use rusqlite::{
    CachedStatement, Connection, Row, ToSql, params_from_iter,
    types::{ToSqlOutput, Value as SqliteValue, ValueRef},
};

use super::{SqliteEngine, SqliteTransaction};
use crate::store::{
    StoreError, Todo, TodoRef, Visitor,
    rows::{Column, Columns, FromRow, todo_ref},
    run::{Access, Run, Statement},
    sql::{Dialect, Param, todos::TodoSelect},
};

/// The statements, on anything they can run on ([`Exec`]): the engine or a transaction.
pub(super) struct Sqlite<E>(pub E);

/// Where statements run.
pub(super) trait Exec: Send + Sync + 'static {
    /// A short read, on the calling thread.
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError>;

    /// A write, or (`costly`) one whose condition may take its whole time budget.
    fn write<T: Send + 'static>(
        &self,
        costly: bool,
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

    async fn write<T: Send + 'static>(
        &self,
        costly: bool,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        if costly {
            self.shared.write_costly(statement).await
        } else {
            self.shared.write(statement).await
        }
    }

    async fn read_costly<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.shared.read_costly(query).await
    }
}

/// Inside a transaction everything runs inline, within the budget: the writer's connection is
/// already ours.
impl Exec for SqliteTransaction {
    fn read<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.with(|connection| query(connection))
    }

    fn write<T: Send + 'static>(
        &self,
        _costly: bool,
        statement: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        std::future::ready(self.with(statement))
    }

    fn read_costly<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        std::future::ready(self.with(|connection| query(connection)))
    }
}

impl Columns for Row<'_> {
    type Error = rusqlite::Error;

    fn get<T: Column>(&self, index: usize) -> rusqlite::Result<T> {
        Row::get(self, index)
    }

    fn text(&self, index: usize) -> rusqlite::Result<Option<&str>> {
        self.get_ref(index)?.as_str_or_null().map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                error.into(),
            )
        })
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Self::Text(Some(text)) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Self::Bytes(Some(bytes)) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
            Self::Int(Some(number)) => ToSqlOutput::Owned(SqliteValue::Integer(*number)),
            Self::Bool(Some(flag)) => ToSqlOutput::Owned(SqliteValue::Integer((*flag).into())),
            Self::Text(None) | Self::Bytes(None) | Self::Int(None) | Self::Bool(None) => {
                ToSqlOutput::Owned(SqliteValue::Null)
            }
        })
    }
}

impl<E: Exec> Sqlite<E> {
    /// Runs `work` on the statement, prepared through the connection's cache, with its
    /// parameters, where its access says. Off the calling thread, the parameters are copied
    /// (its text is moved: a fixed statement's is borrowed for the life of the process).
    async fn run<T: Send + 'static>(
        &self,
        statement: Statement<'_>,
        work: impl FnOnce(&mut CachedStatement<'_>, &[Param<'_>]) -> rusqlite::Result<T>
        + Send
        + 'static,
    ) -> Result<T, StoreError> {
        let Statement {
            access,
            sql,
            params,
            wide: _,
        } = statement;
        if access == Access::Read {
            return self
                .0
                .read(|connection| work(&mut connection.prepare_cached(&sql)?, params));
        }
        let params: Vec<Param<'static>> = params.iter().cloned().map(Param::into_owned).collect();
        let job =
            move |connection: &Connection| work(&mut connection.prepare_cached(&sql)?, &params);
        match access {
            Access::CostlyRead => self.0.read_costly(job).await,
            Access::Read | Access::Write | Access::CostlyWrite => {
                let costly = access == Access::CostlyWrite;
                self.0
                    .write(costly, move |connection| job(connection))
                    .await
            }
        }
    }
}

/// The statement's first row, if any. For a write (`INSERT ... RETURNING`), the statement is
/// then stepped to its end: outside a transaction SQLite commits only when the statement
/// finishes, after handing out its rows, and a commit that fails there (a full disk) is
/// reported by that last step. `query_row` stops at the first row and drops the statement,
/// which discards that error: the caller got an id for a row that was never stored.
fn first_row<T: FromRow>(
    prepared: &mut CachedStatement<'_>,
    params: &[Param<'_>],
    write: bool,
) -> rusqlite::Result<Option<T>> {
    let mut rows = prepared.query(params_from_iter(params))?;
    let first = match rows.next()? {
        Some(row) => Some(T::from_row(row)?),
        None => None,
    };
    if write {
        while rows.next()?.is_some() {}
    }
    Ok(first)
}

impl<E: Exec> Run for Sqlite<E> {
    const DIALECT: Dialect = Dialect::Sqlite;

    async fn one<T: FromRow>(&self, statement: Statement<'_>) -> Result<T, StoreError> {
        let write = statement.access != Access::Read;
        self.run(statement, move |prepared, params| {
            first_row(prepared, params, write)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
        })
        .await
    }

    async fn optional<T: FromRow>(
        &self,
        statement: Statement<'_>,
    ) -> Result<Option<T>, StoreError> {
        let write = statement.access != Access::Read;
        self.run(statement, move |prepared, params| {
            first_row(prepared, params, write)
        })
        .await
    }

    async fn all<T: FromRow>(&self, statement: Statement<'_>) -> Result<Vec<T>, StoreError> {
        self.run(statement, |prepared, params| {
            prepared
                .query_map(params_from_iter(params), |row| T::from_row(row))?
                .collect()
        })
        .await
    }

    async fn execute(&self, statement: Statement<'_>) -> Result<u64, StoreError> {
        self.run(statement, |prepared, params| {
            Ok(prepared.execute(params_from_iter(params))? as u64)
        })
        .await
    }

    /// Inline, the rows are visited as they are read, borrowed; a costly list runs off the
    /// request threads, and its rows are copied out and visited here.
    async fn visit_rows(
        &self,
        select: TodoSelect<'_>,
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        let TodoSelect {
            sql,
            params,
            costly,
        } = select;
        if costly {
            let select = Statement::read(sql, params.as_slice()).costly(true);
            let todos: Vec<Todo> = self.all(select).await?;
            for todo in &todos {
                if visit(TodoRef::from(todo)).is_break() {
                    break;
                }
            }
            return Ok(());
        }
        self.0.read(|connection| {
            let mut prepared = connection.prepare_cached(&sql)?;
            let mut rows = prepared.query(params_from_iter(params.as_slice()))?;
            while let Some(row) = rows.next()? {
                if visit(todo_ref(row)?).is_break() {
                    break;
                }
            }
            Ok(())
        })
    }
}
