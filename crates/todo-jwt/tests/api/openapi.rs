//! The OpenAPI document, the explorer, the home page and the OAuth2 token endpoint.

use std::path::PathBuf;

use reqwest::{StatusCode, header, redirect::Policy};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            found.push((method.to_uppercase(), path.clone(), operation.clone()));
        }
    }
    found
}

#[tokio::test]
async fn every_route_is_documented_with_an_id_a_tag_and_error_responses() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let found = operations(&doc);
    assert_eq!(found.len(), 22, "{found:?}");
    for (method, path, operation) in &found {
        assert!(operation["operationId"].is_string(), "{method} {path}");
        assert!(operation["tags"][0].is_string(), "{method} {path}");
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.contains_key("default"),
            "{method} {path} documents its errors"
        );
    }
}

#[tokio::test]
async fn only_protected_operations_require_security() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let public = [
        "POST /signup",
        "POST /users/login",
        "POST /users/token",
        "POST /users/refresh-login",
        "POST /refresh",
        "GET /healthz",
        "GET /readyz",
    ];
    for (method, path, operation) in operations(&doc) {
        let name = format!("{method} {path}");
        if public.contains(&name.as_str()) {
            assert!(operation.get("security").is_none(), "{name} is public");
        } else {
            let security = operation["security"].as_array().expect("security");
            assert!(security.iter().any(|s| s.get("jwt").is_some()), "{name}");
        }
    }
    assert!(doc.get("security").is_none(), "no global requirement");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["jwt"]["type"], "http");
    assert_eq!(schemes["jwt"]["scheme"], "bearer");
    assert_eq!(schemes["jwt"]["bearerFormat"], "JWT");
    assert_eq!(
        schemes["password"]["flows"]["password"]["tokenUrl"],
        "/users/token"
    );
}

#[tokio::test]
async fn request_schemas_are_the_enforced_ones() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let new_todo = &doc["components"]["schemas"]["NewTodo"];
    assert_eq!(new_todo["additionalProperties"], false);
    assert_eq!(new_todo["required"], serde_json::json!(["title"]));
    assert_eq!(new_todo["properties"]["title"]["minLength"], 1);
    let new_user = &doc["components"]["schemas"]["NewUser"];
    assert_eq!(new_user["properties"]["password"]["minLength"], 8);
    assert_eq!(new_user["properties"]["email"]["format"], "email");
}

/// The document is reviewed like code: a change to it shows up as a change to this file.
/// Run with `UPDATE_SNAPSHOTS=1` to accept a change.
#[tokio::test]
async fn the_document_matches_its_snapshot() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/openapi.snapshot.json");
    let rendered = serde_json::to_string_pretty(&doc).expect("json") + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &rendered).expect("write the snapshot");
    }
    let snapshot = std::fs::read_to_string(&path)
        .expect("the snapshot exists (UPDATE_SNAPSHOTS=1 creates it)");
    assert!(
        snapshot == rendered,
        "the OpenAPI document changed; review it and run with UPDATE_SNAPSHOTS=1"
    );
}

#[tokio::test]
async fn the_explorer_is_served_from_the_binary() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let response = client
        .get(app.url("/explorer"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(response.headers()[header::LOCATION], "./explorer/");
    let page = client
        .get(app.url("/explorer/"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("html");
    assert!(page.contains("swagger-ui"), "{page}");
    assert!(
        !page.contains("https://"),
        "nothing is loaded from the network"
    );
    let config = client
        .get(app.url("/explorer/swagger-initializer.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(config.status(), StatusCode::OK);
    assert!(config.text().await.expect("js").contains("/openapi.json"));
    let bundle = client
        .get(app.url("/explorer/swagger-ui-bundle.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(bundle.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_home_page_links_the_explorer_and_the_document() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/")).send().await.expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let page = response.text().await.expect("html");
    assert!(
        page.contains("./explorer/") && page.contains("./openapi.json"),
        "{page}"
    );
}

async fn token_request(app: &TestApp, form: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/users/token"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    (response.status(), response.json().await.expect("json"))
}

#[tokio::test]
async fn the_password_grant_issues_a_working_bearer_token() {
    let app = spawn_app().await;
    app.sign_up("oauth@example.com", "password123").await;
    let (status, body) = token_request(
        &app,
        "grant_type=password&username=oauth%40example.com&password=password123",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 21_600);
    let token = body["access_token"].as_str().expect("token");
    assert_eq!(app.who_am_i(token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_password_grant_refuses_in_rfc_6749_terms() {
    let app = spawn_app().await;
    app.sign_up("oauth@example.com", "password123").await;
    let cases = [
        (
            "grant_type=password&username=oauth%40example.com&password=wrong-password",
            "invalid_grant",
        ),
        (
            "grant_type=password&username=nobody%40example.com&password=password123",
            "invalid_grant",
        ),
        ("grant_type=client_credentials", "unsupported_grant_type"),
        (
            "username=oauth%40example.com&password=password123",
            "invalid_request",
        ),
        (
            "grant_type=password&username=oauth%40example.com",
            "invalid_request",
        ),
        ("grant_type=password&grant_type=password", "invalid_request"),
    ];
    for (form, error) in cases {
        let (status, body) = token_request(&app, form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{form}"
        );
    }
}
