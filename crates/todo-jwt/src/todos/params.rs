//! Extractors for the todo routes' path and query parameters.

use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
};

use crate::{
    error::ApiError,
    filter::{
        Condition, Filter,
        parse::{self, Scope},
        query::parameter_tree,
    },
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
