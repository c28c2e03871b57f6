//! The request a log line is written in: its method and id, then its route and user once
//! known. Kept as a value of the request's task ([`tokio::task_local!`]) rather than in a
//! `tracing` span, and written by this module's formats ([`super::line`], [`JsonLine`]) as the
//! span was: `request{method=GET id=… route=/todos user=…}:` in text, `"span":{…}` in JSON.
//!
//! Measured with `bench/instructions.sh` (callgrind, `RUST_LOG=info`): the span (made, each
//! field recorded, entered and left on every poll) and its line took about 13,900 of a
//! `GET /todos`'s 69,400 instructions (55,500 with `RUST_LOG=off`); the line alone now takes
//! about 4,500. Any event logged while the request is served
//! (a 500's cause, the `debug` lines of the authentication) carries the same fields.

use std::cell::RefCell;

use axum::http::{HeaderValue, Method};
use tracing::{Event, Subscriber};
use tracing_subscriber::{
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// What the log says of a request: see the module's documentation.
#[derive(Clone, Debug)]
pub struct RequestContext {
    method: Method,
    id: HeaderValue,
    later: RefCell<Later>,
}

/// What is known once the request is routed and its token accepted.
#[derive(Clone, Debug, Default)]
struct Later {
    route: Option<Box<str>>,
    user: Option<Box<str>>,
}

impl RequestContext {
    /// A request's context, before its route and user are known.
    pub fn new(method: Method, id: HeaderValue) -> Self {
        Self {
            method,
            id,
            later: RefCell::default(),
        }
    }

    /// `future` run with this context as its task's.
    pub fn scope<F: Future>(self, future: F) -> tokio::task::futures::TaskLocalFuture<Self, F> {
        REQUEST.scope(self, future)
    }

    /// `f` run with this context as the current one, at once.
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        REQUEST.sync_scope(self, f)
    }

    /// The fields in the order the span had them: `(name, value)`, the route and user only
    /// once recorded.
    fn fields(&self, mut each: impl FnMut(&str, &str) -> std::fmt::Result) -> std::fmt::Result {
        each("method", self.method.as_str())?;
        each("id", self.id.to_str().unwrap_or_default())?;
        let Ok(later) = self.later.try_borrow() else {
            return Ok(());
        };
        if let Some(route) = &later.route {
            each("route", route)?;
        }
        if let Some(user) = &later.user {
            each("user", user)?;
        }
        Ok(())
    }
}

/// Records the route template the request matched, for its log lines.
pub fn record_route(route: &str) {
    let _ = REQUEST.try_with(|request| {
        if let Ok(mut later) = request.later.try_borrow_mut() {
            later.route = Some(route.into());
        }
    });
}

/// Records the user whose token was accepted, for the request's log lines.
pub fn record_user(user: &str) {
    let _ = REQUEST.try_with(|request| {
        if let Ok(mut later) = request.later.try_borrow_mut() {
            later.user = Some(user.into());
        }
    });
}

/// The current request's id (none outside a request): the client's if plain, else the one
/// made for it (`super::front`).
pub fn current_id() -> Option<HeaderValue> {
    REQUEST.try_with(|request| request.id.clone()).ok()
}

/// `future` with the current request's context (for work spawned while serving it and
/// logging after), or as it is outside a request.
pub fn in_request<F: Future>(
    future: F,
) -> futures_util::future::Either<tokio::task::futures::TaskLocalFuture<RequestContext, F>, F> {
    match REQUEST.try_with(RequestContext::clone) {
        Ok(request) => futures_util::future::Either::Left(REQUEST.scope(request, future)),
        Err(_) => futures_util::future::Either::Right(future),
    }
}

/// Calls `each` with each field of the current request (nothing outside a request); whether
/// there is one.
pub(super) fn current_fields(
    each: impl FnMut(&str, &str) -> std::fmt::Result,
) -> Result<bool, std::fmt::Error> {
    REQUEST
        .try_with(|request| request.fields(each).map(|()| true))
        .unwrap_or(Ok(false))
}

/// The JSON format: `inner`'s object, with the current request's fields as its `"span"`
/// (named `request`, as `tracing-subscriber` names a span's).
pub struct JsonLine<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for JsonLine<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        if REQUEST.try_with(|_| ()).is_err() {
            return self.0.format_event(context, writer, event);
        }
        let mut line = String::with_capacity(256);
        self.0
            .format_event(context, Writer::new(&mut line), event)?;
        // The object's closing brace (and the line's end) reopened for one more member.
        let object = line.trim_end();
        let Some(open) = object.strip_suffix('}') else {
            return writer.write_str(&line);
        };
        let mut span = serde_json::Map::new();
        current_fields(|name, value| {
            span.insert(name.to_owned(), value.into());
            Ok(())
        })?;
        span.insert("name".to_owned(), "request".into());
        let span = serde_json::Value::Object(span);
        writeln!(writer, "{open},\"span\":{span}}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<(String, String)> {
        let mut seen = Vec::new();
        let _ = current_fields(|name, value| {
            seen.push((name.to_owned(), value.to_owned()));
            Ok(())
        });
        seen
    }

    #[tokio::test]
    async fn a_request_s_fields_are_its_task_s_and_follow_spawned_work() {
        assert!(fields().is_empty(), "none outside a request");
        let request = RequestContext::new(Method::GET, HeaderValue::from_static("abc"));
        request
            .scope(async {
                record_route("/todos");
                record_user("u-1");
                let spawned = tokio::spawn(in_request(async { fields() }));
                let inside = fields();
                assert_eq!(spawned.await.expect("joined"), inside);
                assert_eq!(
                    inside,
                    [
                        ("method", "GET"),
                        ("id", "abc"),
                        ("route", "/todos"),
                        ("user", "u-1")
                    ]
                    .map(|(name, value)| (name.to_owned(), value.to_owned()))
                );
            })
            .await;
        assert!(fields().is_empty(), "none after the request");
    }
}
