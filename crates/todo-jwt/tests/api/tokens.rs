//! The `jwt` strategy over HTTP, and where the secret comes from.

use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
use reqwest::{StatusCode, header};
use secrecy::SecretString;
use serde_json::{Value, json};
use todo_jwt::{Application, Config};

use crate::helpers::{
    TEST_SECRET, error_body, spawn_app, spawn_app_with, spawn_hs256_app, spawn_on,
};

fn claims_for(id: &str) -> Value {
    let now = get_current_timestamp();
    json!({"id": id, "email": "x@example.com", "iat": now, "exp": now + 600, "sub": id,
           "iss": "todo-jwt", "aud": "todo-jwt", "jti": "t1"})
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signed")
}

async fn refusal(app: &crate::helpers::TestApp, authorization: Option<&str>) -> String {
    let response = app.get_authorized("/whoAmI", authorization).await;
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    let error = error_body(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error["name"], "UnauthorizedError");
    error["message"].as_str().expect("message").to_owned()
}

#[tokio::test]
async fn a_missing_or_misshapen_authorization_header_gets_loopbacks_messages() {
    let app = spawn_app().await;
    let token = app.token_for("kim@example.com").await;
    assert_eq!(refusal(&app, None).await, "Authorization header not found.");
    for value in [
        "Basic a2ltOnB3".to_owned(),
        format!("BearerX {token}"),
        token.clone(),
    ] {
        assert_eq!(
            refusal(&app, Some(&value)).await,
            "Authorization header is not of type 'Bearer'."
        );
    }
    let too_many = "Authorization header value has too many parts. It must follow the pattern: \
                    'Bearer xx.yy.zz' where xx.yy.zz is a valid JWT token.";
    assert_eq!(refusal(&app, Some("Bearer")).await, too_many);
    assert_eq!(
        refusal(&app, Some(&format!("Bearer {token} more"))).await,
        too_many
    );
    assert_eq!(
        refusal(&app, Some("Bearer abc")).await,
        "Error verifying token : jwt malformed"
    );
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    let token = app.token_for("lee@example.com").await;
    let response = app
        .get_authorized("/whoAmI", Some(&format!("bearer {token}")))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let app = spawn_hs256_app().await;
    let token = app.token_for("max@example.com").await;
    let id = app.who_am_i(&token).await.text().await.expect("id");

    let other_secret = sign(&claims_for(&id), "some-other-secret-that-is-long-enough!!");
    assert_eq!(
        refusal(&app, Some(&format!("Bearer {other_secret}"))).await,
        "Error verifying token : invalid signature"
    );

    let mut expired = claims_for(&id);
    expired["exp"] = json!(get_current_timestamp() - 3600);
    let expired = sign(&expired, TEST_SECRET);
    assert_eq!(
        refusal(&app, Some(&format!("Bearer {expired}"))).await,
        "Error verifying token : jwt expired"
    );

    let mut eternal = claims_for(&id);
    eternal.as_object_mut().expect("object").remove("exp");
    let eternal = sign(&eternal, TEST_SECRET);
    assert_eq!(
        refusal(&app, Some(&format!("Bearer {eternal}"))).await,
        "Error verifying token : invalid token"
    );

    let payload = token.split('.').nth(1).expect("payload");
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    assert!(
        refusal(&app, Some(&format!("Bearer {none}")))
            .await
            .starts_with("Error verifying token : ")
    );
}

#[tokio::test]
async fn a_valid_token_for_a_user_that_does_not_exist_is_refused() {
    let app = spawn_hs256_app().await;
    let ghost = sign(&claims_for(&uuid::Uuid::new_v4().to_string()), TEST_SECRET);
    assert_eq!(
        refusal(&app, Some(&format!("Bearer {ghost}"))).await,
        "Error verifying token : user not found"
    );
}

#[tokio::test]
async fn the_configured_token_lifetime_is_used() {
    let app = spawn_app_with(|config| {
        config.secret = Some(SecretString::from(TEST_SECRET));
        config.jwt_algorithm = Some(todo_jwt::keys::JwtAlgorithm::Hs256);
        config.token_lifetime = 60;
    })
    .await;
    let token = app.token_for("ned@example.com").await;
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.set_audience(&["todo-jwt"]);
    let key = jsonwebtoken::DecodingKey::from_secret(TEST_SECRET.as_bytes());
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .expect("valid")
        .claims;
    assert_eq!(
        claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat"),
        60
    );
}

#[tokio::test]
async fn without_a_configured_secret_one_is_generated_and_survives_a_restart() {
    // An embedded (SQLite) instance: PostgreSQL refuses to start without a configured secret.
    let first = spawn_app_with(|config| config.database_url = None).await;
    let token = first.token_for("oz@example.com").await;
    let secret = std::fs::read_to_string(first.data_dir.path().join("jwt-secret")).expect("stored");
    assert_eq!(secret.trim().len(), 64);
    assert_ne!(secret.trim(), TEST_SECRET);

    // A second server on the same data directory accepts the first one's token.
    let config = Config::for_data_dir(first.data_dir.path());
    let second = spawn_on(config, tempfile::tempdir().expect("tempdir")).await;
    assert_eq!(second.who_am_i(&token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_configured_secret_under_32_bytes_stops_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::for_data_dir(dir.path());
    config.secret = Some(SecretString::from("only-31-bytes-long-secret-value"));
    let error = Application::build(config).await.err().expect("refused");
    let message = error.to_string();
    assert!(
        message.contains("at least 32 bytes") && message.contains("TODO_JWT_SECRET"),
        "{message}"
    );
}

/// Issue 21, row 13: a configured secret that a person chose (words, a pattern) stops the
/// start with how to generate one, unless allowed explicitly.
#[tokio::test]
async fn a_configured_secret_chosen_by_a_person_stops_the_start_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::for_data_dir(dir.path());
    config.secret = Some(SecretString::from("correct horse battery staple 2025"));
    let error = Application::build(config.clone())
        .await
        .err()
        .expect("refused");
    let message = error.to_string();
    assert!(
        message.contains("looks chosen by a person")
            && message.contains("openssl rand -hex 32")
            && message.contains("TODO_JWT_ALLOW_GUESSABLE_SECRET=true"),
        "{message}"
    );
    config.allow_guessable_secret = true;
    assert!(Application::build(config).await.is_ok());
}

#[tokio::test]
async fn an_unreachable_database_stops_the_start_naming_the_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::for_data_dir(dir.path());
    config.secret = Some(SecretString::from(TEST_SECRET));
    config.database_url = Some("postgres://postgres@127.0.0.1:1/nowhere".into());
    let error = Application::build(config).await.err().expect("refused");
    let message = error.to_string();
    assert!(
        message.contains("cannot connect to PostgreSQL at 127.0.0.1:1"),
        "{message}"
    );
}
