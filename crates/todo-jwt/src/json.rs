//! Checks over client JSON shared by bodies and filters.

use serde_json::Value;

/// The JSON pointer of the first string (value or key) in `value` that contains a NUL
/// character, if any.
///
/// NUL is refused in every body and filter, on both backends: PostgreSQL cannot store it in
/// text (its driver fails the statement), SQLite can, and the same request must get the same
/// answer on either.
pub fn nul_path(value: &Value) -> Option<String> {
    fn walk(value: &Value, path: &mut String) -> bool {
        match value {
            Value::String(text) => text.contains('\0'),
            Value::Array(items) => items.iter().enumerate().any(|(index, item)| {
                let length = path.len();
                path.push('/');
                path.push_str(&index.to_string());
                let found = walk(item, path);
                if !found {
                    path.truncate(length);
                }
                found
            }),
            Value::Object(map) => map.iter().any(|(key, item)| {
                let length = path.len();
                path.push('/');
                // RFC 6901: `~` and `/` in a key are escaped.
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                let found = key.contains('\0') || walk(item, path);
                if !found {
                    path.truncate(length);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then_some(path)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_nul_in_values_and_keys_anywhere() {
        assert_eq!(
            nul_path(&json!({"title": "fine", "desc": "a\u{0}b"})),
            Some("/desc".into())
        );
        assert_eq!(
            nul_path(&json!({"or": [{"title": "x"}, {"title": {"like": "\u{0}"}}]})),
            Some("/or/1/title/like".into())
        );
        assert_eq!(nul_path(&json!({"a/b\u{0}": 1})), Some("/a~1b\u{0}".into()));
        assert_eq!(
            nul_path(&json!({"title": "no nul here", "n": [1, 2, null]})),
            None
        );
    }
}
