//! Request body schemas: each declared once ([`json_body_schema!`]) for both validation and
//! the OpenAPI document, compiled once, and the problems a validation finds worded as AJV
//! (LoopBack's validator) words them.
//!
//! Apart from the reading of bodies in [`super`] (content type, size, time, memory): this is
//! what a body is checked against, and it is also used by the endpoints that read their bodies
//! themselves (the token endpoint, the LoopBack import).

use jsonschema::{
    ValidationError, Validator,
    error::{TypeKind, ValidationErrorKind},
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::http::error::{ApiError, MAX_DETAILS, ValidationDetail};

/// A request body type with the JSON Schema it is checked against.
pub trait BodySchema: DeserializeOwned {
    /// The compiled schema (build it once, in a `LazyLock`, with [`compile`]).
    fn validator() -> &'static Validator;
}

/// Declares the JSON Schema of a request body type, once, for both of its uses: validation
/// ([`BodySchema`]) and the OpenAPI document (utoipa's `ToSchema`), so what is documented is
/// exactly what is enforced.
///
/// `documented_only: "keyword", ...` names top-level keywords the validator skips because the
/// handler enforces them itself, with the status LoopBack answers (a patch's `minProperties`:
/// `{}` is LoopBack's 400, not a schema's 422).
macro_rules! json_body_schema {
    ($type:ty, $schema:expr) => {
        $crate::http::body::json_body_schema!($type, $schema, documented_only:);
    };
    ($type:ty, $schema:expr, documented_only: $($keyword:literal),*) => {
        impl $crate::http::body::BodySchema for $type {
            fn validator() -> &'static jsonschema::Validator {
                static VALIDATOR: std::sync::LazyLock<jsonschema::Validator> =
                    std::sync::LazyLock::new(|| {
                        $crate::http::body::compile(&$crate::http::body::without($schema, &[$($keyword),*]))
                    });
                &VALIDATOR
            }
        }

        impl utoipa::PartialSchema for $type {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::http::body::document(&$schema)
            }
        }

        impl utoipa::ToSchema for $type {}
    };
}
pub(crate) use json_body_schema;

/// A schema written in this crate as an OpenAPI schema object.
pub fn document(schema: &Value) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    // A bug in a schema written in this crate, found by the first test that documents it.
    serde_json::from_value(schema.clone()).expect("a built-in schema is an OpenAPI schema")
}

/// `schema` without the top-level `keywords`.
pub fn without(mut schema: Value, keywords: &[&str]) -> Value {
    if let Some(object) = schema.as_object_mut() {
        for keyword in keywords {
            object.remove(*keyword);
        }
    }
    schema
}

/// Compiles a schema written in this crate; a broken one is a bug found by the first test.
pub fn compile(schema: &Value) -> Validator {
    jsonschema::options()
        .should_validate_formats(true)
        // An address, not `Name <address>`: a display name would slip past the uniqueness of
        // addresses and into the text of the service's mail.
        .with_email_options(jsonschema::EmailOptions::default().without_display_text())
        .build(schema)
        .expect("a built-in schema compiles")
}

/// Validates `value`, listing its problems as LoopBack does, up to [`MAX_DETAILS`] of them.
pub fn validate(validator: &Validator, value: &Value) -> Result<(), ApiError> {
    let details: Vec<_> = validator
        .iter_errors(value)
        .flat_map(|error| detail(&error))
        .take(MAX_DETAILS)
        .collect();
    if details.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(details))
    }
}

fn detail(error: &ValidationError<'_>) -> Vec<ValidationDetail> {
    let path = error.instance_path().as_str().to_owned();
    let one = |code: &str, message: String, info: Value| ValidationDetail {
        path: path.clone(),
        code: code.to_owned(),
        message,
        info,
    };
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let property = property.as_str().unwrap_or_default();
            vec![one(
                "required",
                format!("must have required property '{property}'"),
                json!({ "missingProperty": property }),
            )]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .take(MAX_DETAILS)
            .map(|name| {
                one(
                    "additionalProperties",
                    "must NOT have additional properties".to_owned(),
                    json!({ "additionalProperty": name }),
                )
            })
            .collect(),
        ValidationErrorKind::MinLength { limit } => vec![one(
            "minLength",
            format!("must NOT have fewer than {limit} characters"),
            json!({ "limit": limit }),
        )],
        ValidationErrorKind::MaxLength { limit } => vec![one(
            "maxLength",
            format!("must NOT have more than {limit} characters"),
            json!({ "limit": limit }),
        )],
        ValidationErrorKind::Format { format } => vec![one(
            "format",
            format!("must match format \"{format}\""),
            json!({ "format": format }),
        )],
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(kind) => kind.to_string(),
                TypeKind::Multiple(kinds) => kinds
                    .iter()
                    .map(|kind| kind.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            };
            vec![one(
                "type",
                format!("must be {expected}"),
                json!({ "type": expected }),
            )]
        }
        _ => {
            let keyword = error
                .schema_path()
                .as_str()
                .rsplit('/')
                .next()
                .unwrap_or_default();
            vec![one(keyword, error.to_string(), json!({}))]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Validator {
        compile(&json!({
            "type": "object",
            "required": ["email", "password"],
            "additionalProperties": false,
            "properties": {
                "email": {"type": "string", "format": "email"},
                "password": {"type": "string", "minLength": 8},
            }
        }))
    }

    fn details(value: Value) -> Vec<ValidationDetail> {
        match validate(&schema(), &value) {
            Err(ApiError::Validation(details)) => details,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn every_problem_is_listed_with_a_json_pointer_and_ajv_info() {
        let found = details(json!({"email": "nope", "password": "short", "role": "admin"}));
        let mut codes: Vec<_> = found
            .iter()
            .map(|d| (d.path.as_str(), d.code.as_str()))
            .collect();
        codes.sort_unstable();
        assert_eq!(
            codes,
            [
                ("", "additionalProperties"),
                ("/email", "format"),
                ("/password", "minLength")
            ]
        );
        let min = found
            .iter()
            .find(|d| d.code == "minLength")
            .expect("minLength");
        assert_eq!(min.info, json!({"limit": 8}));
        assert_eq!(min.message, "must NOT have fewer than 8 characters");
    }

    #[test]
    fn a_missing_property_and_a_wrong_type_are_named() {
        let found = details(json!({"password": 12345678}));
        assert!(
            found
                .iter()
                .any(|d| d.code == "required" && d.info == json!({"missingProperty": "email"}))
        );
        assert!(
            found
                .iter()
                .any(|d| d.path == "/password" && d.info == json!({"type": "string"}))
        );
        assert_eq!(details(Value::Null)[0].code, "type");
    }
}
