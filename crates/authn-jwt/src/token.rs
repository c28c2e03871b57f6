use std::time::Duration;

use authn::UserProfile;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind,
    get_current_timestamp,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The shortest HS256 secret accepted: 256 bits, the size of the hash (RFC 7518, 3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// How [`JwtService`] signs and checks tokens.
#[derive(Clone)]
pub struct JwtConfig {
    /// The HMAC secret. Never logged: `SecretString` hides it from `Debug`.
    pub secret: SecretString,
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
    /// LoopBack's defaults around `secret`: 21600 s tokens, issuer and audience `todo-jwt`.
    pub fn new(secret: SecretString) -> Self {
        Self {
            secret,
            issuer: "todo-jwt".to_owned(),
            audience: "todo-jwt".to_owned(),
            lifetime: Duration::from_secs(21_600),
            leeway: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("secret", &"[redacted]")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("lifetime", &self.lifetime)
            .field("leeway", &self.leeway)
            .finish()
    }
}

/// A problem with the token service itself (its configuration, or signing).
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The secret is shorter than [`MIN_SECRET_BYTES`].
    #[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes long (it has {0})")]
    SecretTooShort(usize),
    /// Signing failed (it cannot for HS256 with valid claims; kept for completeness).
    #[error("could not sign the token: {0}")]
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
    /// Well-formed but unacceptable: another algorithm, a missing `exp` or `id`, another
    /// issuer or audience.
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
    /// A unique token id, so one token can be told from another (for revocation lists).
    pub jti: String,
}

/// What a token must carry to be read at all; checked before [`AccessClaims`] is trusted.
#[derive(Deserialize)]
struct PresentedClaims {
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// Signs and verifies access tokens.
pub struct JwtService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    config: JwtConfig,
}

impl JwtService {
    /// Builds the service; refuses a secret shorter than [`MIN_SECRET_BYTES`].
    pub fn new(config: JwtConfig) -> Result<Self, JwtError> {
        let secret = config.secret.expose_secret().as_bytes();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(JwtError::SecretTooShort(secret.len()));
        }
        // Pinned to HS256: the header's `alg` is never trusted to choose the check.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.validate_nbf = true;
        validation.leeway = config.leeway.as_secs();
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            config,
        })
    }

    /// The configured token lifetime.
    pub fn lifetime(&self) -> Duration {
        self.config.lifetime
    }

    /// Signs an access token for `user`, valid from now for the configured lifetime.
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
        };
        self.sign_claims(&claims)
    }

    /// Signs arbitrary claims with this service's key (tests use it to forge edge cases).
    pub fn sign_claims<T: Serialize>(&self, claims: &T) -> Result<String, JwtError> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.encoding,
        )?)
    }

    /// Verifies `token` (algorithm, signature, `exp`, `nbf`, issuer, audience, `id`) and returns
    /// the profile it carries.
    pub fn verify(&self, token: &str) -> Result<UserProfile, TokenError> {
        let data =
            jsonwebtoken::decode::<PresentedClaims>(token, &self.decoding, &self.validation)?;
        let PresentedClaims { id, name, email } = data.claims;
        match id {
            Some(id) if !id.is_empty() => Ok(UserProfile { id, name, email }),
            _ => Err(TokenError::Invalid),
        }
    }
}

impl std::fmt::Debug for JwtService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
