//! What every request and response passes through, whatever its route: the security headers,
//! CORS, LoopBack's trailing-slash leniency, and a panic's 500. The app stacks them around its
//! router (with the request id and log from `ops::telemetry::front`).

use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, Request, header},
    response::{IntoResponse, Response},
};

use super::{error::ApiError, server::MAX_HEAD_BYTES};

/// The headers the OWASP REST Security Cheat Sheet recommends for an API, on every response
/// (the README says which are left out and why): no MIME sniffing; no caching of what is
/// private to a user (a route that can be cached sets its own `Cache-Control`); never
/// framed, which also keeps the explorer's Authorize dialog out of other sites' frames.
pub fn security_headers<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
    ] {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    response
}

/// The header that carries a request's id, kept from the client or made here.
pub const REQUEST_ID: &str = "x-request-id";

/// [`REQUEST_ID`] as a header name, parsed once (a name given as text is parsed and hashed
/// at every use).
pub static REQUEST_ID_NAME: HeaderName = HeaderName::from_static(REQUEST_ID);

/// LoopBack's router ignores a trailing slash (its own tests call `POST /refresh/`): every
/// route answers the same with and without one. The explorer keeps its own (`/explorer/` is
/// its page, and `/explorer` redirects there).
pub fn without_trailing_slash(mut request: Request<Body>) -> Request<Body> {
    let path = request.uri().path();
    let explorer = path == "/explorer" || path.starts_with("/explorer/");
    if path.len() <= 1 || !path.ends_with('/') || explorer {
        return request;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(path_and_query) = path_and_query.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

pub fn internal_error() -> Response {
    ApiError::internal("a handler panicked").into_response()
}

/// Takes CORS' headers off `GET /metrics` (a preflight included): its counters are for the
/// operator's scraper, never for a script on another site. A layer of its own rather than
/// `axum::middleware::from_fn`, which clones the whole stack below it on every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct WithoutCorsLayer;

impl<S> tower::Layer<S> for WithoutCorsLayer {
    type Service = WithoutCors<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithoutCors(inner)
    }
}

/// See [`WithoutCorsLayer`].
#[derive(Clone, Debug)]
pub struct WithoutCors<S>(S);

/// The response's CORS headers removed.
type Stripped<F, E> = futures_util::future::Map<F, Strip<E>>;

/// What strips a response's CORS headers, whatever the error type.
type Strip<E> = fn(Result<Response, E>) -> Result<Response, E>;

impl<S> tower::Service<Request<Body>> for WithoutCors<S>
where
    S: tower::Service<Request<Body>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = futures_util::future::Either<S::Future, Stripped<S::Future, S::Error>>;

    fn poll_ready(
        &mut self,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(context)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        use futures_util::FutureExt as _;
        let metrics = request.uri().path() == "/metrics";
        let response = self.0.call(request);
        if metrics {
            let strip: Strip<S::Error> = |response| response.map(without_cors_headers);
            futures_util::future::Either::Right(response.map(strip))
        } else {
            futures_util::future::Either::Left(response)
        }
    }
}

fn without_cors_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let shared: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for name in shared {
        headers.remove(name);
    }
    response
}

/// The 431 for a request whose head (request line and headers) is over [`MAX_HEAD_BYTES`], in
/// the envelope; `None` for the others. hyper's bound on its read buffer is approximate: a head
/// that arrives in one read passed it by up to another buffer's worth (a single 100,000-byte
/// header was served), so the head is measured again, as written on the wire (the refusal
/// layer, `throttle::pace`, asks before routing).
pub fn head_too_large(request: &Request<Body>) -> Option<Response> {
    (head_bytes(request) > MAX_HEAD_BYTES).then(|| {
        super::error::envelope(
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            serde_json::json!({"error": {
                "statusCode": 431,
                "name": "RequestHeaderFieldsTooLargeError",
                "message": HEAD_TOO_LARGE,
            }}),
        )
    })
}

/// The message of a 431, ours or hyper's rewritten.
pub const HEAD_TOO_LARGE: &str = "The request head is too large: at most 64 KiB with the request \
                                  line, and at most 100 header fields.";

/// The bytes of `request`'s head as sent, at least: `METHOD target HTTP/1.1` and each
/// `name:value`, each line with its CRLF (so a head of 64 KiB is never refused, however it was
/// spaced). (The request id counts as sent: the front layer keeps its own id in the log
/// context, not in the request.)
fn head_bytes(request: &Request<Body>) -> usize {
    let target = request
        .uri()
        .path_and_query()
        .map_or(1, |target| target.as_str().len());
    let line = request.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    request
        .headers()
        .iter()
        .fold(line + 2, |bytes, (name, value)| {
            bytes + name.as_str().len() + 1 + value.len() + 2
        })
}
