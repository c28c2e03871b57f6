//! Todos: the eight routes of LoopBack's `TodoController`, each scoped to the caller.

mod handlers;
mod model;
mod params;

use axum::{
    Router,
    routing::{get, post},
};

use crate::app::AppState;

/// The todo routes; all of them need an authenticated caller.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/todos",
            post(handlers::create_todo)
                .get(handlers::list_todos)
                .patch(handlers::patch_todos),
        )
        // A literal segment: it wins over `/todos/{id}`.
        .route("/todos/count", get(handlers::count_todos))
        .route(
            "/todos/{id}",
            get(handlers::get_todo)
                .put(handlers::replace_todo)
                .patch(handlers::patch_todo)
                .delete(handlers::delete_todo),
        )
}
