//! The filter language over HTTP: both encodings, and refusals in LoopBack's words.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body, spawn_app};

async fn seeded() -> (TestApp, String) {
    let app = spawn_app().await;
    let token = app.token_for("f@example.com").await;
    for todo in [
        json!({"title": "buy milk", "isComplete": false}),
        json!({"title": "walk dog", "desc": "twice", "isComplete": true}),
        json!({"title": "Write 100% code"}),
        json!({"title": "call mum", "desc": "sunday", "isComplete": false}),
    ] {
        app.create_todo(&token, todo).await;
    }
    (app, token)
}

fn titles(todos: &Value) -> Vec<&str> {
    todos
        .as_array()
        .expect("array")
        .iter()
        .map(|todo| todo["title"].as_str().expect("title"))
        .collect()
}

fn encoded(filter: &Value) -> String {
    form_urlencoded::byte_serialize(filter.to_string().as_bytes()).collect()
}

#[tokio::test]
async fn json_and_bracket_forms_select_the_same_todos() {
    let (app, token) = seeded().await;
    let json = json!({"where": {"isComplete": false}, "limit": 1, "order": "title DESC"});
    let by_json = app
        .get_json(&format!("/todos?filter={}", encoded(&json)), &token)
        .await;
    let by_brackets = app
        .get_json(
            "/todos?filter[where][isComplete]=false&filter[limit]=1&filter[order]=title%20DESC",
            &token,
        )
        .await;
    assert_eq!(by_json, by_brackets);
    assert_eq!(titles(&by_json), ["call mum"]);
}

#[tokio::test]
async fn operators_behave_as_the_contract_says() {
    let (app, token) = seeded().await;
    let cases = [
        ("filter[where][title][like]=%25dog", vec!["walk dog"]),
        (
            "filter[where][title][like]=%25100\\%25%25",
            vec!["Write 100% code"],
        ),
        (
            "filter[where][title][ilike]=write%25",
            vec!["Write 100% code"],
        ),
        ("filter[where][title][like]=write%25", vec![]),
        (
            "filter[where][title][nlike]=%25a%25",
            vec!["buy milk", "Write 100% code"],
        ),
        (
            "filter[where][desc][neq]=twice",
            vec!["buy milk", "Write 100% code", "call mum"],
        ),
        (
            "filter[where][isComplete][nin][0]=true",
            vec!["buy milk", "Write 100% code", "call mum"],
        ),
        (
            "filter[where][title][inq][0]=buy%20milk&filter[where][title][inq][1]=call%20mum",
            vec!["buy milk", "call mum"],
        ),
        (
            "filter[where][id][between][0]=2&filter[where][id][between][1]=3",
            vec!["walk dog", "Write 100% code"],
        ),
        (
            "filter[where][title][regexp]=/^w/i",
            vec!["walk dog", "Write 100% code"],
        ),
        (
            "filter[where][title][gt]=c&filter[where][title][lt]=w",
            vec!["call mum"],
        ),
        (
            "filter[where][or][0][desc]=sunday&filter[where][or][1][isComplete]=true",
            vec!["walk dog", "call mum"],
        ),
        ("filter[where][colour]=red", vec![]),
        (
            "filter[skip]=1&filter[limit]=2",
            vec!["walk dog", "Write 100% code"],
        ),
        ("filter[offset]=3", vec!["call mum"]),
        (
            "filter[order][0]=isComplete%20DESC&filter[order][1]=title",
            vec!["walk dog", "buy milk", "call mum", "Write 100% code"],
        ),
    ];
    for (query, expected) in cases {
        let todos = app.get_json(&format!("/todos?{query}"), &token).await;
        assert_eq!(titles(&todos), expected, "{query}");
    }
}

