//! From a query string to the JSON tree of one parameter, in either of LoopBack's encodings:
//! `?filter=<url-encoded JSON>` or brackets (`?filter[where][title][inq][0]=a`).

use serde_json::{Map, Value};

use super::{FilterError, Problem};

/// How deep a parameter may nest (objects and arrays); deeper is refused.
pub const MAX_DEPTH: usize = 12;

/// The tree of parameter `name`, or `None` when the query does not mention it.
pub fn parameter_tree(
    query: Option<&str>,
    name: &'static str,
) -> Result<Option<Value>, FilterError> {
    let Some(query) = query else { return Ok(None) };
    let mut json: Option<(String, Value)> = None;
    let mut brackets: Option<Value> = None;
    let refuse = |value: String, path: &str, message: String| FilterError {
        parameter: name,
        value,
        problems: vec![Problem::new(path, message)],
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key == name {
            if value.trim().is_empty() {
                continue;
            }
            if json.is_some() {
                return Err(refuse(
                    value.into_owned(),
                    "",
                    "the parameter is given twice".into(),
                ));
            }
            let tree = serde_json::from_str(&value).map_err(|error| {
                refuse(value.to_string(), "", format!("is not valid JSON: {error}"))
            })?;
            json = Some((value.into_owned(), tree));
        } else if let Some(rest) = key.strip_prefix(name).filter(|rest| rest.starts_with('[')) {
            let segments = segments(rest).ok_or_else(|| {
                refuse(
                    key.to_string(),
                    "",
                    format!("`{key}` is not a valid bracket name"),
                )
            })?;
            let tree = brackets.get_or_insert_with(|| Value::Object(Map::new()));
            insert(tree, &segments, value.into_owned())
                .map_err(|message| refuse(key.to_string(), &pointer(&segments), message))?;
        }
    }
    let (raw, tree) = match (json, brackets) {
        (None, None) => return Ok(None),
        (Some(_), Some(tree)) => {
            let message = "mixes the JSON and the bracket encodings".to_owned();
            return Err(refuse(tree.to_string(), "", message));
        }
        (Some((raw, tree)), None) => (raw, tree),
        (None, Some(tree)) => {
            let tree = arrays_from_indices(tree);
            (tree.to_string(), tree)
        }
    };
    if depth(&tree) > MAX_DEPTH {
        return Err(refuse(
            raw,
            "",
            format!("is nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    if let Some(path) = crate::json::nul_path(&tree) {
        return Err(refuse(raw, &path, "must not contain NUL characters".into()));
    }
    Ok(Some(tree))
}

/// `[a][b][]` -> `["a", "b", ""]`; `None` for anything else.
fn segments(mut rest: &str) -> Option<Vec<String>> {
    let mut segments = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        segments.push(inner[..end].to_owned());
        rest = &inner[end + 1..];
        if segments.len() > MAX_DEPTH + 1 {
            return None;
        }
    }
    Some(segments)
}

fn pointer(segments: &[String]) -> String {
    segments
        .iter()
        .map(|segment| format!("/{segment}"))
        .collect()
}

/// Puts `value` at `segments` in `tree`; an empty segment appends (`inq[]=a&inq[]=b`).
fn insert(tree: &mut Value, segments: &[String], value: String) -> Result<(), String> {
    let Value::Object(map) = tree else {
        return Err("is given both as a value and as an object".into());
    };
    let (first, rest) = segments.split_first().ok_or("has an empty name")?;
    let key = if first.is_empty() {
        map.len().to_string()
    } else {
        first.clone()
    };
    if rest.is_empty() {
        if map.insert(key, Value::String(value)).is_some() {
            return Err("is given twice".into());
        }
        return Ok(());
    }
    let child = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    insert(child, rest, value)
}

/// Objects whose keys are all indices (`{"0":a,"1":b}`) become arrays, in index order.
fn arrays_from_indices(tree: Value) -> Value {
    match tree {
        Value::Object(map) => {
            let indexed: Option<Vec<(usize, Value)>> = map
                .iter()
                .map(|(key, value)| {
                    key.parse::<usize>()
                        .ok()
                        .map(|index| (index, value.clone()))
                })
                .collect();
            match indexed {
                Some(mut items) if !items.is_empty() => {
                    items.sort_by_key(|(index, _)| *index);
                    Value::Array(
                        items
                            .into_iter()
                            .map(|(_, value)| arrays_from_indices(value))
                            .collect(),
                    )
                }
                _ => Value::Object(
                    map.into_iter()
                        .map(|(key, value)| (key, arrays_from_indices(value)))
                        .collect(),
                ),
            }
        }
        other => other,
    }
}

/// Nesting depth: 0 for a scalar, one more per object or array.
pub fn depth(tree: &Value) -> usize {
    match tree {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tree(query: &str) -> Value {
        parameter_tree(Some(query), "filter")
            .expect("valid")
            .expect("present")
    }

    #[test]
    fn json_and_bracket_forms_give_the_same_tree_shape() {
        assert_eq!(
            tree("filter=%7B%22where%22%3A%7B%22isComplete%22%3Afalse%7D%2C%22limit%22%3A2%7D"),
            json!({"where": {"isComplete": false}, "limit": 2})
        );
        assert_eq!(
            tree("filter[where][isComplete]=false&filter[limit]=2"),
            json!({"where": {"isComplete": "false"}, "limit": "2"})
        );
    }

    #[test]
    fn indices_and_empty_brackets_make_arrays() {
        assert_eq!(
            tree("filter[where][title][inq][1]=b&filter[where][title][inq][0]=a"),
            json!({"where": {"title": {"inq": ["a", "b"]}}})
        );
        assert_eq!(
            tree("filter[order][]=title&filter[order][]=id"),
            json!({"order": ["title", "id"]})
        );
    }

    #[test]
    fn other_parameters_are_ignored_and_absence_is_none() {
        assert_eq!(
            parameter_tree(Some("where[title]=x&x=1"), "filter").expect("ok"),
            None
        );
        assert_eq!(parameter_tree(None, "filter").expect("ok"), None);
        let value = parameter_tree(Some("where[title]=x"), "where").expect("ok");
        assert_eq!(value, Some(json!({"title": "x"})));
    }

    #[test]
    fn broken_input_is_refused_with_a_reason() {
        for query in [
            "filter={not json",
            "filter[where]=1&filter[where][a]=2",
            "filter[limit]=1&filter[limit]=2",
            "filter[where=1",
            "filter={}&filter[limit]=1",
        ] {
            let error = parameter_tree(Some(query), "filter").expect_err(query);
            assert_eq!(error.parameter, "filter");
            assert!(!error.problems.is_empty(), "{query}");
        }
    }

    #[test]
    fn trees_deeper_than_the_limit_are_refused() {
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        let query = format!("filter={deep}");
        assert!(parameter_tree(Some(&query), "filter").is_ok());
        let query = format!("filter=[{deep}]");
        let error = parameter_tree(Some(&query), "filter").expect_err("too deep");
        assert!(error.problems[0].message.contains("deeper"));
    }
}
