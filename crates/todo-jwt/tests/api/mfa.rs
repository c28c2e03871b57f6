//! Issue 23: a second factor. Codes are computed here from the secret the enrolment answers
//! (with totp-rs, as an authenticator app does), never read from the server.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use totp_rs::{Builder, Secret, Totp};

use crate::helpers::{TEST_SECRET, TestApp, error_body, spawn_app, spawn_app_with};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Waits until at least 8 s of the current 30 s step are left, so that a test's codes keep
/// their place (previous, current, next step) while it runs.
async fn steady() {
    let left = 30 - now() % 30;
    if left < 8 {
        tokio::time::sleep(Duration::from_secs(left + 1)).await;
    }
}

/// The app's view of a base32 `secret`.
fn app_for(secret: &str) -> Totp {
    let secret = Secret::try_from_base32(secret).expect("base32");
    Builder::new()
        .with_secret(secret)
        .build()
        .expect("a valid secret")
}

/// The code of `secret` `steps` steps from now.
fn code(secret: &str, steps: i64) -> String {
    let at = now().saturating_add_signed(steps * 30);
    app_for(secret).generate(at).to_string()
}

/// The claims of a token, read without checking it.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

fn token_of(body: &Value) -> String {
    body["token"].as_str().expect("token").to_owned()
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.call(Method::POST, path, token, Some(&body)).await
}

