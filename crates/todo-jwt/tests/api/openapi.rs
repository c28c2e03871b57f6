//! The OpenAPI document, the explorer, the home page and the OAuth2 token endpoint.

use std::path::PathBuf;

use reqwest::{StatusCode, header, redirect::Policy};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body, spawn_app};

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            found.push((method.to_uppercase(), path.clone(), operation.clone()));
        }
    }
    found
}

/// The operations whose ids are LoopBack's (`@loopback/authentication-jwt`'s for refresh), and
/// ours for the routes LoopBack does not have, in the same `Controller.method` form.
const OPERATION_IDS: [(&str, &str); 38] = [
    ("POST /signup", "UserController.signUp"),
    ("POST /users/login", "UserController.login"),
    ("GET /whoAmI", "UserController.whoAmI"),
    ("POST /users/refresh-login", "UserController.refreshLogin"),
    ("POST /refresh", "UserController.refresh"),
    ("POST /users/token", "UserController.issueToken"),
    ("POST /users/logout", "UserController.logout"),
    ("POST /users/logout-all", "UserController.logoutAll"),
    ("GET /users/me/sessions", "UserController.findSessions"),
    (
        "DELETE /users/me/sessions/{id}",
        "UserController.deleteSessionById",
    ),
    ("PUT /users/me/password", "UserController.changePassword"),
    ("DELETE /users/me", "UserController.deleteAccount"),
    ("POST /todos", "TodoController.create"),
    ("GET /todos", "TodoController.find"),
    ("GET /todos/count", "TodoController.count"),
    ("GET /todos/{id}", "TodoController.findById"),
    ("PUT /todos/{id}", "TodoController.replaceById"),
    ("PATCH /todos/{id}", "TodoController.updateById"),
    ("DELETE /todos/{id}", "TodoController.deleteById"),
    ("PATCH /todos", "TodoController.updateAll"),
    ("GET /users/me/events", "UserController.findEvents"),
    ("GET /healthz", "HealthController.live"),
    ("GET /readyz", "HealthController.ready"),
    ("GET /.well-known/jwks.json", "KeysController.jwks"),
    ("POST /users/verify-email", "UserController.verifyEmail"),
    (
        "POST /users/verify-email/resend",
        "UserController.resendVerification",
    ),
    (
        "POST /users/password-reset",
        "UserController.requestPasswordReset",
    ),
    (
        "POST /users/password-reset/confirm",
        "UserController.confirmPasswordReset",
    ),
    ("GET /users/me", "UserController.findMe"),
    ("PUT /users/me/email", "UserController.changeEmail"),
    (
        "POST /users/me/email/confirm",
        "UserController.confirmEmailChange",
    ),
    ("POST /users/me/mfa/totp", "UserController.enrolTotp"),
    (
        "POST /users/me/mfa/totp/verify",
        "UserController.verifyTotp",
    ),
    ("GET /users/me/mfa", "UserController.findFactors"),
    (
        "POST /users/me/mfa/recovery-codes",
        "UserController.newRecoveryCodes",
    ),
    ("DELETE /users/me/mfa/totp", "UserController.disableTotp"),
    ("POST /users/login/mfa", "UserController.completeLogin"),
    ("GET /metrics", "MetricsController.scrape"),
];

#[tokio::test]
async fn every_route_is_documented_with_loopbacks_operation_id_and_a_tag() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let found = operations(&doc);
    assert_eq!(found.len(), OPERATION_IDS.len(), "{found:?}");
    for (method, path, operation) in &found {
        let name = format!("{method} {path}");
        let expected = OPERATION_IDS
            .iter()
            .find(|(route, _)| *route == name)
            .map(|(_, id)| *id);
        assert_eq!(operation["operationId"].as_str(), expected, "{name}");
        let controller = expected.and_then(|id| id.split('.').next());
        assert_eq!(operation["tags"][0].as_str(), controller, "{name}");
    }
}

