//! The layer that requires authentication on a router, and the service it wraps routes in.

use std::{
    collections::HashSet,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{body::Body, extract::MatchedPath, response::Response};
use http::{Request, request::Parts};
use tower::{Layer, Service};

use crate::{
    error::AuthError,
    hooks::{AuthObserver, AuthOutcome, Renderer},
    profile::UserProfile,
    strategy::AuthenticationStrategy,
};

/// Requires authentication on every route of a router (build it with
/// [`crate::StrategyRegistry::require`], apply it with `Router::route_layer`).
///
/// On success the caller's [`UserProfile`] is put in the request extensions, where
/// [`crate::CurrentUser`] finds it. On failure the registry's [`Renderer`] writes the answer.
#[derive(Clone)]
pub struct AuthLayer {
    /// Everything in one `Arc`: the layer is cloned for every request.
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    strategies: Vec<Arc<dyn AuthenticationStrategy>>,
    skipped: HashSet<String>,
    optional: bool,
    renderer: Renderer,
    observers: Vec<Arc<dyn AuthObserver>>,
}

impl AuthLayer {
    pub(crate) fn new(
        strategies: Vec<Arc<dyn AuthenticationStrategy>>,
        renderer: Renderer,
        observers: Vec<Arc<dyn AuthObserver>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                strategies,
                skipped: HashSet::new(),
                optional: false,
                renderer,
                observers,
            }),
        }
    }

    /// Lets the route registered as `route` (its template, e.g. `/todos/{id}`) through without
    /// authentication, like LoopBack's `@authenticate.skip()`.
    pub fn skip(mut self, route: &str) -> Self {
        Arc::make_mut(&mut self.inner)
            .skipped
            .insert(route.to_owned());
        self
    }

    /// Makes authentication optional: a request that no strategy accepts goes on anonymously
    /// (handlers see `None` from `Option<CurrentUser>`) instead of getting a 401.
    pub fn optional(mut self) -> Self {
        Arc::make_mut(&mut self.inner).optional = true;
        self
    }
}

impl Inner {
    fn report(&self, request: &Parts, outcome: AuthOutcome<'_>) {
        for observer in &self.observers {
            observer.observe(request, outcome);
        }
    }

    /// The caller, `None` for an anonymous one, or the error to answer with.
    async fn authenticate(&self, request: &Parts) -> Result<Option<UserProfile>, AuthError> {
        let skipped = request
            .extensions
            .get::<MatchedPath>()
            .is_some_and(|route| self.skipped.contains(route.as_str()));
        if skipped {
            return Ok(None);
        }
        let mut first_error = None;
        for strategy in &self.strategies {
            match strategy.authenticate(request).await {
                Ok(user) => {
                    let strategy = strategy.name();
                    self.report(
                        request,
                        AuthOutcome::Authenticated {
                            strategy,
                            user: &user,
                        },
                    );
                    return Ok(Some(user));
                }
                // An internal failure is not a verdict on the caller: stop and report it.
                Err(error) if !error.is_unauthorized() => {
                    self.report(request, AuthOutcome::Refused(&error));
                    return Err(error);
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) if self.optional => {
                self.report(request, AuthOutcome::Anonymous(&error));
                Ok(None)
            }
            Some(error) => {
                self.report(request, AuthOutcome::Refused(&error));
                Err(error)
            }
            None => Ok(None),
        }
    }
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.inner.strategies.iter().map(|s| s.name()).collect();
        f.debug_struct("AuthLayer")
            .field("strategies", &names)
            .field("skipped", &self.inner.skipped)
            .field("optional", &self.inner.optional)
            .field("observers", &self.inner.observers.len())
            .finish()
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service [`AuthLayer`] wraps around each route.
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    layer: AuthLayer,
    inner: S,
}

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone is fresh; the ready one (polled above) is the one that must serve this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.inner.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match layer.authenticate(&parts).await {
                Ok(Some(user)) => {
                    parts.extensions.insert(user);
                }
                // No user: a `CurrentUser` in the handler refuses in the application's format.
                Ok(None) => {
                    parts.extensions.insert(layer.renderer.clone());
                }
                Err(error) => return Ok(layer.renderer.render(error)),
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

#[cfg(test)]
mod tests;
