//! Password hashing: argon2id for new hashes, off the async runtime and bounded.
//!
//! Accounts imported from LoopBack (`todo-jwt import-loopback`) arrive with bcryptjs's hashes
//! (`$2a$10$...`): [`Passwords::verify`] checks those too, on the same threads (about 100 ms at
//! cost 10), and [`Passwords::is_outdated`] tells the caller to replace them with argon2id once
//! the password is known to be right.
//!
//! Each argon2id hash takes ~19 MiB and tens of milliseconds of CPU. Run on the runtime it would
//! stall every other request; run without a bound, a burst of logins exhausts memory (measured:
//! 9 GB RSS). Even bounded by a semaphore on tokio's blocking pool, the hashes wander over many
//! threads and each thread's malloc arena keeps its own 19 MiB (measured: 480 MB RSS under a
//! login load). So hashing runs on a dedicated pool of `concurrency` threads: at most that many
//! hashes at once, on threads whose memory is reused from one hash to the next, and given back
//! once no hash has run for a while ([`Passwords::release_idle_memory`]).
//!
//! The threads run at a lower scheduling priority ([`NICENESS`]): during a login flood the
//! hashes take the CPU that requests leave, instead of an equal share of it (measured with
//! `bench/login_flood.sh`: reads kept 47% of their throughput at equal priority).
//!
//! This file is the pool: its threads, queue and load shedding, and when memory is given back.
//! What a thread computes (argon2id in reused memory, bcrypt checks) is in `passwords/hashing.rs`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use std::sync::atomic::AtomicBool;

use argon2::password_hash;
use secrecy::SecretString;
use tokio::sync::oneshot;

use crate::http::error::{ApiError, Result};

mod hashing;

pub use hashing::bcrypt_cost;
use hashing::{hash_now, is_bcrypt, release_memory, verify_now};