/// `#/components/...` is where every `$ref` points, and something is there.
fn unresolved_refs(doc: &Value, node: &Value, found: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let pointer = target.strip_prefix('#').unwrap_or(target);
                if doc.pointer(pointer).is_none() {
                    found.push(target.clone());
                }
            }
            map.values()
                .for_each(|value| unresolved_refs(doc, value, found));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|value| unresolved_refs(doc, value, found)),
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_resolves_and_there_is_a_server() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut unresolved = Vec::new();
    unresolved_refs(&doc, &doc, &mut unresolved);
    assert!(unresolved.is_empty(), "{unresolved:?}");
    assert_eq!(doc["servers"][0]["url"], "/");
}

/// The operations anyone may call.
const PUBLIC: [&str; 13] = [
    "POST /signup",
    "POST /users/login",
    "POST /users/token",
    "POST /users/refresh-login",
    "POST /refresh",
    "GET /healthz",
    "GET /readyz",
    "GET /.well-known/jwks.json",
    "POST /users/verify-email",
    "POST /users/verify-email/resend",
    "POST /users/password-reset",
    "POST /users/password-reset/confirm",
    "POST /users/me/email/confirm",
];

/// What each operation answers besides success, as the handlers and extractors do.
#[tokio::test]
async fn each_operation_lists_the_errors_it_answers_in_the_envelope() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let body = ["400", "408", "413", "415", "422", "503"];
    let expected = |name: &str| -> Vec<&str> {
        let mut statuses: Vec<&str> = match name {
            "POST /signup" => [&body[..], &["409", "429"]].concat(),
            "POST /users/verify-email"
            | "POST /users/verify-email/resend"
            | "POST /users/password-reset"
            | "POST /users/password-reset/confirm" => [&body[..], &["429"]].concat(),
            "POST /users/login" | "POST /users/refresh-login" => {
                [&body[..], &["401", "403", "429"]].concat()
            }
            "POST /refresh" => [&body[..], &["401", "429"]].concat(),
            "POST /users/me/email/confirm" => [&body[..], &["409", "429"]].concat(),
            "PUT /users/me/email" => [&body[..], &["401", "403", "409", "429"]].concat(),
            "GET /users/me" | "GET /users/me/mfa" => vec!["401", "503"],
            "POST /users/me/mfa/totp" => vec!["401", "403", "409", "503"],
            "POST /users/me/mfa/totp/verify" | "POST /users/me/mfa/recovery-codes" => {
                [&body[..], &["401", "403", "409", "429"]].concat()
            }
            "DELETE /users/me/mfa/totp" => [&body[..], &["401", "403", "429"]].concat(),
            "POST /users/login/mfa" => [&body[..], &["401", "429"]].concat(),
            "POST /users/token" => vec!["400", "408", "413", "429", "503"],
            "GET /whoAmI" => vec!["401", "503"],
            "GET /healthz" | "GET /.well-known/jwks.json" => vec![],
            "GET /metrics" => vec!["401", "403"],
            "GET /users/me/events" | "GET /users/me/sessions" => vec!["400", "401", "503"],
            "GET /readyz" => vec!["503"],
            "PUT /users/me/password" | "DELETE /users/me" => {
                [&body[..], &["401", "403", "429"]].concat()
            }
            "POST /users/logout" | "POST /users/logout-all" => {
                vec!["401", "503"]
            }
            "DELETE /users/me/sessions/{id}" => vec!["401", "404", "503"],
            // Conditional requests: 412 for a stale tag; writes also 428 when `If-Match` is
            // required.
            "POST /todos" => [&body[..], &["401"]].concat(),
            "PATCH /todos" => [&body[..], &["401", "412", "428"]].concat(),
            "PUT /todos/{id}" | "PATCH /todos/{id}" => {
                [&body[..], &["401", "404", "412", "428"]].concat()
            }
            "GET /todos" | "GET /todos/count" => vec!["400", "401", "412", "503"],
            "GET /todos/{id}" => vec!["400", "401", "404", "412", "503"],
            "DELETE /todos/{id}" => vec!["400", "401", "404", "412", "428", "503"],
            other => panic!("{other} is not in this list"),
        };
        // Every protected operation but the two a first-step token is for: 403 `MFA_REQUIRED`.
        let protected = !PUBLIC.contains(&name)
            && ![
                "GET /users/me/mfa",
                "POST /users/login/mfa",
                "POST /users/logout",
                "GET /metrics",
            ]
            .contains(&name);
        // And what no operation lists: the router's and the HTTP layer's 4xx, and 500.
        statuses.extend(["4XX", "5XX"]);
        if protected && !statuses.contains(&"403") {
            statuses.push("403");
        }
        statuses.sort_unstable();
        statuses
    };
    for (method, path, operation) in operations(&doc) {
        let name = format!("{method} {path}");
        let responses = operation["responses"].as_object().expect("responses");
        let errors: Vec<&str> = responses
            .keys()
            .map(String::as_str)
            .filter(|status| status.starts_with('4') || status.starts_with('5'))
            .collect();
        assert_eq!(errors, expected(&name), "{name}");
        assert!(responses.get("default").is_none(), "{name}: `default`");
        for status in &errors {
            let response = &responses[*status];
            let schema = match response["$ref"].as_str() {
                Some(target) => {
                    let named = &doc
                        .pointer(target.strip_prefix('#').expect("local"))
                        .expect("resolves");
                    named["content"]["application/json"]["schema"]["$ref"].clone()
                }
                None => response["content"]["application/json"]["schema"]["$ref"].clone(),
            };
            // The token endpoint's errors: RFC 6749's or the envelope, as one schema.
            let envelope = if name == "POST /users/token" {
                "#/components/schemas/TokenError"
            } else {
                "#/components/schemas/ErrorEnvelope"
            };
            assert_eq!(schema, envelope, "{name} {status}");
        }
    }
    let named = &doc["components"]["responses"];
    assert!(named["Unauthorized"]["headers"]["WWW-Authenticate"].is_object());
    for limited in ["ServiceUnavailable", "TooManyRequests"] {
        assert_eq!(
            named[limited]["headers"]["Retry-After"]["schema"]["type"], "integer",
            "{limited}"
        );
    }
}

