use authn::UserProfile;
use secrecy::SecretString;

use super::*;
use crate::{JwtConfig, JwtService, TokenError};

fn service(keys: KeySet) -> JwtService {
    JwtService::new(JwtConfig::new(keys, "issuer", "audience"))
}

fn user() -> UserProfile {
    UserProfile {
        id: "user-1".to_owned(),
        name: None,
        email: Some("ann@example.com".to_owned()),
        ..UserProfile::default()
    }
}

fn header(token: &str) -> jsonwebtoken::Header {
    jsonwebtoken::decode_header(token).expect("header")
}

/// An Ed25519 key signs EdDSA tokens with its `kid`, and only its public half (as the
/// JWKS publishes it) is needed to verify them.
#[test]
fn an_ed25519_token_verifies_with_the_published_jwk_alone() {
    let key = Key::ed25519(&[7; 32]).expect("key").with_id("k1");
    let signer = service(KeySet::single(key.clone()));
    let token = signer.sign(&user()).expect("sign");
    let head = header(&token);
    assert_eq!(head.alg, Algorithm::EdDSA);
    assert_eq!(head.kid.as_deref(), Some("k1"));
    assert_eq!(signer.verify(&token).expect("verify").user.id, "user-1");

    let jwk = key.jwk().expect("a public key");
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["alg"], "EdDSA");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["kid"], "k1");
    assert!(jwk.get("d").is_none(), "no private part: {jwk}");
    let public = Key::ed25519_public(jwk["x"].as_str().expect("x"))
        .expect("public key")
        .with_id("k1");
    assert!(!public.can_sign());
    let verifier = service(KeySet::single(public));
    assert_eq!(verifier.verify(&token).expect("verify").user.id, "user-1");
    assert!(matches!(verifier.sign(&user()), Err(JwtError::VerifyOnly)));
    // Another key's signature is refused.
    let other = service(KeySet::single(Key::ed25519(&[8; 32]).expect("key")));
    assert_eq!(
        verifier.verify(&other.sign(&user()).expect("sign")).err(),
        Some(TokenError::BadSignature)
    );
}

/// A public key that is not 32 bytes of a curve point is refused before the JWT library
/// sees it (its verifier panics on fewer than 32 bytes), and an HMAC secret has no JWK.
#[test]
fn malformed_public_keys_are_refused_without_panicking() {
    use base64::Engine;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    for x in [
        String::new(),
        "AAAA".to_owned(),
        encode(&[1; 31]),
        encode(&[1; 33]),
        "not base64!".to_owned(),
        "A".repeat(10_000),
    ] {
        assert!(Key::ed25519_public(&x).is_err(), "{x:?} was accepted");
    }
    let secret = SecretString::from("0123456789abcdef0123456789abcdef".to_owned());
    assert!(Key::hs256(&secret).expect("key").jwk().is_none());
}

/// Rotation from HS256 to EdDSA: tokens of the old key (by `kid`) still verify, new ones
/// are EdDSA; a token that claims HS256 under the EdDSA key's id (HMAC keyed with the
/// public key, the classic confusion) is refused, and garbage never panics.
#[test]
fn a_set_verifies_old_hs256_tokens_and_refuses_algorithm_confusion() {
    let secret = SecretString::from("0123456789abcdef0123456789abcdef".to_owned());
    let old = Key::hs256(&secret).expect("key").with_id("hs");
    let before = service(KeySet::single(old.clone()));
    let old_token = before.sign(&user()).expect("sign");
    let new = Key::ed25519(&[9; 32]).expect("key").with_id("ed");
    let after = service(
        KeySet::single(new.clone())
            .with_verify_only(old)
            .expect("two ids"),
    );
    assert!(after.verify(&old_token).is_ok());
    let new_token = after.sign(&user()).expect("sign");
    assert_eq!(header(&new_token).alg, Algorithm::EdDSA);
    assert!(after.verify(&new_token).is_ok());

    let public = new.public.expect("public");
    let mut confused = jsonwebtoken::Header::new(Algorithm::HS256);
    confused.kid = Some("ed".to_owned());
    let claims: serde_json::Value = jsonwebtoken::dangerous::insecure_decode(&new_token)
        .expect("claims")
        .claims;
    let forged = jsonwebtoken::encode(&confused, &claims, &EncodingKey::from_secret(&public))
        .expect("forge");
    assert!(after.verify(&forged).is_err());
    for garbage in [
        "",
        "a.b.c",
        "eyJhbGciOiJFZERTQSJ9.e30.AAAA",
        "....",
        &"x".repeat(5000),
    ] {
        assert!(after.verify(garbage).is_err(), "{garbage:?}");
    }
}
/// RFC 8037, appendix A.3: the thumbprint of the example key.
#[test]
fn the_thumbprint_is_rfc_7638s() {
    let key = Key::ed25519_public("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").expect("key");
    assert_eq!(
        key.thumbprint().as_deref(),
        Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
    );
    let secret = SecretString::from("0123456789abcdef0123456789abcdef".to_owned());
    assert!(Key::hs256(&secret).expect("key").thumbprint().is_none());
}

