//! Issue 13: the audit log, as the user reads it (`GET /users/me/events`) and as it is stored.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body, spawn_app};

async fn events(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let response = app
        .call(
            Method::GET,
            &format!("/users/me/events{query}"),
            token,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Vec<Value>>().await.expect("json")
}

fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["event"].as_str().expect("event"))
        .collect()
}

/// Sign-up, a failed and a good login, a refresh, a password change and a logout are the
/// caller's events, newest first, with the client's address, `User-Agent` and request id;
/// another user sees none of them; pages follow `before`.
#[tokio::test]
async fn the_caller_reads_their_own_events_newest_first() {
    let app = spawn_app().await;
    let post = |path: &str, body: Value, request_id: &str| {
        app.client
            .post(app.url(path))
            .header(header::USER_AGENT, "audit-test/1.0")
            .header("x-request-id", request_id)
            .json(&body)
            .send()
    };
    let credentials = json!({"email": "audit@example.com", "password": "password123"});
    let signed = post("/signup", credentials.clone(), "req-signup")
        .await
        .expect("signup");
    assert_eq!(signed.status(), StatusCode::OK);
    let wrong = json!({"email": "audit@example.com", "password": "wrong-password"});
    let failed = post("/users/login", wrong, "req-failed")
        .await
        .expect("login");
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let login = post("/users/refresh-login", credentials.clone(), "req-login")
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::OK);
    let tokens: Value = login.json().await.expect("json");
    let refreshed = post(
        "/refresh",
        json!({"refreshToken": tokens["refreshToken"]}),
        "req-refresh",
    )
    .await
    .expect("refresh");
    assert_eq!(refreshed.status(), StatusCode::OK);
    let token = tokens["accessToken"].as_str().expect("token").to_owned();

    let other = app.token_for("someone-else@example.com").await;
    let theirs = events(&app, &other, "").await;
    assert_eq!(names(&theirs), ["login", "signup"], "{theirs:?}");

    let mine = events(&app, &token, "").await;
    assert_eq!(
        names(&mine),
        ["refresh", "login", "login_failed", "signup"],
        "{mine:?}"
    );
    let ids: Vec<i64> = mine
        .iter()
        .map(|event| event["id"].as_i64().expect("id"))
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] > pair[1]), "{ids:?}");
    for (event, request_id) in
        mine.iter()
            .zip(["req-refresh", "req-login", "req-failed", "req-signup"])
    {
        assert_eq!(event["requestId"], request_id, "{event}");
        assert_eq!(event["ip"], "127.0.0.1", "{event}");
        assert_eq!(event["userAgent"], "audit-test/1.0", "{event}");
        assert!(event["at"].as_str().expect("at").ends_with('Z'), "{event}");
        assert!(event.get("email").is_none(), "{event}");
    }
    assert!(mine[0]["sessionId"].is_string() && mine[0]["sessionId"] == mine[1]["sessionId"]);

    // Pages: two, then the rest.
    let first = events(&app, &token, "?limit=2").await;
    assert_eq!(names(&first), ["refresh", "login"]);
    let rest = events(&app, &token, &format!("?limit=2&before={}", first[1]["id"])).await;
    assert_eq!(names(&rest), ["login_failed", "signup"]);

    // A logout is recorded too (read with another session's token).
    let second = app.log_in("audit@example.com", "password123").await;
    let second = second.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let out = app.call(Method::POST, "/users/logout", &token, None).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        names(&events(&app, &second, "?limit=2").await),
        ["logout", "login"]
    );

    for bad in ["?limit=0", "?limit=201", "?limit=x", "?before=-1"] {
        let response = app
            .call(
                Method::GET,
                &format!("/users/me/events{bad}"),
                &second,
                None,
            )
            .await;
        let body = error_body(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["code"], "INVALID_PARAMETER_VALUE", "{bad}: {body}");
    }
    let anonymous = app.get_authorized("/users/me/events", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// An event is written in the transaction of the change it records: when its row cannot be
/// written, the change is not kept either (no session without its `login` event).
#[tokio::test]
async fn a_change_is_never_kept_without_its_event() {
    let app = spawn_app().await;
    app.token_for("atomic@example.com").await;
    let sessions = app.sql("SELECT count(*) FROM sessions").await;
    app.sql("DROP TABLE audit_events").await;
    let login = app.log_in("atomic@example.com", "password123").await;
    assert!(login.status().is_server_error(), "{}", login.status());
    assert_eq!(app.sql("SELECT count(*) FROM sessions").await, sessions);
}

/// Waits, if need be, until the current minute has at least `room` seconds left, so that the
/// attempts a test makes fall in one of the audit log's count windows (60 s, on Unix time).
async fn within_one_window(room: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    let left = 60 - now.as_secs() % 60;
    if left < room {
        tokio::time::sleep(std::time::Duration::from_secs(left)).await;
    }
}

async fn wrong_login(app: &TestApp, email: &str, forwarded: &str) -> StatusCode {
    app.client
        .post(app.url("/users/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"email": email, "password": "wrong-password"}))
        .send()
        .await
        .expect("login")
        .status()
}

/// Issue 21, row 5: failed logins for unknown emails (anyone can send them without end) are
/// counted on one row per client bucket and minute, not one row each; an IPv6 /64 is one
/// client; a known account's failures are still its own events.
#[tokio::test]
async fn failed_logins_for_unknown_emails_are_one_counted_row_per_client_and_minute() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(crate::helpers::TEST_SECRET));
        config.auth_rate_limit = 0;
        config.trusted_proxies = "127.0.0.1/32".to_owned();
    })
    .await;
    let token = app.token_for("known@example.com").await;
    within_one_window(20).await;
    for index in 0..25 {
        // Two hosts of one /64, and each email once: no account lock, one client.
        let forwarded = format!("2001:db8:1:2::{}", index % 2 + 1);
        let email = format!("nobody{index}@example.com");
        let status = wrong_login(&app, &email, &forwarded).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Another client: a row of its own.
    for index in 0..3 {
        let status = wrong_login(&app, &format!("other{index}@example.com"), "192.0.2.9").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // A known account's failure: an event of its own, as before.
    assert_eq!(
        wrong_login(&app, "known@example.com", "192.0.2.9").await,
        StatusCode::UNAUTHORIZED
    );
    let counted = |sql: &'static str| app.sql(sql);
    assert_eq!(
        counted("SELECT count(*) FROM audit_counts")
            .await
            .as_deref(),
        Some("2")
    );
    assert_eq!(
        counted(
            "SELECT count || ' ' || last_email FROM audit_counts \
             WHERE kind = 'login_failed' AND client = 'ip:2001:db8:1:2::/64'"
        )
        .await
        .as_deref(),
        Some("25 nobody24@example.com")
    );
    assert_eq!(
        counted(
            "SELECT count FROM audit_counts \
             WHERE kind = 'login_failed' AND client = 'ip:192.0.2.9/32'"
        )
        .await
        .as_deref(),
        Some("3")
    );
    assert_eq!(
        counted("SELECT count(*) FROM audit_events WHERE event = 'login_failed'")
            .await
            .as_deref(),
        Some("1"),
        "only the known account's failure is an event"
    );
    let mine = events(&app, &token, "").await;
    assert_eq!(
        names(&mine),
        ["login_failed", "login", "signup"],
        "{mine:?}"
    );
}

/// The lock of an email without an account is counted per client too (each email an attacker
/// tries a few times would otherwise be a `throttled` row); a known account's lock is its
/// owner's event.
#[tokio::test]
async fn locks_of_unknown_emails_are_counted_and_an_accounts_lock_is_its_event() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(crate::helpers::TEST_SECRET));
        config.auth_rate_limit = 0;
        config.login_max_failures = 2;
    })
    .await;
    let token = app.token_for("owner@example.com").await;
    within_one_window(20).await;
    for index in 0..3 {
        for _ in 0..2 {
            let status = wrong_login(&app, &format!("ghost{index}@example.com"), "").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    for _ in 0..2 {
        let status = wrong_login(&app, "owner@example.com", "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.sql("SELECT count || ' ' || client FROM audit_counts WHERE kind = 'throttled'")
            .await
            .as_deref(),
        Some("3 ip:127.0.0.1/32")
    );
    assert_eq!(
        app.sql("SELECT count FROM audit_counts WHERE kind = 'login_failed'")
            .await
            .as_deref(),
        Some("6")
    );
    let mine = events(&app, &token, "?limit=1").await;
    assert_eq!(names(&mine), ["throttled"], "{mine:?}");
}

/// Issue 21, row 5: an account keeps its newest events only, however many it causes; another
/// account's are untouched.
#[tokio::test]
async fn an_account_keeps_at_most_its_cap_of_events_the_newest() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(crate::helpers::TEST_SECRET));
        config.max_events_per_account = 5;
        config.login_max_failures = 0;
    })
    .await;
    let other = app.token_for("bystander@example.com").await;
    // signup, login, then 9 failures and a login: 12 events, 5 kept.
    let token = app.token_for("busy@example.com").await;
    for _ in 0..9 {
        assert_eq!(
            wrong_login(&app, "busy@example.com", "").await,
            StatusCode::UNAUTHORIZED
        );
    }
    let login = app.log_in("busy@example.com", "password123").await;
    assert_eq!(login.status(), StatusCode::OK);
    let mine = events(&app, &token, "?limit=200").await;
    assert_eq!(
        names(&mine),
        [
            "login",
            "login_failed",
            "login_failed",
            "login_failed",
            "login_failed"
        ],
        "{mine:?}"
    );
    assert_eq!(
        app.sql(
            "SELECT count(*) FROM audit_events WHERE user_id = \
             (SELECT id FROM users WHERE email = 'busy@example.com')"
        )
        .await
        .as_deref(),
        Some("5")
    );
    let theirs = events(&app, &other, "").await;
    assert_eq!(names(&theirs), ["login", "signup"], "{theirs:?}");
}
