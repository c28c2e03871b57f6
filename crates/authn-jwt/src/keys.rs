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

/// The keys a [`crate::JwtService`] knows: the one it signs with, and the others it still
/// accepts (a rotated-out key, until the tokens it signed have expired).
///
/// With one key, tokens are verified with it whatever their header says (the algorithm is
/// pinned to the key's). With several, each key needs an id, and a token is verified with the
/// key its `kid` names.
#[derive(Clone, Debug)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    /// A set of one key, which signs and verifies.
    pub fn single(key: Key) -> Self {
        Self { keys: vec![key] }
    }

    /// Adds a key that verifies but no longer signs. Both keys need ids, so that a token's
    /// `kid` says which one to use.
    pub fn with_verify_only(mut self, key: Key) -> Result<Self, JwtError> {
        if self.keys.iter().chain([&key]).any(|key| key.id.is_none())
            || self.keys.iter().any(|known| known.id == key.id)
        {
            return Err(JwtError::KeyIdRequired);
        }
        self.keys.push(key);
        Ok(self)
    }

    /// The key that signs new tokens.
    pub fn signing(&self) -> &Key {
        &self.keys[0]
    }

    /// Every key, the signing one first.
    pub fn keys(&self) -> &[Key] {
        &self.keys
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
}
