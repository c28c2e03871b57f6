//! The settings that are comma-separated lists: the trusted proxies and the CORS origins, each
//! entry checked, so that a typo stops the start rather than silently trusting or refusing.

use axum::http::HeaderValue;

use super::ConfigError;

/// `TODO_JWT_TRUSTED_PROXIES`: addresses or CIDRs, comma-separated.
pub(super) fn trusted_proxies(list: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|proxy| !proxy.is_empty())
        .map(|proxy| {
            proxy
                .parse::<ipnet::IpNet>()
                .or_else(|_| proxy.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| ConfigError::TrustedProxy(proxy.to_owned()))
        })
        .collect()
}

/// `TODO_JWT_CORS_ORIGINS`: origins, comma-separated, or `*` (empty: any).
pub(super) fn cors_origins(list: &str) -> Result<Vec<HeaderValue>, ConfigError> {
    let list = list.trim();
    if list == "*" {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            // An origin is a scheme and a host (and port), nothing after: what browsers send
            // in `Origin`, compared byte for byte.
            let shaped = origin.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(['/', ' '])
            });
            match HeaderValue::from_str(origin) {
                Ok(value) if shaped => Ok(value),
                _ => Err(ConfigError::CorsOrigin(origin.to_owned())),
            }
        })
        .collect()
}
