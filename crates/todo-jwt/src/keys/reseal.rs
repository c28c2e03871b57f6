//! Upgrading an installation's keys from seal format 1 (the kid alone bound, HS256 rows
//! unsealed) to format 2 (every field bound; see `sealing`): once, when a command that uses
//! the keys first runs with the secret, in one transaction.
//!
//! Format 1 rows are trusted only until then. An installation that has been upgraded has a
//! row that opens in format 2 (the newest key is never removed), so any format-1 row found
//! beside one was written since by someone without the secret, and is left out like any row
//! that does not open: it is never re-sealed. Someone who could delete every row and write a
//! format-1 HS256 row could have it re-sealed at the next start, but gains nothing from it
//! they had not already taken by deleting the keys (every token refused): its key is the
//! secret, which they have not.
//!
//! Instances starting together on PostgreSQL take turns: the rows are read locked
//! (`FOR UPDATE`), so the second waits for the first to commit, then reads rows that open in
//! format 2 and leaves them. On SQLite one writer serialises transactions already.

use super::{
    KeyError, Sealer,
    sealing::{open, open_format_1},
};
use crate::store::{KeyRecord, Store};

/// Re-seals the rows of an installation not yet upgraded that open in format 1; how many.
pub async fn reseal(store: &Store, sealer: &Sealer) -> Result<usize, KeyError> {
    // Read without a lock first: an installation upgraded already (every start after the
    // first) pays one read.
    if !needs_reseal(sealer, &store.signing_keys().list().await?) {
        return Ok(0);
    }
    let transaction = store.transaction().await?;
    let keys = transaction.signing_keys();
    let records = keys.list_locked().await?;
    if !needs_reseal(sealer, &records) {
        // Another instance did it while this one waited.
        return Ok(0);
    }
    let mut resealed = Vec::new();
    for mut record in records {
        let Some(seed) = open_format_1(sealer, &record) else {
            continue;
        };
        sealer.seal(&mut record, seed.as_deref());
        if keys.reseal(&record.kid, &record.sealed_private_key).await? {
            resealed.push(record.kid);
        }
    }
    transaction.commit().await?;
    for kid in &resealed {
        tracing::info!(%kid, "re-sealed a signing key in format 2 (every field of its row bound)");
    }
    Ok(resealed.len())
}

/// Whether `records` are an installation's from before format 2: none opens in format 2, and
/// one opens in format 1.
pub(super) fn needs_reseal(sealer: &Sealer, records: &[KeyRecord]) -> bool {
    !records.iter().any(|record| open(sealer, record).is_ok())
        && records
            .iter()
            .any(|record| open_format_1(sealer, record).is_some())
}
