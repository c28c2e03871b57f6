//! The todo routes: contract rows, improve rows, and isolation between users.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body, spawn_app};

async fn two_users(app: &TestApp) -> (String, String) {
    (
        app.token_for("owner@example.com").await,
        app.token_for("other@example.com").await,
    )
}

#[tokio::test]
async fn create_answers_200_with_increasing_ids_and_omits_absent_fields() {
    let app = spawn_app().await;
    let token = app.token_for("a@example.com").await;
    let first = app.create_todo(&token, json!({"title": "buy milk"})).await;
    assert_eq!(first, json!({"id": first["id"], "title": "buy milk"}));
    let second = app
        .create_todo(
            &token,
            json!({"title": "walk", "desc": "dog", "isComplete": true}),
        )
        .await;
    assert_eq!(
        second,
        json!({"id": second["id"], "title": "walk", "desc": "dog", "isComplete": true})
    );
    assert!(second["id"].as_i64() > first["id"].as_i64());
}

#[tokio::test]
async fn create_validates_the_body() {
    let app = spawn_app().await;
    let token = app.token_for("a@example.com").await;
    let cases = [
        (json!({"title": ""}), "/title", "minLength"),
        (json!({"desc": "no title"}), "", "required"),
        (
            json!({"title": "x", "colour": "red"}),
            "",
            "additionalProperties",
        ),
        (json!({"title": "x", "id": 7}), "", "additionalProperties"),
        (json!({"title": 5}), "/title", "type"),
        (
            json!({"title": "x", "isComplete": "yes"}),
            "/isComplete",
            "type",
        ),
        (json!(null), "", "type"),
    ];
    for (body, path, code) in cases {
        let response = app.call(Method::POST, "/todos", &token, Some(&body)).await;
        let error = error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            (
                error["details"][0]["path"].as_str(),
                error["details"][0]["code"].as_str()
            ),
            (Some(path), Some(code)),
            "{body}"
        );
    }
    assert_eq!(
        app.get_json("/todos", &token).await,
        json!([]),
        "nothing was stored"
    );
}

#[tokio::test]
async fn list_is_in_id_order_and_holds_only_the_callers_todos() {
    let app = spawn_app().await;
    let (owner, other) = two_users(&app).await;
    let a = app.create_todo(&owner, json!({"title": "a"})).await;
    app.create_todo(&other, json!({"title": "theirs"})).await;
    let b = app.create_todo(&owner, json!({"title": "b"})).await;
    assert_eq!(app.get_json("/todos", &owner).await, json!([a, b]));
    assert_eq!(
        app.get_json("/todos/count", &owner).await,
        json!({"count": 2})
    );
    assert_eq!(
        app.get_json("/todos/count", &other).await,
        json!({"count": 1})
    );
}

