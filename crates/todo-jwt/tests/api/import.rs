//! `todo-jwt import-loopback`: a file in LoopBack's memory connector format, imported by the
//! real binary, then used through the API. Runs on both engines.

use std::process::{Command, Output};

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;
use todo_jwt::Config;

use crate::helpers::{TEST_SECRET, TestApp, TestDatabase, command, on_postgres, spawn_on};

const ANN: &str = "0b8a3f4c-1d2e-4f5a-8b9c-0d1e2f3a4b5c";
const BOB: &str = "9f8e7d6c-5b4a-4321-8fed-cba987654321";
const CAROL: &str = "5d0c6f3e-8a1b-4c2d-9e3f-a4b5c6d7e8f9";

/// Made by bcryptjs 2.4.3 (LoopBack's) at its cost, 10, for [`ANN_PASSWORD`].
const BCRYPTJS_HASH: &str = "$2a$10$V32x8WXTYQ96FE0DyK2W.epJ.LFrW8yAYk8vp9pFBWXUvuYh3M/hy";
const ANN_PASSWORD: &str = "loopback password";
const BOB_PASSWORD: &str = "bob's old password";

/// A bcrypt hash at the lowest cost, to keep the tests fast (`$2b$`, as the crate writes).
fn cheap_hash(password: &str) -> String {
    bcrypt::hash(password, 4).expect("bcrypt")
}

/// A user to put in the file: id, email, bcrypt hash.
type LoopbackUser<'a> = (&'a str, &'a str, String);

/// LoopBack's memory connector file: each record a JSON string, the todos without an owner.
fn loopback_file(users: &[LoopbackUser<'_>], todos: &[Value]) -> Value {
    let record = |value: Value| Value::String(value.to_string());
    let mut file = json!({
        "ids": {"User": 1, "UserCredentials": 1, "Todo": todos.len() + 1},
        "models": {"User": {}, "UserCredentials": {}, "Todo": {}},
    });
    let models = &mut file["models"];
    for (index, (id, email, hash)) in users.iter().enumerate() {
        let credentials = format!("credentials-{index}");
        models["User"][*id] = record(json!({"id": id, "email": email, "emailVerified": false}));
        models["UserCredentials"][&credentials] =
            record(json!({"id": credentials, "password": hash, "userId": id}));
    }
    for todo in todos {
        models["Todo"][todo["id"].to_string()] = record(todo.clone());
    }
    file
}

/// Ann (bcryptjs's hash) and Bob (a cheap one), and three todos with gaps in their ids.
fn ann_and_bob() -> Value {
    loopback_file(
        &[
            (ANN, "ann@example.com", BCRYPTJS_HASH.to_owned()),
            (BOB, "bob@example.com", cheap_hash(BOB_PASSWORD)),
        ],
        &[
            json!({"id": 1, "title": "buy milk", "isComplete": false}),
            json!({"id": 2, "title": "walk", "desc": "the dog", "tag": {"color": "red"}}),
            json!({"id": 5, "title": "call mum", "remindAtAddress": null}),
        ],
    )
}

/// A data directory (and on PostgreSQL a database) to import into, then serve.
struct Target {
    data_dir: TempDir,
    database: Option<TestDatabase>,
}

impl Target {
    async fn new() -> Self {
        Self {
            data_dir: tempfile::tempdir().expect("tempdir"),
            database: if on_postgres() {
                Some(TestDatabase::create().await)
            } else {
                None
            },
        }
    }

    /// Runs `todo-jwt import-loopback` on `file` with `--owner owner`, configured by `env`.
    fn import_with(&self, file: &Value, owner: &str, env: &[(&str, &str)]) -> Output {
        let path = self.data_dir.path().join("db.json");
        std::fs::write(&path, file.to_string()).expect("write the file");
        let mut import: Command = command(self.data_dir.path());
        if let Some(database) = &self.database {
            import.env("TODO_JWT_DATABASE_URL", &database.url);
        }
        import
            .envs(env.iter().copied())
            .arg("import-loopback")
            .arg(&path)
            .args(["--owner", owner])
            .output()
            .expect("run todo-jwt import-loopback")
    }

    fn import(&self, file: &Value, owner: &str) -> Output {
        self.import_with(file, owner, &[])
    }

    /// The server on what was imported (on SQLite the import has let go of the file).
    async fn serve(self) -> TestApp {
        let mut config = Config::for_data_dir(self.data_dir.path());
        config.secret = Some(SecretString::from(TEST_SECRET));
        config.database_url = self.database.as_ref().map(|database| database.url.clone());
        let mut app = spawn_on(config, self.data_dir).await;
        app.database = self.database;
        app
    }
}

/// What a successful import printed.
fn succeeded(output: &Output) -> String {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "failed: {stderr}{stdout}");
    stdout.into_owned()
}

