//! Signup, login and whoAmI: the contract rows and the improve rows.

use std::time::{Duration, Instant};

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{detail_codes, error_body, spawn_app, verify_with_jwks};

#[tokio::test]
async fn signup_returns_the_user_with_a_uuid_v4_and_without_the_password() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/signup",
            &json!({"email": "ann@example.com", "password": "password123", "username": "ann"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let id = uuid::Uuid::parse_str(body["id"].as_str().expect("id")).expect("a uuid");
    assert_eq!(id.get_version_num(), 4);
    assert_eq!(body["email"], "ann@example.com");
    assert_eq!(body["username"], "ann");
    // LoopBack's User model has `emailVerified`; a new account has not proven its address.
    assert_eq!(body["emailVerified"], false);
    assert_eq!(
        body.as_object().expect("object").len(),
        4,
        "no password, no nulls: {body}"
    );
}

#[tokio::test]
async fn signup_without_username_omits_it() {
    let app = spawn_app().await;
    let body: Value = app
        .sign_up("bo@example.com", "password123")
        .await
        .json()
        .await
        .expect("json");
    assert!(body.get("username").is_none(), "{body}");
    assert!(body.get("password").is_none(), "{body}");
}

#[tokio::test]
async fn signup_validates_email_password_and_unknown_fields_with_all_details() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/signup",
            &json!({"email": "not-an-email", "password": "short", "emailVerified": true}),
        )
        .await;
    let error = error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error["name"], "UnprocessableEntityError");
    assert_eq!(error["code"], "VALIDATION_FAILED");
    assert_eq!(
        error["message"],
        "The request body is invalid. See error object `details` property for more info."
    );
    assert_eq!(
        detail_codes(&error),
        [
            ("", "additionalProperties"),
            ("/email", "format"),
            ("/password", "minLength")
        ]
        .map(|(path, code)| (path.to_owned(), code.to_owned()))
    );
    let details = error["details"].as_array().expect("details");
    assert!(details.iter().any(|d| d["info"] == json!({"limit": 8})));
    assert!(
        details
            .iter()
            .any(|d| d["info"] == json!({"format": "email"}))
    );
    assert!(
        details
            .iter()
            .any(|d| d["info"] == json!({"additionalProperty": "emailVerified"}))
    );
}