/// Summaries are short plain text (the explorer shows them as they are); the whole sentence
/// is the description. Every tag used is declared.
#[tokio::test]
async fn summaries_are_short_and_every_tag_is_declared() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let declared: Vec<&str> = doc["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|tag| tag["name"].as_str())
        .collect();
    for (method, path, operation) in operations(&doc) {
        let summary = operation["summary"].as_str().expect("a summary");
        assert!(
            summary.chars().count() <= 60 && !summary.contains('`'),
            "{method} {path}: {summary:?}"
        );
        assert!(operation["description"].is_string(), "{method} {path}");
        let tag = operation["tags"][0].as_str().expect("a tag");
        assert!(declared.contains(&tag), "{method} {path}: {tag} undeclared");
    }
    assert!(doc["info"]["contact"].is_object());
}

/// `/openapi-3.0.json`: the same operations in OpenAPI 3.0.3, with no keyword 3.0 lacks.
#[tokio::test]
async fn the_3_0_rendering_has_the_same_operations_in_the_older_dialect() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let response = app
        .client
        .get(app.url("/openapi-3.0.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let older: Value = response.json().await.expect("json");
    assert_eq!(older["openapi"], "3.0.3");
    let ids = |doc: &Value| -> Vec<String> {
        operations(doc)
            .iter()
            .map(|(method, path, operation)| {
                format!("{method} {path} {}", operation["operationId"])
            })
            .collect()
    };
    assert_eq!(ids(&older), ids(&doc));
    let mut problems = Vec::new();
    newer_keywords(&older, "", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Where `node` uses what OpenAPI 3.0 has no word for.
fn newer_keywords(node: &Value, at: &str, found: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if map.get("type").is_some_and(Value::is_array) {
                found.push(format!("{at}: a list of types"));
            }
            if map.get("examples").is_some_and(Value::is_array) {
                found.push(format!("{at}: a schema's examples"));
            }
            if map.contains_key("$ref") && map.len() > 1 {
                found.push(format!("{at}: a $ref with siblings"));
            }
            if map.get("exclusiveMinimum").is_some_and(Value::is_number) {
                found.push(format!("{at}: a numeric exclusiveMinimum"));
            }
            for (key, value) in map {
                if key != "properties" && ["const", "contentMediaType"].contains(&key.as_str()) {
                    found.push(format!("{at}/{key}"));
                }
                newer_keywords(value, &format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                newer_keywords(item, &format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
}

/// `details` entries are objects: `path` and `message` always (the filter parser's), `code`
/// and `info` for bodies (AJV's shape), as a 422 and a 400 show.
#[tokio::test]
async fn the_error_details_are_typed_as_the_objects_they_are() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["ErrorBody"]["properties"]["details"]["items"]["$ref"],
        "#/components/schemas/ErrorDetail"
    );
    let detail = &schemas["ErrorDetail"];
    assert_eq!(detail["required"], json!(["path", "message"]));
    assert_eq!(detail["properties"]["code"]["type"], "string");
    assert_eq!(detail["properties"]["info"]["type"], "object");
    let token = app.token_for("details@example.com").await;
    let response = app
        .call(
            reqwest::Method::POST,
            "/todos",
            &token,
            Some(&json!({"title": 1})),
        )
        .await;
    let validation = error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let response = app
        .call(reqwest::Method::GET, "/todos?filter[limit]=0", &token, None)
        .await;
    let filter = error_body(response, StatusCode::BAD_REQUEST).await;
    for entry in [&validation["details"][0], &filter["details"][0]] {
        let entry = entry.as_object().expect("an object");
        let documented = detail["properties"].as_object().expect("properties");
        assert!(
            entry.keys().all(|key| documented.contains_key(key)),
            "{entry:?}"
        );
        assert!(
            entry["path"].is_string() && entry["message"].is_string(),
            "{entry:?}"
        );
    }
    assert!(validation["details"][0]["info"].is_object());
}

#[tokio::test]
async fn public_operations_say_so_and_protected_ones_require_a_token() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let public = PUBLIC;
    for (method, path, operation) in operations(&doc) {
        let name = format!("{method} {path}");
        if public.contains(&name.as_str()) {
            assert_eq!(operation["security"], json!([]), "{name} is public");
        } else if name == "GET /metrics" {
            // Its own token, or none from this machine.
            assert_eq!(
                operation["security"],
                json!([{"metrics": []}, {}]),
                "{name}"
            );
        } else {
            let security = operation["security"].as_array().expect("security");
            assert!(security.iter().any(|s| s.get("jwt").is_some()), "{name}");
        }
    }
    assert!(doc.get("security").is_none(), "no global requirement");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["jwt"]["type"], "http");
    assert_eq!(schemes["jwt"]["scheme"], "bearer");
    assert_eq!(schemes["jwt"]["bearerFormat"], "JWT");
    assert_eq!(
        schemes["password"]["flows"]["password"]["tokenUrl"],
        "/users/token"
    );
}

#[tokio::test]
async fn request_schemas_are_the_enforced_ones() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let new_todo = &doc["components"]["schemas"]["NewTodo"];
    assert_eq!(new_todo["additionalProperties"], false);
    assert_eq!(new_todo["required"], json!(["title"]));
    assert_eq!(new_todo["properties"]["title"]["minLength"], 1);
    let new_user = &doc["components"]["schemas"]["NewUser"];
    assert_eq!(new_user["properties"]["password"]["minLength"], 8);
    assert_eq!(new_user["properties"]["email"]["format"], "email");
}

/// `PATCH /todos/{id}` may repeat the path's id, `PATCH /todos` may not name one; both need
/// one property at least (`{}` is 400, see `todos::bulk_patch_refuses_an_id_and_an_empty_body`).
#[tokio::test]
async fn the_two_patches_have_their_own_schemas() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let body_ref = |path: &str| {
        doc["paths"][path]["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .clone()
    };
    assert_eq!(body_ref("/todos/{id}"), "#/components/schemas/TodoPatch");
    assert_eq!(body_ref("/todos"), "#/components/schemas/BulkTodoPatch");
    let schemas = &doc["components"]["schemas"];
    for (name, has_id) in [("TodoPatch", true), ("BulkTodoPatch", false)] {
        let schema = &schemas[name];
        assert_eq!(schema["minProperties"], 1, "{name}");
        assert_eq!(schema["additionalProperties"], false, "{name}");
        assert_eq!(schema["properties"].get("id").is_some(), has_id, "{name}");
        assert!(schema["properties"]["title"].is_object(), "{name}");
    }
}

/// Responses that always carry `id` and `title` require them; `GET` answers only what `fields`
/// selects. Optional properties are omitted, never `null`, so none is nullable.
#[tokio::test]
async fn response_schemas_require_what_is_always_there_and_nothing_is_null() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["Todo"]["required"], json!(["id", "title"]));
    assert_eq!(
        doc["paths"]["/todos"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/Todo"
    );
    assert!(schemas["PartialTodo"].get("required").is_none());
    assert_eq!(
        schemas["User"]["required"],
        json!(["id", "email", "emailVerified"])
    );
    for (schema, property, kind) in [
        ("User", "username", "string"),
        ("User", "realm", "string"),
        ("Todo", "desc", "string"),
        ("Todo", "isComplete", "boolean"),
        ("RefreshedTokens", "refreshToken", "string"),
        ("TokenResponse", "refresh_token", "string"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][property]["type"], kind,
            "{schema}.{property} is omitted when absent, never null"
        );
    }
}

