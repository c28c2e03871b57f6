//! The throughput ceiling for `bench/run.sh`: what `GET /todos` could reach if reading and
//! serialising 20 todos cost nothing. Same HTTP stack, same `jwt` strategy (the server's keys,
//! the same verified-token cache, through the `authn` layer), and a fixed JSON body the size
//! of 20 todos.
//!
//! Usage: `TODO_JWT_SECRET=<secret> CEILING_JWKS=<the server's JWK Set> ceiling <port>`: the
//! secret verifies HS256 tokens, the JWK Set's keys (when given) EdDSA ones.

use std::sync::Arc;

use authn::StrategyRegistry;
use authn_jwt::{BearerJwtStrategy, JwtConfig, JwtService, Key, KeySet};
use axum::{Router, http::header, response::IntoResponse, routing::get};
use secrecy::SecretString;
use serde_json::json;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|port| port.parse().ok())
        .unwrap_or(3002);
    let secret = std::env::var("TODO_JWT_SECRET").expect("TODO_JWT_SECRET is required");
    let key = Key::hs256(&SecretString::from(secret)).expect("secret of 32 bytes or more");
    let mut keys = KeySet::single(key);
    let jwks: serde_json::Value = std::env::var("CEILING_JWKS")
        .ok()
        .and_then(|jwks| serde_json::from_str(&jwks).ok())
        .unwrap_or_default();
    for jwk in jwks["keys"].as_array().into_iter().flatten() {
        let (Some(x), Some(kid)) = (jwk["x"].as_str(), jwk["kid"].as_str()) else {
            continue;
        };
        let public = Key::ed25519_public(x).expect("an Ed25519 public key");
        keys = keys
            .with_verify_only(public.with_id(kid))
            .expect("distinct key ids");
    }
    // The issuer and audience todo-jwt uses, so its tokens verify here too.
    let jwt = JwtService::new(JwtConfig::new(keys, "todo-jwt", "todo-jwt"));
    let registry = StrategyRegistry::new().with(BearerJwtStrategy::new(Arc::new(jwt)));

    let todos: Vec<_> = (1..=20)
        .map(|id| json!({"id": id, "title": format!("todo number {id}"), "desc": "something to do", "isComplete": id % 2 == 0}))
        .collect();
    let body: &'static [u8] = serde_json::to_vec(&todos).expect("json").leak();

    let app = Router::new()
        .route(
            "/todos",
            get(move || async move {
                ([(header::CONTENT_TYPE, "application/json")], body).into_response()
            }),
        )
        .route_layer(
            registry
                .require([BearerJwtStrategy::NAME])
                .expect("registered"),
        );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    println!("ceiling listening on http://127.0.0.1:{port}");
    axum::serve(listener, app).await.expect("serve");
}
