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

use crate::{AuthError, AuthObserver, AuthOutcome, AuthenticationStrategy, Renderer, UserProfile};

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
mod tests {
    use axum::{Router, response::IntoResponse, routing::get};
    use http::{StatusCode, header};
    use tower::ServiceExt;

    use crate::{
        AuthError, AuthOutcome, AuthenticationStrategy, CurrentUser, StrategyRegistry, UserProfile,
    };

    use super::*;

    /// Accepts `X-<name>: <user id>`; refuses with `<name> refused` otherwise.
    struct Fake(&'static str);

    #[async_trait::async_trait]
    impl AuthenticationStrategy for Fake {
        fn name(&self) -> &str {
            self.0
        }

        async fn authenticate(&self, request: &Parts) -> Result<UserProfile, AuthError> {
            match request.headers.get(format!("x-{}", self.0)) {
                Some(value) => Ok(UserProfile::new(value.to_str().unwrap_or_default())),
                None => Err(AuthError::challenge("Fake", format!("{} refused", self.0))),
            }
        }
    }

    /// Fails the way a strategy with a broken user store fails.
    struct Broken;

    #[async_trait::async_trait]
    impl AuthenticationStrategy for Broken {
        fn name(&self) -> &str {
            "broken"
        }

        async fn authenticate(&self, _: &Parts) -> Result<UserProfile, AuthError> {
            Err(AuthError::internal("store down"))
        }
    }

    fn registry() -> StrategyRegistry {
        StrategyRegistry::new()
            .with(Fake("a"))
            .with(Fake("b"))
            .with(Broken)
    }

    async fn who(CurrentUser(user): CurrentUser) -> String {
        user.id
    }

    async fn maybe_who(user: Option<CurrentUser>) -> String {
        user.map_or_else(|| "anonymous".to_owned(), |CurrentUser(user)| user.id)
    }

    fn app(layer: AuthLayer) -> Router {
        Router::new()
            .route("/who", get(who))
            .route("/maybe", get(maybe_who))
            .route("/public", get(|| async { "open" }))
            .route_layer(layer)
    }

    async fn call(app: Router, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = app
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8(bytes.to_vec()).expect("utf-8"))
    }

    #[tokio::test]
    async fn a_request_the_strategy_accepts_reaches_the_handler_as_that_user() {
        let app = app(registry().require(["a"]).expect("registered"));
        assert_eq!(
            call(app, "/who", &[("x-a", "u1")]).await,
            (StatusCode::OK, "u1".into())
        );
    }

    #[tokio::test]
    async fn by_default_a_refused_request_is_a_plain_401_with_its_challenge() {
        let app = app(registry().require(["a"]).expect("registered"));
        let response = app
            .oneshot(Request::get("/who").body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Fake");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        assert_eq!(body, "a refused");
    }

    /// Renders `{"status":…,"says":…}`: an application's own format.
    fn custom(error: AuthError) -> Response {
        let body =
            serde_json::json!({"status": error.status().as_u16(), "says": error.to_string()});
        (error.status(), axum::Json(body)).into_response()
    }

    #[tokio::test]
    async fn the_application_renders_failures_in_its_own_format() {
        let layer = registry()
            .render_with(custom)
            .require(["a"])
            .expect("registered");
        let (status, body) = call(app(layer.clone()), "/who", &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, r#"{"says":"a refused","status":401}"#);
        // A handler's `CurrentUser` on a skipped route refuses in the same format.
        let (status, body) = call(app(layer.skip("/who")), "/who", &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, r#"{"says":"Authentication required.","status":401}"#);
    }

    #[tokio::test]
    async fn observers_hear_every_outcome_with_its_request() {
        let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = heard.clone();
        let observer = move |request: &Parts, outcome: AuthOutcome<'_>| {
            let line = match outcome {
                AuthOutcome::Authenticated { strategy, user } => {
                    format!("ok {strategy} {}", user.id)
                }
                AuthOutcome::Refused(error) => format!("refused {error}"),
                AuthOutcome::Anonymous(error) => format!("anonymous {error}"),
            };
            log.lock()
                .expect("lock")
                .push(format!("{} {line}", request.uri.path()));
        };
        let registry = registry().observe(observer);
        let strict = registry.require(["a", "b"]).expect("registered");
        let broken = registry.require(["broken"]).expect("registered");
        let optional = registry.require(["a"]).expect("registered").optional();
        call(app(strict.clone()), "/who", &[("x-b", "u2")]).await;
        call(app(strict.clone()), "/who", &[]).await;
        call(app(broken), "/who", &[]).await;
        call(app(optional), "/maybe", &[]).await;
        call(app(strict.skip("/public")), "/public", &[]).await;
        assert_eq!(
            *heard.lock().expect("lock"),
            [
                "/who ok b u2",
                "/who refused a refused",
                "/who refused authentication could not complete",
                "/maybe anonymous a refused",
            ],
            "skipped routes are not reported"
        );
    }

    #[tokio::test]
    async fn strategies_are_tried_in_order_and_the_first_success_wins() {
        let layer = registry().require(["a", "b"]).expect("registered");
        let both = [("x-a", "from-a"), ("x-b", "from-b")];
        assert_eq!(call(app(layer.clone()), "/who", &both).await.1, "from-a");
        assert_eq!(
            call(app(layer), "/who", &[("x-b", "from-b")]).await.1,
            "from-b"
        );
    }

    #[tokio::test]
    async fn when_every_strategy_fails_the_first_error_is_the_answer() {
        let app = app(registry().require(["b", "a"]).expect("registered"));
        let (status, body) = call(app, "/who", &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("b refused"), "{body}");
    }

    #[tokio::test]
    async fn an_internal_failure_is_a_generic_500_not_a_401() {
        let app = app(registry().require(["broken", "a"]).expect("registered"));
        let (status, body) = call(app, "/who", &[("x-a", "u1")]).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            !body.contains("store down"),
            "the cause must not leak: {body}"
        );
    }

    #[tokio::test]
    async fn a_skipped_route_needs_no_credentials() {
        let app = app(registry()
            .require(["a"])
            .expect("registered")
            .skip("/public"));
        assert_eq!(
            call(app.clone(), "/public", &[]).await,
            (StatusCode::OK, "open".into())
        );
        assert_eq!(call(app, "/who", &[]).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn optional_authentication_lets_anonymous_callers_through() {
        let app = app(registry().require(["a"]).expect("registered").optional());
        assert_eq!(call(app.clone(), "/maybe", &[]).await.1, "anonymous");
        assert_eq!(call(app.clone(), "/maybe", &[("x-a", "u9")]).await.1, "u9");
        // A handler that insists on a user still refuses the anonymous caller.
        assert_eq!(call(app, "/who", &[]).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn unknown_paths_stay_404_because_the_layer_runs_after_routing() {
        let app = app(registry().require(["a"]).expect("registered"));
        assert_eq!(call(app, "/nowhere", &[]).await.0, StatusCode::NOT_FOUND);
    }

    #[test]
    fn requiring_an_unregistered_strategy_fails_at_build_time() {
        let error = registry().require(["a", "nope"]).expect_err("unknown name");
        assert!(matches!(error, AuthError::UnknownStrategy(name) if name == "nope"));
        assert!(registry().require(Vec::<&str>::new()).is_err());
    }
}
