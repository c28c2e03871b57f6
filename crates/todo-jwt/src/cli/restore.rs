//! `todo-jwt restore <backup> [--keep-sessions-and-keys]`.
//!
//! A backup brings back what was true when it was taken: sessions since ended (by logout, a
//! password change, a detected reuse) with their refresh tokens, and signing keys since
//! revoked (because they leaked). So, unless told to keep them, the restore ends every session
//! and replaces the signing keys with a new one that signs at once: every token issued before
//! is refused, and every user logs in again. This happens in the copy of the backup, before it
//! replaces the database: a failure leaves the database as it was.

use std::path::Path;

use super::{Failure, Outcome};
use crate::{
    config::Settings,
    keys::{self, Sealer},
    store::{Database, KeyRecord, SqliteRestore, Store, StoreError},
};

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Replaces the SQLite database with `backup`; with `keep_sessions_and_keys`, as the backup
/// has them.
pub async fn run(settings: &Settings, backup: &Path, keep_sessions_and_keys: bool) -> Outcome {
    let Database::Sqlite(database) = settings.database.clone() else {
        return Err(Failure::refused(
            "restore is for the SQLite database; restore PostgreSQL with its own tools",
        ));
    };
    let failed = |error: Cause| Failure::new("nothing restored", error);
    settings
        .ensure_data_dir()
        .map_err(|error| failed(error.into()))?;
    // Before anything is copied: the new key is sealed with the secret.
    let sealer = if keep_sessions_and_keys {
        None
    } else {
        let (secret, _) = settings
            .service_secret()
            .map_err(|error| failed(error.into()))?;
        Some(Sealer::from_secret(&secret))
    };
    let restore = SqliteRestore::begin(&database, backup).map_err(|error| {
        let running = matches!(error, StoreError::InUse(_));
        let failure = failed(error.into());
        if running {
            // The usual reason: the service itself.
            failure.with_hint(
                "stop the service first (SIGTERM or Ctrl-C; it finishes its requests), restore, \
                 then start it again",
            )
        } else {
            failure
        }
    })?;
    let afresh = match &sealer {
        Some(sealer) => Some(
            start_afresh(&restore, settings, sealer)
                .await
                .map_err(failed)?,
        ),
        None => None,
    };
    restore.finish().map_err(|error| failed(error.into()))?;
    let restored = format!("{} restored from {}", database.display(), backup.display());
    Ok(match afresh {
        Some(Afresh { ended, key }) => format!(
            "{restored}; all {ended} sessions ended and a new signing key {} ({}) activated in \
             place of the backup's: a backup brings back sessions and keys that were ended or \
             revoked after it was taken (pass --keep-sessions-and-keys to keep them)",
            key.kid, key.algorithm
        ),
        None => format!(
            "{restored}; its sessions and signing keys kept as the backup has them \
             (--keep-sessions-and-keys)"
        ),
    })
}

/// What [`start_afresh`] did.
struct Afresh {
    /// How many sessions it ended.
    ended: u64,
    /// The key that signs from now on.
    key: KeyRecord,
}

/// Ends every session of the restore's copy and replaces its signing keys with a new one.
async fn start_afresh(
    restore: &SqliteRestore,
    settings: &Settings,
    sealer: &Sealer,
) -> Result<Afresh, Cause> {
    // Migrated to this version's schema on the way, as the service would at start.
    let store = Store::open_with(
        &Database::Sqlite(restore.staging().to_owned()),
        settings.store,
    )
    .await?;
    let ended = store.sessions().end_every_session().await?;
    let (key, _) = keys::replace_all(&store, sealer, settings.jwt_algorithm).await?;
    Ok(Afresh { ended, key })
}
