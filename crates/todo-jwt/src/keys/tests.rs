use std::time::Duration;

use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::Sha256;

use super::{
    JwtAlgorithm, KeyError, Sealer,
    reseal::needs_reseal,
    rotation::{expired, new_record},
    sealing::{open, open_format_1, some_trusted, trusted},
};
use crate::store::KeyRecord;

const SECRET: &str = "one secret, long enough for it";

fn sealer() -> Sealer {
    Sealer::from_secret(&SecretString::from(SECRET))
}

fn record(generation: i64, signs_from: i64) -> KeyRecord {
    KeyRecord {
        kid: format!("k{generation}"),
        generation,
        algorithm: "EdDSA".to_owned(),
        public_key: None,
        sealed_private_key: None,
        created_at: 0,
        signs_from,
    }
}

/// A key as a release before format 2 sealed it: the seed under the same derived key, the
/// kid alone as associated data, no format byte (written here from that release's code, so
/// that the old format stays pinned).
fn format_1(seed: &[u8; 32]) -> KeyRecord {
    let key = authn_jwt::Key::ed25519(seed).expect("key");
    let kid = key.thumbprint().expect("thumbprint");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).expect("hmac");
    mac.update(b"todo-jwt signing keys v1");
    let derived: [u8; 32] = mac.finalize().into_bytes().into();
    let nonce = [7; 12];
    let sealed = ChaCha20Poly1305::new(&derived.into())
        .encrypt(
            &nonce.into(),
            Payload {
                msg: seed,
                aad: kid.as_bytes(),
            },
        )
        .expect("sealed");
    KeyRecord {
        kid,
        generation: 1,
        algorithm: "EdDSA".to_owned(),
        public_key: Some(key.public_key().expect("public").to_vec()),
        sealed_private_key: Some([&nonce[..], &sealed].concat()),
        created_at: 100,
        signs_from: 0,
    }
}

/// A format-1 HS256 row: nothing sealed (what the migration that made the table wrote, and
/// what an attacker writes).
fn unsealed_hs256(generation: i64) -> KeyRecord {
    KeyRecord {
        kid: format!("hs256-{generation}"),
        generation,
        algorithm: "HS256".to_owned(),
        public_key: None,
        sealed_private_key: None,
        created_at: 0,
        signs_from: 0,
    }
}

