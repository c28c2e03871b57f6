//! Abuse protection for the credential endpoints, with counters in the database so every
//! instance enforces one limit:
//!
//! - **per account**: after `max_failures` failed password checks for one email within
//!   `window`, every attempt for it (the right password too) is 429 until the window ends; a
//!   success forgets the failures;
//! - **per client address**: at most `per_minute` requests a minute to the credential
//!   endpoints and `/signup`; the address is the socket's peer, or, when the peer is a trusted
//!   proxy, the first untrusted address of `X-Forwarded-For` read from the right.

use std::{net::IpAddr, sync::Arc};

pub mod pace;
pub mod shares;

use axum::{
    extract::{FromRef, FromRequestParts, Request, State},
    http::{Extensions, HeaderMap, HeaderValue, request::Parts},
    middleware::Next,
    response::Response,
};
use ipnet::IpNet;

use crate::{
    audit::{self, AuthEvent, ClientBucket},
    clock::now,
    http::error::ApiError,
    http::server::PeerAddr,
    store::Store,
};

/// A password check reserved by [`Throttles::reserve`]: which attempt of the window it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt(i64);

/// The limits, and where their counters live.
#[derive(Clone, Debug)]
pub struct Throttles(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    max_failures: i64,
    window: i64,
    per_minute: i64,
    trusted: Vec<IpNet>,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
}

/// The limits as configured (0 turns one off).
#[derive(Clone, Debug)]
pub struct ThrottleLimits {
    /// Failed password checks for one email within `failure_window` before it is locked.
    pub max_failures: u64,
    /// Seconds the failures are counted over (and an account stays locked).
    pub failure_window: u64,
    /// Credential requests per minute per client address.
    pub per_minute: u64,
    /// Refusals a second per client before they are held back ([`pace`]; 0: never).
    pub refusals_per_second: u64,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The IPv4 prefix that counts as one client (32: an address).
    pub ipv4_prefix: u8,
    /// The IPv6 prefix that counts as one client (64: a host's usual allocation).
    pub ipv6_prefix: u8,
}

fn too_many(retry_after: i64, what: &str) -> ApiError {
    ApiError::TooManyRequests {
        retry_after: u64::try_from(retry_after.max(1)).unwrap_or(1),
        message: what.to_owned(),
    }
}

impl Throttles {
    /// The limits over `store`.
    pub fn new(store: Store, limits: ThrottleLimits) -> Self {
        let signed = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        Self(Arc::new(Inner {
            store,
            max_failures: signed(limits.max_failures),
            window: signed(limits.failure_window.max(1)),
            per_minute: signed(limits.per_minute),
            trusted: limits.trusted_proxies,
            ipv4_prefix: limits.ipv4_prefix.min(32),
            ipv6_prefix: limits.ipv6_prefix.min(128),
        }))
    }

    fn account_key(email: &str) -> String {
        format!("login:{}", email.trim().to_lowercase())
    }

    /// Reserves a password check for `email` before it runs: the attempt is counted first,
    /// and refused (429, no hashing) once the account has used its attempts for the window,
    /// the right password included. Counting before checking means attempts in flight count
    /// too: however many arrive at once, at most the limit's worth are hashed per window.
    /// After the check, [`Throttles::failed`], [`Throttles::succeeded`] or (no verdict)
    /// [`Throttles::release`].
    pub async fn reserve(&self, email: &str) -> Result<Attempt, ApiError> {
        if self.0.max_failures == 0 {
            return Ok(Attempt(0));
        }
        let now = now();
        let counter = self
            .0
            .store
            .throttle()
            .hit(&Self::account_key(email), now, self.0.window)
            .await?;
        if counter.count > self.0.max_failures {
            // Counted, not recorded: the event was recorded once, when the account locked.
            crate::ops::metrics::login("throttled");
            return Err(too_many(
                counter.expires_at - now,
                "Too many failed logins for this account; try again later.",
            ));
        }
        Ok(Attempt(counter.count))
    }

    /// A reserved check failed; the failure that locks the account (the last attempt the
    /// window allows) is recorded as a `throttled` event, once per window (a refused attempt
    /// after it is only counted: an attacker hammering a locked account must not fill the
    /// audit log). `user` is the email's account, if it has one (the lock of an email
    /// without one is counted per client, as the failures are).
    pub async fn failed(
        &self,
        email: &str,
        user: Option<&str>,
        attempt: Attempt,
    ) -> Result<(), ApiError> {
        if self.0.max_failures > 0 && attempt.0 == self.0.max_failures {
            audit::record(
                self.0.store.audit(),
                AuthEvent::Throttled {
                    reason: "account",
                    email: Some(email),
                    user,
                },
            )
            .await?;
        }
        Ok(())
    }

    /// A reserved check did not happen (hashing was shed, the database failed): its attempt
    /// is given back. Best effort: should this fail too, the attempt stays counted.
    pub async fn release(&self, email: &str) {
        if self.0.max_failures > 0
            && let Err(error) = self
                .0
                .store
                .throttle()
                .release(&Self::account_key(email))
                .await
        {
            tracing::warn!(cause = %crate::http::error::chain(&error), "cannot give back a login attempt");
        }
    }

