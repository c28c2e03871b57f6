//! Issue 22, the rest: moving an account to another address (`PUT /users/me/email`, confirmed
//! from the new mailbox), `GET /users/me` with `emailVerified`, logins refused until the address
//! is proven when the service requires it, and tokens that expired or are guessed.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    helpers::{TEST_SECRET, TestApp, error_body, eventually, spawn_app, spawn_app_with},
    mail::{confirm_reset, eml_files, request_reset, token_in, verify},
};

async fn change(app: &TestApp, token: &str, new_email: &str, password: &str) -> reqwest::Response {
    let body = json!({"newEmail": new_email, "password": password});
    app.call(Method::PUT, "/users/me/email", token, Some(&body))
        .await
}

async fn confirm(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/users/me/email/confirm", &json!({"token": token}))
        .await
}

async fn me(app: &TestApp, token: &str) -> Value {
    app.get_json("/users/me", token).await
}

/// The `.eml` files with `subject` once there are `count` of them.
async fn messages(app: &TestApp, subject: &str, count: usize) -> Vec<String> {
    eventually(Duration::from_secs(10), subject, async || {
        eml_files(app, subject).len() >= count
    })
    .await;
    let found = eml_files(app, subject);
    assert_eq!(found.len(), count, "{subject}: {found:?}");
    found
}

/// The account moves only once the link sent to the new address comes back: then the new
/// address logs in (proven), the old one does not, the former address is told, and the links
/// sent before stop working.
#[tokio::test]
async fn an_address_change_applies_once_confirmed_from_the_new_mailbox() {
    let app = spawn_app().await;
    let signup = app.sign_up("ann@example.com", "password123").await;
    assert_eq!(signup.status(), StatusCode::OK);
    let body: Value = signup.json().await.expect("json");
    assert_eq!(body["emailVerified"], false, "{body}");
    // LoopBack's behaviour by default: an unproven address logs in.
    let login = app.log_in("ann@example.com", "password123").await;
    assert_eq!(login.status(), StatusCode::OK);
    let session = login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let before = me(&app, &session).await;
    assert_eq!(
        (&before["email"], &before["emailVerified"]),
        (&json!("ann@example.com"), &json!(false))
    );
    let signup_token = token_in(&messages(&app, "Confirm your email address", 1).await[0]);

    let asked = change(&app, &session, "Ann@Example.org", "password123").await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let confirmation = messages(&app, "Confirm your new email address", 1)
        .await
        .remove(0);
    assert!(
        confirmation.contains("To: Ann@Example.org"),
        "{confirmation}"
    );
    let token = token_in(&confirmation);
    assert!(
        confirmation.contains(&format!("{}/confirm-email#token={token}", app.address)),
        "{confirmation}"
    );
    let notice = messages(&app, "A change of your email address was asked", 1)
        .await
        .remove(0);
    assert!(notice.contains("To: ann@example.com"), "{notice}");
    assert!(
        notice.contains("A***@Example.org") && !notice.contains("Ann@Example.org"),
        "the new address, masked: {notice}"
    );
    // A reset link asked for the old address before the move.
    let asked = request_reset(&app, "ann@example.com").await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let reset_token = token_in(&messages(&app, "Reset your password", 1).await[0]);
    // Nothing has changed yet.
    assert_eq!(me(&app, &session).await["email"], "ann@example.com");
    let new_login = app.log_in("ann@example.org", "password123").await;
    assert_eq!(new_login.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(confirm(&app, &token).await.status(), StatusCode::NO_CONTENT);
    let after = me(&app, &session).await;
    assert_eq!(
        (&after["email"], &after["emailVerified"]),
        (&json!("Ann@Example.org"), &json!(true)),
        "the session goes on, with the new address, proven"
    );
    let old_login = app.log_in("ann@example.com", "password123").await;
    assert_eq!(old_login.status(), StatusCode::UNAUTHORIZED);
    let new_login = app.log_in("ann@example.org", "password123").await;
    assert_eq!(new_login.status(), StatusCode::OK);
    let session = new_login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let told = messages(&app, "Your email address was changed", 1)
        .await
        .remove(0);
    assert!(told.contains("To: ann@example.com"), "{told}");
    assert!(!told.contains("Ann@Example.org"), "{told}");
    // Used; and the links sent to the former address no longer work.
    let error = error_body(confirm(&app, &token).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "INVALID_TOKEN", "{error}");
    let error = error_body(verify(&app, &signup_token).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "INVALID_TOKEN", "{error}");
    let reset = confirm_reset(&app, &reset_token, "the old mailbox's password").await;
    let error = error_body(reset, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "INVALID_TOKEN", "{error}");
    // The former address can sign up again.
    let again = app.sign_up("ann@example.com", "password123").await;
    assert_eq!(again.status(), StatusCode::OK);
    let events = app.get_json("/users/me/events", &session).await;
    let names: Vec<&str> = events
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| event["event"].as_str())
        .filter(|name| name.starts_with("email_"))
        .collect();
    assert_eq!(names, ["email_changed", "email_change_requested"]);
    // A reset token written for the former address after the move (a request that read the
    // account just before it moved) does not work; the same token for the new address does.
    let id = after["id"].as_str().expect("id");
    let raced = todo_jwt::sessions::token_hash("raced");
    app.sql(&format!(
        "INSERT INTO email_tokens (hash, user_id, purpose, created_at, expires_at, account_key) \
         VALUES ('{raced}', '{id}', 'password-reset', 0, 4000000000, 'ann@example.com')"
    ))
    .await;
    let reset = confirm_reset(&app, "raced", "the old mailbox's password").await;
    let error = error_body(reset, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "INVALID_TOKEN", "{error}");
    app.sql("UPDATE email_tokens SET account_key = 'ann@example.org'")
        .await;
    let reset = confirm_reset(&app, "raced", "the new mailbox's password").await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
}

