//! Reads: tags, 304s, a tag per query and per user, kept answers, and changes made beside
//! the service.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::{app_with_cache, etag, revalidate, send, tag_of};
use crate::helpers::{TestApp, error_body, spawn_app};

#[tokio::test]
async fn reads_answer_tags_and_a_current_one_is_a_304_without_a_body() {
    // With the answer cache and without it: the same answers.
    for app in [spawn_app().await, app_with_cache(0).await] {
        let token = app.token_for("reader@example.com").await;
        let todo = app.create_todo(&token, json!({"title": "one"})).await;
        let one = format!("/todos/{}", todo["id"]);
        for path in ["/todos", "/todos/count", one.as_str()] {
            let first = send(&app, Method::GET, path, &token, &[], None).await;
            assert_eq!(first.status(), StatusCode::OK);
            let tag = etag(&first);
            assert!(
                tag.starts_with('"') && tag.ends_with('"'),
                "a strong tag: {tag}"
            );
            let cache_control = first.headers()[header::CACHE_CONTROL].clone();
            assert_eq!(cache_control, "private, no-cache");
            let body = first.text().await.expect("body");
            // The same again: the same tag and body (from the cache, if it is on).
            let again = send(&app, Method::GET, path, &token, &[], None).await;
            assert_eq!(etag(&again), tag);
            assert_eq!(again.text().await.expect("body"), body);

            for current in [
                tag.clone(),
                format!("W/{tag}"),
                format!("\"x\", {tag}"),
                "*".into(),
            ] {
                let response = send(
                    &app,
                    Method::GET,
                    path,
                    &token,
                    &[(header::IF_NONE_MATCH, &current)],
                    None,
                )
                .await;
                assert_eq!(
                    response.status(),
                    StatusCode::NOT_MODIFIED,
                    "{path} {current}"
                );
                assert_eq!(etag(&response), tag);
                assert_eq!(response.headers()[header::CACHE_CONTROL], cache_control);
                assert!(response.bytes().await.expect("body").is_empty());
            }
            assert_eq!(
                revalidate(&app, path, &token, "\"other\"").await,
                StatusCode::OK
            );
            // If-Match on a read: a stale tag is a 412.
            let response = send(
                &app,
                Method::GET,
                path,
                &token,
                &[(header::IF_MATCH, "\"stale\"")],
                None,
            )
            .await;
            let error = error_body(response, StatusCode::PRECONDITION_FAILED).await;
            assert_eq!(error["code"], "PRECONDITION_FAILED");
        }
    }
}

#[tokio::test]
async fn a_different_query_is_a_different_tag_and_only_a_change_changes_one() {
    for app in [spawn_app().await, app_with_cache(0).await] {
        let token = app.token_for("queries@example.com").await;
        let other = app.token_for("bystander@example.com").await;
        let todo = app.create_todo(&token, json!({"title": "first"})).await;
        let one = format!("/todos/{}", todo["id"]);
        let fields = format!("{one}?filter=%7B%22fields%22%3A%7B%22title%22%3Atrue%7D%7D");
        let paths = [
            "/todos".to_owned(),
            "/todos?filter=%7B%22limit%22%3A1%7D".to_owned(),
            "/todos/count".to_owned(),
            "/todos/count?where=%7B%22title%22%3A%22first%22%7D".to_owned(),
            one.clone(),
            fields,
        ];
        let mut tags = Vec::new();
        for path in &paths {
            tags.push(tag_of(&app, path, &token).await);
        }
        let mut distinct = tags.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), tags.len(), "{tags:?}");

        // Another user's writes change none of them.
        let theirs = app.create_todo(&other, json!({"title": "theirs"})).await;
        let response = send(
            &app,
            Method::PATCH,
            &format!("/todos/{}", theirs["id"]),
            &other,
            &[],
            Some(&json!({"title": "changed"})),
        )
        .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        for (path, tag) in paths.iter().zip(&tags) {
            assert_eq!(
                revalidate(&app, path, &token, tag).await,
                StatusCode::NOT_MODIFIED
            );
        }
        // A second todo of mine changes the list's tags, not the first todo's.
        app.create_todo(&token, json!({"title": "second"})).await;
        for (path, tag) in paths.iter().zip(&tags) {
            let expected = if path.starts_with(&one) {
                StatusCode::NOT_MODIFIED
            } else {
                StatusCode::OK
            };
            assert_eq!(
                revalidate(&app, path, &token, tag).await,
                expected,
                "{path}"
            );
        }
        // A change of the first changes its tags, and the list's answer is the new one.
        let response = send(
            &app,
            Method::PATCH,
            &one,
            &token,
            &[],
            Some(&json!({"isComplete": true})),
        )
        .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            revalidate(&app, &one, &token, &tags[4]).await,
            StatusCode::OK
        );
        let list = app.get_json("/todos", &token).await;
        assert_eq!(list[0]["isComplete"], true, "{list}");
        assert_eq!(list.as_array().map(Vec::len), Some(2));
    }
}

