//! The reads: a list, a count, one todo. Each answers a strong `ETag` derived from the
//! version the database keeps (of the user's list, or of the todo), so a current
//! `If-None-Match` is a 304 after one indexed read, and an answer already made at that
//! version is served from the answer cache without reading a todo. On SQLite, a kept answer
//! is served (or its 304) without even that read while nothing has been written since its
//! version was read (`Store::write_mark`).

use std::ops::ControlFlow;

use authn::CurrentUserId;
use axum::{
    body::Body,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};
use bytes::Bytes;

use super::{
    Revalidation,
    cache::Answer,
    conditions::{Conditions, ReadOutcome},
    etag::Tagged,
    model::{Count, PartialTodo, Shown},
    params::{ListFilter, OneFilter, TodoId, Where},
};
use crate::{
    http::error::{ApiError, Result},
    http::openapi::{
        BadRequest, IfNoneMatch, NotFound, NotModified, PreconditionFailed, ServiceUnavailable,
        Unauthorized,
    },
    http::response::ResponseMemory,
    store::Store,
};

/// How a todo read may be cached: by the user's own client only, and revalidated each time.
pub(super) const READ_CACHE_CONTROL: &str = "private, no-cache";

/// `response` with the entity tag `tag` and the caching headers of a read.
fn tagged(mut response: Response, tag: HeaderValue) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::ETAG, tag);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(READ_CACHE_CONTROL),
    );
    // Another user's token at the same URL is another representation.
    headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
    response
}

/// A response with room for the headers every answer of a read gets on its way out (its
/// own, the security headers, the request's id, CORS'): a header map that grows rehashes
/// itself, which showed in callgrind's profile of `GET /todos`.
fn with_room(status: StatusCode, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = HeaderMap::with_capacity(16);
    response
}

