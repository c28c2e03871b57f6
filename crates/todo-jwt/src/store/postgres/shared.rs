//! Connections shared by the short reads by a key (a list's or a todo's version, a user, a
//! session, a throttle's count): many
//! requests use one at once, and tokio-postgres pipelines their statements. Its connection
//! task writes every statement waiting in its queue in one `write`, and reads the answers of
//! many in one `read`, where a pooled connection makes a round of system calls and wake-ups
//! for each. Under load this is most of what a read costs the instance.
//!
//! How many statements one `write` carries depends on when the connection's task runs. A
//! request that queues a statement wakes that task, and tokio runs a task woken so straight
//! after the one that woke it: it would write that one statement alone, before the other
//! requests ready on the thread had queued theirs. So the task lets them run first: woken, it
//! yields once, then drives the connection ([`Coalescing`]).
//!
//! Only statements that answer one short row share (`Run::optional` with a short read, not
//! one marked `wide`, as a whole todo is): a long answer would hold up every read queued
//! behind it on the connection, and a transaction needs its connection alone. A pooler
//! in transaction mode gets none (each statement there may reach another server connection,
//! which pipelining across clients does not suit); nor does a pool too small to spare them.
//!
//! A shared connection is made when it is first needed, and again when it has closed (the
//! kernel closes one whose peer stops acknowledging: see [`SILENCE_MARGIN`]).
//! While one is being made (the server restarting, say), or for a second after an attempt
//! failed, reads take pooled connections instead, so that an outage costs each request the
//! pool's own attempt and budget, not a queue behind one. A connection carries at most
//! [`MAX_IN_FLIGHT`] statements at once; further reads take pooled connections.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use deadpool_postgres::ClientWrapper;
use futures_util::future::BoxFuture;
use tokio_postgres::{
    Socket,
    tls::{MakeTlsConnect, TlsConnect},
};

/// Makes a shared connection.
type Connector =
    Box<dyn Fn() -> BoxFuture<'static, Result<ClientWrapper, tokio_postgres::Error>> + Send + Sync>;

/// A [`Connector`] that connects with `config` and `tls` (the pool's own), given up by the
/// kernel when it goes silent for `budget` and [`SILENCE_MARGIN`], and drives each connection
/// on a task of its own through [`Coalescing`].
pub(super) fn connector<T>(
    mut config: tokio_postgres::Config,
    tls: T,
    budget: Duration,
) -> Connector
where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    config
        .tcp_user_timeout(budget + SILENCE_MARGIN)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE);
    Box::new(move || {
        let (config, tls) = (config.clone(), tls.clone());
        Box::pin(async move {
            let (client, connection) = config.connect(tls).await?;
            let task = tokio::spawn(Coalescing::new(connection));
            Ok(ClientWrapper::new(client, task))
        })
    })
}

/// Drives a connection (`inner`), letting the tasks ready before it run first each time it is
/// woken: it yields once (woken again at once, it goes to the back of its thread's queue),
/// then polls `inner`. Ends with the connection; its error, if any, is the statements' to
/// report (they fail with it).
pub(super) struct Coalescing<F> {
    inner: Pin<Box<F>>,
    yielded: bool,
}

impl<F> Coalescing<F> {
    pub(super) fn new(inner: F) -> Self {
        Self {
            inner: Box::pin(inner),
            yielded: false,
        }
    }
}

impl<F: Future<Output = Result<(), E>>, E: std::fmt::Display> Future for Coalescing<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        match self.inner.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                if let Err(error) = result {
                    tracing::debug!(%error, "a shared PostgreSQL connection ended");
                }
                Poll::Ready(())
            }
        }
    }
}

/// How many connections of a pool of `pool_size` are shared: two of a pool of eight or more,
/// one of four to seven, none of fewer (each connection a transaction could wait for counts
/// there). They are taken out of the pool's size: the service keeps to `pool_size` in all.
pub(super) fn shared_count(pool_size: usize) -> usize {
    match pool_size {
        0..4 => 0,
        4..8 => 1,
        _ => 2,
    }
}

/// Statements one shared connection carries at once at most. Beyond, a read takes a pooled
/// connection, where it waits as long as the pool allows, then is a 503: the shared
/// connections never queue without end.
const MAX_IN_FLIGHT: usize = 64;

/// How long a slot waits after a connection could not be made before it tries again (reads
/// take pooled connections meanwhile): a server that refuses connections is not asked again
/// by every read.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long data sent on a shared connection may go unacknowledged past the query budget
/// before the kernel gives the connection up (`TCP_USER_TIMEOUT`): a link that died without a
/// word fails the statements on it, and the next read makes a new connection. Idle, the
/// connection is probed after [`KEEPALIVE_IDLE`].
const SILENCE_MARGIN: Duration = Duration::from_secs(1);

/// How long a shared connection may be idle before TCP probes it.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// The shared connections, taken in turn.
pub(super) struct Shared {
    slots: Box<[Slot]>,
    next: AtomicUsize,
    connect: Connector,
    /// How long making a connection may take.
    budget: Duration,
}