#[tokio::test]
async fn fields_selects_properties_in_all_three_forms() {
    let (app, token) = seeded().await;
    for query in [
        "filter[fields][title]=true",
        "filter[fields][0]=title",
        "filter=%7B%22fields%22%3A%5B%22title%22%5D%7D",
    ] {
        let todos = app.get_json(&format!("/todos?{query}"), &token).await;
        assert_eq!(todos[0], json!({"title": "buy milk"}), "{query}");
    }
    let todos = app
        .get_json(
            "/todos?filter[fields][title]=false&filter[fields][desc]=false",
            &token,
        )
        .await;
    assert_eq!(todos[1], json!({"id": todos[1]["id"], "isComplete": true}));
}

#[tokio::test]
async fn a_bad_filter_is_400_invalid_parameter_value_with_details() {
    let (app, token) = seeded().await;
    let response = app
        .call(Method::GET, "/todos?filter[limit]=0", &token, None)
        .await;
    let error = error_body(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["name"], "BadRequestError");
    assert_eq!(error["code"], "INVALID_PARAMETER_VALUE");
    assert_eq!(
        error["message"],
        "Invalid data {\"limit\":\"0\"} for parameter \"filter\"."
    );
    assert_eq!(error["details"][0]["path"], "/limit");
    for query in [
        "filter={nope",
        "filter[include][0]=user",
        "filter[skip]=-1",
        "filter[where][id][gt]=abc",
        "filter[where][title][wat]=1",
        "filter[order]=colour",
        "where[title]=x",
    ] {
        let path = if query.starts_with("where") {
            format!("/todos/count?{query}&where={{}}")
        } else {
            format!("/todos?{query}")
        };
        let response = app.call(Method::GET, &path, &token, None).await;
        let error = error_body(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["code"], "INVALID_PARAMETER_VALUE", "{query}");
        assert!(
            error["details"]
                .as_array()
                .is_some_and(|details| !details.is_empty()),
            "{query}"
        );
    }
    let mut deep = json!({"title": "x"});
    for _ in 0..12 {
        deep = json!({"and": [deep]});
    }
    let response = app
        .call(
            Method::GET,
            &format!("/todos?filter={}", encoded(&json!({"where": deep}))),
            &token,
            None,
        )
        .await;
    error_body(response, StatusCode::BAD_REQUEST).await;
}

/// `or` and `and` lists up to the documented 1000 items answer correctly on both backends
/// (SQLite refused a flat chain of 999 ORs as "Expression tree is too large": a 500).
#[tokio::test]
async fn long_or_and_and_lists_up_to_the_limit_work_on_every_route() {
    let (app, token) = seeded().await;
    let all = app.get_json("/todos", &token).await;
    let ids: Vec<i64> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|todo| todo["id"].as_i64().expect("id"))
        .collect();
    // 1000 alternatives, two of which exist. (Written as raw JSON in the URL, as a client
    // would: only the quotes are escaped, which keeps 1000 items under hyper's URL limit.)
    let mut alternatives: Vec<Value> = (0..998).map(|n| json!({"id": 100_000 + n})).collect();
    alternatives.push(json!({"id": ids[0]}));
    alternatives.push(json!({"title": "walk dog"}));
    let any = json!({"or": alternatives});
    let found = app
        .get_json(&format!("/todos?filter={}", json!({"where": any})), &token)
        .await;
    assert_eq!(titles(&found), ["buy milk", "walk dog"]);
    let count = app
        .get_json(&format!("/todos/count?where={any}"), &token)
        .await;
    assert_eq!(count, json!({"count": 2}));
    // 1000 conditions that all hold for one todo.
    let every: Vec<Value> = (0..1000).map(|n| json!({"id": {"neq": -n}})).collect();
    let all_of = json!({"and": every, "id": ids[1]});
    let response = app
        .call(
            Method::PATCH,
            &format!("/todos?where={all_of}"),
            &token,
            Some(&json!({"desc": "patched"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"count": 1})
    );
    // One more is refused, not run.
    let mut too_many = alternatives.clone();
    too_many.push(json!({"id": 1}));
    let response = app
        .call(
            Method::GET,
            &format!("/todos/count?where={}", json!({"or": too_many})),
            &token,
            None,
        )
        .await;
    let error = error_body(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], "INVALID_PARAMETER_VALUE");
}

