//! The filter language as JSON Schema, for the OpenAPI document: what a client may put in
//! `filter` and `where`. Built from the same [`Field`]s and limits the parser uses, so the two
//! cannot disagree on a property or a bound. (Bracket values are strings the parser coerces;
//! these schemas describe the JSON form.)

use serde_json::{Value, json};

use super::{Field, Kind, parse::MAX_LIST, parse::MAX_PATTERN, query::MAX_DEPTH};

/// Where the `where` schema is in the document (it refers to itself through `and` / `or`).
pub const WHERE_REF: &str = "#/components/schemas/TodoWhere";

fn value_of(kind: Kind) -> Value {
    match kind {
        Kind::Integer => json!({"type": "integer", "format": "int64"}),
        Kind::Text => json!({"type": "string"}),
        Kind::Boolean => json!({"type": "boolean"}),
    }
}

/// `value`, or `null` (for a todo without the property).
fn or_null(value: &Value) -> Value {
    let mut nullable = value.clone();
    nullable["type"] = json!([value["type"], "null"]);
    nullable
}

/// The named schema of a condition on a property of `kind` (generated clients get one type
/// per kind rather than one per property).
pub fn condition_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Integer => "IntegerCondition",
        Kind::Text => "StringCondition",
        Kind::Boolean => "BooleanCondition",
    }
}

/// An object of operators on a property of `kind`, all of which apply.
pub fn condition_schema(kind: Kind) -> Value {
    let value = value_of(kind);
    let list = json!({"type": "array", "items": value, "maxItems": MAX_LIST});
    let mut operators = json!({
        "eq": or_null(&value),
        "neq": or_null(&value),
        "gt": value,
        "gte": value,
        "lt": value,
        "lte": value,
        "between": {"type": "array", "items": value, "minItems": 2, "maxItems": 2},
        "inq": list,
        "nin": list,
    });
    if kind == Kind::Text {
        let pattern = json!({"type": "string", "maxLength": MAX_PATTERN});
        for operator in ["like", "nlike", "ilike", "nilike", "regexp"] {
            operators[operator] = pattern.clone();
        }
    }
    json!({
        "type": "object",
        "description": "Operators on one property, all of which apply (give only those you need).",
        "minProperties": 1,
        "additionalProperties": false,
        "properties": operators,
    })
}

/// What one property may be compared with: a value (equality) or an object of operators.
fn condition(field: Field) -> Value {
    let name = condition_name(field.kind());
    json!({
        "anyOf": [
            or_null(&value_of(field.kind())),
            {"$ref": format!("#/components/schemas/{name}")},
        ],
    })
}

/// `where` (and a filter's `where`): properties, operators, `and` / `or`.
pub fn where_schema() -> Value {
    let branches = json!({"type": "array", "items": {"$ref": WHERE_REF}, "maxItems": MAX_LIST});
    let mut properties = json!({"and": branches, "or": branches});
    for field in Field::ALL {
        properties[field.name()] = condition(field);
    }
    json!({
        "type": "object",
        "description": format!(
            "LoopBack's where clause over the caller's todos: `{{\"prop\": value}}` (equality) or \
             `{{\"prop\": {{\"op\": value}}}}` with `eq`, `neq`, `gt`, `gte`, `lt`, `lte`, \
             `between` (inclusive), `inq`, `nin`, and for text `like`, `nlike`, `ilike`, \
             `nilike` (SQL LIKE, `\\` escapes) and `regexp` (`\"^a\"` or `\"/^a/i\"`); several \
             properties or operators all apply; `and` / `or` combine clauses. `neq`, `nin`, \
             `nlike`, `nilike` also match todos without the property. At most {MAX_LIST} items \
             per list and {MAX_DEPTH} levels of nesting."
        ),
        "additionalProperties": false,
        "properties": properties,
        "example": {"or": [{"isComplete": false}, {"title": {"ilike": "%milk%"}}]},
    })
}

/// A filter's `fields`: which properties to show.
pub fn fields_schema() -> Value {
    let names: Vec<&str> = Field::ALL.into_iter().map(Field::name).collect();
    let flags: serde_json::Map<String, Value> = names
        .iter()
        .map(|name| ((*name).to_owned(), json!({"type": "boolean"})))
        .collect();
    json!({
        "description": "The properties to show: `{\"title\": true}` (only those), \
                        `{\"desc\": false}` (all but those), or `[\"id\", \"title\"]`.",
        "anyOf": [
            {"type": "object", "additionalProperties": false, "properties": flags},
            {"type": "array", "items": {"type": "string", "enum": names}},
            {"type": "string", "enum": names},
        ],
    })
}

