//! The service's clock: Unix seconds, and the RFC 3339 form the API writes times in. One
//! place, so every layer (keys, sessions, throttles, the audit log) reads time the same way.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

/// Unix seconds as RFC 3339 (`2026-11-30T10:00:00Z`), as the API writes times.
pub fn rfc3339(seconds: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(seconds.max(0).unsigned_abs());
    humantime::format_rfc3339_seconds(at).to_string()
}
