//! Backups of the embedded (SQLite) database while the service runs: on `SIGUSR1`, and every
//! `TODO_JWT_BACKUP_INTERVAL` seconds when set. Each is a consistent copy taken while requests
//! go on ([`Store::backup`]), written as `<data-dir>/backups/todo-jwt-<UTC time>.sqlite3`
//! (mode 0600) under a temporary name first, so a file with the final name is always whole; the
//! newest `TODO_JWT_BACKUP_KEEP` are kept. `todo-jwt restore <file>` puts one back.

use std::{
    path::{Path, PathBuf},
    time::SystemTime,
};

use crate::store::{Store, StoreError};

/// Where backups go, and how many are kept.
#[derive(Clone, Debug)]
pub struct Backups {
    store: Store,
    dir: PathBuf,
    keep: usize,
}

const PREFIX: &str = "todo-jwt-";
const SUFFIX: &str = ".sqlite3";

impl Backups {
    /// Backups of `store` in `dir`, keeping the newest `keep` (at least one).
    pub fn new(store: Store, dir: PathBuf, keep: usize) -> Self {
        Self {
            store,
            dir,
            keep: keep.max(1),
        }
    }

    /// Takes one backup now and removes those beyond the newest `keep`; returns its path.
    pub async fn take(&self) -> Result<PathBuf, StoreError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|error| StoreError::Backup(format!("{}: {error}", self.dir.display())))?;
        let stamp = humantime::format_rfc3339_micros(SystemTime::now())
            .to_string()
            .replace([':', '-'], "");
        let name = format!("{PREFIX}{stamp}{SUFFIX}");
        let partial = self.dir.join(format!(".{name}.partial"));
        let _ = std::fs::remove_file(&partial);
        if let Err(error) = self.store.backup(&partial).await {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
        let path = self.dir.join(&name);
        std::fs::rename(&partial, &path)
            .map_err(|error| StoreError::Backup(format!("{}: {error}", path.display())))?;
        self.prune();
        Ok(path)
    }

    /// Removes the oldest backups beyond `keep` (names sort by time).
    fn prune(&self) {
        let mut backups = list(&self.dir);
        backups.sort();
        let extra = backups.len().saturating_sub(self.keep);
        for old in backups.into_iter().take(extra) {
            if let Err(error) = std::fs::remove_file(&old) {
                tracing::warn!(path = %old.display(), %error, "cannot remove an old backup");
            }
        }
    }

    /// Takes a backup and logs the outcome (run on `SIGUSR1`, and periodically when
    /// configured, by the app's tasks).
    pub async fn take_and_log(&self) {
        match self.take().await {
            Ok(path) => tracing::info!(path = %path.display(), "backup written"),
            Err(error) => tracing::error!(
                cause = %crate::http::error::chain(&error),
                "backup failed"
            ),
        }
    }
}

/// The backups in `dir` (finished ones: temporary files are hidden).
pub fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| {
                    path.file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| name.starts_with(PREFIX) && name.ends_with(SUFFIX))
                })
                .collect()
        })
        .unwrap_or_default()
}
