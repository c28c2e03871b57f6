//! The route layer that counts and times every routed request ([`TrackLayer`]).

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use axum::{extract::MatchedPath, extract::Request, response::Response};

use super::{method_label, record, recording};
use crate::ops::telemetry::context::record_route;

/// Counts and times every routed request by method, route template and status, and records
/// the route in the request's log context. A route layer: it runs after routing, where the
/// template is known (unrouted requests are counted by [`super::unmatched`]). A layer of its
/// own rather than `axum::middleware::from_fn`, which clones the route's stack and boxes a
/// future on every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrackLayer;

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Track(inner)
    }
}

/// See [`TrackLayer`].
#[derive(Clone, Debug)]
pub struct Track<S>(S);

impl<S> tower::Service<Request> for Track<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(context)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let method = method_label(request.method());
        let route = request.extensions().get::<MatchedPath>().cloned();
        Tracked {
            inner: self.0.call(request),
            method,
            route,
            noted: false,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A routed request being served.
    pub struct Tracked<F> {
        #[pin]
        inner: F,
        method: &'static str,
        route: Option<MatchedPath>,
        // Whether the route is in the log context yet: noted when first polled, inside the
        // request's task (the call is made before the front layer's context is entered).
        noted: bool,
        started: Instant,
    }
}

impl<F, E> Future for Tracked<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !*this.noted {
            *this.noted = true;
            if let Some(route) = this.route {
                record_route(route.as_str());
            }
        }
        let response = std::task::ready!(this.inner.poll(context))?;
        if recording() {
            let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
            record(
                this.method,
                route,
                response.status().as_u16(),
                Some(this.started.elapsed()),
            );
        }
        Poll::Ready(Ok(response))
    }
}
