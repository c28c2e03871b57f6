//! Two server processes on one database: on PostgreSQL what a deployment behind a load
//! balancer relies on (PostgreSQL only), on SQLite the refusal of a second process.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Instance, TestDatabase, command, postgres_only, start_with};

fn start(database: &TestDatabase) -> Instance {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut command = command(data_dir.path());
    command.env("TODO_JWT_DATABASE_URL", &database.url);
    start_with(command, data_dir)
}

/// The SQLite store owns its file: a second instance on the same data directory is refused
/// with a message that says why, and the first goes on serving. (Runs in both passes: it
/// needs no database server.)
#[tokio::test]
async fn a_second_instance_on_the_same_sqlite_database_is_refused() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let path = data_dir.path().to_owned();
    let first = start_with(command(&path), data_dir);
    assert_eq!(
        first
            .app
            .sign_up("first@example.com", "a-good-password")
            .await
            .status(),
        StatusCode::OK
    );

    let mut second = command(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a second todo-jwt");
    // Refused at once (it took SQLite's busy timeout, 5 s, before issue 13).
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second instance on the same SQLite file started");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(!status.success());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused after {:?}",
        started.elapsed()
    );
    assert_eq!(
        stderr.matches("is in use by another process").count(),
        1,
        "said once: {stderr}"
    );

    // The first instance is unharmed.
    assert_eq!(
        first
            .app
            .log_in("first@example.com", "a-good-password")
            .await
            .status(),
        StatusCode::OK
    );
}

/// Two processes on one PostgreSQL database are one service: accounts, tokens, todos, logouts
/// and the login limit are shared, and concurrent writes through both lose nothing.
#[tokio::test]
#[ignore = "PostgreSQL only: runs in the PostgreSQL pass of tests/run.sh"]
async fn two_instances_share_accounts_tokens_and_todos() {
    let database = postgres_only().await;
    let (one, two) = (start(&database), start(&database));
    let (a, b) = (&one.app, &two.app);

    // Sign up on one, log in on the other; a token from either works on both.
    assert_eq!(
        a.sign_up("shared@example.com", "password123")
            .await
            .status(),
        StatusCode::OK
    );
    let response = b.log_in("shared@example.com", "password123").await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let id_a = a.who_am_i(&token).await.text().await.expect("id");
    let id_b = b.who_am_i(&token).await.text().await.expect("id");
    assert_eq!(id_a, id_b);

    // Concurrent creates through both: distinct ids, nothing lost.
    let mut creates = tokio::task::JoinSet::new();
    for index in 0..60 {
        let (client, base, token) = (if index % 2 == 0 { a } else { b }).parts(&token);
        creates.spawn(async move {
            let response = client
                .post(format!("{base}/todos"))
                .bearer_auth(token)
                .json(&json!({"title": format!("todo {index}")}))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.expect("json")["id"]
                .as_i64()
                .expect("id")
        });
    }
    let mut ids = creates.join_all().await;
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 60, "distinct ids");
    assert_eq!(
        b.get_json("/todos/count", &token).await,
        json!({"count": 60})
    );

    // The same email signed up on both at once: exactly one success and one 409.
    for round in 0..5 {
        let email = format!("race{round}@example.com");
        let (first, second) = tokio::join!(
            a.sign_up(&email, "password123"),
            b.sign_up(&email, "password123")
        );
        let mut statuses = [first.status(), second.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{email}");
    }

    // A change through one is seen through the other at once.
    let path = format!("/todos/{}", ids[0]);
    let response = a
        .call(
            Method::PATCH,
            &path,
            &token,
            Some(&json!({"isComplete": true})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(b.get_json(&path, &token).await["isComplete"], true);
    let response = b.call(Method::DELETE, &path, &token, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        a.call(Method::GET, &path, &token, None).await.status(),
        StatusCode::NOT_FOUND
    );

    // Logging out on one ends the session on the other within a second.
    assert_eq!(b.who_am_i(&token).await.status(), StatusCode::OK);
    let response = a.call(Method::POST, "/users/logout", &token, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let ended = Instant::now();
    let mut refused_after = None;
    while ended.elapsed() < Duration::from_secs(3) {
        if b.who_am_i(&token).await.status() == StatusCode::UNAUTHORIZED {
            refused_after = Some(ended.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused_after = refused_after.expect("the other instance still accepts the token");
    assert!(
        refused_after <= Duration::from_millis(1_300),
        "{refused_after:?}"
    );

    // Failed logins split across the instances add up to one limit (10 by default).
    for attempt in 0..10 {
        let instance = if attempt % 2 == 0 { a } else { b };
        let response = instance
            .log_in("shared@example.com", "wrong-password")
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    for instance in [a, b] {
        let response = instance.log_in("shared@example.com", "password123").await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    drop((one, two));
}

/// Migrating a database that is up to date says nothing more than that: no PostgreSQL NOTICE
/// ("relation schema_migrations already exists") in the log at every start.
#[tokio::test]
#[ignore = "PostgreSQL only: runs in the PostgreSQL pass of tests/run.sh"]
async fn an_up_to_date_database_migrates_without_a_notice() {
    let database = postgres_only().await;
    for _ in 0..2 {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let output = command(data_dir.path())
            .env("TODO_JWT_DATABASE_URL", &database.url)
            .env("RUST_LOG", "info")
            .arg("migrate")
            .output()
            .expect("run migrate");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(!stderr.contains("NOTICE"), "{stderr}");
        assert!(!stderr.contains("already exists"), "{stderr}");
    }
}
