//! The service's background work, owned: every periodic task (session and audit clean-up,
//! throttle counters, memory return, key reloads, backups) is started on one [`Tasks`], and
//! stopped with it at shutdown. A task is never interrupted in the middle of a step: shutdown
//! asks each to stop, then waits for the step in progress (a backup, a key reload) to end, as
//! tokio's mini-redis drains its connections.

use std::{future::Future, time::Duration};

use tokio::time::{Instant, MissedTickBehavior, interval, interval_at};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// What woke a task started with [`Tasks::on_signal_or_every`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Its period passed.
    Tick,
    /// Its signal arrived.
    Signal,
}

/// The background tasks of one service: started here, stopped together by [`Tasks::shutdown`].
#[derive(Clone, Debug, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Tasks {
    /// No tasks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `step` now and then every `period` until shutdown. A step that overruns delays the
    /// next one rather than bunching them up.
    pub fn every<F, Fut>(&self, period: Duration, mut step: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            let mut ticks = interval(period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    _ = ticks.tick() => step().await,
                }
            }
        });
    }

    /// Runs `step` each time the process receives `signal` (Unix; never elsewhere) and, when
    /// `period` is given, every `period` from one period after now, until shutdown.
    pub fn on_signal_or_every<F, Fut>(&self, signal: Signal, period: Option<Duration>, mut step: F)
    where
        F: FnMut(Wake) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let stop = self.stop.clone();
        // Listening starts here, before the task is scheduled: a signal sent as soon as the
        // service says it listens must not meet the default action (which ends the process).
        let mut signals = signal.listen();
        self.tracker.spawn(async move {
            let mut ticks = period.map(|period| {
                let mut ticks = interval_at(Instant::now() + period, period);
                ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
                ticks
            });
            loop {
                let tick = async {
                    match ticks.as_mut() {
                        Some(ticks) => {
                            ticks.tick().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                let wake = tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    () = signals.recv() => Wake::Signal,
                    () = tick => Wake::Tick,
                };
                step(wake).await;
            }
        });
    }

    /// Runs the loop `task` makes, given the token shutdown cancels: the loop checks it between
    /// its steps (as the mail sender does between messages).
    pub fn spawn<F, Fut>(&self, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task(self.stop.clone()));
    }

    /// Asks every task to stop, and waits up to `grace` for the steps in progress to end.
    /// Returns whether they all did.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
    }
}

/// The Unix signals a task can be woken by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `SIGUSR1` (a backup now).
    User1,
    /// `SIGUSR2` (a key rotation now).
    User2,
}

/// A stream of one signal's arrivals; pending forever where it cannot be listened to.
struct Signals(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

impl Signal {
    fn listen(self) -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let kind = match self {
                Self::User1 => SignalKind::user_defined1(),
                Self::User2 => SignalKind::user_defined2(),
            };
            Signals(signal(kind).ok())
        }
        #[cfg(not(unix))]
        Signals()
    }
}

impl Signals {
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signals) = self.0.as_mut()
            && signals.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// Resolves at Ctrl-C or `SIGTERM`: the service then stops accepting and drains.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_periodic_task_runs_at_once_then_every_period_until_shutdown() {
        let tasks = Tasks::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        tasks.every(Duration::from_secs(10), move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert!(tasks.shutdown(Duration::from_secs(1)).await);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "no run after shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_waits_for_the_step_in_progress() {
        let tasks = Tasks::new();
        let finished = Arc::new(AtomicUsize::new(0));
        let counted = finished.clone();
        tasks.on_signal_or_every(Signal::User1, Some(Duration::from_secs(1)), move |wake| {
            let counted = counted.clone();
            async move {
                assert_eq!(wake, Wake::Tick);
                tokio::time::sleep(Duration::from_secs(5)).await;
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(tasks.shutdown(Duration::from_secs(30)).await);
        assert_eq!(finished.load(Ordering::SeqCst), 1, "the started step ended");
    }
}
