//! What a token says: the claims written, the facts a verified token yields, and the lenient
//! reading of a presented token's claims.

use authn::UserProfile;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The claims of an access token: LoopBack's, plus the registered claims we add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id (LoopBack's `securityId`).
    pub id: String,
    /// The user's name, omitted when the user has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at (seconds since the epoch).
    pub exp: u64,
    /// The subject: the user id again, for standard JWT tooling.
    pub sub: String,
    /// The issuer.
    pub iss: String,
    /// The audience.
    pub aud: String,
    /// A unique token id, so one token can be told from another.
    pub jti: String,
    /// The session the token belongs to, when the issuer tracks sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The assurance level the session reached (`aal1`, `aal2`), for accounts with a second
    /// factor; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aal: Option<String>,
    /// How the user authenticated (RFC 8176: `pwd`, `otp`), with `aal`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// A token whose signature, algorithm, issuer, audience and times have been checked: who it
/// speaks for, and the facts about the token itself that revocation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The profile the token carries (`id`, `name`, `email`; `sid` as [`UserProfile::session`]).
    pub user: UserProfile,
    /// `jti`, when the token has one.
    pub token_id: Option<String>,
    /// `iat` (seconds since the epoch), when the token has one.
    pub issued_at: Option<u64>,
    /// `exp` (seconds since the epoch); always present.
    pub expires_at: u64,
}

/// What is read from a token. jsonwebtoken deserialises this before it validates the standard
/// claims, so the claims it validates (`exp`) and the ones we only pass on (`jti`, `sid`,
/// `iat`) are read leniently: an odd type there is the validator's to judge (or ignored), not
/// a parse failure.
#[derive(Deserialize)]
pub(crate) struct PresentedClaims {
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    sid: Option<Value>,
    #[serde(default)]
    jti: Option<Value>,
    #[serde(default)]
    iat: Option<Value>,
    #[serde(default)]
    exp: Option<Value>,
    #[serde(default)]
    aal: Option<Value>,
    #[serde(default)]
    amr: Option<Value>,
}

fn text(value: Option<Value>) -> Option<String> {
    match value {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}

/// A time claim in seconds, read as jsonwebtoken's validator reads it: an integer, or a finite
/// non-negative number rounded (RFC 7519 allows fractional dates).
fn seconds(value: Option<&Value>) -> Option<u64> {
    let value = value?;
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0 && *seconds < u64::MAX as f64)
            .map(|seconds| seconds.round() as u64)
    })
}

impl PresentedClaims {
    /// What a token whose signature and standard claims have been validated says, or `None`
    /// when it lacks what we require: the validator has required `exp` as a number; a
    /// non-empty `id` is ours to require.
    pub(crate) fn into_verified(self) -> Option<VerifiedToken> {
        let Self {
            id,
            name,
            email,
            sid,
            jti,
            iat,
            exp,
            aal,
            amr,
        } = self;
        let id = id.filter(|id| !id.is_empty())?;
        Some(VerifiedToken {
            user: UserProfile {
                id,
                name,
                email,
                session: text(sid),
                aal: text(aal),
                amr: match amr {
                    Some(Value::Array(values)) => values
                        .into_iter()
                        .filter_map(|value| text(Some(value)))
                        .collect(),
                    _ => Vec::new(),
                },
            },
            token_id: text(jti),
            issued_at: seconds(iat.as_ref()),
            expires_at: seconds(exp.as_ref())?,
        })
    }
}
