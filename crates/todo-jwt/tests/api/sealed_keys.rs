//! Issue 21 row 11: rows of `signing_keys` written or changed without the secret. Only rows
//! whose seal opens with the service secret sign, verify or retire other keys; a seal binds
//! every field of its row; rows sealed the old way are re-sealed once at start.

use std::time::Duration;

use authn::UserProfile;
use authn_jwt::{JwtConfig, JwtService, Key, KeySet};
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use todo_jwt::{
    Application,
    keys::{JwtAlgorithm, Sealer},
    store::{KeyRecord, Store},
};

use crate::helpers::{
    TEST_SECRET, TestApp, command, config_beside, eventually, jwks, spawn_app_with, spawn_on,
    start_with,
};

fn kids(set: &Value) -> Vec<String> {
    set["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid").to_owned())
        .collect()
}

fn kid_of(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).expect("header").kid
}

async fn login(app: &TestApp, email: &str) -> String {
    let response = app.log_in(email, "password123").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// The store under `app`, as an operator's tool (`rotate-keys`, `revoke-key`) opens it.
async fn store_of(app: &TestApp) -> Store {
    let settings = todo_jwt::config::Settings::new(&config_beside(app)).expect("settings");
    Store::open(&settings.database).await.expect("store")
}

fn sealer() -> Sealer {
    Sealer::from_secret(&TEST_SECRET.into())
}

/// An HS256 token for `id` made with the service secret, as the secret's key signs them.
fn hs256_token(id: &str) -> String {
    let now = get_current_timestamp();
    let claims = json!({"id": id, "iat": now, "exp": now + 600, "sub": id,
                        "iss": "todo-jwt", "aud": "todo-jwt", "jti": "hs256"});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .expect("signed")
}

/// The attack: an HS256 row with nothing sealed, after the Ed25519 key and active since
/// 1970. Before, within one reload it became the newest key, retired the Ed25519 key (its
/// successor had "signed" for longer than the token lifetime), emptied the JWK Set and every
/// EdDSA token was refused. Now it is left out: the Ed25519 key stays published, signs and
/// verifies; the secret signs nothing; and a rotation goes on past the row.
#[tokio::test]
async fn an_unsealed_hs256_row_retires_nothing() {
    let app = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.keys_reload_interval = 1;
    })
    .await;
    let token = app.token_for("intruder@example.com").await;
    let id = app.who_am_i(&token).await.text().await.expect("id");
    let kid = kid_of(&token).expect("kid");
    app.sql(
        "INSERT INTO signing_keys (kid, generation, algorithm, created_at, signs_from) \
         VALUES ('hs256-2', 2, 'HS256', 0, 0)",
    )
    .await;
    // Two reloads and more.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(kids(&jwks(&app).await), std::slice::from_ref(&kid));
    assert_eq!(app.who_am_i(&token).await.status(), StatusCode::OK);
    let fresh = login(&app, "intruder@example.com").await;
    assert_eq!(kid_of(&fresh).as_deref(), Some(kid.as_str()));
    assert_eq!(app.who_am_i(&fresh).await.status(), StatusCode::OK);
    assert_eq!(
        app.who_am_i(&hs256_token(&id)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sql("SELECT count(*) FROM signing_keys")
            .await
            .as_deref(),
        Some("2"),
        "the Ed25519 key is still in the table"
    );

    // A rotation is not stopped by the row (it takes the generation after it).
    let store = store_of(&app).await;
    let added = todo_jwt::keys::rotate(&store, &sealer(), JwtAlgorithm::EdDsa, Duration::ZERO)
        .await
        .expect("rotated past the row");
    assert_eq!(added.generation, 3);
    eventually(Duration::from_secs(10), "the new key signs", || async {
        kid_of(&login(&app, "intruder@example.com").await).as_deref() == Some(&added.kid)
    })
    .await;
    assert_eq!(kids(&jwks(&app).await), [kid, added.kid]);
    assert_eq!(app.who_am_i(&token).await.status(), StatusCode::OK);
}

