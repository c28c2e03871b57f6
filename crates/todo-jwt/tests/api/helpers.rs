//! What the test modules share: spawning the server (in this process, or the real binary in
//! a process of its own), the PostgreSQL database of a test, one helper per endpoint, and
//! polling. Test modules take their helpers from here, never from each other.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::{Method, Response, StatusCode, header};
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;
use todo_jwt::{Application, Config};

/// A secret tests can also sign with, to forge tokens.
pub const TEST_SECRET: &str = "aa3dbc8bd4f2e8ee19f20c8512548c88a9749a05b87a9f494f2a48d713707543";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub data_dir: TempDir,
    /// The PostgreSQL database of this test, dropped with it (`None` on SQLite).
    pub database: Option<TestDatabase>,
}

/// Which engine the suite runs on: `TODO_JWT_TEST_BACKEND=postgres` selects PostgreSQL (the
/// server at `TODO_JWT_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`);
/// anything else, SQLite. `tests/run.sh` runs the suite once on each.
pub fn on_postgres() -> bool {
    std::env::var("TODO_JWT_TEST_BACKEND").is_ok_and(|backend| backend == "postgres")
}

/// Why a PostgreSQL-only test is ignored: the SQLite pass lists it as ignored, by name, with
/// this reason (the attribute takes only a literal, so the tests repeat it and `tests/run.sh`
/// checks that no other reason is used); the PostgreSQL pass runs the suite with
/// `--include-ignored`, and the test starts with [`postgres_only`].
pub const POSTGRES_ONLY: &str = "PostgreSQL only: runs in the PostgreSQL pass of tests/run.sh";

/// The database of a PostgreSQL-only test, which fails here, loudly, when the suite is not
/// on PostgreSQL (`--include-ignored` on SQLite): such a test never passes without running.
pub async fn postgres_only() -> TestDatabase {
    assert!(
        on_postgres(),
        "{POSTGRES_ONLY}: it needs TODO_JWT_TEST_BACKEND=postgres and a server \
         (TODO_JWT_TEST_POSTGRES_URL); `bash tests/run.sh` sets both up"
    );
    TestDatabase::create().await
}

fn admin_url() -> String {
    std::env::var("TODO_JWT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Whether this is the pooler pass: the services reach PostgreSQL through PgBouncer in
/// transaction mode.
pub fn through_pooler() -> bool {
    on_postgres() && std::env::var_os("TODO_JWT_TEST_POOLER_URL").is_some()
}

/// A fresh PostgreSQL database for one test, dropped when the test ends.
pub struct TestDatabase {
    pub name: String,
    /// The service's URL: through PgBouncer in transaction mode in the pooler pass of
    /// `tests/run.sh` (`TODO_JWT_TEST_POOLER_URL`), else straight to PostgreSQL.
    pub url: String,
    /// Straight to PostgreSQL, for the tests' own SQL (and what must reach the server itself:
    /// TLS, a proxy that cuts it off).
    pub direct: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let name = format!("todo_jwt_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_client(&admin_url()).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let on = |base: &str| {
            format!(
                "{}/{name}",
                base.rsplit_once('/').map_or(base, |(server, _)| server)
            )
        };
        let direct = on(&admin_url());
        let url = match std::env::var("TODO_JWT_TEST_POOLER_URL") {
            Ok(pooler) => format!("{}?pooler=transaction", on(&pooler)),
            Err(_) => direct.clone(),
        };
        Self { name, url, direct }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async code; a short-lived runtime on its own thread does the work.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = admin_client(&admin_url()).await;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

pub async fn admin_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL tests need a server at {url}: {error}"));
    tokio::spawn(connection);
    client
}

/// A server with the test secret and a fresh data directory.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|config| config.secret = Some(SecretString::from(TEST_SECRET))).await
}

/// A server that signs HS256 with the test secret (LoopBack's tokens), so tests can forge
/// tokens with the secret.
pub async fn spawn_hs256_app() -> TestApp {
    spawn_app_with(|config| {
        config.secret = Some(SecretString::from(TEST_SECRET));
        config.jwt_algorithm = Some(todo_jwt::keys::JwtAlgorithm::Hs256);
    })
    .await
}

/// The configuration of another instance on `app`'s data (its data directory or its
/// PostgreSQL database), with the test secret.
pub fn config_beside(app: &TestApp) -> Config {
    let mut config = Config::for_data_dir(app.data_dir.path());
    config.database_url = app.database.as_ref().map(|database| database.url.clone());
    config.secret = Some(SecretString::from(TEST_SECRET));
    config
}

/// A server with a fresh data directory and `configure` applied to its configuration.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::for_data_dir(data_dir.path());
    let database = if on_postgres() {
        Some(TestDatabase::create().await)
    } else {
        None
    };
    config.database_url = database.as_ref().map(|database| database.url.clone());
    configure(&mut config);
    let mut app = spawn_on(config, data_dir).await;
    app.database = database;
    app
}

/// A server on an existing data directory (to test restarts).
/// The tests' HTTP client: it forgets an idle connection before the server closes it (after
/// its header timeout, 10 s by default), so that a test that waits (for a time window, say)
/// never sends its next request on a connection the server is closing.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}

pub async fn spawn_on(config: Config, data_dir: TempDir) -> TestApp {
    todo_jwt::ops::telemetry::init_for_tests();
    let app = Application::build(config).await.expect("the server starts");
    let address = format!("http://{}", app.address());
    tokio::spawn(app.run());
    TestApp {
        address,
        client: client(),
        data_dir,
        database: None,
    }
}