/// An address change asked by whoever knew the password is cancelled by a password reset or
/// change: its link no longer works (the notice says so).
#[tokio::test]
async fn a_password_reset_or_change_cancels_a_pending_address_change() {
    let app = spawn_app().await;
    let session = app.token_for("hal@example.com").await;
    // The thief asks to move the account to their mailbox.
    let asked = change(&app, &session, "thief@example.org", "password123").await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let stolen = token_in(&messages(&app, "Confirm your new email address", 1).await[0]);
    let notice = messages(&app, "A change of your email address was asked", 1)
        .await
        .remove(0);
    assert!(notice.contains("also cancels"), "{notice}");
    // The owner resets the password from the notice.
    let reset = request_reset(&app, "hal@example.com").await;
    assert_eq!(reset.status(), StatusCode::ACCEPTED);
    let reset_token = token_in(&messages(&app, "Reset your password", 1).await[0]);
    let done = confirm_reset(&app, &reset_token, "the owner's new password").await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    let error = error_body(confirm(&app, &stolen).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "INVALID_TOKEN", "{error}");
    let login = app
        .log_in("hal@example.com", "the owner's new password")
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    let session = login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    // The reset came through the mailbox: the address is proven.
    assert_eq!(me(&app, &session).await["emailVerified"], true);

    // A password change cancels one too.
    let asked = change(
        &app,
        &session,
        "thief@example.org",
        "the owner's new password",
    )
    .await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let stolen = token_in(&messages(&app, "Confirm your new email address", 2).await[1]);
    let body = json!({"currentPassword": "the owner's new password",
                      "newPassword": "another new password"});
    let changed = app
        .call(Method::PUT, "/users/me/password", &session, Some(&body))
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let error = error_body(confirm(&app, &stolen).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "INVALID_TOKEN", "{error}");
    assert_eq!(me(&app, &session).await["email"], "hal@example.com");
}

