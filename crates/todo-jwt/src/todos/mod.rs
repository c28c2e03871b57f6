//! Todos: the eight routes of LoopBack's `TodoController`, each scoped to the caller, with
//! conditional requests (RFC 9110): an `ETag` on every read and write, 304 for a current
//! `If-None-Match`, 412 for a stale `If-Match`.

mod cache;
mod conditions;
mod etag;
mod handlers;
mod model;
mod params;
mod reads;

pub use model::TodoLimits;
pub use params::{
    BooleanCondition, IntegerCondition, OneTodoFilter, StringCondition, TodoFields, TodoFilter,
    TodoOrder, TodoWhere,
};

use axum::extract::FromRef;
use secrecy::SecretString;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{http::error::ApiError, store::Store};

/// What conditional requests on todos need, shared by every request.
#[derive(Clone, Debug)]
pub struct Revalidation {
    /// Makes and checks the entity tags.
    key: etag::TagKey,
    /// Serialised list answers, by user, query and version.
    answers: cache::AnswerCache,
    /// Whether a write without `If-Match` is a 428.
    require_if_match: bool,
}

impl Revalidation {
    /// Tags keyed by the service secret `secret` (every instance that shares it makes the
    /// same tags), `cache_bytes` of kept answers, and whether writes must carry `If-Match`.
    pub fn new(secret: &SecretString, cache_bytes: u64, require_if_match: bool) -> Self {
        Self {
            key: etag::TagKey::from_secret(secret),
            answers: cache::AnswerCache::new(cache_bytes),
            require_if_match,
        }
    }
}

/// 404 for the caller's todo `id`.
fn not_found(id: i64) -> ApiError {
    ApiError::EntityNotFound {
        model: "Todo",
        id: id.to_string(),
    }
}

/// The filter schemas the routes' parameters refer to, as components of the document.
#[derive(OpenApi)]
#[openapi(components(schemas(
    TodoFilter,
    OneTodoFilter,
    TodoWhere,
    TodoFields,
    TodoOrder,
    StringCondition,
    IntegerCondition,
    BooleanCondition
)))]
struct FilterSchemas;

/// The todo routes, over any state that holds the [`Store`]; all of them need an
/// authenticated caller.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Store: FromRef<S>,
    TodoLimits: FromRef<S>,
    crate::http::body::BodyLimits: FromRef<S>,
    crate::http::response::ResponseMemory: FromRef<S>,
    Revalidation: FromRef<S>,
{
    OpenApiRouter::with_openapi(FilterSchemas::openapi())
        .routes(routes!(
            handlers::create_todo,
            reads::list_todos,
            handlers::patch_todos
        ))
        // A literal segment: it wins over `/todos/{id}`.
        .routes(routes!(reads::count_todos))
        .routes(routes!(
            reads::get_todo,
            handlers::replace_todo,
            handlers::patch_todo,
            handlers::delete_todo
        ))
}
