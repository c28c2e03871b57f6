//! The token service: signs access tokens and verifies presented ones, remembering those it
//! has verified.

use std::{
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use authn::UserProfile;
use jsonwebtoken::{Header, Validation, get_current_timestamp};
use serde::Serialize;

use crate::{
    claims::{AccessClaims, PresentedClaims, VerifiedToken},
    error::{JwtError, TokenError},
    keys::{Key, KeySet},
};

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
            aal: user.aal.clone(),
            amr: user.amr.clone(),
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
        let verified = claims.into_verified().ok_or(TokenError::Invalid)?;
        if !Self::plausible_times(config, verified.issued_at, verified.expires_at) {
            return Err(TokenError::Invalid);
        }
        Ok(verified)
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
