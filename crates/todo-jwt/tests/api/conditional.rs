//! Issue 24: entity tags on todo reads and writes, 304 revalidation, If-Match (412) and the
//! required precondition (428), on both engines.

use futures_util::future::join_all;
use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, TestApp, error_body, spawn_app, spawn_app_with};

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
async fn if_match_guards_each_write_of_one_todo() {
    let app = spawn_app().await;
    let token = app.token_for("writer@example.com").await;
    let todo = app
        .create_todo(&token, json!({"title": "draft", "desc": "keep"}))
        .await;
    let path = format!("/todos/{}", todo["id"]);
    let read = send(&app, Method::GET, &path, &token, &[], None).await;
    let tag = etag(&read);

    // A current tag: 204, and the new tag is the one a read then answers.
    let response = send(
        &app,
        Method::PATCH,
        &path,
        &token,
        &[(header::IF_MATCH, &tag)],
        Some(&json!({"title": "final"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let newer = etag(&response);
    assert_ne!(newer, tag);
    assert_eq!(tag_of(&app, &path, &token).await, newer);

    // The old tag, now stale, on each write: 412 with the current tag, and nothing changed.
    for (method, body) in [
        (Method::PATCH, Some(json!({"title": "lost"}))),
        (Method::PUT, Some(json!({"title": "lost"}))),
        (Method::DELETE, None),
    ] {
        let response = send(
            &app,
            method.clone(),
            &path,
            &token,
            &[(header::IF_MATCH, &tag)],
            body.as_ref(),
        )
        .await;
        assert_eq!(etag(&response), newer, "{method}");
        let error = error_body(response, StatusCode::PRECONDITION_FAILED).await;
        assert_eq!(error["code"], "PRECONDITION_FAILED");
        assert_eq!(error["name"], "PreconditionFailedError");
    }
    assert_eq!(
        app.get_json(&path, &token).await,
        json!({"id": todo["id"], "title": "final", "desc": "keep"})
    );
    // A weak tag never matches If-Match; If-None-Match: * fails on an existing todo.
    let weak = format!("W/{newer}");
    for conditions in [
        [(header::IF_MATCH, weak.as_str())],
        [(header::IF_NONE_MATCH, "*")],
    ] {
        let response = send(
            &app,
            Method::PATCH,
            &path,
            &token,
            &conditions,
            Some(&json!({"title": "lost"})),
        )
        .await;
        error_body(response, StatusCode::PRECONDITION_FAILED).await;
    }
    // A list of tags with the current one in it, and `*`: they pass.
    let listed = format!("\"nope\", {newer}");
    let response = send(
        &app,
        Method::PUT,
        &path,
        &token,
        &[(header::IF_MATCH, &listed)],
        Some(&json!({"title": "replaced"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = send(
        &app,
        Method::PATCH,
        &path,
        &token,
        &[(header::IF_MATCH, "*")],
        Some(&json!({"isComplete": false})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let current = etag(&response);
    assert_eq!(
        app.get_json(&path, &token).await,
        json!({"id": todo["id"], "title": "replaced", "isComplete": false})
    );
    // Delete with the current tag; then the todo is gone: 404, whatever the tag.
    let response = send(
        &app,
        Method::DELETE,
        &path,
        &token,
        &[(header::IF_MATCH, &current)],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = send(
        &app,
        Method::PATCH,
        &path,
        &token,
        &[(header::IF_MATCH, &current)],
        Some(&json!({"title": "ghost"})),
    )
    .await;
    error_body(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn malformed_conditions_are_a_400() {
    let app = spawn_app().await;
    let token = app.token_for("malformed@example.com").await;
    let todo = app.create_todo(&token, json!({"title": "t"})).await;
    let path = format!("/todos/{}", todo["id"]);
    for (name, value) in [
        (header::IF_MATCH, "not-quoted"),
        (header::IF_NONE_MATCH, "\"open"),
        (header::IF_MATCH, "*, \"a\""),
    ] {
        for method in [Method::GET, Method::PATCH] {
            let response = send(
                &app,
                method,
                &path,
                &token,
                &[(name.clone(), value)],
                Some(&json!({"title": "x"})),
            )
            .await;
            let error = error_body(response, StatusCode::BAD_REQUEST).await;
            assert_eq!(error["code"], "INVALID_PRECONDITION", "{name}: {value}");
        }
    }
    assert_eq!(app.get_json(&path, &token).await["title"], "t");
}

#[tokio::test]
async fn two_clients_editing_one_todo_lose_nothing() {
    let app = spawn_app().await;
    let token = app.token_for("tabs@example.com").await;
    let todo = app.create_todo(&token, json!({"title": "shared"})).await;
    let path = format!("/todos/{}", todo["id"]);
    // Two tabs read the same version.
    let first_tab = tag_of(&app, &path, &token).await;
    let second_tab = tag_of(&app, &path, &token).await;
    assert_eq!(first_tab, second_tab);
    let response = send(
        &app,
        Method::PATCH,
        &path,
        &token,
        &[(header::IF_MATCH, &first_tab)],
        Some(&json!({"desc": "from the first tab"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = send(
        &app,
        Method::PUT,
        &path,
        &token,
        &[(header::IF_MATCH, &second_tab)],
        Some(&json!({"title": "from the second tab"})),
    )
    .await;
    let current = etag(&response);
    error_body(response, StatusCode::PRECONDITION_FAILED).await;
    // The second tab reads again (the 412's tag is the current one), merges, and succeeds.
    assert_eq!(tag_of(&app, &path, &token).await, current);
    let response = send(
        &app,
        Method::PUT,
        &path,
        &token,
        &[(header::IF_MATCH, &current)],
        Some(&json!({"title": "from the second tab", "desc": "from the first tab"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_json(&path, &token).await,
        json!({"id": todo["id"], "title": "from the second tab", "desc": "from the first tab"})
    );
}

#[tokio::test]
async fn fifty_concurrent_conditional_patches_of_one_tag_have_one_winner() {
    let app = spawn_app().await;
    let token = app.token_for("race@example.com").await;
    let todo = app.create_todo(&token, json!({"title": "start"})).await;
    let path = format!("/todos/{}", todo["id"]);
    for round in 0..2 {
        let tag = tag_of(&app, &path, &token).await;
        let attempts = (0..50).map(|writer| {
            let (app, token, path, tag) = (&app, &token, &path, &tag);
            async move {
                let body = json!({"title": format!("round {round} writer {writer}")});
                let response = send(
                    app,
                    Method::PATCH,
                    path,
                    token,
                    &[(header::IF_MATCH, tag)],
                    Some(&body),
                )
                .await;
                (writer, response.status())
            }
        });
        let outcomes = join_all(attempts).await;
        let winners: Vec<_> = outcomes
            .iter()
            .filter(|(_, status)| *status == StatusCode::NO_CONTENT)
            .collect();
        let refused = outcomes
            .iter()
            .filter(|(_, status)| *status == StatusCode::PRECONDITION_FAILED)
            .count();
        assert_eq!((winners.len(), refused), (1, 49), "{outcomes:?}");
        let title = format!("round {round} writer {}", winners[0].0);
        assert_eq!(app.get_json(&path, &token).await["title"], title);
    }
}

#[tokio::test]
async fn the_bulk_patch_is_guarded_by_the_lists_tag_and_changes_it() {
    let app = spawn_app().await;
    let token = app.token_for("bulk@example.com").await;
    for title in ["a", "b"] {
        app.create_todo(&token, json!({"title": title})).await;
    }
    let list = tag_of(&app, "/todos", &token).await;
    let filtered = tag_of(&app, "/todos?filter=%7B%22limit%22%3A1%7D", &token).await;
    // Unconditional: 200, and a new list tag, the one a read then answers.
    let response = send(
        &app,
        Method::PATCH,
        "/todos",
        &token,
        &[],
        Some(&json!({"isComplete": false})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let after = etag(&response);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"count": 2})
    );
    assert_ne!(after, list);
    assert_eq!(tag_of(&app, "/todos", &token).await, after);
    // Any of the list's older tags (of any query) is stale now: 412, nothing changed.
    for stale in [&list, &filtered] {
        let response = send(
            &app,
            Method::PATCH,
            "/todos",
            &token,
            &[(header::IF_MATCH, stale)],
            Some(&json!({"isComplete": true})),
        )
        .await;
        assert_eq!(etag(&response), after);
        error_body(response, StatusCode::PRECONDITION_FAILED).await;
    }
    assert_eq!(
        app.get_json("/todos/count?where=%7B%22isComplete%22%3Atrue%7D", &token)
            .await,
        json!({"count": 0})
    );
    // The current tag of a filtered read is a current tag of the list: it passes.
    let current = tag_of(&app, "/todos?filter=%7B%22limit%22%3A1%7D", &token).await;
    let response = send(
        &app,
        Method::PATCH,
        "/todos?where=%7B%22title%22%3A%22a%22%7D",
        &token,
        &[(header::IF_MATCH, &current)],
        Some(&json!({"isComplete": true})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(tag_of(&app, "/todos", &token).await, etag(&response));
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"count": 1})
    );
}

#[tokio::test]
async fn concurrent_bulk_and_single_writes_neither_deadlock_nor_double_win() {
    let app = spawn_app().await;
    let token = app.token_for("mixed@example.com").await;
    let mut paths = Vec::new();
    for n in 0..5 {
        let todo = app
            .create_todo(&token, json!({"title": format!("t{n}")}))
            .await;
        paths.push(format!("/todos/{}", todo["id"]));
    }
    let list = tag_of(&app, "/todos", &token).await;
    let bulk = (0..10).map(|n| {
        let (app, token, list) = (&app, &token, &list);
        async move {
            let body = json!({"desc": format!("bulk {n}")});
            let conditions = [(header::IF_MATCH, list.as_str())];
            send(
                app,
                Method::PATCH,
                "/todos",
                token,
                &conditions,
                Some(&body),
            )
            .await
            .status()
        }
    });
    let single = (0..10).map(|n| {
        let (app, token, path) = (&app, &token, &paths[n % paths.len()]);
        async move {
            let body = json!({"title": format!("single {n}")});
            send(app, Method::PATCH, path, token, &[], Some(&body))
                .await
                .status()
        }
    });
    let (bulk, single) = tokio::join!(join_all(bulk), join_all(single));
    assert!(
        single
            .iter()
            .all(|status| *status == StatusCode::NO_CONTENT),
        "{single:?}"
    );
    let won = bulk
        .iter()
        .filter(|status| **status == StatusCode::OK)
        .count();
    let refused = bulk
        .iter()
        .filter(|status| **status == StatusCode::PRECONDITION_FAILED)
        .count();
    // At most one bulk write passes (none if a single write came first: a race this test
    // cannot order; `fifty_concurrent_bulk_patches...` checks the one winner), the rest are
    // 412, and nothing else: no deadlock (PostgreSQL), no 500.
    assert!(won <= 1 && won + refused == 10, "{bulk:?}");
    let descs: Vec<Value> = app
        .get_json("/todos", &token)
        .await
        .as_array()
        .expect("a list")
        .iter()
        .map(|todo| todo["desc"].clone())
        .collect();
    if won == 1 {
        assert!(
            descs
                .iter()
                .all(|desc| desc == &descs[0] && desc.is_string()),
            "{descs:?}"
        );
    } else {
        assert!(descs.iter().all(Value::is_null), "{descs:?}");
    }
}

#[tokio::test]
async fn required_if_match_answers_428_to_unconditional_writes() {
    let app = spawn_app_with(|config| {
        config.secret = Some(secrecy::SecretString::from(TEST_SECRET));
        config.conditional.require_if_match = true;
    })
    .await;
    let token = app.token_for("strict@example.com").await;
    // Creating needs no tag.
    let todo = app.create_todo(&token, json!({"title": "kept"})).await;
    let path = format!("/todos/{}", todo["id"]);
    for (method, path, body) in [
        (Method::PATCH, path.as_str(), Some(json!({"title": "x"}))),
        (Method::PUT, path.as_str(), Some(json!({"title": "x"}))),
        (Method::DELETE, path.as_str(), None),
        (Method::PATCH, "/todos", Some(json!({"title": "x"}))),
    ] {
        let response = send(&app, method.clone(), path, &token, &[], body.as_ref()).await;
        let error = error_body(response, StatusCode::PRECONDITION_REQUIRED).await;
        assert_eq!(error["code"], "PRECONDITION_REQUIRED", "{method} {path}");
    }
    assert_eq!(app.get_json(&path, &token).await["title"], "kept");
    // `If-Match: *` names no version: not enough either.
    let response = send(
        &app,
        Method::PATCH,
        &path,
        &token,
        &[(header::IF_MATCH, "*")],
        Some(&json!({"title": "x"})),
    )
    .await;
    error_body(response, StatusCode::PRECONDITION_REQUIRED).await;
    let tag = tag_of(&app, &path, &token).await;
    let response = send(
        &app,
        Method::PATCH,
        &path,
        &token,
        &[(header::IF_MATCH, &tag)],
        Some(&json!({"title": "changed"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let list = tag_of(&app, "/todos", &token).await;
    let response = send(
        &app,
        Method::PATCH,
        "/todos",
        &token,
        &[(header::IF_MATCH, &list)],
        Some(&json!({"isComplete": true})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn clients_without_conditions_see_no_difference() {
    let app = spawn_app().await;
    let token = app.token_for("plain@example.com").await;
    let todo = app.create_todo(&token, json!({"title": "plain"})).await;
    let path = format!("/todos/{}", todo["id"]);
    for (method, body, status) in [
        (
            Method::PATCH,
            Some(json!({"title": "p"})),
            StatusCode::NO_CONTENT,
        ),
        (
            Method::PUT,
            Some(json!({"title": "q"})),
            StatusCode::NO_CONTENT,
        ),
        (Method::PATCH, Some(json!({})), StatusCode::BAD_REQUEST),
    ] {
        let response = send(&app, method, &path, &token, &[], body.as_ref()).await;
        assert_eq!(response.status(), status);
    }
    let response = send(
        &app,
        Method::PATCH,
        "/todos",
        &token,
        &[],
        Some(&json!({"desc": "d"})),
    )
    .await;
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"count": 1})
    );
    assert_eq!(
        app.get_json("/todos", &token).await,
        json!([{"id": todo["id"], "title": "q", "desc": "d"}])
    );
    let response = send(&app, Method::DELETE, &path, &token, &[], None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = send(&app, Method::DELETE, &path, &token, &[], None).await;
    error_body(response, StatusCode::NOT_FOUND).await;
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

#[tokio::test]
async fn fifty_concurrent_bulk_patches_of_one_list_tag_have_one_winner() {
    let app = spawn_app().await;
    let token = app.token_for("bulkrace@example.com").await;
    for n in 0..3 {
        app.create_todo(&token, json!({"title": format!("t{n}")}))
            .await;
    }
    let list = tag_of(&app, "/todos", &token).await;
    let attempts = (0..50).map(|writer| {
        let (app, token, list) = (&app, &token, &list);
        async move {
            let body = json!({"desc": format!("writer {writer}")});
            let conditions = [(header::IF_MATCH, list.as_str())];
            let response = send(
                app,
                Method::PATCH,
                "/todos",
                token,
                &conditions,
                Some(&body),
            )
            .await;
            (writer, response.status())
        }
    });
    let outcomes = join_all(attempts).await;
    let winners: Vec<_> = outcomes
        .iter()
        .filter(|(_, status)| *status == StatusCode::OK)
        .collect();
    let refused = outcomes
        .iter()
        .filter(|(_, status)| *status == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((winners.len(), refused), (1, 49), "{outcomes:?}");
    let desc = format!("writer {}", winners[0].0);
    for todo in app
        .get_json("/todos", &token)
        .await
        .as_array()
        .expect("a list")
    {
        assert_eq!(todo["desc"], desc.as_str());
    }
}

/// Clients writing and reading one list at once (the answer cache on, and on SQLite the
/// write mark that lets a kept answer be served unread): every read made after a write has
/// answered shows it, and the tag from before the write is never a 304 after it.
#[tokio::test]
async fn reads_after_a_write_show_it_while_others_write_and_read() {
    let app = app_with_cache(32).await;
    let token = app.token_for("busy@example.com").await;
    let (app, token) = (&app, token.as_str());
    let clients = (0..8).map(|client| async move {
        for round in 0..8 {
            let before = tag_of(app, "/todos", token).await;
            let title = format!("client {client} round {round}");
            app.create_todo(token, json!({ "title": title })).await;
            assert_eq!(
                revalidate(app, "/todos", token, &before).await,
                StatusCode::OK,
                "{title}: the tag from before the write"
            );
            let list = app.get_json("/todos", token).await;
            let titles: Vec<&str> = list
                .as_array()
                .expect("a list")
                .iter()
                .filter_map(|todo| todo["title"].as_str())
                .collect();
            assert!(
                titles.contains(&title.as_str()),
                "{title} missing: {titles:?}"
            );
            let count = app.get_json("/todos/count", token).await["count"]
                .as_u64()
                .expect("a count");
            assert!(count > round, "{title}: count {count}");
        }
    });
    join_all(clients).await;
    assert_eq!(
        app.get_json("/todos/count", token).await,
        json!({ "count": 64 })
    );
}
