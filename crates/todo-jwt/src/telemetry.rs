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

/// The `authn` observer that logs each authentication outcome at `debug` (refusals with their
/// reason, never the token): not at `info`, where a client sending bad tokens in a loop would
/// flood the log. Internal failures are logged at `error` where they are rendered, with their
/// cause.
pub fn log_auth_outcome(request: &axum::http::request::Parts, outcome: authn::AuthOutcome<'_>) {
    match outcome {
        authn::AuthOutcome::Authenticated { strategy, user } => {
            tracing::debug!(strategy, user = %user.id, "authenticated");
        }
        authn::AuthOutcome::Refused(error) if error.is_unauthorized() => {
            tracing::debug!(path = request.uri.path(), reason = %error, "authentication refused");
        }
        authn::AuthOutcome::Refused(_) | authn::AuthOutcome::Anonymous(_) => {}
    }
}
