//! The writes: the caller, the parameters and preconditions, one store call (the bulk
//! `PATCH`: one transaction), the answer with the new entity tag.

use authn::CurrentUserId;
use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{
    Revalidation,
    conditions::Conditions,
    etag::Tagged,
    model::{
        BulkTodoPatch, Count, NewTodo, Shown, TodoLimits, TodoPatch, TodoReplacement, TodoSchema,
    },
    not_found,
    params::{TodoId, Where},
    reads::{header_value, json_bytes},
};
use crate::{
    http::body::JsonBody,
    http::error::{ApiError, Result},
    http::openapi::{
        BadRequest, IfMatch, JsonBodyErrors, NotFound, PreconditionFailed, PreconditionRequired,
        ServiceUnavailable, Unauthorized,
    },
    store::{Store, StoreError, Versions, Written},
};

/// The answer to a write of one todo: `done` with its new tag, 404, or 412 with the current
/// tag.
fn written(
    revalidation: &Revalidation,
    user: &str,
    id: i64,
    outcome: Written,
    done: StatusCode,
) -> Result<Response> {
    let tag = |version| {
        header_value(
            revalidation
                .key
                .tag(user, Tagged::Todo(id), version, "one", ""),
        )
    };
    match outcome {
        Written::Done(version) => Ok((done, [(header::ETAG, tag(version))]).into_response()),
        Written::Missing => Err(not_found(id)),
        Written::Stale(version) => Err(ApiError::PreconditionFailed {
            message: "The todo changed since the ETag in If-Match was read (or If-None-Match \
                      names its current version); nothing was changed.",
            etag: Some(tag(version)),
        }),
    }
}

/// The versions of `what` a write accepts, from its `If-Match` and `If-None-Match`; 428 when
/// the service requires `If-Match` and there is none (or only `*`, which names no version).
fn accepted(
    revalidation: &Revalidation,
    conditions: &Conditions,
    user: &str,
    what: Tagged,
) -> Result<Versions> {
    if revalidation.require_if_match && !conditions.names_versions() {
        return Err(ApiError::PreconditionRequired);
    }
    Ok(conditions.versions(&revalidation.key, user, what))
}

/// Creates a todo for the caller (200 with its new id).
#[utoipa::path(
    post, path = "/todos", tag = "TodoController", operation_id = "TodoController.create",
    security(("jwt" = []), ("password" = [])),
    request_body = NewTodo,
    responses(
        (status = 200, description = "The stored todo, with its id", body = TodoSchema,
         headers(("ETag" = String, description = "The new todo's entity tag"))),
        (status = 401, response = Unauthorized),
        JsonBodyErrors,
    ),
)]
pub async fn create_todo(
    CurrentUserId(user): CurrentUserId,
    State(store): State<Store>,
    State(revalidation): State<Revalidation>,
    State(limits): State<TodoLimits>,
    JsonBody(todo): JsonBody<NewTodo>,
) -> Result<Response> {
    limits.check(Some(&todo.title), todo.desc.as_deref())?;
    let (todo, version) = store
        .todos()
        .create_versioned(&user, todo.into(), limits.per_user)
        .await
        .map_err(|error| match error {
            StoreError::LimitReached => limits.too_many(),
            other => other.into(),
        })?;
    let mut body = Vec::with_capacity(256);
    Shown::all(&todo).write_json(&mut body);
    let tag = revalidation
        .key
        .tag(&user, Tagged::Todo(todo.id), version, "one", "");
    let mut response = json_bytes(body);
    response
        .headers_mut()
        .insert(header::ETAG, header_value(tag));
    Ok(response)
}

/// Replaces a todo: omitted optional properties are removed (204).
#[utoipa::path(
    put, path = "/todos/{id}", tag = "TodoController", operation_id = "TodoController.replaceById",
    security(("jwt" = []), ("password" = [])),
    params(
        ("id" = i64, Path, description = "The todo id"),
        IfMatch,
    ),
    request_body = TodoReplacement,
    responses(
        (status = 204, description = "Replaced; omitted properties are removed",
         headers(("ETag" = String, description = "The todo's new entity tag"))),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 428, response = PreconditionRequired),
        JsonBodyErrors,
    ),
)]
pub async fn replace_todo(
    CurrentUserId(user): CurrentUserId,
    State(store): State<Store>,
    State(limits): State<TodoLimits>,
    State(revalidation): State<Revalidation>,
    TodoId(id): TodoId,
    conditions: Conditions,
    JsonBody(todo): JsonBody<TodoReplacement>,
) -> Result<Response> {
    let versions = accepted(&revalidation, &conditions, &user, Tagged::Todo(id))?;
    let changes = todo.into_changes(id)?;
    limits.check_changes(&changes)?;
    let outcome = store
        .todos()
        .update_one(&user, id, changes, &versions)
        .await?;
    written(&revalidation, &user, id, outcome, StatusCode::NO_CONTENT)
}