/// A 200 response with a JSON body written by hand.
pub(super) fn json_bytes(body: impl Into<Bytes>) -> Response {
    let mut response = with_room(StatusCode::OK, Body::from(body.into()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The answer to a read whose current tag is `tag`, by its preconditions: 304, 412, or
/// `None` to answer with the representation.
fn precondition(conditions: &Conditions, tag: &HeaderValue) -> Result<Option<Response>> {
    match conditions.read(tag.as_bytes()) {
        ReadOutcome::Proceed => Ok(None),
        ReadOutcome::NotModified => Ok(Some(tagged(
            with_room(StatusCode::NOT_MODIFIED, Body::empty()),
            tag.clone(),
        ))),
        ReadOutcome::Failed => Err(ApiError::PreconditionFailed {
            message: "The representation changed since the ETag in If-Match was sent.",
            etag: Some(tag.clone()),
        }),
    }
}

/// A tag as a header value (it is made of visible ASCII only).
pub(super) fn header_value(tag: String) -> HeaderValue {
    HeaderValue::try_from(tag).expect("an entity tag is visible ASCII")
}

/// What a list-wide read made: a whole body (kept in the answer cache), or a response to
/// stream as it is (too large to keep, or the cache is off).
pub(super) enum Made {
    Whole(Bytes),
    Streamed(Response),
}

/// The answer `answer` (kept in the answer cache), or the 304 or 412 its tag calls for.
fn kept(conditions: &Conditions, answer: &Answer) -> Result<Response> {
    if let Some(early) = precondition(conditions, &answer.tag)? {
        return Ok(early);
    }
    Ok(tagged(json_bytes(answer.body.clone()), answer.tag.clone()))
}

/// A list-wide read (`route` is `"list"` or `"count"`): the kept answer if nothing was
/// written since its version was read (SQLite), else the user's list version, then the kept
/// answer, a 304 or 412, or `make` to make the answer (kept for next time). `make` is not called
/// when the answer is known.
///
/// `make`'s future is boxed where it runs, rather than held in this one: the reads' futures
/// are moved several times on their way to the router's box, and making one was most of their
/// size (callgrind counted its copies on every request, a kept 304 included).
async fn list_read<F: Future<Output = Result<Made>>>(
    user: &str,
    store: &Store,
    revalidation: &Revalidation,
    (route, query, conditions): (&'static str, &str, Conditions),
    make: impl FnOnce() -> F,
) -> Result<Response> {
    let answers = &revalidation.answers;
    let key = (user, route, query);
    let serve = |answer: &Answer| kept(&conditions, answer);
    // Taken before the version is read: see `Store::write_mark`.
    let mark = store.write_mark();
    if let Some(mark) = mark
        && let Some(served) = answers.serve(key, |answer| answer.current(mark), serve)
    {
        return served;
    }
    // The version first, then the todos: a write between the two gives a newer answer under
    // an older tag (the next revalidation answers 200 again), never the reverse.
    let Some(version) = store.todos().list_version(user).await? else {
        // The account is gone (its token is refused within a second): no tag to give.
        return Ok(match Box::pin(make()).await? {
            Made::Whole(body) => json_bytes(body),
            Made::Streamed(response) => response,
        });
    };
    if let Some(served) = answers.serve(key, |answer| answer.confirm(version, mark), serve) {
        return served;
    }
    let tag = header_value(
        revalidation
            .key
            .tag(user, Tagged::List, version, route, query),
    );
    if let Some(early) = precondition(&conditions, &tag)? {
        return Ok(early);
    }
    let response = match Box::pin(make()).await? {
        Made::Whole(body) => {
            answers.put(key, (version, mark), tag.clone(), body.clone());
            json_bytes(body)
        }
        Made::Streamed(response) => response,
    };
    Ok(tagged(response, tag))
}

/// Lists the caller's todos, by id unless ordered; `filter` selects.
#[utoipa::path(
    get, path = "/todos", tag = "TodoController", operation_id = "TodoController.find",
    security(("jwt" = []), ("password" = [])),
    params(ListFilter, IfNoneMatch),
    responses(
        (status = 200, description = "The caller's todos", body = Vec<PartialTodo>,
         headers(("ETag" = String, description = "The list's entity tag, for If-None-Match"))),
        (status = 304, response = NotModified),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 412, response = PreconditionFailed),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn list_todos(
    CurrentUserId(user): CurrentUserId,
    State(store): State<Store>,
    State(memory): State<ResponseMemory>,
    State(revalidation): State<Revalidation>,
    RawQuery(query): RawQuery,
    conditions: Conditions,
    ListFilter(filter): ListFilter,
) -> Result<Response> {
    let query = query.as_deref().unwrap_or_default();
    let id = &*user;
    let (store, memory, revalidation, filter) = (&store, &memory, &revalidation, &filter);
    let make = move || async move {
        // Written as the rows arrive: no todo is copied out of the database row; within the
        // response memory budget (503 beyond it).
        let fields = filter.fields;
        let mut body = memory.body(id);
        body.write(|bytes| {
            bytes.reserve(4096);
            bytes.push(b'[');
        });
        let mut first = true;
        store
            .todos()
            .visit(id, filter, &mut |todo| {
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
        // A small list is copied out of the budget into the cache; a large one streams.
        match body.whole() {
            Some(whole) if revalidation.answers.keeps(whole.len()) => {
                Ok(Made::Whole(Bytes::copy_from_slice(whole)))
            }
            _ => body.into_json_response().map(Made::Streamed),
        }
    };
    let what = ("list", query, conditions);
    list_read(id, store, revalidation, what, make).await
}

/// Counts the caller's todos that match `where`.
#[utoipa::path(
    get, path = "/todos/count", tag = "TodoController", operation_id = "TodoController.count",
    security(("jwt" = []), ("password" = [])),
    params(Where, IfNoneMatch),
    responses(
        (status = 200, description = "How many of the caller's todos match", body = Count,
         headers(("ETag" = String, description = "The count's entity tag, for If-None-Match"))),
        (status = 304, response = NotModified),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 412, response = PreconditionFailed),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn count_todos(
    CurrentUserId(user): CurrentUserId,
    State(store): State<Store>,
    State(revalidation): State<Revalidation>,
    RawQuery(query): RawQuery,
    conditions: Conditions,
    Where(where_): Where,
) -> Result<Response> {
    let query = query.as_deref().unwrap_or_default();
    let (user, store, where_) = (&*user, &store, &where_);
    let make = move || async move {
        let count = store.todos().count(user, where_.as_ref()).await?;
        let body = serde_json::to_vec(&Count { count }).map_err(ApiError::internal)?;
        Ok(Made::Whole(body.into()))
    };
    let what = ("count", query, conditions);
    list_read(user, store, &revalidation, what, make).await
}

/// One of the caller's todos, or 404.
#[utoipa::path(
    get, path = "/todos/{id}", tag = "TodoController", operation_id = "TodoController.findById",
    security(("jwt" = []), ("password" = [])),
    params(
        ("id" = i64, Path, description = "The todo id"),
        OneFilter,
        IfNoneMatch,
    ),
    responses(
        (status = 200, description = "The todo", body = PartialTodo,
         headers(("ETag" = String, description = "The todo's entity tag, for If-None-Match and If-Match"))),
        (status = 304, response = NotModified),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 503, response = ServiceUnavailable),
    ),
)]
pub async fn get_todo(
    CurrentUserId(user): CurrentUserId,
    State(store): State<Store>,
    State(revalidation): State<Revalidation>,
    TodoId(id): TodoId,
    RawQuery(query): RawQuery,
    conditions: Conditions,
    OneFilter(filter): OneFilter,
) -> Result<Response> {
    let query = query.as_deref().unwrap_or_default();
    let tag_at = |version| {
        header_value(
            revalidation
                .key
                .tag(&user, Tagged::Todo(id), version, "one", query),
        )
    };
    // Kept as a list's answer is (`list_read`), under the todo's id and query.
    let answers = &revalidation.answers;
    let kept_query = format!("{id}?{query}");
    let key = (&*user, "one", kept_query.as_str());
    // Taken before the version is read: see `Store::write_mark`.
    let serve = |answer: &Answer| kept(&conditions, answer);
    let mark = store.write_mark();
    if let Some(mark) = mark
        && let Some(served) = answers.serve(key, |answer| answer.current(mark), serve)
    {
        return served;
    }
    if conditions != Conditions::default() {
        // Revalidation reads the version alone.
        let version = store.todos().version(&user, id).await?;
        let version = version.ok_or_else(|| super::not_found(id))?;
        if let Some(served) = answers.serve(key, |answer| answer.confirm(version, mark), serve) {
            return served;
        }
        if let Some(early) = precondition(&conditions, &tag_at(version))? {
            return Ok(early);
        }
    }
    let (todo, version) = store
        .todos()
        .find(&user, id)
        .await?
        .ok_or_else(|| super::not_found(id))?;
    let mut body = Vec::with_capacity(256);
    Shown {
        todo: (&todo).into(),
        fields: filter.fields,
    }
    .write_json(&mut body);
    let (body, tag) = (Bytes::from(body), tag_at(version));
    // Kept only where it can be served unread (SQLite): elsewhere it would save no read, and
    // would take the room of lists' answers.
    if mark.is_some() {
        answers.put(key, (version, mark), tag.clone(), body.clone());
    }
    Ok(tagged(json_bytes(body), tag))
}
