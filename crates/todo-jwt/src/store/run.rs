//! What an engine offers the repositories: a few executors that run one statement with its
//! parameters ([`Run`]), so that each repository's statements are written once, above the
//! engines (`impl<X: Run> UserStatements for X` in `users.rs`, and so on).

use std::{borrow::Cow, future::Future};

use super::{
    StoreError, Visitor,
    rows::FromRow,
    sql::{Dialect, FixedStatements, Param, todos::TodoSelect},
};

/// A statement's text: a fixed statement's (borrowed for the life of the process) or one built
/// for the request.
pub(super) type Sql = Cow<'static, str>;

/// Where and how a statement runs: SQLite reads on the calling thread and writes on its writer
/// thread; a costly one (a pattern match, see `Condition::is_costly`) takes a turn first, off
/// the request threads. PostgreSQL runs every one on a connection, costly ones with a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    /// A short read.
    Read,
    /// A write (or a read that must see the writer's state: see `find_refresh_token`).
    Write,
    /// A read that may take its whole time budget.
    CostlyRead,
    /// A write whose condition may take its whole time budget.
    CostlyWrite,
}

/// A statement to run: its text, its parameters, and how it runs.
#[derive(Debug)]
pub(super) struct Statement<'a> {
    /// Where and how.
    pub access: Access,
    /// Its text.
    pub sql: Sql,
    /// Its parameters, in order.
    pub params: &'a [Param<'a>],
    /// Whether its row may be long (a whole todo): on PostgreSQL such a read never shares a
    /// connection with others (`store/postgres/shared.rs`), which it would hold up.
    pub wide: bool,
}

impl<'a> Statement<'a> {
    /// A short read.
    pub(super) fn read(sql: impl Into<Sql>, params: &'a [Param<'a>]) -> Self {
        Self::new(Access::Read, sql.into(), params)
    }

    /// A write.
    pub(super) fn write(sql: impl Into<Sql>, params: &'a [Param<'a>]) -> Self {
        Self::new(Access::Write, sql.into(), params)
    }

    fn new(access: Access, sql: Sql, params: &'a [Param<'a>]) -> Self {
        Self {
            access,
            sql,
            params,
            wide: false,
        }
    }

    /// The same statement, whose row may be long (see [`Statement::wide`]).
    pub(super) fn wide(mut self) -> Self {
        self.wide = true;
        self
    }

    /// The same statement, costly when `costly` is: its condition may take its whole budget.
    pub(super) fn costly(mut self, costly: bool) -> Self {
        if costly {
            self.access = match self.access {
                Access::Read | Access::CostlyRead => Access::CostlyRead,
                Access::Write | Access::CostlyWrite => Access::CostlyWrite,
            };
        }
        self
    }
}

/// The executors an engine implements (on itself and on its transactions); every repository's
/// statements run through them. Each prepares its statement through the connection's cache.
pub(super) trait Run: Send + Sync + 'static {
    /// The engine's SQL dialect.
    const DIALECT: Dialect;

    /// The engine's fixed statements.
    fn sql(&self) -> &'static FixedStatements {
        FixedStatements::of(Self::DIALECT)
    }

    /// The one row the statement returns (the driver's error without one).
    fn one<T: FromRow>(
        &self,
        statement: Statement<'_>,
    ) -> impl Future<Output = Result<T, StoreError>> + Send;

    /// The row the statement returns, if any.
    fn optional<T: FromRow>(
        &self,
        statement: Statement<'_>,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send;

    /// Every row the statement returns.
    fn all<T: FromRow>(
        &self,
        statement: Statement<'_>,
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> + Send;

    /// Runs the statement; how many rows it changed.
    fn execute(
        &self,
        statement: Statement<'_>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Calls `visit` with each todo `select` reads, borrowed from its row: the list path, where
    /// nothing is copied on the way to the response.
    fn visit_rows(
        &self,
        select: TodoSelect<'_>,
        visit: &mut Visitor<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Locks the session of the refresh token `hash` until the transaction ends, before the
    /// token is read (PostgreSQL; on SQLite the reading writer thread serialises already).
    fn lock_token_session(
        &self,
        hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = hash;
        std::future::ready(Ok(()))
    }
}
