//! The keys tokens are signed and verified with.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};

use crate::JwtError;

/// The shortest HS256 secret accepted: 256 bits, the size of the hash (RFC 7518, 3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// The fewest different bytes an HS256 secret may have: a long run of a few characters
/// (`aaaa…`) passes a length check but not this one, while a random hex secret has about 16.
pub const MIN_SECRET_DISTINCT_BYTES: usize = 8;

/// One key: its algorithm, the material to sign and verify with, and an optional key id
/// (written as the token header's `kid`, and used to pick the key when verifying).
#[derive(Clone)]
pub struct Key {
    id: Option<String>,
    algorithm: Algorithm,
    /// `None` for a verify-only (public) key.
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    /// The Ed25519 public key, published as a JWK; `None` for HMAC keys, which are secret.
    public: Option<[u8; 32]>,
}

/// The size of an Ed25519 public key and of a private seed.
const ED25519_BYTES: usize = 32;

impl Key {
    /// An HMAC-SHA256 key; refuses a secret shorter than [`MIN_SECRET_BYTES`] or with fewer
    /// than [`MIN_SECRET_DISTINCT_BYTES`] different bytes.
    pub fn hs256(secret: &SecretString) -> Result<Self, JwtError> {
        let secret = secret.expose_secret().as_bytes();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(JwtError::SecretTooShort(secret.len()));
        }
        let mut seen = [false; 256];
        for &byte in secret {
            seen[usize::from(byte)] = true;
        }
        let distinct = seen.iter().filter(|&&seen| seen).count();
        if distinct < MIN_SECRET_DISTINCT_BYTES {
            return Err(JwtError::SecretTooSimple(distinct));
        }
        Ok(Self {
            id: None,
            algorithm: Algorithm::HS256,
            encoding: Some(EncodingKey::from_secret(secret)),
            decoding: DecodingKey::from_secret(secret),
            public: None,
        })
    }

    /// An Ed25519 key (EdDSA) from its 32-byte private seed: signs and verifies.
    pub fn ed25519(seed: &[u8; ED25519_BYTES]) -> Result<Self, JwtError> {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let signing = ed25519_dalek::SigningKey::from_bytes(seed);
        let der = signing
            .to_pkcs8_der()
            .map_err(|_| JwtError::InvalidKey("cannot encode the private key"))?;
        let public = signing.verifying_key().to_bytes();
        Ok(Self {
            id: None,
            algorithm: Algorithm::EdDSA,
            encoding: Some(EncodingKey::from_ed_der(der.as_bytes())),
            decoding: DecodingKey::from_ed_der(&public),
            public: Some(public),
        })
    }

    /// A verify-only Ed25519 key from its public half as a JWK writes it (`x`: base64url, no
    /// padding). Anything but 32 bytes that are a point of the curve is refused here, before
    /// the JWT library sees it (its verifier panics on fewer than 32 bytes).
    pub fn ed25519_public(x: &str) -> Result<Self, JwtError> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(x)
            .map_err(|_| JwtError::InvalidKey("x is not base64url"))?;
        let public: [u8; ED25519_BYTES] = bytes
            .try_into()
            .map_err(|_| JwtError::InvalidKey("x is not 32 bytes"))?;
        ed25519_dalek::VerifyingKey::from_bytes(&public)
            .map_err(|_| JwtError::InvalidKey("x is not a point of Ed25519"))?;
        Ok(Self {
            id: None,
            algorithm: Algorithm::EdDSA,
            encoding: None,
            decoding: DecodingKey::from_ed_der(&public),
            public: Some(public),
        })
    }

    /// The public key as a JWK (RFC 8037: `kty` OKP, `crv` Ed25519, `x`, with `kid`, `alg`
    /// and `use`), built here rather than by the JWT library (whose builder panics for EdDSA).
    /// `None` for an HMAC key: its secret is never published.
    pub fn jwk(&self) -> Option<serde_json::Value> {
        use base64::Engine;
        let public = self.public?;
        let mut jwk = serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public),
            "alg": "EdDSA",
            "use": "sig",
        });
        if let Some(id) = &self.id {
            jwk["kid"] = serde_json::Value::String(id.clone());
        }
        Some(jwk)
    }

    /// The key's RFC 7638 thumbprint (SHA-256 of its required JWK members, base64url): a key
    /// id that names this public key and no other. `None` for an HMAC key.
    pub fn thumbprint(&self) -> Option<String> {
        use base64::Engine;
        use sha2::Digest;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let x = engine.encode(self.public?);
        // The members in lexicographic order, no whitespace (RFC 7638, 3.2; RFC 8037, A.3).
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        Some(engine.encode(sha2::Sha256::digest(canonical.as_bytes())))
    }

    /// The Ed25519 public key; `None` for an HMAC key.
    pub fn public_key(&self) -> Option<[u8; ED25519_BYTES]> {
        self.public
    }

    /// Whether this key can sign (it has its private half).
    pub fn can_sign(&self) -> bool {
        self.encoding.is_some()
    }

    /// This key with the id `kid`.
    pub fn with_id(mut self, kid: impl Into<String>) -> Self {
        self.id = Some(kid.into());
        self
    }

    /// The key id, if it has one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The algorithm this key signs with, and the only one it verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub(crate) fn encoding(&self) -> Option<&EncodingKey> {
        self.encoding.as_ref()
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// One key of a [`KeySet`] and when it signs.
#[derive(Clone, Debug)]
struct Entry {
    key: Key,
    /// From when (Unix seconds) it signs new tokens, until a key with a later time takes
    /// over; `None` for a key that only verifies.
    signs_from: Option<u64>,
}

