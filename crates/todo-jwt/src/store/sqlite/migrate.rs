//! The schema's migrations, and restoring a backup of a known schema.

use std::{path::Path, time::Duration};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::connection::Connections;
use crate::store::StoreError;

/// Schema changes in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_users.sql"),
    include_str!("migrations/0002_todos.sql"),
    include_str!("migrations/0003_todo_count.sql"),
    include_str!("migrations/0004_sessions.sql"),
    include_str!("migrations/0005_refresh_tokens.sql"),
    include_str!("migrations/0006_throttle.sql"),
    include_str!("migrations/0007_audit_events.sql"),
    include_str!("migrations/0008_signing_keys.sql"),
    include_str!("migrations/0009_audit_counts.sql"),
    include_str!("migrations/0010_refresh_token_rotation.sql"),
];

/// Runs the migrations this database has not seen, each in its own transaction.
pub(super) fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let applied: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, sql) in (0_i64..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(applied).unwrap_or(0))
    {
        let transaction = connection.transaction()?;
        transaction.execute_batch(sql)?;
        transaction.pragma_update(None, "user_version", index + 1)?;
        transaction.commit()?;
    }
    Ok(())
}

/// Replaces the database at `database` with the backup at `backup`, page by page in one
/// transaction (SQLite's backup API), after checking the backup is an intact database of this
/// service no newer than it. The service must be stopped: the database is opened as this
/// process's alone, so a running service makes it fail, and nothing changes.
pub fn restore(database: &Path, backup: &Path) -> Result<(), StoreError> {
    let source = Connection::open_with_flags(backup, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|error| StoreError::Backup(format!("{}: {error}", backup.display())))?;
    let check: String = source
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|error| StoreError::Backup(format!("{}: {error}", backup.display())))?;
    if check != "ok" {
        return Err(StoreError::Backup(format!(
            "{} is damaged: {check}",
            backup.display()
        )));
    }
    let version: i64 = source.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version == 0 || version > known {
        return Err(StoreError::Backup(format!(
            "{} is not a database of this version of todo-jwt (schema {version}, known 1..={known})",
            backup.display()
        )));
    }
    let connections = Connections {
        path: database.to_owned(),
    };
    let in_use = |error: rusqlite::Error| match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) => StoreError::InUse(database.to_owned()),
        _ => error.into(),
    };
    // Takes the file for this process (fails at once when a service holds it).
    let mut target = connections.open().map_err(in_use)?;
    target
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(in_use)?;
    let copy = rusqlite::backup::Backup::new(&source, &mut target)?;
    copy.run_to_completion(256, Duration::ZERO, None)?;
    Ok(())
}