/// `filter` and `where` stay strings (generators drop or flatten object query parameters) whose
/// content is JSON that named schemas describe; none is pre-filled with an example.
#[tokio::test]
async fn filter_and_where_describe_their_json_content() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let cases = [
        ("/todos", "get", "filter", "TodoFilter"),
        ("/todos/{id}", "get", "filter", "OneTodoFilter"),
        ("/todos/count", "get", "where", "TodoWhere"),
        ("/todos", "patch", "where", "TodoWhere"),
    ];
    for (path, method, name, content) in cases {
        let parameters = doc["paths"][path][method]["parameters"]
            .as_array()
            .expect("parameters");
        let parameter = parameters
            .iter()
            .find(|parameter| parameter["name"] == name)
            .expect("the parameter");
        assert_eq!(parameter["in"], "query");
        assert!(
            parameter.get("example").is_none(),
            "{path} {name} is not pre-filled"
        );
        assert!(
            parameter.get("examples").is_none(),
            "{path} {name} is not pre-filled"
        );
        let schema = &parameter["schema"];
        assert_eq!(schema["type"], "string", "{path} {name}");
        assert!(
            schema.get("example").is_none(),
            "{path} {name} is not pre-filled"
        );
        assert_eq!(schema["contentMediaType"], "application/json");
        assert_eq!(
            schema["contentSchema"]["$ref"],
            format!("#/components/schemas/{content}")
        );
    }
    let schemas = &doc["components"]["schemas"];
    let keys = |name: &str| -> Vec<String> {
        let mut keys: Vec<String> = schemas[name]["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys("TodoFilter"),
        ["fields", "limit", "offset", "order", "skip", "where"]
    );
    assert_eq!(
        keys("OneTodoFilter"),
        ["fields", "limit", "offset", "order", "skip"]
    );
    assert_eq!(
        keys("TodoWhere"),
        ["and", "desc", "id", "isComplete", "or", "title"]
    );
    // Each property's operators are a named schema, one per kind of property.
    for (property, condition) in [
        ("title", "StringCondition"),
        ("desc", "StringCondition"),
        ("id", "IntegerCondition"),
        ("isComplete", "BooleanCondition"),
    ] {
        assert_eq!(
            schemas["TodoWhere"]["properties"][property]["anyOf"][1]["$ref"],
            format!("#/components/schemas/{condition}"),
            "{property}"
        );
    }
    let title = &schemas["StringCondition"]["properties"];
    let mut operators: Vec<&String> = title.as_object().expect("operators").keys().collect();
    operators.sort();
    assert_eq!(
        operators,
        [
            "between", "eq", "gt", "gte", "ilike", "inq", "like", "lt", "lte", "neq", "nilike",
            "nin", "nlike", "regexp"
        ]
    );
    assert_eq!(schemas["TodoFilter"]["properties"]["limit"]["minimum"], 1);
}

