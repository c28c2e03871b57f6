//! Spawning the server and one helper per endpoint.

use reqwest::{Method, Response, StatusCode, header};
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;
use todo_jwt::{Application, Config};

/// A secret tests can also sign with, to forge tokens.
pub const TEST_SECRET: &str = "test-secret-that-is-long-enough-for-hs256!";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub data_dir: TempDir,
}

/// A server with the test secret and a fresh data directory.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|config| config.secret = Some(SecretString::from(TEST_SECRET))).await
}

/// A server with a fresh data directory and `configure` applied to its configuration.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::for_data_dir(data_dir.path());
    configure(&mut config);
    spawn_on(config, data_dir).await
}

/// A server on an existing data directory (to test restarts).
pub async fn spawn_on(config: Config, data_dir: TempDir) -> TestApp {
    todo_jwt::telemetry::init();
    let app = Application::build(config).await.expect("the server starts");
    let address = format!("http://{}", app.address());
    tokio::spawn(app.run());
    TestApp {
        address,
        client: reqwest::Client::new(),
        data_dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> Response {
        self.post_json("/signup", &json!({"email": email, "password": password}))
            .await
    }

    pub async fn log_in(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/users/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs `email` up with a valid password, logs in, and returns the token.
    pub async fn token_for(&self, email: &str) -> String {
        assert_eq!(
            self.sign_up(email, "password123").await.status(),
            StatusCode::OK
        );
        let response = self.log_in(email, "password123").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// `GET path` with this `Authorization` header value, if any.
    pub async fn get_authorized(&self, path: &str, authorization: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        request.send().await.expect("request")
    }

    /// `method path` with a bearer token and an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    /// Creates a todo and returns it.
    pub async fn create_todo(&self, token: &str, todo: Value) -> Value {
        let response = self.call(Method::POST, "/todos", token, Some(&todo)).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    /// `GET path` as JSON, asserting 200.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        let response = self.call(Method::GET, path, token, None).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("json")
    }

    pub async fn who_am_i(&self, token: &str) -> Response {
        self.get_authorized("/whoAmI", Some(&format!("Bearer {token}")))
            .await
    }
}

/// Checks the LoopBack error envelope (status echoed, JSON with charset, nosniff) and returns
/// the inner `error` object.
pub async fn error_body(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let headers = response.headers();
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/json; charset=utf-8"
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let body: Value = response.json().await.expect("json body");
    let error = body["error"].clone();
    assert_eq!(error["statusCode"], status.as_u16(), "{body}");
    assert!(error["message"].is_string(), "{body}");
    error
}

/// The `(path, code)` pairs of a 422's details, sorted.
pub fn detail_codes(error: &Value) -> Vec<(String, String)> {
    let mut codes: Vec<_> = error["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|detail| {
            (
                detail["path"].as_str().expect("path").to_owned(),
                detail["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect();
    codes.sort();
    codes
}
