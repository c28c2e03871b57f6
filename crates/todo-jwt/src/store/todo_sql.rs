//! Statements for SQLite or PostgreSQL, with bound parameters: the todo statements built from
//! the typed filter, and the fixed statements of every repository ([`FixedStatements`]).
//!
//! Every value travels as a parameter; identifiers come only from [`schema`]. The two dialects
//! differ in how they spell a regular-expression match and in placeholders; everything else
//! is shared.

use sea_query::{
    Asterisk, Cond, Condition as SqlCondition, Expr, ExprTrait, Func, LockType, NullOrdering,
    OnConflict, Order as SqlOrder, PostgresQueryBuilder, Query, QueryStatementBuilder,
    SelectStatement, SqliteQueryBuilder, UpdateStatement, Value as SqlValue,
};

use super::{
    TodoChanges,
    schema::{self, todo_column, todos},
};
use crate::filter::{Comparison, Condition, Field, Filter, Scalar};

/// The largest LIMIT or OFFSET both engines take.
const SQL_MAX: u64 = i64::MAX as u64;

/// The SQL engine a statement is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite, with the `regexp` function the store registers.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

fn column(field: Field) -> Expr {
    Expr::col(todo_column(field))
}

/// The SQL value of a scalar.
pub fn value(scalar: &Scalar) -> SqlValue {
    match scalar {
        Scalar::Int(number) => SqlValue::BigInt(Some(*number)),
        Scalar::Text(text) => SqlValue::String(Some(text.clone())),
        Scalar::Bool(flag) => SqlValue::Bool(Some(*flag)),
    }
}

fn always() -> Expr {
    Expr::cust("1 = 1")
}

fn never() -> Expr {
    Expr::cust("1 = 0")
}

/// `condition` as SQL.
pub fn condition(condition: &Condition, dialect: Dialect) -> SqlCondition {
    match condition {
        Condition::All(parts) if parts.is_empty() => always().into(),
        Condition::Any(parts) if parts.is_empty() => never().into(),
        Condition::All(parts) => balanced(parts, Cond::all, dialect),
        Condition::Any(parts) => balanced(parts, Cond::any, dialect),
        Condition::Equals(field, None) => column(*field).is_null().into(),
        Condition::Equals(field, Some(scalar)) => column(*field).eq(value(scalar)).into(),
        Condition::NotEquals(field, None) => column(*field).is_not_null().into(),
        Condition::NotEquals(field, Some(scalar)) => {
            or_absent(*field, column(*field).ne(value(scalar)))
        }
        Condition::Compare(field, comparison, scalar) => {
            let (column, scalar) = (column(*field), value(scalar));
            match comparison {
                Comparison::Gt => column.gt(scalar),
                Comparison::Gte => column.gte(scalar),
                Comparison::Lt => column.lt(scalar),
                Comparison::Lte => column.lte(scalar),
            }
            .into()
        }
        Condition::Between(field, low, high) => {
            column(*field).between(value(low), value(high)).into()
        }
        Condition::In(_, values) if values.is_empty() => never().into(),
        Condition::In(field, values) => column(*field).is_in(values.iter().map(value)).into(),
        Condition::NotIn(_, values) if values.is_empty() => always().into(),
        Condition::NotIn(field, values) => {
            or_absent(*field, column(*field).is_not_in(values.iter().map(value)))
        }
        Condition::Like {
            field,
            pattern,
            negated,
            insensitive,
        } => {
            let (target, pattern) = if *insensitive {
                (
                    Func::lower(column(*field)).into(),
                    Func::lower(Expr::val(pattern.as_str())).into(),
                )
            } else {
                (column(*field), Expr::val(pattern.as_str()))
            };
            // Backslash escapes `%` and `_` in both engines (PostgreSQL's default, SQLite's
            // only when asked), so a client can match them literally.
            let operator = if *negated { "NOT LIKE" } else { "LIKE" };
            // (The escape character is bound too: sea-query's template reader takes `'\\'` for
            // an unterminated string.)
            let template = format!("{{}} {operator} {{}} ESCAPE {{}}");
            let like = custom(dialect, &template, [target, pattern, Expr::val("\\")]);
            if *negated {
                or_absent(*field, like)
            } else {
                like.into()
            }
        }
        Condition::Regexp(field, pattern) => {
            let template = match dialect {
                Dialect::Sqlite => "{} REGEXP {}",
                Dialect::Postgres => "{} ~ {}",
            };
            custom(
                dialect,
                template,
                [column(*field), Expr::val(pattern.source.as_str())],
            )
            .into()
        }
        Condition::Nothing => never().into(),
    }
}

