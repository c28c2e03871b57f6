//! Restoring a backup ([`Restore`]): checked, copied beside the database, where the caller may
//! change the copy through a `Store` of its own (`todo-jwt restore` ends the sessions and
//! replaces the signing keys there), and only then put in place, in one transaction. Until
//! that last step the database is not written, so a refused or failed restore changes nothing.
//!
//! The checks: the file is an intact SQLite database (`integrity_check`), of a schema version
//! this build knows, whose schema is exactly the one this build makes at that version (no
//! trigger, view, table or index added, none removed or changed: a backup is a file anyone may
//! have handled, and a trigger in it would run inside every write of the service). The backup
//! is read with `trusted_schema` off, so nothing in its schema runs a function while it is
//! checked and copied, and with `cell_size_check` on, so a damaged page is refused, not read.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use rusqlite::{Connection, ErrorCode, MAIN_DB, OpenFlags};

use super::{
    connection::{Connections, create_private},
    migrate::{known_versions, migrate_to},
};
use crate::store::{SchemaDifference, SchemaObjectName, StoreError};

/// A backup on its way into the database: checked, and copied beside it (the copy is removed
/// when this is dropped).
pub struct Restore {
    /// The database's own connection, opened first: it holds the file for this process, so a
    /// running service makes the restore fail before any work, and nothing opens it meanwhile.
    target: Connection,
    /// The copy of the backup, beside the database.
    staging: PathBuf,
}

impl Restore {
    /// Checks `backup` and copies it beside `database`, whose file it takes for this process
    /// (failing with [`StoreError::InUse`] while a service holds it). The database is not
    /// written.
    pub fn begin(database: &Path, backup: &Path) -> Result<Self, StoreError> {
        let source = open_backup(backup)?;
        check(&source, backup)?;
        let target = take(database)?;
        let mut staging = database.as_os_str().to_owned();
        staging.push(".restoring");
        let restore = Self {
            target,
            staging: PathBuf::from(staging),
        };
        // Left by a restore that was interrupted: a copy of some backup, never used.
        restore.remove_staging();
        // Private before a byte is copied: it holds password hashes.
        create_private(&restore.staging).map_err(StoreError::Create)?;
        source
            .backup(MAIN_DB, &restore.staging, None)
            .map_err(|error| unreadable(backup, &error))?;
        Ok(restore)
    }

    /// The copy: open a `Store` on it to change it before [`Restore::finish`] (and drop that
    /// store first).
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// Replaces the database with the copy, page by page in one transaction (SQLite's backup
    /// API), and removes the copy.
    pub fn finish(mut self) -> Result<(), StoreError> {
        // Through the service's VFS, as the store that may have changed the copy: the copy's
        // latest pages may still be in its write-ahead log, which that VFS keeps in memory.
        let source = open_when_free(&Connections {
            path: self.staging.clone(),
        })?;
        let copy = rusqlite::backup::Backup::new(&source, &mut self.target)?;
        copy.run_to_completion(256, Duration::ZERO, None)?;
        Ok(())
    }

    fn remove_staging(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.staging.as_os_str().to_owned();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        self.remove_staging();
    }
}

/// A connection to the copy once the store that changed it has let go: that store's writer
/// thread closes its connection (and with it the file's lock) shortly after the store is
/// dropped, not before the drop returns.
fn open_when_free(copy: &Connections) -> Result<Connection, StoreError> {
    let started = std::time::Instant::now();
    loop {
        match copy.open() {
            Err(error)
                if matches!(
                    error.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) && started.elapsed() < super::connection::BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            opened => return Ok(opened?),
        }
    }
}

/// `error` of reading `backup`, naming the file.
fn unreadable(backup: &Path, error: &rusqlite::Error) -> StoreError {
    StoreError::Backup(format!("{}: {error}", backup.display()))
}

