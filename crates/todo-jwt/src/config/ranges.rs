//! The accepted range of every numeric setting, written once: the flag parser checks flags
//! and `TODO_JWT_*` variables against them, and [`super::Settings::new`] checks a [`super::Config`]
//! built in code the same way. The bounds keep every derived time and size representable
//! (no `Instant` overflow, no wrapped `exp`), and are far beyond any sensible value.

use std::ops::RangeInclusive;

/// One day, in seconds.
pub(super) const DAY: u64 = 86_400;
/// One year, in seconds.
const YEAR: u64 = 365 * DAY;

/// `--token-lifetime`, seconds: up to a year.
pub const TOKEN_LIFETIME: RangeInclusive<u64> = 1..=YEAR;
/// `--db-pool-size`, connections.
pub const DB_POOL_SIZE: RangeInclusive<u64> = 1..=1_000;
/// `--query-timeout-ms`: up to an hour.
pub const QUERY_TIMEOUT_MS: RangeInclusive<u64> = 1..=3_600_000;
/// `--session-lifetime`, seconds: up to ten years.
pub const SESSION_LIFETIME: RangeInclusive<u64> = 1..=10 * YEAR;
/// `--refresh-reuse-interval`, seconds: up to an hour.
pub const REFRESH_REUSE_INTERVAL: RangeInclusive<u64> = 0..=3_600;
/// `--max-sessions-per-account`.
pub const SESSIONS_PER_ACCOUNT: RangeInclusive<u64> = 1..=1_000_000;
/// `--max-events-per-account`.
pub const EVENTS_PER_ACCOUNT: RangeInclusive<u64> = 1..=1_000_000;
/// `--login-max-failures` (0: no limit).
pub const LOGIN_MAX_FAILURES: RangeInclusive<u64> = 0..=1_000_000;
/// `--login-failure-window`, seconds: up to 30 days.
pub const LOGIN_FAILURE_WINDOW: RangeInclusive<u64> = 1..=30 * DAY;
/// `--auth-rate-limit`, requests a minute (0: no limit).
pub const AUTH_RATE_LIMIT: RangeInclusive<u64> = 0..=1_000_000;
/// `--refusals-per-second` (0: never held back).
pub const REFUSALS_PER_SECOND: RangeInclusive<u64> = 0..=1_000_000;
/// `--ipv4-prefix`: the bits of an IPv4 address that make one client.
pub const IPV4_PREFIX: RangeInclusive<u64> = 8..=32;
/// `--ipv6-prefix`: the bits of an IPv6 address that make one client.
pub const IPV6_PREFIX: RangeInclusive<u64> = 16..=128;
/// `--max-hash-wait-ms` (0: never refused): up to ten minutes.
pub const MAX_HASH_WAIT_MS: RangeInclusive<u64> = 0..=600_000;
/// `--max-connections-per-address`.
pub const MAX_CONNECTIONS_PER_ADDRESS: RangeInclusive<u64> = 1..=1_000_000;
/// `--max-connections`.
pub const MAX_CONNECTIONS: RangeInclusive<u64> = 1..=1_000_000;
/// `--header-timeout`, `--body-timeout`, `--send-timeout`, seconds: up to an hour.
pub const IO_TIMEOUT: RangeInclusive<u64> = 1..=3_600;
/// `--min-send-rate`, KiB a second (0: none): up to 1 GiB a second.
pub const MIN_SEND_RATE: RangeInclusive<u64> = 0..=1_048_576;
/// `--drain-period`, seconds: up to five minutes.
pub const DRAIN_PERIOD: RangeInclusive<u64> = 0..=300;
/// `--shutdown-timeout`, seconds: up to an hour.
pub const SHUTDOWN_TIMEOUT: RangeInclusive<u64> = 1..=3_600;
/// `--body-memory-mb`, `--response-memory-mb`: up to 64 GiB.
pub const MEMORY_MB: RangeInclusive<u64> = 1..=65_536;
/// `--max-title-length`, `--max-desc-length`, characters.
pub const TEXT_LENGTH: RangeInclusive<u64> = 1..=10_000_000;
/// `--max-todos-per-user`.
pub const TODOS_PER_USER: RangeInclusive<u64> = 1..=1_000_000_000_000;
/// `--backup-interval`, seconds (0: only on `SIGUSR1`): up to a year.
pub const BACKUP_INTERVAL: RangeInclusive<u64> = 0..=YEAR;
/// `--backup-keep`.
pub const BACKUP_KEEP: RangeInclusive<u64> = 1..=10_000;
/// `--audit-retention-days`: up to a hundred years.
pub const AUDIT_RETENTION_DAYS: RangeInclusive<u64> = 1..=36_500;
/// `--keys-reload-interval`, seconds: up to an hour.
pub const KEYS_RELOAD_INTERVAL: RangeInclusive<u64> = 1..=3_600;
/// `--key-activation-delay`, seconds: up to a year.
pub const KEY_ACTIVATION_DELAY: RangeInclusive<u64> = 0..=YEAR;
/// `--token-cache-size`, tokens (0: none).
pub const TOKEN_CACHE_SIZE: RangeInclusive<u64> = 0..=10_000_000;
