//! Todos: the eight routes of LoopBack's `TodoController`, each scoped to the caller.

mod handlers;
mod model;
mod params;

pub use model::TodoLimits;
pub use params::{OneTodoFilter, TodoFilter, TodoWhere};

use axum::extract::FromRef;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::store::Store;

/// The filter schemas the routes' parameters refer to, as components of the document.
#[derive(OpenApi)]
#[openapi(components(schemas(TodoFilter, OneTodoFilter, TodoWhere)))]
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
{
    OpenApiRouter::with_openapi(FilterSchemas::openapi())
        .routes(routes!(
            handlers::create_todo,
            handlers::list_todos,
            handlers::patch_todos
        ))
        // A literal segment: it wins over `/todos/{id}`.
        .routes(routes!(handlers::count_todos))
        .routes(routes!(
            handlers::get_todo,
            handlers::replace_todo,
            handlers::patch_todo,
            handlers::delete_todo
        ))
}
