//! Requests in flight per client behind a trusted proxy.
//!
//! The per-address connection cap (`TODO_JWT_MAX_CONNECTIONS_PER_ADDRESS`, in `http::server`)
//! exempts the trusted proxies, since every client behind one shares its address. Behind a proxy
//! the same share applies per client, at the request level: a client named by the proxy (its
//! bucket, as the rate limits count it: the forwarded address, or its network prefix) has at
//! most that many requests in flight at once. One more is answered 429 at once (and, refused in
//! a loop, paced like any refusal, [`super::pace`]); counted in
//! `requests_refused_total{reason="client_in_flight"}` and logged at most once a minute.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::http::HeaderValue;

use super::Throttles;
use crate::http::error::ApiError;

/// How often a refusal is logged, at most.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// The requests in flight of each client behind a trusted proxy.
#[derive(Debug)]
pub struct ClientShares {
    throttles: Throttles,
    limit: usize,
    in_flight: Mutex<HashMap<String, usize>>,
    /// When a refusal was last logged, in seconds since the epoch.
    logged_at: AtomicU64,
}

/// One request in flight of a client, given back when dropped.
#[derive(Debug)]
pub struct Share {
    shares: Arc<ClientShares>,
    bucket: String,
}

impl ClientShares {
    /// At most `limit` requests in flight per client behind the proxies `throttles` trusts;
    /// `None` when it trusts none (every client is then held by the connection cap).
    pub fn new(throttles: Throttles, limit: usize) -> Option<Arc<Self>> {
        throttles.trusts_any().then(|| {
            Arc::new(Self {
                throttles,
                limit: limit.max(1),
                in_flight: Mutex::default(),
                logged_at: AtomicU64::new(0),
            })
        })
    }

    /// Whether requests from `peer` come through a trusted proxy (and so take a share).
    pub fn applies_to(&self, peer: IpAddr) -> bool {
        self.throttles.trusts(peer)
    }

    /// A place for one more request of the client `peer` (a trusted proxy) forwards for,
    /// unless it has its share in flight already (429).
    pub fn take<'a>(
        self: &Arc<Self>,
        peer: IpAddr,
        forwarded: impl IntoIterator<Item = &'a HeaderValue>,
    ) -> Result<Share, ApiError> {
        let bucket = self.throttles.bucket_of(peer, forwarded);
        {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let count = in_flight.entry(bucket.clone()).or_insert(0);
            if *count < self.limit {
                *count += 1;
                return Ok(Share {
                    shares: Arc::clone(self),
                    bucket,
                });
            }
        }
        metrics::counter!("requests_refused_total", "reason" => "client_in_flight").increment(1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let last = self.logged_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= LOG_EVERY.as_secs()
            && self
                .logged_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                client = %bucket,
                max = self.limit,
                "too many requests in flight from one client behind a proxy: refusing more \
                 (logged once a minute)"
            );
        }
        Err(ApiError::TooManyRequests {
            retry_after: 1,
            message: format!(
                "Too many requests in flight from this client (at most {}); retry when one has \
                 finished.",
                self.limit
            ),
        })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut in_flight = self
            .shares
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = in_flight.get_mut(&self.bucket) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.bucket);
            }
        }
    }
}
