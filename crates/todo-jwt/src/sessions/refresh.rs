//! Refresh tokens: opaque, 256 bits, stored only as their SHA-256.
//!
//! A session's first refresh token is random. Each rotation derives the next one from the one
//! spent, `next = HMAC-SHA256(key, spent)`, with a key derived from the service's secret. That
//! is what lets a spent token presented again within the reuse interval (a lost response, two
//! tabs refreshing at once) be answered with the session's *current* token, the same one every
//! concurrent caller gets, although no token is stored in a readable form: the server
//! recomputes it from what the client presents.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The key refresh tokens are derived with.
#[derive(Clone)]
pub struct RefreshKey([u8; 32]);

impl RefreshKey {
    /// Derived from the service's secret (so every instance with that secret has it), for this
    /// purpose only: the key is not the secret that signs access tokens.
    pub fn from_secret(secret: &SecretString) -> Self {
        Self(mac(
            secret.expose_secret().as_bytes(),
            b"todo-jwt refresh tokens v1",
        ))
    }

    /// The token that follows `spent`.
    pub fn next(&self, spent: &str) -> String {
        URL_SAFE_NO_PAD.encode(mac(&self.0, spent.as_bytes()))
    }
}

impl std::fmt::Debug for RefreshKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshKey(..)")
    }
}

fn mac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

pub use crate::secret_token::{random_token, token_hash};

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::{RefreshKey, random_token, token_hash};

    #[test]
    fn tokens_are_long_opaque_and_derived_deterministically() {
        let key = RefreshKey::from_secret(&SecretString::from("a secret of some length, 32+ b"));
        let first = random_token();
        assert_eq!(first.len(), 43, "256 bits in base64url");
        assert_ne!(first, random_token());
        let next = key.next(&first);
        assert_eq!(next, key.next(&first), "the same for every caller");
        assert_ne!(next, first);
        let other = RefreshKey::from_secret(&SecretString::from("another secret, as long as one"));
        assert_ne!(
            next,
            other.next(&first),
            "nobody without the key can derive it"
        );
        assert_eq!(token_hash(&first).len(), 64);
        assert_ne!(token_hash(&first), token_hash(&next));
    }
}
