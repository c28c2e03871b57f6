//! Connections shared by the short reads by a key (a list's version, a todo, a user): many
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
//! Only statements that answer one row at once share: a long answer would hold up every read
//! queued behind it on the connection, and a transaction needs its connection alone. A pooler
//! in transaction mode gets none (each statement there may reach another server connection,
//! which pipelining across clients does not suit); nor does a pool too small to spare them.
//!
//! A shared connection is made when it is first needed, and again when it has closed. While
//! one is being made (the server restarting, say), reads take pooled connections instead, so
//! that an outage costs each request its own attempt and budget, not a queue behind one.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
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

/// A [`Connector`] that connects with `config` and `tls` (the pool's own), and drives each
/// connection on a task of its own through [`Coalescing`].
pub(super) fn connector<T>(config: tokio_postgres::Config, tls: T) -> Connector
where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
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

/// The shared connections, taken in turn.
pub(super) struct Shared {
    slots: Box<[Slot]>,
    next: AtomicUsize,
    connect: Connector,
    /// How long making a connection may take.
    budget: Duration,
}

#[derive(Default)]
struct Slot {
    /// The connection, while it is open.
    client: Mutex<Option<Arc<ClientWrapper>>>,
    /// Held while a connection is being made for this slot.
    making: tokio::sync::Mutex<()>,
}

impl Slot {
    /// The connection, unless there is none or it has closed.
    fn open(&self) -> Option<Arc<ClientWrapper>> {
        let client = self
            .client
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        client
            .as_ref()
            .filter(|client| !client.is_closed())
            .cloned()
    }
}

impl Shared {
    /// `count` slots, each empty until first used, filled by `connect` within `budget`.
    pub(super) fn new(count: usize, connect: Connector, budget: Duration) -> Self {
        Self {
            slots: (0..count).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
            connect,
            budget,
        }
    }

    /// The next shared connection, made when its slot has none. `None` when there are no
    /// slots, or when the slot's connection is being made by another request or could not be
    /// made: the caller takes a pooled connection then.
    pub(super) async fn get(&self) -> Option<Arc<ClientWrapper>> {
        if self.slots.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = &self.slots[turn];
        if let Some(client) = slot.open() {
            return Some(client);
        }
        let _making = slot.making.try_lock().ok()?;
        if let Some(client) = slot.open() {
            return Some(client);
        }
        let made = tokio::time::timeout(self.budget, (self.connect)())
            .await
            .ok()?
            .ok()?;
        let made = Arc::new(made);
        *slot
            .client
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::clone(&made));
        Some(made)
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
