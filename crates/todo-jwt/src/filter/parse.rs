//! From a JSON tree to a typed [`Filter`] or [`Condition`], collecting every problem.
//!
//! This file holds the entry points, the parser and the filter's keys (`fields`, `order`,
//! `limit`, `skip`, `offset`); the `where` grammar is in `parse/condition.rs`.

use serde_json::{Map, Value};

use super::{Condition, Field, FieldSet, Filter, FilterError, Order, Problem};

mod condition;

pub use condition::MAX_PATTERN;

/// The most values `inq`, `nin` and `or` may list (SQLite binds at most 32766 parameters).
pub const MAX_LIST: usize = 1000;

/// Which parameter is being parsed, and so which keys it allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `filter` on a list: every key.
    List,
    /// `filter` on one todo: no `where`.
    One,
}

/// Parses `filter`. `raw` is the text quoted back in the error.
pub fn filter(tree: &Value, scope: Scope, raw: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser::default();
    let filter = parser.filter(tree, scope);
    parser.finish(filter, "filter", raw)
}

/// Parses `where`.
pub fn condition(tree: &Value, raw: &str) -> Result<Condition, FilterError> {
    let mut parser = Parser::default();
    let condition = parser.condition(tree, "");
    parser.finish(condition, "where", raw)
}

#[derive(Default)]
struct Parser {
    problems: Vec<Problem>,
}

impl Parser {
    fn finish<T>(self, value: T, parameter: &'static str, raw: &str) -> Result<T, FilterError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(FilterError {
                parameter,
                value: raw.to_owned(),
                problems: self.problems,
            })
        }
    }

    fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    fn filter(&mut self, tree: &Value, scope: Scope) -> Filter {
        let mut filter = Filter::default();
        let Some(map) = self.object(tree, "") else {
            return filter;
        };
        let mut offset = None;
        for (key, value) in map {
            let path = format!("/{key}");
            match key.as_str() {
                "where" if scope == Scope::List => {
                    filter.condition = Some(self.condition(value, &path));
                }
                "fields" => filter.fields = self.fields(value, &path),
                "order" => filter.order = self.order(value, &path),
                "limit" => filter.limit = self.integer(value, &path, 1),
                "skip" => filter.skip = self.integer(value, &path, 0).unwrap_or(0),
                "offset" => offset = self.integer(value, &path, 0),
                "where" => self.problem(&path, "`where` is not allowed when reading one todo"),
                other => self.problem(
                    &path,
                    format!("`{other}` is not a filter key (use where, fields, order, limit, skip, offset)"),
                ),
            }
        }
        // `skip` wins over `offset`, as in LoopBack.
        if !map.contains_key("skip") {
            filter.skip = offset.unwrap_or(0);
        }
        filter
    }

    fn object<'v>(&mut self, tree: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        match tree {
            Value::Object(map) => Some(map),
            _ => {
                self.problem(path, "must be an object");
                None
            }
        }
    }

    /// An integer at least `min`, from a number or a numeric string.
    fn integer(&mut self, value: &Value, path: &str, min: u64) -> Option<u64> {
        let parsed: Option<i128> = match value {
            Value::Number(number) => number
                .as_i64()
                .map(i128::from)
                .or_else(|| number.as_u64().map(i128::from)),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        match parsed {
            None => self.problem(path, "must be an integer"),
            Some(number) if number < i128::from(min) => {
                self.problem(path, format!("must be >= {min}"))
            }
            Some(number) => match u64::try_from(number) {
                Ok(number) => return Some(number),
                Err(_) => self.problem(path, "is too large"),
            },
        }
        None
    }

    fn field(&mut self, name: &str, path: &str) -> Option<Field> {
        let field = Field::from_name(name);
        if field.is_none() {
            self.problem(path, format!("`{name}` is not a todo property"));
        }
        field
    }

    fn fields(&mut self, value: &Value, path: &str) -> FieldSet {
        match value {
            Value::String(name) => self
                .field(name, path)
                .map_or(FieldSet::ALL, |f| FieldSet::NONE.with(f)),
            Value::Array(names) => {
                let mut set = FieldSet::NONE;
                for (index, name) in names.iter().enumerate() {
                    let path = format!("{path}/{index}");
                    match name.as_str() {
                        Some(name) => {
                            if let Some(field) = self.field(name, &path) {
                                set = set.with(field);
                            }
                        }
                        None => self.problem(&path, "must be a property name"),
                    }
                }
                set
            }
            Value::Object(map) => {
                let mut included = FieldSet::NONE;
                let mut excluded = FieldSet::ALL;
                let mut any_included = false;
                for (name, flag) in map {
                    let path = format!("{path}/{name}");
                    let Some(field) = self.field(name, &path) else {
                        continue;
                    };
                    match boolean(flag) {
                        Some(true) => {
                            any_included = true;
                            included = included.with(field);
                        }
                        Some(false) => excluded = excluded.without(field),
                        None => self.problem(&path, "must be a boolean"),
                    }
                }
                if any_included { included } else { excluded }
            }
            _ => {
                self.problem(path, "must be an object, an array or a property name");
                FieldSet::ALL
            }
        }
    }

    fn order(&mut self, value: &Value, path: &str) -> Vec<Order> {
        let keys: Vec<(String, &str)> = match value {
            Value::String(text) => text.split(',').map(|key| (path.to_owned(), key)).collect(),
            Value::Array(items) => {
                let mut keys = Vec::new();
                for (index, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(text) => keys.push((format!("{path}/{index}"), text)),
                        None => self.problem(&format!("{path}/{index}"), "must be a string"),
                    }
                }
                keys
            }
            _ => {
                self.problem(path, "must be a string or an array of strings");
                Vec::new()
            }
        };
        if keys.len() > MAX_LIST {
            self.problem(path, format!("must list at most {MAX_LIST} keys"));
            return Vec::new();
        }
        let mut orders: Vec<Order> = keys
            .into_iter()
            .filter_map(|(path, key)| {
                let mut words = key.split_whitespace();
                let name = words.next().unwrap_or_default();
                let direction = words.next().map(str::to_ascii_uppercase);
                let descending = match (direction.as_deref(), words.next()) {
                    (None | Some("ASC"), None) => false,
                    (Some("DESC"), None) => true,
                    _ => {
                        self.problem(&path, format!("`{key}` must be `<property> [ASC|DESC]`"));
                        return None;
                    }
                };
                let field = self.field(name, &path)?;
                Some(Order { field, descending })
            })
            .collect();
        // A later key on a field already ordered by never changes the order: keep the first,
        // so the SQL has at most one term per field however many keys were sent.
        let mut seen = Vec::with_capacity(orders.len().min(Field::ALL.len()));
        orders.retain(|order| {
            let first = !seen.contains(&order.field);
            if first {
                seen.push(order.field);
            }
            first
        });
        orders
    }
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => match text.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Value::Number(number) => match number.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        _ => None,
    }
}
