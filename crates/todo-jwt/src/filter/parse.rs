//! From a JSON tree to a typed [`Filter`] or [`Condition`], collecting every problem.

use serde_json::{Map, Value};

use super::{
    Comparison, Condition, Field, FieldSet, Filter, FilterError, Kind, Order, Pattern, Problem,
    Scalar,
};

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

    fn condition(&mut self, value: &Value, path: &str) -> Condition {
        let Some(map) = self.object(value, path) else {
            return Condition::Nothing;
        };
        let mut all = Vec::with_capacity(map.len());
        for (key, value) in map {
            let path = format!("{path}/{key}");
            match key.as_str() {
                "and" | "or" => {
                    let Some(items) = self.list(value, &path) else {
                        continue;
                    };
                    let parts = items
                        .iter()
                        .enumerate()
                        .map(|(index, item)| self.condition(item, &format!("{path}/{index}")))
                        .collect();
                    all.push(if key == "and" {
                        Condition::All(parts)
                    } else {
                        Condition::Any(parts)
                    });
                }
                name => match Field::from_name(name) {
                    Some(field) => all.push(self.property(field, value, &path)),
                    // LoopBack answers 200 [] for a property the model does not have.
                    None => all.push(Condition::Nothing),
                },
            }
        }
        if all.len() == 1 {
            all.remove(0)
        } else {
            Condition::All(all)
        }
    }

    fn list<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v [Value]> {
        match value {
            Value::Array(items) if items.len() <= MAX_LIST => Some(items),
            Value::Array(_) => {
                self.problem(path, format!("must list at most {MAX_LIST} items"));
                None
            }
            _ => {
                self.problem(path, "must be an array");
                None
            }
        }
    }

    fn property(&mut self, field: Field, value: &Value, path: &str) -> Condition {
        let operators = match value {
            Value::Object(operators) => operators,
            Value::Array(_) => {
                self.problem(
                    path,
                    "must be a value or an object of operators (use `inq` for a list)",
                );
                return Condition::Nothing;
            }
            value => return Condition::Equals(field, self.nullable(field, value, path)),
        };
        if operators.is_empty() {
            self.problem(path, "must name an operator");
        }
        let mut all: Vec<Condition> = operators
            .iter()
            .map(|(operator, operand)| {
                self.operator(field, operator, operand, &format!("{path}/{operator}"))
            })
            .collect();
        if all.len() == 1 {
            all.remove(0)
        } else {
            Condition::All(all)
        }
    }

    fn operator(&mut self, field: Field, operator: &str, operand: &Value, path: &str) -> Condition {
        let compare = |parser: &mut Self, op| {
            parser
                .scalar(field, operand, path)
                .map_or(Condition::Nothing, |v| Condition::Compare(field, op, v))
        };
        match operator {
            "eq" => Condition::Equals(field, self.nullable(field, operand, path)),
            "neq" => Condition::NotEquals(field, self.nullable(field, operand, path)),
            "gt" => compare(self, Comparison::Gt),
            "gte" => compare(self, Comparison::Gte),
            "lt" => compare(self, Comparison::Lt),
            "lte" => compare(self, Comparison::Lte),
            "between" => match operand.as_array().map(Vec::as_slice) {
                Some([low, high]) => {
                    let low = self.scalar(field, low, &format!("{path}/0"));
                    let high = self.scalar(field, high, &format!("{path}/1"));
                    match (low, high) {
                        (Some(low), Some(high)) => Condition::Between(field, low, high),
                        _ => Condition::Nothing,
                    }
                }
                _ => {
                    self.problem(path, "must be an array of two values");
                    Condition::Nothing
                }
            },
            "inq" | "nin" => {
                // A single bracket value (`inq=a`) is a list of one.
                let single = std::slice::from_ref(operand);
                let items = if operand.is_array() {
                    self.list(operand, path)
                } else {
                    Some(single)
                };
                let values: Vec<Scalar> = items
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .filter_map(|(index, item)| {
                        self.scalar(field, item, &format!("{path}/{index}"))
                    })
                    .collect();
                if operator == "inq" {
                    Condition::In(field, values)
                } else {
                    Condition::NotIn(field, values)
                }
            }
            "like" | "nlike" | "ilike" | "nilike" => {
                let Some(pattern) = self.text_operand(field, operand, path) else {
                    return Condition::Nothing;
                };
                if ends_with_lone_escape(&pattern) {
                    self.problem(path, "must not end with an unescaped backslash");
                    return Condition::Nothing;
                }
                if pattern.chars().count() > MAX_PATTERN {
                    self.problem(path, format!("must be at most {MAX_PATTERN} characters"));
                    return Condition::Nothing;
                }
                Condition::Like {
                    field,
                    pattern,
                    negated: operator.starts_with('n'),
                    insensitive: operator.ends_with("ilike"),
                }
            }
            "regexp" => {
                let Some(text) = self.text_operand(field, operand, path) else {
                    return Condition::Nothing;
                };
                match regexp(&text) {
                    Ok(pattern) => Condition::Regexp(field, pattern),
                    Err(message) => {
                        self.problem(path, message);
                        Condition::Nothing
                    }
                }
            }
            other => {
                self.problem(path, format!("`{other}` is not an operator"));
                Condition::Nothing
            }
        }
    }

    fn text_operand(&mut self, field: Field, operand: &Value, path: &str) -> Option<String> {
        if field.kind() != Kind::Text {
            self.problem(
                path,
                format!(
                    "applies to text properties, and `{}` is not one",
                    field.name()
                ),
            );
            return None;
        }
        match operand {
            Value::String(text) => Some(text.clone()),
            _ => {
                self.problem(path, "must be a string");
                None
            }
        }
    }

    fn nullable(&mut self, field: Field, value: &Value, path: &str) -> Option<Scalar> {
        if value.is_null() {
            None
        } else {
            self.scalar(field, value, path)
        }
    }

    /// `value` as `field`'s type, coercing strings (bracket values always are strings).
    fn scalar(&mut self, field: Field, value: &Value, path: &str) -> Option<Scalar> {
        let scalar = match (field.kind(), value) {
            (Kind::Integer, Value::Number(number)) => number.as_i64().map(Scalar::Int),
            (Kind::Integer, Value::String(text)) => text.trim().parse().ok().map(Scalar::Int),
            (Kind::Text, Value::String(text)) => Some(Scalar::Text(text.clone())),
            (Kind::Text, Value::Number(number)) => Some(Scalar::Text(number.to_string())),
            (Kind::Text, Value::Bool(flag)) => Some(Scalar::Text(flag.to_string())),
            (Kind::Boolean, value) => boolean(value).map(Scalar::Bool),
            _ => None,
        };
        if scalar.is_none() {
            let expected = match field.kind() {
                Kind::Integer => "an integer",
                Kind::Text => "a string",
                Kind::Boolean => "a boolean",
            };
            self.problem(
                path,
                format!("must be {expected}, as `{}` is", field.name()),
            );
        }
        scalar
    }
}

