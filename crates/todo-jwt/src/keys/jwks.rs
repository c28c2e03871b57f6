//! `GET /.well-known/jwks.json`: the public keys, for anyone verifying our tokens.

use authn_jwt::KeySet;
use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;

use super::{JWKS_CACHE_CONTROL, Keyring};

pub(super) fn jwks_body(set: &KeySet) -> Bytes {
    Bytes::from(set.jwks().to_string())
}

/// A public key as the JWK Set lists it (RFC 8037).
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the JSON the key set writes")]
pub struct PublicJwk {
    /// `OKP`.
    #[schema(example = "OKP")]
    kty: String,
    /// `Ed25519`.
    #[schema(example = "Ed25519")]
    crv: String,
    /// The public key, base64url.
    #[schema(example = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")]
    x: String,
    /// The key id: tokens it signs carry it as their header's `kid`.
    #[schema(example = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")]
    kid: String,
    /// `EdDSA`.
    #[schema(example = "EdDSA")]
    alg: String,
    /// `sig`.
    #[schema(rename = "use", example = "sig")]
    use_: String,
}

/// The JWK Set (RFC 7517).
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the JSON the key set writes")]
pub struct Jwks {
    /// The keys tokens may be signed with: the one signing now, the next one (published
    /// before it signs) and the previous ones (until their tokens expire). Empty while the
    /// service signs with HS256, whose key is secret.
    keys: Vec<PublicJwk>,
}

/// The public keys access tokens are verified with (a JWK Set): fetch it, pick the key named
/// by a token's `kid`, and verify the EdDSA signature, with any JWT library. Cacheable for 5
/// minutes; a new key is listed at least 10 minutes (by default) before it signs.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "KeysController",
    operation_id = "KeysController.jwks",
    responses((status = 200, description = "The JWK Set", body = Jwks)),
)]
pub async fn jwks(State(keyring): State<Keyring>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(JWKS_CACHE_CONTROL),
            ),
        ],
        keyring.jwks(),
    )
        .into_response()
}