/// Why the password hasher could not start.
#[derive(Debug, thiserror::Error)]
pub enum PasswordsError {
    /// Its threads could not be started.
    #[error("cannot start the password threads")]
    Threads(#[from] rayon::ThreadPoolBuildError),
    /// argon2 refused its own parameters (a bug).
    #[error("argon2 failed")]
    Hash(#[source] password_hash::Error),
}

/// The password threads' nice value (0 is normal, 19 the lowest priority). At 10 a thread gets
/// about a tenth of the CPU share of a normal one when both want it: the hashes slow down
/// during a flood of other requests, and the time they wait is bounded by load shedding.
pub const NICENESS: i32 = 10;

/// Hashes and verifies passwords.
#[derive(Clone, Debug)]
pub struct Passwords {
    workers: Arc<rayon::ThreadPool>,
    /// Checked when the email is unknown, so both login failures cost the same time.
    dummy_hash: Arc<str>,
    queue: Arc<Queue>,
}

/// The hashing queue's state, for load shedding: a job that would wait longer than `max_wait`
/// is refused at once (503) instead of queueing behind a flood.
#[derive(Debug)]
struct Queue {
    /// Jobs queued or running.
    jobs: AtomicUsize,
    /// Threads.
    concurrency: usize,
    /// A moving average of how long a job takes, in microseconds.
    average_micros: AtomicU64,
    /// The longest expected wait accepted; zero: no shedding.
    max_wait: Duration,
    /// When the last job ended, in microseconds since `epoch`.
    last_active: AtomicU64,
    epoch: Instant,
    /// Whether some thread may hold argon2 memory.
    holding: AtomicBool,
}

impl Queue {
    fn micros_since_epoch(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// Gives a job's place in the queue back when dropped (run, skipped or refused).
struct Place(Arc<Queue>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.jobs.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Passwords {
    /// A hasher allowing `concurrency` hashes at once (about the core count), refusing work
    /// that would wait longer than `max_wait` (zero: never); fails when its threads cannot be
    /// started.
    pub fn new(concurrency: usize, max_wait: Duration) -> Result<Self, PasswordsError> {
        let workers = rayon::ThreadPoolBuilder::new()
            .num_threads(concurrency.max(1))
            .thread_name(|index| format!("password-{index}"))
            .start_handler(|_| lower_priority())
            .build()?;
        let dummy = SecretString::from(uuid::Uuid::new_v4().to_string());
        let started = Instant::now();
        // On a password thread, whose memory is given back with the others'.
        let dummy_hash = workers
            .install(|| hash_now(&dummy))
            .map_err(PasswordsError::Hash)?;
        let first = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        Ok(Self {
            workers: Arc::new(workers),
            dummy_hash: dummy_hash.into(),
            queue: Arc::new(Queue {
                jobs: AtomicUsize::new(0),
                concurrency: concurrency.max(1),
                average_micros: AtomicU64::new(first.max(1)),
                max_wait,
                last_active: AtomicU64::new(0),
                epoch: Instant::now(),
                holding: AtomicBool::new(true),
            }),
        })
    }

    /// The argon2id PHC string of `password`, with a fresh salt.
    pub async fn hash(&self, password: SecretString) -> Result<String> {
        self.run(move || hash_now(&password).map_err(ApiError::internal))
            .await?
    }

    /// Whether `password` matches `hash`; with no hash (an unknown user) a dummy hash is checked,
    /// and the answer is `false`.
    pub async fn verify(&self, password: SecretString, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self.run(move || verify_now(&password, &hash)).await?;
        Ok(known && matches)
    }

    /// Whether `hash` should be replaced by an argon2id hash of the same password at the next
    /// successful check: a bcrypt hash imported from LoopBack.
    pub fn is_outdated(hash: &str) -> bool {
        is_bcrypt(hash)
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let queue = Arc::clone(&self.queue);
        let ahead = queue.jobs.fetch_add(1, Ordering::AcqRel);
        let place = Place(Arc::clone(&queue));
        if !queue.max_wait.is_zero() {
            // Rounds of `concurrency` jobs ahead, each about the average job's time.
            let rounds = u64::try_from(ahead / queue.concurrency).unwrap_or(u64::MAX);
            let expected = Duration::from_micros(
                rounds.saturating_mul(queue.average_micros.load(Ordering::Relaxed)),
            );
            if expected > queue.max_wait {
                crate::ops::metrics::login("shed");
                return Err(ApiError::HashingBusy);
            }
        }
        let (sender, receiver) = oneshot::channel();
        let queued_at = Instant::now();
        self.workers.spawn(move || {
            // The client went away while this waited: nobody wants the answer.
            if sender.is_closed() {
                return;
            }
            let started = Instant::now();
            crate::ops::metrics::hash_wait(started - queued_at);
            let result = work();
            let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            // An exponential moving average (1/8 weight to the newest), racy but monotone.
            let average = queue.average_micros.load(Ordering::Relaxed);
            let updated = average - average / 8 + took / 8;
            queue
                .average_micros
                .store(updated.max(1), Ordering::Relaxed);
            queue
                .last_active
                .store(queue.micros_since_epoch(), Ordering::Relaxed);
            queue.holding.store(true, Ordering::Release);
            // The place is given back before the answer, so whoever gets it sees the queue
            // without this job.
            drop(place);
            let _ = sender.send(result);
        });
        receiver
            .await
            .map_err(|_| ApiError::internal("a password thread failed"))
    }

    /// Sets the `password_hash_queue_length` gauge (when the metrics are read).
    pub fn report_queue_length(&self) {
        #[expect(clippy::cast_precision_loss, reason = "a queue length is small")]
        metrics::gauge!("password_hash_queue_length").set(self.queued() as f64);
    }

    /// Jobs queued or running now.
    pub fn queued(&self) -> usize {
        self.queue.jobs.load(Ordering::Acquire)
    }

    /// When no job has run for `idle`, makes every password thread give its argon2 memory
    /// back (19 MiB each with the default parameters); the next hash allocates it again, which
    /// costs a few milliseconds. Returns whether it did. Called periodically by the service,
    /// which then has the allocator return it to the system ([`crate::ops::allocator`]).
    pub fn release_idle_memory(&self, idle: Duration) -> bool {
        let queue = &self.queue;
        let since = queue
            .micros_since_epoch()
            .saturating_sub(queue.last_active.load(Ordering::Relaxed));
        let idle_micros = u64::try_from(idle.as_micros()).unwrap_or(u64::MAX);
        if queue.jobs.load(Ordering::Acquire) != 0
            || since < idle_micros
            || !queue.holding.swap(false, Ordering::AcqRel)
        {
            return false;
        }
        // Queued behind any job that started since: that job keeps its memory until the
        // next call.
        self.workers.spawn_broadcast(|_| release_memory());
        true
    }
}

/// Lowers the calling thread's scheduling priority to [`NICENESS`] (on Linux the nice value is
/// per thread). Failing only costs fairness, so it is logged, not fatal.
fn lower_priority() {
    if let Err(error) = rustix::process::setpriority_process(None, NICENESS) {
        tracing::warn!(%error, "cannot lower the password threads' priority");
    }
}

#[cfg(test)]
mod tests;
