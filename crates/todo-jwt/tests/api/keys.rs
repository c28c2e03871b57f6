//! Signing keys: EdDSA by default with a `kid`, the JWK Set, switching from HS256, rotation
//! (on one instance by `SIGUSR2`, on two PostgreSQL instances by `todo-jwt rotate-keys`), and
//! what an attacker gets from the secret or the public key.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use authn::UserProfile;
use authn_jwt::{JwtConfig, JwtService, Key, KeySet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, get_current_timestamp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use todo_jwt::{Application, keys::JwtAlgorithm};

use crate::helpers::{
    TEST_SECRET, TestApp, command, config_beside, eventually, jwks, on_postgres, postgres_only,
    spawn_app, spawn_app_with, spawn_on, start_with, verify_with_jwks,
};

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid").to_owned())
        .collect()
}

fn head(token: &str) -> Header {
    jsonwebtoken::decode_header(token).expect("header")
}

fn claims_for(id: &str) -> Value {
    let now = get_current_timestamp();
    json!({"id": id, "iat": now, "exp": now + 600, "sub": id,
           "iss": "todo-jwt", "aud": "todo-jwt", "jti": "forged"})
}

fn hs256(claims: &Value, kid: Option<&str>, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).expect("signed")
}

async fn token_of(app: &TestApp, email: &str) -> String {
    let response = app.log_in(email, "password123").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// A new installation signs EdDSA with a `kid`, and publishes only that public key, with
/// which an ordinary JWT library verifies our tokens. Neither the service secret (an HS256
/// token with or without the `kid`), nor the public key as an HMAC secret (the algorithm
/// confusion), nor another Ed25519 key under our `kid` gets a token accepted.
#[tokio::test]
async fn a_new_installation_signs_eddsa_that_the_jwk_set_alone_verifies() {
    let app = spawn_app().await;
    let token = app.token_for("eddsa@example.com").await;
    let header = head(&token);
    assert_eq!(header.alg, Algorithm::EdDSA);
    let kid = header.kid.clone().expect("kid");
    let set = jwks(&app).await;
    assert_eq!(kids(&set), std::slice::from_ref(&kid));
    let jwk = &set["keys"][0];
    assert_eq!(
        (&jwk["kty"], &jwk["crv"], &jwk["alg"], &jwk["use"]),
        (
            &json!("OKP"),
            &json!("Ed25519"),
            &json!("EdDSA"),
            &json!("sig")
        )
    );
    assert!(jwk.get("d").is_none(), "no private part: {jwk}");
    let claims = verify_with_jwks(&app, &token).await;
    let id = claims["id"].as_str().expect("id").to_owned();
    assert_eq!(app.who_am_i(&token).await.text().await.expect("id"), id);

    use base64::Engine;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().expect("x"))
        .expect("base64url");
    let foreign = JwtService::new(JwtConfig::new(
        KeySet::single(Key::ed25519(&[1; 32]).expect("key").with_id(kid.clone())),
        "todo-jwt",
        "todo-jwt",
    ))
    .sign(&UserProfile::new(id.clone()))
    .expect("signed");
    let unknown = JwtService::new(JwtConfig::new(
        KeySet::single(Key::ed25519(&[2; 32]).expect("key").with_id("unknown")),
        "todo-jwt",
        "todo-jwt",
    ))
    .sign(&UserProfile::new(id.clone()))
    .expect("signed");
    for forged in [
        hs256(&claims_for(&id), None, TEST_SECRET.as_bytes()),
        hs256(&claims_for(&id), Some(&kid), TEST_SECRET.as_bytes()),
        hs256(&claims_for(&id), Some(&kid), &x),
        foreign,
        unknown,
    ] {
        let response = app.who_am_i(&forged).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{forged}");
    }
}

