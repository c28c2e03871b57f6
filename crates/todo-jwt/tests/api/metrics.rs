//! Issue 13: `GET /metrics` in Prometheus' text format. The recorder is one per process, and
//! the other tests' servers share this one's: the counts are read from the real binary, in a
//! process of its own, where every request is this test's.

use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
use reqwest::{StatusCode, header};
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{TEST_SECRET, TestApp, on_postgres, spawn_app_with, start_process};

pub(crate) async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.expect("text")
}

/// The value of the series `name{labels}` exactly as written (0 when absent).
pub(crate) fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

/// A token for `id` signed with the service secret (the service signs HS256 here) that
/// expired an hour ago.
fn expired_token(id: &str) -> String {
    let now = get_current_timestamp();
    let claims = json!({"id": id, "sub": id, "iat": now - 7200, "exp": now - 3600,
                        "iss": "todo-jwt", "aud": "todo-jwt", "jti": "expired"});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .expect("signed")
}

#[tokio::test]
async fn requests_logins_and_refusals_are_counted_by_bounded_labels() {
    let instance = start_process(|command| {
        command.env("TODO_JWT_ALGORITHM", "HS256");
    })
    .await;
    let app = &instance.app;
    let token = app.token_for("metrics@example.com").await;
    let id = app.who_am_i(&token).await.text().await.expect("id");

    for _ in 0..3 {
        let response = app
            .get_authorized("/todos", Some(&format!("Bearer {token}")))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refusals = [
        None,
        Some("Bearer nonsense".to_owned()),
        Some(format!("Bearer {}", expired_token(&id))),
        Some(format!("Bearer {}", expired_token(&id))),
    ];
    for authorization in &refusals {
        let response = app.get_authorized("/todos", authorization.as_deref()).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
    }
    assert_eq!(
        app.log_in("metrics@example.com", "wrong-password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let unknown = app.get_authorized("/no/such/path/12345", None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let after = scrape(app).await;

    // Exactly this test's requests: the process served no one else.
    for (series, count) in [
        (
            r#"http_requests_total{method="POST",route="/signup",status="200"}"#,
            1.0,
        ),
        (
            r#"http_requests_total{method="POST",route="/users/login",status="200"}"#,
            1.0,
        ),
        (
            r#"http_requests_total{method="POST",route="/users/login",status="401"}"#,
            1.0,
        ),
        (
            r#"http_requests_total{method="GET",route="/whoAmI",status="200"}"#,
            1.0,
        ),
        (
            r#"http_requests_total{method="GET",route="/todos",status="200"}"#,
            3.0,
        ),
        (
            r#"http_requests_total{method="GET",route="/todos",status="401"}"#,
            4.0,
        ),
        (
            r#"http_requests_total{method="GET",route="unmatched",status="404"}"#,
            1.0,
        ),
        (r#"auth_failures_total{reason="missing"}"#, 1.0),
        (r#"auth_failures_total{reason="malformed"}"#, 1.0),
        (r#"auth_failures_total{reason="expired"}"#, 2.0),
        (r#"auth_failures_total{reason="bad_signature"}"#, 0.0),
        (r#"logins_total{outcome="success"}"#, 1.0),
        (r#"logins_total{outcome="bad_credentials"}"#, 1.0),
    ] {
        assert_eq!(value(&after, series), count, "{series} in\n{after}");
    }
    // Raw paths never become series; unrouted requests share one.
    assert!(!after.contains("12345"), "a raw path became a label");
    // A histogram with explicit buckets, and the gauges read at scrape time.
    assert!(
        after.contains(
            r#"http_request_duration_seconds_bucket{method="GET",route="/todos",le="0.001"}"#
        ),
        "{after}"
    );
    assert!(
        after.contains("password_hash_wait_seconds_bucket"),
        "{after}"
    );
    assert!(after.contains("password_hash_queue_length "), "{after}");
    assert!(
        value(&after, "process_resident_memory_bytes") > 1e6,
        "{after}"
    );
    assert!(after.contains("process_cpu_seconds_total"), "{after}");
    assert_eq!(after.contains("db_pool_connections"), on_postgres());
}

#[tokio::test]
async fn metrics_can_require_a_token_or_be_turned_off() {
    let guarded = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.metrics_token = Some(SecretString::from("scrape-token-123"));
    })
    .await;
    for authorization in [None, Some("Bearer wrong"), Some("scrape-token-123")] {
        let mut request = guarded.client.get(guarded.url("/metrics"));
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let response = request.send().await.expect("scrape");
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
    }
    let response = guarded
        .client
        .get(guarded.url("/metrics"))
        .bearer_auth("scrape-token-123")
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .expect("text")
            .contains("http_requests_total")
    );

    let off = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.metrics = false;
    })
    .await;
    let response = off
        .client
        .get(off.url("/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// Issue 21: without a token, the metrics are this machine's only (a request relayed by a
/// proxy is not local), and never shared with other origins, preflight included.
#[tokio::test]
async fn without_a_token_metrics_are_local_and_never_shared_with_other_origins() {
    let app = spawn_app_with(|config| config.secret = Some(SecretString::from(TEST_SECRET))).await;
    let proxied = app
        .client
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .expect("scrape");
    assert_eq!(proxied.status(), StatusCode::FORBIDDEN);
    let direct = app
        .client
        .get(app.url("/metrics"))
        .header(header::ORIGIN, "https://evil.example")
        .send()
        .await
        .expect("scrape");
    assert_eq!(direct.status(), StatusCode::OK);
    assert!(
        !direct
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/metrics"))
        .header(header::ORIGIN, "https://evil.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .send()
        .await
        .expect("preflight");
    assert!(
        !preflight
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
    // Other routes still are shared, as LoopBack's.
    let health = app
        .client
        .get(app.url("/healthz"))
        .header(header::ORIGIN, "https://evil.example")
        .send()
        .await
        .expect("healthz");
    assert!(
        health
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
}