/// `order` lists are bounded like other lists, and repeated keys cost nothing (SQLite refused
/// 2,000 terms in ORDER BY with a 500).
#[tokio::test]
async fn long_order_lists_are_answered_or_refused_never_a_500() {
    let (app, token) = seeded().await;
    let keys: Vec<&str> = (0..1000)
        .map(|n| if n % 2 == 0 { "title" } else { "id" })
        .collect();
    let ordered = app
        .get_json(&format!("/todos?filter={}", json!({"order": keys})), &token)
        .await;
    assert_eq!(
        titles(&ordered),
        ["Write 100% code", "buy milk", "call mum", "walk dog"]
    );
    let as_text = vec!["id"; 1001].join(",");
    let response = app
        .call(
            Method::GET,
            &format!("/todos?filter={}", json!({"order": as_text})),
            &token,
            None,
        )
        .await;
    let error = error_body(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["details"][0]["path"], "/order", "{error}");
}

/// A filter with thousands of problems gets a short 400: at most 20 of them are listed.
#[tokio::test]
async fn a_filter_with_thousands_of_problems_lists_twenty() {
    let (app, token) = seeded().await;
    let fields: Vec<i64> = (0..900).collect();
    let response = app
        .call(
            Method::GET,
            &format!("/todos?filter={}", json!({"fields": fields})),
            &token,
            None,
        )
        .await;
    let error = error_body(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        error["details"].as_array().map(Vec::len),
        Some(20),
        "{error}"
    );
}

/// Row 5 of issue 10: `regexp` has one dialect, with the same matches on both backends, at
/// the places where the engines' native dialects differ; what they read differently is a 400
/// (never a 500) before any SQL runs.
#[tokio::test]
async fn regexp_has_one_dialect_on_both_backends() {
    let app = spawn_app().await;
    let token = app.token_for("regexp@example.com").await;
    let titles = [
        "a\nc",
        "٣",
        "É",
        "x.y",
        "xzy",
        "snake_case9",
        "tab\there",
        "[b]",
    ];
    for title in titles {
        app.create_todo(&token, json!({ "title": title })).await;
    }
    let cases: [(&str, &[&str]); 10] = [
        ("^a.c$", &["a\nc"]),
        ("\\d", &["snake_case9"]),
        ("/é/i", &[]),
        ("/^é$/i", &[]),
        ("^x\\.y$", &["x.y"]),
        ("^\\w+$", &["snake_case9", "xzy"]),
        ("\\s", &["a\nc", "tab\there"]),
        ("^[^a-z]$", &["٣", "É"]),
        ("\\[b]", &["[b]"]),
        ("/^X.Y$/i", &["x.y", "xzy"]),
    ];
    for (pattern, expected) in cases {
        let filter = json!({"where": {"title": {"regexp": pattern}}, "order": "id ASC"});
        let found = app
            .get_json(&format!("/todos?filter={}", encoded(&filter)), &token)
            .await;
        let mut titles: Vec<&str> = found
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|todo| todo["title"].as_str())
            .collect();
        titles.sort_unstable();
        let mut expected = expected.to_vec();
        expected.sort_unstable();
        assert_eq!(titles, expected, "{pattern}");
    }
    for pattern in [
        "a{256}",
        "\\pL",
        "a\\b",
        "(?P<n>a)\\1",
        "a++",
        "[a&&b]",
        "(?i)a",
        "\u{0}",
    ] {
        let filter = json!({"where": {"title": {"regexp": pattern}}});
        let response = app
            .call(
                Method::GET,
                &format!("/todos/count?where={}", encoded(&filter["where"])),
                &token,
                None,
            )
            .await;
        let error = error_body(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(
            error["code"], "INVALID_PARAMETER_VALUE",
            "{pattern}: {error}"
        );
    }
}
