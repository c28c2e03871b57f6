//! The todos' statements: the fixed ones ([`TodoSql`]), and those built per request from a
//! typed filter ([`select`], [`count`]; the writes, [`update`] and the conditional ones, in
//! `todo_writes.rs`).

use std::borrow::Cow;

use sea_query::{
    Asterisk, Expr, ExprTrait, Func, LockType, NullOrdering, Order as SqlOrder, Query,
    SelectStatement,
};

pub use super::todo_writes::{delete_one, update, update_one};
use super::{
    Dialect, FixedStatements, Param, bound, parameter, text,
    todo_writes::{owner_locked, scope},
};
use crate::{
    filter::{Condition, Field, Filter},
    store::schema::{todo_column, todos, users},
};

/// The largest LIMIT or OFFSET both engines take.
const SQL_MAX: u64 = i64::MAX as u64;

/// The fixed todo statements.
#[derive(Debug)]
pub struct TodoSql {
    /// `INSERT` a todo (title, description, is_complete, version, owner) `RETURNING id`, if
    /// the owner has fewer than the limit (last parameter); no row otherwise.
    pub insert: String,
    /// `INSERT` a todo with its own id (id, title, description, is_complete, version, owner),
    /// if the owner has fewer than the limit (last parameter), `RETURNING id`; no row
    /// otherwise.
    pub insert_with_id: String,
    /// Moves the id sequence past the largest todo id, if it is behind (PostgreSQL, whose
    /// identity sequence does not see ids inserted explicitly; SQLite's `AUTOINCREMENT` does).
    pub follow_ids: Option<String>,
    /// The owner's todos in id order (owner): `GET /todos` without `where` or `order`.
    pub list: String,
    /// `DELETE` the owner's todo (owner, id, owner), after locking the owner's row (see
    /// [`owner_locked`]).
    pub delete: String,
    /// The version of the owner's list (owner): what a list's entity tag is derived from.
    pub list_version: String,
    /// The same, locking the owner's row until the transaction ends (PostgreSQL): a bulk
    /// `PATCH` checks it and writes with no other writer of that user in between.
    pub lock_list: String,
    /// The version of the owner's todo (owner, id).
    pub version: String,
    /// The owner's todo with its version (owner, id).
    pub find: String,
    /// The owner of a todo (todo id), whoever it is.
    pub owner: String,
}

impl TodoSql {
    pub(super) fn new(dialect: Dialect) -> Self {
        let mut insert_with_id = text(&insert_below_limit(true), dialect);
        let mut follow_ids = None;
        if dialect == Dialect::Postgres {
            // The id column is `GENERATED ALWAYS`: an explicit id must say so (sea-query has
            // no words for it), and the sequence must then be moved past it by hand.
            insert_with_id =
                insert_with_id.replacen(") SELECT ", ") OVERRIDING SYSTEM VALUE SELECT ", 1);
            let sequence = format!(
                "pg_get_serial_sequence('{}', '{}')",
                todos::TABLE,
                todos::ID
            );
            follow_ids = Some(format!(
                "SELECT setval({sequence}, max(\"{id}\")) FROM \"{table}\" \
                 HAVING max(\"{id}\") > \
                 COALESCE(pg_sequence_last_value({sequence}::regclass), 0)",
                id = todos::ID,
                table = todos::TABLE,
            ));
        }
        let mut owner = Query::select();
        owner
            .column(todos::OWNER_ID)
            .from(todos::TABLE)
            .and_where(Expr::col(todos::ID).eq(parameter()));
        let mut list = Query::select();
        list.columns(todos::TODO)
            .from(todos::TABLE)
            .and_where(Expr::col(todos::OWNER_ID).eq(parameter()))
            .order_by(todos::ID, SqlOrder::Asc);
        let mut delete = Query::delete();
        delete
            .from_table(todos::TABLE)
            .and_where(Expr::col(todos::OWNER_ID).eq(parameter()))
            .and_where(Expr::col(todos::ID).eq(parameter()))
            .and_where(owner_locked(parameter()));
        let mut list_version = Query::select();
        list_version
            .column(users::TODOS_VERSION)
            .from(users::TABLE)
            .and_where(Expr::col(users::ID).eq(parameter()));
        let mut lock_list = list_version.clone();
        lock_list.lock(LockType::NoKeyUpdate);
        let one = |columns: &[&'static str]| {
            let mut one = Query::select();
            one.columns(columns.iter().copied())
                .from(todos::TABLE)
                .and_where(Expr::col(todos::OWNER_ID).eq(parameter()))
                .and_where(Expr::col(todos::ID).eq(parameter()));
            text(&one, dialect)
        };
        let mut versioned = todos::TODO.to_vec();
        versioned.push(todos::VERSION);
        Self {
            insert: text(&insert_below_limit(false), dialect),
            insert_with_id,
            follow_ids,
            list: text(&list, dialect),
            delete: text(&delete, dialect),
            owner: text(&owner, dialect),
            list_version: text(&list_version, dialect),
            lock_list: text(&lock_list, dialect),
            version: one(&[todos::VERSION]),
            find: one(&versioned),
        }
    }
}

