use std::time::Duration;

use secrecy::SecretString;

use super::{Sealer, rotation::expired};
use crate::store::KeyRecord;

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

/// A sealed seed opens with its secret and id only.
#[test]
fn a_sealed_seed_opens_with_its_secret_and_id_only() {
    let sealer = Sealer::from_secret(&SecretString::from("one secret, long enough for it"));
    let sealed = sealer.seal("kid", &[9; 32]);
    assert_eq!(sealer.open("kid", &sealed).as_deref(), Some(&[9; 32]));
    assert!(sealer.open("other", &sealed).is_none());
    assert!(sealer.open("kid", &sealed[..5]).is_none());
    let other = Sealer::from_secret(&SecretString::from("another secret, as long as it"));
    assert!(other.open("kid", &sealed).is_none());
}
