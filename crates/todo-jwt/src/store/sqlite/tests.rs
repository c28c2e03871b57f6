//! The time budget of SQLite statements.

use std::time::{Duration, Instant};

use super::connection::{Connections, within};
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
