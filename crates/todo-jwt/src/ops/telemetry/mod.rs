//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as text or JSON. The
//! service's process writes its lines from a thread of their own ([`init_service`]).
//!
//! At `info` every request is one line ([`front`]): method, route template (never the raw
//! path or the query string), status, latency, request id, and the user id once a token is
//! accepted ([`context`]). The `Authorization` header, tokens and passwords are never
//! recorded.

pub mod batch;
pub mod context;
pub mod front;
mod line;

use std::io::IsTerminal;

use tracing_subscriber::{
    EnvFilter, fmt,
    fmt::{MakeWriter, format::JsonFields},
};

/// The log lines' format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, coloured only when stderr is a terminal.
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// Installs the global subscriber once for a test binary, in text: lines go through the test
/// harness's capture, so a passing test prints none and a failing one prints its own.
pub fn init_for_tests() {
    install(
        LogFormat::Text,
        tracing_subscriber::fmt::TestWriter::default(),
    );
}

/// Installs the global subscriber once, writing `format` to stderr; later calls are ignored.
/// Colours only when stderr is a terminal, so files and collectors get plain text.
pub fn init_with(format: LogFormat) {
    install(format, std::io::stderr);
}

/// [`init_with`] for the service's process: each line is formatted on the thread that logs it
/// and appended to a buffer that a thread of its own writes out in batches ([`batch`]).
/// Measured with `bench/ab.sh` on `GET /todos`: the request log took the throughput to 0.69
/// of the same server logging nothing; written from a thread of its own, the throughput was
/// 1.28 times that. Keep the flusher until the process ends: dropping it writes what is left.
/// `None` (and lines written as they come) when the writing thread cannot be started.
pub fn init_service(format: LogFormat) -> Option<batch::Flusher<std::io::Stderr>> {
    match batch::batched(std::io::stderr()) {
        Ok((writer, flusher)) => {
            install(format, writer);
            Some(flusher)
        }
        Err(_) => {
            init_with(format);
            None
        }
    }
}

fn install<W>(format: LogFormat, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A log line that cannot be written (stderr on a full disk) is dropped: by default the
    // subscriber reports it with `eprintln!`, which panics when stderr fails too, and a panic
    // there, outside the handlers' panic catcher, dropped the request's connection unanswered.
    let builder = fmt()
        .log_internal_errors(false)
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    let _ = match format {
        // Coloured levels on a terminal only ([`line`]).
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(line::Fields)
            .event_format(line::Line)
            .try_init(),
        // The request's fields as the object's `span` ([`context::JsonLine`]).
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(context::JsonLine(
                fmt::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_target(false),
            ))
            .try_init(),
    };
}

/// The `authn` observer: records the user of an accepted token in the request's context (so
/// the request's line names them), and logs each refusal at `debug` with its reason, never the
/// token: not at `info`, where a client sending bad tokens in a loop would flood the log.
/// Internal failures are logged at `error` where they are rendered, with their cause.
pub fn log_auth_outcome(request: &axum::http::request::Parts, outcome: authn::AuthOutcome<'_>) {
    match outcome {
        authn::AuthOutcome::Authenticated { strategy, user } => {
            context::record_user(&user.id);
            tracing::debug!(strategy, "authenticated");
        }
        authn::AuthOutcome::Refused(error @ authn::AuthError::Unauthorized { reason, .. }) => {
            crate::ops::metrics::auth_failure(*reason);
            tracing::debug!(
                path = request.uri.path(),
                reason = reason.as_str(),
                message = %error,
                "authentication refused"
            );
        }
        authn::AuthOutcome::Refused(_) | authn::AuthOutcome::Anonymous(_) => {}
    }
}