/// A rotation's schedule: the next key is known (and verifies) before it signs, signs from
/// its time on, and the old one verifies after; one key may go without an id (HS256
/// tokens without `kid`), two may not, nor two with one id.
#[test]
fn keys_sign_from_their_time_and_ids_are_unique() {
    let secret = SecretString::from("0123456789abcdef0123456789abcdef".to_owned());
    let legacy = Key::hs256(&secret).expect("key");
    let next = Key::ed25519(&[3; 32]).expect("key").with_id("next");
    let set = KeySet::single(legacy.clone())
        .with_key(next.clone(), 1_000)
        .expect("ids");
    assert_eq!(set.signing_at(999).and_then(Key::id), None);
    assert_eq!(set.signing_at(1_000).and_then(Key::id), Some("next"));
    assert_eq!(set.jwks()["keys"].as_array().map(Vec::len), Some(1));
    assert!(matches!(
        set.clone().with_verify_only(legacy),
        Err(JwtError::KeyIdRequired)
    ));
    assert!(matches!(
        set.with_key(next, 5),
        Err(JwtError::KeyIdRequired)
    ));
    // Only pending keys: the first to come signs.
    let pending = KeySet::single(Key::ed25519(&[4; 32]).expect("key").with_id("a"));
    let pending = KeySet {
        entries: pending
            .entries
            .into_iter()
            .map(|entry| Entry {
                signs_from: Some(u64::MAX - 1),
                ..entry
            })
            .collect(),
    }
    .with_key(Key::ed25519(&[5; 32]).expect("key").with_id("b"), u64::MAX)
    .expect("ids");
    assert_eq!(pending.signing_at(0).and_then(Key::id), Some("a"));

    // A key added later takes over from one added before it, even one whose time comes
    // after its own (an urgent rotation while another was pending); a key that cannot
    // sign (its public half only) is never chosen.
    let urgent = KeySet::starting(Key::ed25519(&[4; 32]).expect("key").with_id("1"), 0)
        .with_key(Key::ed25519(&[5; 32]).expect("key").with_id("2"), 600)
        .and_then(|set| set.with_key(Key::ed25519(&[6; 32]).expect("key").with_id("3"), 30))
        .and_then(|set| {
            let public = Key::ed25519(&[7; 32])
                .expect("key")
                .public_key()
                .expect("x");
            let x =
                base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, public);
            set.with_key(Key::ed25519_public(&x).expect("key").with_id("4"), 40)
        })
        .expect("ids");
    assert_eq!(urgent.signing_at(10).and_then(Key::id), Some("1"));
    assert_eq!(urgent.signing_at(30).and_then(Key::id), Some("3"));
    assert_eq!(urgent.signing_at(700).and_then(Key::id), Some("3"));

    // Over a service: a token without `kid` goes to the key without an id.
    let old = service(KeySet::single(Key::hs256(&secret).expect("key")));
    let old_token = old.sign(&user()).expect("sign");
    assert!(header(&old_token).kid.is_none());
    let rotated = service(
        KeySet::single(Key::hs256(&secret).expect("key"))
            .with_key(Key::ed25519(&[3; 32]).expect("key").with_id("next"), 0)
            .expect("ids"),
    );
    assert_eq!(
        header(&rotated.sign(&user()).expect("sign")).kid.as_deref(),
        Some("next")
    );
    assert!(rotated.verify(&old_token).is_ok());
}
/// Remembered verifications: never used past the token's `exp`, and forgotten when the
/// keys change (a removed key's tokens are refused at once).
#[test]
fn remembered_tokens_expire_and_are_forgotten_with_their_keys() {
    let key = Key::ed25519(&[6; 32]).expect("key").with_id("k");
    let mut config = JwtConfig::new(KeySet::single(key), "issuer", "audience");
    config.lifetime = std::time::Duration::from_secs(1);
    config.leeway = std::time::Duration::ZERO;
    let jwt = JwtService::new(config);
    let token = jwt.sign(&user()).expect("sign");
    for _ in 0..3 {
        assert_eq!(jwt.verify(&token).expect("verify").user.id, "user-1");
    }
    // Past `exp` (iat + 1 s, in whole seconds), the remembered verification is not used.
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    assert_eq!(jwt.verify(&token).err(), Some(TokenError::Expired));

    let jwt = service(KeySet::single(
        Key::ed25519(&[6; 32]).expect("key").with_id("k"),
    ));
    let token = jwt.sign(&user()).expect("sign");
    assert!(jwt.verify(&token).is_ok());
    jwt.set_keys(KeySet::single(
        Key::ed25519(&[7; 32]).expect("key").with_id("k"),
    ));
    assert_eq!(jwt.verify(&token).err(), Some(TokenError::BadSignature));

    let mut config = JwtConfig::new(
        KeySet::single(Key::ed25519(&[6; 32]).expect("key")),
        "issuer",
        "audience",
    );
    config.cache_capacity = 0;
    let uncached = JwtService::new(config);
    let token = uncached.sign(&user()).expect("sign");
    assert!(uncached.verify(&token).is_ok());
    assert!(uncached.verify(&token).is_ok());
}
