//! A full disk (issue 21): the data directory on a small tmpfs, filled up. No write may be
//! acknowledged unless it was stored; a refused one answers 507 `INSUFFICIENT_STORAGE`, never
//! a 500; readiness says 503 while the database cannot write; once space is freed, the same
//! process writes again. The service runs on SQLite here whatever the pass: the embedded
//! database is the one whose disk is the service's own.

use std::{io::Write, path::Path, process::Command, time::Duration};

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use todo_jwt::Config;

use crate::helpers::{TEST_SECRET, eventually, spawn_on};

/// A tmpfs of `megabytes` mounted at `path`, lazily unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(path: &Path, megabytes: u32) -> Self {
        std::fs::create_dir_all(path).expect("mount point");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={megabytes}m,mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "this test mounts a tmpfs to fill it, which needs root (CI runs as root)"
        );
        Self(path.to_owned())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `path` until the file system refuses another byte.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("filler");
    for size in [64 * 1024, 1] {
        let block = vec![7u8; size];
        while file.write_all(&block).is_ok() {}
    }
    let _ = file.sync_all();
}

#[tokio::test]
async fn on_a_full_disk_no_write_is_acknowledged_without_being_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::mount(&dir.path().join("disk"), 8);
    let data_dir = tempfile::tempdir_in(&disk.0).expect("data dir on the small disk");
    let mut config = Config::for_data_dir(data_dir.path());
    config.secret = Some(SecretString::from(TEST_SECRET));
    let app = spawn_on(config, data_dir).await;
    let token = app.token_for("full@example.com").await;
    let leaving = app.log_in("full@example.com", "password123").await;
    assert_eq!(leaving.status(), StatusCode::OK);
    let leaving: Value = leaving.json().await.expect("json");
    let leaving = leaving["token"].as_str().expect("token").to_owned();
    assert_eq!(app.who_am_i(&leaving).await.status(), StatusCode::OK);

    fill(&disk.0.join("filler"));
    let mut stored = Vec::new();
    let mut refused = 0;
    for index in 0..300 {
        let title = format!("todo {index}");
        let todo = json!({"title": title, "desc": "x".repeat(4_000)});
        let response = app.call(Method::POST, "/todos", &token, Some(&todo)).await;
        match response.status() {
            StatusCode::OK => {
                let todo: Value = response.json().await.expect("json");
                stored.push((todo["id"].as_i64().expect("id"), title));
            }
            StatusCode::INSUFFICIENT_STORAGE => {
                let body: Value = response.json().await.expect("json");
                assert_eq!(body["error"]["code"], "INSUFFICIENT_STORAGE", "{body}");
                refused += 1;
            }
            status => panic!(
                "create {index}: {status}, neither stored nor refused: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }
    assert!(
        refused > 0,
        "no create was refused on a full disk: writes were acknowledged without being stored \
         (or the disk never filled)"
    );
    // Other writes refuse the same way, never with a 500.
    let signup = app
        .sign_up("late@example.com", "password123")
        .await
        .status();
    assert!(
        [StatusCode::OK, StatusCode::INSUFFICIENT_STORAGE].contains(&signup),
        "signup on a full disk: {signup}"
    );
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["error"]["code"], "INSUFFICIENT_STORAGE", "{body}");

    std::fs::remove_file(disk.0.join("filler")).expect("space freed");
    eventually(
        Duration::from_secs(5),
        "ready again once space is freed",
        async || {
            let ready = app
                .client
                .get(app.url("/readyz"))
                .send()
                .await
                .expect("readyz");
            ready.status() == StatusCode::OK
        },
    )
    .await;
    // Every acknowledged create is there, as acknowledged.
    for (id, title) in &stored {
        let todo = app.get_json(&format!("/todos/{id}"), &token).await;
        assert_eq!(todo["title"], json!(title), "todo {id}");
    }
    let count = app.get_json("/todos/count", &token).await;
    assert_eq!(
        count["count"],
        json!(stored.len()),
        "nothing stored beyond the 200s"
    );
    // The same process writes again.
    app.create_todo(&token, json!({"title": "after"})).await;
}

/// The log on the same full disk: a line that cannot be written is dropped, and the request
/// still gets its answer (the subscriber's fallback `eprintln!` panicked on the failed write,
/// and the request's connection was closed unanswered).
#[tokio::test]
async fn a_log_on_the_full_disk_does_not_cost_a_request_its_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::mount(&dir.path().join("disk"), 8);
    let data_dir = tempfile::tempdir_in(&disk.0).expect("data dir on the small disk");
    let log = std::fs::File::create(disk.0.join("server.log")).expect("log file");
    let mut command = crate::helpers::command(data_dir.path());
    command.env("RUST_LOG", "info").stderr(log);
    let instance = crate::helpers::start_with(command, data_dir);
    let app = &instance.app;
    let token = app.token_for("logged@example.com").await;
    fill(&disk.0.join("filler"));
    for index in 0..20 {
        let todo = json!({"title": format!("todo {index}"), "desc": "x".repeat(4_000)});
        let response = app
            .client
            .post(app.url("/todos"))
            .bearer_auth(&token)
            .json(&todo)
            .send()
            .await
            .unwrap_or_else(|error| panic!("create {index}: no answer: {error}"));
        assert!(
            [StatusCode::OK, StatusCode::INSUFFICIENT_STORAGE].contains(&response.status()),
            "create {index}: {}",
            response.status()
        );
    }
    let read = app
        .client
        .get(app.url("/todos/count"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("a read is answered");
    assert_eq!(read.status(), StatusCode::OK);
}