/// The document is reviewed like code: a change to it shows up as a change to this file.
/// Run with `UPDATE_SNAPSHOTS=1` to accept a change.
#[tokio::test]
async fn the_document_matches_its_snapshot() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/openapi.snapshot.json");
    let rendered = serde_json::to_string_pretty(&doc).expect("json") + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &rendered).expect("write the snapshot");
    }
    let snapshot = std::fs::read_to_string(&path)
        .expect("the snapshot exists (UPDATE_SNAPSHOTS=1 creates it)");
    assert!(
        snapshot == rendered,
        "the OpenAPI document changed; review it and run with UPDATE_SNAPSHOTS=1"
    );
}

#[tokio::test]
async fn the_explorer_is_served_from_the_binary() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let response = client
        .get(app.url("/explorer"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(response.headers()[header::LOCATION], "./explorer/");
    let page = client
        .get(app.url("/explorer/"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("html");
    assert!(page.contains("swagger-ui"), "{page}");
    assert!(
        !page.contains("https://"),
        "nothing is loaded from the network"
    );
    let config = client
        .get(app.url("/explorer/swagger-initializer.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(config.status(), StatusCode::OK);
    let config = config.text().await.expect("js");
    assert!(config.contains("/openapi.json"), "{config}");
    assert!(
        config.contains("plugins: [SwaggerUIBundle.plugins.DownloadUrl, JsonStringParameters]"),
        "filter and where stay text boxes: {config}"
    );
    let bundle = client
        .get(app.url("/explorer/swagger-ui-bundle.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(bundle.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_home_page_links_the_explorer_and_the_document() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/")).send().await.expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let page = response.text().await.expect("html");
    assert!(
        page.contains("./explorer/") && page.contains("./openapi.json"),
        "{page}"
    );
}

async fn token_request(app: &TestApp, form: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/users/token"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    (response.status(), response.json().await.expect("json"))
}

#[tokio::test]
async fn the_password_grant_issues_a_working_bearer_token() {
    let app = spawn_app().await;
    assert_eq!(
        app.sign_up("oauth@example.com", "password123")
            .await
            .status(),
        StatusCode::OK
    );
    let (status, body) = token_request(
        &app,
        "grant_type=password&username=oauth%40example.com&password=password123",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 21_600);
    let token = body["access_token"].as_str().expect("token");
    assert_eq!(app.who_am_i(token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_password_grant_refuses_in_rfc_6749_terms() {
    let app = spawn_app().await;
    assert_eq!(
        app.sign_up("oauth@example.com", "password123")
            .await
            .status(),
        StatusCode::OK
    );
    let cases = [
        (
            "grant_type=password&username=oauth%40example.com&password=wrong-password",
            "invalid_grant",
        ),
        (
            "grant_type=password&username=nobody%40example.com&password=password123",
            "invalid_grant",
        ),
        ("grant_type=client_credentials", "unsupported_grant_type"),
        (
            "username=oauth%40example.com&password=password123",
            "invalid_request",
        ),
        (
            "grant_type=password&username=oauth%40example.com",
            "invalid_request",
        ),
        ("grant_type=password&grant_type=password", "invalid_request"),
    ];
    for (form, error) in cases {
        let (status, body) = token_request(&app, form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{form}"
        );
    }
}
