//! Metrics in Prometheus' text format at `GET /metrics`.
//!
//! Recorded through the `metrics` facade wherever they happen (a login's outcome in the
//! session service, a refusal in the authentication observer), without a handle passed
//! around; rendered by `metrics-exporter-prometheus`. Gauges that describe a state (the
//! password queue, the database pool, process memory and CPU) are read when scraped.
//!
//! Series names and labels are bounded: routes are templates (`/todos/{id}`) or `unmatched`,
//! methods outside the standard ones are `other`, reasons and outcomes are fixed words.

use std::{sync::OnceLock, time::Duration};

use axum::{
    Extension,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

mod access;
mod track;

pub use access::Access;
pub use track::TrackLayer;

use crate::{
    http::{error::ApiError, server::PeerAddr},
    store::Store,
};

/// The request latency histogram's buckets, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The password queue's wait histogram's buckets, in seconds.
const WAIT_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// The process-wide recorder, installed by the first service that enables metrics (a process
/// has one `metrics` recorder; the tests run many services in one).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &LATENCY_BUCKETS,
                )
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full("password_hash_wait_seconds".into()),
                        &WAIT_BUCKETS,
                    )
                });
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics are off: cannot install the recorder");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "storage_full_total",
        "Writes refused (507) because the database had no room to write"
    );
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request (to its response head), by method and route template"
    );
    metrics::describe_counter!(
        "auth_failures_total",
        "Bearer tokens refused, by reason (missing, malformed, expired, not_active, \
         bad_signature, invalid, revoked, session_ended, other)"
    );
    metrics::describe_counter!(
        "log_lines_dropped_total",
        "Log lines dropped because the log's output stalled with 4 MiB of lines waiting"
    );
    metrics::describe_counter!(
        "database_statements_total",
        "Statements sent to PostgreSQL (each a round trip; preparing one not yet cached on its \
         connection is one more)"
    );
    metrics::describe_counter!(
        "logins_total",
        "Password checks at login, by outcome (success, bad_credentials, throttled, shed)"
    );
    metrics::describe_counter!(
        "refreshes_total",
        "Refresh token exchanges, by outcome (success, refused, reuse_detected)"
    );
    metrics::describe_gauge!(
        "password_hash_queue_length",
        "Password hashes queued or running"
    );
    metrics::describe_histogram!(
        "password_hash_wait_seconds",
        metrics::Unit::Seconds,
        "Time a password hash waited for a thread"
    );
    metrics::describe_gauge!(
        "db_pool_connections",
        "PostgreSQL connections of this instance, by state (in_use, idle, shared, max)"
    );
}

/// A gauge its owner sets when the metrics are read (the password queue's length, say): the
/// owner knows its state and its series' name; this module only asks.
pub type Gauge = Box<dyn Fn() + Send + Sync>;

/// The metrics endpoint's state.
#[derive(Clone)]
pub struct Metrics {
    access: Access,
    handle: Option<PrometheusHandle>,
    process: std::sync::Arc<metrics_process::Collector>,
    gauges: std::sync::Arc<[Gauge]>,
    store: Store,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("access", &self.access)
            .field("enabled", &self.handle.is_some())
            .field("gauges", &self.gauges.len())
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Installs the recorder (once per process) unless `access` is off. `gauges` are set
    /// each time the metrics are read.
    pub fn new(access: Access, store: Store, gauges: Vec<Gauge>) -> Self {
        let handle = match access {
            Access::Off => None,
            _ => install(),
        };
        let process = metrics_process::Collector::default();
        if handle.is_some() {
            process.describe();
        }
        Self {
            access,
            handle,
            process: std::sync::Arc::new(process),
            gauges: gauges.into(),
            store,
        }
    }

    /// Whether metrics are recorded and served.
    pub fn enabled(&self) -> bool {
        self.handle.is_some()
    }

    /// Drains what histograms buffer; called every few seconds by the service.
    pub fn upkeep(&self) {
        if let Some(handle) = &self.handle {
            handle.run_upkeep();
        }
    }
}

