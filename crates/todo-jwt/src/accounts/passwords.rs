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

use std::{
    cell::RefCell,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use std::sync::atomic::AtomicBool;

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{self, Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

use crate::http::error::{ApiError, Result};

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

thread_local! {
    /// Each password thread keeps its argon2 working memory from one hash to the next: with a
    /// fresh 19 MiB allocation per hash, malloc kept up to 190 MB under a login load (measured).
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Frees this thread's argon2 memory.
fn release_memory() {
    MEMORY.take();
}

/// Runs `work` with this thread's argon2 memory sized to `blocks`.
fn with_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with_borrow_mut(|memory| {
        memory.resize(blocks, Block::default());
        work(memory)
    })
}

/// The `length`-byte argon2 output for `password` and `salt`, computed in this thread's memory.
fn derive(
    argon2: &Argon2<'_>,
    password: &SecretString,
    salt: password_hash::Salt<'_>,
    length: usize,
) -> password_hash::Result<Output> {
    let mut salt_buffer = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buffer)?;
    Output::init_with(length, |out| {
        with_memory(argon2.params().block_count(), |memory| {
            let password = password.expose_secret().as_bytes();
            argon2.hash_password_into_with_memory(password, salt_bytes, out, memory)
        })
        .map_err(Into::into)
    })
}

/// argon2id with `Argon2::default()` parameters (m = 19 MiB, t = 2, p = 1: OWASP's
/// recommendation) and a fresh salt, as a PHC string.
fn hash_now(password: &SecretString) -> password_hash::Result<String> {
    let argon2 = Argon2::default();
    let params = argon2.params().clone();
    let salt = SaltString::generate(&mut OsRng);
    let length = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = derive(&argon2, password, salt.as_salt(), length)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `hash` is a bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`): not a PHC string, and
/// what bcryptjs (LoopBack) writes.
fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|prefix| hash.starts_with(prefix))
}

/// The cost of `hash` if it is a bcrypt hash [`Passwords::verify`] can check, `None` if it is
/// not one.
pub fn bcrypt_cost(hash: &str) -> Option<u32> {
    if !is_bcrypt(hash) {
        return None;
    }
    hash.parse::<bcrypt::HashParts>()
        .ok()
        .map(|parts| parts.get_cost())
}

/// Whether `password` matches `hash`: a PHC string, checked with the parameters it names, or
/// a bcrypt hash. A stored hash that does not parse can never match; it is not the caller's
/// fault.
fn verify_now(password: &SecretString, hash: &str) -> bool {
    if is_bcrypt(hash) {
        // Passwords beyond 72 bytes are cut there, as bcryptjs did when it made the hash; the
        // comparison is constant-time.
        return bcrypt::verify(password.expose_secret(), hash).unwrap_or(false);
    }
    let check = || -> password_hash::Result<bool> {
        let parsed = PasswordHash::new(hash)?;
        let expected = parsed.hash.ok_or(password_hash::Error::Password)?;
        let algorithm = Algorithm::try_from(parsed.algorithm)?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let stored = Params::try_from(&parsed)?;
        let params = Params::new(
            stored.m_cost(),
            stored.t_cost(),
            stored.p_cost(),
            Some(expected.len()),
        )?;
        let salt = parsed.salt.ok_or(password_hash::Error::SaltInvalid(
            password_hash::errors::InvalidValue::TooShort,
        ))?;
        let argon2 = Argon2::new(algorithm, version, params);
        let computed = derive(&argon2, password, salt, expected.len())?;
        // `Output`'s equality is constant-time.
        Ok(computed == expected)
    };
    check().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value.to_owned())
    }

    /// Load shedding: with one thread and a wait bound shorter than one hash, a burst gets
    /// some answers and some immediate 503s, never anything else, and leaves the queue empty.
    #[tokio::test]
    async fn a_burst_beyond_the_wait_bound_is_refused_at_once() {
        let passwords = Passwords::new(1, Duration::from_millis(1)).expect("threads");
        let hash = passwords.hash(secret("correct horse")).await.expect("hash");
        let checks = (0..8).map(|_| {
            let (passwords, hash) = (passwords.clone(), hash.clone());
            tokio::spawn(async move { passwords.verify(secret("correct horse"), Some(hash)).await })
        });
        let (mut answered, mut refused) = (0, 0);
        for check in checks.collect::<Vec<_>>() {
            match check.await.expect("task") {
                Ok(true) => answered += 1,
                Err(ApiError::HashingBusy) => refused += 1,
                other => panic!("unexpected: {other:?}"),
            }
        }
        assert!(
            answered >= 1 && refused >= 1,
            "{answered} answered, {refused} refused"
        );
        assert_eq!(passwords.queued(), 0);
        let unbounded = Passwords::new(1, Duration::ZERO).expect("threads");
        let hash = unbounded.hash(secret("x")).await.expect("hash");
        let all = (0..4).map(|_| unbounded.verify(secret("x"), Some(hash.clone())));
        for check in all {
            assert!(check.await.expect("no shedding without a bound"));
        }
    }

    /// Idle memory is given back only when no job has run for the idle time, once, and hashing
    /// works after it; the threads run at the lowered priority.
    #[tokio::test]
    async fn idle_threads_give_their_memory_back_and_run_at_low_priority() {
        let passwords = Passwords::new(2, Duration::ZERO).expect("threads");
        let hash = passwords.hash(secret("correct horse")).await.expect("hash");
        assert!(
            !passwords.release_idle_memory(Duration::from_secs(3600)),
            "not idle yet"
        );
        assert!(passwords.release_idle_memory(Duration::ZERO));
        assert!(
            !passwords.release_idle_memory(Duration::ZERO),
            "nothing held any more"
        );
        assert!(
            passwords
                .verify(secret("correct horse"), Some(hash))
                .await
                .expect("ok")
        );
        let held = passwords
            .workers
            .broadcast(|_| MEMORY.with_borrow(Vec::len));
        assert!(held.iter().any(|&blocks| blocks > 0), "{held:?}");
        assert!(passwords.release_idle_memory(Duration::ZERO));
        // The broadcast runs after the release queued before it on every thread.
        let held = passwords
            .workers
            .broadcast(|_| MEMORY.with_borrow(Vec::len));
        assert_eq!(held, vec![0, 0]);
        let niceness = passwords
            .workers
            .broadcast(|_| rustix::process::getpriority_process(None).expect("priority"));
        assert_eq!(niceness, vec![NICENESS, NICENESS]);
    }

    #[tokio::test]
    async fn a_hash_is_argon2id_and_verifies_only_its_password() {
        let passwords = Passwords::new(2, Duration::ZERO).expect("threads");
        let hash = passwords.hash(secret("correct horse")).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            passwords
                .verify(secret("correct horse"), Some(hash.clone()))
                .await
                .expect("ok")
        );
        assert!(
            !passwords
                .verify(secret("wrong horse"), Some(hash))
                .await
                .expect("ok")
        );
    }

    #[tokio::test]
    async fn hashes_made_by_the_reference_implementation_verify() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::generate(&mut OsRng);
        let reference = Argon2::default()
            .hash_password(b"hunter42 hunter42", &salt)
            .expect("hash");
        let passwords = Passwords::new(1, Duration::ZERO).expect("threads");
        let stored = Some(reference.to_string());
        assert!(
            passwords
                .verify(secret("hunter42 hunter42"), stored.clone())
                .await
                .expect("ok")
        );
        assert!(
            !passwords
                .verify(secret("hunter43 hunter42"), stored)
                .await
                .expect("ok")
        );
        // And ours verify with the reference implementation.
        let ours = passwords
            .hash(secret("hunter42 hunter42"))
            .await
            .expect("hash");
        let parsed = PasswordHash::new(&ours).expect("PHC string");
        assert!(
            Argon2::default()
                .verify_password(b"hunter42 hunter42", &parsed)
                .is_ok()
        );
    }

    /// A hash bcryptjs 2.4.3 (LoopBack's) wrote at its cost, 10, for "loopback password".
    const BCRYPTJS_HASH: &str = "$2a$10$V32x8WXTYQ96FE0DyK2W.epJ.LFrW8yAYk8vp9pFBWXUvuYh3M/hy";

    #[tokio::test]
    async fn bcrypt_hashes_from_loopback_verify_and_are_outdated() {
        let passwords = Passwords::new(1, Duration::ZERO).expect("threads");
        let started = Instant::now();
        let right = passwords
            .verify(secret("loopback password"), Some(BCRYPTJS_HASH.to_owned()))
            .await
            .expect("ok");
        // `cargo test bcrypt_hashes -- --nocapture` shows what a cost-10 check costs here.
        println!("bcrypt verify at cost 10: {:?}", started.elapsed());
        assert!(right);
        assert!(
            !passwords
                .verify(secret("loopback passwords"), Some(BCRYPTJS_HASH.to_owned()))
                .await
                .expect("ok")
        );
        for version in [bcrypt::Version::TwoB, bcrypt::Version::TwoY] {
            let hash = bcrypt::hash_with_result("correct horse", 4)
                .expect("hash")
                .format_for_version(version);
            assert!(Passwords::is_outdated(&hash), "{hash}");
            assert!(
                passwords
                    .verify(secret("correct horse"), Some(hash))
                    .await
                    .expect("ok")
            );
        }
        let argon2 = passwords.hash(secret("correct horse")).await.expect("hash");
        assert!(!Passwords::is_outdated(&argon2));
        assert!(
            !passwords
                .verify(secret("correct horse"), Some("$2a$10$short".to_owned()))
                .await
                .expect("a broken hash never matches")
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
        let passwords = Passwords::new(1, Duration::ZERO).expect("threads");
        assert!(passwords.dummy_hash.starts_with("$argon2id$"));
        assert!(
            !passwords
                .verify(secret("anything"), None)
                .await
                .expect("ok")
        );
    }
}