#[tokio::test]
async fn a_change_made_beside_the_service_is_seen() {
    // The version is the database's, raised by triggers: on PostgreSQL a row changed without
    // the service (another instance, an operator) changes the tag and the answer, kept or not.
    // On SQLite no other process can change the file while the service runs, and the service
    // trusts that (`Store::write_mark`): what is checked there is that nothing else can, that
    // the triggers raise the versions all the same, and that the change shows with the next
    // write made through the service.
    let app = spawn_app().await;
    let token = app.token_for("beside@example.com").await;
    // Whose writes are the service's next ones on SQLite.
    let other = app.token_for("other@example.com").await;
    let todo = app.create_todo(&token, json!({"title": "before"})).await;
    let path = format!("/todos/{}", todo["id"]);
    let tag = tag_of(&app, "/todos", &token).await;
    let one = tag_of(&app, &path, &token).await;
    let versions = async || {
        app.sql(&format!(
            "SELECT u.todos_version || ',' || t.version FROM users u JOIN todos t \
             ON t.owner_id = u.id WHERE t.id = {}",
            todo["id"]
        ))
        .await
        .expect("versions")
    };
    let before = versions().await;
    if app.database.is_none() {
        another_process_cannot_open(&app);
    }
    // An UPDATE that does not touch the version: the triggers raise both.
    app.sql(&format!(
        "UPDATE todos SET title = 'after' WHERE id = {}",
        todo["id"]
    ))
    .await;
    let after = versions().await;
    let raised = |text: &str| -> Vec<i64> {
        text.split(',')
            .map(|number| number.parse().expect("a number"))
            .collect()
    };
    let (before, after) = (raised(&before), raised(&after));
    assert!(
        after[0] > before[0] && after[1] > before[1],
        "{before:?} -> {after:?}"
    );
    if app.database.is_none() {
        // The next write through the service: a todo of another user will do.
        app.create_todo(&other, json!({"title": "elsewhere"})).await;
    }
    assert_eq!(
        revalidate(&app, "/todos", &token, &tag).await,
        StatusCode::OK
    );
    assert_eq!(revalidate(&app, &path, &token, &one).await, StatusCode::OK);
    assert_eq!(app.get_json("/todos", &token).await[0]["title"], "after");
    // And a stale If-Match is refused after it.
    let response = send(
        &app,
        Method::PATCH,
        &path,
        &token,
        &[(header::IF_MATCH, &one)],
        Some(&json!({"title": "lost"})),
    )
    .await;
    error_body(response, StatusCode::PRECONDITION_FAILED).await;
    let tag = tag_of(&app, "/todos", &token).await;
    app.sql(&format!("DELETE FROM todos WHERE id = {}", todo["id"]))
        .await;
    if app.database.is_none() {
        app.create_todo(&other, json!({"title": "elsewhere too"}))
            .await;
    }
    assert_eq!(
        revalidate(&app, "/todos", &token, &tag).await,
        StatusCode::OK
    );
    assert_eq!(app.get_json("/todos", &token).await, json!([]));
    assert_eq!(
        app.get_json("/todos/count", &token).await,
        json!({"count": 0})
    );
}

/// An SQLite client in another process (Python's, as an operator's tool would be) can
/// neither change nor even read the service's file while it runs.
fn another_process_cannot_open(app: &TestApp) {
    let file = app.data_dir.path().join("todo-jwt.sqlite3");
    // The tests' Python (tests/run.sh makes one; the mail tests need it too), else the
    // system's.
    let python = std::env::var("TODO_JWT_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = std::process::Command::new(python)
        .arg("-c")
        .arg(
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1], timeout=0)\n\
             c.execute(\"UPDATE todos SET title = 'from elsewhere'\")\n\
             c.commit()",
        )
        .arg(&file)
        .output()
        .expect("Python");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "another process wrote the file");
    assert!(said.contains("database is locked"), "{said}");
}