/// A field of a row, changed in the table.
type Change = (&'static str, fn(&mut KeyRecord));

/// A key goes once its successor has signed for longer than the token lifetime; the
/// newest key, and one whose successor is still pending, stay.
#[test]
fn a_key_expires_a_lifetime_after_its_successor_signs() {
    let records = [record(1, 0), record(2, 100), record(3, 1_000)];
    let lifetime = Duration::from_secs(50);
    assert!(expired(&records, 150, lifetime).is_empty());
    assert_eq!(expired(&records, 151, lifetime), ["k1"]);
    assert_eq!(expired(&records, 1_051, lifetime), ["k1", "k2"]);
}

/// New rows of either algorithm carry a format-2 seal that opens with their secret: the
/// Ed25519 row gives its key, the HS256 row none (its key is the secret); another secret opens
/// neither.
#[test]
fn new_rows_of_both_algorithms_open_with_their_secret_only() {
    let sealer = sealer();
    let eddsa = new_record(&sealer, JwtAlgorithm::EdDsa, 1, 10).expect("record");
    let hs256 = new_record(&sealer, JwtAlgorithm::Hs256, 2, 20).expect("record");
    let opened = open(&sealer, &eddsa).expect("opens");
    let key = opened.key.expect("an Ed25519 key");
    assert_eq!(
        key.public_key().map(|public| public.to_vec()),
        eddsa.public_key
    );
    assert!(open(&sealer, &hs256).expect("opens").key.is_none());
    for row in [&eddsa, &hs256] {
        let sealed = row.sealed_private_key.as_deref().expect("sealed");
        assert_eq!(sealed[0], 2, "format 2");
    }
    let other = Sealer::from_secret(&SecretString::from("another secret, as long as it"));
    assert!(matches!(open(&other, &eddsa), Err(KeyError::Unopenable(_))));
    assert!(matches!(open(&other, &hs256), Err(KeyError::Unopenable(_))));
}

/// Every field that decides what a row is trusted for is bound: changing any one of them
/// (the algorithm, the order, the activation, the kid, the public key, the format byte, a
/// bit of the seal) gives a row that does not open, for both algorithms.
#[test]
fn changing_any_field_of_a_row_makes_it_not_open() {
    let sealer = sealer();
    let other = new_record(&sealer, JwtAlgorithm::EdDsa, 9, 0).expect("record");
    for algorithm in [JwtAlgorithm::EdDsa, JwtAlgorithm::Hs256] {
        let row = new_record(&sealer, algorithm, 2, 1_000).expect("record");
        assert!(open(&sealer, &row).is_ok());
        let changes: [Change; 9] = [
            ("algorithm", |row| {
                row.algorithm = if row.algorithm == "HS256" {
                    "EdDSA"
                } else {
                    "HS256"
                }
                .into();
            }),
            ("generation", |row| row.generation += 100),
            ("signs_from", |row| row.signs_from -= 1_000),
            ("created_at", |row| row.created_at -= 1),
            ("kid", |row| row.kid.push('x')),
            ("public_key", |row| {
                row.public_key = match row.public_key.take() {
                    Some(_) => None,
                    None => Some(vec![0; 32]),
                };
            }),
            ("format byte", |row| {
                row.sealed_private_key.as_mut().expect("sealed")[0] = 1;
            }),
            ("a bit of the seal", |row| {
                *row.sealed_private_key
                    .as_mut()
                    .expect("sealed")
                    .last_mut()
                    .expect("a byte") ^= 1;
            }),
            ("no seal", |row| row.sealed_private_key = None),
        ];
        for (field, change) in changes {
            let mut changed = row.clone();
            change(&mut changed);
            assert!(
                open(&sealer, &changed).is_err(),
                "{} row with its {field} changed opens",
                algorithm.name()
            );
        }
        // Another row's seal, moved onto this one.
        let mut moved = row.clone();
        moved.sealed_private_key = other.sealed_private_key.clone();
        assert!(open(&sealer, &moved).is_err());
    }
}

/// The attack of issue 21 row 11: an HS256 row with nothing sealed is left out, so it neither
/// signs nor counts as the newest key; the keys that open go on, and the row is named.
#[test]
fn an_unsealed_hs256_row_is_left_out_and_the_sealed_keys_stay() {
    let sealer = sealer();
    let eddsa = new_record(&sealer, JwtAlgorithm::EdDsa, 1, 0).expect("record");
    let (opened, left_out) = trusted(&sealer, vec![eddsa.clone(), unsealed_hs256(2)]);
    let kids: Vec<_> = opened.iter().map(|row| row.record.kid.as_str()).collect();
    assert_eq!(kids, [eddsa.kid.as_str()]);
    assert!(
        matches!(&left_out[..], [KeyError::Unopenable(kid)] if kid == "hs256-2"),
        "{left_out:?}"
    );
    // A table none of whose rows opens is refused (the secret is not the keys').
    assert!(matches!(
        some_trusted(&sealer, vec![unsealed_hs256(2)]),
        Err(KeyError::Unopenable(_))
    ));
}

/// A format-1 row is never trusted as such, but opens the way its release opened it, for the
/// re-seal; an installation is re-sealed only while none of its rows opens in format 2.
#[test]
fn format_1_rows_open_only_for_the_reseal_of_an_installation_not_yet_upgraded() {
    let sealer = sealer();
    let old = format_1(&[5; 32]);
    assert!(open(&sealer, &old).is_err());
    assert_eq!(
        open_format_1(&sealer, &old).flatten().as_deref(),
        Some(&[5; 32])
    );
    assert_eq!(open_format_1(&sealer, &unsealed_hs256(2)), Some(None));
    // The old format bound the kid, and the seed must give the public key.
    let mut moved = old.clone();
    moved.kid.push('x');
    assert!(open_format_1(&sealer, &moved).is_none());
    let mut other_public = old.clone();
    other_public.public_key = Some(vec![1; 32]);
    assert!(open_format_1(&sealer, &other_public).is_none());
    let other = Sealer::from_secret(&SecretString::from("another secret, as long as it"));
    assert!(open_format_1(&other, &old).is_none());

    assert!(needs_reseal(&sealer, &[old.clone(), unsealed_hs256(2)]));
    assert!(!needs_reseal(&other, std::slice::from_ref(&old)));
    // Once a row opens in format 2, an unsealed row beside it is an intruder's.
    let upgraded = new_record(&sealer, JwtAlgorithm::EdDsa, 3, 0).expect("record");
    assert!(!needs_reseal(&sealer, &[old, unsealed_hs256(2), upgraded]));
}
