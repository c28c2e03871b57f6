//! Changing the table: a rotation adds a key, a switch of algorithm adds one of the new
//! algorithm, a revocation removes one, and keys whose tokens have all expired go.

use std::time::Duration;

use authn_jwt::Key;

use super::{
    JwtAlgorithm, KeyError, KeyOptions, Sealer,
    reseal::reseal,
    sealing::{Opened, open_format_1, some_trusted},
};
use crate::{
    clock::now,
    store::{KeyRecord, Store},
};

/// Unix seconds `delay` from now.
fn from_now(delay: Duration) -> i64 {
    now().saturating_add(i64::try_from(delay.as_secs()).unwrap_or(i64::MAX))
}

/// A new key row of `algorithm`, generation `generation`, signing from `signs_from`, sealed.
pub(super) fn new_record(
    sealer: &Sealer,
    algorithm: JwtAlgorithm,
    generation: i64,
    signs_from: i64,
) -> Result<KeyRecord, KeyError> {
    let mut record = KeyRecord {
        kid: format!("hs256-{generation}"),
        generation,
        algorithm: algorithm.name().to_owned(),
        public_key: None,
        sealed_private_key: None,
        created_at: now(),
        signs_from,
    };
    match algorithm {
        JwtAlgorithm::Hs256 => sealer.seal(&mut record, None),
        JwtAlgorithm::EdDsa => {
            let seed = zeroize::Zeroizing::new(rand::random::<[u8; 32]>());
            let key = Key::ed25519(&seed)?;
            record.kid = key.thumbprint().expect("an Ed25519 key has a thumbprint");
            record.public_key = Some(
                key.public_key()
                    .expect("an Ed25519 key has a public half")
                    .to_vec(),
            );
            sealer.seal(&mut record, Some(&seed));
        }
    }
    Ok(record)
}

/// The generation after every row's, trusted or not (a row left out still holds its place).
fn next_generation(records: &[KeyRecord]) -> Result<i64, KeyError> {
    let newest = records.iter().map(|record| record.generation).max();
    match newest {
        None => Ok(1),
        Some(newest) => newest.checked_add(1).ok_or_else(|| {
            let kid = records.iter().find(|record| record.generation == newest);
            KeyError::NoGenerationLeft(kid.map(|record| record.kid.clone()).unwrap_or_default())
        }),
    }
}

/// Adds an Ed25519 key that signs `delay` from now on, after the newest key; the record
/// added. What `todo-jwt rotate-keys` and `SIGUSR2` do.
pub async fn rotate(
    store: &Store,
    sealer: &Sealer,
    algorithm: JwtAlgorithm,
    delay: Duration,
) -> Result<KeyRecord, KeyError> {
    reseal(store, sealer).await?;
    let records = store.signing_keys().list().await?;
    // This secret must open a key of the table: a key sealed with another secret than the
    // instances' would be refused by all of them.
    some_trusted(sealer, records.clone())?;
    add_at(
        store,
        sealer,
        algorithm,
        from_now(delay),
        next_generation(&records)?,
    )
    .await
}

/// Removes the key `kid` at once, for a key that may have leaked (or a row left out): the
/// tokens it signed are refused by every instance within its reload interval. The newest key
/// this secret opens cannot be removed (nothing would take over): rotate first. What
/// `todo-jwt revoke-key` does.
pub async fn revoke(store: &Store, sealer: &Sealer, kid: &str) -> Result<KeyRecord, KeyError> {
    reseal(store, sealer).await?;
    let records = store.signing_keys().list().await?;
    let record = records
        .iter()
        .find(|record| record.kid == kid)
        .cloned()
        .ok_or_else(|| KeyError::UnknownKey(kid.to_owned()))?;
    let (opened, _) = some_trusted(sealer, records)?;
    if opened.last().map(|newest| &newest.record) == Some(&record) {
        return Err(KeyError::NewestKey(kid.to_owned()));
    }
    store.signing_keys().remove(kid).await?;
    Ok(record)
}