impl TestApp {
    /// Runs `sql` directly on this server's database, and returns the first column of the
    /// first row, as text (for checks that look under the API).
    pub async fn sql(&self, sql: &str) -> Option<String> {
        match &self.database {
            Some(database) => {
                let client = admin_client(&database.direct).await;
                let rows = client.simple_query(sql).await.expect("sql");
                rows.iter().find_map(|message| match message {
                    tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                    _ => None,
                })
            }
            None => {
                // Through the server's VFS: the server (in this process) owns the file.
                let connection = rusqlite::Connection::open_with_flags_and_vfs(
                    self.data_dir.path().join("todo-jwt.sqlite3"),
                    rusqlite::OpenFlags::default(),
                    "unix-excl",
                )
                .expect("open");
                connection
                    .execute_batch("PRAGMA foreign_keys = ON")
                    .expect("pragma");
                let mut statement = connection.prepare(sql).expect("prepare");
                let mut rows = statement.query([]).expect("query");
                rows.next().expect("row").map(|row| {
                    let value: rusqlite::types::Value = row.get(0).expect("column");
                    match value {
                        rusqlite::types::Value::Text(text) => text,
                        rusqlite::types::Value::Integer(number) => number.to_string(),
                        other => format!("{other:?}"),
                    }
                })
            }
        }
    }

    /// What a spawned task needs to call this server.
    pub fn parts(&self, token: &str) -> (reqwest::Client, String, String) {
        (self.client.clone(), self.address.clone(), token.to_owned())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    #[must_use = "a response whose status is not checked tests nothing"]
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    #[must_use = "a response whose status is not checked tests nothing"]
    pub async fn sign_up(&self, email: &str, password: &str) -> Response {
        self.post_json("/signup", &json!({"email": email, "password": password}))
            .await
    }

    #[must_use = "a response whose status is not checked tests nothing"]
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
    #[must_use = "a response whose status is not checked tests nothing"]
    pub async fn get_authorized(&self, path: &str, authorization: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        request.send().await.expect("request")
    }

    /// `method path` with a bearer token and an optional JSON body.
    #[must_use = "a response whose status is not checked tests nothing"]
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

    #[must_use = "a response whose status is not checked tests nothing"]
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

/// A `todo-jwt` process, killed when dropped.
pub struct Instance {
    pub child: Child,
    pub app: TestApp,
    /// The line it printed on stdout once listening.
    pub banner: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real binary on `data_dir`, with the test secret, on port 0, on SQLite unless a
/// database URL is added.
pub fn command(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_todo-jwt"));
    command
        .env_remove("TODO_JWT_DATABASE_URL")
        .env("TODO_JWT_SECRET", TEST_SECRET)
        .env("TODO_JWT_PORT", "0")
        .env("TODO_JWT_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn");
    command
}

/// `todo-jwt restore <backup> <flags>` on the data directory `data_dir`, with the test secret.
pub fn restore(data_dir: &Path, backup: &Path, flags: &[&str]) -> std::process::Output {
    command(data_dir)
        .arg("restore")
        .arg(backup)
        .args(flags)
        .output()
        .expect("restore")
}

/// Has `instance` (SQLite, on `data_dir`) back itself up (`SIGUSR1`), and returns the
/// backup's path once it is written.
pub async fn take_backup(instance: &Instance, data_dir: &Path) -> PathBuf {
    let signal = Command::new("kill")
        .args(["-USR1", &instance.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(signal.success());
    let backups = data_dir.join("backups");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(backup) = todo_jwt::ops::backup::list(&backups).pop() {
            return backup;
        }
        assert!(Instant::now() < deadline, "no backup was written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts `command` and waits until it says where it listens.
pub fn start_with(mut command: Command, data_dir: TempDir) -> Instance {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("start todo-jwt");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    // Text, or in JSON mode a JSON object with the `url`.
    let json = serde_json::from_str::<Value>(&line).ok();
    let address = match json.as_ref().and_then(|banner| banner["url"].as_str()) {
        Some(url) => url.to_owned(),
        None => line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned(),
    };
    Instance {
        banner: line,
        child,
        app: TestApp {
            address,
            client: client(),
            data_dir,
            database: None,
        },
    }
}

/// The real binary on a fresh data directory and on the suite's backend (a fresh database on
/// PostgreSQL), with `configure` applied to its command: a service with a process, and so a
/// metrics recorder, of its own.
pub async fn start_process(configure: impl FnOnce(&mut Command)) -> Instance {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let database = if on_postgres() {
        Some(TestDatabase::create().await)
    } else {
        None
    };
    let mut command = command(data_dir.path());
    if let Some(database) = &database {
        command.env("TODO_JWT_DATABASE_URL", &database.url);
    }
    configure(&mut command);
    let mut instance = start_with(command, data_dir);
    // Dropped after the process is killed (`Instance::drop` runs before its fields').
    instance.app.database = database;
    instance
}

/// The JWK Set, checking its caching headers.
pub async fn jwks(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CACHE_CONTROL],
        "public, max-age=300"
    );
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    response.json().await.expect("json")
}

/// Verifies `token` as another service would: with the JWK Set alone (the key its `kid`
/// names, EdDSA only, our issuer and audience); returns the claims.
pub async fn verify_with_jwks(app: &TestApp, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    let kid = header.kid.expect("kid");
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(jwks(app).await).expect("a JWK Set");
    let jwk = set.find(&kid).expect("the token's key is published");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["todo-jwt"]);
    validation.set_issuer(&["todo-jwt"]);
    let key = DecodingKey::from_jwk(jwk).expect("an Ed25519 key");
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("verified with the JWK Set")
        .claims
}

/// Polls `check` until it holds, failing with `what` after `limit`. The pause between polls
/// starts at 10 ms and doubles up to 200 ms: quick for what settles at once, gentle on what
/// takes seconds.
pub async fn eventually(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(10);
    while !check().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
