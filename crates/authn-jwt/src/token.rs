use std::time::Duration;

use authn::UserProfile;
use jsonwebtoken::{Header, Validation, errors::ErrorKind, get_current_timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Key, KeySet};

/// How [`JwtService`] signs and checks tokens. Nothing here has a default that belongs to one
/// application: the keys, issuer and audience are the caller's.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// The keys. Never logged: their `Debug` shows ids and algorithms only.
    pub keys: KeySet,
    /// The `iss` claim written and required.
    pub issuer: String,
    /// The `aud` claim written and required.
    pub audience: String,
    /// How long an access token lives (LoopBack's default: 6 hours).
    pub lifetime: Duration,
    /// Clock skew tolerated on `exp` and `nbf` between the instances that sign and verify.
    pub leeway: Duration,
}

impl JwtConfig {
    /// Tokens signed with `keys` for `issuer` and `audience`, living LoopBack's 21600 s, with
    /// 5 s of clock skew tolerated.
    pub fn new(keys: KeySet, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
            lifetime: Duration::from_secs(21_600),
            leeway: Duration::from_secs(5),
        }
    }
}

/// A problem with the token service itself (its keys, or signing).
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The secret is shorter than [`crate::MIN_SECRET_BYTES`].
    #[error("the JWT secret must be at least {min} bytes long (it has {0})", min = crate::MIN_SECRET_BYTES)]
    SecretTooShort(usize),
    /// The secret has fewer than [`crate::MIN_SECRET_DISTINCT_BYTES`] different bytes.
    #[error("the JWT secret has only {0} different bytes")]
    SecretTooSimple(usize),
    /// A key set of several keys needs a distinct id on each.
    #[error("every key of a key set with several keys needs its own id")]
    KeyIdRequired,
    /// An Ed25519 key that is not one: a public key (`x`) that is not 32 bytes of base64url
    /// or not a point of the curve, or a private key that cannot be encoded.
    #[error("invalid Ed25519 key: {0}")]
    InvalidKey(&'static str),
    /// The signing key of a set can only verify (a public key).
    #[error("the signing key has no private half")]
    VerifyOnly,
    /// Signing failed (it cannot for HS256 with valid claims; kept for completeness).
    #[error("could not sign the token")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

/// Why a presented token is not valid. The `Display` text is the reason LoopBack prints after
/// `Error verifying token : `.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("jwt malformed")]
    Malformed,
    /// The signature does not match.
    #[error("invalid signature")]
    BadSignature,
    /// `exp` has passed.
    #[error("jwt expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("jwt not active")]
    NotActive,
    /// Well-formed but unacceptable: another algorithm, an unknown key id, a missing `exp` or
    /// `id`, another issuer or audience.
    #[error("invalid token")]
    Invalid,
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(error: jsonwebtoken::errors::Error) -> Self {
        match error.kind() {
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => Self::Malformed,
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotActive,
            _ => Self::Invalid,
        }
    }
}

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
struct PresentedClaims {
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

/// Signs and verifies access tokens.
pub struct JwtService {
    /// Each key with the validation pinned to its algorithm, the signing key first.
    keys: Vec<(Key, Validation)>,
    config: JwtConfig,
}

impl JwtService {
    /// Builds the service over its configuration.
    pub fn new(config: JwtConfig) -> Self {
        let keys = config
            .keys
            .keys()
            .iter()
            .map(|key| {
                // Pinned to the key's algorithm: the header's `alg` never chooses the check.
                let mut validation = Validation::new(key.algorithm());
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
                validation.set_issuer(&[&config.issuer]);
                validation.set_audience(&[&config.audience]);
                validation.validate_nbf = true;
                validation.leeway = config.leeway.as_secs();
                (key.clone(), validation)
            })
            .collect();
        Self { keys, config }
    }

    /// The configured token lifetime.
    pub fn lifetime(&self) -> Duration {
        self.config.lifetime
    }

    /// Signs an access token for `user` (its `session` as the `sid` claim), valid from now for
    /// the configured lifetime.
    pub fn sign(&self, user: &UserProfile) -> Result<String, JwtError> {
        let now = get_current_timestamp();
        let claims = AccessClaims {
            id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            iat: now,
            exp: now + self.config.lifetime.as_secs(),
            sub: user.id.clone(),
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            sid: user.session.clone(),
        };
        self.sign_claims(&claims)
    }

    /// Signs arbitrary claims with the signing key (tests use it to forge edge cases).
    pub fn sign_claims<T: Serialize>(&self, claims: &T) -> Result<String, JwtError> {
        let key = self.config.keys.signing();
        let mut header = Header::new(key.algorithm());
        header.kid = key.id().map(str::to_owned);
        let encoding = key.encoding().ok_or(JwtError::VerifyOnly)?;
        Ok(jsonwebtoken::encode(&header, claims, encoding)?)
    }

    /// The key (and its validation) that must have signed `token`.
    fn key_for(&self, token: &str) -> Result<&(Key, Validation), TokenError> {
        match self.keys.as_slice() {
            // One key: no need to read the header twice.
            [only] => Ok(only),
            keys => {
                let kid = jsonwebtoken::decode_header(token)?.kid;
                keys.iter()
                    .find(|(key, _)| kid.is_some() && key.id() == kid.as_deref())
                    .ok_or(TokenError::Invalid)
            }
        }
    }

    /// Verifies `token` (algorithm, signature, `exp`, `nbf`, issuer, audience, `id`) and returns
    /// what it says.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let (key, validation) = self.key_for(token)?;
        let claims =
            jsonwebtoken::decode::<PresentedClaims>(token, key.decoding(), validation)?.claims;
        let PresentedClaims {
            id,
            name,
            email,
            sid,
            jti,
            iat,
            exp,
        } = claims;
        // The validator has required `exp` as a number; `id` is ours to require.
        let (Some(id), Some(expires_at)) = (id, seconds(exp.as_ref())) else {
            return Err(TokenError::Invalid);
        };
        let issued_at = seconds(iat.as_ref());
        if id.is_empty() || !self.plausible_times(issued_at, expires_at) {
            return Err(TokenError::Invalid);
        }
        Ok(VerifiedToken {
            user: UserProfile {
                id,
                name,
                email,
                session: text(sid),
            },
            token_id: text(jti),
            issued_at,
            expires_at,
        })
    }

    /// Whether a token's times are ones this service could have signed: not issued in the
    /// future, and living no longer than the configured lifetime (counted from `iat`, or from
    /// now for a token without one), both within the leeway. A token that breaks this was not
    /// signed by us as configured now: a leaked key, or a lifetime since shortened.
    fn plausible_times(&self, issued_at: Option<u64>, expires_at: u64) -> bool {
        let now = get_current_timestamp();
        let leeway = self.config.leeway.as_secs();
        let lifetime = self.config.lifetime.as_secs();
        let issued = issued_at.unwrap_or(now);
        issued <= now.saturating_add(leeway)
            && expires_at <= issued.saturating_add(lifetime).saturating_add(leeway)
    }
}

impl std::fmt::Debug for JwtService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
