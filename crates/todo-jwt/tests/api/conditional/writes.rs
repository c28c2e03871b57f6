//! Writes: `If-Match` and `If-None-Match` on each write, the bulk patch against the list's
//! tag, 400 for a malformed condition, 428 when one is required, and clients that send none.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::{etag, send, tag_of};
use crate::helpers::{TEST_SECRET, error_body, spawn_app, spawn_app_with};

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

/// A head nearly full of tags (800 strangers, about 57 KiB, under the 64 KiB head bound) is
/// read in full: a stranger list is a 412 that changes nothing, or a 200; the current tag
/// last in it is found, for a 304 and for a write.
#[tokio::test]
async fn a_head_full_of_tags_is_read_to_its_end_and_changes_nothing_it_should_not() {
    let app = spawn_app().await;
    let token = app.token_for("many-tags@example.com").await;
    let todo = app.create_todo(&token, json!({"title": "t"})).await;
    let path = format!("/todos/{}", todo["id"]);
    let tag = tag_of(&app, &path, &token).await;
    let strangers =
        vec!["\"T1-aaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\""; 800].join(", ");
    let with_current = format!("{strangers}, {tag}");
    let patch = async |value: &str| {
        let conditions = [(header::IF_MATCH, value)];
        let body = json!({"title": "changed"});
        send(&app, Method::PATCH, &path, &token, &conditions, Some(&body)).await
    };
    let refused = patch(&strangers).await;
    assert_eq!(etag(&refused), tag);
    error_body(refused, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(app.get_json(&path, &token).await["title"], "t");
    let read = async |value: &str| {
        let conditions = [(header::IF_NONE_MATCH, value)];
        send(&app, Method::GET, &path, &token, &conditions, None)
            .await
            .status()
    };
    assert_eq!(read(&strangers).await, StatusCode::OK);
    assert_eq!(read(&with_current).await, StatusCode::NOT_MODIFIED);
    assert_eq!(patch(&with_current).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_json(&path, &token).await["title"], "changed");
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

/// A new todo's `ETag` (`POST /todos`) is the tag its reads answer, so a client can write it
/// with `If-Match` at once.
#[tokio::test]
async fn a_new_todos_tag_is_the_one_its_reads_answer() {
    let app = spawn_app().await;
    let token = app.token_for("new-tag@example.com").await;
    let created = send(
        &app,
        Method::POST,
        "/todos",
        &token,
        &[],
        Some(&json!({"title": "new"})),
    )
    .await;
    assert_eq!(created.status(), StatusCode::OK);
    let tag = etag(&created);
    let todo: Value = created.json().await.expect("json");
    let path = format!("/todos/{}", todo["id"]);
    assert_eq!(tag_of(&app, &path, &token).await, tag);
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
}