/// An installation that had users before keys were stored (its clients hold HS256 tokens)
/// keeps signing HS256, without a `kid`, verifiable with the secret as before: the migration
/// that makes the table gives it an HS256 key.
#[tokio::test]
async fn an_installation_from_before_keys_keeps_hs256() {
    let first = spawn_app().await;
    first.token_for("before@example.com").await;
    // The database as the release before keys left it: no table, its migration not run, nor
    // the later ones (their changes undone too).
    first.sql("DROP TABLE signing_keys").await;
    first.sql("DROP TABLE audit_counts").await;
    first
        .sql("ALTER TABLE refresh_tokens DROP COLUMN rotation")
        .await;
    if on_postgres() {
        first.sql("DROP TRIGGER todos_versioned ON todos").await;
        first.sql("DROP FUNCTION todos_version_owners()").await;
        first.sql("DROP TRIGGER todos_versioned_row ON todos").await;
        first.sql("DROP FUNCTION todos_version_row()").await;
    } else {
        for trigger in [
            "todos_versioned_row",
            "todos_versioned_update",
            "todos_counted_insert",
            "todos_counted_delete",
        ] {
            first.sql(&format!("DROP TRIGGER {trigger}")).await;
        }
    }
    first.sql("ALTER TABLE todos DROP COLUMN version").await;
    first
        .sql("ALTER TABLE users DROP COLUMN todos_version")
        .await;
    first.sql("DROP TABLE mfa_recovery_codes").await;
    first.sql("DROP TABLE mfa_totp").await;
    first.sql("ALTER TABLE sessions DROP COLUMN aal").await;
    first.sql("DROP TABLE outbox").await;
    first.sql("DROP TABLE email_tokens").await;
    first
        .sql("ALTER TABLE users DROP COLUMN email_verified_at")
        .await;
    if on_postgres() {
        first
            .sql("DELETE FROM schema_migrations WHERE version >= 9")
            .await;
    } else {
        first.sql("PRAGMA user_version = 7").await;
    }
    let second = spawn_on(config_beside(&first), tempfile::tempdir().expect("tempdir")).await;
    let token = token_of(&second, "before@example.com").await;
    let header = head(&token);
    assert_eq!((header.alg, header.kid), (Algorithm::HS256, None));
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.set_audience(&["todo-jwt"]);
    let key = DecodingKey::from_secret(TEST_SECRET.as_bytes());
    assert!(jsonwebtoken::decode::<Value>(&token, &key, &validation).is_ok());
    assert_eq!(kids(&jwks(&second).await), Vec::<String>::new());
    // The migration's row, which held nothing, was sealed at the start (format 2).
    let sealed = first
        .sql("SELECT length(sealed_private_key) FROM signing_keys WHERE kid = 'hs256-1'")
        .await;
    assert_eq!(sealed.as_deref(), Some("29"));
}