/// Enrols and activates `token`'s account (its code of `steps` steps from now): the secret
/// and the recovery codes.
async fn with_factor(app: &TestApp, token: &str, steps: i64) -> (String, Vec<String>) {
    let enrolled = app
        .call(Method::POST, "/users/me/mfa/totp", token, None)
        .await;
    assert_eq!(enrolled.status(), StatusCode::OK);
    let enrolment: Value = enrolled.json().await.expect("json");
    let secret = enrolment["secret"].as_str().expect("secret").to_owned();
    let body = json!({"code": code(&secret, steps)});
    let verified = post(app, "/users/me/mfa/totp/verify", token, body).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let codes: Value = verified.json().await.expect("json");
    let codes = codes["recoveryCodes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|code| code.as_str().expect("code").to_owned())
        .collect();
    (secret, codes)
}

/// Logs in with the password: the answer's body.
async fn log_in(app: &TestApp, email: &str) -> Value {
    let response = app.log_in(email, "password123").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

/// Enrolment answers the secret three ways and changes nothing until a code of it is
/// verified; then logins need a code, each step's code works once, and the other sessions
/// (started with the password alone) have ended.
#[tokio::test]
async fn an_active_factor_makes_the_password_alone_a_first_step() {
    let app = spawn_app().await;
    let token = app.token_for("ann@example.com").await;
    let other = token_of(&log_in(&app, "ann@example.com").await);
    let enrolled = app
        .call(Method::POST, "/users/me/mfa/totp", &token, None)
        .await;
    assert_eq!(enrolled.status(), StatusCode::OK);
    let enrolment: Value = enrolled.json().await.expect("json");
    let secret = enrolment["secret"].as_str().expect("secret");
    let uri = enrolment["otpauthUri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/todo-jwt:"), "{uri}");
    assert!(uri.contains("issuer=todo-jwt"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(enrolment["qrSvg"].as_str().expect("svg").contains("<svg"));
    // Not active yet: the password alone still logs in, as before.
    let before = log_in(&app, "ann@example.com").await;
    assert_eq!(before.as_object().expect("object").len(), 1, "{before}");
    assert!(claims(&token_of(&before)).get("aal").is_none());
    let factors = app.get_json("/users/me/mfa", &token).await;
    assert_eq!(factors, json!({"totp": false, "recoveryCodesLeft": 0}));
    let wrong = post(
        &app,
        "/users/me/mfa/totp/verify",
        &token,
        json!({"code": "000000"}),
    )
    .await;
    let error = error_body(wrong, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "INVALID_CODE", "{error}");

    steady().await;
    let body = json!({"code": code(secret, -1)});
    let verified = post(&app, "/users/me/mfa/totp/verify", &token, body).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let codes: Value = verified.json().await.expect("json");
    assert_eq!(codes["recoveryCodes"].as_array().expect("codes").len(), 10);
    let factors = app.get_json("/users/me/mfa", &token).await;
    assert_eq!(factors, json!({"totp": true, "recoveryCodesLeft": 10}));
    assert_eq!(
        app.who_am_i(&token).await.status(),
        StatusCode::OK,
        "this session goes on"
    );
    assert_eq!(
        app.who_am_i(&other).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let first = log_in(&app, "ann@example.com").await;
    assert_eq!(first["mfaRequired"], true, "{first}");
    let pending = token_of(&first);
    let said = claims(&pending);
    assert_eq!(
        (&said["aal"], &said["amr"]),
        (&json!("aal1"), &json!(["pwd"]))
    );
    let refused = error_body(app.who_am_i(&pending).await, StatusCode::FORBIDDEN).await;
    assert_eq!(refused["code"], "MFA_REQUIRED", "{refused}");
    let factors = app.get_json("/users/me/mfa", &pending).await;
    assert_eq!(factors["totp"], true);
    // The activation's step, again; two steps away: refused.
    for steps in [-1, -2, 2] {
        let body = json!({"code": code(secret, steps)});
        let again = post(&app, "/users/login/mfa", &pending, body).await;
        let error = error_body(again, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["code"], "INVALID_CODE", "{steps}: {error}");
    }
    let done = post(
        &app,
        "/users/login/mfa",
        &pending,
        json!({"code": code(secret, 0)}),
    )
    .await;
    assert_eq!(done.status(), StatusCode::OK);
    let full = token_of(&done.json().await.expect("json"));
    let said = claims(&full);
    assert_eq!(
        (&said["aal"], &said["amr"]),
        (&json!("aal2"), &json!(["pwd", "otp"]))
    );
    assert_eq!(app.who_am_i(&full).await.status(), StatusCode::OK);
    // The session is no longer waiting; another login takes the next step's code, once.
    let again = post(
        &app,
        "/users/login/mfa",
        &pending,
        json!({"code": code(secret, 1)}),
    )
    .await;
    let error = error_body(again, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "MFA_NOT_PENDING", "{error}");
    let second = token_of(&log_in(&app, "ann@example.com").await);
    for (steps, status) in [(1, StatusCode::OK), (1, StatusCode::BAD_REQUEST)] {
        let body = json!({"code": code(secret, steps)});
        let response = post(&app, "/users/login/mfa", &second, body).await;
        assert_eq!(response.status(), status);
        if status == StatusCode::OK {
            continue;
        }
        // The session was upgraded by the first: the second is not waiting any more.
        let error = error_body(response, status).await;
        assert_eq!(error["code"], "MFA_NOT_PENDING", "{error}");
    }
    let third = token_of(&log_in(&app, "ann@example.com").await);
    let replayed = post(
        &app,
        "/users/login/mfa",
        &third,
        json!({"code": code(secret, 1)}),
    )
    .await;
    let error = error_body(replayed, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        error["code"], "INVALID_CODE",
        "a code is accepted once: {error}"
    );
}

/// A first-step token is refused (403 `MFA_REQUIRED`) on every protected route, mints
/// nothing through the refresh or token endpoints, and the password grant needs the code.
#[tokio::test]
async fn a_first_step_token_opens_nothing_else() {
    let app = spawn_app().await;
    let token = app.token_for("bob@example.com").await;
    steady().await;
    let (secret, _) = with_factor(&app, &token, 0).await;
    let pending = token_of(&log_in(&app, "bob@example.com").await);
    let routes = [
        (Method::GET, "/whoAmI"),
        (Method::GET, "/todos"),
        (Method::POST, "/todos"),
        (Method::GET, "/todos/count"),
        (Method::GET, "/todos/1"),
        (Method::PATCH, "/todos"),
        (Method::DELETE, "/todos/1"),
        (Method::GET, "/users/me"),
        (Method::GET, "/users/me/sessions"),
        (Method::GET, "/users/me/events"),
        (Method::PUT, "/users/me/password"),
        (Method::PUT, "/users/me/email"),
        (Method::DELETE, "/users/me"),
        (Method::POST, "/users/logout-all"),
        (Method::POST, "/users/me/mfa/totp"),
        (Method::POST, "/users/me/mfa/totp/verify"),
        (Method::POST, "/users/me/mfa/recovery-codes"),
        (Method::DELETE, "/users/me/mfa/totp"),
        (Method::PUT, "/todos/1"),
        (Method::PATCH, "/todos/1"),
        (Method::DELETE, "/users/me/sessions/x"),
    ];
    for (method, path) in routes {
        let response = app
            .call(method.clone(), path, &pending, Some(&json!({})))
            .await;
        let error = error_body(response, StatusCode::FORBIDDEN).await;
        assert_eq!(error["code"], "MFA_REQUIRED", "{method} {path}: {error}");
    }
    // Logging out the waiting session is allowed; then it completes nothing.
    let out = app
        .call(Method::POST, "/users/logout", &pending, None)
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let body = json!({"code": code(&secret, 1)});
    let ended = post(&app, "/users/login/mfa", &pending, body).await;
    assert_eq!(
        ended.status(),
        StatusCode::UNAUTHORIZED,
        "its session has ended"
    );
    // refresh-login: the refresh token refreshes nothing until the factor is given.
    let body = json!({"email": "bob@example.com", "password": "password123"});
    let started = app.post_json("/users/refresh-login", &body).await;
    assert_eq!(started.status(), StatusCode::OK);
    let started: Value = started.json().await.expect("json");
    assert_eq!(started["mfaRequired"], true, "{started}");
    let refresh = started["refreshToken"].as_str().expect("refresh token");
    let refused = app
        .post_json("/refresh", &json!({"refreshToken": refresh}))
        .await;
    let error = error_body(refused, StatusCode::FORBIDDEN).await;
    assert_eq!(error["code"], "MFA_REQUIRED", "{error}");
    let oauth_refresh = app
        .client
        .post(app.url("/users/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .expect("request");
    assert_eq!(oauth_refresh.status(), StatusCode::BAD_REQUEST);
    let oauth: Value = oauth_refresh.json().await.expect("json");
    assert_eq!(oauth["error"], "invalid_grant", "{oauth}");
    // The session lives minutes while it waits.
    let waiting = app
        .sql("SELECT max(expires_at - created_at) FROM sessions WHERE aal = 'aal1'")
        .await;
    assert_eq!(waiting.as_deref(), Some("600"));
    let access = started["accessToken"].as_str().expect("access");
    let body = json!({"code": code(&secret, 1)});
    let done = post(&app, "/users/login/mfa", access, body).await;
    assert_eq!(done.status(), StatusCode::OK);
    let done: Value = done.json().await.expect("json");
    assert_eq!(done["token"], done["accessToken"], "{done}");
    // The refresh token handed out with the password alone is dead; the new one works.
    let old = app
        .post_json("/refresh", &json!({"refreshToken": refresh}))
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let refresh = done["refreshToken"].as_str().expect("a new refresh token");
    let renewed = app
        .post_json("/refresh", &json!({"refreshToken": refresh}))
        .await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed: Value = renewed.json().await.expect("json");
    let said = claims(renewed["accessToken"].as_str().expect("access"));
    assert_eq!(said["aal"], "aal2", "refreshes keep the session's level");
    // The password grant: without the code, no token; with it, an aal2 token.
    let grant = |extra: Option<String>| {
        let mut form = vec![
            ("grant_type", "password".to_owned()),
            ("username", "bob@example.com".to_owned()),
            ("password", "password123".to_owned()),
        ];
        if let Some(code) = extra {
            form.push(("mfa_code", code));
        }
        app.client.post(app.url("/users/token")).form(&form).send()
    };
    let without = grant(None).await.expect("request");
    assert_eq!(without.status(), StatusCode::BAD_REQUEST);
    let oauth: Value = without.json().await.expect("json");
    assert_eq!(oauth["error"], "invalid_grant", "{oauth}");
    let wrong = grant(Some("000000".to_owned())).await.expect("request");
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let with = grant(Some(code(&secret, -1))).await.expect("request");
    // The previous step's code is older than the one accepted: refused; wait for the next.
    assert_eq!(with.status(), StatusCode::BAD_REQUEST);
    tokio::time::sleep(Duration::from_secs(30 - now() % 30 + 1)).await;
    let with = grant(Some(code(&secret, 1))).await.expect("request");
    assert_eq!(with.status(), StatusCode::OK);
    let issued: Value = with.json().await.expect("json");
    let said = claims(issued["access_token"].as_str().expect("access"));
    assert_eq!(said["aal"], "aal2");
}

/// Recovery codes work once each (a notice is sent), regenerating them kills the old ones, and
/// removing the factor needs the password and a fresh code.
#[tokio::test]
async fn recovery_codes_work_once_and_the_factor_goes_with_password_and_code() {
    let app = spawn_app().await;
    let token = app.token_for("carol@example.com").await;
    steady().await;
    let (secret, codes) = with_factor(&app, &token, -1).await;
    let pending = token_of(&log_in(&app, "carol@example.com").await);
    let body = json!({"code": codes[0].to_uppercase()});
    let done = post(&app, "/users/login/mfa", &pending, body).await;
    assert_eq!(done.status(), StatusCode::OK);
    let full = token_of(&done.json().await.expect("json"));
    assert_eq!(
        app.get_json("/users/me/mfa", &full).await["recoveryCodesLeft"],
        9
    );
    let again = token_of(&log_in(&app, "carol@example.com").await);
    let used = post(&app, "/users/login/mfa", &again, json!({"code": codes[0]})).await;
    assert_eq!(used.status(), StatusCode::BAD_REQUEST);
    // New codes: the old ones die.
    let body = json!({"password": "password123"});
    let renewed = post(&app, "/users/me/mfa/recovery-codes", &full, body).await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let old = post(&app, "/users/login/mfa", &again, json!({"code": codes[1]})).await;
    assert_eq!(old.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get_json("/users/me/mfa", &full).await["recoveryCodesLeft"],
        10
    );
    // Removing it: the password and a code, both right.
    let cases = [
        (
            json!({"password": "wrong password", "code": code(&secret, 0)}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"password": "password123", "code": "000000"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"password": "password123"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"password": "password123", "code": code(&secret, 0)}),
            StatusCode::NO_CONTENT,
        ),
    ];
    for (body, status) in cases {
        let response = app
            .call(Method::DELETE, "/users/me/mfa/totp", &full, Some(&body))
            .await;
        assert_eq!(response.status(), status, "{body}");
    }
    let plain = log_in(&app, "carol@example.com").await;
    assert_eq!(plain.as_object().expect("object").len(), 1, "{plain}");
    // Counted (the recorder is the test process's, shared by every test in it: at least ours).
    let text = crate::metrics::scrape(&app).await;
    for event in [
        "mfa_disabled",
        "recovery_code_used",
        "recovery_codes_regenerated",
    ] {
        let series = format!("second_factor_events_total{{event=\"{event}\"}}");
        assert!(
            crate::metrics::value(&text, &series) >= 1.0,
            "{series} in {text}"
        );
    }
    let events = app.get_json("/users/me/events", &full).await;
    let names: Vec<&str> = events
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| event["event"].as_str())
        .filter(|name| name.starts_with("mfa_") || name.starts_with("recovery"))
        .collect();
    assert!(
        names.starts_with(&["mfa_disabled", "mfa_verified", "mfa_failed"])
            && names.contains(&"recovery_codes_regenerated")
            && names.contains(&"recovery_code_used")
            && names.ends_with(&["mfa_activated", "mfa_enrolled"]),
        "{names:?}"
    );
}

/// Wrong codes count toward the account's lockout like wrong passwords, and a right password
/// in between does not clear the count (for an account with a factor, only a right code does):
/// here 4 attempts a window, two rounds of password and wrong code, then the lock.
#[tokio::test]
async fn guessing_codes_locks_the_account() {
    let app = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.login_max_failures = 4;
    })
    .await;
    let token = app.token_for("dave@example.com").await;
    steady().await;
    with_factor(&app, &token, 0).await;
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let pending = token_of(&log_in(&app, "dave@example.com").await);
        let guess = post(
            &app,
            "/users/login/mfa",
            &pending,
            json!({"code": "123456"}),
        )
        .await;
        statuses.push(guess.status());
    }
    assert_eq!(statuses, [StatusCode::BAD_REQUEST; 2]);
    let locked = app.log_in("dave@example.com", "password123").await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Two instances on one PostgreSQL: a code accepted by one is refused by the other, even
/// when both are asked at once (the step is taken by one conditional `UPDATE`).
#[tokio::test]
#[ignore = "PostgreSQL only: runs in the PostgreSQL pass of tests/run.sh"]
async fn a_code_is_accepted_once_across_instances() {
    let database = crate::helpers::postgres_only().await;
    let start = || {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut command = crate::helpers::command(data_dir.path());
        command
            .env("TODO_JWT_DATABASE_URL", &database.url)
            .env("TODO_JWT_AUTH_RATE_LIMIT", "0");
        crate::helpers::start_with(command, data_dir)
    };
    let (one, two) = (start(), start());
    let token = one.app.token_for("erin@example.com").await;
    steady().await;
    let (secret, _) = with_factor(&one.app, &token, -1).await;
    // The current step's code, then the next one's (the window's last).
    for round in 0..2 {
        // Each round, a fresh first step on each instance and the same code sent to both.
        let first = token_of(&log_in(&one.app, "erin@example.com").await);
        let second = token_of(&log_in(&two.app, "erin@example.com").await);
        let body = json!({"code": code(&secret, round)});
        let (a, b) = tokio::join!(
            post(&one.app, "/users/login/mfa", &first, body.clone()),
            post(&two.app, "/users/login/mfa", &second, body),
        );
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::BAD_REQUEST],
            "round {round}"
        );
    }
}

