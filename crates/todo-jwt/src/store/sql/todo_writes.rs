//! The todo writes built per request: `PATCH /todos` ([`update`]), and the writes of one todo
//! at the versions a request's preconditions accept ([`update_one`], [`delete_one`]). Each
//! raises the versions it changes, and on PostgreSQL locks the owner's row first.

use sea_query::{
    Cond, Condition as SqlCondition, Expr, ExprTrait, LockType, Query, Value as SqlValue,
};

use super::{Dialect, Param, bound, condition::condition};
use crate::{
    filter::Condition,
    store::{
        TodoChanges, Versions,
        schema::{todos, users},
    },
};

/// The `(column, value)` pairs a patch sets; `None` values set NULL.
fn changed_columns(changes: TodoChanges) -> Vec<(&'static str, SqlValue)> {
    let mut columns = Vec::new();
    if let Some(title) = changes.title {
        columns.push((todos::TITLE, SqlValue::String(Some(title))));
    }
    if let Some(desc) = changes.desc {
        columns.push((todos::DESCRIPTION, SqlValue::String(desc)));
    }
    if let Some(is_complete) = changes.is_complete {
        columns.push((todos::IS_COMPLETE, SqlValue::Bool(is_complete)));
    }
    columns
}

/// `UPDATE` for `PATCH /todos` and `PATCH /todos/{id}` (`changes` is not empty): its text and
/// values.
pub fn update(
    owner: &str,
    where_: Option<&Condition>,
    changes: TodoChanges,
    dialect: Dialect,
) -> (String, Vec<Param<'static>>) {
    let mut query = changed(changes, dialect);
    query.cond_where(scope(owner, where_, dialect));
    bound(&query, dialect)
}

/// The todo's version raised by a random step of 1 to 2^32, as the migrations' triggers raise
/// the list's: a database restored from a backup takes other numbers than the history it
/// replaced, so no tag of that history names a version of the new one.
fn raised_version(dialect: Dialect) -> Expr {
    let step = match dialect {
        Dialect::Sqlite => "1 + abs(random() % 4294967296)",
        Dialect::Postgres => "1 + floor(random() * 4294967296)::bigint",
    };
    Expr::cust(format!("\"{}\" + {step}", todos::VERSION))
}

/// An `UPDATE` of `changes` that raises each changed todo's version.
fn changed(changes: TodoChanges, dialect: Dialect) -> sea_query::UpdateStatement {
    let mut query = Query::update();
    query
        .table(todos::TABLE)
        .values(
            changed_columns(changes)
                .into_iter()
                .map(|(column, value)| (column, Expr::val(value))),
        )
        .value(todos::VERSION, raised_version(dialect));
    query
}

/// A sub-select that locks the owner's row (`FOR NO KEY UPDATE`: the rows that refer to the
/// user, such as a new session's, can still be inserted meanwhile), true while the owner exists (SQLite has no row
/// locks and one writer: there it only checks). On PostgreSQL every todo write takes this
/// lock first, before any todo's: the triggers then update that row (the list's version), and
/// writers that locked a todo first and the owner second could deadlock with one that locked
/// the owner first (a conditional bulk `PATCH`).
pub(super) fn owner_locked(owner: Expr) -> Expr {
    let mut owner_row = Query::select();
    owner_row
        .expr(Expr::cust("1"))
        .from(users::TABLE)
        .and_where(Expr::col(users::ID).eq(owner))
        .lock(LockType::NoKeyUpdate);
    Expr::exists(owner_row)
}

/// The versions a conditional write accepts, as a condition on `column`.
fn accepted(column: &'static str, versions: &Versions) -> SqlCondition {
    let mut accepted = Cond::all();
    if let Some(one_of) = &versions.one_of {
        accepted = accepted.add(Expr::col(column).is_in(one_of.iter().copied()));
    }
    if !versions.none_of.is_empty() {
        accepted = accepted.add(Expr::col(column).is_not_in(versions.none_of.iter().copied()));
    }
    accepted
}

/// `UPDATE` of the owner's todo `id` (`changes` is not empty), only at a version `versions`
/// accepts, after locking the owner's row; `RETURNING` its new version. Its text and values.
pub fn update_one(
    owner: &str,
    id: i64,
    changes: TodoChanges,
    versions: &Versions,
    dialect: Dialect,
) -> (String, Vec<Param<'static>>) {
    let mut query = changed(changes, dialect);
    query
        .and_where(Expr::col(todos::OWNER_ID).eq(owner))
        .and_where(Expr::col(todos::ID).eq(id))
        .cond_where(accepted(todos::VERSION, versions))
        .and_where(owner_locked(Expr::val(owner)))
        .returning_col(todos::VERSION);
    bound(&query, dialect)
}

/// `DELETE` of the owner's todo `id`, only at a version `versions` accepts, after locking the
/// owner's row. Its text and values.
pub fn delete_one(
    owner: &str,
    id: i64,
    versions: &Versions,
    dialect: Dialect,
) -> (String, Vec<Param<'static>>) {
    let mut query = Query::delete();
    query
        .from_table(todos::TABLE)
        .and_where(Expr::col(todos::OWNER_ID).eq(owner))
        .and_where(Expr::col(todos::ID).eq(id))
        .cond_where(accepted(todos::VERSION, versions))
        .and_where(owner_locked(Expr::val(owner)));
    bound(&query, dialect)
}

/// The owner's todos matching `condition`.
pub(super) fn scope(owner: &str, where_: Option<&Condition>, dialect: Dialect) -> SqlCondition {
    let mut scope = Cond::all().add(Expr::col(todos::OWNER_ID).eq(owner));
    if let Some(where_) = where_ {
        scope = scope.add(condition(where_, dialect));
    }
    scope
}