/// The backup, read-only, with nothing of its schema trusted to run.
fn open_backup(backup: &Path) -> Result<Connection, StoreError> {
    let source = Connection::open_with_flags(backup, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|error| unreadable(backup, &error))?;
    // Before anything reads its schema or its rows.
    source
        .execute_batch("PRAGMA trusted_schema = OFF; PRAGMA cell_size_check = ON;")
        .map_err(|error| unreadable(backup, &error))?;
    Ok(source)
}

/// Whether the backup is intact, of a version this build knows, with exactly its schema.
fn check(source: &Connection, backup: &Path) -> Result<(), StoreError> {
    let read = |error| unreadable(backup, &error);
    let check: String = source
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(read)?;
    if check != "ok" {
        return Err(StoreError::Backup(format!(
            "{} is damaged: {check}",
            backup.display()
        )));
    }
    let version: i64 = source
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(read)?;
    let known = known_versions();
    if !known.contains(&version) {
        return Err(StoreError::Backup(format!(
            "{} is not a database of this version of todo-jwt (schema {version}, known \
             {}..={})",
            backup.display(),
            known.start(),
            known.end()
        )));
    }
    let found = schema_of(source).map_err(read)?;
    let differences = schema_differences(&found, version)?;
    if differences.is_empty() {
        Ok(())
    } else {
        Err(StoreError::ForeignSchema {
            backup: backup.to_owned(),
            version,
            differences,
        })
    }
}

/// A database's schema: each object by kind and name, with its table and its SQL (`None` for
/// the indexes SQLite makes for a `UNIQUE` or `PRIMARY KEY` constraint).
pub(super) type Schema = BTreeMap<(String, String), (String, Option<String>)>;

pub(super) fn schema_of(connection: &Connection) -> rusqlite::Result<Schema> {
    let mut statement =
        connection.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema")?;
    let rows = statement.query_map([], |row| {
        Ok(((row.get(0)?, row.get(1)?), (row.get(2)?, row.get(3)?)))
    })?;
    rows.collect()
}

/// How the schema `found` differs from the one a database migrated to `version` has (built
/// in memory: the migrations are the definition of the schema).
pub(super) fn schema_differences(
    found: &Schema,
    version: i64,
) -> Result<Vec<SchemaDifference>, StoreError> {
    let mut expected = Connection::open_in_memory()?;
    migrate_to(&mut expected, version)?;
    let expected = schema_of(&expected)?;
    let name = |(kind, name): &(String, String), table: &str| SchemaObjectName {
        kind: kind.clone(),
        name: name.clone(),
        table: table.to_owned(),
    };
    let mut differences = Vec::new();
    for (key, (table, sql)) in found {
        match expected.get(key) {
            None => differences.push(SchemaDifference::Extra(name(key, table))),
            Some(wanted) if wanted != &(table.clone(), sql.clone()) => {
                differences.push(SchemaDifference::Changed(name(key, table)));
            }
            Some(_) => {}
        }
    }
    for (key, (table, _)) in &expected {
        if !found.contains_key(key) {
            differences.push(SchemaDifference::Missing(name(key, table)));
        }
    }
    Ok(differences)
}

/// The database's file, taken for this process (see [`Connections`]); [`StoreError::InUse`]
/// at once when a service holds it.
fn take(database: &Path) -> Result<Connection, StoreError> {
    let in_use = |error: rusqlite::Error| match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) => StoreError::InUse(database.to_owned()),
        _ => error.into(),
    };
    // A database restored where there was none is private too.
    create_private(database).map_err(StoreError::Create)?;
    // A store of this process has it: the file's lock does not keep this process out, and
    // that store's kept answers trust that only its writers change the file.
    if super::writes::open_here(database) {
        return Err(StoreError::InUse(database.to_owned()));
    }
    let target = Connections {
        path: database.to_owned(),
    }
    .open()
    .map_err(in_use)?;
    target
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(in_use)?;
    Ok(target)
}