/// Switching an HS256 installation to EdDSA: tokens signed before stay valid, new ones are
/// EdDSA (on every instance: the one still configured for HS256 follows the table), and once
/// the last HS256 token has expired the HS256 key is removed, so the secret mints nothing.
#[tokio::test]
async fn switching_to_eddsa_keeps_issued_tokens_until_they_expire() {
    let lifetime = 8;
    let first = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.jwt_algorithm = Some(JwtAlgorithm::Hs256);
        config.token_lifetime = lifetime;
        config.keys_reload_interval = 1;
    })
    .await;
    let before = first.token_for("switch@example.com").await;
    assert_eq!(head(&before).alg, Algorithm::HS256);
    let id = first.who_am_i(&before).await.text().await.expect("id");

    let mut config = config_beside(&first);
    config.jwt_algorithm = Some(JwtAlgorithm::EdDsa);
    config.token_lifetime = lifetime;
    config.keys_reload_interval = 1;
    let second = spawn_on(config, tempfile::tempdir().expect("tempdir")).await;
    assert_eq!(second.who_am_i(&before).await.status(), StatusCode::OK);
    // At once on SQLite; on PostgreSQL after the other instances have read the key (3 s).
    for app in [&second, &first] {
        eventually(Duration::from_secs(15), "EdDSA tokens", || async {
            head(&token_of(app, "switch@example.com").await).alg == Algorithm::EdDSA
        })
        .await;
    }
    let after = token_of(&first, "switch@example.com").await;
    assert_eq!(verify_with_jwks(&second, &after).await["id"], id.as_str());
    for app in [&first, &second] {
        assert_eq!(app.who_am_i(&before).await.status(), StatusCode::OK);
        assert_eq!(app.who_am_i(&after).await.status(), StatusCode::OK);
    }
    // The HS256 key goes a token lifetime (and the clock leeway) after EdDSA took over: until
    // then the secret still signs acceptable tokens, after that none.
    let fresh = || {
        let mut claims = claims_for(&id);
        claims["exp"] = json!(get_current_timestamp() + lifetime);
        hs256(&claims, None, TEST_SECRET.as_bytes())
    };
    assert_eq!(second.who_am_i(&fresh()).await.status(), StatusCode::OK);
    eventually(Duration::from_secs(40), "the HS256 key removed", || async {
        second.who_am_i(&fresh()).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    let error = second
        .who_am_i(&fresh())
        .await
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(
        error["error"]["message"], "Error verifying token : invalid token",
        "refused for its key, not its times: {error}"
    );
    let last = token_of(&second, "switch@example.com").await;
    assert_eq!(second.who_am_i(&last).await.status(), StatusCode::OK);
    assert_eq!(kids(&jwks(&second).await).len(), 1);
}

/// Private keys are sealed with the service secret: an instance started with another secret
/// refuses to start, saying why, rather than signing with keys it cannot open.
#[tokio::test]
async fn another_secret_cannot_open_the_keys() {
    let first = spawn_app().await;
    first.token_for("sealed@example.com").await;
    let sealed = first
        .sql("SELECT count(*) FROM signing_keys WHERE length(sealed_private_key) = 61")
        .await;
    assert_eq!(sealed.as_deref(), Some("1"));
    let mut config = config_beside(&first);
    config.secret = Some("8f3c1e9a6b2d4f07a5c8e1b3d9f2a6c4e7b0d5f8a1c3e6b9".into());
    let error = Application::build(config).await.err().expect("refused");
    let message = todo_jwt::http::error::chain(&error);
    assert!(message.contains("sealed with another"), "{message}");
}

/// On one (SQLite) instance: `rotate-keys` cannot open the database the service holds and
/// says to send `SIGUSR2`; the signal adds a key, published at once and signing after the
/// activation delay (0 here); the old key's tokens stay valid.
#[tokio::test]
async fn sigusr2_rotates_the_keys_of_a_running_instance() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let path = data_dir.path().to_owned();
    let mut server = command(&path);
    server
        .env("TODO_JWT_KEY_ACTIVATION_DELAY", "0")
        .env("TODO_JWT_KEYS_RELOAD_INTERVAL", "1");
    let instance = start_with(server, data_dir);
    let app = &instance.app;
    let old = app.token_for("rotate@example.com").await;
    let old_kid = head(&old).kid.expect("kid");

    let refused = command(&path)
        .arg("rotate-keys")
        .stdout(Stdio::null())
        .output()
        .expect("rotate-keys");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("kill -USR2"), "{stderr}");

    let pid = instance.child.id().to_string();
    let signal = std::process::Command::new("kill")
        .args(["-USR2", &pid])
        .status()
        .expect("kill");
    assert!(signal.success());
    eventually(Duration::from_secs(10), "two keys published", || async {
        kids(&jwks(app).await).len() == 2
    })
    .await;
    let new = token_of(app, "rotate@example.com").await;
    let new_kid = head(&new).kid.expect("kid");
    assert_ne!(new_kid, old_kid);
    assert_eq!(kids(&jwks(app).await), [old_kid, new_kid]);
    assert_eq!(app.who_am_i(&old).await.status(), StatusCode::OK);
    assert_eq!(app.who_am_i(&new).await.status(), StatusCode::OK);
}

