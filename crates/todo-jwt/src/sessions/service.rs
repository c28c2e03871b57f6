//! The session service: a checked password starts a session, and access tokens are signed for
//! it; refresh tokens renew them (rotating, with reuse detection); sessions end by logout,
//! logout-all, or expiry. Every event goes through [`audit::record`].

use std::{sync::Arc, time::Duration};

use authn::UserProfile;
use authn_jwt::{FIRST_FACTOR, JwtService};

use super::{
    ended::EndedSessions,
    mfa::{PENDING_LIFETIME, SECOND_FACTOR, SecondStep, mfa_required},
    refresh::{RefreshKey, random_token, token_hash},
};
use crate::{
    accounts::{Accounts, Credentials},
    audit::{self, AuthEvent, ClientInfo},
    clock::now,
    http::error::{ApiError, Result},
    store::{Session, Store, User},
};

/// How refresh tokens behave.
#[derive(Clone, Debug)]
pub struct RefreshPolicy {
    /// The key the next token is derived with.
    pub key: RefreshKey,
    /// Whether a refresh spends the token and hands out the next (LoopBack's do not rotate).
    pub rotation: bool,
    /// How long a spent token may come back and get the session's current one.
    pub reuse_interval: Duration,
}

/// What a login or a refresh hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The access token (a JWT with the session's `sid`).
    pub access_token: String,
    /// The refresh token, if one was issued (not with rotation off on `/refresh`).
    pub refresh_token: Option<String>,
    /// Whether the session waits for its second factor (its access token is `aal1`).
    pub mfa_required: bool,
}

/// Login, sessions and tokens, over the account service, the store and the token service.
#[derive(Clone, Debug)]
pub struct Sessions {
    pub(super) accounts: Accounts,
    pub(super) store: Store,
    pub(super) jwt: Arc<JwtService>,
    /// How long a session lives at most.
    pub(super) lifetime: Duration,
    refresh: RefreshPolicy,
    /// The sessions ended here, refused by this instance at once.
    pub(super) ended: Arc<EndedSessions>,
    /// The most live sessions an account keeps; a login beyond ends the oldest.
    max_sessions: u64,
}

/// How many rotations a spent token's chain is followed to the session's current token.
const MAX_CHAIN: usize = 16;

/// How many spent refresh tokens a session keeps (with its current one): as many as the chain
/// is followed, so any token that could still get the current one within the reuse interval
/// is found; an older one is unknown (401) rather than reuse that ends the session.
const SPENT_KEPT: i64 = MAX_CHAIN as i64;

impl Sessions {
    /// The service over its parts; sessions live at most `lifetime`.
    pub fn new(
        accounts: Accounts,
        store: Store,
        jwt: Arc<JwtService>,
        lifetime: Duration,
        refresh: RefreshPolicy,
        ended: Arc<EndedSessions>,
        max_sessions: u64,
    ) -> Self {
        Self {
            accounts,
            store,
            jwt,
            lifetime,
            refresh,
            ended,
            max_sessions,
        }
    }

    /// How long the access tokens this service signs live.
    pub fn token_lifetime(&self) -> Duration {
        self.jwt.lifetime()
    }

    /// Whether refresh tokens rotate.
    pub fn rotates(&self) -> bool {
        self.refresh.rotation
    }

    /// For valid credentials, a new session and an access token for it (401 otherwise, the
    /// same for an unknown email and a wrong password).
    pub async fn log_in(&self, credentials: Credentials, client: ClientInfo) -> Result<Tokens> {
        self.start(credentials, client, false, SecondStep::Later)
            .await
    }

    /// As [`Sessions::log_in`], with a refresh token for the session as well.
    pub async fn log_in_with_refresh(
        &self,
        credentials: Credentials,
        client: ClientInfo,
    ) -> Result<Tokens> {
        self.start(credentials, client, true, SecondStep::Later)
            .await
    }

