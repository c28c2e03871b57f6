//! The schema's migrations.

use rusqlite::Connection;

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
    include_str!("migrations/0011_mail.sql"),
    include_str!("migrations/0012_email_change.sql"),
    include_str!("migrations/0013_mfa.sql"),
    include_str!("migrations/0014_todo_versions.sql"),
];

/// The schema versions this build knows: 1 to the number of migrations.
pub(super) fn known_versions() -> std::ops::RangeInclusive<i64> {
    1..=i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Runs the migrations this database has not seen, each in its own transaction.
pub(super) fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    migrate_to(connection, *known_versions().end())
}

/// Runs the migrations this database has not seen up to schema `version`, each in its own
/// transaction (a restore builds the schema a backup of that version must have).
pub(super) fn migrate_to(connection: &mut Connection, version: i64) -> Result<(), StoreError> {
    let applied: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, sql) in (0_i64..)
        .zip(MIGRATIONS)
        .take_while(|(index, _)| *index < version)
        .skip(usize::try_from(applied).unwrap_or(0))
    {
        let transaction = connection.transaction()?;
        transaction.execute_batch(sql)?;
        transaction.pragma_update(None, "user_version", index + 1)?;
        transaction.commit()?;
    }
    Ok(())
}