/// Two instances on one PostgreSQL database, rotated with `todo-jwt rotate-keys` while they
/// serve: both publish the new key before it signs, then both sign with it, and every token
/// (old key or new, from either instance) verifies on both. No restart. Then `revoke-key`
/// removes the old key: its tokens are refused on both, the new key's are not.
#[tokio::test]
#[ignore = "PostgreSQL only: runs in the PostgreSQL pass of tests/run.sh"]
async fn rotate_keys_reaches_two_running_instances() {
    let database = postgres_only().await;
    let start = || {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut command = command(data_dir.path());
        command
            .env("TODO_JWT_DATABASE_URL", &database.url)
            .env("TODO_JWT_KEYS_RELOAD_INTERVAL", "1");
        start_with(command, data_dir)
    };
    let (one, two) = (start(), start());
    let (a, b) = (&one.app, &two.app);
    let old_a = a.token_for("pair@example.com").await;
    let old_b = token_of(b, "pair@example.com").await;
    let old_kid = head(&old_a).kid.expect("kid");
    assert_eq!(head(&old_b).kid.as_deref(), Some(old_kid.as_str()));

    let delay = 4;
    let rotated = command(one.app.data_dir.path())
        .env("TODO_JWT_DATABASE_URL", &database.url)
        .env("TODO_JWT_KEY_ACTIVATION_DELAY", delay.to_string())
        .arg("rotate-keys")
        .output()
        .expect("rotate-keys");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let rotated_at = Instant::now();
    for app in [a, b] {
        eventually(Duration::from_secs(10), "both keys published", || async {
            kids(&jwks(app).await).len() == 2
        })
        .await;
    }
    // Published, not yet signing (unless the machine was slower than the delay).
    if rotated_at.elapsed() < Duration::from_secs(delay - 1) {
        assert_eq!(
            head(&token_of(a, "pair@example.com").await).kid,
            Some(old_kid.clone())
        );
    }
    let new_kid = kids(&jwks(a).await)
        .into_iter()
        .find(|kid| *kid != old_kid)
        .expect("the new key");
    let mut tokens = vec![old_a, old_b];
    for app in [a, b] {
        eventually(Duration::from_secs(15), "the new key signs", || async {
            head(&token_of(app, "pair@example.com").await)
                .kid
                .as_deref()
                == Some(&new_kid)
        })
        .await;
        tokens.push(token_of(app, "pair@example.com").await);
    }
    for app in [a, b] {
        assert_eq!(kids(&jwks(app).await), [old_kid.clone(), new_kid.clone()]);
        for token in &tokens {
            assert_eq!(app.who_am_i(token).await.status(), StatusCode::OK);
        }
    }

    // The old key leaked: revoke it. The newest cannot be (nothing would take over).
    let revoke = |kid: &str| {
        command(one.app.data_dir.path())
            .env("TODO_JWT_DATABASE_URL", &database.url)
            .args(["revoke-key", kid])
            .output()
            .expect("revoke-key")
    };
    let refused = revoke(&new_kid);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("newest signing key"), "{said}");
    let revoked = revoke(&old_kid);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let (old_tokens, new_tokens) = tokens.split_at(2);
    for app in [a, b] {
        eventually(
            Duration::from_secs(10),
            "the old key's tokens refused",
            || async { app.who_am_i(&old_tokens[0]).await.status() == StatusCode::UNAUTHORIZED },
        )
        .await;
        assert_eq!(kids(&jwks(app).await), std::slice::from_ref(&new_kid));
        for token in old_tokens {
            assert_eq!(app.who_am_i(token).await.status(), StatusCode::UNAUTHORIZED);
        }
        for token in new_tokens {
            assert_eq!(app.who_am_i(token).await.status(), StatusCode::OK);
        }
    }
}

