//! From a typed filter to SQL with bound parameters, for SQLite or PostgreSQL.
//!
//! Every value travels as a parameter; identifiers come only from [`Field::column`]. The two
//! dialects differ in how they spell a regular-expression match; everything else is shared.

use sea_query::{
    Asterisk, Cond, Condition as SqlCondition, Expr, ExprTrait, Func, NullOrdering,
    Order as SqlOrder, Query, SelectStatement, UpdateStatement, Value as SqlValue,
};

use super::{Comparison, Condition, Field, Filter, Scalar};

/// The todo table.
pub const TABLE: &str = "todos";
/// The column that scopes every statement to one user.
pub const OWNER: &str = "owner_id";
/// The columns a todo is read from, in [`Field::ALL`] order.
pub const COLUMNS: [&str; 4] = ["id", "title", "description", "is_complete"];

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
    Expr::col(field.column())
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
        Condition::All(parts) => parts.iter().fold(Cond::all(), |all, part| {
            all.add(self::condition(part, dialect))
        }),
        Condition::Any(parts) => parts.iter().fold(Cond::any(), |any, part| {
            any.add(self::condition(part, dialect))
        }),
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
    let mut scope = Cond::all().add(Expr::col(OWNER).eq(owner));
    if let Some(where_) = where_ {
        scope = scope.add(condition(where_, dialect));
    }
    scope
}

/// `SELECT` for `GET /todos` (and, with a `where` on `id`, `GET /todos/{id}`).
pub fn select(owner: &str, filter: &Filter, dialect: Dialect) -> SelectStatement {
    let mut query = Query::select();
    query
        .columns(COLUMNS)
        .from(TABLE)
        .cond_where(scope(owner, filter.condition.as_ref(), dialect));
    for order in &filter.order {
        // Absent values sort as the smallest, in both engines.
        let (direction, nulls) = if order.descending {
            (SqlOrder::Desc, NullOrdering::Last)
        } else {
            (SqlOrder::Asc, NullOrdering::First)
        };
        query.order_by_with_nulls(order.field.column(), direction, nulls);
    }
    if !filter.order.iter().any(|order| order.field == Field::Id) {
        query.order_by(Field::Id.column(), SqlOrder::Asc);
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
        .from(TABLE)
        .cond_where(scope(owner, where_, dialect));
    query
}

/// The columns a patch sets, as `(column, value)`; `None` values set NULL.
pub type Changes = Vec<(&'static str, SqlValue)>;

/// `UPDATE` for `PATCH /todos` and `PATCH /todos/{id}`.
pub fn update(
    owner: &str,
    where_: Option<&Condition>,
    changes: Changes,
    dialect: Dialect,
) -> UpdateStatement {
    let mut query = Query::update();
    query.table(TABLE).values(
        changes
            .into_iter()
            .map(|(column, value)| (column, Expr::val(value))),
    );
    query.cond_where(scope(owner, where_, dialect));
    query
}

#[cfg(test)]
mod tests {
    use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

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
}
