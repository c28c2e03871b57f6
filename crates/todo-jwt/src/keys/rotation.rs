//! Changing the table: a rotation adds a key, a switch of algorithm adds one of the new
//! algorithm, a revocation removes one, and keys whose tokens have all expired go.

use std::time::Duration;

use authn_jwt::Key;

use super::{JwtAlgorithm, KeyError, KeyOptions, Sealer, ring::all_trusted};
use crate::{
    clock::now,
    store::{KeyRecord, Store},
};

/// Unix seconds `delay` from now.
fn from_now(delay: Duration) -> i64 {
    now().saturating_add(i64::try_from(delay.as_secs()).unwrap_or(i64::MAX))
}

/// A new key row of `algorithm`, generation `generation`, signing from `signs_from`.
pub(super) fn new_record(
    sealer: &Sealer,
    algorithm: JwtAlgorithm,
    generation: i64,
    signs_from: i64,
) -> Result<KeyRecord, KeyError> {
    let (kid, public_key, sealed_private_key) = match algorithm {
        JwtAlgorithm::Hs256 => (format!("hs256-{generation}"), None, None),
        JwtAlgorithm::EdDsa => {
            let seed = zeroize::Zeroizing::new(rand::random::<[u8; 32]>());
            let key = Key::ed25519(&seed)?;
            let kid = key.thumbprint().expect("an Ed25519 key has a thumbprint");
            let public = key.public_key().expect("an Ed25519 key has a public half");
            let sealed = sealer.seal(&kid, &seed);
            (kid, Some(public.to_vec()), Some(sealed))
        }
    };
    Ok(KeyRecord {
        kid,
        generation,
        algorithm: algorithm.name().to_owned(),
        public_key,
        sealed_private_key,
        created_at: now(),
        signs_from,
    })
}

/// Adds an Ed25519 key that signs `delay` from now on, after the newest key; the record
/// added. What `todo-jwt rotate-keys` and `SIGUSR2` do.
pub async fn rotate(
    store: &Store,
    sealer: &Sealer,
    algorithm: JwtAlgorithm,
    delay: Duration,
) -> Result<KeyRecord, KeyError> {
    let records = store.signing_keys().list().await?;
    // A key sealed with another secret than the instances' would be refused by all of them.
    let newest = all_trusted(sealer, records)?
        .last()
        .map_or(0, |newest| newest.record.generation);
    add_after(store, sealer, algorithm, from_now(delay), newest).await
}

/// Removes the key `kid` at once, for a key that may have leaked: the tokens it signed are
/// refused by every instance within its reload interval. The newest key cannot be removed
/// (nothing would take over): rotate first. What `todo-jwt revoke-key` does.
pub async fn revoke(store: &Store, kid: &str) -> Result<KeyRecord, KeyError> {
    let records = store.signing_keys().list().await?;
    let record = records
        .iter()
        .find(|record| record.kid == kid)
        .ok_or_else(|| KeyError::UnknownKey(kid.to_owned()))?;
    if records.last() == Some(record) {
        return Err(KeyError::NewestKey(kid.to_owned()));
    }
    store.signing_keys().remove(kid).await?;
    Ok(record.clone())
}

/// Replaces every key with a new one, signing at once: after a restore, whose keys are the
/// backup's (one revoked since, because it leaked, among them). Its algorithm is `algorithm`
/// when configured, otherwise the newest key's. The new record, and the ids removed. Every
/// token signed before is refused from then on (with a stopped service, the SQLite case:
/// nobody else reads the table meanwhile).
pub async fn replace_all(
    store: &Store,
    sealer: &Sealer,
    algorithm: Option<JwtAlgorithm>,
) -> Result<(KeyRecord, Vec<String>), KeyError> {
    let records = store.signing_keys().list().await?;
    // This secret must open them: else the backup is not of this installation.
    let trusted = all_trusted(sealer, records)?;
    let newest = trusted.last().map(|newest| &newest.record);
    let algorithm = algorithm
        .or_else(|| newest.and_then(JwtAlgorithm::of))
        .unwrap_or(JwtAlgorithm::EdDsa);
    let generation = newest.map_or(0, |newest| newest.generation);
    let record = add_after(store, sealer, algorithm, now(), generation).await?;
    let mut removed = Vec::new();
    for old in trusted {
        store.signing_keys().remove(&old.record.kid).await?;
        removed.push(old.record.kid);
    }
    Ok((record, removed))
}

/// Adds a key of `algorithm` right after generation `newest`; [`KeyError::Concurrent`] when
/// another key took that place first.
async fn add_after(
    store: &Store,
    sealer: &Sealer,
    algorithm: JwtAlgorithm,
    signs_from: i64,
    newest: i64,
) -> Result<KeyRecord, KeyError> {
    let record = new_record(sealer, algorithm, newest + 1, signs_from)?;
    if store.signing_keys().add(record.clone()).await? {
        Ok(record)
    } else {
        Err(KeyError::Concurrent)
    }
}

/// Makes `algorithm` the newest key's (`--jwt-algorithm` changed): adds a key of it after the
/// newest one, unless another instance started with the same setting did first; the rows then.
pub(super) async fn switch(
    store: &Store,
    sealer: &Sealer,
    options: &KeyOptions,
    algorithm: JwtAlgorithm,
    mut records: Vec<KeyRecord>,
) -> Result<Vec<KeyRecord>, KeyError> {
    let keys = store.signing_keys();
    // Instances started together with the new setting: one adds the key, the others find it
    // there. Bounded: instances configured with different algorithms would take turns.
    for _ in 0..4 {
        let Some(newest) = records
            .last()
            .filter(|newest| JwtAlgorithm::of(newest) != Some(algorithm))
        else {
            break;
        };
        // Other instances learn of the key within their reload interval.
        let delay = if options.shared {
            2 * options.reload_interval.as_secs() + 1
        } else {
            0
        };
        let signs_from = from_now(Duration::from_secs(delay));
        // Only right after the key just read: if another instance added one since,
        // read again and see whether it is of this algorithm.
        match add_after(store, sealer, algorithm, signs_from, newest.generation).await {
            Ok(record) => tracing::warn!(
                algorithm = algorithm.name(),
                kid = %record.kid,
                in_seconds = delay,
                "--jwt-algorithm differs from the newest signing key's: added a key; \
                 tokens signed before stay valid until they expire"
            ),
            Err(KeyError::Concurrent) => {}
            Err(error) => return Err(error),
        }
        records = keys.list().await?;
    }
    if records.last().and_then(JwtAlgorithm::of) != Some(algorithm) {
        tracing::warn!(
            algorithm = algorithm.name(),
            "other instances keep adding keys of another algorithm: give every instance the \
             same --jwt-algorithm; signing with the newest key meanwhile"
        );
    }
    Ok(records)
}

/// The ids of the keys whose tokens have all expired: those a later key took over from more
/// than `lifetime` (the token lifetime and the clock skew) ago.
pub(super) fn expired(records: &[KeyRecord], now: i64, lifetime: Duration) -> Vec<String> {
    let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    records
        .iter()
        .filter(|record| {
            records.iter().any(|later| {
                later.generation > record.generation
                    && later.signs_from.saturating_add(lifetime) < now
            })
        })
        .map(|record| record.kid.clone())
        .collect()
}
