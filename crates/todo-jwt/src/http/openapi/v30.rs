//! The document in OpenAPI 3.0.3, for tools that read no 3.1 (progenitor, oapi-codegen, older
//! generators): rewritten from the 3.1 document, so both always describe the same routes.
//!
//! 3.1's JSON Schema becomes 3.0's dialect: `type: [T, "null"]` and an `anyOf` branch of
//! `null` become `nullable`, `const` an `enum` of one, a schema's `examples` its `example`,
//! numeric `exclusiveMinimum`/`exclusiveMaximum` the boolean forms, and a `$ref` with other
//! keywords beside it an `allOf` (3.0 ignores a `$ref`'s siblings). What 3.0 has no word for
//! (`contentMediaType`, the license's `identifier`, a `$ref`'s `description`) is left out.

use serde_json::{Map, Value, json};

/// The 3.0.3 rendering of the 3.1 document `document`.
pub fn render(document: &Value) -> Value {
    let mut rendered = document.clone();
    rendered["openapi"] = json!("3.0.3");
    if let Some(object) = rendered.as_object_mut() {
        object.remove("jsonSchemaDialect");
        object.remove("webhooks");
    }
    if let Some(info) = rendered.get_mut("info").and_then(Value::as_object_mut) {
        info.remove("summary");
        if let Some(license) = info.get_mut("license").and_then(Value::as_object_mut) {
            license.remove("identifier");
        }
    }
    rewrite(&mut rendered);
    rendered
}

/// Rewrites every object under `value`, innermost first.
fn rewrite(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(rewrite),
        Value::Object(object) => {
            json_parameter(object);
            object.values_mut().for_each(rewrite);
            rewrite_object(object);
        }
        _ => {}
    }
}

/// A parameter whose string holds JSON (`contentMediaType` and `contentSchema`, which 3.0
/// lacks) as 3.0 says it: `content` with the media type and the schema of the JSON.
fn json_parameter(object: &mut Map<String, Value>) {
    if !object.contains_key("in") {
        return;
    }
    let Some(schema) = object.get("schema") else {
        return;
    };
    let (Some(Value::String(media)), Some(inner)) =
        (schema.get("contentMediaType"), schema.get("contentSchema"))
    else {
        return;
    };
    let content = json!({ media.clone(): { "schema": inner.clone() } });
    object.remove("schema");
    object.insert("content".into(), content);
}

fn rewrite_object(object: &mut Map<String, Value>) {
    // Keywords of 3.1's JSON Schema that 3.0 does not know.
    object.remove("contentMediaType");
    object.remove("contentEncoding");
    object.remove("$schema");
    if let Some(Value::Array(types)) = object.get("type").cloned() {
        let nullable = types.iter().any(|kind| kind == "null");
        let kinds: Vec<Value> = types.into_iter().filter(|kind| kind != "null").collect();
        match kinds.as_slice() {
            [one] => {
                object.insert("type".into(), one.clone());
            }
            _ => {
                object.remove("type");
                let branches = kinds
                    .into_iter()
                    .map(|kind| json!({ "type": kind }))
                    .collect();
                object.insert("anyOf".into(), Value::Array(branches));
            }
        }
        if nullable {
            object.insert("nullable".into(), json!(true));
        }
    }
    for combinator in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = object.get_mut(combinator) {
            let before = branches.len();
            branches.retain(|branch| branch != &json!({"type": "null"}));
            if branches.len() < before {
                object.insert("nullable".into(), json!(true));
            }
        }
    }
    if let Some(constant) = object.remove("const") {
        object.insert("enum".into(), json!([constant]));
    }
    // A schema's `examples` is a list; a media type's or a parameter's is a map (kept).
    if let Some(Value::Array(examples)) = object.get("examples") {
        let first = examples.first().cloned();
        object.remove("examples");
        if let Some(example) = first {
            object.insert("example".into(), example);
        }
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(limit) = object
            .get(exclusive)
            .filter(|limit| limit.is_number())
            .cloned()
        {
            object.insert(bound.into(), limit);
            object.insert(exclusive.into(), json!(true));
        }
    }
    if object.contains_key("$ref") && object.len() > 1 {
        object.remove("description");
        object.remove("summary");
        if object.len() > 1 {
            // A schema with more than its reference: the reference as one of all that apply.
            let reference = object.remove("$ref").unwrap_or_default();
            object.insert("allOf".into(), json!([{ "$ref": reference }]));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::render;

    #[test]
    fn json_schema_of_3_1_becomes_the_dialect_of_3_0() {
        let document = json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1", "license": {"name": "MIT", "identifier": "MIT"}},
            "paths": {"/p": {"get": {"parameters": [{
                "name": "filter", "in": "query",
                "schema": {"type": "string", "contentMediaType": "application/json",
                           "contentSchema": {"$ref": "#/components/schemas/A"}},
            }]}}},
            "components": {"schemas": {
                "A": {"type": ["string", "null"], "examples": ["x"], "const": "x"},
                "B": {"anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "null"}]},
                "C": {"$ref": "#/components/schemas/A", "description": "dropped"},
                "D": {"$ref": "#/components/schemas/A", "nullable": true},
                "E": {"type": "integer", "exclusiveMinimum": 0},
                "F": {"type": ["string", "integer"]},
            }},
        });
        let rendered = render(&document);
        let schemas = &rendered["components"]["schemas"];
        assert_eq!(rendered["openapi"], "3.0.3");
        assert_eq!(
            rendered["paths"]["/p"]["get"]["parameters"][0],
            json!({"name": "filter", "in": "query", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/A"}}}})
        );
        assert!(rendered["info"]["license"].get("identifier").is_none());
        assert_eq!(
            schemas["A"],
            json!({"type": "string", "nullable": true, "example": "x", "enum": ["x"]})
        );
        assert_eq!(
            schemas["B"],
            json!({"anyOf": [{"$ref": "#/components/schemas/A"}], "nullable": true})
        );
        assert_eq!(schemas["C"], json!({"$ref": "#/components/schemas/A"}));
        assert_eq!(
            schemas["D"],
            json!({"allOf": [{"$ref": "#/components/schemas/A"}], "nullable": true})
        );
        assert_eq!(
            schemas["E"],
            json!({"type": "integer", "minimum": 0, "exclusiveMinimum": true})
        );
        assert_eq!(
            schemas["F"],
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
    }
}