/// Inserted only while the owner has fewer todos than the limit: the check and the insert are
/// one statement. The owner's row carries the count (kept by triggers) and is locked first on
/// PostgreSQL, so concurrent inserts for one user cannot overshoot. With `own_id`, the todo's
/// id comes first: kept from where it was imported. The todo's first version is a parameter
/// (see `store::todos::first_version`).
fn insert_below_limit(own_id: bool) -> sea_query::InsertStatement {
    let mut below_limit = Query::select();
    if own_id {
        below_limit.expr(parameter());
    }
    below_limit
        .column(users::ID)
        .exprs([parameter(), parameter(), parameter(), parameter()])
        .from(users::TABLE)
        .and_where(Expr::col(users::ID).eq(parameter()))
        .and_where(Expr::col(users::TODO_COUNT).lt(parameter()))
        .lock(LockType::NoKeyUpdate);
    let columns = [
        todos::ID,
        todos::OWNER_ID,
        todos::TITLE,
        todos::DESCRIPTION,
        todos::IS_COMPLETE,
        todos::VERSION,
    ];
    let mut insert = Query::insert();
    insert
        .into_table(todos::TABLE)
        .columns(
            if own_id { &columns[..] } else { &columns[1..] }
                .iter()
                .copied(),
        )
        .select_from(below_limit)
        .expect("as many values as columns")
        .returning_col(todos::ID);
    insert
}

/// A list statement built for one request.
#[derive(Debug)]
pub struct TodoSelect<'a> {
    /// Its text.
    pub sql: Cow<'static, str>,
    /// Its parameters.
    pub params: SelectParams<'a>,
    /// Whether its condition may take its whole time budget (see `Condition::is_costly`).
    pub costly: bool,
}

/// What a list statement binds.
#[derive(Debug)]
pub enum SelectParams<'a> {
    /// The owner alone: the fixed list, run without building anything or copying the owner.
    Owner([Param<'a>; 1]),
    /// The values a built statement binds, in order.
    Values(Vec<Param<'static>>),
}

impl<'a> SelectParams<'a> {
    /// The parameters, in order.
    pub fn as_slice(&self) -> &[Param<'a>] {
        match self {
            Self::Owner(owner) => owner,
            Self::Values(values) => values,
        }
    }
}

/// The list statement for `GET /todos` (and, with a `where` on `id`, `GET /todos/{id}`).
///
/// Lists without a `where` or an `order` (the common case) use the fixed statement; anything
/// else is built here. (Measured: building the statement with sea-query was a tenth of a
/// 20-todo read on SQLite.)
///
/// On SQLite, LIMIT and OFFSET are written into the SQL as integers rather than bound: SQLite
/// plans a bound LIMIT by its value, and so re-prepares the statement each time it is re-bound
/// (perf: `sqlite3Reprepare` under `sqlite3_step` was a sixth of a list request). They are
/// `u64`s from the typed filter, never client text; each distinct pair gets its own cached
/// statement. PostgreSQL binds them.
pub fn select<'a>(owner: &'a str, filter: &Filter, dialect: Dialect) -> TodoSelect<'a> {
    let fixed = filter.condition.is_none() && filter.order.is_empty();
    let paged = filter.limit.is_some() || filter.skip > 0;
    let bound_page = dialect == Dialect::Postgres;
    let (sql, params) = if fixed && !(paged && bound_page) {
        let list = &FixedStatements::of(dialect).todos.list;
        (
            Cow::Borrowed(list.as_str()),
            SelectParams::Owner([owner.into()]),
        )
    } else {
        let (sql, values) = bound(&filtered(owner, filter, dialect, bound_page), dialect);
        (Cow::Owned(sql), SelectParams::Values(values))
    };
    let costly = filter.condition.as_ref().is_some_and(Condition::is_costly);
    if !paged || bound_page {
        return TodoSelect {
            sql,
            params,
            costly,
        };
    }
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let limit = filter.limit.map_or(-1, clamp);
    let sql = format!("{sql} LIMIT {limit} OFFSET {}", clamp(filter.skip));
    TodoSelect {
        sql: Cow::Owned(sql),
        params,
        costly,
    }
}

/// The owner's todos `filter` selects, in its order; with `page`, its LIMIT and OFFSET too.
fn filtered(owner: &str, filter: &Filter, dialect: Dialect, page: bool) -> SelectStatement {
    let mut query = Query::select();
    query
        .columns(todos::TODO)
        .from(todos::TABLE)
        .cond_where(scope(owner, filter.condition.as_ref(), dialect));
    for order in &filter.order {
        // Absent values sort as the smallest, in both engines.
        let (direction, nulls) = if order.descending {
            (SqlOrder::Desc, NullOrdering::Last)
        } else {
            (SqlOrder::Asc, NullOrdering::First)
        };
        query.order_by_with_nulls(todo_column(order.field), direction, nulls);
    }
    if !filter.order.iter().any(|order| order.field == Field::Id) {
        query.order_by(todos::ID, SqlOrder::Asc);
    }
    if !page {
        return query;
    }
    match (filter.limit, filter.skip) {
        (Some(limit), skip) => {
            query.limit(std::cmp::min(limit, SQL_MAX));
            if skip > 0 {
                query.offset(std::cmp::min(skip, SQL_MAX));
            }
        }
        (None, skip) if skip > 0 => {
            query.limit(SQL_MAX).offset(std::cmp::min(skip, SQL_MAX));
        }
        (None, _) => {}
    }
    query
}

/// `SELECT COUNT(*)` for `GET /todos/count`: its text and values.
pub fn count(
    owner: &str,
    where_: Option<&Condition>,
    dialect: Dialect,
) -> (String, Vec<Param<'static>>) {
    let mut query = Query::select();
    query
        .expr(Func::count(Expr::col(Asterisk)))
        .from(todos::TABLE)
        .cond_where(scope(owner, where_, dialect));
    bound(&query, dialect)
}
