//! Connections shared by the short reads by a key (a list's version, a todo, a user): many
//! requests use one at once, and tokio-postgres pipelines their statements. Its connection
//! task writes every statement waiting in its queue in one `write`, and reads the answers of
//! many in one `read`, where a pooled connection makes a round of system calls and wake-ups
//! for each. Under load this is most of what a read costs the instance.
//!
//! Only statements that answer one row at once share: a long answer would hold up every read
//! queued behind it on the connection, and a transaction needs its connection alone. A pooler
//! in transaction mode gets none (each statement there may reach another server connection,
//! which pipelining across clients does not suit); nor does a pool too small to spare them.
//!
//! A shared connection is made when it is first needed, and again when it has closed. While
//! one is being made (the server restarting, say), reads take pooled connections instead, so
//! that an outage costs each request its own attempt and budget, not a queue behind one.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use deadpool_postgres::{ClientWrapper, Pool};

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
    /// `count` slots, each empty until first used.
    pub(super) fn new(count: usize) -> Self {
        Self {
            slots: (0..count).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next shared connection, made with `pool`'s manager when its slot has none. `None`
    /// when there are no slots, or when the slot's connection is being made by another
    /// request or could not be made: the caller takes a pooled connection then.
    pub(super) async fn get(&self, pool: &Pool) -> Option<Arc<ClientWrapper>> {
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
        // Bounded like the pool's own: its `create_timeout` does not apply here.
        let timeout = pool
            .timeouts()
            .create
            .unwrap_or(std::time::Duration::from_secs(5));
        let made =
            tokio::time::timeout(timeout, deadpool::managed::Manager::create(pool.manager()))
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
}
