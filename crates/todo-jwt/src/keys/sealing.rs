//! Keys at rest: every row of `signing_keys` carries a seal made with the service secret over
//! all of its fields, and only a row whose seal opens is trusted, to sign, to verify, or to
//! retire another key.
//!
//! The seal is ChaCha20-Poly1305 under a key derived from the service secret for this purpose
//! only, with a random nonce per row. What it encrypts is the Ed25519 private seed, or for an
//! HS256 row nothing at all (an empty message: the tag alone, a MAC of the row). Its
//! associated data is every field that decides what the row is trusted for: the format, the
//! kid, the algorithm, the generation (the order keys take over in), `created_at`,
//! `signs_from` (the activation time) and the public key. Changing any of them in the table
//! (an HS256 row made EdDSA, an old key moved after the newest, an activation brought
//! forward), moving a seal to another row, or writing a row without the secret gives a row
//! that does not open: it is left out and said once (see `ring`), and the service goes on with
//! the keys that open. An opened Ed25519 seed must also give the row's public key.
//!
//! Nothing in a row is mutable by design: a row is written once, whole, and the only later
//! change is its removal (a revocation, or the expiry of the tokens it signed). So there is no
//! unsealed field (a "retired at", say) that someone could clear to bring a key back. What a
//! seal cannot see is a row that is missing: deleting rows is open to whoever can write to the
//! table. Deleting the newest keys makes an older key that still opens sign again, and a row
//! put back from a dump (a revoked key) opens again, with its own generation and activation
//! time, so it never ranks above the keys added after it and expires by the same rule. That
//! takes state outside the database; `ring` refuses, for as long as it runs, a key that
//! appears below the newest one it has loaded.
//!
//! Format 2 (this one) starts with the byte 2: `[2][nonce: 12][ciphertext and tag]`. Format 1,
//! written by earlier releases, sealed only the Ed25519 seed, with the kid alone as associated
//! data (`[nonce: 12][ciphertext and tag]`, 60 bytes), and an HS256 row held nothing. Format 1
//! is never trusted here; `reseal` turns an installation's format-1 rows into format 2 once,
//! at start.

use authn_jwt::Key;
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{JwtAlgorithm, KeyError};
use crate::store::KeyRecord;

/// Seals rows and opens them again, with a key derived from the service secret.
#[derive(Clone)]
pub struct Sealer(ChaCha20Poly1305);

const NONCE_BYTES: usize = 12;
/// The first byte of a format-2 seal.
const FORMAT_2: u8 = 2;
/// The length of a format-1 seal: nonce, 32-byte seed, 16-byte tag.
const FORMAT_1_BYTES: usize = NONCE_BYTES + 32 + 16;

impl Sealer {
    /// The sealer of `secret`.
    pub fn from_secret(secret: &SecretString) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        // (The label predates format 2: both formats share the key, and their associated data
        // differ.)
        mac.update(b"todo-jwt signing keys v1");
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Self(ChaCha20Poly1305::new(&key.into()))
    }

    /// Seals `record` as its fields are now: `seed` for an Ed25519 key, `None` for HS256.
    pub(super) fn seal(&self, record: &mut KeyRecord, seed: Option<&[u8; 32]>) {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = self
            .0
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: seed.map_or(&[][..], |seed| seed.as_slice()),
                    aad: &associated_data(record),
                },
            )
            .expect("ChaCha20-Poly1305 seals 32 bytes");
        record.sealed_private_key = Some([&[FORMAT_2][..], &nonce, &sealed].concat());
    }

    /// What `record`'s format-2 seal holds, if it opens with this secret and these fields.
    fn open(&self, record: &KeyRecord) -> Option<Zeroizing<Vec<u8>>> {
        let (&format, sealed) = record.sealed_private_key.as_deref()?.split_first()?;
        if format != FORMAT_2 || sealed.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, sealed) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        let opened = self.0.decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: sealed,
                aad: &associated_data(record),
            },
        );
        opened.ok().map(Zeroizing::new)
    }

    /// The seed of a format-1 seal (the kid alone bound), if it opens with this secret.
    fn open_format_1(&self, kid: &str, sealed: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
        if sealed.len() != FORMAT_1_BYTES {
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
            .ok()
            .map(Zeroizing::new)?;
        Some(Zeroizing::new(seed.as_slice().try_into().ok()?))
    }
}

