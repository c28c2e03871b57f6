//! Who is logging in: the client's `User-Agent` and address, kept on the session so that a
//! user can tell their sessions apart.

use axum::{
    extract::FromRequestParts,
    http::{Extensions, HeaderMap, HeaderValue, header, request::Parts},
};

use crate::http::server::PeerAddr;

/// The client's rate-limit bucket (its network: an IPv4 address or an IPv6 /64 by default,
/// through trusted proxies), as the throttle's layer computed it for the request. Attempts
/// that name no account are counted per bucket, so one host cannot spread them over rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientBucket(pub std::sync::Arc<str>);

/// The longest `User-Agent` kept, in characters.
const MAX_USER_AGENT: usize = 256;

/// The client of a login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The `User-Agent` header, if it is text, cut to 256 characters.
    pub user_agent: Option<String>,
    /// The peer's IP address.
    pub ip: Option<String>,
}

impl ClientInfo {
    /// From a request's headers and extensions.
    pub fn of(headers: &HeaderMap, extensions: &Extensions) -> Self {
        Self::from_parts(
            headers.get(header::USER_AGENT),
            extensions.get::<PeerAddr>().copied(),
        )
    }

    /// From a `User-Agent` header value and the peer's address.
    pub fn from_parts(user_agent: Option<&HeaderValue>, peer: Option<PeerAddr>) -> Self {
        let user_agent = user_agent
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(MAX_USER_AGENT).collect());
        let ip = peer.map(|PeerAddr(address)| address.ip().to_canonical().to_string());
        Self { user_agent, ip }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.headers, &parts.extensions))
    }
}