/// The keys a [`crate::JwtService`] knows: the ones that sign, each from its time on (a
/// rotation publishes the next key before it signs), and the ones it only still accepts (a
/// rotated-out key, until the tokens it signed have expired).
///
/// With one key, tokens are verified with it whatever their header says (the algorithm is
/// pinned to the key's). With several, a token is verified with the key its `kid` names; a
/// token without a `kid` (as LoopBack's HS256 tokens are) with the one key that has no id.
#[derive(Clone, Debug)]
pub struct KeySet {
    entries: Vec<Entry>,
}

impl KeySet {
    /// A set of one key, which signs and verifies.
    pub fn single(key: Key) -> Self {
        Self {
            entries: vec![Entry {
                key,
                signs_from: Some(0),
            }],
        }
    }

    /// A set of one key, which signs from `signs_from` (Unix seconds) on (and before that too,
    /// as long as it is the only one); add the others with [`KeySet::with_key`].
    pub fn starting(key: Key, signs_from: u64) -> Self {
        Self {
            entries: vec![Entry {
                key,
                signs_from: Some(signs_from),
            }],
        }
    }

    /// Adds a key that verifies but no longer signs. Every key of a set but one needs an
    /// id, each its own, so that a token's `kid` says which one to use.
    pub fn with_verify_only(self, key: Key) -> Result<Self, JwtError> {
        self.with(Entry {
            key,
            signs_from: None,
        })
    }

    /// Adds a key that signs new tokens from `signs_from` (Unix seconds) on, until a key added
    /// after it takes over; before that it only verifies. Ids as for
    /// [`KeySet::with_verify_only`].
    pub fn with_key(self, key: Key, signs_from: u64) -> Result<Self, JwtError> {
        self.with(Entry {
            key,
            signs_from: Some(signs_from),
        })
    }

    fn with(mut self, entry: Entry) -> Result<Self, JwtError> {
        let id = entry.key.id.as_deref();
        let clash = self
            .entries
            .iter()
            .any(|known| known.key.id.as_deref() == id);
        if clash {
            return Err(JwtError::KeyIdRequired);
        }
        self.entries.push(entry);
        Ok(self)
    }

    /// The key that signs new tokens at `now` (Unix seconds): of the keys that can sign and
    /// whose time has come, the one added last (a key added later takes over from the ones
    /// before it, even from one whose time came after its own); before any time has come,
    /// the first to come. `None` when no key signs.
    pub fn signing_at(&self, now: u64) -> Option<&Key> {
        let scheduled = || {
            self.entries
                .iter()
                .filter(|entry| entry.key.can_sign())
                .filter_map(|entry| Some((entry.signs_from?, &entry.key)))
        };
        scheduled()
            .rfind(|(from, _)| *from <= now)
            .or_else(|| scheduled().min_by_key(|(from, _)| *from))
            .map(|(_, key)| key)
    }

    /// The key that signs new tokens now.
    pub fn signing(&self) -> Option<&Key> {
        self.signing_at(jsonwebtoken::get_current_timestamp())
    }

    /// Every key, in the order they were added.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &Key> {
        self.entries.iter().map(|entry| &entry.key)
    }

    /// The public keys as a JWK Set (RFC 7517: `{"keys": [...]}`), for
    /// `/.well-known/jwks.json`: every key that has a public half, pending and retiring ones
    /// included, so a verifier knows a key before the first token it signs. HMAC keys are
    /// never listed.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self.keys().filter_map(Key::jwk).collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
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
            session: None,
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
                let x = base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    public,
                );
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
}