/// Past 100 wrong app codes in a row only a recovery code works (it clears the count), and the
/// owner is told; with the lockout and the address limit off, nothing else would stop it.
#[tokio::test]
async fn a_hundred_wrong_codes_leave_only_recovery_codes() {
    let app = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.login_max_failures = 0;
        config.auth_rate_limit = 0;
    })
    .await;
    let token = app.token_for("fay@example.com").await;
    steady().await;
    let (secret, codes) = with_factor(&app, &token, -1).await;
    let pending = token_of(&log_in(&app, "fay@example.com").await);
    for guess in 0..100 {
        let body = json!({"code": format!("{:06}", (guess * 7919) % 1_000_000)});
        let wrong = post(&app, "/users/login/mfa", &pending, body).await;
        // (A guess could be right by chance: one in a few hundred thousand.)
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST, "guess {guess}");
    }
    let right = post(
        &app,
        "/users/login/mfa",
        &pending,
        json!({"code": code(&secret, 0)}),
    )
    .await;
    let error = error_body(right, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "USE_RECOVERY_CODE", "{error}");
    crate::helpers::eventually(Duration::from_secs(10), "the notice", async || {
        crate::mail::eml_files(&app, "Someone is guessing your codes").len() == 1
    })
    .await;
    let recovered = post(
        &app,
        "/users/login/mfa",
        &pending,
        json!({"code": codes[0]}),
    )
    .await;
    assert_eq!(recovered.status(), StatusCode::OK);
    // The count is cleared: the app's codes work again.
    let next = token_of(&log_in(&app, "fay@example.com").await);
    let done = post(
        &app,
        "/users/login/mfa",
        &next,
        json!({"code": code(&secret, 0)}),
    )
    .await;
    assert_eq!(done.status(), StatusCode::OK);
}

