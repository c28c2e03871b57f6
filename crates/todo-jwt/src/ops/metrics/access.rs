//! Who may read `GET /metrics`: nobody, this machine's direct clients, or token holders.

use axum::http::{HeaderMap, header};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::http::server::PeerAddr;

/// Who may read `GET /metrics`. Not the world by default: its counters (logins, refusals,
/// throttling) tell an outsider how an attack is going.
#[derive(Clone, Debug)]
pub enum Access {
    /// Nobody: the route answers 404 and nothing is recorded.
    Off,
    /// Clients on this machine only: a loopback peer, connecting directly (a request that
    /// came through a proxy, with `X-Forwarded-For` or `Forwarded`, is not local).
    Local,
    /// Callers sending `Authorization: Bearer <token>` with this token (its SHA-256 is kept),
    /// from anywhere.
    Token([u8; 32]),
}

impl Access {
    /// From the settings: off, or local unless a token is given.
    pub fn new(enabled: bool, token: Option<&SecretString>) -> Self {
        match (enabled, token) {
            (false, _) => Self::Off,
            (true, None) => Self::Local,
            (true, Some(token)) => {
                Self::Token(Sha256::digest(token.expose_secret().as_bytes()).into())
            }
        }
    }

    /// Whether `headers` may read the metrics. Digests are compared, so the time taken says
    /// nothing about the token.
    pub(super) fn allows(&self, headers: &HeaderMap, peer: Option<PeerAddr>) -> bool {
        match self {
            Self::Off => false,
            Self::Local => {
                let proxied = headers.contains_key("x-forwarded-for")
                    || headers.contains_key(header::FORWARDED);
                !proxied
                    && peer
                        .is_some_and(|PeerAddr(address)| address.ip().to_canonical().is_loopback())
            }
            Self::Token(expected) => headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .is_some_and(|given| Sha256::digest(given.as_bytes())[..] == expected[..]),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::{Access, PeerAddr};

    #[test]
    fn by_default_only_a_direct_client_on_this_machine_may_read() {
        let local = Access::new(true, None);
        let peer = |address: &str| Some(PeerAddr(address.parse().expect("address")));
        let direct = HeaderMap::new();
        assert!(local.allows(&direct, peer("127.0.0.1:5000")));
        assert!(local.allows(&direct, peer("[::1]:5000")));
        assert!(local.allows(&direct, peer("[::ffff:127.0.0.1]:5000")));
        assert!(!local.allows(&direct, peer("192.0.2.7:5000")));
        assert!(!local.allows(&direct, None));
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-for", HeaderValue::from_static("192.0.2.7"));
        assert!(!local.allows(&proxied, peer("127.0.0.1:5000")));
        assert!(!Access::new(false, None).allows(&direct, peer("127.0.0.1:5000")));
    }
}
