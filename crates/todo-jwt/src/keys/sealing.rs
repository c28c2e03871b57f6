//! Private seeds at rest: sealed under a key derived from the service secret.

use authn_jwt::Key;
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::KeyError;
use crate::store::KeyRecord;

/// Seals private keys at rest: ChaCha20-Poly1305 under a key derived from the service secret
/// for this purpose only, a random nonce per key, and the key's id as associated data (a
/// sealed seed moved to another row does not open).
#[derive(Clone)]
pub struct Sealer(ChaCha20Poly1305);

const NONCE_BYTES: usize = 12;

impl Sealer {
    /// The sealer of `secret`.
    pub fn from_secret(secret: &SecretString) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(b"todo-jwt signing keys v1");
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Self(ChaCha20Poly1305::new(&key.into()))
    }

    pub(super) fn seal(&self, kid: &str, seed: &[u8; 32]) -> Vec<u8> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = self
            .0
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: seed,
                    aad: kid.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 seals 32 bytes");
        [nonce.as_slice(), &sealed].concat()
    }

    pub(super) fn open(&self, kid: &str, sealed: &[u8]) -> Option<zeroize::Zeroizing<[u8; 32]>> {
        if sealed.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, sealed) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        let seed = self
            .0
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: kid.as_bytes(),
                },
            )
            .ok()?;
        let seed = zeroize::Zeroizing::new(seed);
        let bytes: [u8; 32] = seed.as_slice().try_into().ok()?;
        Some(zeroize::Zeroizing::new(bytes))
    }
}

/// The Ed25519 key of `record`, when its seed opens with this secret and matches its public
/// half (a row altered in the database, or sealed with another secret, does not).
pub(super) fn open_ed25519(sealer: &Sealer, record: &KeyRecord) -> Result<Key, KeyError> {
    let unopenable = || KeyError::Unopenable(record.kid.clone());
    let seed = record
        .sealed_private_key
        .as_deref()
        .and_then(|sealed| sealer.open(&record.kid, sealed))
        .ok_or_else(unopenable)?;
    let key = Key::ed25519(&seed)?;
    if key.public_key().map(|public| public.to_vec()) != record.public_key {
        return Err(unopenable());
    }
    Ok(key.with_id(record.kid.clone()))
}
