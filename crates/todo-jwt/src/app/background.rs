//! The service's background tasks: cleanups, memory upkeep, backups and key reloads.

use std::{sync::Arc, time::Duration};

use authn_jwt::JwtService;

use crate::{
    accounts::Passwords,
    audit,
    http::error,
    keys::Keyring,
    mail::{self, Mailer},
    ops::{
        allocator,
        backup::Backups,
        metrics::Metrics,
        tasks::{Signal, Tasks},
    },
    sessions::Sessions,
    store::Store,
    throttle::{Throttles, pace::Pacer},
};

/// What the service's background tasks work on; started by [`super::Application::run`].
pub(super) struct Background {
    /// The mail the outbox's sender delivers.
    pub mailer: Mailer,
    pub sessions: Sessions,
    pub throttles: Throttles,
    /// The refusal pacer, whose forgotten clients are dropped (none when pacing is off).
    pub pacer: Option<Pacer>,
    pub passwords: Passwords,
    pub metrics: Metrics,
    pub store: Store,
    /// How long audit events are kept.
    pub audit_retention: Duration,
    /// Backups of the SQLite database, and how often (`None`: on `SIGUSR1` only).
    pub backups: Option<(Backups, Option<Duration>)>,
    /// The signing keys, kept in step with the table, and the token service they feed.
    pub keys: (Keyring, Arc<JwtService>),
}

/// How often expired sessions are removed.
const SESSION_CLEANUP: Duration = Duration::from_secs(600);

/// How often idle memory is given back: the password threads' after this long without a hash,
/// and a round of the allocator's collections ([`allocator`]). RSS is back near its idle level
/// about two rounds after a burst.
const MEMORY_RETURN: Duration = allocator::RETURN_INTERVAL;

impl Background {
    /// Starts every periodic task on `tasks`.
    pub(super) fn start(self, tasks: &Tasks) {
        let (store, mailer) = (self.store.clone(), self.mailer);
        tasks.spawn(move |stop| mail::sender::run(store, mailer, stop));
        let sessions = self.sessions;
        tasks.every(SESSION_CLEANUP, move || {
            let sessions = sessions.clone();
            async move { sessions.remove_expired().await }
        });
        let (store, retention) = (self.store, self.audit_retention);
        tasks.every(SESSION_CLEANUP, move || {
            let store = store.clone();
            async move { audit::remove_older_than(&store, retention).await }
        });
        let throttles = self.throttles;
        tasks.every(SESSION_CLEANUP, move || {
            let throttles = throttles.clone();
            async move {
                if let Err(error) = throttles.remove_expired().await {
                    tracing::warn!(cause = %error::chain(&error), "cannot remove old throttle counters");
                }
            }
        });
        let (passwords, metrics, pacer) = (self.passwords, self.metrics, self.pacer);
        tasks.every(MEMORY_RETURN, move || {
            if passwords.release_idle_memory(MEMORY_RETURN) {
                tracing::debug!("password threads gave their memory back");
            }
            metrics.upkeep();
            if let Some(pacer) = &pacer {
                pacer.upkeep();
            }
            allocator::return_freed_memory();
            std::future::ready(())
        });
        if let Some((backups, every)) = self.backups {
            tasks.on_signal_or_every(Signal::User1, every, move |_| {
                let backups = backups.clone();
                async move { backups.take_and_log().await }
            });
        }
        let (keyring, jwt) = self.keys;
        let reload = keyring.reload_interval();
        tasks.on_signal_or_every(Signal::User2, Some(reload), move |wake| {
            let (keyring, jwt) = (keyring.clone(), jwt.clone());
            async move { keyring.on_wake(&jwt, wake).await }
        });
    }
}
