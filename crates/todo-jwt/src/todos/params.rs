//! Extractors for the todo routes' path and query parameters.

use std::borrow::Cow;

use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
};
use utoipa::{
    IntoParams, PartialSchema, ToSchema,
    openapi::{
        Ref, RefOr, Required, Type,
        path::{Parameter, ParameterBuilder, ParameterIn},
        schema::{ObjectBuilder, Schema},
    },
};

use crate::{
    filter::{
        Condition, Filter,
        parse::{self, Scope},
        query::parameter_tree,
        schema::{filter_schema, where_schema},
    },
    http::body,
    http::error::ApiError,
};

/// The `{id}` of `/todos/{id}`: an integer, or 400 in LoopBack's words.
#[derive(Debug, Clone, Copy)]
pub struct TodoId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for TodoId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::bad_request("INVALID_PARAMETER_VALUE", rejection.body_text())
            })?;
        raw.parse().map(TodoId).map_err(|_| {
            ApiError::bad_request(
                "INVALID_PARAMETER_VALUE",
                format!("Invalid data {raw:?} for parameter \"id\"."),
            )
        })
    }
}

/// `?filter=` on `GET /todos`.
#[derive(Debug)]
pub struct ListFilter(pub Filter);

/// `?filter=` on `GET /todos/{id}` (no `where`).
#[derive(Debug)]
pub struct OneFilter(pub Filter);

/// `?where=` on `GET /todos/count` and `PATCH /todos`.
#[derive(Debug)]
pub struct Where(pub Option<Condition>);

fn filter(parts: &Parts, scope: Scope) -> Result<Filter, ApiError> {
    match parameter_tree(parts.uri.query(), "filter")? {
        Some(tree) => Ok(parse::filter(&tree, scope, &tree.to_string())?),
        None => Ok(Filter::default()),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListFilter {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        filter(parts, Scope::List).map(Self)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OneFilter {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        filter(parts, Scope::One).map(Self)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Where {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parameter_tree(parts.uri.query(), "where")? {
            Some(tree) => Ok(Self(Some(parse::condition(&tree, &tree.to_string())?))),
            None => Ok(Self(None)),
        }
    }
}

/// The query parameter `name`: a string holding JSON that `content` describes. A string, not
/// an object: client generators drop or flatten object-valued query parameters.
fn json_parameter(name: &str, content: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .content_media_type("application/json")
                .content_schema(Some(Ref::from_schema_name(content))),
        ))
        .build()
}

// No parameter has an `example`: the explorer would pre-fill it, and a newcomer who runs
// "Try it out" would see only the todos it selects.

impl IntoParams for ListFilter {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![json_parameter(
            "filter",
            TodoFilter::NAME,
            "LoopBack's filter (`TodoFilter`): URL-encoded JSON such as \
             `{\"where\":{\"isComplete\":false},\"order\":\"title DESC\",\"limit\":10}`, or \
             bracket form (`filter[where][isComplete]=false&filter[limit]=10`). Keys: `where`, \
             `fields`, `order`, `limit`, `skip`, `offset`. Without it, every todo of the caller.",
        )]
    }
}

impl IntoParams for OneFilter {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![json_parameter(
            "filter",
            OneTodoFilter::NAME,
            "LoopBack's filter without `where` (`OneTodoFilter`): `fields` selects properties, \
             e.g. `{\"fields\":{\"title\":true}}` or `filter[fields][title]=true`.",
        )]
    }
}

impl IntoParams for Where {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![json_parameter(
            "where",
            TodoWhere::NAME,
            "LoopBack's where clause (`TodoWhere`): URL-encoded JSON such as \
             `{\"isComplete\":false}`, or bracket form (`where[isComplete]=false`). Without it, \
             every todo of the caller.",
        )]
    }
}

/// Declares a component schema written as JSON: the content of a `filter` or `where`.
macro_rules! content_schema {
    ($(#[$meta:meta])* $name:ident, $schema:expr) => {
        $(#[$meta])*
        pub struct $name;

        impl $name {
            const NAME: &str = stringify!($name);
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                body::document(&$schema)
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(Self::NAME)
            }
        }
    };
}

content_schema!(
    /// `filter` on `GET /todos`.
    TodoFilter,
    filter_schema(true)
);
content_schema!(
    /// `filter` on `GET /todos/{id}`: no `where`.
    OneTodoFilter,
    filter_schema(false)
);
content_schema!(
    /// `where`, alone or in a filter.
    TodoWhere,
    where_schema()
);
content_schema!(
    /// A filter's `fields`.
    TodoFields,
    crate::filter::schema::fields_schema()
);
content_schema!(
    /// A filter's `order`.
    TodoOrder,
    crate::filter::schema::order_schema()
);
content_schema!(
    /// Operators on `title` or `desc`.
    StringCondition,
    crate::filter::schema::condition_schema(crate::filter::Kind::Text)
);
content_schema!(
    /// Operators on `id`.
    IntegerCondition,
    crate::filter::schema::condition_schema(crate::filter::Kind::Integer)
);
content_schema!(
    /// Operators on `isComplete`.
    BooleanCondition,
    crate::filter::schema::condition_schema(crate::filter::Kind::Boolean)
);
