use std::time::Duration;

use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header, get_current_timestamp};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::*;
use crate::{JwtConfig, Key, KeySet, VerifiedToken};

const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

fn key(secret: &str) -> Key {
    Key::hs256(&SecretString::from(secret)).expect("long enough")
}

fn config() -> JwtConfig {
    JwtConfig::new(KeySet::single(key(SECRET)), "todo-jwt", "todo-jwt")
}

fn service() -> Arc<JwtService> {
    Arc::new(JwtService::new(config()))
}

fn claims() -> Value {
    let now = get_current_timestamp();
    json!({"id": "u1", "email": "a@b.co", "iat": now, "exp": now + 600, "sub": "u1",
           "iss": "todo-jwt", "aud": "todo-jwt", "jti": "j1"})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().expect("object").remove(key);
    claims
}

fn signed(claims: &Value) -> String {
    service().sign_claims(claims).expect("signed")
}

/// The user, or a Bearer 401's reason and message.
async fn refusal(
    strategy: &BearerJwtStrategy,
    header: Option<&str>,
) -> Result<UserProfile, (FailureReason, String)> {
    let mut request = Request::get("/");
    if let Some(value) = header {
        request = request.header(header::AUTHORIZATION, value);
    }
    let (parts, ()) = request.body(()).expect("request").into_parts();
    strategy
        .authenticate(&parts)
        .await
        .map_err(|error| match error {
            AuthError::Unauthorized {
                message,
                challenge: Some("Bearer"),
                reason,
            } => (reason, message),
            other => (
                FailureReason::Other,
                format!("expected a Bearer 401, got {other:?}"),
            ),
        })
}

/// The user, or a Bearer 401's message.
async fn authenticate(
    strategy: &BearerJwtStrategy,
    header: Option<&str>,
) -> Result<UserProfile, String> {
    refusal(strategy, header)
        .await
        .map_err(|(_, message)| message)
}

async fn message_for(header: Option<&str>) -> String {
    authenticate(&BearerJwtStrategy::new(service()), header)
        .await
        .expect_err("refused")
}

async fn message_for_token(token: &str) -> String {
    message_for(Some(&format!("Bearer {token}"))).await
}

/// Metrics and logs read why a token was refused from the error's type, never its message.
#[tokio::test]
async fn each_refusal_names_its_reason() {
    let now = get_current_timestamp();
    let other_key = EncodingKey::from_secret(b"another secret that is long enough!!");
    let cases = [
        (None, FailureReason::Missing),
        (
            Some("Basic dXNlcjpwYXNz".to_owned()),
            FailureReason::Missing,
        ),
        (
            Some("Bearer a.b.c extra".to_owned()),
            FailureReason::Missing,
        ),
        (
            Some("Bearer not-a-jwt".to_owned()),
            FailureReason::Malformed,
        ),
        (
            Some(
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(), &other_key)
                    .expect("signed"),
            ),
            FailureReason::BadSignature,
        ),
        (
            Some(signed(&with(claims(), "exp", json!(now - 120)))),
            FailureReason::Expired,
        ),
        (
            Some(signed(&with(claims(), "nbf", json!(now + 120)))),
            FailureReason::NotActive,
        ),
        (
            Some(signed(&without(claims(), "exp"))),
            FailureReason::Invalid,
        ),
    ];
    let strategy = BearerJwtStrategy::new(service());
    for (credentials, expected) in cases {
        let header = credentials.map(|credentials| {
            if credentials.contains(' ') {
                credentials
            } else {
                format!("Bearer {credentials}")
            }
        });
        let refused = refusal(&strategy, header.as_deref()).await;
        assert_eq!(
            refused.map_err(|(reason, _)| reason),
            Err(expected),
            "{header:?}"
        );
    }
    let gone = BearerJwtStrategy::new(service())
        .with_user_directory(Arc::new(Directory(Standing::UserGone)));
    let header = format!("Bearer {}", signed(&claims()));
    assert_eq!(
        refusal(&gone, Some(&header))
            .await
            .map_err(|(reason, _)| reason),
        Err(FailureReason::Revoked)
    );
}

#[tokio::test]
async fn a_token_signed_by_the_service_authenticates_its_user() {
    let strategy = BearerJwtStrategy::new(service());
    let user = UserProfile {
        id: "u1".into(),
        name: Some("Ann".into()),
        email: Some("a@b.co".into()),
        session: Some("s1".into()),
        ..UserProfile::default()
    };
    let token = service().sign(&user).expect("signed");
    assert_eq!(
        authenticate(&strategy, Some(&format!("Bearer {token}"))).await,
        Ok(user)
    );
}

