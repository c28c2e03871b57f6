//! The layer every request passes first, and its response last: the request's id (the
//! client's if plain, else a new one, in the request for the audit log and in the response),
//! the request's log context ([`super::context`]) and its `served` line, the security headers,
//! and a panic's 500.
//!
//! One layer in place of five (tower-http's request id, propagation, trace and panic catcher,
//! and a map of the response): each cost its nesting on every request, and the trace layer's
//! span most of all. Measured with `bench/instructions.sh` (`RUST_LOG=info`): a `GET /todos`
//! went from 69,414 instructions to 60,726 with this layer and the log context alone.

use std::{
    convert::Infallible,
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Request},
    response::Response,
};
use tokio::task::futures::TaskLocalFuture;

use super::context::RequestContext;
use crate::http::middleware::{REQUEST_ID_NAME, internal_error, security_headers};

/// See the module's documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrontLayer;

impl<S> tower::Layer<S> for FrontLayer {
    type Service = Front<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Front { inner }
    }
}

/// See [`FrontLayer`].
#[derive(Clone, Debug)]
pub struct Front<S> {
    inner: S,
}

impl<S> tower::Service<Request<Body>> for Front<S>
where
    S: tower::Service<Request<Body>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TaskLocalFuture<RequestContext, Served<S::Future>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let started = Instant::now();
        let id = request_id(request.headers());
        let context = RequestContext::new(request.method().clone(), id.clone());
        // The inner layers' calls run now, before the future: in a copy of the context, for
        // what they log (the fair share's warning).
        let inner = context.clone().sync_scope(|| {
            std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))).ok()
        });
        context.scope(Served { inner, started, id })
    }
}

pin_project_lite::pin_project! {
    /// A request being served: its response when it comes (a 500 if it panicked), finished
    /// by [`finish`].
    pub struct Served<F> {
        #[pin]
        inner: Option<F>,
        started: Instant,
        id: HeaderValue,
    }
}

impl<F> Future for Served<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = this
            .inner
            .as_pin_mut()
            .map(|inner| std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(context))));
        let response = match polled {
            Some(Ok(Poll::Pending)) => return Poll::Pending,
            Some(Ok(Poll::Ready(Ok(response)))) => response,
            // A panic, in the call or a poll: the future is not polled again.
            Some(Err(_)) | None => internal_error(),
        };
        Poll::Ready(Ok(finish(response, this.id.clone(), *this.started)))
    }
}

/// The response with its security headers and the request's id; its `served` line logged.
fn finish(response: Response, id: HeaderValue, started: Instant) -> Response {
    let mut response = security_headers(response);
    response
        .headers_mut()
        .entry(REQUEST_ID_NAME.clone())
        .or_insert(id);
    let latency = started.elapsed();
    tracing::info!(
        status = response.status().as_u16(),
        // A number (two decimals), in JSON too.
        latency_ms = (latency.as_secs_f64() * 100_000.0).round() / 100.0,
        "served"
    );
    response
}

/// The longest client-chosen request id kept.
const MAX_REQUEST_ID: usize = 64;