/// Eight rotations at once (two operators, two cron jobs): each that succeeds gets its own
/// generation, each that does not says another rotation won, and the running instance ends
/// up publishing every key that was added.
#[tokio::test]
async fn concurrent_rotations_never_share_a_generation() {
    let app = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.keys_reload_interval = 1;
    })
    .await;
    let settings = todo_jwt::config::Settings::new(&config_beside(&app)).expect("settings");
    let store = todo_jwt::store::Store::open(&settings.database)
        .await
        .expect("store");
    let sealer = todo_jwt::keys::Sealer::from_secret(&TEST_SECRET.into());
    let mut rotations = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (store, sealer) = (store.clone(), sealer.clone());
        rotations.spawn(async move {
            let delay = Duration::from_secs(600);
            todo_jwt::keys::rotate(&store, &sealer, JwtAlgorithm::EdDsa, delay).await
        });
    }
    let mut generations = Vec::new();
    while let Some(outcome) = rotations.join_next().await {
        match outcome.expect("task") {
            Ok(record) => generations.push(record.generation),
            Err(todo_jwt::keys::KeyError::Concurrent) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert!(!generations.is_empty());
    generations.sort_unstable();
    generations.dedup();
    let added = generations.len();
    let rows = store.signing_keys().list().await.expect("keys");
    assert_eq!(rows.len(), 1 + added, "{rows:?}");
    eventually(Duration::from_secs(10), "every key published", || async {
        kids(&jwks(&app).await).len() == 1 + added
    })
    .await;
}

/// Instances started together with a new `--jwt-algorithm` (a deployment's replicas): one
/// adds the key, the others find it; all start, and exactly one key was added.
#[tokio::test]
async fn instances_switching_together_add_one_key() {
    let first = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.jwt_algorithm = Some(JwtAlgorithm::Hs256);
    })
    .await;
    let switched = || {
        let mut config = config_beside(&first);
        config.jwt_algorithm = Some(JwtAlgorithm::EdDsa);
        Application::build(config)
    };
    let started = futures_util::future::join_all((0..6).map(|_| switched())).await;
    for outcome in started {
        if let Err(error) = outcome {
            panic!("{}", todo_jwt::http::error::chain(&error));
        }
    }
    assert_eq!(
        first
            .sql("SELECT count(*) FROM signing_keys")
            .await
            .as_deref(),
        Some("2")
    );
}

/// Someone who can write to the table but has not the secret adds a key of their own (its
/// public half, any sealed bytes): it is never trusted, not listed, and tokens it signs are
/// refused; the instance goes on with its own keys.
#[tokio::test]
async fn a_key_written_into_the_table_without_the_secret_is_not_trusted() {
    let app = spawn_app_with(|config| {
        config.secret = Some(TEST_SECRET.into());
        config.keys_reload_interval = 1;
    })
    .await;
    let token = app.token_for("table@example.com").await;
    let id = app.who_am_i(&token).await.text().await.expect("id");
    let intruder = Key::ed25519(&[42; 32]).expect("key");
    let kid = intruder.thumbprint().expect("thumbprint");
    let hex = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    };
    let public = hex(&intruder.public_key().expect("public"));
    let sealed = hex(&[0; 60]);
    let blob = |hex: &str| {
        if on_postgres() {
            format!("decode('{hex}', 'hex')")
        } else {
            format!("X'{hex}'")
        }
    };
    app.sql(&format!(
        "INSERT INTO signing_keys (kid, generation, algorithm, public_key, sealed_private_key, \
         created_at, signs_from) VALUES ('{kid}', 2, 'EdDSA', {}, {}, 0, 0)",
        blob(&public),
        blob(&sealed)
    ))
    .await;
    let forged = JwtService::new(JwtConfig::new(
        KeySet::single(intruder.with_id(kid.clone())),
        "todo-jwt",
        "todo-jwt",
    ))
    .sign(&UserProfile::new(id))
    .expect("signed");
    // Past a reload or two: still refused, never published, and the real key still signs.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        app.who_am_i(&forged).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(!kids(&jwks(&app).await).contains(&kid));
    let fresh = token_of(&app, "table@example.com").await;
    assert_eq!(head(&fresh).kid, head(&token).kid);
    assert_eq!(app.who_am_i(&fresh).await.status(), StatusCode::OK);
}
