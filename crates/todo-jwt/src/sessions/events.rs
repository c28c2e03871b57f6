//! Session events, through one place: each is a log line (never with a token or a password)
//! and a metric; the audit log will read them here too.

use crate::metrics;

/// Something that happened to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent<'a> {
    /// A login started a session.
    LoggedIn { user: &'a str, session: &'a str },
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
    /// The user changed their password; their other sessions (`ended` of them) ended.
    PasswordChanged { user: &'a str, ended: u64 },
    /// The user deleted their account, with its todos and sessions.
    AccountDeleted { user: &'a str },
    /// A password hash imported from LoopBack (bcrypt) was replaced by argon2id at login.
    PasswordUpgraded { user: &'a str },
    /// An attempt was refused by a rate limit (`account` or `address`).
    Throttled { reason: &'a str },
    /// A password check failed (an unknown email, or a wrong password).
    LoginFailed,
}

/// Records `event`.
pub fn record(event: SessionEvent<'_>) {
    match event {
        SessionEvent::LoggedIn { user, session } => {
            metrics::login("success");
            tracing::info!(event = "login", %user, %session, "session started");
        }
        SessionEvent::Refreshed { user, session } => {
            metrics::refresh("success");
            tracing::info!(event = "refresh", %user, %session, "session refreshed");
        }
        SessionEvent::ReuseDetected { user, session } => {
            metrics::refresh("reuse_detected");
            tracing::warn!(
                event = "reuse_detected", %user, %session,
                "a spent refresh token was presented again: the session is ended"
            );
        }
        SessionEvent::LoggedOut { user, session } => {
            tracing::info!(event = "logout", %user, %session, "session ended");
        }
        SessionEvent::LoggedOutEverywhere { user, count } => {
            tracing::info!(event = "logout_all", %user, count, "every session ended");
        }
        SessionEvent::SessionEnded { user, session } => {
            tracing::info!(event = "session_ended", %user, %session, "session ended by id");
        }
        SessionEvent::PasswordChanged { user, ended } => {
            tracing::info!(event = "password_changed", %user, ended, "password changed");
        }
        SessionEvent::AccountDeleted { user } => {
            tracing::info!(event = "account_deleted", %user, "account deleted");
        }
        SessionEvent::PasswordUpgraded { user } => {
            tracing::info!(
                event = "password_upgraded",
                %user,
                "an imported bcrypt hash was replaced by argon2id"
            );
        }
        SessionEvent::Throttled { reason } => {
            metrics::login("throttled");
            tracing::warn!(
                event = "throttled",
                reason,
                "an attempt was refused by a rate limit"
            );
        }
        SessionEvent::LoginFailed => {
            metrics::login("bad_credentials");
            tracing::info!(event = "login_failed", "a password check failed");
        }
    }
}