#[tokio::test]
async fn the_scheme_is_matched_case_insensitively() {
    let token = signed(&claims());
    let strategy = BearerJwtStrategy::new(service());
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let user = authenticate(&strategy, Some(&format!("{scheme} {token}"))).await;
        assert_eq!(user.expect("accepted").id, "u1");
    }
}

#[tokio::test]
async fn spaces_and_tabs_around_the_parts_are_allowed() {
    let token = signed(&claims());
    let strategy = BearerJwtStrategy::new(service());
    for header in [
        format!("Bearer   {token}"),
        format!("Bearer\t{token}"),
        format!(" \tBearer {token}\t "),
    ] {
        let user = authenticate(&strategy, Some(&header)).await;
        assert_eq!(user.expect("accepted").id, "u1", "{header:?}");
    }
}

#[tokio::test]
async fn no_header_is_refused() {
    assert_eq!(message_for(None).await, "Authorization header not found.");
}

#[tokio::test]
async fn another_scheme_is_refused() {
    let token = signed(&claims());
    for header in [
        "Basic dXNlcjpwYXNz".to_owned(),
        format!("BearerX {token}"),
        token,
    ] {
        assert_eq!(message_for(Some(&header)).await, NOT_BEARER, "{header}");
    }
}

#[tokio::test]
async fn bearer_alone_or_with_extra_parts_is_refused() {
    for header in [
        "Bearer",
        "Bearer  ",
        "Bearer a.b.c extra",
        "Bearer a.b.c\textra",
    ] {
        assert_eq!(
            message_for(Some(header)).await,
            TOO_MANY_PARTS,
            "{header:?}"
        );
    }
}

#[tokio::test]
async fn a_malformed_token_is_refused() {
    for token in ["not-a-jwt", "a.b", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30"] {
        assert_eq!(
            message_for_token(token).await,
            "Error verifying token : jwt malformed",
            "{token}"
        );
    }
}

#[tokio::test]
async fn a_bad_signature_is_refused() {
    let other = EncodingKey::from_secret(b"another secret that is long enough!!");
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(), &other).expect("signed");
    assert_eq!(
        message_for_token(&token).await,
        "Error verifying token : invalid signature"
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let token = signed(&claims());
    let payload = token.split('.').nth(1).expect("payload");
    // {"alg":"none","typ":"JWT"}, with an empty signature.
    let forged = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    assert!(
        message_for_token(&forged)
            .await
            .starts_with("Error verifying token : ")
    );
}

#[tokio::test]
async fn another_hmac_algorithm_with_the_same_secret_is_refused() {
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = jsonwebtoken::encode(&Header::new(alg), &claims(), &key).expect("signed");
        assert_eq!(
            message_for_token(&token).await,
            "Error verifying token : invalid token"
        );
    }
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let past = get_current_timestamp() - 120;
    let token = signed(&with(claims(), "exp", json!(past)));
    assert_eq!(
        message_for_token(&token).await,
        "Error verifying token : jwt expired"
    );
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let future = get_current_timestamp() + 120;
    let token = signed(&with(claims(), "nbf", json!(future)));
    assert_eq!(
        message_for_token(&token).await,
        "Error verifying token : jwt not active"
    );
}

#[tokio::test]
async fn fractional_times_are_accepted_as_the_validator_reads_them() {
    let now = get_current_timestamp() as f64;
    let claims = with(
        with(claims(), "exp", json!(now + 600.4)),
        "iat",
        json!(now + 0.6),
    );
    let verified = service().verify(&signed(&claims)).expect("valid");
    assert_eq!(verified.expires_at, (now + 600.4).round() as u64);
    assert_eq!(verified.issued_at, Some((now + 0.6).round() as u64));
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    let now = get_current_timestamp();
    let claims = with(
        with(claims(), "iat", json!(now + 120)),
        "exp",
        json!(now + 600),
    );
    assert_eq!(
        message_for_token(&signed(&claims)).await,
        "Error verifying token : invalid token"
    );
}