struct Slot {
    /// The connection, while it is open.
    client: Mutex<Option<Arc<ClientWrapper>>>,
    /// Held while a connection is being made for this slot.
    making: tokio::sync::Mutex<()>,
    /// The turns of the statements in flight.
    in_flight: tokio::sync::Semaphore,
    /// When a connection could last not be made.
    failed_at: Mutex<Option<Instant>>,
}

impl Slot {
    fn new() -> Self {
        Self {
            client: Mutex::default(),
            making: tokio::sync::Mutex::default(),
            in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
            failed_at: Mutex::default(),
        }
    }

    /// The connection, unless there is none or it has closed.
    fn open(&self) -> Option<Arc<ClientWrapper>> {
        let client = lock(&self.client);
        client
            .as_ref()
            .filter(|client| !client.is_closed())
            .cloned()
    }
}

/// The lock's guard, even after a panic while it was held (what it guards stays consistent:
/// one assignment).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A shared connection lent to one statement, with that statement's turn on it (given back
/// when the statement ends, or its request is dropped).
pub(super) struct Lent<'a> {
    client: Arc<ClientWrapper>,
    _turn: tokio::sync::SemaphorePermit<'a>,
}

impl std::ops::Deref for Lent<'_> {
    type Target = ClientWrapper;

    fn deref(&self) -> &ClientWrapper {
        &self.client
    }
}

impl Shared {
    /// `count` slots, each empty until first used, filled by `connect` within `budget`.
    pub(super) fn new(count: usize, connect: Connector, budget: Duration) -> Self {
        Self {
            slots: (0..count).map(|_| Slot::new()).collect(),
            next: AtomicUsize::new(0),
            connect,
            budget,
        }
    }

    /// The next shared connection, made when its slot has none. `None` when there are no
    /// slots, or the slot carries [`MAX_IN_FLIGHT`] statements already, or its connection is
    /// being made by another request, could not be made, or failed to be less than
    /// [`RETRY_AFTER`] ago: the caller takes a pooled connection then.
    pub(super) async fn get(&self) -> Option<Lent<'_>> {
        if self.slots.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = &self.slots[turn];
        let turn = slot.in_flight.try_acquire().ok()?;
        let lent = |client| Lent {
            client,
            _turn: turn,
        };
        if let Some(client) = slot.open() {
            return Some(lent(client));
        }
        if lock(&slot.failed_at).is_some_and(|at| at.elapsed() < RETRY_AFTER) {
            return None;
        }
        let _making = slot.making.try_lock().ok()?;
        if let Some(client) = slot.open() {
            return Some(lent(client));
        }
        let Ok(Ok(made)) = tokio::time::timeout(self.budget, (self.connect)()).await else {
            *lock(&slot.failed_at) = Some(Instant::now());
            return None;
        };
        let made = Arc::new(made);
        *lock(&slot.client) = Some(Arc::clone(&made));
        Some(lent(made))
    }

    /// How many connections are shared (open or not).
    pub(super) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// How many shared connections are open.
    pub(super) fn open(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| slot.open().is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_pool_shares_none_and_the_shared_stay_within_the_pool() {
        assert_eq!(shared_count(1), 0);
        assert_eq!(shared_count(3), 0);
        assert_eq!(shared_count(4), 1);
        assert_eq!(shared_count(7), 1);
        assert_eq!(shared_count(8), 2);
        assert_eq!(shared_count(1_000), 2);
        for size in 1..=64 {
            assert!(size - shared_count(size) >= 3.min(size), "{size}");
        }
    }

    /// A slot whose connection could not be made takes pooled connections for a while
    /// ([`RETRY_AFTER`]) before it tries again: a server that refuses connections is not
    /// asked again by every read.
    #[tokio::test]
    async fn a_slot_that_could_not_connect_waits_before_it_tries_again() {
        let attempts = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&attempts);
        // Nothing listens on port 1: refused at once.
        let config: tokio_postgres::Config = "host=127.0.0.1 port=1 user=nobody"
            .parse()
            .expect("a config");
        let refused = connector(config, tokio_postgres::NoTls, Duration::from_secs(2));
        let connect: Connector = Box::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            refused()
        });
        let shared = Shared::new(1, connect, Duration::from_secs(2));
        assert!(shared.get().await.is_none());
        assert!(shared.get().await.is_none());
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        tokio::time::sleep(RETRY_AFTER + Duration::from_millis(50)).await;
        assert!(shared.get().await.is_none());
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        assert_eq!((shared.open(), shared.slots()), (0, 1));
    }

    /// Woken, the driver lets the task ready after it run first (there, a request that queues
    /// its statement), and ends when its connection does.
    #[test]
    fn the_driver_lets_the_ready_tasks_run_before_it() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let order = Arc::new(Mutex::new(Vec::new()));
        runtime.block_on(async {
            let log = Arc::clone(&order);
            let driver = tokio::spawn(Coalescing::new(async move {
                log.lock().expect("log").push("connection");
                Ok::<(), std::io::Error>(())
            }));
            let log = Arc::clone(&order);
            let other = tokio::spawn(async move { log.lock().expect("log").push("request") });
            driver.await.expect("the driver ends with its connection");
            other.await.expect("the other task");
        });
        assert_eq!(*order.lock().expect("log"), ["request", "connection"]);
    }
}