/// A filter's `order`.
pub fn order_schema() -> Value {
    json!({
        "description": "`\"<property> [ASC|DESC]\"`, a comma list of them, or an array; \
                        absent values sort first ascending, `id` breaks ties.",
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "maxItems": MAX_LIST},
        ],
    })
}

/// `filter` on a list (`with_where`) or on one todo (no `where`).
pub fn filter_schema(with_where: bool) -> Value {
    let mut properties = json!({
        "fields": {"$ref": "#/components/schemas/TodoFields"},
        "order": {"$ref": "#/components/schemas/TodoOrder"},
        "limit": {"type": "integer", "minimum": 1},
        "skip": {"type": "integer", "minimum": 0},
        "offset": {"type": "integer", "minimum": 0, "description": "`skip` wins over it"},
    });
    let mut example = json!({"fields": ["id", "title"], "order": "title DESC"});
    if with_where {
        properties["where"] = json!({"$ref": WHERE_REF});
        example = json!({"where": {"isComplete": false}, "order": "title DESC", "limit": 10});
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
        "example": example,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{filter_schema, where_schema};
    use crate::filter::parse::{self, Scope};

    /// `schema` with the document's components around it, so its `$ref`s resolve.
    fn validator(schema: &str) -> jsonschema::Validator {
        let root = json!({
            "$ref": format!("#/components/schemas/{schema}"),
            "components": {"schemas": {
                "TodoFilter": filter_schema(true),
                "OneTodoFilter": filter_schema(false),
                "TodoWhere": where_schema(),
                "TodoFields": super::fields_schema(),
                "TodoOrder": super::order_schema(),
                "StringCondition": super::condition_schema(super::Kind::Text),
                "IntegerCondition": super::condition_schema(super::Kind::Integer),
                "BooleanCondition": super::condition_schema(super::Kind::Boolean),
            }},
        });
        jsonschema::validator_for(&root).expect("the schemas compile")
    }

    /// What the parser says about `value` in `schema`'s place.
    fn parses(schema: &str, value: &Value) -> bool {
        match schema {
            "TodoFilter" => parse::filter(value, Scope::List, "").is_ok(),
            "OneTodoFilter" => parse::filter(value, Scope::One, "").is_ok(),
            _ => parse::condition(value, "").is_ok(),
        }
    }

    /// The schemas and the parser agree: on the schemas' own examples, on filters the README
    /// shows, and on mistakes (unknown keys and operators, bad bounds and types).
    #[test]
    fn the_schemas_accept_what_the_parser_accepts() {
        let cases = [
            ("TodoFilter", filter_schema(true)["example"].clone(), true),
            (
                "OneTodoFilter",
                filter_schema(false)["example"].clone(),
                true,
            ),
            ("TodoWhere", where_schema()["example"].clone(), true),
            (
                "TodoFilter",
                json!({"where": {"or": [{"isComplete": false}, {"title": {"ilike": "%milk%"}}]},
                       "order": "title DESC", "limit": 10, "fields": ["id", "title"]}),
                true,
            ),
            (
                "TodoFilter",
                json!({"fields": {"desc": false}, "skip": 0, "offset": 2}),
                true,
            ),
            (
                "TodoWhere",
                json!({"id": {"between": [1, 5]}, "desc": null}),
                true,
            ),
            (
                "TodoWhere",
                json!({"title": {"inq": ["a", "b"], "neq": "c"}}),
                true,
            ),
            ("TodoFilter", json!({"include": ["owner"]}), false),
            ("TodoFilter", json!({"limit": 0}), false),
            ("TodoFilter", json!({"fields": ["owner"]}), false),
            ("OneTodoFilter", json!({"where": {"id": 1}}), false),
            ("TodoWhere", json!({"title": {"near": "x"}}), false),
            ("TodoWhere", json!({"id": {"like": "1%"}}), false),
            ("TodoWhere", json!({"title": {"between": ["a"]}}), false),
            ("TodoWhere", json!({"and": {"id": 1}}), false),
            ("TodoWhere", json!({"isComplete": {}}), false),
        ];
        for (schema, value, valid) in cases {
            assert_eq!(
                validator(schema).is_valid(&value),
                valid,
                "{schema} {value}: the schema"
            );
            assert_eq!(
                parses(schema, &value),
                valid,
                "{schema} {value}: the parser"
            );
        }
    }
}
