//! Logins of accounts with a second factor: the password starts an `aal1` session, whose
//! tokens only the routes that complete or inspect the login accept (the bearer strategy
//! refuses them elsewhere with 403 `MFA_REQUIRED`); `POST /users/login/mfa` with such a token
//! and a code upgrades the session to `aal2` and answers its token. A session started by
//! `/users/refresh-login` keeps its refresh token, which refreshes nothing until then and at
//! `aal2` after. Tokens carry `aal` and `amr` (RFC 8176) for these accounts only: others' are
//! as before.

use authn::{CurrentUser, UserProfile};
use authn_jwt::{FIRST_FACTOR, MFA_REQUIRED};
use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};

use serde::Serialize;
use utoipa::ToSchema;

use super::{
    Sessions, Tokens,
    refresh::{random_token, token_hash},
    service::profile,
    token::with_no_store,
};
use crate::{
    accounts::mfa::FactorCode,
    http::{
        body::JsonBody,
        error::{ApiError, Result},
        openapi::{JsonBodyErrors, TooManyRequests, Unauthorized},
    },
    store::User,
    throttle::AddressLimited,
};

/// The level of a session whose second factor was given.
pub const SECOND_FACTOR: &str = "aal2";

/// How long a session waits for its second factor (seconds).
pub const PENDING_LIFETIME: i64 = 600;

/// For an account with a second factor, what a login does about it.
#[derive(Debug, Clone, Copy)]
pub enum SecondStep<'a> {
    /// The session starts at `aal1` and waits for it (`POST /users/login/mfa`).
    Later,
    /// This code proves it: the session starts at `aal2` (a wrong code: no session).
    Code(&'a str),
    /// It must come with the password: none, no session (403 `MFA_REQUIRED`).
    Required,
}

/// The 403 of a session (or a login) that needs its second factor first.
pub(super) fn mfa_required() -> ApiError {
    ApiError::Denied {
        code: MFA_REQUIRED,
        message: "The account has a second factor: give its code (POST /users/login/mfa with \
                  this token, or `mfa_code` with the password grant)."
            .to_owned(),
    }
}

impl Sessions {
    /// An access token for `user`'s `session`, at assurance level `aal` (with the methods
    /// it implies, RFC 8176) for an account with a second factor.
    pub(super) fn sign(&self, user: User, session: &str, aal: Option<&str>) -> Result<String> {
        let mut profile = profile(user);
        profile.session = Some(session.to_owned());
        if let Some(aal) = aal {
            profile.aal = Some(aal.to_owned());
            profile.amr = match aal {
                FIRST_FACTOR => vec!["pwd".to_owned()],
                _ => vec!["pwd".to_owned(), "otp".to_owned()],
            };
        }
        self.jwt.sign(&profile).map_err(ApiError::internal)
    }

    /// Upgrades the caller's `aal1` session with `code` (the app's, or a recovery code): the
    /// session is `aal2` from now on, and this is its first `aal2` token.
    pub async fn complete_login(&self, caller: &UserProfile, code: &str) -> Result<Tokens> {
        let not_waiting = || {
            ApiError::bad_request(
                "MFA_NOT_PENDING",
                "This token's session is not waiting for a second factor.",
            )
        };
        let (Some(session), Some(FIRST_FACTOR)) = (&caller.session, caller.aal.as_deref()) else {
            return Err(not_waiting());
        };
        // The session itself must be waiting (its `aal1` tokens outlive the upgrade).
        if self.store.mfa().session_aal(session).await?.as_deref() != Some(FIRST_FACTOR) {
            return Err(not_waiting());
        }
        let user = self.accounts.current(caller).await?;
        self.accounts.check_second_factor(&user, code).await?;
        let now = crate::clock::now();
        let transaction = self.store.transaction().await?;
        // A session started by `/users/refresh-login` gets a new refresh token (the one handed
        // out with the password alone dies) and the lifetime of its kind.
        let with_refresh = transaction.mfa().session_refresh_tokens(session).await? > 0;
        let lifetime = if with_refresh {
            self.lifetime
        } else {
            self.jwt.lifetime().min(self.lifetime)
        };
        let expires_at = now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
        if !transaction
            .mfa()
            .session_upgrade(session, expires_at)
            .await?
        {
            // Ended (or upgraded) meanwhile.
            return Err(not_waiting());
        }
        let refresh_token = if with_refresh {
            let sessions = transaction.sessions();
            sessions
                .forget_refresh_tokens_before(session, i64::MAX)
                .await?;
            let token = random_token();
            sessions
                .add_refresh_token(&token_hash(&token), session, 0, now)
                .await?;
            Some(token)
        } else {
            None
        };
        transaction.commit().await?;
        Ok(Tokens {
            access_token: self.sign(user, session, Some(SECOND_FACTOR))?,
            refresh_token,
            mfa_required: false,
        })
    }
}

/// What completing a login answers: the `aal2` token as `/users/login` names it, and, for a
/// session started by `/users/refresh-login`, as that route names it with its new refresh
/// token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletedLogin {
    /// The session's first `aal2` access token.
    pub token: String,
    /// The same token (a session started by `/users/refresh-login`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub access_token: Option<String>,
    /// The session's new refresh token (a session started by `/users/refresh-login`; the one
    /// handed out with the password alone no longer works).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub refresh_token: Option<String>,
}

/// Completes a login with the second factor: the bearer is the token `/users/login` (or
/// `/users/refresh-login`) answered with `mfaRequired`.
#[utoipa::path(
    post, path = "/users/login/mfa", tag = "UserController",
    operation_id = "UserController.completeLogin",
    security(("jwt" = [])),
    request_body = FactorCode,
    responses(
        (status = 200, description = "The session's first `aal2` token (with a new refresh \
            token for a session started by `/users/refresh-login`). A wrong or used code is 400 \
            `INVALID_CODE` (`USE_RECOVERY_CODE` after 100 wrong ones in a row); a token whose \
            session is not waiting, 400 `MFA_NOT_PENDING`", body = CompletedLogin),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        JsonBodyErrors,
    ),
)]
pub async fn complete_login(
    _: AddressLimited,
    State(sessions): State<Sessions>,
    CurrentUser(caller): CurrentUser,
    JsonBody(body): JsonBody<FactorCode>,
) -> Result<Response> {
    let tokens = sessions.complete_login(&caller, &body.code).await?;
    let body = CompletedLogin {
        access_token: tokens
            .refresh_token
            .as_ref()
            .map(|_| tokens.access_token.clone()),
        token: tokens.access_token,
        refresh_token: tokens.refresh_token,
    };
    Ok(with_no_store(Json(body).into_response()))
}
