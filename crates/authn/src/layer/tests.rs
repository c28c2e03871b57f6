use axum::{Router, response::IntoResponse, routing::get};
use http::{StatusCode, header};
use tower::ServiceExt;

use crate::{
    AuthError, AuthOutcome, AuthenticationStrategy, CurrentUser, CurrentUserId, FailureReason,
    StrategyRegistry, UserProfile,
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
            None => Err(AuthError::challenge(
                "Fake",
                FailureReason::Missing,
                format!("{} refused", self.0),
            )),
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

async fn who_by_id(CurrentUserId(id): CurrentUserId) -> String {
    id
}

async fn maybe_who(user: Option<CurrentUser>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |CurrentUser(user)| user.id)
}

fn app(layer: AuthLayer) -> Router {
    Router::new()
        .route("/who", get(who))
        .route("/id", get(who_by_id))
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
        call(app.clone(), "/who", &[("x-a", "u1")]).await,
        (StatusCode::OK, "u1".into())
    );
    assert_eq!(
        call(app, "/id", &[("x-a", "u1")]).await,
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
    let body = serde_json::json!({"status": error.status().as_u16(), "says": error.to_string()});
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
    let (status, body) = call(app(layer.clone().skip("/who")), "/who", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, r#"{"says":"Authentication required.","status":401}"#);
    // And a `CurrentUserId`.
    let (status, body) = call(app(layer.skip("/id")), "/id", &[]).await;
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
            AuthOutcome::Refused(error) => {
                let reason = error.reason().map_or("-", |reason| reason.as_str());
                format!("refused {error} ({reason})")
            }
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
            "/who refused a refused (missing)",
            "/who refused authentication could not complete (-)",
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
