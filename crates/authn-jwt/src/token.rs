use std::{
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

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
    /// How many verified tokens are remembered (0: none), so a token presented again is not
    /// verified again: an EdDSA signature check costs tens of microseconds, a hit a hash
    /// lookup. A remembered token is used only before its `exp` and while the keys are the
    /// ones that verified it ([`JwtService::set_keys`] forgets them all); whatever the caller
    /// checks after verification (a session, the user) is still checked on every request.
    pub cache_capacity: usize,
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
            cache_capacity: 10_000,
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

/// The keys in force, each with its validation (pinned to its algorithm), and the number of
/// this generation of keys (what a remembered token is checked against).
struct Keys {
    set: KeySet,
    validations: Vec<Validation>,
    epoch: u64,
}

/// A verified token as remembered, with the generation of keys that verified it.
struct Remembered {
    token: VerifiedToken,
    epoch: u64,
}

/// Signs and verifies access tokens.
pub struct JwtService {
    keys: RwLock<Arc<Keys>>,
    /// The generation of [`JwtService::keys`], readable without the lock.
    epoch: AtomicU64,
    cache: Option<quick_cache::sync::Cache<String, Arc<Remembered>>>,
    config: JwtConfig,
}

impl JwtService {
    /// Builds the service over its configuration.
    pub fn new(config: JwtConfig) -> Self {
        let cache = (config.cache_capacity > 0)
            .then(|| quick_cache::sync::Cache::new(config.cache_capacity));
        Self {
            keys: RwLock::new(Arc::new(Self::prepare(&config, config.keys.clone(), 0))),
            epoch: AtomicU64::new(0),
            cache,
            config,
        }
    }

    fn prepare(config: &JwtConfig, set: KeySet, epoch: u64) -> Keys {
        let validations = set
            .keys()
            .map(|key| {
                // Pinned to the key's algorithm: the header's `alg` never chooses the check.
                let mut validation = Validation::new(key.algorithm());
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
                validation.set_issuer(&[&config.issuer]);
                validation.set_audience(&[&config.audience]);
                validation.validate_nbf = true;
                validation.leeway = config.leeway.as_secs();
                validation
            })
            .collect();
        Keys {
            set,
            validations,
            epoch,
        }
    }

    /// The keys in force.
    fn current(&self) -> Arc<Keys> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the keys (a rotation, or a key removed): tokens are signed and verified with
    /// `keys` from now on, and every remembered verification is forgotten.
    pub fn set_keys(&self, keys: KeySet) {
        let mut current = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        let epoch = current.epoch + 1;
        *current = Arc::new(Self::prepare(&self.config, keys, epoch));
        self.epoch.store(epoch, Ordering::Release);
        drop(current);
        if let Some(cache) = &self.cache {
            cache.clear();
        }
    }

    /// The keys in force now.
    pub fn keys(&self) -> KeySet {
        self.current().set.clone()
    }

    /// The configured token lifetime.
    pub fn lifetime(&self) -> Duration {
        self.config.lifetime
    }

    /// The configured clock skew tolerance.
    pub fn leeway(&self) -> Duration {
        self.config.leeway
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

    /// Signs arbitrary claims with the key that signs now (tests use it to forge edge cases).
    pub fn sign_claims<T: Serialize>(&self, claims: &T) -> Result<String, JwtError> {
        let keys = self.current();
        let key = keys.set.signing().ok_or(JwtError::VerifyOnly)?;
        let mut header = Header::new(key.algorithm());
        header.kid = key.id().map(str::to_owned);
        let encoding = key.encoding().ok_or(JwtError::VerifyOnly)?;
        Ok(jsonwebtoken::encode(&header, claims, encoding)?)
    }

    /// The key (and its validation) that must have signed `token`.
    fn key_for<'k>(keys: &'k Keys, token: &str) -> Result<(&'k Key, &'k Validation), TokenError> {
        let mut candidates = keys.set.keys().zip(&keys.validations);
        if candidates.len() == 1 {
            // One key: no need to read the header twice.
            return candidates.next().ok_or(TokenError::Invalid);
        }
        let kid = jsonwebtoken::decode_header(token)?.kid;
        candidates
            .find(|(key, _)| key.id() == kid.as_deref())
            .ok_or(TokenError::Invalid)
    }

    /// Verifies `token` (algorithm, signature, `exp`, `nbf`, issuer, audience, `id`) and returns
    /// what it says. A token verified before with the same keys and not yet expired is
    /// answered from memory (see [`JwtConfig::cache_capacity`]).
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let Some(cache) = &self.cache else {
            return Self::verify_with(&self.config, &self.current(), token);
        };
        if let Some(hit) = cache.get(token)
            && hit.epoch == self.epoch.load(Ordering::Acquire)
            && hit.token.expires_at > get_current_timestamp()
        {
            return Ok(hit.token.clone());
        }
        let keys = self.current();
        let verified = Self::verify_with(&self.config, &keys, token)?;
        cache.insert(
            token.to_owned(),
            Arc::new(Remembered {
                token: verified.clone(),
                epoch: keys.epoch,
            }),
        );
        Ok(verified)
    }

    /// Verifies `token` (algorithm, signature, `exp`, `nbf`, issuer, audience, `id`) and returns
    /// what it says.
    fn verify_with(
        config: &JwtConfig,
        keys: &Keys,
        token: &str,
    ) -> Result<VerifiedToken, TokenError> {
        let (key, validation) = Self::key_for(keys, token)?;
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
        if id.is_empty() || !Self::plausible_times(config, issued_at, expires_at) {
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
    fn plausible_times(config: &JwtConfig, issued_at: Option<u64>, expires_at: u64) -> bool {
        let now = get_current_timestamp();
        let leeway = config.leeway.as_secs();
        let lifetime = config.lifetime.as_secs();
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