/// How many parts an `AND` or `OR` joins before it is split in two.
const FAN_OUT: usize = 8;

/// `parts` joined by `join` (`AND` or `OR`) as a balanced tree of parenthesised groups of at
/// most [`FAN_OUT`]: `a OR b OR ... ` written flat is a chain as deep as it is long, and SQLite
/// refuses expressions deeper than 1000 ("Expression tree is too large") well within the
/// filter language's 1000-item lists, nested.
fn balanced(parts: &[Condition], join: fn() -> SqlCondition, dialect: Dialect) -> SqlCondition {
    if parts.len() <= FAN_OUT {
        return parts
            .iter()
            .fold(join(), |joined, part| joined.add(condition(part, dialect)));
    }
    let (left, right) = parts.split_at(parts.len() / 2);
    join()
        .add(balanced(left, join, dialect))
        .add(balanced(right, join, dialect))
}

/// A custom expression; each `{}` in `template` takes the next of `operands`, written in the
/// dialect's placeholder syntax (`?` for SQLite, `$n` for PostgreSQL) as sea-query expects.
fn custom<const N: usize>(dialect: Dialect, template: &str, operands: [Expr; N]) -> Expr {
    let mut sql = String::with_capacity(template.len() + 2 * N);
    for (index, piece) in template.split("{}").enumerate() {
        if index > 0 {
            match dialect {
                Dialect::Sqlite => sql.push('?'),
                Dialect::Postgres => sql.push_str(&format!("${index}")),
            }
        }
        sql.push_str(piece);
    }
    Expr::cust_with_exprs(sql, operands)
}

/// `test`, or the field is absent: negative operators match todos without the property.
fn or_absent(field: Field, test: Expr) -> SqlCondition {
    Cond::any().add(column(field).is_null()).add(test)
}

/// The owner's todos matching `condition`.
fn scope(owner: &str, where_: Option<&Condition>, dialect: Dialect) -> SqlCondition {
    let mut scope = Cond::all().add(Expr::col(todos::OWNER_ID).eq(owner));
    if let Some(where_) = where_ {
        scope = scope.add(condition(where_, dialect));
    }
    scope
}

/// `SELECT` for `GET /todos` (and, with a `where` on `id`, `GET /todos/{id}`).
pub fn select(owner: &str, filter: &Filter, dialect: Dialect) -> SelectStatement {
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
    match (filter.limit, filter.skip) {
        (Some(limit), skip) => {
            query.limit(std::cmp::min(limit, SQL_MAX));
            if skip > 0 {
                query.offset(std::cmp::min(skip, SQL_MAX));
            }
        }
        // SQLite needs a LIMIT before an OFFSET.
        (None, skip) if skip > 0 => {
            query.limit(SQL_MAX).offset(std::cmp::min(skip, SQL_MAX));
        }
        (None, _) => {}
    }
    query
}

/// `SELECT COUNT(*)` for `GET /todos/count`.
pub fn count(owner: &str, where_: Option<&Condition>, dialect: Dialect) -> SelectStatement {
    let mut query = Query::select();
    query
        .expr(Func::count(Expr::col(Asterisk)))
        .from(todos::TABLE)
        .cond_where(scope(owner, where_, dialect));
    query
}

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

/// `UPDATE` for `PATCH /todos` and `PATCH /todos/{id}`; `changes` is not empty.
pub fn update(
    owner: &str,
    where_: Option<&Condition>,
    changes: TodoChanges,
    dialect: Dialect,
) -> UpdateStatement {
    let mut query = Query::update();
    query.table(todos::TABLE).values(
        changed_columns(changes)
            .into_iter()
            .map(|(column, value)| (column, Expr::val(value))),
    );
    query.cond_where(scope(owner, where_, dialect));
    query
}