    /// Forgets `email`'s failures after a successful check.
    pub async fn succeeded(&self, email: &str) -> Result<(), ApiError> {
        if self.0.max_failures > 0 {
            self.0
                .store
                .throttle()
                .clear(&Self::account_key(email))
                .await?;
        }
        Ok(())
    }

    /// Counts a credential request from the client `bucket` ([`Throttles::client_bucket`]);
    /// 429 beyond the per-minute limit.
    pub async fn hit_address(&self, bucket: Option<&str>) -> Result<(), ApiError> {
        let (Some(key), true) = (bucket, self.0.per_minute > 0) else {
            return Ok(());
        };
        let now = now();
        let counter = self.0.store.throttle().hit(key, now, 60).await?;
        if counter.count > self.0.per_minute {
            crate::ops::metrics::login("throttled");
            // Recorded once per window, at the first refusal; the others are only counted.
            if counter.count == self.0.per_minute + 1 {
                audit::record(
                    self.0.store.audit(),
                    AuthEvent::Throttled {
                        reason: "address",
                        email: None,
                        user: None,
                    },
                )
                .await?;
            }
            return Err(too_many(
                counter.expires_at - now,
                "Too many requests from this address; try again later.",
            ));
        }
        Ok(())
    }

    /// Removes the counters whose windows have ended.
    pub async fn remove_expired(&self) -> Result<u64, ApiError> {
        Ok(self.0.store.throttle().remove_expired(now()).await?)
    }

    /// Whose allowance a request uses: the client's network (the peer's, or, through
    /// trusted proxies, `X-Forwarded-For`'s first untrusted hop from the right), as a prefix
    /// (`/64` for IPv6 by default: one host holds a whole /64, and would otherwise have a
    /// budget per address; `/32` for IPv4). A hop that does not parse, behind a trusted proxy,
    /// puts the request in one bucket of its own, never in the proxy's (which every client
    /// behind it shares).
    pub fn client_bucket(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<String> {
        let PeerAddr(peer) = extensions.get::<PeerAddr>()?;
        Some(self.bucket_of(peer.ip(), headers.get_all(FORWARDED_FOR).iter()))
    }

    /// Whether any proxy is trusted.
    pub fn trusts_any(&self) -> bool {
        !self.0.trusted.is_empty()
    }

    /// Whether `peer` is a trusted proxy (whose `X-Forwarded-For` names the client).
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.0.trusted.iter().any(|net| net.contains(&peer))
    }

    /// The bucket of a request from `peer` with these `X-Forwarded-For` values (see
    /// [`Throttles::client_bucket`]).
    pub fn bucket_of<'a>(
        &self,
        peer: IpAddr,
        forwarded: impl IntoIterator<Item = &'a HeaderValue>,
    ) -> String {
        let peer = peer.to_canonical();
        let trusted = |address: &IpAddr| self.0.trusted.iter().any(|net| net.contains(address));
        let mut client = peer;
        if trusted(&peer) {
            let hops = forwarded
                .into_iter()
                .map(|value| value.to_str().ok())
                .collect::<Option<Vec<_>>>();
            let Some(hops) = hops else {
                return UNPARSABLE.to_owned();
            };
            let mut hops: Vec<&str> = hops.iter().flat_map(|value| value.split(',')).collect();
            hops.reverse();
            for hop in hops {
                let Some(address) = hop_address(hop) else {
                    return UNPARSABLE.to_owned();
                };
                client = address;
                if !trusted(&client) {
                    break;
                }
            }
        }
        let prefix = match client {
            IpAddr::V4(_) => self.0.ipv4_prefix,
            IpAddr::V6(_) => self.0.ipv6_prefix,
        };
        let network = IpNet::new(client, prefix).map_or(IpNet::from(client), |net| net.trunc());
        format!("ip:{network}")
    }
}

/// The header a trusted proxy names its client in.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// Puts the request's client bucket ([`Throttles::client_bucket`]) in its extensions, for the
/// per-address limit and the audit log's counts: a route layer of the credential and session
/// routes, outside the audit context's.
pub async fn identify_client(
    State(throttles): State<Throttles>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(bucket) = throttles.client_bucket(request.headers(), request.extensions()) {
        request
            .extensions_mut()
            .insert(ClientBucket(Arc::from(bucket)));
    }
    next.run(request).await
}

/// The bucket of requests whose forwarded client address does not parse.
const UNPARSABLE: &str = "ip:unparsable";

/// One `X-Forwarded-For` entry's address: plain, with a port (`192.0.2.1:443`), or bracketed
/// (`[2001:db8::1]`, `[2001:db8::1]:443`), quoted or not; IPv4-mapped IPv6 as IPv4.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    let address = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|at| at.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(address.to_canonical())
}

/// Extractor for the credential routes: counts the request against its client address's
/// limit (429 beyond it) before the handler runs.
pub struct AddressLimited;

impl<S> FromRequestParts<S> for AddressLimited
where
    S: Send + Sync,
    Throttles: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let throttles = Throttles::from_ref(state);
        let bucket = match parts.extensions.get::<ClientBucket>() {
            Some(ClientBucket(bucket)) => Some(bucket.to_string()),
            None => throttles.client_bucket(&parts.headers, &parts.extensions),
        };
        throttles.hit_address(bucket.as_deref()).await?;
        Ok(Self)
    }
}