#[tokio::test]
async fn another_users_tag_tells_nothing_and_matches_nothing() {
    let app = spawn_app().await;
    let alice = app.token_for("alice@example.com").await;
    let bob = app.token_for("bob@example.com").await;
    // Both lists at the same version, with the same content shape.
    let alice_todo = app.create_todo(&alice, json!({"title": "same"})).await;
    let bob_todo = app.create_todo(&bob, json!({"title": "same"})).await;
    let alice_list = tag_of(&app, "/todos", &alice).await;
    let bob_list = tag_of(&app, "/todos", &bob).await;
    assert_ne!(alice_list, bob_list);
    assert_eq!(
        revalidate(&app, "/todos", &bob, &alice_list).await,
        StatusCode::OK
    );
    let alice_one = tag_of(&app, &format!("/todos/{}", alice_todo["id"]), &alice).await;
    let bob_path = format!("/todos/{}", bob_todo["id"]);
    assert_eq!(
        revalidate(&app, &bob_path, &bob, &alice_one).await,
        StatusCode::OK
    );
    // Alice's todo stays hers: 404 to Bob, with or without her tag.
    let alice_path = format!("/todos/{}", alice_todo["id"]);
    assert_eq!(
        revalidate(&app, &alice_path, &bob, &alice_one).await,
        StatusCode::NOT_FOUND
    );
    // Her tag does not let Bob write his own todo, nor his list.
    let response = send(
        &app,
        Method::PATCH,
        &bob_path,
        &bob,
        &[(header::IF_MATCH, &alice_one)],
        Some(&json!({"title": "moved"})),
    )
    .await;
    error_body(response, StatusCode::PRECONDITION_FAILED).await;
    let response = send(
        &app,
        Method::PATCH,
        "/todos",
        &bob,
        &[(header::IF_MATCH, &alice_list)],
        Some(&json!({"title": "moved"})),
    )
    .await;
    error_body(response, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(app.get_json(&bob_path, &bob).await["title"], "same");
}

#[tokio::test]
async fn a_kept_answer_is_served_without_reading_the_todos_until_the_version_moves() {
    // The answer cache is keyed by the list's version alone: with the version put back by hand
    // after a change, the kept answer (the old title) is what is served; without the cache,
    // the todos are read (the new title). That shows the cache serves, and what it trusts.
    for (cache_mb, expected) in [(32, "kept"), (0, "changed")] {
        let app = app_with_cache(cache_mb).await;
        let token = app.token_for("kept@example.com").await;
        let todo = app.create_todo(&token, json!({"title": "kept"})).await;
        let user = app
            .sql("SELECT id FROM users WHERE email = 'kept@example.com'")
            .await
            .expect("the user");
        let tag = tag_of(&app, "/todos", &token).await;
        let version = app
            .sql(&format!(
                "SELECT todos_version FROM users WHERE id = '{user}'"
            ))
            .await
            .expect("a version");
        app.sql(&format!(
            "UPDATE todos SET title = 'changed' WHERE id = {}",
            todo["id"]
        ))
        .await;
        app.sql(&format!(
            "UPDATE users SET todos_version = {version} WHERE id = '{user}'"
        ))
        .await;
        let response = send(&app, Method::GET, "/todos", &token, &[], None).await;
        assert_eq!(etag(&response), tag);
        let list: Value = response.json().await.expect("json");
        assert_eq!(list[0]["title"], expected, "cache {cache_mb} MiB");
        // Any real change moves the version: the new title, whatever was kept.
        app.create_todo(&token, json!({"title": "another"})).await;
        assert_eq!(app.get_json("/todos", &token).await[0]["title"], "changed");
    }
}

#[tokio::test]
async fn head_revalidates_and_if_none_match_on_a_write_refuses_the_named_version() {
    let app = spawn_app().await;
    let token = app.token_for("head@example.com").await;
    let todo = app.create_todo(&token, json!({"title": "head"})).await;
    let path = format!("/todos/{}", todo["id"]);
    let tag = tag_of(&app, &path, &token).await;
    let head = send(&app, Method::HEAD, &path, &token, &[], None).await;
    assert_eq!((head.status(), etag(&head)), (StatusCode::OK, tag.clone()));
    let head = send(
        &app,
        Method::HEAD,
        &path,
        &token,
        &[(header::IF_NONE_MATCH, &tag)],
        None,
    )
    .await;
    assert_eq!(head.status(), StatusCode::NOT_MODIFIED);
    // "Only if it is not the version I have": refused while it is, allowed once it is not.
    let response = send(
        &app,
        Method::PATCH,
        &path,
        &token,
        &[(header::IF_NONE_MATCH, &tag)],
        Some(&json!({"title": "x"})),
    )
    .await;
    error_body(response, StatusCode::PRECONDITION_FAILED).await;
    let response = send(
        &app,
        Method::PATCH,
        &path,
        &token,
        &[(header::IF_NONE_MATCH, "\"another\"")],
        Some(&json!({"title": "y"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_json(&path, &token).await["title"], "y");
}