/// `GET /metrics`: every series in Prometheus' text format (version 0.0.4). 404 when metrics
/// are off; 401 without the configured token; without one, 403 to a client that is not on
/// this machine. Never shared with other origins (see `without_cors`).
pub async fn render(
    State(metrics): State<Metrics>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let Some(handle) = &metrics.handle else {
        return ApiError::EndpointNotFound(Method::GET, "/metrics".to_owned()).into_response();
    };
    if !metrics
        .access
        .allows(&headers, peer.map(|Extension(peer)| peer))
    {
        return match metrics.access {
            Access::Local => ApiError::Forbidden(
                "The metrics are served to clients on this machine only; set a metrics token \
                 to read them from elsewhere."
                    .to_owned(),
            ),
            _ => ApiError::Unauthorized("A valid metrics token is required.".to_owned()),
        }
        .into_response();
    }
    metrics.process.collect();
    for gauge in metrics.gauges.iter() {
        gauge();
    }
    #[allow(clippy::cast_precision_loss)] // queue lengths and pool sizes are small
    {
        if let Some(pool) = metrics.store.pool_status() {
            metrics::gauge!("db_pool_connections", "state" => "in_use").set(pool.in_use as f64);
            metrics::gauge!("db_pool_connections", "state" => "idle").set(pool.idle as f64);
            metrics::gauge!("db_pool_connections", "state" => "shared").set(pool.shared as f64);
            metrics::gauge!("db_pool_connections", "state" => "max").set(pool.max as f64);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        handle.render(),
    )
        .into_response()
}

/// Counts a request no route matched (the router's fallbacks), under the route `unmatched`.
pub fn unmatched(method: &Method, status: u16) {
    if recording() {
        record(method_label(method), "unmatched", status, None);
    }
}

/// Whether a recorder is installed (metrics are on somewhere in the process).
fn recording() -> bool {
    HANDLE.get().is_some_and(Option::is_some)
}

/// One series of the request metrics, with its handles.
struct Series {
    method: &'static str,
    status: u16,
    count: metrics::Counter,
    latency: metrics::Histogram,
}

thread_local! {
    /// The handles of the request series this thread has recorded, by route: looking a series
    /// up by its labels in the recorder allocates them and takes a lock each time (measured:
    /// metrics cost 6% of `GET /todos`); this is a map lookup by the route and a scan of a
    /// few entries. Bounded: routes are templates, methods and statuses few.
    /// (Hashed with foldhash: the keys are the app's own route templates, not a client's
    /// text, and SipHash showed in callgrind's profile of `GET /todos`.)
    static SERIES: std::cell::RefCell<SeriesMap> = std::cell::RefCell::default();
}

type SeriesMap = std::collections::HashMap<Box<str>, Vec<Series>, foldhash::fast::RandomState>;

fn record(method: &'static str, route: &str, status: u16, took: Option<Duration>) {
    SERIES.with_borrow_mut(|routes| {
        // One lookup for a route seen before (`entry` would copy the route every time).
        if let Some(entries) = routes.get_mut(route) {
            count(entries, (method, route, status), took);
        } else {
            let entries = routes.entry(route.into()).or_default();
            count(entries, (method, route, status), took);
        }
    });
}

/// Counts a request in its series among `entries` (its route's), made if new.
fn count(
    entries: &mut Vec<Series>,
    (method, route, status): (&'static str, &str, u16),
    took: Option<Duration>,
) {
    let index = entries
        .iter()
        .position(|series| series.method == method && series.status == status)
        .unwrap_or_else(|| {
            let route = route.to_owned();
            entries.push(Series {
                method,
                status,
                count: metrics::counter!(
                    "http_requests_total",
                    "method" => method,
                    "route" => route.clone(),
                    "status" => status.to_string()
                ),
                latency: metrics::histogram!(
                    "http_request_duration_seconds",
                    "method" => method,
                    "route" => route
                ),
            });
            entries.len() - 1
        });
    let series = &entries[index];
    series.count.increment(1);
    if let Some(took) = took {
        series.latency.record(took);
    }
}

/// The method as a label: the standard ones by name, any other as `other` (a client choosing
/// methods must not choose series).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts a refused caller by reason: the reason's word, so the labels are a closed set.
pub fn auth_failure(reason: authn::FailureReason) {
    metrics::counter!("auth_failures_total", "reason" => reason.as_str()).increment(1);
}

/// A login's outcome.
pub fn login(outcome: &'static str) {
    metrics::counter!("logins_total", "outcome" => outcome).increment(1);
}

/// A second-factor event (`mfa_enrolled`, `mfa_activated`, `mfa_verified`, `mfa_failed`,
/// `mfa_disabled`, `recovery_code_used`, `recovery_codes_regenerated`).
pub fn second_factor(event: &'static str) {
    metrics::counter!("second_factor_events_total", "event" => event).increment(1);
}

/// A refresh's outcome.
pub fn refresh(outcome: &'static str) {
    metrics::counter!("refreshes_total", "outcome" => outcome).increment(1);
}

/// How long a password hash waited for a thread.
pub fn hash_wait(waited: Duration) {
    metrics::histogram!("password_hash_wait_seconds").record(waited);
}

/// The router's fallback, counted: LoopBack's 404 for an unknown route.
pub async fn endpoint_not_found(method: Method, uri: Uri) -> ApiError {
    unmatched(&method, StatusCode::NOT_FOUND.as_u16());
    ApiError::EndpointNotFound(method, uri.path().to_owned())
}

/// The router's fallback for a known path and an unserved method (axum adds `Allow`), counted.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    unmatched(&method, StatusCode::METHOD_NOT_ALLOWED.as_u16());
    ApiError::MethodNotAllowed(method, uri.path().to_owned())
}
