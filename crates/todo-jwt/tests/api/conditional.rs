//! Issue 24: entity tags on todo reads and writes, 304 revalidation, If-Match (412) and the
//! required precondition (428), on both engines.
//!
//! The tests are in `reads`, `writes` and `races`; the helpers they share are here.

mod races;
mod reads;
mod writes;

use reqwest::{Method, Response, StatusCode, header};
use serde_json::Value;

use crate::helpers::{TEST_SECRET, TestApp, spawn_app_with};

/// `method path` with a token, optional conditional headers and an optional body.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    conditions: &[(header::HeaderName, &str)],
    body: Option<&Value>,
) -> Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    for (name, value) in conditions {
        request = request.header(name, *value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request")
}

fn etag(response: &Response) -> String {
    response.headers()[header::ETAG]
        .to_str()
        .expect("text")
        .to_owned()
}

/// `GET path`: 200, and its tag.
async fn tag_of(app: &TestApp, path: &str, token: &str) -> String {
    let response = send(app, Method::GET, path, token, &[], None).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    etag(&response)
}

/// `GET path` with `If-None-Match: tag`: its status.
async fn revalidate(app: &TestApp, path: &str, token: &str, tag: &str) -> StatusCode {
    send(
        app,
        Method::GET,
        path,
        token,
        &[(header::IF_NONE_MATCH, tag)],
        None,
    )
    .await
    .status()
}

async fn app_with_cache(cache_mb: u64) -> TestApp {
    spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(TEST_SECRET));
        config.conditional.list_cache_mb = cache_mb;
    })
    .await
}
