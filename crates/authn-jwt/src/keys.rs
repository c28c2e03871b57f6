//! The keys tokens are signed and verified with.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{JwtError, MIN_SECRET_BYTES, MIN_SECRET_DISTINCT_BYTES};

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
mod tests;
