//! The reference evaluator: the filter language's meaning, written plainly over records in
//! memory. The property test checks that the SQL the compiler writes agrees with it. It knows
//! records only through [`Fields`] (the store's todo implements it), so the filter language
//! depends on nothing.

use std::cmp::Ordering;

use super::{Comparison, Condition, Field, Filter, Scalar};
/// A record the filter language reads: the value of each field.
pub trait Fields {
    /// The value of `field`, `None` when absent.
    fn value(&self, field: Field) -> Option<Scalar>;
}

impl<T: Fields> Fields for &T {
    fn value(&self, field: Field) -> Option<Scalar> {
        (**self).value(field)
    }
}

fn value(todo: &impl Fields, field: Field) -> Option<Scalar> {
    todo.value(field)
}

fn text(todo: &impl Fields, field: Field) -> Option<String> {
    match value(todo, field) {
        Some(Scalar::Text(text)) => Some(text),
        _ => None,
    }
}

/// Whether `todo` satisfies `condition`.
pub fn matches(condition: &Condition, todo: &impl Fields) -> bool {
    match condition {
        Condition::All(parts) => parts.iter().all(|part| matches(part, todo)),
        Condition::Any(parts) => parts.iter().any(|part| matches(part, todo)),
        Condition::Equals(field, expected) => value(todo, *field) == *expected,
        Condition::NotEquals(field, None) => value(todo, *field).is_some(),
        Condition::NotEquals(field, Some(expected)) => {
            value(todo, *field).as_ref() != Some(expected)
        }
        Condition::Compare(field, comparison, bound) => value(todo, *field).is_some_and(|actual| {
            let ordering = actual.cmp(bound);
            match comparison {
                Comparison::Gt => ordering == Ordering::Greater,
                Comparison::Gte => ordering != Ordering::Less,
                Comparison::Lt => ordering == Ordering::Less,
                Comparison::Lte => ordering != Ordering::Greater,
            }
        }),
        Condition::Between(field, low, high) => {
            value(todo, *field).is_some_and(|actual| &actual >= low && &actual <= high)
        }
        Condition::In(field, values) => {
            value(todo, *field).is_some_and(|actual| values.contains(&actual))
        }
        Condition::NotIn(field, values) => {
            value(todo, *field).is_none_or(|actual| !values.contains(&actual))
        }
        Condition::Like {
            field,
            pattern,
            negated,
            insensitive,
        } => match text(todo, *field) {
            None => *negated,
            Some(actual) => {
                let hit = if *insensitive {
                    like(&actual.to_ascii_lowercase(), &pattern.to_ascii_lowercase())
                } else {
                    like(&actual, pattern)
                };
                hit != *negated
            }
        },
        Condition::Regexp(field, pattern) => text(todo, *field).is_some_and(|actual| {
            regex::Regex::new(&pattern.source).is_ok_and(|regex| regex.is_match(&actual))
        }),
        Condition::Nothing => false,
    }
}

/// SQL LIKE: `%` any run, `_` any one character, `\` makes the next one literal.
pub fn like(text: &str, pattern: &str) -> bool {
    enum Token {
        Any,
        One,
        Literal(char),
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '%' => Token::Any,
            '_' => Token::One,
            '\\' => Token::Literal(chars.next().unwrap_or('\\')),
            c => Token::Literal(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // reachable[j]: the first j characters of the text match the tokens seen so far.
    let mut reachable = vec![false; text.len() + 1];
    reachable[0] = true;
    for token in &tokens {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            match token {
                Token::Any => next[j] = reachable[j] || (j > 0 && next[j - 1]),
                Token::One => next[j] = j > 0 && reachable[j - 1],
                Token::Literal(c) => next[j] = j > 0 && reachable[j - 1] && text[j - 1] == *c,
            }
        }
        reachable = next;
    }
    reachable[text.len()]
}

/// What `GET /todos` should answer for `filter` over `todos` (given in id order).
pub fn apply<T: Fields + Clone>(filter: &Filter, todos: &[T]) -> Vec<T> {
    let mut selected: Vec<T> = todos
        .iter()
        .filter(|todo| {
            filter
                .condition
                .as_ref()
                .is_none_or(|condition| matches(condition, *todo))
        })
        .cloned()
        .collect();
    selected.sort_by(|a, b| {
        filter
            .order
            .iter()
            .map(|order| {
                // `Option`'s order puts `None` first: absent is the smallest value.
                let ordering = value(a, order.field).cmp(&value(b, order.field));
                if order.descending {
                    ordering.reverse()
                } else {
                    ordering
                }
            })
            .find(|ordering| ordering.is_ne())
            .unwrap_or_else(|| value(a, Field::Id).cmp(&value(b, Field::Id)))
    });
    let skip = usize::try_from(filter.skip).unwrap_or(usize::MAX);
    let limit = filter.limit.map_or(usize::MAX, |limit| {
        usize::try_from(limit).unwrap_or(usize::MAX)
    });
    selected.into_iter().skip(skip).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_follows_sql() {
        assert!(like("abc", "a%"));
        assert!(like("abc", "%c"));
        assert!(like("abc", "_b_"));
        assert!(!like("abc", "_b"));
        assert!(!like("abc", "A%"), "case-sensitive");
        assert!(like("", "%"));
        assert!(like("50%", "50\\%"));
        assert!(!like("500", "50\\%"));
        assert!(like("a_b", "a\\_b"));
        assert!(!like("axb", "a\\_b"));
    }
}
