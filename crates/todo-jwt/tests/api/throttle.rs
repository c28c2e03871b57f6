//! Abuse protection (issue 12): failed logins per account and credential requests per client
//! address are counted in the database, so every instance enforces one limit.

use reqwest::{StatusCode, header};
use serde_json::json;

use crate::helpers::{TEST_SECRET, TestApp, error_body, spawn_app_with};

async fn app_with(configure: impl FnOnce(&mut todo_jwt::Config)) -> TestApp {
    spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(TEST_SECRET));
        configure(config);
    })
    .await
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()[header::RETRY_AFTER]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds")
}

#[tokio::test]
async fn an_account_is_locked_after_too_many_failures_on_every_password_endpoint() {
    let app = app_with(|config| {
        config.login_max_failures = 3;
        config.login_failure_window = 60;
    })
    .await;
    assert_eq!(
        app.sign_up("locked@example.com", "password123")
            .await
            .status(),
        StatusCode::OK
    );
    // A success resets the count.
    for _ in 0..2 {
        let response = app.log_in("locked@example.com", "wrong-password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.log_in("locked@example.com", "password123")
            .await
            .status(),
        StatusCode::OK
    );
    for _ in 0..3 {
        // Spelled in another letter case: the same account.
        let response = app.log_in("LOCKED@example.com", "wrong-password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Now every attempt, the right password included, on every endpoint that checks one.
    let response = app.log_in("locked@example.com", "password123").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&response);
    assert!((1..=60).contains(&wait), "{wait}");
    let error = error_body(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(error["code"], "TOO_MANY_REQUESTS", "{error}");
    let response = app
        .post_json(
            "/users/refresh-login",
            &json!({"email": "locked@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let response = app
        .client
        .post(app.url("/users/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "locked@example.com"),
            ("password", "password123"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // The lockout is one audit event, however many attempts it refused.
    assert_eq!(
        app.sql("SELECT count(*) FROM audit_events WHERE event = 'throttled'")
            .await
            .as_deref(),
        Some("1")
    );
    // Another account is not affected.
    assert_eq!(
        app.sign_up("free@example.com", "password123")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.log_in("free@example.com", "password123").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_client_address_gets_a_limited_number_of_credential_requests_a_minute() {
    let app = app_with(|config| {
        config.auth_rate_limit = 5;
        config.login_max_failures = 0;
    })
    .await;
    let mut statuses = Vec::new();
    for index in 0..7 {
        let response = app
            .sign_up(&format!("burst{index}@example.com"), "password123")
            .await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(retry_after(&response) <= 60);
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // One audit event for the address, not one per refusal.
    assert_eq!(
        app.sql("SELECT count(*) FROM audit_events WHERE event = 'throttled'")
            .await
            .as_deref(),
        Some("1")
    );
    // Logins count against the same limit; other routes do not.
    assert_eq!(
        app.log_in("burst0@example.com", "password123")
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        app.client
            .get(app.url("/"))
            .send()
            .await
            .expect("home")
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let signup = |app: &TestApp, index: usize, forwarded: &str| {
        app.client
            .post(app.url("/signup"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"email": format!("fwd{index}@example.com"), "password": "password123"}))
            .send()
    };
    // Not trusted: the header is ignored, every request is the peer's.
    let app = app_with(|config| config.auth_rate_limit = 2).await;
    let mut last = StatusCode::OK;
    for index in 0..3 {
        last = signup(&app, index, &format!("203.0.113.{index}"))
            .await
            .expect("signup")
            .status();
    }
    assert_eq!(
        last,
        StatusCode::TOO_MANY_REQUESTS,
        "a spoofed header escaped the limit"
    );
    // Trusted (the test client is 127.0.0.1): each forwarded client has its own count, read
    // from the right, skipping trusted hops.
    let app = app_with(|config| {
        config.auth_rate_limit = 2;
        config.trusted_proxies = "127.0.0.1/32, 10.0.0.0/8".to_owned();
    })
    .await;
    for index in 0..4 {
        let forwarded = format!("198.51.100.7, 203.0.113.{index}, 10.1.2.3");
        let status = signup(&app, index, &forwarded)
            .await
            .expect("signup")
            .status();
        assert_eq!(status, StatusCode::OK, "client {index}");
    }
    let mut last = StatusCode::OK;
    for index in 10..13 {
        last = signup(&app, index, "203.0.113.99")
            .await
            .expect("signup")
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

/// Issue 21: an IPv6 client is its /64 (one host holds a whole /64), IPv4-mapped addresses
/// and forwarded entries with ports or brackets are the address they name, and a forwarded
/// entry that does not parse puts its request in a bucket of its own, never the proxy's.
#[tokio::test]
async fn clients_are_counted_by_network_and_garbage_never_takes_the_proxys_allowance() {
    let app = app_with(|config| {
        config.auth_rate_limit = 2;
        config.trusted_proxies = "127.0.0.1/32".to_owned();
    })
    .await;
    let mut index = 0;
    let mut signup = async |forwarded: &str| {
        index += 1;
        app.client
            .post(app.url("/signup"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"email": format!("net{index}@example.com"), "password": "password123"}))
            .send()
            .await
            .expect("signup")
            .status()
    };
    // One /64, three spellings and addresses: the third request is over the limit.
    assert_eq!(signup("2001:db8:1:2::1").await, StatusCode::OK);
    assert_eq!(signup("[2001:db8:1:2::ffff]:443").await, StatusCode::OK);
    assert_eq!(
        signup("[2001:db8:1:2:aaaa::1]").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another /64 has its own allowance.
    assert_eq!(signup("2001:db8:1:3::1").await, StatusCode::OK);
    // An IPv4 address with a port, and the same address IPv4-mapped, are one client.
    assert_eq!(signup("192.0.2.44:51000").await, StatusCode::OK);
    assert_eq!(signup("::ffff:192.0.2.44").await, StatusCode::OK);
    assert_eq!(signup("192.0.2.44").await, StatusCode::TOO_MANY_REQUESTS);
    // Garbage fills a bucket of its own...
    assert_eq!(signup("not an address").await, StatusCode::OK);
    assert_eq!(signup("also garbage").await, StatusCode::OK);
    assert_eq!(signup("still garbage").await, StatusCode::TOO_MANY_REQUESTS);
    // ...not the proxy's, which every client behind it would share.
    assert_eq!(signup("198.51.100.20").await, StatusCode::OK);
}

/// Issue 21: attempts in flight count against the limit. Many wrong passwords at once for
/// one email get at most the limit's worth of password checks (401); the rest are refused
/// before any hashing (429). (Checked first and counted after, 190 of 200 were hashed.)
#[tokio::test]
async fn concurrent_attempts_are_counted_before_they_are_checked() {
    let app = app_with(|config| {
        config.login_max_failures = 3;
        config.auth_rate_limit = 0;
    })
    .await;
    assert_eq!(
        app.sign_up("rush@example.com", "password123")
            .await
            .status(),
        StatusCode::OK
    );
    let attempts = (0..40).map(|_| app.log_in("rush@example.com", "wrong-password"));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(reqwest::Response::status)
        .collect();
    let checked = statuses
        .iter()
        .filter(|status| **status == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|status| **status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + refused, 40, "{statuses:?}");
    assert_eq!(checked, 3, "{statuses:?}");
    // Locked: the right password too.
    let right = app.log_in("rush@example.com", "password123").await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
}
