//! CORS: tower-http's layer, with LoopBack's defaults ([`cors`]), and a fast path for the
//! default's simple requests.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderName, HeaderValue, Method, Request, header},
    response::Response,
};
use bytes::Bytes;
use futures_util::{FutureExt as _, future::Either};
use tower::{Layer, Service, ServiceExt as _};
use tower_http::cors::{AllowOrigin, Any, Cors as TowerCors, CorsLayer};

use super::middleware::REQUEST_ID;

/// The CORS layer for `origins` (any origin when empty): see [`Cors`].
pub fn cors(origins: &[HeaderValue]) -> Cors {
    let layer = settings(origins);
    // Any origin: a request that is not a preflight gets the same headers whatever it
    // carries (no `Vary`), computed here once by the layer itself.
    let simple = origins.is_empty().then(|| Arc::new(simple_headers(&layer)));
    Cors { layer, simple }
}

/// LoopBack's CORS defaults: any origin, the API's methods, preflight cached for a day.
/// CORS: the origins allowed (`*` by default, as LoopBack), with `Authorization` and
/// `Content-Type` allowed by name. (`Access-Control-Allow-Headers: *` does not cover
/// `Authorization` in the Fetch standard, so a browser app on another origin could not send
/// its token.)
fn settings(origins: &[HeaderValue]) -> CorsLayer {
    let layer = if origins.is_empty() {
        // Every CORS header is the same whatever the request's origin and preflight headers,
        // so no response varies by them: no `Vary` (tower-http adds three by default).
        CorsLayer::new().allow_origin(Any).vary([])
    } else {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .vary([header::ORIGIN])
    };
    layer
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static(REQUEST_ID),
        ])
        .expose_headers([
            HeaderName::from_static(REQUEST_ID),
            header::ETAG,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::PATCH,
            Method::POST,
            Method::DELETE,
        ])
        .max_age(std::time::Duration::from_secs(86_400))
}

/// The headers `layer` gives a `GET` (not a preflight).
fn simple_headers(layer: &CorsLayer) -> HeaderMap {
    let answer = tower::service_fn(|_: Request<Body>| {
        std::future::ready(Ok::<_, Infallible>(Response::new(Body::empty())))
    });
    layer
        .layer(answer)
        .oneshot(Request::new(Body::empty()))
        .now_or_never()
        .and_then(Result::ok)
        .map(|response| {
            let mut headers = response.headers().clone();
            for value in headers.values_mut() {
                *value = forever(value);
            }
            headers
        })
        .unwrap_or_default()
}

/// `value` in memory that is never freed, so that a copy of it costs nothing: a value made
/// at run time counts its copies in memory that every thread writes, and under load each
/// response's copy (and its drop, in the next thread to write a response) moved that count's
/// cache line from core to core (`perf`: about 1.5% of a 304's time). A few dozen bytes per
/// application built.
fn forever(value: &HeaderValue) -> HeaderValue {
    let bytes: &'static [u8] = Box::leak(value.as_bytes().into());
    let mut forever = HeaderValue::from_maybe_shared(Bytes::from_static(bytes))
        .expect("the bytes of a header value");
    forever.set_sensitive(value.is_sensitive());
    forever
}

/// tower-http's CORS layer, but for a request that is not a preflight while any origin is
/// allowed (the default): then the headers, always the same, are copied onto the response.
/// tower-http builds a header map for each request and merges it (about 1,500 instructions
/// of a `GET /todos`, by callgrind).
#[derive(Clone, Debug)]
pub struct Cors {
    layer: CorsLayer,
    simple: Option<Arc<HeaderMap>>,
}

impl<S> Layer<S> for Cors {
    type Service = CorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CorsService {
            cors: self.layer.layer(inner),
            simple: self.simple.clone(),
        }
    }
}

/// See [`Cors`].
#[derive(Clone, Debug)]
pub struct CorsService<S> {
    cors: TowerCors<S>,
    simple: Option<Arc<HeaderMap>>,
}

impl<S> Service<Request<Body>> for CorsService<S>
where
    S: Service<Request<Body>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<tower_http::cors::ResponseFuture<S::Future>, WithHeaders<S::Future>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.cors.poll_ready(context)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        match &self.simple {
            Some(headers) if request.method() != Method::OPTIONS => Either::Right(WithHeaders {
                inner: self.cors.get_mut().call(request),
                headers: Arc::clone(headers),
            }),
            _ => Either::Left(self.cors.call(request)),
        }
    }
}

pin_project_lite::pin_project! {
    /// A response with the simple requests' CORS headers set on it.
    pub struct WithHeaders<F> {
        #[pin]
        inner: F,
        headers: Arc<HeaderMap>,
    }
}

impl<F, E> Future for WithHeaders<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(context))?;
        // As tower-http merges them: each replaces a header of its name.
        let headers = response.headers_mut();
        for (name, value) in this.headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The response headers of `layer` around a handler that sets some of its own.
    async fn answered(
        layer: impl Layer<
            tower::util::ServiceFn<
                fn(Request<Body>) -> std::future::Ready<Result<Response, Infallible>>,
            >,
            Service: Service<Request<Body>, Response = Response, Error = Infallible>,
        >,
        request: Request<Body>,
    ) -> HeaderMap {
        fn handler(_: Request<Body>) -> std::future::Ready<Result<Response, Infallible>> {
            let mut response = Response::new(Body::empty());
            response
                .headers_mut()
                .insert(header::ETAG, HeaderValue::from_static("\"L1\""));
            response.headers_mut().insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("x-own"),
            );
            std::future::ready(Ok(response))
        }
        let service = layer.layer(tower::service_fn(
            handler as fn(Request<Body>) -> std::future::Ready<Result<Response, Infallible>>,
        ));
        let response = service.oneshot(request).await.expect("infallible");
        response.headers().clone()
    }

    #[tokio::test]
    async fn the_fast_path_answers_what_tower_http_answers() {
        let origins: [&[HeaderValue]; 2] = [&[], &[HeaderValue::from_static("https://a.example")]];
        for origins in origins {
            for (method, origin, preflight) in [
                (Method::GET, None, None),
                (Method::POST, Some("https://a.example"), None),
                (Method::DELETE, Some("https://b.example"), None),
                (Method::OPTIONS, Some("https://a.example"), Some("PATCH")),
                (Method::OPTIONS, None, None),
            ] {
                let request = || {
                    let mut request = Request::builder().method(method.clone());
                    if let Some(origin) = origin {
                        request = request.header(header::ORIGIN, origin);
                    }
                    if let Some(wanted) = preflight {
                        request = request.header(header::ACCESS_CONTROL_REQUEST_METHOD, wanted);
                    }
                    request.body(Body::empty()).expect("request")
                };
                let ours = answered(cors(origins), request()).await;
                let theirs = answered(settings(origins), request()).await;
                assert_eq!(
                    ours,
                    theirs,
                    "{method} from {origin:?} ({} origins)",
                    origins.len()
                );
            }
        }
        let simple = simple_headers(&settings(&[]));
        assert_eq!(simple[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(simple.contains_key(header::ACCESS_CONTROL_EXPOSE_HEADERS));
    }
}