#[tokio::test]
async fn get_one_finds_the_callers_todo_and_404s_everything_else() {
    let app = spawn_app().await;
    let (owner, other) = two_users(&app).await;
    let todo = app
        .create_todo(&owner, json!({"title": "mine", "desc": "d"}))
        .await;
    let path = format!("/todos/{}", todo["id"]);
    assert_eq!(app.get_json(&path, &owner).await, todo);
    let response = app.call(Method::GET, &path, &other, None).await;
    let error = error_body(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["name"], "Error");
    assert_eq!(error["code"], "ENTITY_NOT_FOUND");
    assert_eq!(
        error["message"],
        format!("Entity not found: Todo with id {}", todo["id"])
    );
    error_body(
        app.call(Method::GET, "/todos/999999", &owner, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let error = error_body(
        app.call(Method::GET, "/todos/abc", &owner, None).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], "INVALID_PARAMETER_VALUE");
    assert_eq!(
        error["message"],
        "Invalid data \"abc\" for parameter \"id\"."
    );
    let fields = app
        .get_json(&format!("{path}?filter[fields][title]=true"), &owner)
        .await;
    assert_eq!(fields, json!({"title": "mine"}));
    let response = app
        .call(
            Method::GET,
            &format!("{path}?filter[where][id]=1"),
            &owner,
            None,
        )
        .await;
    error_body(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn count_is_a_literal_segment_and_takes_where() {
    let app = spawn_app().await;
    let token = app.token_for("a@example.com").await;
    app.create_todo(&token, json!({"title": "a", "isComplete": true}))
        .await;
    app.create_todo(&token, json!({"title": "b", "isComplete": false}))
        .await;
    app.create_todo(&token, json!({"title": "c"})).await;
    assert_eq!(
        app.get_json("/todos/count?where[isComplete]=true", &token)
            .await,
        json!({"count": 1})
    );
    let encoded = "/todos/count?where=%7B%22isComplete%22%3A%7B%22neq%22%3Atrue%7D%7D";
    assert_eq!(app.get_json(encoded, &token).await, json!({"count": 2}));
}

#[tokio::test]
async fn put_replaces_the_record_and_omitted_fields_disappear() {
    let app = spawn_app().await;
    let token = app.token_for("a@example.com").await;
    let todo = app
        .create_todo(
            &token,
            json!({"title": "t", "desc": "d", "isComplete": true}),
        )
        .await;
    let path = format!("/todos/{}", todo["id"]);
    let response = app
        .call(Method::PUT, &path, &token, Some(&json!({"title": "new"})))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.text().await.expect("body"), "");
    assert_eq!(
        app.get_json(&path, &token).await,
        json!({"id": todo["id"], "title": "new"})
    );
    let same_id = json!({"id": todo["id"], "title": "again", "isComplete": false});
    assert_eq!(
        app.call(Method::PUT, &path, &token, Some(&same_id))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn put_refuses_a_different_id_an_empty_title_and_other_users_todos() {
    let app = spawn_app().await;
    let (owner, other) = two_users(&app).await;
    let todo = app.create_todo(&owner, json!({"title": "t"})).await;
    let id = todo["id"].as_i64().expect("id");
    let path = format!("/todos/{id}");
    let response = app
        .call(
            Method::PUT,
            &path,
            &owner,
            Some(&json!({"id": id + 1, "title": "x"})),
        )
        .await;
    let error = error_body(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        error["message"],
        format!("id property (id) cannot be updated from {id} to {}", id + 1)
    );
    let response = app
        .call(Method::PUT, &path, &owner, Some(&json!({"title": ""})))
        .await;
    assert_eq!(
        error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await["details"][0]["path"],
        "/title"
    );
    let response = app
        .call(
            Method::PUT,
            &path,
            &other,
            Some(&json!({"title": "stolen"})),
        )
        .await;
    error_body(response, StatusCode::NOT_FOUND).await;
    assert_eq!(app.get_json(&path, &owner).await, todo, "untouched");
}

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    let app = spawn_app().await;
    let token = app.token_for("a@example.com").await;
    let todo = app
        .create_todo(&token, json!({"title": "t", "desc": "d"}))
        .await;
    let path = format!("/todos/{}", todo["id"]);
    let response = app
        .call(
            Method::PATCH,
            &path,
            &token,
            Some(&json!({"isComplete": true})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_json(&path, &token).await,
        json!({"id": todo["id"], "title": "t", "desc": "d", "isComplete": true})
    );
}

#[tokio::test]
async fn patch_refuses_empty_bodies_empty_titles_other_ids_and_other_users() {
    let app = spawn_app().await;
    let (owner, other) = two_users(&app).await;
    let todo = app.create_todo(&owner, json!({"title": "t"})).await;
    let path = format!("/todos/{}", todo["id"]);
    let error = error_body(
        app.call(Method::PATCH, &path, &owner, Some(&json!({})))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], "INVALID_BODY_DEFINITION");
    assert_eq!(error["message"], "Data is required for the patch request");
    let response = app
        .call(Method::PATCH, &path, &owner, Some(&json!({"title": ""})))
        .await;
    error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let response = app
        .call(Method::PATCH, &path, &owner, Some(&json!({"id": 424242})))
        .await;
    error_body(response, StatusCode::BAD_REQUEST).await;
    let response = app
        .call(
            Method::PATCH,
            &path,
            &other,
            Some(&json!({"title": "stolen"})),
        )
        .await;
    error_body(response, StatusCode::NOT_FOUND).await;
    assert_eq!(app.get_json(&path, &owner).await, todo, "untouched");
}

#[tokio::test]
async fn delete_removes_the_todo_and_ids_are_never_reused() {
    let app = spawn_app().await;
    let (owner, other) = two_users(&app).await;
    let todo = app.create_todo(&owner, json!({"title": "t"})).await;
    let path = format!("/todos/{}", todo["id"]);
    error_body(
        app.call(Method::DELETE, &path, &other, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        app.get_json(&path, &owner).await,
        todo,
        "another user cannot delete it"
    );
    let response = app.call(Method::DELETE, &path, &owner, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.text().await.expect("body"), "");
    error_body(
        app.call(Method::DELETE, &path, &owner, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    error_body(
        app.call(Method::GET, &path, &owner, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let next = app.create_todo(&owner, json!({"title": "next"})).await;
    assert!(
        next["id"].as_i64() > todo["id"].as_i64(),
        "{next} after {todo}"
    );
}

/// As the document says: the bulk patch has no `id` (422, as any unlisted property), and an
/// empty patch is LoopBack's 400 on both patch routes (`minProperties: 1`).
#[tokio::test]
async fn bulk_patch_refuses_an_id_and_an_empty_body() {
    let app = spawn_app().await;
    let token = app.token_for("a@example.com").await;
    let todo = app.create_todo(&token, json!({"title": "t"})).await;
    let response = app
        .call(Method::PATCH, "/todos", &token, Some(&json!({"id": 7})))
        .await;
    let error = error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error["details"][0]["code"], "additionalProperties");
    assert_eq!(error["details"][0]["info"]["additionalProperty"], "id");
    let response = app
        .call(Method::PATCH, "/todos", &token, Some(&json!({})))
        .await;
    let error = error_body(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "INVALID_BODY_DEFINITION");
    let path = format!("/todos/{}", todo["id"]);
    assert_eq!(app.get_json(&path, &token).await, todo, "untouched");
}

#[tokio::test]
async fn bulk_patch_counts_matches_and_touches_only_the_callers_todos() {
    let app = spawn_app().await;
    let (owner, other) = two_users(&app).await;
    app.create_todo(&owner, json!({"title": "a"})).await;
    app.create_todo(&owner, json!({"title": "b", "isComplete": false}))
        .await;
    let theirs = app.create_todo(&other, json!({"title": "a"})).await;
    let body = json!({"isComplete": true});
    let response = app
        .call(Method::PATCH, "/todos?where[title]=a", &owner, Some(&body))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"count": 1})
    );
    let response = app
        .call(
            Method::PATCH,
            "/todos",
            &owner,
            Some(&json!({"desc": "all"})),
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"count": 2})
    );
    let mine = app.get_json("/todos", &owner).await;
    assert!(
        mine.as_array()
            .expect("array")
            .iter()
            .all(|todo| todo["desc"] == "all")
    );
    assert_eq!(
        app.get_json(&format!("/todos/{}", theirs["id"]), &other)
            .await,
        theirs,
        "untouched"
    );
    let response = app
        .call(Method::PATCH, "/todos", &owner, Some(&json!({})))
        .await;
    error_body(response, StatusCode::BAD_REQUEST).await;
    let response = app
        .call(
            Method::PATCH,
            "/todos?where[nope][zz]=1&where={}",
            &owner,
            Some(&body),
        )
        .await;
    error_body(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn authentication_comes_before_parameters_and_bodies() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/todos/abc"),
        (Method::POST, "/todos"),
        (Method::GET, "/todos?filter={bad"),
    ] {
        let response = app
            .client
            .request(method, app.url(path))
            .body("not json")
            .send()
            .await
            .expect("request");
        let error = error_body(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(error["message"], "Authorization header not found.");
    }
    let response = app
        .client
        .get(app.url("/todos/1/extra"))
        .send()
        .await
        .expect("request");
    error_body(response, StatusCode::NOT_FOUND).await;
    let response = app
        .client
        .post(app.url("/todos/count"))
        .send()
        .await
        .expect("request");
    error_body(response, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn deleting_a_user_deletes_their_todos() {
    let app = spawn_app().await;
    let token = app.token_for("gone@example.com").await;
    app.create_todo(&token, json!({"title": "t"})).await;
    app.sql("DELETE FROM users").await;
    let left = app.sql("SELECT COUNT(*) FROM todos").await.expect("count");
    assert_eq!(left, "0");
    // Each instance may trust a token's user for up to a second (`USER_CACHE_TTL`), no longer.
    tokio::time::sleep(todo_jwt::app::USER_CACHE_TTL + std::time::Duration::from_millis(100)).await;
    let response = app.call(Method::GET, "/todos", &token, None).await;
    assert_eq!(
        error_body(response, StatusCode::UNAUTHORIZED).await["message"],
        "Error verifying token : user not found"
    );
}

/// Many writes at once through one server (on SQLite they queue on its one writer thread):
/// every create gets its own id, reads in between see whole todos, bulk and single updates
/// all land, and nothing is lost.
#[tokio::test]
async fn concurrent_writes_and_reads_lose_nothing() {
    let app = spawn_app().await;
    let token = app.token_for("busy@example.com").await;

    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..80 {
        let (client, base, token) = app.parts(&token);
        tasks.spawn(async move {
            if index % 4 == 3 {
                // A read among the writes: a list of whole todos.
                let response = client
                    .get(format!("{base}/todos"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status(), StatusCode::OK);
                let todos: Vec<Value> = response.json().await.expect("json");
                assert!(todos.iter().all(|todo| todo["title"].is_string()));
                return None;
            }
            let response = client
                .post(format!("{base}/todos"))
                .bearer_auth(token)
                .json(&json!({"title": format!("todo {index}"), "isComplete": false}))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), StatusCode::OK);
            let todo: Value = response.json().await.expect("json");
            assert_eq!(todo["title"], format!("todo {index}"));
            todo["id"].as_i64()
        });
    }
    let mut ids: Vec<i64> = tasks.join_all().await.into_iter().flatten().collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 60, "distinct ids");

    // Updates at once: one bulk PATCH and a PATCH per todo.
    let mut updates = tokio::task::JoinSet::new();
    for &id in &ids {
        let (client, base, token) = app.parts(&token);
        updates.spawn(async move {
            let response = client
                .patch(format!("{base}/todos/{id}"))
                .bearer_auth(token)
                .json(&json!({"desc": format!("updated {id}")}))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
        });
    }
    let (client, base, bulk_token) = app.parts(&token);
    updates.spawn(async move {
        let response = client
            .patch(format!("{base}/todos"))
            .bearer_auth(bulk_token)
            .json(&json!({"isComplete": true}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
    });
    updates.join_all().await;

    let todos = app.get_json("/todos", &token).await;
    let todos = todos.as_array().expect("array");
    assert_eq!(todos.len(), 60);
    for todo in todos {
        let id = todo["id"].as_i64().expect("id");
        assert_eq!(todo["desc"], format!("updated {id}"), "{todo}");
        assert_eq!(todo["isComplete"], true, "{todo}");
    }
}
