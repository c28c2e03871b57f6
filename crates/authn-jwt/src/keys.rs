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
    encoding: EncodingKey,
    decoding: DecodingKey,
}

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
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        })
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

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
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