/// A second enrolment while a factor is active is 409 (the factor is not replaced); removing
/// a factor that is not there is 409; a password reset keeps the factor.
#[tokio::test]
async fn an_active_factor_is_neither_replaced_nor_reset_away() {
    let app = spawn_app().await;
    let token = app.token_for("gil@example.com").await;
    let body = json!({"password": "password123", "code": "123456"});
    let none = app
        .call(Method::DELETE, "/users/me/mfa/totp", &token, Some(&body))
        .await;
    assert_eq!(none.status(), StatusCode::CONFLICT);
    steady().await;
    let (secret, _) = with_factor(&app, &token, -1).await;
    let again = app
        .call(Method::POST, "/users/me/mfa/totp", &token, None)
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let reset = crate::mail::request_reset(&app, "gil@example.com").await;
    assert_eq!(reset.status(), StatusCode::ACCEPTED);
    crate::helpers::eventually(Duration::from_secs(10), "the reset message", async || {
        crate::mail::eml_files(&app, "Reset your password").len() == 1
    })
    .await;
    let message = crate::mail::eml_files(&app, "Reset your password").remove(0);
    let reset_token = crate::mail::token_in(&message);
    let done = crate::mail::confirm_reset(&app, &reset_token, "a new password here").await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    let login = app.log_in("gil@example.com", "a new password here").await;
    let login: Value = login.json().await.expect("json");
    assert_eq!(
        login["mfaRequired"], true,
        "the factor survives a reset: {login}"
    );
    let body = json!({"code": code(&secret, 0)});
    let done = post(&app, "/users/login/mfa", &token_of(&login), body).await;
    assert_eq!(done.status(), StatusCode::OK);
}
