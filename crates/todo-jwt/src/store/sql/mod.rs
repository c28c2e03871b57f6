//! Every statement the store runs, built once from [`schema`](super::schema) with sea-query,
//! for SQLite or PostgreSQL, with bound parameters.
//!
//! - [`FixedStatements`]: the statements that take no filter, one struct per concern
//!   (`users.rs`, `sessions.rs`, `throttle.rs`, `audit.rs`, `keys.rs`, and the fixed ones of
//!   `todos.rs`), built once per dialect at start-up ([`FixedStatements::of`]).
//! - `todos.rs`: the statements built per request from a typed filter (`GET /todos`, counts,
//!   updates), with `condition.rs` turning the filter's `where` into SQL.
//!
//! Every value travels as a parameter; identifiers come only from the schema. The two dialects
//! differ in placeholders (`?` or `$n`), in how they spell a regular-expression match, in
//! locking clauses (SQLite has none) and in a few PostgreSQL-only statements; everything else
//! is one builder for both.

mod audit;
mod condition;
mod keys;
mod mail;
mod mfa;
mod param;
mod sessions;
mod throttle;
mod todo_writes;
pub mod todos;
mod users;

#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use sea_query::{Expr, PostgresQueryBuilder, QueryStatementBuilder, SqliteQueryBuilder, Values};

pub use audit::AuditSql;
pub use keys::KeySql;
pub use mail::{CLAIM_BATCH, MailSql};
pub use mfa::MfaSql;
pub use param::Param;
pub use sessions::SessionSql;
pub use throttle::ThrottleSql;
pub use todos::TodoSql;
pub use users::UserSql;

/// The SQL engine a statement is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite, with the `regexp` function the store registers.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The statements that take no filter, in one dialect's spelling (`?` or `$n` placeholders,
/// numbered in the order each statement's parameters are listed in its documentation).
#[derive(Debug)]
pub struct FixedStatements {
    /// Accounts.
    pub users: UserSql,
    /// Todos, but the filtered ones (see [`todos`]).
    pub todos: TodoSql,
    /// Sessions and refresh tokens.
    pub sessions: SessionSql,
    /// Throttle counters.
    pub throttle: ThrottleSql,
    /// Audit events.
    pub audit: AuditSql,
    /// Signing keys.
    pub keys: KeySql,
    /// The outbox and the tokens sent by mail.
    pub mail: MailSql,
    /// The second factor.
    pub mfa: MfaSql,
}

static SQLITE: LazyLock<FixedStatements> =
    LazyLock::new(|| FixedStatements::for_dialect(Dialect::Sqlite));
static POSTGRES: LazyLock<FixedStatements> =
    LazyLock::new(|| FixedStatements::for_dialect(Dialect::Postgres));

impl FixedStatements {
    /// `dialect`'s statements, built on first use (an engine asks at start-up, so that no
    /// request builds them).
    pub fn of(dialect: Dialect) -> &'static Self {
        match dialect {
            Dialect::Sqlite => &SQLITE,
            Dialect::Postgres => &POSTGRES,
        }
    }

    /// The statements in `dialect`'s spelling.
    pub fn for_dialect(dialect: Dialect) -> Self {
        Self {
            users: UserSql::new(dialect),
            todos: TodoSql::new(dialect),
            sessions: SessionSql::new(dialect),
            throttle: ThrottleSql::new(dialect),
            audit: AuditSql::new(dialect),
            keys: KeySql::new(dialect),
            mail: MailSql::new(dialect),
            mfa: MfaSql::new(dialect),
        }
    }
}

/// A placeholder in a fixed statement: the value is discarded, only its position counts.
fn parameter() -> Expr {
    Expr::val("")
}

/// `statement` in `dialect`'s spelling, its parameters dropped.
fn text(statement: &impl QueryStatementBuilder, dialect: Dialect) -> String {
    build(statement, dialect).0
}

/// `statement`'s text in `dialect`'s spelling, and the values it binds as parameters.
fn bound(
    statement: &impl QueryStatementBuilder,
    dialect: Dialect,
) -> (String, Vec<Param<'static>>) {
    let (sql, values) = build(statement, dialect);
    (sql, values.into_iter().map(Param::from).collect())
}

/// `statement`'s text in `dialect`'s spelling, and the values it binds.
fn build(statement: &impl QueryStatementBuilder, dialect: Dialect) -> (String, Values) {
    match dialect {
        Dialect::Sqlite => statement.build_any(&SqliteQueryBuilder),
        Dialect::Postgres => statement.build_any(&PostgresQueryBuilder),
    }
}
