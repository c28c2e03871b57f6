//! Thin handlers: the caller, the parameters, one store call, the answer.

use authn::CurrentUser;
use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use std::ops::ControlFlow;

use super::{
    model::{
        BulkTodoPatch, Count, NewTodo, PartialTodo, Shown, TodoLimits, TodoPatch, TodoReplacement,
        TodoSchema,
    },
    params::{ListFilter, OneFilter, TodoId, Where},
};
use crate::{
    filter::{Condition, Filter},
    http::body::JsonBody,
    http::error::{ApiError, Result},
    http::openapi::{BadRequest, JsonBodyErrors, NotFound, ServiceUnavailable, Unauthorized},
    http::response::ResponseMemory,
    store::{Store, StoreError, TodoChanges},
};

/// A 200 response with a JSON body written by hand.
fn json_bytes(body: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn shown(todo: Shown<'_>) -> Response {
    let mut body = Vec::with_capacity(256);
    todo.write_json(&mut body);
    json_bytes(body)
}

/// Applies `changes` to the owner's todo `id`: 204, or 404 when there is no such todo.
async fn update_one(
    store: &Store,
    owner: &str,
    id: i64,
    changes: TodoChanges,
) -> Result<StatusCode> {
    match store
        .todos()
        .update(owner, Some(&Condition::id_is(id)), changes)
        .await?
    {
        0 => Err(not_found(id)),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

fn not_found(id: i64) -> ApiError {
    ApiError::EntityNotFound {
        model: "Todo",
        id: id.to_string(),
    }
}

/// Creates a todo for the caller (200 with its new id).
#[utoipa::path(
    post, path = "/todos", tag = "TodoController", operation_id = "TodoController.create",
    security(("jwt" = []), ("password" = [])),
    request_body = NewTodo,
    responses(
        (status = 200, description = "The stored todo, with its id", body = TodoSchema),
        (status = 401, response = Unauthorized),
        JsonBodyErrors,
    ),
)]
pub async fn create_todo(
    CurrentUser(user): CurrentUser,
    State(store): State<Store>,
    State(limits): State<TodoLimits>,
    JsonBody(todo): JsonBody<NewTodo>,
) -> Result<Response> {
    limits.check(Some(&todo.title), todo.desc.as_deref())?;
    let todo = store
        .todos()
        .create(&user.id, todo.into(), limits.per_user)
        .await
        .map_err(|error| match error {
            StoreError::LimitReached => limits.too_many(),
            other => other.into(),
        })?;
    Ok(shown(Shown::all(&todo)))
}

/// Lists the caller's todos, by id unless ordered; `filter` selects.
#[utoipa::path(
    get, path = "/todos", tag = "TodoController", operation_id = "TodoController.find",
    security(("jwt" = []), ("password" = [])),
    params(ListFilter),
    responses(
        (status = 200, description = "The caller's todos", body = Vec<PartialTodo>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn list_todos(
    CurrentUser(user): CurrentUser,
    State(store): State<Store>,
    State(memory): State<ResponseMemory>,
    ListFilter(filter): ListFilter,
) -> Result<Response> {
    // Written as the rows arrive: no todo is copied out of the database row; within the
    // response memory budget (503 beyond it).
    let fields = filter.fields;
    let mut body = memory.body(&user.id);
    body.write(|bytes| {
        bytes.reserve(4096);
        bytes.push(b'[');
    });
    let mut first = true;
    store
        .todos()
        .visit(&user.id, &filter, &mut |todo| {
            let whole = body.write(|bytes| {
                if !first {
                    bytes.push(b',');
                }
                Shown { todo, fields }.write_json(bytes);
            });
            first = false;
            // Out of memory: the answer is a 503 now, and the rest is not read.
            if whole {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        })
        .await?;
    body.finish_with(b"]");
    body.into_json_response()
}

/// Counts the caller's todos that match `where`.
#[utoipa::path(
    get, path = "/todos/count", tag = "TodoController", operation_id = "TodoController.count",
    security(("jwt" = []), ("password" = [])),
    params(Where),
    responses(
        (status = 200, description = "How many of the caller's todos match", body = Count),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn count_todos(
    CurrentUser(user): CurrentUser,
    State(store): State<Store>,
    Where(where_): Where,
) -> Result<Json<Count>> {
    let count = store.todos().count(&user.id, where_.as_ref()).await?;
    Ok(Json(Count { count }))
}

/// One of the caller's todos, or 404.
#[utoipa::path(
    get, path = "/todos/{id}", tag = "TodoController", operation_id = "TodoController.findById",
    security(("jwt" = []), ("password" = [])),
    params(
        ("id" = i64, Path, description = "The todo id"),
        OneFilter,
    ),
    responses(
        (status = 200, description = "The todo", body = PartialTodo),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn get_todo(
    CurrentUser(user): CurrentUser,
    State(store): State<Store>,
    TodoId(id): TodoId,
    OneFilter(filter): OneFilter,
) -> Result<Response> {
    let fields = filter.fields;
    let one = Filter {
        condition: Some(Condition::id_is(id)),
        ..Filter::default()
    };
    let mut body = Vec::new();
    store
        .todos()
        .visit(&user.id, &one, &mut |todo| {
            Shown { todo, fields }.write_json(&mut body);
            ControlFlow::Continue(())
        })
        .await?;
    if body.is_empty() {
        return Err(not_found(id));
    }
    Ok(json_bytes(body))
}

/// Replaces a todo: omitted optional properties are removed (204).
#[utoipa::path(
    put, path = "/todos/{id}", tag = "TodoController", operation_id = "TodoController.replaceById",
    security(("jwt" = []), ("password" = [])),
    params(
        ("id" = i64, Path, description = "The todo id"),
    ),
    request_body = TodoReplacement,
    responses(
        (status = 204, description = "Replaced; omitted properties are removed"),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        JsonBodyErrors,
    ),
)]
pub async fn replace_todo(
    CurrentUser(user): CurrentUser,
    State(store): State<Store>,
    State(limits): State<TodoLimits>,
    TodoId(id): TodoId,
    JsonBody(todo): JsonBody<TodoReplacement>,
) -> Result<StatusCode> {
    let changes = todo.into_changes(id)?;
    limits.check_changes(&changes)?;
    update_one(&store, &user.id, id, changes).await
}

/// Changes some properties of a todo (204).
#[utoipa::path(
    patch, path = "/todos/{id}", tag = "TodoController", operation_id = "TodoController.updateById",
    security(("jwt" = []), ("password" = [])),
    params(
        ("id" = i64, Path, description = "The todo id"),
    ),
    request_body = TodoPatch,
    responses(
        (status = 204, description = "Updated"),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        JsonBodyErrors,
    ),
)]
pub async fn patch_todo(
    CurrentUser(user): CurrentUser,
    State(store): State<Store>,
    State(limits): State<TodoLimits>,
    TodoId(id): TodoId,
    JsonBody(patch): JsonBody<TodoPatch>,
) -> Result<StatusCode> {
    let changes = patch.into_changes(id)?;
    limits.check_changes(&changes)?;
    update_one(&store, &user.id, id, changes).await
}

/// Deletes a todo (204).
#[utoipa::path(
    delete, path = "/todos/{id}", tag = "TodoController", operation_id = "TodoController.deleteById",
    security(("jwt" = []), ("password" = [])),
    params(
        ("id" = i64, Path, description = "The todo id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn delete_todo(
    CurrentUser(user): CurrentUser,
    State(store): State<Store>,
    TodoId(id): TodoId,
) -> Result<StatusCode> {
    if store.todos().delete(&user.id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(id))
    }
}

/// Changes the caller's todos that match `where` (all of them without it); 200 with the count.
#[utoipa::path(
    patch, path = "/todos", tag = "TodoController", operation_id = "TodoController.updateAll",
    security(("jwt" = []), ("password" = [])),
    params(Where),
    request_body = BulkTodoPatch,
    responses(
        (status = 200, description = "How many todos matched", body = Count),
        (status = 401, response = Unauthorized),
        JsonBodyErrors,
    ),
)]
pub async fn patch_todos(
    CurrentUser(user): CurrentUser,
    State(store): State<Store>,
    State(limits): State<TodoLimits>,
    Where(where_): Where,
    JsonBody(patch): JsonBody<BulkTodoPatch>,
) -> Result<Json<Count>> {
    let changes = patch.into_changes()?;
    limits.check_changes(&changes)?;
    let count = store
        .todos()
        .update(&user.id, where_.as_ref(), changes)
        .await?;
    Ok(Json(Count { count }))
}
