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
