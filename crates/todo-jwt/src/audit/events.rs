//! Session events, through one place: each is a log line (never with a token or a password),
//! a metric, and a row of the audit log ([`crate::audit`]), written through the repository it
//! is given: the transaction of the change it records, or the store. An attempt that names no
//! account is counted instead, on one row per client and [`COUNT_WINDOW`]: anyone can make
//! such attempts without end, and a row each let one address add ~60 rows a minute (all it
//! was allowed), or any number with the rate limit off.

use crate::{
    clock::now,
    ops::metrics,
    store::{Audit, AuditCount, AuditRecord, StoreError},
};

/// The window, in seconds, over which a client's attempts that name no account share a row
/// (the per-address rate limit's minute).
pub const COUNT_WINDOW: i64 = 60;

/// Something that happened to an account or a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthEvent<'a> {
    /// An account was created.
    SignedUp { user: &'a str, email: &'a str },
    /// A login started a session.
    LoggedIn { user: &'a str, session: &'a str },
    /// A password check failed: an unknown email, or a wrong password for `user`.
    LoginFailed {
        user: Option<&'a str>,
        email: &'a str,
    },
    /// A refresh token was exchanged (rotated, or reused within the interval).
    Refreshed { user: &'a str, session: &'a str },
    /// A spent refresh token came back after the reuse interval: the session was ended.
    ReuseDetected { user: &'a str, session: &'a str },
    /// The caller ended their session.
    LoggedOut { user: &'a str, session: &'a str },
    /// The caller ended every one of their sessions (`count` of them).
    LoggedOutEverywhere { user: &'a str, count: u64 },
    /// A session was ended from the session list.
    SessionEnded { user: &'a str, session: &'a str },
    /// A login went past the account's cap on live sessions: its oldest (`ended` of them)
    /// ended.
    SessionsCapped { user: &'a str, ended: u64 },
    /// The user changed their password; their other sessions (`ended` of them) ended.
    PasswordChanged { user: &'a str, ended: u64 },
    /// The password was set through a reset link; every session (`ended` of them) ended.
    PasswordReset { user: &'a str, ended: u64 },
    /// The account's address was proven (its verification link was followed).
    EmailVerified { user: &'a str },
    /// The user asked to move their account to `email` (a confirmation was sent there).
    EmailChangeRequested { user: &'a str, email: &'a str },
    /// The account moved to `email`, proven by its confirmation link.
    EmailChanged { user: &'a str, email: &'a str },
    /// An authenticator app's enrolment started (inactive until a code of it is verified).
    MfaEnrolled { user: &'a str },
    /// The enrolled app's first code was verified: the factor is active.
    MfaActivated { user: &'a str },
    /// A login was completed with the app's code.
    MfaVerified { user: &'a str },
    /// A second-factor code was wrong (or already used).
    MfaFailed { user: &'a str },
    /// The factor and its recovery codes were removed.
    MfaDisabled { user: &'a str },
    /// A recovery code was used in place of the app's code.
    RecoveryCodeUsed { user: &'a str },
    /// New recovery codes replaced the old ones.
    RecoveryCodesRegenerated { user: &'a str },
    /// The user deleted their account, with its todos and sessions.
    AccountDeleted { user: &'a str },
    /// A password hash imported from LoopBack (bcrypt) was replaced by argon2id at login.
    PasswordUpgraded { user: &'a str },
    /// A rate limit started refusing (`account`, with the email, and the user when the email
    /// is an account's: it locked; or `address`): recorded once per window, each refusal after
    /// it only counted in the metrics.
    Throttled {
        reason: &'a str,
        email: Option<&'a str>,
        user: Option<&'a str>,
    },
}

/// Every event's name ([`AuthEvent::name`]), for the document's enum.
pub const NAMES: [&str; 24] = [
    "signup",
    "login",
    "login_failed",
    "refresh",
    "reuse_detected",
    "logout",
    "logout_all",
    "session_ended",
    "sessions_capped",
    "password_changed",
    "password_reset",
    "email_verified",
    "email_change_requested",
    "email_changed",
    "mfa_enrolled",
    "mfa_activated",
    "mfa_verified",
    "mfa_failed",
    "mfa_disabled",
    "recovery_code_used",
    "recovery_codes_regenerated",
    "account_deleted",
    "password_upgraded",
    "throttled",
];

impl AuthEvent<'_> {
    /// The event's name in the audit log and the logs (one of [`NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            Self::SignedUp { .. } => "signup",
            Self::LoggedIn { .. } => "login",
            Self::LoginFailed { .. } => "login_failed",
            Self::Refreshed { .. } => "refresh",
            Self::ReuseDetected { .. } => "reuse_detected",
            Self::LoggedOut { .. } => "logout",
            Self::LoggedOutEverywhere { .. } => "logout_all",
            Self::SessionEnded { .. } => "session_ended",
            Self::SessionsCapped { .. } => "sessions_capped",
            Self::PasswordChanged { .. } => "password_changed",
            Self::PasswordReset { .. } => "password_reset",
            Self::EmailVerified { .. } => "email_verified",
            Self::EmailChangeRequested { .. } => "email_change_requested",
            Self::EmailChanged { .. } => "email_changed",
            Self::MfaEnrolled { .. } => "mfa_enrolled",
            Self::MfaActivated { .. } => "mfa_activated",
            Self::MfaVerified { .. } => "mfa_verified",
            Self::MfaFailed { .. } => "mfa_failed",
            Self::MfaDisabled { .. } => "mfa_disabled",
            Self::RecoveryCodeUsed { .. } => "recovery_code_used",
            Self::RecoveryCodesRegenerated { .. } => "recovery_codes_regenerated",
            Self::AccountDeleted { .. } => "account_deleted",
            Self::PasswordUpgraded { .. } => "password_upgraded",
            Self::Throttled { .. } => "throttled",
        }
    }

    /// (user, email, session) as the audit log keeps them.
    fn subjects(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        match *self {
            Self::SignedUp { user, email }
            | Self::EmailChangeRequested { user, email }
            | Self::EmailChanged { user, email } => (Some(user), Some(email), None),
            Self::LoginFailed { user, email } => (user, Some(email), None),
            Self::Throttled { email, user, .. } => (user, email, None),
            Self::LoggedIn { user, session }
            | Self::Refreshed { user, session }
            | Self::ReuseDetected { user, session }
            | Self::LoggedOut { user, session }
            | Self::SessionEnded { user, session } => (Some(user), None, Some(session)),
            Self::LoggedOutEverywhere { user, .. }
            | Self::SessionsCapped { user, .. }
            | Self::PasswordChanged { user, .. }
            | Self::PasswordReset { user, .. }
            | Self::EmailVerified { user }
            | Self::MfaEnrolled { user }
            | Self::MfaActivated { user }
            | Self::MfaVerified { user }
            | Self::MfaFailed { user }
            | Self::MfaDisabled { user }
            | Self::RecoveryCodeUsed { user }
            | Self::RecoveryCodesRegenerated { user }
            | Self::AccountDeleted { user }
            | Self::PasswordUpgraded { user } => (Some(user), None, None),
        }
    }

    /// Whether the event is an attempt that names no account (a failed login for an unknown
    /// email, or the lock of such an email): counted per client and window, not recorded.
    fn is_counted(&self) -> bool {
        matches!(
            self,
            Self::LoginFailed { user: None, .. }
                | Self::Throttled {
                    reason: "account",
                    user: None,
                    ..
                }
        )
    }
}

/// Records `event`: its audit row through `audit` (fails with it, so a change is never kept
/// without its record), or, for an attempt that names no account, one more on its client's
/// count for the window; then its metric and log line.
pub async fn record(audit: Audit<'_>, event: AuthEvent<'_>) -> Result<(), StoreError> {
    let context = crate::audit::current();
    let (user, email, session) = event.subjects();
    let at = now();
    if event.is_counted() {
        // The rate limit's bucket (an IPv6 /64 is one client); the address outside a request.
        let client = context.bucket.as_deref().or(context.client.ip.as_deref());
        audit
            .count(AuditCount {
                kind: event.name(),
                client: client.unwrap_or("unknown"),
                window_start: at - at.rem_euclid(COUNT_WINDOW),
                at,
                email,
            })
            .await?;
    } else {
        audit
            .add(AuditRecord {
                id: 0,
                at,
                event: event.name().to_owned(),
                user_id: user.map(str::to_owned),
                email: email.map(str::to_owned),
                ip: context.client.ip,
                user_agent: context.client.user_agent,
                request_id: context.request_id,
                session_id: session.map(str::to_owned),
            })
            .await?;
    }
    count(event);
    log(event);
    Ok(())
}

fn count(event: AuthEvent<'_>) {
    match event {
        AuthEvent::LoggedIn { .. } => metrics::login("success"),
        AuthEvent::LoginFailed { .. } => metrics::login("bad_credentials"),
        AuthEvent::Refreshed { .. } => metrics::refresh("success"),
        AuthEvent::ReuseDetected { .. } => metrics::refresh("reuse_detected"),
        AuthEvent::MfaEnrolled { .. }
        | AuthEvent::MfaActivated { .. }
        | AuthEvent::MfaVerified { .. }
        | AuthEvent::MfaFailed { .. }
        | AuthEvent::MfaDisabled { .. }
        | AuthEvent::RecoveryCodeUsed { .. }
        | AuthEvent::RecoveryCodesRegenerated { .. } => metrics::second_factor(event.name()),
        _ => {}
    }
}

fn log(event: AuthEvent<'_>) {
    let name = event.name();
    match event {
        AuthEvent::SignedUp { user, .. } => {
            tracing::info!(event = name, %user, "account created");
        }
        AuthEvent::LoggedIn { user, session } => {
            tracing::info!(event = name, %user, %session, "session started");
        }
        AuthEvent::LoginFailed { .. } => {
            tracing::info!(event = name, "a password check failed");
        }
        AuthEvent::Refreshed { user, session } => {
            tracing::info!(event = name, %user, %session, "session refreshed");
        }
        AuthEvent::ReuseDetected { user, session } => {
            tracing::warn!(
                event = name, %user, %session,
                "a spent refresh token was presented again: the session is ended"
            );
        }
        AuthEvent::LoggedOut { user, session } => {
            tracing::info!(event = name, %user, %session, "session ended");
        }
        AuthEvent::LoggedOutEverywhere { user, count } => {
            tracing::info!(event = name, %user, count, "every session ended");
        }
        AuthEvent::SessionEnded { user, session } => {
            tracing::info!(event = name, %user, %session, "session ended by id");
        }
        AuthEvent::SessionsCapped { user, ended } => {
            tracing::info!(event = name, %user, ended, "the oldest sessions ended: too many live");
        }
        AuthEvent::PasswordChanged { user, ended } => {
            tracing::info!(event = name, %user, ended, "password changed");
        }
        AuthEvent::PasswordReset { user, ended } => {
            tracing::info!(event = name, %user, ended, "password set through a reset link");
        }
        AuthEvent::EmailVerified { user } => {
            tracing::info!(event = name, %user, "email address verified");
        }
        AuthEvent::EmailChangeRequested { user, .. } => {
            tracing::info!(event = name, %user, "address change asked; confirmation sent");
        }
        AuthEvent::EmailChanged { user, .. } => {
            tracing::info!(event = name, %user, "address changed");
        }
        AuthEvent::MfaEnrolled { user }
        | AuthEvent::MfaActivated { user }
        | AuthEvent::MfaVerified { user }
        | AuthEvent::MfaDisabled { user }
        | AuthEvent::RecoveryCodeUsed { user }
        | AuthEvent::RecoveryCodesRegenerated { user } => {
            tracing::info!(event = name, %user, "second factor");
        }
        AuthEvent::MfaFailed { user } => {
            tracing::warn!(event = name, %user, "a second-factor code was refused");
        }
        AuthEvent::AccountDeleted { user } => {
            tracing::info!(event = name, %user, "account deleted");
        }
        AuthEvent::PasswordUpgraded { user } => {
            tracing::info!(
                event = name,
                %user,
                "an imported bcrypt hash was replaced by argon2id"
            );
        }
        AuthEvent::Throttled { reason, .. } => {
            tracing::warn!(
                event = name,
                reason,
                "an attempt was refused by a rate limit"
            );
        }
    }
}

#[cfg(test)]
mod names {
    /// The document's list ([`super::NAMES`]) is exactly the names [`super::AuthEvent::name`]
    /// gives: read from this file's `name` match, so a new event cannot be left out.
    #[test]
    fn the_documented_names_are_the_names_events_have() {
        let source = include_str!("events.rs");
        let start = source.find("pub fn name(&self)").expect("name()");
        let body = &source[start..];
        let body = &body[..body.find("\n    }\n").expect("its end")];
        let mut given: Vec<&str> = body
            .split("=> \"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').expect("a closing quote")])
            .collect();
        let mut documented = super::NAMES.to_vec();
        given.sort_unstable();
        documented.sort_unstable();
        assert_eq!(given, documented);
    }
}