/// What a format-2 seal binds: every field of the row but the seal, each length-prefixed or
/// of fixed width, so that no two rows give the same bytes.
fn associated_data(record: &KeyRecord) -> Vec<u8> {
    let mut data = Vec::with_capacity(128);
    data.extend_from_slice(b"todo-jwt signing key");
    data.push(FORMAT_2);
    let mut text = |bytes: &[u8]| {
        data.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
        data.extend_from_slice(bytes);
    };
    text(record.kid.as_bytes());
    text(record.algorithm.as_bytes());
    match &record.public_key {
        Some(public) => text(public),
        // (A length no 32-byte key has.)
        None => data.extend_from_slice(&u32::MAX.to_be_bytes()),
    }
    for number in [record.generation, record.created_at, record.signs_from] {
        data.extend_from_slice(&number.to_be_bytes());
    }
    data
}

/// A row this secret opens, with its key: an Ed25519 key whose seed opens and matches, or an
/// HS256 row (`None`: its key is the secret).
#[derive(Clone)]
pub(super) struct Opened {
    pub(super) record: KeyRecord,
    pub(super) key: Option<Key>,
}

/// `record`'s key, when its seal opens with this secret and its fields (and an Ed25519 seed
/// gives its public key).
pub(super) fn open(sealer: &Sealer, record: &KeyRecord) -> Result<Opened, KeyError> {
    let unopenable = || KeyError::Unopenable(record.kid.clone());
    let algorithm =
        JwtAlgorithm::of(record).ok_or_else(|| KeyError::UnknownAlgorithm(record.kid.clone()))?;
    let opened = sealer.open(record).ok_or_else(unopenable)?;
    let key = match algorithm {
        JwtAlgorithm::Hs256 if opened.is_empty() => None,
        JwtAlgorithm::Hs256 => return Err(unopenable()),
        JwtAlgorithm::EdDsa => {
            let seed: &[u8; 32] = opened.as_slice().try_into().map_err(|_| unopenable())?;
            Some(ed25519(record, seed)?)
        }
    };
    Ok(Opened {
        record: record.clone(),
        key,
    })
}

/// The Ed25519 key of `seed`, when it gives `record`'s public key.
fn ed25519(record: &KeyRecord, seed: &[u8; 32]) -> Result<Key, KeyError> {
    let key = Key::ed25519(seed)?;
    if key.public_key().map(|public| public.to_vec()) != record.public_key {
        return Err(KeyError::Unopenable(record.kid.clone()));
    }
    Ok(key.with_id(record.kid.clone()))
}

/// What a format-1 row (from a release before format 2) held, when it opens the way that
/// release opened it: `Some(Some(seed))` for an Ed25519 key whose seed opens with the kid and
/// gives its public key, `Some(None)` for an HS256 row (which held nothing), `None` otherwise.
pub(super) fn open_format_1(
    sealer: &Sealer,
    record: &KeyRecord,
) -> Option<Option<Zeroizing<[u8; 32]>>> {
    match (
        JwtAlgorithm::of(record)?,
        record.sealed_private_key.as_deref(),
    ) {
        (JwtAlgorithm::Hs256, None) if record.public_key.is_none() => Some(None),
        (JwtAlgorithm::EdDsa, Some(sealed)) => {
            let seed = sealer.open_format_1(&record.kid, sealed)?;
            ed25519(record, &seed).ok()?;
            Some(Some(seed))
        }
        _ => None,
    }
}

/// The rows this secret opens, and why the others are left out. A row that does not open is
/// never trusted, not even to verify or to retire another key: anyone who can write to the
/// table could otherwise add a key of their own, or an HS256 row that takes over.
pub(super) fn trusted(sealer: &Sealer, records: Vec<KeyRecord>) -> (Vec<Opened>, Vec<KeyError>) {
    let mut left_out = Vec::new();
    let opened = records
        .iter()
        .filter_map(|record| {
            open(sealer, record)
                .map_err(|error| left_out.push(error))
                .ok()
        })
        .collect();
    (opened, left_out)
}

/// The rows this secret opens, of which there must be one: none means the secret is not the
/// one the keys were made with (the first row's error says so).
pub(super) fn some_trusted(
    sealer: &Sealer,
    records: Vec<KeyRecord>,
) -> Result<(Vec<Opened>, Vec<KeyError>), KeyError> {
    let (opened, mut left_out) = trusted(sealer, records);
    if opened.is_empty() {
        return Err(if left_out.is_empty() {
            KeyError::NoSigningKey
        } else {
            left_out.swap_remove(0)
        });
    }
    Ok((opened, left_out))
}