/// A pending key (published, signing in 10 minutes) whose row is changed in the table (its
/// activation brought forward, its algorithm, its generation) no longer opens: it leaves the
/// JWK Set and never signs, while the key in force goes on. Put back as it was, it returns.
#[tokio::test]
async fn a_changed_row_does_not_open() {
    let app = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.keys_reload_interval = 1;
    })
    .await;
    let token = app.token_for("changed@example.com").await;
    let id = app.who_am_i(&token).await.text().await.expect("id");
    let kid = kid_of(&token).expect("kid");
    let store = store_of(&app).await;
    let delay = Duration::from_secs(600);
    let pending = todo_jwt::keys::rotate(&store, &sealer(), JwtAlgorithm::EdDsa, delay)
        .await
        .expect("rotated");
    let both = [kid.clone(), pending.kid.clone()];
    let published = |expected: Vec<String>| {
        let app = &app;
        async move {
            eventually(Duration::from_secs(10), "the JWK Set", || async {
                kids(&jwks(app).await) == expected
            })
            .await;
        }
    };
    published(both.to_vec()).await;
    let pending_kid = &pending.kid;
    for (change, undo) in [
        (
            "signs_from = 0".to_owned(),
            format!("signs_from = {}", pending.signs_from),
        ),
        (
            "algorithm = 'HS256'".to_owned(),
            "algorithm = 'EdDSA'".to_owned(),
        ),
        ("generation = 7".to_owned(), "generation = 2".to_owned()),
    ] {
        app.sql(&format!(
            "UPDATE signing_keys SET {change} WHERE kid = '{pending_kid}'"
        ))
        .await;
        published(vec![kid.clone()]).await;
        let fresh = login(&app, "changed@example.com").await;
        assert_eq!(kid_of(&fresh).as_deref(), Some(kid.as_str()), "{change}");
        assert_eq!(app.who_am_i(&fresh).await.status(), StatusCode::OK);
        assert_eq!(app.who_am_i(&token).await.status(), StatusCode::OK);
        // (Trusted as an HS256 row, it would make the secret's tokens valid.)
        assert_eq!(
            app.who_am_i(&hs256_token(&id)).await.status(),
            StatusCode::UNAUTHORIZED,
            "{change}"
        );
        app.sql(&format!(
            "UPDATE signing_keys SET {undo} WHERE kid = '{pending_kid}'"
        ))
        .await;
        published(both.to_vec()).await;
    }
}