    /// Starts a session for valid credentials; for an account with a second factor, as
    /// `second` says.
    pub(super) async fn start(
        &self,
        credentials: Credentials,
        client: ClientInfo,
        with_refresh: bool,
        second: SecondStep<'_>,
    ) -> Result<Tokens> {
        let (user, checked_hash, second_factor) =
            self.accounts.check_password_hash(credentials).await?;
        // Only once the password is right: the refusal tells nothing to a guesser.
        self.accounts.may_log_in(&user).await?;
        let aal = match (second_factor, second) {
            (false, _) => None,
            (true, SecondStep::Later) => Some(FIRST_FACTOR),
            (true, SecondStep::Code(code)) => {
                self.accounts.check_second_factor(&user, code).await?;
                Some(SECOND_FACTOR)
            }
            (true, SecondStep::Required) => return Err(mfa_required()),
        };
        let now = now();
        // Without a refresh token, nothing can renew the session once its access token has
        // expired: it lives as long as that token.
        let lifetime = if with_refresh {
            self.lifetime
        } else {
            self.jwt.lifetime().min(self.lifetime)
        };
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        // A session waiting for its second factor lives minutes, not days: its tokens are
        // good for one thing, and it must not take a place among the account's sessions.
        let lifetime = if aal == Some(FIRST_FACTOR) {
            lifetime.min(PENDING_LIFETIME)
        } else {
            lifetime
        };
        let session = Session {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id.clone(),
            created_at: now,
            last_used_at: now,
            expires_at: now.saturating_add(lifetime),
            user_agent: client.user_agent,
            ip: client.ip,
        };
        let id = session.id.clone();
        // The password may have changed (or the account gone) since it was checked: then no
        // session starts, and the answer is the same 401 as for a wrong password.
        let refused = || ApiError::Unauthorized(crate::accounts::INVALID_CREDENTIALS.to_owned());
        let transaction = self.store.transaction().await?;
        if !transaction.sessions().start(session, &checked_hash).await? {
            return Err(refused());
        }
        // A factor activated meanwhile (activation takes the account's row, which the
        // session's insert shares, so on PostgreSQL it is seen here): no session at a level
        // the account no longer allows; the client logs in again.
        if aal.is_none()
            && transaction
                .mfa()
                .totp_find(&user.id)
                .await?
                .is_some_and(|factor| factor.activated_at.is_some())
        {
            return Err(mfa_required());
        }
        if let Some(aal) = aal {
            transaction.mfa().session_set_aal(&id, aal).await?;
        }
        let refresh_token = if with_refresh {
            let token = random_token();
            transaction
                .sessions()
                .add_refresh_token(&token_hash(&token), &id, 0, now)
                .await?;
            Some(token)
        } else {
            None
        };
        audit::record(
            transaction.audit(),
            AuthEvent::LoggedIn {
                user: &user.id,
                session: &id,
            },
        )
        .await?;
        // A bounded number of live sessions per account: logging in without end cannot grow
        // the session table (or the session list) without end; the oldest go first.
        let ended = transaction
            .sessions()
            .keep_newest(&user.id, &id, self.max_sessions)
            .await?;
        if ended > 0 {
            audit::record(
                transaction.audit(),
                AuthEvent::SessionsCapped {
                    user: &user.id,
                    ended,
                },
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(Tokens {
            access_token: self.sign(user, &id, aal)?,
            refresh_token,
            mfa_required: aal == Some(FIRST_FACTOR),
        })
    }

    /// Exchanges a refresh token for a new access token (and, with rotation, the session's
    /// next refresh token). 401 for an unknown, expired or ended one; a spent one is answered
    /// with the session's current token within the reuse interval, and ends the session after.
    pub async fn refresh(&self, presented: &str) -> Result<Tokens> {
        let exchanged = self.exchange(presented).await;
        if let Err(ApiError::Unauthorized(_)) = &exchanged {
            crate::ops::metrics::refresh("refused");
        }
        exchanged
    }

    /// [`Sessions::refresh`], before its refusals are counted.
    async fn exchange(&self, presented: &str) -> Result<Tokens> {
        let now = now();
        let transaction = self.store.transaction().await?;
        let sessions = transaction.sessions();
        let Some(found) = sessions
            .find_refresh_token(&token_hash(presented), now)
            .await?
        else {
            return Err(invalid_refresh_token());
        };
        let session = found.session_id.clone();
        // A session waiting for its second factor renews nothing (its refresh token works
        // once the factor is given, at `aal2`).
        let aal = transaction.mfa().session_aal(&session).await?;
        if aal.as_deref() == Some(FIRST_FACTOR) {
            return Err(mfa_required());
        }
        let aal = aal.map(|_| SECOND_FACTOR);
        if !self.refresh.rotation && found.spent_at.is_none() {
            sessions.touch(&session, now).await?;
            audit::record(
                transaction.audit(),
                AuthEvent::Refreshed {
                    user: &found.user.id,
                    session: &session,
                },
            )
            .await?;
            transaction.commit().await?;
            return Ok(Tokens {
                access_token: self.sign(found.user, &session, aal)?,
                refresh_token: None,
                mfa_required: false,
            });
        }
        let current = match found.spent_at {
            None => {
                // The current token: spend it and add the next. On PostgreSQL the session's row
                // is locked (by the lookup) until this commits, so concurrent refreshes (and a
                // logout) wait for it, and then find the token spent (or the session gone).
                let next = self.refresh.key.next(presented);
                if !sessions
                    .spend_refresh_token(&token_hash(presented), now)
                    .await?
                {
                    // Cannot happen while the session's row is held; refused rather than
                    // handing out a second live token if it ever does.
                    return Err(invalid_refresh_token());
                }
                let rotation = found.rotation.saturating_add(1);
                sessions
                    .add_refresh_token(&token_hash(&next), &session, rotation, now)
                    .await?;
                // Reuse detection needs only the spent tokens whose chain it follows: older
                // ones go, so a session keeps at most SPENT_KEPT of them however often it
                // refreshes (each rotation added a row for good before).
                sessions
                    .forget_refresh_tokens_before(&session, rotation - SPENT_KEPT)
                    .await?;
                Some(next)
            }
            Some(spent_at)
                if self.refresh.rotation
                    && now.saturating_sub(spent_at) <= self.reuse_interval() =>
            {
                match self.current_after(&sessions, presented, now).await? {
                    Some(current) => Some(current),
                    // More rotations within the interval than the chain is followed for (or a
                    // changed secret): refused, but not taken for theft.
                    None => return Err(invalid_refresh_token()),
                }
            }
            // Spent before the interval, or spent at all while rotation is off (tokens from a
            // time it was on): reuse.
            Some(_) => None,
        };
        let Some(current) = current else {
            // Reuse after the interval (or a chain that does not lead to a current token): the
            // token may be in someone else's hands; the whole session ends.
            sessions.end(&found.user.id, &session).await?;
            audit::record(
                transaction.audit(),
                AuthEvent::ReuseDetected {
                    user: &found.user.id,
                    session: &session,
                },
            )
            .await?;
            transaction.commit().await?;
            return Err(invalid_refresh_token());
        };
        sessions.touch(&session, now).await?;
        audit::record(
            transaction.audit(),
            AuthEvent::Refreshed {
                user: &found.user.id,
                session: &session,
            },
        )
        .await?;
        transaction.commit().await?;
        Ok(Tokens {
            access_token: self.sign(found.user, &session, aal)?,
            refresh_token: Some(current),
            mfa_required: false,
        })
    }

    /// The session's current token, found by deriving the tokens that followed `spent`.
    async fn current_after(
        &self,
        sessions: &crate::store::SessionStore<'_>,
        spent: &str,
        now: i64,
    ) -> Result<Option<String>> {
        let mut token = spent.to_owned();
        for _ in 0..MAX_CHAIN {
            token = self.refresh.key.next(&token);
            match sessions
                .find_refresh_token(&token_hash(&token), now)
                .await?
            {
                Some(found) if found.spent_at.is_none() => return Ok(Some(token)),
                Some(_) => {}
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    fn reuse_interval(&self) -> i64 {
        i64::try_from(self.refresh.reuse_interval.as_secs()).unwrap_or(i64::MAX)
    }
}

/// The 401 for a refresh token that does not (or no longer) open a session.
fn invalid_refresh_token() -> ApiError {
    ApiError::Unauthorized("Error verifying token : invalid refresh token".into())
}

/// The profile a token carries for `user` (no session yet).
pub fn profile(user: User) -> UserProfile {
    UserProfile {
        id: user.id,
        name: user.username,
        email: Some(user.email),
        ..UserProfile::default()
    }
}