/// The statements that take no filter, built once per dialect from [`schema`] (see
/// [`FixedStatements::for_dialect`]).
#[derive(Debug)]
pub struct FixedStatements {
    /// `INSERT` a todo (title, description, is_complete, owner) `RETURNING id`, if the owner
    /// has fewer than the limit (last parameter); no row otherwise.
    pub insert_todo: String,
    /// The owner's todos in id order: `GET /todos` without `where` or `order`.
    pub list_todos: String,
    /// `DELETE` the owner's todo (owner, id).
    pub delete_todo: String,
    /// `INSERT` a user (id, email, email_key, username, realm, password_hash).
    pub insert_user: String,
    /// A user by id.
    pub find_user: String,
    /// A user and password hash by email key.
    pub find_user_by_email_key: String,
    /// `INSERT` a session (id, created_at, last_used_at, expires_at, user_agent, ip, then the
    /// user's id and the password hash the login checked): only while the user still has that
    /// hash, so a login racing a password change or an account deletion starts nothing (on
    /// PostgreSQL the user's row is share-locked, so the change waits and then ends it).
    pub insert_session: String,
    /// The user of a session (session id, user id, now): only while it has not expired.
    pub find_session_user: String,
    /// A user's sessions (user id, now), newest first, in [`schema::sessions`]' column order.
    pub list_sessions: String,
    /// `DELETE` one session of a user (user id, session id).
    pub delete_session: String,
    /// `DELETE` every session of a user (user id).
    pub delete_user_sessions: String,
    /// Counts a hit (key, now, window end): a new window when there is none or it has ended;
    /// `RETURNING` the count and the window's end.
    pub throttle_hit: String,
    /// A counter (key): count and window end.
    pub throttle_get: String,
    /// `DELETE` a counter (key).
    pub throttle_clear: String,
    /// `DELETE` the counters whose window ended (now).
    pub throttle_expired: String,
    /// `UPDATE` a user's password hash (hash, user id).
    pub update_password_hash: String,
    /// `UPDATE` a user's password hash while it is the one checked (hash, user id, checked).
    pub replace_password_hash: String,
    /// The owner of a todo (todo id), whoever it is.
    pub todo_owner: String,
    /// `INSERT` a todo with its own id (id, title, description, is_complete, owner), if the
    /// owner has fewer than the limit (last parameter), `RETURNING id`; no row otherwise.
    pub insert_todo_with_id: String,
    /// Moves the id sequence past the largest todo id, if it is behind (PostgreSQL, whose
    /// identity sequence does not see ids inserted explicitly; SQLite's `AUTOINCREMENT` does).
    pub follow_todo_ids: Option<String>,
    /// `DELETE` a user (user id); their todos, sessions and tokens go with them.
    pub delete_user: String,
    /// `DELETE` the sessions expired at a time (now).
    pub delete_expired_sessions: String,
    /// `DELETE` a user's sessions but one (user id, the session kept).
    pub delete_other_sessions: String,
    /// `UPDATE` a session's `last_used_at` (now, session id).
    pub touch_session: String,
    /// `INSERT` a refresh token (hash, session id, created_at).
    pub insert_refresh_token: String,
    /// A refresh token of a live session (hash, now): session id, spent_at, then the user's
    /// columns.
    pub find_refresh_token: String,
    /// Locks the session a refresh token belongs to (hash), for the transaction (PostgreSQL;
    /// SQLite's single writer serialises already).
    pub lock_token_session: String,
    /// Marks a refresh token spent, if it is not yet (spent_at, hash).
    pub spend_refresh_token: String,
}

