//! The error envelope for requests the routes never accept.

use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{error_body, spawn_app};

#[tokio::test]
async fn an_unknown_route_is_404_even_without_a_token() {
    let app = spawn_app().await;
    let error = error_body(
        app.client
            .get(app.url("/nope"))
            .send()
            .await
            .expect("request"),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(error["name"], "NotFoundError");
    assert_eq!(error["message"], "Endpoint \"GET /nope\" not found.");
    let response = app
        .client
        .post(app.url("/whoAmI/extra"))
        .send()
        .await
        .expect("request");
    let error = error_body(response, StatusCode::NOT_FOUND).await;
    assert_eq!(
        error["message"],
        "Endpoint \"POST /whoAmI/extra\" not found."
    );
}

#[tokio::test]
async fn a_known_path_with_an_unserved_method_is_405_with_allow() {
    let app = spawn_app().await;
    let response = app
        .client
        .delete(app.url("/whoAmI"))
        .send()
        .await
        .expect("request");
    assert!(
        response.headers()[header::ALLOW]
            .to_str()
            .expect("ascii")
            .contains("GET")
    );
    let error = error_body(response, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(error["name"], "MethodNotAllowedError");
    let response = app
        .client
        .get(app.url("/signup"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()[header::ALLOW], "POST");
    error_body(response, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn malformed_json_is_400_syntax_error() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/signup"))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("request");
    let error = error_body(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["name"], "SyntaxError");
}

#[tokio::test]
async fn a_missing_body_is_400_missing_required_parameter() {
    let app = spawn_app().await;
    for content_type in [None, Some("application/json")] {
        let mut request = app.client.post(app.url("/users/login"));
        if let Some(value) = content_type {
            request = request.header(header::CONTENT_TYPE, value);
        }
        let error = error_body(
            request.send().await.expect("request"),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(error["name"], "BadRequestError");
        assert_eq!(error["code"], "MISSING_REQUIRED_PARAMETER");
        assert_eq!(error["message"], "Request body is required");
    }
}

#[tokio::test]
async fn null_and_non_object_bodies_are_422_not_500() {
    let app = spawn_app().await;
    for body in [json!(null), json!([]), json!("text"), json!(7)] {
        let error = error_body(
            app.post_json("/signup", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error["details"][0]["code"], "type", "{body}");
        assert_eq!(error["details"][0]["path"], "", "{body}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/signup"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body("hello")
        .send()
        .await
        .expect("request");
    let error = error_body(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(error["name"], "UnsupportedMediaTypeError");
    assert_eq!(error["code"], "UNSUPPORTED_MEDIA_TYPE");
    assert_eq!(
        error["message"],
        "Content-type text/plain does not match [application/json]."
    );
}

#[tokio::test]
async fn a_body_over_one_megabyte_is_413() {
    let app = spawn_app().await;
    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(1024 * 1024));
    let response = app
        .client
        .post(app.url("/signup"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(big)
        .send()
        .await
        .expect("request");
    let error = error_body(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(error["name"], "PayloadTooLargeError");
    assert_eq!(error["message"], "request entity too large");
}

#[tokio::test]
async fn cors_preflight_allows_any_origin_and_the_api_methods() {
    let app = spawn_app().await;
    let response = app
        .client
        .request(Method::OPTIONS, app.url("/signup"))
        .header(header::ORIGIN, "https://client.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .send()
        .await
        .expect("request");
    assert!(response.status().is_success());
    let headers = response.headers();
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "86400");
    assert!(
        headers[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .expect("ascii")
            .contains("PATCH")
    );
}

/// Every response, routed or not, carries the request id, the CORS origin and the security
/// headers (issue 12: OWASP's REST list, see the README); no `Vary`, since no CORS header
/// depends on the request.
#[tokio::test]
async fn every_response_has_the_common_headers() {
    let app = spawn_app().await;
    for (path, status) in [
        ("/", StatusCode::OK),
        ("/nowhere", StatusCode::NOT_FOUND),
        ("/todos", StatusCode::UNAUTHORIZED),
        ("/explorer/", StatusCode::OK),
        ("/openapi.json", StatusCode::OK),
    ] {
        let response = app
            .client
            .get(app.url(path))
            .header(header::ORIGIN, "https://client.example")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), status, "{path}");
        let headers = response.headers();
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*", "{path}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{path}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            "frame-ancestors 'none'",
            "{path}"
        );
        assert!(headers.get(header::VARY).is_none(), "{path}");
        let id = headers["x-request-id"].to_str().expect("ascii");
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{path}: {id}");
    }
    // A client's own request id is kept.
    let response = app
        .client
        .get(app.url("/"))
        .header("x-request-id", "client-chosen-id")
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["x-request-id"], "client-chosen-id");
}

/// A client's request id goes into the log and the response: only a short, plain one is kept.
#[tokio::test]
async fn a_long_or_odd_request_id_is_replaced_by_a_fresh_one() {
    let app = spawn_app().await;
    let long = "a".repeat(60 * 1024);
    let odd = reqwest::header::HeaderValue::from_bytes(b"id\xff\xfe with spaces").expect("header");
    for value in [
        reqwest::header::HeaderValue::from_str(&long).expect("header"),
        odd,
        reqwest::header::HeaderValue::from_static("quote\"d"),
    ] {
        let response = app
            .client
            .get(app.url("/"))
            .header("x-request-id", value)
            .send()
            .await
            .expect("request");
        let id = response.headers()["x-request-id"].to_str().expect("ascii");
        assert!(uuid::Uuid::parse_str(id).is_ok(), "replaced: {id:.80}");
    }
}

/// Issue 12 (CORS): preflights allow `Authorization` and `Content-Type` by name (`*` does not
/// cover `Authorization` in the Fetch standard); origins are any by default, or the configured
/// list, and an origin not on it gets no CORS headers.
#[tokio::test]
async fn cors_allows_the_token_header_and_only_the_configured_origins() {
    let preflight = |app: &crate::helpers::TestApp, origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/todos"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let app = crate::helpers::spawn_app().await;
    let response = preflight(&app, "http://elsewhere.example")
        .await
        .expect("preflight");
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .expect("text")
        .to_ascii_lowercase();
    // The conditional request headers too: a browser app can revalidate and write with them.
    for name in ["authorization", "content-type", "if-match", "if-none-match"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert!(!allowed.contains('*'), "{allowed}");

    let app = crate::helpers::spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(crate::helpers::TEST_SECRET));
        config.cors_origins = "http://good.example, http://localhost:5173".to_owned();
    })
    .await;
    let response = preflight(&app, "http://good.example")
        .await
        .expect("preflight");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://good.example"
    );
    let response = preflight(&app, "http://evil.example")
        .await
        .expect("preflight");
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        response.headers()
    );
    let token = app.token_for("cors@example.com").await;
    let response = app
        .client
        .get(app.url("/todos"))
        .header("origin", "http://localhost:5173")
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .expect("text")
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    assert!(exposed.contains("etag"), "{exposed}");
    // A list that is not origins is refused at start.
    let mut config = todo_jwt::Config::for_data_dir(app.data_dir.path());
    config.cors_origins = "https://app.example.com/path".to_owned();
    assert!(todo_jwt::config::Settings::new(&config).is_err());
}

/// Issue 12: the login's token is never cached on the way.
#[tokio::test]
async fn the_login_token_is_not_cacheable() {
    let app = crate::helpers::spawn_app().await;
    assert_eq!(
        app.sign_up("nostore@example.com", "password123")
            .await
            .status(),
        StatusCode::OK
    );
    let response = app.log_in("nostore@example.com", "password123").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
}

/// Every setting is checked before the port is bound or the data directory touched: a typo in
/// the last one read used to fail only after the database had been created and migrated.
#[tokio::test]
async fn a_bad_setting_stops_the_start_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    for spoil in [
        (|config: &mut todo_jwt::Config| {
            config.cors_origins = "https://app.example.com/path".into()
        }) as fn(&mut todo_jwt::Config),
        |config| config.trusted_proxies = "not-an-address".into(),
        |config| config.body_timeout = u64::MAX,
        |config| config.token_lifetime = u64::MAX,
    ] {
        let mut config = todo_jwt::Config::for_data_dir(&data_dir);
        spoil(&mut config);
        let error = todo_jwt::Application::build(config)
            .await
            .err()
            .expect("refused");
        assert!(
            matches!(error, todo_jwt::app::StartError::Config(_)),
            "{error}"
        );
        assert!(!data_dir.exists(), "nothing written after: {error}");
    }
}
