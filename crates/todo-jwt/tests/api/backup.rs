//! Issue 13: backing up the embedded database while the service runs and serves writes, and
//! restoring it. Runs the real binary (the backup is taken on `SIGUSR1`); SQLite only, in both
//! passes of the suite (it needs no database server).

use std::{path::Path, process::Command};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, command, restore, start_with, take_backup};

async fn titles(app: &TestApp, token: &str) -> Vec<String> {
    let todos = app.get_json("/todos?filter[order]=id", token).await;
    todos
        .as_array()
        .expect("a list")
        .iter()
        .map(|todo| todo["title"].as_str().expect("title").to_owned())
        .collect()
}

#[tokio::test]
async fn a_backup_taken_under_writes_restores_exactly_what_it_saw() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let path = data_dir.path().to_owned();
    let first = start_with(command(&path), tempfile::tempdir().expect("tempdir"));
    let app = &first.app;
    let token = app.token_for("backup@example.com").await;
    for title in ["one", "two", "three"] {
        app.create_todo(&token, json!({ "title": title })).await;
    }

    // Writes go on while the backup is taken: a writer adds todos without pause.
    let writer = {
        let (client, url, token) = (app.client.clone(), app.url("/todos"), token.clone());
        tokio::spawn(async move {
            let mut written = 0;
            for index in 0..200 {
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({ "title": format!("during {index}") }))
                    .send()
                    .await
                    .expect("write");
                assert_eq!(response.status(), StatusCode::OK);
                written += 1;
            }
            written
        })
    };
    let backup = take_backup(&first, &path).await;
    assert_eq!(
        writer.await.expect("writer"),
        200,
        "every write during the backup succeeded"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup)
            .expect("backup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the backup is private");
    }
    let at_backup = {
        let connection = rusqlite_titles(&backup);
        assert!(connection.len() >= 3, "{connection:?}");
        connection
    };
    app.create_todo(&token, json!({ "title": "after the backup" }))
        .await;
    let before_restore = titles(app, &token).await;
    assert_eq!(before_restore.len(), 3 + 200 + 1);

    // Restoring while the service runs is refused, and changes nothing.
    let refused = restore(&path, &backup, &[]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("in use by another process"), "{said}");
    assert!(said.contains("stop the service first"), "{said}");
    assert_eq!(titles(app, &token).await, before_restore);
    drop(first);

    let restored = restore(&path, &backup, &[]);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );

    // The service comes back with exactly what the backup saw: a consistent prefix of the
    // writes, nothing after.
    let second = start_with(command(&path), tempfile::tempdir().expect("tempdir"));
    let login = second.app.log_in("backup@example.com", "password123").await;
    assert_eq!(login.status(), StatusCode::OK);
    let token = login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let after = titles(&second.app, &token).await;
    assert_eq!(after, at_backup);
    assert_eq!(after[..3], ["one", "two", "three"]);
    assert_eq!(
        after[..],
        before_restore[..after.len()],
        "a prefix of the writes"
    );
    assert!(!after.contains(&"after the backup".to_owned()));
}

/// The titles in a backup file, read directly (ordered by id).
fn rusqlite_titles(path: &Path) -> Vec<String> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; \
             [print(row[0]) for row in sqlite3.connect(sys.argv[1]).execute('SELECT title FROM todos ORDER BY id')]",
        ])
        .arg(path)
        .output()
        .expect("python3 reads the backup");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