/// What a refused import said, once.
fn refused(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "succeeded: {stderr}");
    assert_eq!(
        stderr.matches("nothing imported").count(),
        1,
        "said once: {stderr}"
    );
    stderr
}

async fn token(app: &TestApp, email: &str, password: &str) -> String {
    let response = app.log_in(email, password).await;
    assert_eq!(response.status(), StatusCode::OK, "{email} logs in");
    let body: Value = response.json().await.expect("json");
    body["token"].as_str().expect("token").to_owned()
}

async fn stored_hash(app: &TestApp, id: &str) -> String {
    app.sql(&format!(
        "SELECT password_hash FROM users WHERE id = '{id}'"
    ))
    .await
    .expect("the user")
}

#[tokio::test]
async fn imported_users_log_in_with_their_loopback_passwords_which_become_argon2id() {
    let target = Target::new().await;
    let first = succeeded(&target.import(&ann_and_bob(), "Ann@Example.com"));
    assert!(
        first.contains("users: 2 added, 0 already present"),
        "{first}"
    );
    assert!(
        first.contains("todos: 3 added, 0 already present"),
        "{first}"
    );
    assert!(
        first.contains("Todo.tag (1)") && first.contains("User.emailVerified (2)"),
        "what is not kept is said: {first}"
    );
    let second = succeeded(&target.import(&ann_and_bob(), "ann@example.com"));
    assert!(
        second.contains("users: 0 added, 2 already present"),
        "{second}"
    );
    assert!(
        second.contains("todos: 0 added, 3 already present"),
        "{second}"
    );

    let app = target.serve().await;
    assert!(stored_hash(&app, ANN).await.starts_with("$2a$10$"));
    let ann = token(&app, "ann@example.com", ANN_PASSWORD).await;
    assert!(
        stored_hash(&app, ANN).await.starts_with("$argon2id$"),
        "replaced at the first login"
    );
    let response = app.who_am_i(&ann).await;
    assert_eq!(response.text().await.expect("text"), ANN, "the id is kept");
    token(&app, "ann@example.com", ANN_PASSWORD).await;
    assert_eq!(
        app.log_in("ann@example.com", "loopback passwords")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // LoopBack's todos, with their ids, are the owner's; new ones come after them.
    assert_eq!(
        app.get_json("/todos", &ann).await,
        json!([
            {"id": 1, "title": "buy milk", "isComplete": false},
            {"id": 2, "title": "walk", "desc": "the dog"},
            {"id": 5, "title": "call mum"},
        ])
    );
    let created = app.create_todo(&ann, json!({"title": "new"})).await;
    assert_eq!(created["id"], 6);

    let bob = token(&app, "bob@example.com", BOB_PASSWORD).await;
    assert!(stored_hash(&app, BOB).await.starts_with("$argon2id$"));
    assert_eq!(app.get_json("/todos", &bob).await, json!([]));
}

/// The checks of the caller's own password accept a bcrypt hash too (one still there because
/// its upgrade could not run, say).
#[tokio::test]
async fn imported_users_can_change_their_password_and_delete_their_account() {
    let target = Target::new().await;
    succeeded(&target.import(&ann_and_bob(), "ann@example.com"));
    let app = target.serve().await;

    let ann = token(&app, "ann@example.com", ANN_PASSWORD).await;
    app.sql(&format!(
        "UPDATE users SET password_hash = '{BCRYPTJS_HASH}' WHERE id = '{ANN}'"
    ))
    .await;
    let change = json!({"currentPassword": ANN_PASSWORD, "newPassword": "a new password"});
    let response = app
        .call(Method::PUT, "/users/me/password", &ann, Some(&change))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.log_in("ann@example.com", ANN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    token(&app, "ann@example.com", "a new password").await;

    let bob = token(&app, "bob@example.com", BOB_PASSWORD).await;
    let hash = cheap_hash(BOB_PASSWORD);
    app.sql(&format!(
        "UPDATE users SET password_hash = '{hash}' WHERE id = '{BOB}'"
    ))
    .await;
    let response = app
        .call(
            Method::DELETE,
            "/users/me",
            &bob,
            Some(&json!({"password": BOB_PASSWORD})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.log_in("bob@example.com", BOB_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_bad_file_changes_nothing_and_names_the_record() {
    let target = Target::new().await;
    let mut broken = ann_and_bob();
    broken["models"]["Todo"]["7"] = json!(r#"{"id":7,"title":"#);
    let said = refused(&target.import(&broken, "ann@example.com"));
    assert!(
        said.contains(r#"Todo "7": not JSON"#),
        "names the record: {said}"
    );

    let mut plain = ann_and_bob();
    plain["models"]["UserCredentials"]["credentials-1"] =
        json!(json!({"id": "credentials-1", "password": "hunter22", "userId": BOB}).to_string());
    let said = refused(&target.import(&plain, "ann@example.com"));
    assert!(
        said.contains(r#"UserCredentials "credentials-1": /password: not a bcrypt hash"#),
        "{said}"
    );

    let mut wrong = ann_and_bob();
    wrong["models"]["User"][BOB] = json!(json!({"id": BOB, "email": "bob"}).to_string());
    let said = refused(&target.import(&wrong, "ann@example.com"));
    assert!(said.contains(&format!(r#"User "{BOB}": /email"#)), "{said}");

    let long = refused(&target.import_with(
        &ann_and_bob(),
        "ann@example.com",
        &[("TODO_JWT_MAX_TITLE_LENGTH", "5")],
    ));
    assert!(
        long.contains(r#"Todo "1": /title: must NOT have more than 5 characters"#),
        "{long}"
    );
    let many = refused(&target.import_with(
        &ann_and_bob(),
        "ann@example.com",
        &[("TODO_JWT_MAX_TODOS_PER_USER", "2")],
    ));
    assert!(
        many.contains("would have 3 todos, more than the 2"),
        "{many}"
    );

    // None of those left anything behind.
    let imported = succeeded(&target.import(&ann_and_bob(), "ann@example.com"));
    assert!(imported.contains("users: 2 added"), "{imported}");

    // A file that reads well but does not fit the database: Carol is stored inside the
    // transaction, then todo 2 turns out to be Ann's while the owner is Bob. All rolled back.
    let carol = loopback_file(
        &[(CAROL, "carol@example.com", cheap_hash("carol's password"))],
        &[
            json!({"id": 3, "title": "free id"}),
            json!({"id": 2, "title": "taken"}),
        ],
    );
    let said = refused(&target.import(&carol, "bob@example.com"));
    assert!(
        said.contains(r#"Todo "2": this id is another user's todo here"#),
        "{said}"
    );
    let app = target.serve().await;
    assert_eq!(
        app.log_in("carol@example.com", "carol's password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sql("SELECT count(*) FROM users").await.as_deref(),
        Some("2")
    );
    let bob = token(&app, "bob@example.com", BOB_PASSWORD).await;
    assert_eq!(app.get_json("/todos", &bob).await, json!([]));
}

#[tokio::test]
async fn emails_that_differ_only_in_case_are_reported_not_merged() {
    let target = Target::new().await;
    let file = loopback_file(
        &[
            (ANN, "ann@example.com", BCRYPTJS_HASH.to_owned()),
            (CAROL, "Ann@Example.com", cheap_hash("another password")),
            (BOB, "bob@example.com", cheap_hash(BOB_PASSWORD)),
        ],
        &[],
    );
    let said = refused(&target.import(&file, "bob@example.com"));
    assert!(said.contains("differ only in letter case"), "{said}");
    assert!(
        said.contains(&format!(r#"ann@example.com (User "{ANN}")"#))
            && said.contains(&format!(r#"Ann@Example.com (User "{CAROL}")"#)),
        "lists both: {said}"
    );
    assert!(!said.contains("bob@example.com (User"), "{said}");
}

#[tokio::test]
async fn the_owner_must_exist_in_the_file_or_the_database() {
    let target = Target::new().await;
    let said = refused(&target.import(&ann_and_bob(), "nobody@example.com"));
    assert!(
        said.contains(r#"no user has the email "nobody@example.com""#),
        "{said}"
    );

    // Users first, then todos alone for a user the database already has.
    let users_only = loopback_file(&[(BOB, "bob@example.com", cheap_hash(BOB_PASSWORD))], &[]);
    succeeded(&target.import(&users_only, "bob@example.com"));
    let todos_only = loopback_file(&[], &[json!({"id": 4, "title": "for bob"})]);
    let imported = succeeded(&target.import(&todos_only, "BOB@example.com"));
    assert!(
        imported.contains(&format!("todos: 1 added, 0 already present (owner {BOB})")),
        "{imported}"
    );
    let app = target.serve().await;
    let bob = token(&app, "bob@example.com", BOB_PASSWORD).await;
    assert_eq!(
        app.get_json("/todos", &bob).await,
        json!([{"id": 4, "title": "for bob"}])
    );
}

/// Issue 21: an endless or huge file is refused after the cap, never read whole into memory
/// (`/dev/zero` took 3.4 GB in 3 s before).
#[tokio::test]
async fn an_endless_file_is_refused_at_the_cap() {
    let target = Target::new().await;
    let mut import: Command = command(target.data_dir.path());
    if let Some(database) = &target.database {
        import.env("TODO_JWT_DATABASE_URL", &database.url);
    }
    let started = std::time::Instant::now();
    let output = import
        .args(["import-loopback", "/dev/zero", "--owner", "ann@example.com"])
        .output()
        .expect("run todo-jwt import-loopback");
    let message = refused(&output);
    assert!(message.contains("larger than 64 MiB"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}
