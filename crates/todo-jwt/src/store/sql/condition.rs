//! A filter's `where` as SQL: every value bound, every column from the allow-list in
//! [`schema`](crate::store::schema).

use sea_query::{Cond, Condition as SqlCondition, Expr, ExprTrait, Func, Value as SqlValue};

use super::Dialect;
use crate::{
    filter::{Comparison, Condition, Field, Scalar},
    store::schema::todo_column,
};

pub(super) fn column(field: Field) -> Expr {
    Expr::col(todo_column(field))
}

/// The SQL value of a scalar.
fn value(scalar: &Scalar) -> SqlValue {
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
pub(super) fn condition(condition: &Condition, dialect: Dialect) -> SqlCondition {
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