#[tokio::test]
async fn a_token_living_longer_than_the_configured_lifetime_is_refused() {
    let now = get_current_timestamp();
    // The configured lifetime is 21600 s (6 hours), with 5 s of leeway.
    let too_long = with(claims(), "exp", json!(now + 21_600 + 60));
    assert_eq!(
        message_for_token(&signed(&too_long)).await,
        "Error verifying token : invalid token"
    );
    let without_iat = with(without(claims(), "iat"), "exp", json!(now + 21_600 + 60));
    assert_eq!(
        message_for_token(&signed(&without_iat)).await,
        "Error verifying token : invalid token"
    );
    // Exactly the lifetime is fine, as the service signs it.
    let exact = with(claims(), "exp", json!(now + 21_600));
    assert_eq!(
        service()
            .verify(&signed(&exact))
            .map(|token| token.expires_at),
        Ok(now + 21_600)
    );
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let token = signed(&without(claims(), "exp"));
    assert_eq!(
        message_for_token(&token).await,
        "Error verifying token : invalid token"
    );
}

#[tokio::test]
async fn a_token_without_id_is_refused() {
    for claims in [without(claims(), "id"), with(claims(), "id", json!(""))] {
        let token = signed(&claims);
        assert_eq!(
            message_for_token(&token).await,
            "Error verifying token : invalid token"
        );
    }
}

#[tokio::test]
async fn a_token_for_another_issuer_or_audience_is_refused() {
    for claims in [
        with(claims(), "iss", json!("evil")),
        without(claims(), "aud"),
    ] {
        let token = signed(&claims);
        assert_eq!(
            message_for_token(&token).await,
            "Error verifying token : invalid token"
        );
    }
}

struct Directory(Standing);

#[async_trait::async_trait]
impl UserDirectory for Directory {
    async fn find_user(&self, _: &VerifiedToken) -> Result<Standing, AuthError> {
        Ok(self.0.clone())
    }
}

#[tokio::test]
async fn a_token_whose_user_is_gone_is_refused_and_a_known_user_is_read_fresh() {
    let header = format!("Bearer {}", signed(&claims()));
    let gone = BearerJwtStrategy::new(service())
        .with_user_directory(Arc::new(Directory(Standing::UserGone)));
    assert_eq!(
        authenticate(&gone, Some(&header)).await,
        Err("Error verifying token : user not found".into())
    );
    let ended = BearerJwtStrategy::new(service())
        .with_user_directory(Arc::new(Directory(Standing::SessionEnded)));
    let (reason, message) = refusal(&ended, Some(&header))
        .await
        .expect_err("an ended session is refused");
    assert_eq!(reason, FailureReason::Ended);
    assert!(message.contains("session has ended"), "{message}");
    let renamed = UserProfile {
        id: "u1".into(),
        name: Some("New".into()),
        ..UserProfile::default()
    };
    let known = BearerJwtStrategy::new(service())
        .with_user_directory(Arc::new(Directory(Standing::Current(renamed.clone()))));
    assert_eq!(authenticate(&known, Some(&header)).await, Ok(renamed));
}

#[test]
fn a_short_secret_is_refused() {
    assert!(matches!(
        Key::hs256(&SecretString::from("too short")),
        Err(crate::JwtError::SecretTooShort(9))
    ));
}

#[test]
fn signed_tokens_carry_loopback_claims_and_the_configured_lifetime() {
    let mut config = config();
    config.lifetime = Duration::from_secs(60);
    let jwt = JwtService::new(config);
    let user = UserProfile {
        id: "u1".into(),
        email: Some("a@b.co".into()),
        ..UserProfile::default()
    };
    let token = jwt.sign(&user).expect("signed");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.set_audience(&["todo-jwt"]);
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("valid");
    let claims = data.claims;
    assert_eq!(data.header.kid, None, "a key without an id writes no kid");
    assert_eq!(claims["id"], "u1");
    assert_eq!(claims["sub"], "u1");
    assert_eq!(claims["email"], "a@b.co");
    assert!(claims.get("name").is_none(), "absent name is omitted");
    assert!(claims.get("sid").is_none(), "no session, no sid");
    assert_eq!(
        claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat"),
        60
    );
    assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
}

#[test]
fn verify_returns_the_token_id_session_and_times() {
    let jwt = service();
    let user = UserProfile {
        session: Some("s1".into()),
        ..UserProfile::new("u1")
    };
    let token = jwt.sign(&user).expect("signed");
    let verified = jwt.verify(&token).expect("valid");
    assert_eq!(verified.user, user);
    let now = get_current_timestamp();
    let issued = verified.issued_at.expect("iat");
    assert!(issued <= now && issued + 5 >= now, "{issued} vs {now}");
    assert_eq!(verified.expires_at, issued + 21_600);
    let jti = verified.token_id.expect("jti");
    assert_ne!(
        jwt.verify(&jwt.sign(&user).expect("signed"))
            .expect("valid")
            .token_id,
        Some(jti)
    );
}

