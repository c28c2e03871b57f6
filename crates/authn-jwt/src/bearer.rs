//! The `jwt` strategy: `Authorization: Bearer <jwt>`, refused with LoopBack's messages.

use std::sync::Arc;

use authn::{AuthError, AuthenticationStrategy, FailureReason, UserProfile};
use http::{header, request::Parts};

use crate::{
    directory::{Standing, UserDirectory},
    error::TokenError,
    token::JwtService,
};

/// The `jwt` strategy: `Authorization: Bearer <jwt>`, verified by a [`JwtService`].
pub struct BearerJwtStrategy {
    jwt: Arc<JwtService>,
    users: Option<Arc<dyn UserDirectory>>,
    /// The name it is registered under.
    name: &'static str,
    /// Whether a token of the first factor of two (`aal: "aal1"`) is accepted.
    first_factor: bool,
}

/// The level of a token that has one factor of an account's two.
pub const FIRST_FACTOR: &str = "aal1";

/// The code of a refusal of such a token where both factors are needed.
pub const MFA_REQUIRED: &str = "MFA_REQUIRED";

impl BearerJwtStrategy {
    /// The name routers require: `jwt`, as in LoopBack.
    pub const NAME: &'static str = "jwt";

    /// A strategy that trusts any valid token but those of a first factor only (`aal1`),
    /// which it refuses with 403 [`MFA_REQUIRED`].
    pub fn new(jwt: Arc<JwtService>) -> Self {
        Self {
            jwt,
            users: None,
            name: Self::NAME,
            first_factor: false,
        }
    }

    /// The strategy named `name` that accepts first-factor tokens too: for the routes that
    /// complete a login with its second factor, or say what it needs.
    pub fn accepting_first_factor(mut self, name: &'static str) -> Self {
        self.name = name;
        self.first_factor = true;
        self
    }

    /// Also refuses valid tokens whose user is no longer in `users`.
    pub fn with_user_directory(mut self, users: Arc<dyn UserDirectory>) -> Self {
        self.users = Some(users);
        self
    }

    /// The token from the `Authorization` header, or LoopBack's message for why there is none.
    fn bearer_token(request: &Parts) -> Result<&str, AuthError> {
        let mut values = request.headers.get_all(header::AUTHORIZATION).iter();
        let value = values
            .next()
            .ok_or_else(|| bad_header("Authorization header not found."))?;
        // Two credentials are one too many: a proxy and a client adding one each would
        // otherwise be settled by whichever came first.
        if values.next().is_some() {
            return Err(bad_header(TWICE));
        }
        // `to_str` admits visible ASCII, spaces and tabs only, so spaces and tabs are all the
        // whitespace there is. (Scanned bytewise: `split_whitespace` decoded the ~300-character
        // token char by char three times over, a measurable part of every request.)
        let value = value
            .to_str()
            .map_err(|_| bad_header(NOT_BEARER))?
            .trim_ascii();
        let (scheme, token) = value
            .split_once([' ', '\t'])
            .map_or((value, ""), |(scheme, rest)| {
                (scheme, rest.trim_ascii_start())
            });
        // The scheme is case-insensitive (RFC 7235), but must be the whole word: `BearerX` is not.
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(bad_header(NOT_BEARER));
        }
        // A fold rather than `any`: without the early exit the scan is vectorised.
        let spaced = token.bytes().fold(false, |found, byte| {
            found | (byte == b' ') | (byte == b'\t')
        });
        if token.is_empty() || spaced {
            return Err(bad_header(TOO_MANY_PARTS));
        }
        Ok(token)
    }
}

const NOT_BEARER: &str = "Authorization header is not of type 'Bearer'.";
/// More than one `Authorization` header (LoopBack reads the first; we refuse).
const TWICE: &str = "Authorization header must be sent once.";
const TOO_MANY_PARTS: &str = "Authorization header value has too many parts. It must follow the \
                              pattern: 'Bearer xx.yy.zz' where xx.yy.zz is a valid JWT token.";

/// No token to verify: the header is absent, of another scheme, or not `Bearer <token>`.
fn bad_header(message: &str) -> AuthError {
    AuthError::challenge("Bearer", FailureReason::Missing, message)
}

/// A token that failed verification: LoopBack's message (the error's text after `Error
/// verifying token : `) for the client, and the reason as a type for metrics and logs.
fn bad_token(error: TokenError) -> AuthError {
    let reason = match error {
        TokenError::Malformed => FailureReason::Malformed,
        TokenError::BadSignature => FailureReason::BadSignature,
        TokenError::Expired => FailureReason::Expired,
        TokenError::NotActive => FailureReason::NotActive,
        TokenError::Invalid => FailureReason::Invalid,
    };
    AuthError::challenge("Bearer", reason, format!("Error verifying token : {error}"))
}

#[async_trait::async_trait]
impl AuthenticationStrategy for BearerJwtStrategy {
    fn name(&self) -> &str {
        self.name
    }

    async fn authenticate(&self, request: &Parts) -> Result<UserProfile, AuthError> {
        let token = Self::bearer_token(request)?;
        let verified = self.jwt.verify(token).map_err(bad_token)?;
        if !self.first_factor && verified.user.aal.as_deref() == Some(FIRST_FACTOR) {
            return Err(AuthError::Forbidden {
                message: "This token has the password only: complete the login with the \
                          second factor (POST /users/login/mfa)."
                    .to_owned(),
                code: MFA_REQUIRED,
            });
        }
        let Some(users) = &self.users else {
            return Ok(verified.user);
        };
        // A cached answer first: no future to make and box for it.
        let standing = match users.known(&verified) {
            Some(standing) => standing,
            None => users.find_user(&verified).await?,
        };
        let mut user = match standing {
            Standing::Current(user) => user,
            // The token is authentic but speaks for nobody now (LoopBack's message).
            Standing::UserGone => {
                return Err(AuthError::challenge(
                    "Bearer",
                    FailureReason::Revoked,
                    "Error verifying token : user not found",
                ));
            }
            Standing::SessionEnded => {
                return Err(AuthError::challenge(
                    "Bearer",
                    FailureReason::Ended,
                    "Error verifying token : the session has ended (logged out, ended \
                     elsewhere, or the password changed); log in again",
                ));
            }
        };
        user.session = verified.user.session;
        user.aal = verified.user.aal;
        user.amr = verified.user.amr;
        Ok(user)
    }
}

impl std::fmt::Debug for BearerJwtStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerJwtStrategy")
            .field("checks_users", &self.users.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