/// Replaces every key with a new one, signing at once: after a restore, whose keys are the
/// backup's (one revoked since, because it leaked, among them). Its algorithm is `algorithm`
/// when configured, otherwise the newest trusted key's. The new record, and the ids removed
/// (rows left out among them). Every token signed before is refused from then on (with a
/// stopped service, the SQLite case: nobody else reads the table meanwhile).
pub async fn replace_all(
    store: &Store,
    sealer: &Sealer,
    algorithm: Option<JwtAlgorithm>,
) -> Result<(KeyRecord, Vec<String>), KeyError> {
    let records = store.signing_keys().list().await?;
    // This secret must open one (a backup from before format 2: in format 1; every row goes
    // anyway): else the backup is not of this installation.
    let opens_in_format_1 = |record: &&KeyRecord| open_format_1(sealer, record).is_some();
    let newest = match some_trusted(sealer, records.clone()) {
        Ok((trusted, _)) => trusted.last().map(|newest| newest.record.clone()),
        Err(_) if records.is_empty() => None,
        Err(error) => Some(
            records
                .iter()
                .rfind(opens_in_format_1)
                .ok_or(error)?
                .clone(),
        ),
    };
    let algorithm = algorithm
        .or_else(|| newest.as_ref().and_then(JwtAlgorithm::of))
        .unwrap_or(JwtAlgorithm::EdDsa);
    let record = add_at(store, sealer, algorithm, now(), next_generation(&records)?).await?;
    let mut removed = Vec::new();
    for old in records {
        store.signing_keys().remove(&old.kid).await?;
        removed.push(old.kid);
    }
    Ok((record, removed))
}

/// Adds a key of `algorithm` at `generation`; [`KeyError::Concurrent`] when another key took
/// that place first.
async fn add_at(
    store: &Store,
    sealer: &Sealer,
    algorithm: JwtAlgorithm,
    signs_from: i64,
    generation: i64,
) -> Result<KeyRecord, KeyError> {
    let record = new_record(sealer, algorithm, generation, signs_from)?;
    if store.signing_keys().add(record.clone()).await? {
        Ok(record)
    } else {
        Err(KeyError::Concurrent)
    }
}

/// Makes `algorithm` the newest trusted key's (`--jwt-algorithm` changed): adds a key of it
/// after every row, unless another instance started with the same setting did first; the rows
/// this secret opens then.
pub(super) async fn switch(
    store: &Store,
    sealer: &Sealer,
    options: &KeyOptions,
    algorithm: JwtAlgorithm,
) -> Result<Vec<Opened>, KeyError> {
    let keys = store.signing_keys();
    let mut records = keys.list().await?;
    let newest_is = |opened: &[Opened]| {
        opened
            .last()
            .and_then(|newest| JwtAlgorithm::of(&newest.record))
            == Some(algorithm)
    };
    // Instances started together with the new setting: one adds the key, the others find it
    // there. Bounded: instances configured with different algorithms would take turns.
    for _ in 0..4 {
        let (opened, _) = some_trusted(sealer, records.clone())?;
        if newest_is(&opened) {
            break;
        }
        // Other instances learn of the key within their reload interval.
        let delay = if options.shared {
            2 * options.reload_interval.as_secs() + 1
        } else {
            0
        };
        let signs_from = from_now(Duration::from_secs(delay));
        // Only right after the rows just read: if another instance added one since, read
        // again and see whether it is of this algorithm.
        match add_at(
            store,
            sealer,
            algorithm,
            signs_from,
            next_generation(&records)?,
        )
        .await
        {
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
    let (opened, _) = some_trusted(sealer, records)?;
    if !newest_is(&opened) {
        tracing::warn!(
            algorithm = algorithm.name(),
            "other instances keep adding keys of another algorithm: give every instance the \
             same --jwt-algorithm; signing with the newest key meanwhile"
        );
    }
    Ok(opened)
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