#[test]
fn a_key_set_verifies_by_key_id_and_signs_with_its_first_key() {
    let old = key("the old secret, at least thirty-two bytes").with_id("old");
    let new = key("the new secret, at least thirty-two bytes").with_id("new");
    let before = JwtService::new(JwtConfig::new(KeySet::single(old.clone()), "i", "a"));
    let old_token = before.sign(&UserProfile::new("u1")).expect("signed");
    let keys = KeySet::single(new).with_verify_only(old).expect("ids");
    let after = JwtService::new(JwtConfig::new(keys, "i", "a"));
    assert_eq!(
        after
            .verify(&old_token)
            .expect("old key still verifies")
            .user
            .id,
        "u1"
    );
    let new_token = after.sign(&UserProfile::new("u2")).expect("signed");
    assert_eq!(
        jsonwebtoken::decode_header(&new_token)
            .expect("header")
            .kid
            .as_deref(),
        Some("new")
    );
    assert_eq!(
        before.verify(&new_token),
        Err(crate::TokenError::BadSignature)
    );
    // A token naming no key, or an unknown one, is refused.
    let stranger = JwtService::new(JwtConfig::new(
        KeySet::single(key("a third secret that is long enough!!!").with_id("x")),
        "i",
        "a",
    ));
    let unknown = stranger.sign(&UserProfile::new("u3")).expect("signed");
    assert_eq!(after.verify(&unknown), Err(crate::TokenError::Invalid));
    // One key of several may go without an id (tokens without `kid` are its); two may not.
    assert!(
        KeySet::single(key(SECRET))
            .with_verify_only(key(SECRET).with_id("b"))
            .is_ok()
    );
    assert!(
        KeySet::single(key(SECRET))
            .with_verify_only(key(SECRET))
            .is_err()
    );
}

/// Two credentials are refused, even when the first is valid: which one counts would
/// otherwise depend on who added which (a proxy, the client).
#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let token = signed(&claims());
    let strategy = BearerJwtStrategy::new(service());
    let (parts, ()) = Request::get("/")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::AUTHORIZATION, "Bearer other")
        .body(())
        .expect("request")
        .into_parts();
    let refused = strategy.authenticate(&parts).await.expect_err("refused");
    assert!(
        matches!(
            &refused,
            AuthError::Unauthorized { message, reason: FailureReason::Missing, .. }
                if message == "Authorization header must be sent once."
        ),
        "{refused:?}"
    );
    assert!(
        authenticate(&strategy, Some(&format!("Bearer {token}")))
            .await
            .is_ok()
    );
}

/// A token of the first factor of two (`aal: "aal1"`) is refused with 403 `MFA_REQUIRED` by
/// the plain strategy and accepted, with its level and methods, by one that accepts it; a
/// token without `aal` (an account without a second factor) by both, unchanged.
#[tokio::test]
async fn a_first_factor_token_is_refused_unless_the_strategy_accepts_it() {
    let first = UserProfile {
        session: Some("s1".into()),
        aal: Some(crate::FIRST_FACTOR.into()),
        amr: vec!["pwd".into()],
        ..UserProfile::new("u1")
    };
    let token = service().sign(&first).expect("signed");
    let (parts, ()) = Request::get("/")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(())
        .expect("request")
        .into_parts();
    match BearerJwtStrategy::new(service()).authenticate(&parts).await {
        Err(AuthError::Forbidden { code, .. }) => assert_eq!(code, crate::MFA_REQUIRED),
        other => panic!("expected a 403, got {other:?}"),
    }
    let accepting = BearerJwtStrategy::new(service()).accepting_first_factor("jwt-first");
    assert_eq!(accepting.name(), "jwt-first");
    let user = accepting.authenticate(&parts).await.expect("accepted");
    assert_eq!(user, first);
    let plain = UserProfile::new("u2");
    let token = service().sign(&plain).expect("signed");
    let claims = service().verify(&token).expect("valid");
    assert_eq!((claims.user.aal, claims.user.amr.len()), (None, 0));
    let header_value = format!("Bearer {token}");
    assert_eq!(
        authenticate(&BearerJwtStrategy::new(service()), Some(&header_value)).await,
        Ok(plain)
    );
}