#[tokio::test]
async fn signup_refuses_server_owned_fields_missing_fields_and_overlong_passwords() {
    let app = spawn_app().await;
    for field in ["id", "emailVerified", "verificationToken"] {
        let mut body = json!({"email": "c@example.com", "password": "password123"});
        body[field] = json!("x");
        let error = error_body(
            app.post_json("/signup", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(
            error["details"][0]["info"],
            json!({"additionalProperty": field})
        );
    }
    let error = error_body(
        app.post_json("/signup", &json!({"email": "c@example.com"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error["details"][0]["code"], "required");
    assert_eq!(
        error["details"][0]["info"],
        json!({"missingProperty": "password"})
    );
    let error = error_body(
        app.sign_up("c@example.com", &"x".repeat(257)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error["details"][0]["code"], "maxLength");
    let error = error_body(
        app.post_json("/signup", &json!({"email": 42, "password": "password123"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error["details"][0]["info"], json!({"type": "string"}));
    // None of these created an account.
    assert_eq!(
        app.sign_up("c@example.com", "password123").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_duplicate_email_in_any_letter_case_is_409() {
    let app = spawn_app().await;
    assert_eq!(
        app.sign_up("Dee@Example.com", "password123").await.status(),
        StatusCode::OK
    );
    for email in ["Dee@Example.com", "dee@example.com", "DEE@EXAMPLE.COM"] {
        let error = error_body(
            app.sign_up(email, "otherpass123").await,
            StatusCode::CONFLICT,
        )
        .await;
        assert_eq!(error["name"], "ConflictError");
    }
    // The first owner still logs in with the first password.
    assert_eq!(
        app.log_in("dee@example.com", "password123").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.log_in("dee@example.com", "otherpass123").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn login_returns_a_token_with_loopback_claims() {
    let app = spawn_app().await;
    let signed_up: Value = app
        .post_json(
            "/signup",
            &json!({"email": "eve@example.com", "password": "password123", "username": "eve"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let response = app.log_in("eve@example.com", "password123").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body.as_object().expect("object").len(), 1, "{body}");
    let token = body["token"].as_str().expect("token");
    // A new installation signs EdDSA; the published JWK Set is all a verifier needs.
    let claims = verify_with_jwks(&app, token).await;
    assert_eq!(claims["id"], signed_up["id"]);
    assert_eq!(claims["sub"], signed_up["id"]);
    assert_eq!(claims["name"], "eve");
    assert_eq!(claims["email"], "eve@example.com");
    assert_eq!(
        claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat"),
        21_600
    );
    assert_eq!(claims["iss"], "todo-jwt");
    assert!(claims["jti"].is_string());
}

#[tokio::test]
async fn login_email_is_case_insensitive() {
    let app = spawn_app().await;
    assert_eq!(
        app.sign_up("Fay@Example.com", "password123").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.log_in("fay@example.COM", "password123").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let app = spawn_app().await;
    assert_eq!(
        app.sign_up("gil@example.com", "password123").await.status(),
        StatusCode::OK
    );
    let wrong = error_body(
        app.log_in("gil@example.com", "password124").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown = error_body(
        app.log_in("nobody@example.com", "password123").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["name"], "UnauthorizedError");
    assert_eq!(wrong["message"], "Invalid email or password.");
}

/// Without the dummy hash an unknown email answers ~100 times faster than a wrong password;
/// the bound is loose so a noisy machine cannot fail it.
#[tokio::test]
async fn an_unknown_email_costs_a_password_check_too() {
    let app = spawn_app().await;
    assert_eq!(
        app.sign_up("hal@example.com", "password123").await.status(),
        StatusCode::OK
    );
    let median = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let started = Instant::now();
        let response = app.log_in("hal@example.com", "password124").await;
        wrong.push(started.elapsed());
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let started = Instant::now();
        let response = app.log_in("nobody@example.com", "password124").await;
        unknown.push(started.elapsed());
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let (wrong, unknown) = (median(&mut wrong), median(&mut unknown));
    assert!(
        unknown * 3 >= wrong,
        "unknown email {unknown:?} vs wrong password {wrong:?}"
    );
}

#[tokio::test]
async fn login_validates_its_body_like_signup() {
    let app = spawn_app().await;
    let error = error_body(
        app.log_in("not-an-email", "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        detail_codes(&error),
        [("/email", "format"), ("/password", "minLength")]
            .map(|(p, c)| (p.to_owned(), c.to_owned()))
    );
}

#[tokio::test]
async fn who_am_i_returns_the_bare_user_id_as_text() {
    let app = spawn_app().await;
    let token = app.token_for("ivy@example.com").await;
    let id: Value = app
        .log_in("ivy@example.com", "password123")
        .await
        .json()
        .await
        .expect("json");
    assert!(id["token"].is_string());
    let response = app.who_am_i(&token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain")
    );
    let body = response.text().await.expect("text");
    assert!(uuid::Uuid::parse_str(&body).is_ok(), "{body}");
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    let app = spawn_app().await;
    assert_eq!(
        app.sign_up("jo@example.com", "password123").await.status(),
        StatusCode::OK
    );
    let hash = app
        .sql("SELECT password_hash FROM users WHERE email_key = 'jo@example.com'")
        .await
        .expect("stored");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains("password123"));
}

/// LoopBack's router ignores a trailing slash (its acceptance test refreshes with
/// `POST /refresh/`): every route answers the same with and without one, query included; the
/// explorer keeps its own redirect to `/explorer/`.
#[tokio::test]
async fn routes_answer_the_same_with_a_trailing_slash() {
    let app = crate::helpers::spawn_app().await;
    let response = app
        .post_json(
            "/signup/",
            &serde_json::json!({"email": "slash@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let response = app
        .post_json(
            "/users/login/",
            &serde_json::json!({"email": "slash@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    let token = body["token"].as_str().expect("token").to_owned();
    let created = app
        .create_todo(&token, serde_json::json!({"title": "slashed"}))
        .await;
    let id = created["id"].as_i64().expect("id");
    for path in [
        "/whoAmI/".to_owned(),
        "/todos/".to_owned(),
        "/todos/count/".to_owned(),
        format!("/todos/{id}/"),
        "/todos//?filter[limit]=1".to_owned(),
    ] {
        let response = app.call(reqwest::Method::GET, &path, &token, None).await;
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{path}");
    }
    assert_eq!(
        app.get_json("/todos/?filter[limit]=1", &token).await[0]["title"],
        "slashed"
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let explorer = client
        .get(app.url("/explorer"))
        .send()
        .await
        .expect("explorer");
    assert_eq!(explorer.status(), reqwest::StatusCode::MOVED_PERMANENTLY);
    let page = client
        .get(app.url("/explorer/"))
        .send()
        .await
        .expect("explorer page");
    assert_eq!(page.status(), reqwest::StatusCode::OK);
}