/// `\\` escapes the next character in a LIKE pattern; one at the very end escapes nothing.
fn ends_with_lone_escape(pattern: &str) -> bool {
    pattern.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
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

/// The longest `like` pattern or `regexp` accepted, in characters: matching `%` followed by
/// n characters costs up to n steps per character of each text.
pub const MAX_PATTERN: usize = 256;

/// `"^a"` or JavaScript's `"/^a/i"` as a checked [`Pattern`] in the one dialect both engines
/// read alike ([`super::regexp`]). Only the `i` flag changes the match (`g` means nothing for
/// a filter); others are refused.
fn regexp(text: &str) -> Result<Pattern, String> {
    if text.chars().count() > MAX_PATTERN {
        return Err(format!("must be at most {MAX_PATTERN} characters"));
    }
    let (body, flags) = match text
        .strip_prefix('/')
        .and_then(|rest| rest.rsplit_once('/'))
    {
        Some((body, flags)) => (body, flags),
        None => (text, ""),
    };
    let mut case_insensitive = false;
    for flag in flags.chars() {
        match flag {
            'i' => case_insensitive = true,
            'g' => {}
            other => {
                return Err(format!(
                    "the regular expression flag `{other}` is not supported"
                ));
            }
        }
    }
    let source = super::regexp::canonical(body, case_insensitive)?;
    Ok(Pattern { source })
}
