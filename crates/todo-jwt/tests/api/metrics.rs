//! Issue 13: `GET /metrics` in Prometheus' text format. The recorder is one per process (the
//! tests run many servers in one), so counts are compared before and after.

use reqwest::{StatusCode, header};
use secrecy::SecretString;

use crate::helpers::{TEST_SECRET, TestApp, on_postgres, spawn_app, spawn_app_with};

async fn scrape(app: &TestApp) -> String {
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
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

#[tokio::test]
async fn requests_logins_and_refusals_are_counted_by_bounded_labels() {
    let app = spawn_app().await;
    let token = app.token_for("metrics@example.com").await;
    let ok = r#"http_requests_total{method="GET",route="/todos",status="200"}"#;
    let missing = r#"auth_failures_total{reason="missing"}"#;
    let expired_or_bad = r#"auth_failures_total{reason="malformed"}"#;
    let success = r#"logins_total{outcome="success"}"#;
    let bad = r#"logins_total{outcome="bad_credentials"}"#;
    let before = scrape(&app).await;

    for _ in 0..3 {
        let response = app
            .get_authorized("/todos", Some(&format!("Bearer {token}")))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(
        app.get_authorized("/todos", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_authorized("/todos", Some("Bearer nonsense"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.log_in("metrics@example.com", "wrong-password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let unknown = app.get_authorized("/no/such/path/12345", None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let after = scrape(&app).await;

    assert!(value(&after, ok) - value(&before, ok) >= 3.0, "{after}");
    assert!(value(&after, missing) - value(&before, missing) >= 1.0);
    assert!(value(&after, expired_or_bad) - value(&before, expired_or_bad) >= 1.0);
    assert!(value(&after, bad) - value(&before, bad) >= 1.0);
    assert!(value(&after, success) >= 1.0);
    // Raw paths never become series; unrouted requests share one.
    assert!(!after.contains("12345"), "a raw path became a label");
    assert!(
        after.contains(r#"route="unmatched",status="404""#),
        "{after}"
    );
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
