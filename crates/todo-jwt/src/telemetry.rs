//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`).
//!
//! Request spans carry the method, the path (never the query string) and the request id; the
//! `Authorization` header, tokens and passwords are never recorded.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt().with_env_filter(filter).with_target(false).try_init();
}
