//! Sessions (issue 11, first part): every login starts one, access tokens carry its id in
//! `sid`, and logout, logout-all and ending a session by id refuse its tokens within a second.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, TestApp, spawn_app};

/// The claims of a token (its signature is the server's business; here only the content).
fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json claims")
}

/// Whether `token` is refused (401) within two seconds as a token of an ended session: with
/// the code `SESSION_ENDED`, since its user still exists. (The staleness every instance
/// allows itself is one second.)
async fn refused_soon(app: &TestApp, token: &str) -> bool {
    refused_soon_with(app, token, Some("SESSION_ENDED")).await
}

/// Whether `token` is refused (401) within two seconds, with the error code `code`.
async fn refused_soon_with(app: &TestApp, token: &str, code: Option<&str>) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let response = app.who_am_i(token).await;
        if response.status() == StatusCode::UNAUTHORIZED {
            let body: Value = response.json().await.expect("the error envelope");
            assert_eq!(body["error"]["code"].as_str(), code, "{body}");
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn log_in_as(app: &TestApp, email: &str, agent: &str) -> String {
    let response = app
        .client
        .post(app.url("/users/login"))
        .header("user-agent", agent)
        .json(&json!({"email": email, "password": "password123"}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    body["token"].as_str().expect("token").to_owned()
}

async fn sign_up(app: &TestApp, email: &str) {
    let response = app.sign_up(email, "password123").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_login_is_a_session_and_logout_ends_it() {
    let app = spawn_app().await;
    sign_up(&app, "session@example.com").await;
    let token = log_in_as(&app, "session@example.com", "test-agent/1").await;
    let other = log_in_as(&app, "session@example.com", "test-agent/2").await;
    let sid = claims(&token)["sid"]
        .as_str()
        .expect("a sid claim")
        .to_owned();
    assert_ne!(
        Some(sid.as_str()),
        claims(&other)["sid"].as_str(),
        "one session per login"
    );
    assert_eq!(app.who_am_i(&token).await.status(), StatusCode::OK);
    let response = app.call(Method::POST, "/users/logout", &token, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        refused_soon(&app, &token).await,
        "the ended session's token still works"
    );
    // The other session is untouched, and logging out again is refused like any bad token.
    assert_eq!(app.who_am_i(&other).await.status(), StatusCode::OK);
    let again = app.call(Method::POST, "/users/logout", &token, None).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_token_endpoint_starts_a_session_too() {
    let app = spawn_app().await;
    sign_up(&app, "form@example.com").await;
    let response = app
        .client
        .post(app.url("/users/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "form@example.com"),
            ("password", "password123"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let token = body["access_token"].as_str().expect("access_token");
    assert!(claims(token)["sid"].is_string(), "{}", claims(token));
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_by_one_by_their_owner_only() {
    let app = spawn_app().await;
    sign_up(&app, "lister@example.com").await;
    sign_up(&app, "intruder@example.com").await;
    let first = log_in_as(&app, "lister@example.com", "browser/1").await;
    let second = log_in_as(&app, "lister@example.com", "phone/2").await;
    let intruder = log_in_as(&app, "intruder@example.com", "evil/1").await;
    let list = app.get_json("/users/me/sessions", &first).await;
    let list = list.as_array().expect("a list");
    assert_eq!(list.len(), 2, "{list:?}");
    let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{list:?}");
    assert_eq!(current[0]["id"], claims(&first)["sid"]);
    assert_eq!(current[0]["userAgent"], "browser/1");
    assert_eq!(current[0]["ip"], "127.0.0.1");
    for field in ["createdAt", "lastUsedAt"] {
        let at = current[0][field].as_str().expect(field);
        assert!(at.ends_with('Z') && at.contains('T'), "{field}: {at}");
    }
    let second_id = claims(&second)["sid"].as_str().expect("sid").to_owned();
    // Another user cannot end it, nor learn that it exists.
    let response = app
        .call(
            Method::DELETE,
            &format!("/users/me/sessions/{second_id}"),
            &intruder,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.who_am_i(&second).await.status(), StatusCode::OK);
    let response = app
        .call(
            Method::DELETE,
            "/users/me/sessions/no-such-session",
            &first,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .call(
            Method::DELETE,
            &format!("/users/me/sessions/{second_id}"),
            &first,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(refused_soon(&app, &second).await);
    assert_eq!(app.who_am_i(&first).await.status(), StatusCode::OK);
    let list = app.get_json("/users/me/sessions", &first).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_caller_only() {
    let app = spawn_app().await;
    sign_up(&app, "everywhere@example.com").await;
    sign_up(&app, "bystander@example.com").await;
    let tokens = [
        log_in_as(&app, "everywhere@example.com", "a").await,
        log_in_as(&app, "everywhere@example.com", "b").await,
        log_in_as(&app, "everywhere@example.com", "c").await,
    ];
    let bystander = log_in_as(&app, "bystander@example.com", "d").await;
    let response = app
        .call(Method::POST, "/users/logout-all", &tokens[1], None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for token in &tokens {
        assert!(refused_soon(&app, token).await);
    }
    assert_eq!(app.who_am_i(&bystander).await.status(), StatusCode::OK);
    // A new login works as before.
    let fresh = log_in_as(&app, "everywhere@example.com", "e").await;
    assert_eq!(app.who_am_i(&fresh).await.status(), StatusCode::OK);
}

/// Tokens signed before sessions existed (no `sid`) keep working until they expire; logging
/// out with one ends nothing and says so by succeeding quietly.
#[tokio::test]
async fn tokens_from_before_sessions_keep_working() {
    let app = crate::helpers::spawn_hs256_app().await;
    sign_up(&app, "legacy@example.com").await;
    let token = log_in_as(&app, "legacy@example.com", "x").await;
    let mut old = claims(&token);
    old.as_object_mut().expect("claims").remove("sid");
    let now = get_current_timestamp();
    old["iat"] = json!(now);
    old["exp"] = json!(now + 600);
    let legacy = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &old,
        &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .expect("signed");
    assert_eq!(app.who_am_i(&legacy).await.status(), StatusCode::OK);
    let response = app.call(Method::POST, "/users/logout", &legacy, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.who_am_i(&legacy).await.status(), StatusCode::OK);
    assert_eq!(app.who_am_i(&token).await.status(), StatusCode::OK);
}

async fn refresh_login(app: &TestApp, email: &str) -> (String, String) {
    let response = app
        .post_json(
            "/users/refresh-login",
            &json!({"email": email, "password": "password123"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    (
        body["accessToken"]
            .as_str()
            .expect("accessToken")
            .to_owned(),
        body["refreshToken"]
            .as_str()
            .expect("refreshToken")
            .to_owned(),
    )
}

/// `POST /refresh` (with a trailing slash, as LoopBack's own test calls it).
async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let response = app
        .post_json("/refresh/", &json!({"refreshToken": token}))
        .await;
    let status = response.status();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_spent_one_gets_the_current_one_within_the_interval() {
    let app = spawn_app().await;
    sign_up(&app, "rotate@example.com").await;
    let (access, first) = refresh_login(&app, "rotate@example.com").await;
    assert!(first.len() >= 43, "256 bits: {first}");
    assert_eq!(app.who_am_i(&access).await.status(), StatusCode::OK);
    let (status, body) = refresh(&app, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = body["refreshToken"]
        .as_str()
        .expect("refreshToken")
        .to_owned();
    assert_ne!(second, first);
    let renewed = body["accessToken"].as_str().expect("accessToken");
    assert_eq!(
        claims(renewed)["sid"],
        claims(&access)["sid"],
        "the same session"
    );
    assert_eq!(app.who_am_i(renewed).await.status(), StatusCode::OK);
    // The spent one again, at once (a lost response): the current one, not a third.
    let (status, body) = refresh(&app, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["refreshToken"], second.as_str());
    // The current one rotates on.
    let (status, body) = refresh(&app, &second).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(body["refreshToken"], second.as_str());
    // Stored only as hashes.
    let stored = app
        .sql(&format!(
            "SELECT count(*) FROM refresh_tokens WHERE hash = '{first}' OR hash = '{second}'"
        ))
        .await;
    assert_eq!(stored.as_deref(), Some("0"));
    // Tokens are never cacheable.
    let third = body["refreshToken"].as_str().expect("refreshToken");
    let response = app
        .post_json("/refresh", &json!({"refreshToken": third}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let response = app
        .post_json(
            "/users/refresh-login",
            &json!({"email": "rotate@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, body) = refresh(&app, "not-a-refresh-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["statusCode"], 401);
}

#[tokio::test]
async fn a_spent_refresh_token_after_the_interval_ends_the_whole_session() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(TEST_SECRET));
        config.refresh_reuse_interval = 1;
    })
    .await;
    sign_up(&app, "stolen@example.com").await;
    let (access, first) = refresh_login(&app, "stolen@example.com").await;
    let (status, body) = refresh(&app, &first).await;
    assert_eq!(status, StatusCode::OK);
    let current = body["refreshToken"]
        .as_str()
        .expect("refreshToken")
        .to_owned();
    let renewed = body["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let (status, _) = refresh(&app, &first).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "reuse after the interval");
    let (status, _) = refresh(&app, &current).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the session's current token is gone too"
    );
    assert!(refused_soon(&app, &access).await);
    assert!(refused_soon(&app, &renewed).await);
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_all_get_the_one_current_token() {
    let app = spawn_app().await;
    sign_up(&app, "tabs@example.com").await;
    let (_, first) = refresh_login(&app, "tabs@example.com").await;
    let (client, base, _) = app.parts("");
    let calls = (0..20).map(|_| {
        let (client, base, first) = (client.clone(), base.clone(), first.clone());
        tokio::spawn(async move {
            let response = client
                .post(format!("{base}/refresh"))
                .json(&json!({"refreshToken": first}))
                .send()
                .await
                .expect("refresh");
            let status = response.status();
            let body: Value = response.json().await.expect("json");
            (status, body["refreshToken"].as_str().map(str::to_owned))
        })
    });
    let mut tokens = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        let (status, token) = call.await.expect("task");
        assert_eq!(status, StatusCode::OK);
        tokens.push(token.expect("a refresh token"));
    }
    tokens.dedup();
    assert_eq!(
        tokens.len(),
        1,
        "every 200 carries the same token: {tokens:?}"
    );
    let (_, body) = refresh(&app, &tokens[0]).await;
    let access = body["accessToken"].as_str().expect("accessToken");
    let session = claims(access)["sid"].as_str().expect("sid").to_owned();
    let live = app
        .sql(&format!(
            "SELECT count(*) FROM refresh_tokens WHERE session_id = '{session}' AND spent_at IS NULL"
        ))
        .await;
    assert_eq!(live.as_deref(), Some("1"), "one live refresh token");
}

#[tokio::test]
async fn a_refresh_racing_a_logout_never_fails_with_a_server_error() {
    let app = spawn_app().await;
    sign_up(&app, "race@example.com").await;
    for _ in 0..5 {
        let (access, token) = refresh_login(&app, "race@example.com").await;
        let (refreshed, logged_out) = tokio::join!(
            refresh(&app, &token),
            app.call(Method::POST, "/users/logout", &access, None)
        );
        assert!(
            [StatusCode::OK, StatusCode::UNAUTHORIZED].contains(&refreshed.0),
            "{refreshed:?}"
        );
        assert_eq!(logged_out.status(), StatusCode::NO_CONTENT);
        let (status, _) = refresh(&app, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "after the logout");
    }
}

#[tokio::test]
async fn with_rotation_off_refresh_is_loopbacks() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(TEST_SECRET));
        config.refresh_rotation = false;
    })
    .await;
    sign_up(&app, "loopback@example.com").await;
    let (access, token) = refresh_login(&app, "loopback@example.com").await;
    for _ in 0..3 {
        let (status, body) = refresh(&app, &token).await;
        assert_eq!(status, StatusCode::OK);
        let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["accessToken"], "exactly LoopBack's answer");
    }
    let response = app.call(Method::POST, "/users/logout", &access, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(refresh(&app, &token).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_token_endpoint_takes_the_refresh_grant() {
    let app = spawn_app().await;
    sign_up(&app, "oauth@example.com").await;
    let form = |pairs: Vec<(&'static str, String)>| {
        let client = app.client.clone();
        let url = app.url("/users/token");
        async move {
            let response = client.post(url).form(&pairs).send().await.expect("token");
            let status = response.status();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let (status, body) = form(vec![
        ("grant_type", "password".into()),
        ("username", "oauth@example.com".into()),
        ("password", "password123".into()),
    ])
    .await;
    assert_eq!(status, StatusCode::OK);
    let refresh_token = body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    let (status, body) = form(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", refresh_token.clone()),
    ])
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());
    assert_ne!(body["refresh_token"], refresh_token.as_str());
    let (status, body) = form(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", "unknown".into()),
    ])
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_and_keeps_the_callers() {
    let app = spawn_app().await;
    sign_up(&app, "changer@example.com").await;
    let mine = log_in_as(&app, "changer@example.com", "mine").await;
    let other = log_in_as(&app, "changer@example.com", "other").await;
    let (_, other_refresh) = refresh_login(&app, "changer@example.com").await;
    let change = |current: &str, new: &str| json!({"currentPassword": current, "newPassword": new});
    // A wrong current password is 403; a new one signup would refuse is 422.
    let response = app
        .call(
            Method::PUT,
            "/users/me/password",
            &mine,
            Some(&change("wrong-password", "new-password-1")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app
        .call(
            Method::PUT,
            "/users/me/password",
            &mine,
            Some(&change("password123", "short")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.who_am_i(&other).await.status(),
        StatusCode::OK,
        "nothing changed yet"
    );
    let response = app
        .call(
            Method::PUT,
            "/users/me/password",
            &mine,
            Some(&change("password123", "new-password-1")),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        refused_soon(&app, &other).await,
        "another session survived the change"
    );
    assert_eq!(
        refresh(&app, &other_refresh).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.who_am_i(&mine).await.status(),
        StatusCode::OK,
        "the caller's stays"
    );
    assert_eq!(
        app.log_in("changer@example.com", "password123")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.log_in("changer@example.com", "new-password-1")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn deleting_an_account_removes_everything_and_frees_the_email() {
    let app = spawn_app().await;
    sign_up(&app, "leaver@example.com").await;
    let token = log_in_as(&app, "leaver@example.com", "x").await;
    let (_, refresh_token) = refresh_login(&app, "leaver@example.com").await;
    app.create_todo(&token, json!({"title": "mine"})).await;
    let response = app
        .call(
            Method::DELETE,
            "/users/me",
            &token,
            Some(&json!({"password": "wrong-password"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.who_am_i(&token).await.status(), StatusCode::OK);
    let response = app
        .call(
            Method::DELETE,
            "/users/me",
            &token,
            Some(&json!({"password": "password123"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The account is gone, not only the session: LoopBack's message, and no code.
    assert!(refused_soon_with(&app, &token, None).await);
    let refusal = app
        .who_am_i(&token)
        .await
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(
        refusal["error"]["message"],
        "Error verifying token : user not found"
    );
    assert_eq!(
        refresh(&app, &refresh_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    for table in ["users", "todos", "sessions", "refresh_tokens"] {
        let left = app.sql(&format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(left.as_deref(), Some("0"), "{table}");
    }
    sign_up(&app, "leaver@example.com").await;
}

/// Issue 21: the instance that ends a session refuses its tokens at once (its cache of the
/// directory's answers is bypassed), writes included: no request slips in after the 204.
#[tokio::test]
async fn the_instance_that_ends_a_session_refuses_its_token_at_once() {
    let app = spawn_app().await;
    let token = app.token_for("at-once@example.com").await;
    // The directory's answer for this session is cached now.
    assert_eq!(app.who_am_i(&token).await.status(), StatusCode::OK);
    let response = app.call(Method::POST, "/users/logout", &token, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let refused = app.who_am_i(&token).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "SESSION_ENDED", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("log in again")),
        "{body}"
    );
    let write = app
        .call(
            Method::POST,
            "/todos",
            &token,
            Some(&json!({"title": "late"})),
        )
        .await;
    assert_eq!(write.status(), StatusCode::UNAUTHORIZED);
}

/// Issue 21: many concurrent logouts with one token end one session, and record one event.
#[tokio::test]
async fn concurrent_logouts_with_one_token_record_one_event() {
    let app = spawn_app().await;
    let token = app.token_for("many-logouts@example.com").await;
    assert_eq!(app.who_am_i(&token).await.status(), StatusCode::OK);
    let logouts = (0..50).map(|_| app.call(Method::POST, "/users/logout", &token, None));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(logouts)
        .await
        .iter()
        .map(reqwest::Response::status)
        .collect();
    assert!(
        statuses
            .iter()
            .all(|status| [StatusCode::NO_CONTENT, StatusCode::UNAUTHORIZED].contains(status)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::NO_CONTENT));
    let reader = app.log_in("many-logouts@example.com", "password123").await;
    assert_eq!(reader.status(), StatusCode::OK);
    let reader: Value = reader.json().await.expect("json");
    let reader = reader["token"].as_str().expect("token");
    let events = app.get_json("/users/me/events?limit=200", reader).await;
    let logouts = events
        .as_array()
        .expect("a list")
        .iter()
        .filter(|event| event["event"] == "logout")
        .count();
    assert_eq!(logouts, 1, "{events}");
}

/// Issue 21: an account keeps a bounded number of live sessions; a login beyond ends the
/// oldest, and the audit log says so. (20,000 logins made a 3.5 MB session list.)
#[tokio::test]
async fn a_login_beyond_the_cap_ends_the_oldest_session() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(TEST_SECRET));
        config.max_sessions_per_account = 3;
    })
    .await;
    let first = app.token_for("capped@example.com").await;
    // Start times are in seconds: the first session is the oldest for sure.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut tokens = vec![first.clone()];
    for _ in 0..4 {
        let response = app.log_in("capped@example.com", "password123").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json");
        tokens.push(body["token"].as_str().expect("token").to_owned());
    }
    let newest = tokens.last().expect("a token");
    let list = app.get_json("/users/me/sessions", newest).await;
    assert_eq!(list.as_array().expect("a list").len(), 3, "{list}");
    assert!(
        refused_soon(&app, &first).await,
        "the oldest session still works"
    );
    assert_eq!(app.who_am_i(newest).await.status(), StatusCode::OK);
    let mut working = 0;
    for token in &tokens {
        if app.who_am_i(token).await.status() == StatusCode::OK {
            working += 1;
        }
    }
    assert_eq!(working, 3, "the cap's worth of sessions live");
    let events = app.get_json("/users/me/events?limit=50", newest).await;
    let capped = events
        .as_array()
        .expect("a list")
        .iter()
        .filter(|event| event["event"] == "sessions_capped")
        .count();
    assert_eq!(capped, 2, "{events}");
}

async fn sessions_page(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let list = app
        .get_json(&format!("/users/me/sessions{query}"), token)
        .await;
    list.as_array().expect("a list").clone()
}

fn ids(page: &[Value]) -> Vec<String> {
    page.iter()
        .map(|session| session["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Issue 21, row 6: the session list is paged like the events (`limit`, at most 200, 50 by
/// default; `before`, the last id of the previous page), newest first, so its answer is
/// bounded however many sessions an account has.
#[tokio::test]
async fn the_session_list_is_paged_newest_first() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(TEST_SECRET));
        config.auth_rate_limit = 0;
    })
    .await;
    sign_up(&app, "pages@example.com").await;
    let oldest = log_in_as(&app, "pages@example.com", "first").await;
    // Start times are in seconds: the first session is the oldest for sure.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut newest = String::new();
    for index in 0..54 {
        newest = log_in_as(&app, "pages@example.com", &format!("agent {index}")).await;
    }
    let first = sessions_page(&app, &newest, "").await;
    assert_eq!(first.len(), 50, "the default page");
    let everything = sessions_page(&app, &newest, "?limit=200").await;
    assert_eq!(everything.len(), 55);
    assert_eq!(ids(&first), ids(&everything)[..50]);
    assert_eq!(everything[54]["userAgent"], "first", "the oldest last");
    let starts: Vec<&str> = everything
        .iter()
        .map(|session| session["createdAt"].as_str().expect("createdAt"))
        .collect();
    assert!(
        starts.windows(2).all(|pair| pair[0] >= pair[1]),
        "{starts:?}"
    );
    // Page by page, each from the last id of the one before: every session once, in order.
    let mut paged = Vec::new();
    let mut query = "?limit=20".to_owned();
    loop {
        let page = sessions_page(&app, &oldest, &query).await;
        assert!(page.len() <= 20);
        let Some(last) = page.last() else { break };
        query = format!("?limit=20&before={}", last["id"].as_str().expect("id"));
        paged.extend(ids(&page));
    }
    assert_eq!(paged, ids(&everything));
    let second = sessions_page(&app, &newest, &format!("?limit=20&before={}", paged[19])).await;
    assert_eq!(ids(&second), paged[20..40]);
    let current: Vec<&Value> = everything
        .iter()
        .filter(|session| session["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], claims(&newest)["sid"]);
    let bad_queries = [
        "?limit=0".to_owned(),
        "?limit=201".to_owned(),
        "?limit=x".to_owned(),
        "?before=".to_owned(),
        "?before=not-a-session".to_owned(),
        format!("?before={}", "x".repeat(65)),
    ];
    for bad in bad_queries {
        let response = app
            .call(
                Method::GET,
                &format!("/users/me/sessions{bad}"),
                &newest,
                None,
            )
            .await;
        let body = crate::helpers::error_body(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["code"], "INVALID_PARAMETER_VALUE", "{bad}: {body}");
    }
    // Another account's session is no position in this one's list.
    let other = app.token_for("other-pages@example.com").await;
    let theirs = sessions_page(&app, &other, "").await;
    let response = app
        .call(
            Method::GET,
            &format!(
                "/users/me/sessions?before={}",
                theirs[0]["id"].as_str().expect("id")
            ),
            &newest,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// Rotates `token` `times` times; every token of the chain, the first one first.
async fn rotate(app: &TestApp, token: String, times: usize) -> Vec<String> {
    let mut chain = vec![token];
    for _ in 0..times {
        let (status, body) = refresh(app, chain.last().expect("a token")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        chain.push(
            body["refreshToken"]
                .as_str()
                .expect("refreshToken")
                .to_owned(),
        );
    }
    chain
}

async fn refresh_rows(app: &TestApp) -> i64 {
    app.sql("SELECT count(*) FROM refresh_tokens")
        .await
        .expect("a count")
        .parse()
        .expect("a number")
}

/// Issue 21, row 6: a session keeps a bounded number of spent refresh tokens however often it
/// rotates (16, as many as a spent token's chain is followed within the reuse interval); a
/// recently spent one still gets the current one within the interval.
#[tokio::test]
async fn spent_refresh_tokens_per_session_stay_bounded() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(TEST_SECRET));
        config.auth_rate_limit = 0;
    })
    .await;
    sign_up(&app, "rotating@example.com").await;
    let (_, first) = refresh_login(&app, "rotating@example.com").await;
    let chain = rotate(&app, first, 40).await;
    assert_eq!(refresh_rows(&app).await, 17, "16 spent and the current one");
    let current = chain[40].clone();
    // 16 rotations back: within the interval, answered with the current token.
    let (status, body) = refresh(&app, &chain[24]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["refreshToken"], current.as_str());
    // Forgotten: refused, but not taken for reuse (the session goes on).
    let (status, _) = refresh(&app, &chain[5]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = refresh(&app, &current).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(refresh_rows(&app).await, 17);
}

/// After many rotations, the previous refresh token presented after the reuse interval is
/// still reuse: the whole session ends.
#[tokio::test]
async fn reuse_of_the_previous_refresh_token_after_many_rotations_ends_the_session() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(TEST_SECRET));
        config.auth_rate_limit = 0;
        config.refresh_reuse_interval = 0;
    })
    .await;
    sign_up(&app, "reused@example.com").await;
    let (access, first) = refresh_login(&app, "reused@example.com").await;
    let chain = rotate(&app, first, 30).await;
    assert!(refresh_rows(&app).await <= 17);
    // Spent in an earlier second than now: past the interval of 0 s.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, _) = refresh(&app, &chain[29]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "reuse");
    let (status, _) = refresh(&app, &chain[30]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session has ended");
    assert!(refused_soon(&app, &access).await);
    assert_eq!(refresh_rows(&app).await, 0);
}