impl FixedStatements {
    /// The statements in `dialect`'s spelling (`?` or `$n` placeholders, numbered in the order
    /// the parameters are listed above).
    pub fn for_dialect(dialect: Dialect) -> Self {
        use schema::{refresh_tokens, sessions, throttle, users};
        // A placeholder: the value is discarded, only its position counts.
        let parameter = || Expr::val("");
        // Inserted only while the owner has fewer todos than the limit: the check and the
        // insert are one statement. The owner's row carries the count (kept by triggers) and
        // is locked first on PostgreSQL, so concurrent inserts for one user cannot overshoot.
        // With `own_id`, the todo's id comes first: kept from where it was imported.
        let insert_below_limit = |own_id: bool| {
            let mut below_limit = Query::select();
            if own_id {
                below_limit.expr(parameter());
            }
            below_limit
                .column(users::ID)
                .exprs([parameter(), parameter(), parameter()])
                .from(users::TABLE)
                .and_where(Expr::col(users::ID).eq(parameter()))
                .and_where(Expr::col(users::TODO_COUNT).lt(parameter()))
                .lock(LockType::Update);
            let columns = [
                todos::ID,
                todos::OWNER_ID,
                todos::TITLE,
                todos::DESCRIPTION,
                todos::IS_COMPLETE,
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
        };
        let insert_todo = insert_below_limit(false);
        let mut insert_todo_with_id = text(&insert_below_limit(true), dialect);
        let mut follow_todo_ids = None;
        if dialect == Dialect::Postgres {
            // The id column is `GENERATED ALWAYS`: an explicit id must say so (sea-query has
            // no words for it), and the sequence must then be moved past it by hand.
            insert_todo_with_id =
                insert_todo_with_id.replacen(") SELECT ", ") OVERRIDING SYSTEM VALUE SELECT ", 1);
            let sequence = format!(
                "pg_get_serial_sequence('{}', '{}')",
                todos::TABLE,
                todos::ID
            );
            follow_todo_ids = Some(format!(
                "SELECT setval({sequence}, max(\"{id}\")) FROM \"{table}\" \
                 HAVING max(\"{id}\") > \
                 COALESCE(pg_sequence_last_value({sequence}::regclass), 0)",
                id = todos::ID,
                table = todos::TABLE,
            ));
        }
        let mut todo_owner = Query::select();
        todo_owner
            .column(todos::OWNER_ID)
            .from(todos::TABLE)
            .and_where(Expr::col(todos::ID).eq(parameter()));
        let mut list_todos = Query::select();
        list_todos
            .columns(todos::TODO)
            .from(todos::TABLE)
            .and_where(Expr::col(todos::OWNER_ID).eq(parameter()))
            .order_by(todos::ID, SqlOrder::Asc);
        let mut delete_todo = Query::delete();
        delete_todo
            .from_table(todos::TABLE)
            .and_where(Expr::col(todos::OWNER_ID).eq(parameter()))
            .and_where(Expr::col(todos::ID).eq(parameter()));
        let mut columns = vec![
            users::ID,
            users::EMAIL,
            users::EMAIL_KEY,
            users::USERNAME,
            users::REALM,
            users::PASSWORD_HASH,
        ];
        let mut values = vec![parameter(); columns.len()];
        if dialect == Dialect::Sqlite {
            // PostgreSQL's column has a default; SQLite's STRICT integer column does not.
            columns.push(users::CREATED_AT);
            values.push(Expr::cust("unixepoch()"));
        }
        let mut insert_user = Query::insert();
        // As many values as columns, built right here: this cannot panic.
        insert_user
            .into_table(users::TABLE)
            .columns(columns)
            .values_panic(values);
        let mut find_user = Query::select();
        find_user
            .columns(users::USER)
            .from(users::TABLE)
            .and_where(Expr::col(users::ID).eq(parameter()));
        let mut find_user_by_email_key = Query::select();
        find_user_by_email_key
            .columns(users::USER)
            .column(users::PASSWORD_HASH)
            .from(users::TABLE)
            .and_where(Expr::col(users::EMAIL_KEY).eq(parameter()));
        let session_columns = [
            sessions::ID,
            sessions::USER_ID,
            sessions::CREATED_AT,
            sessions::LAST_USED_AT,
            sessions::EXPIRES_AT,
            sessions::USER_AGENT,
            sessions::IP,
        ];
        let mut checked_user = Query::select();
        checked_user
            .expr(parameter())
            .column(users::ID)
            .exprs([
                parameter(),
                parameter(),
                parameter(),
                parameter(),
                parameter(),
            ])
            .from(users::TABLE)
            .and_where(Expr::col(users::ID).eq(parameter()))
            .and_where(Expr::col(users::PASSWORD_HASH).eq(parameter()))
            .lock(LockType::Share);
        let mut insert_session = Query::insert();
        insert_session
            .into_table(sessions::TABLE)
            .columns(session_columns)
            .select_from(checked_user)
            .expect("seven values for seven columns");
        let mut find_session_user = Query::select();
        find_session_user
            .columns(users::USER.map(|column| (users::TABLE, column)))
            .from(sessions::TABLE)
            .inner_join(
                users::TABLE,
                Expr::col((users::TABLE, users::ID)).equals((sessions::TABLE, sessions::USER_ID)),
            )
            .and_where(Expr::col((sessions::TABLE, sessions::ID)).eq(parameter()))
            .and_where(Expr::col((sessions::TABLE, sessions::USER_ID)).eq(parameter()))
            .and_where(Expr::col((sessions::TABLE, sessions::EXPIRES_AT)).gt(parameter()));
        let mut list_sessions = Query::select();
        list_sessions
            .columns(session_columns)
            .from(sessions::TABLE)
            .and_where(Expr::col(sessions::USER_ID).eq(parameter()))
            .and_where(Expr::col(sessions::EXPIRES_AT).gt(parameter()))
            .order_by(sessions::CREATED_AT, SqlOrder::Desc)
            .order_by(sessions::ID, SqlOrder::Asc);
        let mut delete_session = Query::delete();
        delete_session
            .from_table(sessions::TABLE)
            .and_where(Expr::col(sessions::USER_ID).eq(parameter()))
            .and_where(Expr::col(sessions::ID).eq(parameter()));
        let mut delete_user_sessions = Query::delete();
        delete_user_sessions
            .from_table(sessions::TABLE)
            .and_where(Expr::col(sessions::USER_ID).eq(parameter()));
        let restart = format!(
            "\"{table}\".\"{expires}\" <= excluded.\"{start}\"",
            table = throttle::TABLE,
            expires = throttle::EXPIRES_AT,
            start = throttle::WINDOW_START
        );
        let mut throttle_hit = Query::insert();
        throttle_hit
            .into_table(throttle::TABLE)
            .columns([
                throttle::KEY,
                throttle::WINDOW_START,
                throttle::COUNT,
                throttle::EXPIRES_AT,
            ])
            .values_panic([parameter(), parameter(), Expr::cust("1"), parameter()])
            .on_conflict(
                OnConflict::column(throttle::KEY)
                    .value(
                        throttle::COUNT,
                        Expr::cust(format!(
                            "CASE WHEN {restart} THEN 1 ELSE \"{table}\".\"{count}\" + 1 END",
                            table = throttle::TABLE,
                            count = throttle::COUNT
                        )),
                    )
                    .value(
                        throttle::WINDOW_START,
                        Expr::cust(format!(
                            "CASE WHEN {restart} THEN excluded.\"{start}\" ELSE \"{table}\".\"{start}\" END",
                            table = throttle::TABLE,
                            start = throttle::WINDOW_START
                        )),
                    )
                    .value(
                        throttle::EXPIRES_AT,
                        Expr::cust(format!(
                            "CASE WHEN {restart} THEN excluded.\"{expires}\" ELSE \"{table}\".\"{expires}\" END",
                            table = throttle::TABLE,
                            expires = throttle::EXPIRES_AT
                        )),
                    )
                    .to_owned(),
            )
            .returning(Query::returning().columns([throttle::COUNT, throttle::EXPIRES_AT]));
        let mut throttle_get = Query::select();
        throttle_get
            .columns([throttle::COUNT, throttle::EXPIRES_AT])
            .from(throttle::TABLE)
            .and_where(Expr::col(throttle::KEY).eq(parameter()));
        let mut throttle_clear = Query::delete();
        throttle_clear
            .from_table(throttle::TABLE)
            .and_where(Expr::col(throttle::KEY).eq(parameter()));
        let mut throttle_expired = Query::delete();
        throttle_expired
            .from_table(throttle::TABLE)
            .and_where(Expr::col(throttle::EXPIRES_AT).lte(parameter()));
        let mut update_password_hash = Query::update();
        update_password_hash
            .table(users::TABLE)
            .value(users::PASSWORD_HASH, parameter())
            .and_where(Expr::col(users::ID).eq(parameter()));
        let mut replace_password_hash = update_password_hash.clone();
        replace_password_hash.and_where(Expr::col(users::PASSWORD_HASH).eq(parameter()));
        let mut delete_user = Query::delete();
        delete_user
            .from_table(users::TABLE)
            .and_where(Expr::col(users::ID).eq(parameter()));
        let mut delete_expired_sessions = Query::delete();
        delete_expired_sessions
            .from_table(sessions::TABLE)
            .and_where(Expr::col(sessions::EXPIRES_AT).lte(parameter()));
        let mut delete_other_sessions = Query::delete();
        delete_other_sessions
            .from_table(sessions::TABLE)
            .and_where(Expr::col(sessions::USER_ID).eq(parameter()))
            .and_where(Expr::col(sessions::ID).ne(parameter()));
        let mut touch_session = Query::update();
        touch_session
            .table(sessions::TABLE)
            .value(sessions::LAST_USED_AT, parameter())
            .and_where(Expr::col(sessions::ID).eq(parameter()));
        let mut insert_refresh_token = Query::insert();
        insert_refresh_token
            .into_table(refresh_tokens::TABLE)
            .columns([
                refresh_tokens::HASH,
                refresh_tokens::SESSION_ID,
                refresh_tokens::CREATED_AT,
            ])
            .values_panic([parameter(), parameter(), parameter()]);
        let mut find_refresh_token = Query::select();
        find_refresh_token
            .column((refresh_tokens::TABLE, refresh_tokens::SESSION_ID))
            .column((refresh_tokens::TABLE, refresh_tokens::SPENT_AT))
            .columns(users::USER.map(|column| (users::TABLE, column)))
            .from(refresh_tokens::TABLE)
            .inner_join(
                sessions::TABLE,
                Expr::col((sessions::TABLE, sessions::ID))
                    .equals((refresh_tokens::TABLE, refresh_tokens::SESSION_ID)),
            )
            .inner_join(
                users::TABLE,
                Expr::col((users::TABLE, users::ID)).equals((sessions::TABLE, sessions::USER_ID)),
            )
            .and_where(Expr::col((refresh_tokens::TABLE, refresh_tokens::HASH)).eq(parameter()))
            .and_where(Expr::col((sessions::TABLE, sessions::EXPIRES_AT)).gt(parameter()));
        // The session's row, taken before the token is read (PostgreSQL): a logout deletes
        // the session (and, by cascade, its tokens), so both take the session first and cannot
        // deadlock; and the token read after it is the latest committed one, so concurrent
        // refreshes of one token find it spent.
        let mut token_session = Query::select();
        token_session
            .column(refresh_tokens::SESSION_ID)
            .from(refresh_tokens::TABLE)
            .and_where(Expr::col(refresh_tokens::HASH).eq(parameter()));
        let mut lock_token_session = Query::select();
        lock_token_session
            .column(sessions::ID)
            .from(sessions::TABLE)
            .and_where(Expr::col(sessions::ID).in_subquery(token_session))
            .lock(LockType::Update);
        let mut spend_refresh_token = Query::update();
        spend_refresh_token
            .table(refresh_tokens::TABLE)
            .value(refresh_tokens::SPENT_AT, parameter())
            .and_where(Expr::col(refresh_tokens::HASH).eq(parameter()))
            .and_where(Expr::col(refresh_tokens::SPENT_AT).is_null());
        Self {
            throttle_hit: text(&throttle_hit, dialect),
            throttle_get: text(&throttle_get, dialect),
            throttle_clear: text(&throttle_clear, dialect),
            throttle_expired: text(&throttle_expired, dialect),
            update_password_hash: text(&update_password_hash, dialect),
            replace_password_hash: text(&replace_password_hash, dialect),
            todo_owner: text(&todo_owner, dialect),
            insert_todo_with_id,
            follow_todo_ids,
            delete_user: text(&delete_user, dialect),
            delete_other_sessions: text(&delete_other_sessions, dialect),
            delete_expired_sessions: text(&delete_expired_sessions, dialect),
            touch_session: text(&touch_session, dialect),
            insert_refresh_token: text(&insert_refresh_token, dialect),
            find_refresh_token: text(&find_refresh_token, dialect),
            lock_token_session: text(&lock_token_session, dialect),
            spend_refresh_token: text(&spend_refresh_token, dialect),
            insert_session: text(&insert_session, dialect),
            find_session_user: text(&find_session_user, dialect),
            list_sessions: text(&list_sessions, dialect),
            delete_session: text(&delete_session, dialect),
            delete_user_sessions: text(&delete_user_sessions, dialect),
            insert_todo: text(&insert_todo, dialect),
            list_todos: text(&list_todos, dialect),
            delete_todo: text(&delete_todo, dialect),
            insert_user: text(&insert_user, dialect),
            find_user: text(&find_user, dialect),
            find_user_by_email_key: text(&find_user_by_email_key, dialect),
        }
    }
}

/// `statement` in `dialect`'s spelling, its parameters dropped.
fn text(statement: &impl QueryStatementBuilder, dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => statement.build_any(&SqliteQueryBuilder).0,
        Dialect::Postgres => statement.build_any(&PostgresQueryBuilder).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(negated: bool) -> Filter {
        let like = Condition::Like {
            field: Field::Title,
            pattern: "a%".into(),
            negated,
            insensitive: false,
        };
        Filter {
            condition: Some(like),
            ..Filter::default()
        }
    }

    #[test]
    fn values_are_bound_and_never_inlined() {
        let (sql, values) =
            select("owner-1", &like(false), Dialect::Sqlite).build(SqliteQueryBuilder);
        println!("{sql}");
        assert!(!sql.contains("owner-1") && !sql.contains("a%"), "{sql}");
        assert_eq!(values.0.len(), 3, "{sql}");
        let (sql, _) = select("o", &like(true), Dialect::Postgres).build(PostgresQueryBuilder);
        println!("{sql}");
    }

    #[test]
    fn long_or_lists_are_nested_not_chained() {
        let any = Condition::Any((0..1000).map(Condition::id_is).collect());
        let filter = Filter {
            condition: Some(any),
            ..Filter::default()
        };
        let (sql, values) = select("o", &filter, Dialect::Sqlite).build(SqliteQueryBuilder);
        assert_eq!(values.0.len(), 1001, "every id bound, and the owner");
        // A chain of 1000 ORs would have no parenthesis inside the condition; a balanced tree
        // opens one per level, about log2(1000 / 8) + 1 deep.
        let depth = sql
            .chars()
            .scan(0_i32, |depth, c| {
                *depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                Some(*depth)
            })
            .max()
            .unwrap_or_default();
        assert!((5..=12).contains(&depth), "nesting depth {depth}");
    }

    #[test]
    fn fixed_statements_number_their_parameters_in_order() {
        let postgres = FixedStatements::for_dialect(Dialect::Postgres);
        assert_eq!(
            postgres.delete_todo,
            r#"DELETE FROM "todos" WHERE "owner_id" = $1 AND "id" = $2"#
        );
        assert!(
            postgres
                .insert_user
                .ends_with("VALUES ($1, $2, $3, $4, $5, $6)"),
            "{}",
            postgres.insert_user
        );
        let sqlite = FixedStatements::for_dialect(Dialect::Sqlite);
        assert_eq!(
            sqlite.list_todos,
            r#"SELECT "id", "title", "description", "is_complete" FROM "todos" WHERE "owner_id" = ? ORDER BY "id" ASC"#
        );
        assert!(
            sqlite
                .insert_user
                .ends_with("VALUES (?, ?, ?, ?, ?, ?, unixepoch())"),
            "{}",
            sqlite.insert_user
        );
        assert_eq!(
            sqlite.insert_todo,
            r#"INSERT INTO "todos" ("owner_id", "title", "description", "is_complete") SELECT "id", ?, ?, ? FROM "users" WHERE "id" = ? AND "todo_count" < ?  RETURNING "id""#
        );
        assert_eq!(
            postgres.insert_todo,
            r#"INSERT INTO "todos" ("owner_id", "title", "description", "is_complete") SELECT "id", $1, $2, $3 FROM "users" WHERE "id" = $4 AND "todo_count" < $5 FOR UPDATE RETURNING "id""#
        );
        assert_eq!(
            postgres.insert_todo_with_id,
            r#"INSERT INTO "todos" ("id", "owner_id", "title", "description", "is_complete") OVERRIDING SYSTEM VALUE SELECT $1, "id", $2, $3, $4 FROM "users" WHERE "id" = $5 AND "todo_count" < $6 FOR UPDATE RETURNING "id""#
        );
        assert!(!sqlite.insert_todo_with_id.contains("OVERRIDING"));
        assert!(sqlite.follow_todo_ids.is_none() && postgres.follow_todo_ids.is_some());
        assert!(
            postgres
                .replace_password_hash
                .ends_with(r#"WHERE "id" = $2 AND "password_hash" = $3"#),
            "{}",
            postgres.replace_password_hash
        );
    }
}