/// A revoked key's row put back (from a dump) opens, but appeared below the newest key the
/// instance has loaded, where no key is ever added: its tokens stay refused.
#[tokio::test]
async fn a_revoked_key_put_back_stays_revoked() {
    let app = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.keys_reload_interval = 1;
    })
    .await;
    let old = app.token_for("revoked@example.com").await;
    let store = store_of(&app).await;
    let dump = store.signing_keys().list().await.expect("keys");
    let added = todo_jwt::keys::rotate(&store, &sealer(), JwtAlgorithm::EdDsa, Duration::ZERO)
        .await
        .expect("rotated");
    eventually(Duration::from_secs(10), "both keys published", || async {
        kids(&jwks(&app).await).len() == 2
    })
    .await;
    let old_kid = kid_of(&old).expect("kid");
    todo_jwt::keys::revoke(&store, &sealer(), &old_kid)
        .await
        .expect("revoked");
    eventually(Duration::from_secs(10), "the old key refused", || async {
        app.who_am_i(&old).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(
        store
            .signing_keys()
            .add(dump[0].clone())
            .await
            .expect("put back")
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(app.who_am_i(&old).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(kids(&jwks(&app).await), [added.kid]);
}

/// A row as the release before format 2 sealed it: the seed under the secret's derived key,
/// the kid alone as associated data, no format byte.
fn format_1_row(seed: &[u8; 32], generation: i64) -> KeyRecord {
    let key = Key::ed25519(seed).expect("key");
    let kid = key.thumbprint().expect("thumbprint");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(TEST_SECRET.as_bytes()).expect("hmac");
    mac.update(b"todo-jwt signing keys v1");
    let derived: [u8; 32] = mac.finalize().into_bytes().into();
    let nonce: [u8; 12] = [3; 12];
    let sealed = ChaCha20Poly1305::new(&derived.into())
        .encrypt(
            &nonce.into(),
            Payload {
                msg: seed,
                aad: kid.as_bytes(),
            },
        )
        .expect("sealed");
    KeyRecord {
        kid,
        generation,
        algorithm: "EdDSA".to_owned(),
        public_key: Some(key.public_key().expect("public").to_vec()),
        sealed_private_key: Some([&nonce[..], &sealed].concat()),
        created_at: 1,
        signs_from: 0,
    }
}

/// An installation from the release before: an HS256 row (what the migration wrote) and an
/// Ed25519 key after it, sealed the old way. Eight re-seals at once (instances starting
/// together) re-seal each row once; instances then start, the old key's tokens verify, it
/// signs, and its row is in format 2. An unsealed row written after that is never re-sealed.
#[tokio::test]
async fn rows_sealed_the_old_way_are_resealed_once_and_keep_working() {
    let first = spawn_app_with(|config| config.secret = Some(TEST_SECRET.into())).await;
    let id = {
        let token = first.token_for("old@example.com").await;
        first.who_am_i(&token).await.text().await.expect("id")
    };
    let seed = [7; 32];
    let old = format_1_row(&seed, 2);
    first.sql("DELETE FROM signing_keys").await;
    first
        .sql(
            "INSERT INTO signing_keys (kid, generation, algorithm, created_at, signs_from) \
             VALUES ('hs256-1', 1, 'HS256', 0, 0)",
        )
        .await;
    let store = store_of(&first).await;
    assert!(store.signing_keys().add(old.clone()).await.expect("added"));

    let mut reseals = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        reseals.spawn(async move { todo_jwt::keys::reseal(&store, &sealer()).await });
    }
    let mut resealed = 0;
    while let Some(outcome) = reseals.join_next().await {
        resealed += outcome.expect("task").expect("re-sealed");
    }
    assert_eq!(resealed, 2, "each row re-sealed once");
    for (kid, bytes) in [("hs256-1", "29"), (old.kid.as_str(), "61")] {
        let length = first
            .sql(&format!(
                "SELECT length(sealed_private_key) FROM signing_keys WHERE kid = '{kid}'"
            ))
            .await;
        assert_eq!(length.as_deref(), Some(bytes), "{kid} in format 2");
    }

    let started = futures_util::future::join_all((0..3).map(|_| {
        let mut config = config_beside(&first);
        config.keys_reload_interval = 1;
        Application::build(config)
    }))
    .await;
    for outcome in started {
        if let Err(error) = outcome {
            panic!("{}", todo_jwt::http::error::chain(&error));
        }
    }
    let second = spawn_on(config_beside(&first), tempfile::tempdir().expect("tempdir")).await;
    let signed_before = JwtService::new(JwtConfig::new(
        KeySet::single(Key::ed25519(&seed).expect("key").with_id(old.kid.clone())),
        "todo-jwt",
        "todo-jwt",
    ))
    .sign(&UserProfile::new(id))
    .expect("signed");
    assert_eq!(
        second.who_am_i(&signed_before).await.status(),
        StatusCode::OK
    );
    let fresh = login(&second, "old@example.com").await;
    assert_eq!(kid_of(&fresh).as_deref(), Some(old.kid.as_str()));
    assert_eq!(kids(&jwks(&second).await), std::slice::from_ref(&old.kid));

    // Upgraded: an unsealed row written now is an intruder's, and stays as it is.
    first
        .sql(
            "INSERT INTO signing_keys (kid, generation, algorithm, created_at, signs_from) \
             VALUES ('hs256-3', 3, 'HS256', 0, 0)",
        )
        .await;
    assert_eq!(
        todo_jwt::keys::reseal(&store, &sealer())
            .await
            .expect("nothing to do"),
        0
    );
    let third = spawn_on(config_beside(&first), tempfile::tempdir().expect("tempdir")).await;
    assert_eq!(
        kid_of(&login(&third, "old@example.com").await).as_deref(),
        Some(old.kid.as_str())
    );
    assert_eq!(
        first
            .sql("SELECT count(*) FROM signing_keys WHERE sealed_private_key IS NULL")
            .await
            .as_deref(),
        Some("1")
    );
}

/// The real binary on a table with an intruder's row: it starts, serves with its own key,
/// and says why the row is left out once, as a warning, however many reloads it makes.
#[tokio::test]
async fn a_row_left_out_is_said_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let start = |data_dir: tempfile::TempDir| {
        let mut server = command(root.path());
        server
            .env("TODO_JWT_KEYS_RELOAD_INTERVAL", "1")
            .stderr(std::process::Stdio::piped());
        start_with(server, data_dir)
    };
    let before = start(tempfile::tempdir().expect("tempdir"));
    let token = before.app.token_for("said@example.com").await;
    drop(before);
    let database = rusqlite::Connection::open(root.path().join("todo-jwt.sqlite3")).expect("open");
    database
        .execute(
            "INSERT INTO signing_keys (kid, generation, algorithm, created_at, signs_from) \
             VALUES ('hs256-2', 2, 'HS256', 0, 0)",
            [],
        )
        .expect("insert");
    drop(database);

    let mut instance = start(tempfile::tempdir().expect("tempdir"));
    let app = &instance.app;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let response = app.who_am_i(&token).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{:?}",
        response.text().await
    );
    assert_eq!(
        kids(&jwks(app).await),
        [kid_of(&token).expect("kid")],
        "the intruder's row is not published, the key is"
    );
    let _ = instance.child.kill();
    let mut stderr = String::new();
    std::io::Read::read_to_string(
        &mut instance.child.stderr.take().expect("stderr"),
        &mut stderr,
    )
    .expect("stderr");
    let said: Vec<_> = stderr
        .lines()
        .filter(|line| line.contains("hs256-2"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(
        said[0].contains("WARN") && said[0].contains("left out"),
        "{stderr}"
    );
    assert!(!stderr.contains(TEST_SECRET), "{stderr}");
}