/// A wrong password, a taken address (in any letter case), the account's own address, a
/// malformed one and no token are refused with nothing sent; past three requests an hour the
/// account is told to wait; an address taken between the request and the link leaves the
/// account as it was.
#[tokio::test]
async fn address_changes_are_refused_safely() {
    let app = spawn_app().await;
    let session = app.token_for("bob@example.com").await;
    app.token_for("carol@example.com").await;
    messages(&app, "Confirm your email address", 2).await;
    let wrong = change(&app, &session, "bob@example.org", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let taken = error_body(
        change(&app, &session, "CAROL@example.com", "password123").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(taken["code"], "CONFLICT", "{taken}");
    let own = error_body(
        change(&app, &session, "Bob@Example.com", "password123").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(own["code"], "SAME_EMAIL", "{own}");
    // Line breaks, and a display name (which would slip past the uniqueness of addresses and
    // into the text of the notices): not addresses.
    for malformed in [
        "bob\r\nBcc: x@example.org",
        "Carol <carol@example.com>",
        "Your account is locked, see https://evil.example <a@evil.example>",
    ] {
        let response = change(&app, &session, malformed, "password123").await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{malformed}"
        );
        let signup = app.sign_up(malformed, "password123").await;
        assert_eq!(
            signup.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{malformed}"
        );
    }
    let anonymous = app
        .client
        .put(app.url("/users/me/email"))
        .json(&json!({"newEmail": "bob@example.org", "password": "password123"}))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(eml_files(&app, "Confirm your new email address").is_empty());

    // The third counted request (the taken and the own address counted too) is the last.
    let third = change(&app, &session, "dave@example.com", "password123").await;
    assert_eq!(third.status(), StatusCode::ACCEPTED);
    let fourth = error_body(
        change(&app, &session, "dave@example.com", "password123").await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    assert_eq!(fourth["code"], "TOO_MANY_REQUESTS", "{fourth}");
    let token = token_in(&messages(&app, "Confirm your new email address", 1).await[0]);
    // Dave signs up with the address before Bob opens the link.
    app.token_for("DAVE@example.com").await;
    let late = error_body(confirm(&app, &token).await, StatusCode::CONFLICT).await;
    assert_eq!(late["code"], "CONFLICT", "{late}");
    assert_eq!(me(&app, &session).await["email"], "bob@example.com");
    let login = app.log_in("bob@example.com", "password123").await;
    assert_eq!(login.status(), StatusCode::OK);
    assert!(eml_files(&app, "Your email address was changed").is_empty());
}

/// With `TODO_JWT_REQUIRE_VERIFIED_EMAIL=true` a right password for an unproven address gets
/// 403 `EMAIL_NOT_VERIFIED` on every login route (a wrong one still the plain 401), until the
/// link is followed.
#[tokio::test]
async fn logins_wait_for_a_proven_address_when_the_service_requires_it() {
    let app = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.require_verified_email = true;
    })
    .await;
    let signup = app.sign_up("erin@example.com", "password123").await;
    assert_eq!(signup.status(), StatusCode::OK);
    for path in ["/users/login", "/users/refresh-login"] {
        let body = json!({"email": "erin@example.com", "password": "password123"});
        let error = error_body(app.post_json(path, &body).await, StatusCode::FORBIDDEN).await;
        assert_eq!(error["code"], "EMAIL_NOT_VERIFIED", "{path}: {error}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|message| message.contains("/users/verify-email/resend")),
            "{error}"
        );
    }
    let wrong = app.log_in("erin@example.com", "wrong password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let form = app
        .client
        .post(app.url("/users/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "erin@example.com"),
            ("password", "password123"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(form.status(), StatusCode::BAD_REQUEST);
    let oauth: Value = form.json().await.expect("json");
    assert_eq!(oauth["error"], "invalid_grant", "{oauth}");

    let token = token_in(&messages(&app, "Confirm your email address", 1).await[0]);
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    let login = app.log_in("erin@example.com", "password123").await;
    assert_eq!(login.status(), StatusCode::OK);
}

/// A token past its time works no more, whatever it was for.
#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = spawn_app().await;
    let session = app.token_for("fay@example.com").await;
    let accepted = request_reset(&app, "fay@example.com").await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let asked = change(&app, &session, "fay@example.org", "password123").await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let verification = token_in(&messages(&app, "Confirm your email address", 1).await[0]);
    let reset = token_in(&messages(&app, "Reset your password", 1).await[0]);
    let moving = token_in(&messages(&app, "Confirm your new email address", 1).await[0]);
    // Every token's time ends (as 24 hours, or 30 minutes, later would).
    app.sql("UPDATE email_tokens SET expires_at = created_at")
        .await;
    let refused = [
        verify(&app, &verification).await,
        confirm_reset(&app, &reset, "a brand new password").await,
        confirm(&app, &moving).await,
    ];
    for response in refused {
        let error = error_body(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["code"], "INVALID_TOKEN", "{error}");
    }
    assert_eq!(me(&app, &session).await["emailVerified"], false);
    let old = app.log_in("fay@example.com", "password123").await;
    assert_eq!(old.status(), StatusCode::OK, "the password is unchanged");
}

/// Guessing tokens is held to the per-address limit of the credential routes: here 4 a minute,
/// then 429 for every route that takes a token.
#[tokio::test]
async fn guessing_tokens_is_limited_per_address() {
    let app = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.auth_rate_limit = 4;
    })
    .await;
    let mut statuses = Vec::new();
    for guess in 0..4 {
        statuses.push(verify(&app, &format!("guess-{guess}")).await.status());
    }
    statuses.push(confirm(&app, "guess").await.status());
    statuses.push(
        confirm_reset(&app, "guess", "a brand new password")
            .await
            .status(),
    );
    statuses.push(verify(&app, "guess").await.status());
    let (bad, limited) = (StatusCode::BAD_REQUEST, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(statuses, [bad, bad, bad, bad, limited, limited, limited]);
}

/// A made-up reset token costs no password hash: the token is looked up before the new
/// password is hashed (a process of its own, so the hash count is this service's alone).
#[tokio::test]
async fn a_made_up_reset_token_buys_no_password_hash() {
    let instance = crate::helpers::start_process(|_| {}).await;
    let app = &instance.app;
    let hashes = async || {
        let text = crate::metrics::scrape(app).await;
        crate::metrics::value(&text, "password_hash_wait_seconds_count")
    };
    let before = hashes().await;
    for guess in 0..5 {
        let error = error_body(
            confirm_reset(app, &format!("made-up-{guess}"), "a brand new password").await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(error["code"], "INVALID_TOKEN", "{error}");
    }
    assert_eq!(
        hashes().await,
        before,
        "a made-up token was paid for with a hash"
    );
    // A real one is (the check above counts hashes at all).
    assert_eq!(
        app.sign_up("gil@example.com", "password123").await.status(),
        StatusCode::OK
    );
    assert_eq!(hashes().await, before + 1.0);
}
