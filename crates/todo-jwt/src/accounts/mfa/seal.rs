//! Authenticator secrets at rest: sealed with ChaCha20-Poly1305 under a key derived from the
//! service secret for this purpose only, bound to their account (its id is the associated
//! data: a sealed secret copied to another account's row does not open). A row that does not
//! open is a factor that cannot be checked: its codes are refused, never accepted.

use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

const NONCE_BYTES: usize = 12;

/// Seals authenticator secrets and opens them again.
#[derive(Clone)]
pub struct SecretSeal(ChaCha20Poly1305);

impl std::fmt::Debug for SecretSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretSeal(..)")
    }
}

impl SecretSeal {
    /// The seal of the service secret `secret`.
    pub fn from_secret(secret: &SecretString) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(b"todo-jwt authenticator secrets v1");
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Self(ChaCha20Poly1305::new(&key.into()))
    }

    /// `secret` sealed for the account `user_id`: `[nonce: 12][ciphertext and tag]`.
    pub fn seal(&self, user_id: &str, secret: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = self
            .0
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: user_id.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 seals 20 bytes");
        [&nonce[..], &sealed].concat()
    }

    /// The secret `sealed` holds, if it was sealed for `user_id` with this service secret.
    pub fn open(&self, user_id: &str, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, sealed) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        let payload = Payload {
            msg: sealed,
            aad: user_id.as_bytes(),
        };
        self.0
            .decrypt(&Nonce::from(nonce), payload)
            .ok()
            .map(Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sealed secret opens for its account with its service secret, and for no other.
    #[test]
    fn a_sealed_secret_opens_only_for_its_account_and_service_secret() {
        let seal = SecretSeal::from_secret(&SecretString::from("a service secret of test"));
        let sealed = seal.seal("user-1", b"twenty bytes secret!");
        assert_ne!(&sealed[NONCE_BYTES..], b"twenty bytes secret!");
        let opened = seal.open("user-1", &sealed).expect("opens");
        assert_eq!(opened.as_slice(), b"twenty bytes secret!");
        assert!(
            seal.open("user-2", &sealed).is_none(),
            "moved to another account"
        );
        let other = SecretSeal::from_secret(&SecretString::from("another service secret"));
        assert!(
            other.open("user-1", &sealed).is_none(),
            "another service secret"
        );
        assert!(seal.open("user-1", &sealed[..5]).is_none(), "cut short");
    }
}