/// The request's id: the client's if it sent one short, plain value (letters, digits, `-`,
/// `_`, `.`, `:`; at most [`MAX_REQUEST_ID`] bytes), else a new UUID, so a client cannot put
/// kilobytes or raw bytes into the log and the response. The rest of the service reads it
/// from the log context ([`super::context::current_id`]), not from the request's headers.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    // A scan rather than a lookup: a request has a few headers, and the name's hash costs
    // more than comparing them.
    let mut values = headers
        .iter()
        .filter(|(name, _)| **name == REQUEST_ID_NAME)
        .map(|(_, value)| value);
    let plain = |id: &HeaderValue| {
        (1..=MAX_REQUEST_ID).contains(&id.len())
            && id
                .as_bytes()
                .iter()
                .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(byte))
    };
    if let (Some(id), None) = (values.next(), values.next())
        && plain(id)
    {
        return id.clone();
    }
    let mut text = uuid::Uuid::encode_buffer();
    let made = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(made).expect("a UUID is a header value")
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};
    use tower::{ServiceExt as _, service_fn};

    use super::*;
    use crate::http::middleware::REQUEST_ID;

    async fn served(request: Request<Body>, handler: fn(Request<Body>) -> Response) -> Response {
        let inner = service_fn(move |request| async move { Ok::<_, Infallible>(handler(request)) });
        tower::Layer::layer(&FrontLayer, inner)
            .oneshot(request)
            .await
            .expect("infallible")
    }

    fn request(ids: &[&str]) -> Request<Body> {
        let mut request = Request::new(Body::empty());
        for id in ids {
            request
                .headers_mut()
                .append(REQUEST_ID, HeaderValue::from_str(id).expect("value"));
        }
        request
    }

    /// The id the handler saw (the one the audit log records), and the one the response
    /// carries.
    async fn ids(sent: &[&str]) -> (String, String) {
        let response = served(request(sent), |_| {
            let seen = super::super::context::current_id();
            let mut response = Response::new(Body::empty());
            if let Some(seen) = seen {
                response.extensions_mut().insert(seen);
            }
            response
        })
        .await;
        let seen = response.extensions().get::<HeaderValue>().cloned();
        let answered = response.headers().get(REQUEST_ID).cloned();
        let text = |value: Option<HeaderValue>| {
            value
                .map(|value| value.to_str().expect("text").to_owned())
                .unwrap_or_default()
        };
        (text(seen), text(answered))
    }

    #[tokio::test]
    async fn a_plain_id_is_kept_and_any_other_replaced_by_a_uuid() {
        assert_eq!(
            ids(&["abc-1.2:3_x"]).await,
            ("abc-1.2:3_x".to_owned(), "abc-1.2:3_x".to_owned())
        );
        let long = "a".repeat(MAX_REQUEST_ID + 1);
        for sent in [
            &[][..],
            &["two"; 2][..],
            &["with space"][..],
            &["é"][..],
            &[long.as_str()][..],
        ] {
            let (seen, answered) = ids(sent).await;
            assert_eq!(seen, answered, "{sent:?}");
            assert!(uuid::Uuid::parse_str(&seen).is_ok(), "{sent:?}: {seen}");
        }
    }

    #[tokio::test]
    async fn a_panic_is_a_500_with_the_security_headers_and_the_id() {
        let response = served(request(&["panicked"]), |_| panic!("a handler bug")).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[REQUEST_ID], "panicked");
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
        assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
        // In the service's call rather than its future.
        let inner = service_fn(
            |_: Request<Body>| -> std::future::Ready<Result<Response, Infallible>> {
                panic!("a layer bug")
            },
        );
        let response = tower::Layer::layer(&FrontLayer, inner)
            .oneshot(request(&[]))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key(REQUEST_ID));
    }

    #[tokio::test]
    async fn a_route_s_own_cache_control_is_kept() {
        let response = served(request(&[]), |_| {
            let mut response = Response::new(Body::empty());
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            );
            response
        })
        .await;
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "private, no-cache"
        );
    }

    /// The request's fields as a log line would show them, where this is called.
    fn fields_here() -> Vec<String> {
        let mut seen = Vec::new();
        let _ = super::super::context::current_fields(|name, value| {
            seen.push(format!("{name}={value}"));
            Ok(())
        });
        seen
    }

    #[tokio::test]
    async fn what_the_inner_layers_log_names_the_request_in_their_call_and_their_future() {
        let inner = service_fn(|_: Request<Body>| {
            let in_call = fields_here();
            async move {
                let mut response = Response::new(Body::empty());
                response.extensions_mut().insert((in_call, fields_here()));
                Ok::<_, Infallible>(response)
            }
        });
        let response = tower::Layer::layer(&FrontLayer, inner)
            .oneshot(request(&["call-1"]))
            .await
            .expect("infallible");
        let expected = vec!["method=GET".to_owned(), "id=call-1".to_owned()];
        assert_eq!(
            response.extensions().get::<(Vec<String>, Vec<String>)>(),
            Some(&(expected.clone(), expected))
        );
        assert!(fields_here().is_empty(), "none once answered");
    }
}