/// Changes some properties of a todo (204).
#[utoipa::path(
    patch, path = "/todos/{id}", tag = "TodoController", operation_id = "TodoController.updateById",
    security(("jwt" = []), ("password" = [])),
    params(
        ("id" = i64, Path, description = "The todo id"),
        IfMatch,
    ),
    request_body = TodoPatch,
    responses(
        (status = 204, description = "Updated",
         headers(("ETag" = String, description = "The todo's new entity tag"))),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 428, response = PreconditionRequired),
        JsonBodyErrors,
    ),
)]
pub async fn patch_todo(
    CurrentUserId(user): CurrentUserId,
    State(store): State<Store>,
    State(limits): State<TodoLimits>,
    State(revalidation): State<Revalidation>,
    TodoId(id): TodoId,
    conditions: Conditions,
    JsonBody(patch): JsonBody<TodoPatch>,
) -> Result<Response> {
    let versions = accepted(&revalidation, &conditions, &user, Tagged::Todo(id))?;
    let changes = patch.into_changes(id)?;
    limits.check_changes(&changes)?;
    let outcome = store
        .todos()
        .update_one(&user, id, changes, &versions)
        .await?;
    written(&revalidation, &user, id, outcome, StatusCode::NO_CONTENT)
}

/// Deletes a todo (204).
#[utoipa::path(
    delete, path = "/todos/{id}", tag = "TodoController", operation_id = "TodoController.deleteById",
    security(("jwt" = []), ("password" = [])),
    params(
        ("id" = i64, Path, description = "The todo id"),
        IfMatch,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 428, response = PreconditionRequired),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn delete_todo(
    CurrentUserId(user): CurrentUserId,
    State(store): State<Store>,
    State(revalidation): State<Revalidation>,
    TodoId(id): TodoId,
    conditions: Conditions,
) -> Result<StatusCode> {
    let versions = accepted(&revalidation, &conditions, &user, Tagged::Todo(id))?;
    match store.todos().delete_one(&user, id, &versions).await? {
        Written::Done(_) => Ok(StatusCode::NO_CONTENT),
        other => written(&revalidation, &user, id, other, StatusCode::NO_CONTENT)
            .map(|_| StatusCode::NO_CONTENT),
    }
}

/// Changes the caller's todos that match `where` (all of them without it); 200 with the count.
#[utoipa::path(
    patch, path = "/todos", tag = "TodoController", operation_id = "TodoController.updateAll",
    security(("jwt" = []), ("password" = [])),
    params(Where, IfMatch),
    request_body = BulkTodoPatch,
    responses(
        (status = 200, description = "How many todos matched", body = Count,
         headers(("ETag" = String, description = "The list's new entity tag"))),
        (status = 401, response = Unauthorized),
        (status = 412, response = PreconditionFailed),
        (status = 428, response = PreconditionRequired),
        JsonBodyErrors,
    ),
)]
pub async fn patch_todos(
    CurrentUserId(user): CurrentUserId,
    State(store): State<Store>,
    State(limits): State<TodoLimits>,
    State(revalidation): State<Revalidation>,
    Where(where_): Where,
    conditions: Conditions,
    JsonBody(patch): JsonBody<BulkTodoPatch>,
) -> Result<Response> {
    let versions = accepted(&revalidation, &conditions, &user, Tagged::List)?;
    let changes = patch.into_changes()?;
    limits.check_changes(&changes)?;
    let list_tag = |version| {
        header_value(
            revalidation
                .key
                .tag(&user, Tagged::List, version, "list", ""),
        )
    };
    // The list's version is read with the owner's row locked, checked, and read again after
    // the change, all in one transaction: no other write of theirs comes in between, so the
    // tag answered is exactly that of the list this change made.
    let transaction = store.transaction().await?;
    let todos = transaction.todos();
    let Some(before) = todos.lock_list(&user).await? else {
        return Err(ApiError::Unauthorized(
            "the account no longer exists".into(),
        ));
    };
    if !versions.accepts(before) {
        return Err(ApiError::PreconditionFailed {
            message: "The list changed since the ETag in If-Match was read (or If-None-Match \
                      names its current version); nothing was changed.",
            etag: Some(list_tag(before)),
        });
    }
    let count = todos.update(&user, where_.as_ref(), changes).await?;
    let after = todos.list_version(&user).await?.unwrap_or(before);
    transaction.commit().await?;
    let mut response = Json(Count { count }).into_response();
    response.headers_mut().insert(header::ETAG, list_tag(after));
    Ok(response)
}
