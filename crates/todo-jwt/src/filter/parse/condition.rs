//! The `where` part of the language: from a JSON tree to a [`Condition`], through `and`/`or`,
//! properties and their operators, with each operand coerced to its property's type.
//!
//! Apart from the filter's other keys in [`super`] (`fields`, `order`, `limit`, `skip`),
//! because a condition is a grammar of its own, and the only part that checks patterns and
//! regular expressions.

use serde_json::Value;

use super::{MAX_LIST, Parser, boolean};
use crate::filter::{Comparison, Condition, Field, Kind, Pattern, Scalar};

impl Parser {
    pub(super) fn condition(&mut self, value: &Value, path: &str) -> Condition {
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

/// The longest `like` pattern or `regexp` accepted, in characters: matching `%` followed by
/// n characters costs up to n steps per character of each text.
pub const MAX_PATTERN: usize = 256;

/// `"^a"` or JavaScript's `"/^a/i"` as a checked [`Pattern`] in the one dialect both engines
/// read alike ([`crate::filter::regexp`]). Only the `i` flag changes the match (`g` means
/// nothing for a filter); others are refused.
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
    let source = crate::filter::regexp::canonical(body, case_insensitive)?;
    Ok(Pattern { source })
}
