//! Two server processes on one PostgreSQL database: what a deployment behind a load balancer
//! relies on. Runs in the PostgreSQL pass of the suite (`TODO_JWT_TEST_BACKEND=postgres`).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, TestApp, TestDatabase, on_postgres};

/// A `todo-jwt` process, killed when dropped.
struct Instance {
    child: Child,
    app: TestApp,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(database: &TestDatabase) -> Instance {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_todo-jwt"))
        .env("TODO_JWT_DATABASE_URL", &database.url)
        .env("TODO_JWT_SECRET", TEST_SECRET)
        .env("TODO_JWT_PORT", "0")
        .env("TODO_JWT_DATA_DIR", data_dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start todo-jwt");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    let address = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Instance {
        child,
        app: TestApp {
            address,
            client: reqwest::Client::new(),
            data_dir,
            database: None,
        },
    }
}

#[tokio::test]
async fn two_instances_share_accounts_tokens_and_todos() {
    if !on_postgres() {
        // Written to the process's stderr itself, past the test harness's capture, so it shows
        // in a plain `cargo test`.
        let stderr = std::fs::OpenOptions::new().append(true).open("/dev/stderr");
        let _ = stderr.and_then(|mut stderr| {
            std::io::Write::write_all(
                &mut stderr,
                b"note: the PostgreSQL tests (this one, and the whole HTTP suite on PostgreSQL) \
                  are not run by a plain `cargo test`: they need TODO_JWT_TEST_BACKEND=postgres \
                  and a server; `bash tests/run.sh` sets both up\n",
            )
        });
        return;
    }
    let database = TestDatabase::create().await;
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
    drop((one, two));
}
