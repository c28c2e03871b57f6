//! The time budget of SQLite statements, what connections trust, and the schema a restore
//! expects.

use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::{
    connection::{Connections, within},
    migrate::{known_versions, migrate_to},
    restore::{schema_differences, schema_of},
};
use crate::store::StoreError;

/// Counting to ten million takes SQLite about a second: the budget stops it within a few
/// milliseconds of the deadline, as `TimedOut`, and the connection works afterwards.
#[test]
fn a_statement_over_its_budget_is_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let connections = Connections {
        path: dir.path().join("budget.sqlite3"),
    };
    let connection = connections.open().expect("open");
    let count = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) \
                 SELECT count(*) FROM c";
    let started = Instant::now();
    let result = within(Duration::from_millis(20), || {
        connection.query_row(count, [], |row| row.get::<_, i64>(0))
    });
    let error = StoreError::from(result.expect_err("interrupted"));
    assert!(matches!(error, StoreError::TimedOut), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    // Outside a budget, nothing is interrupted.
    let small = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000) \
                 SELECT count(*) FROM c";
    assert_eq!(
        connection
            .query_row(small, [], |row| row.get::<_, i64>(0))
            .ok(),
        Some(1000)
    );
}

/// A database migrated to any version has exactly the schema a restore expects of a backup of
/// that version, and not the schema of another version; an object added, dropped or changed
/// is named.
#[test]
fn the_schema_a_restore_expects_is_the_migrations_at_the_backups_version() {
    let versions = known_versions();
    for version in versions.clone() {
        let mut connection = Connection::open_in_memory().expect("open");
        migrate_to(&mut connection, version).expect("migrated");
        let schema = schema_of(&connection).expect("schema");
        let at_own = schema_differences(&schema, version).expect("compared");
        assert!(at_own.is_empty(), "version {version}: {at_own:?}");
        let other = if version == *versions.end() {
            1
        } else {
            version + 1
        };
        assert!(
            !schema_differences(&schema, other)
                .expect("compared")
                .is_empty()
        );
    }
    let latest = *versions.end();
    let mut connection = Connection::open_in_memory().expect("open");
    migrate_to(&mut connection, latest).expect("migrated");
    connection
        .execute_batch(
            "CREATE TRIGGER t AFTER INSERT ON todos BEGIN SELECT 1; END;
             DROP INDEX throttle_expires_at;
             DROP INDEX audit_events_at; CREATE INDEX audit_events_at ON audit_events (id);",
        )
        .expect("altered");
    let differences = schema_differences(&schema_of(&connection).expect("schema"), latest)
        .expect("compared")
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    assert_eq!(
        differences,
        [
            "a changed index audit_events_at on audit_events",
            "an extra trigger t on todos",
            "no index throttle_expires_at on throttle",
        ]
    );
}

/// Every connection of the service refuses to run functions from the file's schema.
#[test]
fn connections_do_not_trust_the_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let connection = Connections {
        path: dir.path().join("trust.sqlite3"),
    }
    .open()
    .expect("open");
    let trusted: i64 = connection
        .query_row("PRAGMA trusted_schema", [], |row| row.get(0))
        .expect("pragma");
    assert_eq!(trusted, 0);
}

/// A read connection cannot write: every write goes through the writer, which keeps the
/// write mark.
#[test]
fn a_read_connection_cannot_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let connections = Connections {
        path: dir.path().join("readonly.sqlite3"),
    };
    let writer = connections.open().expect("open");
    writer
        .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER)")
        .expect("made");
    let reader = connections.open_reader().expect("open");
    let refused = reader
        .execute("INSERT INTO t (x) VALUES (1)", [])
        .expect_err("refused");
    assert_eq!(
        refused.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly),
        "{refused}"
    );
    assert_eq!(
        reader
            .query_row("SELECT count(*) FROM t", [], |row| row.get::<_, i64>(0))
            .ok(),
        Some(0)
    );
}

/// The store's write mark once its writer is idle: a job answers its caller before it ends,
/// so just after a write the mark may still be absent for a moment.
async fn idle_mark(store: &crate::store::Store) -> crate::store::WriteMark {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(mark) = store.write_mark() {
            return mark;
        }
        assert!(Instant::now() < deadline, "the mark never came back");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The write mark is the same while nothing is written, moves with each write, and is absent
/// while a transaction is open.
#[tokio::test]
async fn the_write_mark_moves_with_each_write_and_is_absent_during_one() {
    use crate::store::{Database, Store};

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&Database::Sqlite(dir.path().join("marks.sqlite3")))
        .await
        .expect("open");
    let idle = store.write_mark().expect("no write under way");
    // Reads leave it.
    assert_eq!(store.todos().list_version("nobody").await.ok(), Some(None));
    assert_eq!(store.write_mark(), Some(idle));
    // A job of the writer moves it (readiness writes nothing, but runs there).
    store.ping().await.expect("ping");
    let after_ping = idle_mark(&store).await;
    assert!(after_ping.get() > idle.get());
    // Absent while a transaction holds the writer, moved once it is over (the writer thread
    // takes its connection back just after the commit).
    let transaction = store.transaction().await.expect("begin");
    assert_eq!(store.write_mark(), None);
    transaction.commit().await.expect("commit");
    let after = idle_mark(&store).await;
    assert!(after.get() > after_ping.get());
}

/// A second store of this process on the same file moves the first one's mark (the file's
/// lock keeps other processes out, not this one), and a restore of a file a store of this
/// process has open is refused.
#[tokio::test]
async fn stores_on_one_file_share_its_mark_and_a_restore_waits_for_both() {
    use crate::store::{Database, Store};

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.sqlite3");
    let first = Store::open(&Database::Sqlite(path.clone()))
        .await
        .expect("open");
    let second = Store::open(&Database::Sqlite(path.clone()))
        .await
        .expect("open a second");
    let idle = first.write_mark().expect("idle");
    assert_eq!(second.write_mark(), Some(idle));
    second.ping().await.expect("a job of the second's writer");
    assert_ne!(first.write_mark(), Some(idle));
    let transaction = second.transaction().await.expect("begin");
    assert_eq!(
        first.write_mark(),
        None,
        "the second's transaction is under way"
    );
    drop(transaction);

    let backup = dir.path().join("backup.sqlite3");
    first.backup(&backup).await.expect("backup");
    let refused = super::Restore::begin(&path, &backup).err();
    assert!(matches!(refused, Some(StoreError::InUse(_))), "{refused:?}");
    drop((first, second));
    // The engines' threads let go of the file as they end.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match super::Restore::begin(&path, &backup) {
            Ok(restore) => {
                drop(restore);
                break;
            }
            Err(StoreError::InUse(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(error) => panic!("after the stores: {error:?}"),
        }
    }
}
