//! Giving freed memory back to the system while the service is idle.
//!
//! mimalloc (the binary's allocator, see `main.rs`) gives each thread its own heap, and a thread
//! takes back what others freed into its pages only when it allocates again or collects
//! ([`mi_alloc::collect`]). Connections move between the runtime's workers, so much of what one
//! worker allocated for a connection is freed by another; a worker that then stays idle kept it
//! resident for good (measured with `bench/stalled_bodies.py`: 94 MiB 12 s after 600 stalled
//! uploads closed, where the idle service held 47).
//!
//! So every [`RETURN_INTERVAL`] the background task opens a new round ([`return_freed_memory`]):
//! it collects its own thread, and wakes the parked workers, each of which collects once per round
//! just before it parks again ([`on_worker_park`], installed by `main.rs`). A second round, one
//! interval later, lets the arena purge what the first freed (mimalloc waits 1 s before purging
//! a freed range). A busy worker collects at most once per round, so the cost stays off the
//! request path.

use std::{
    cell::Cell,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// How often a collection round starts. Memory freed by a burst is back with the system within
/// about two rounds.
pub const RETURN_INTERVAL: Duration = Duration::from_secs(4);

/// The current round; a worker collects when it parks in a round it has not collected in.
static ROUND: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The round this thread last collected in.
    static COLLECTED_IN: Cell<u64> = const { Cell::new(0) };
}

/// Empty tasks spawned to wake the parked workers: the runtime notifies a parked worker when a
/// worker's queue holds more than one task, so two are enough for each worker to wake.
const WAKE_TASKS: usize = 4;

/// Starts a collection round: collects the calling thread and wakes the runtime's parked workers
/// so that each collects too. Must run inside the runtime (it spawns).
pub fn return_freed_memory() {
    let round = ROUND.fetch_add(1, Ordering::Relaxed) + 1;
    collect_in(round);
    for _ in 0..WAKE_TASKS {
        tokio::spawn(std::future::ready(()));
    }
}

/// To be called by each runtime worker just before it parks (`on_thread_park`): collects its
/// heap if it has not in the current round. Otherwise one atomic load and a thread-local read.
pub fn on_worker_park() {
    let round = ROUND.load(Ordering::Relaxed);
    if COLLECTED_IN.get() != round {
        collect_in(round);
    }
}

/// Collects the calling thread's heap (also for threads outside the runtime, such as the
/// password threads once they give their memory back).
pub fn collect_this_thread() {
    mi_alloc::collect();
}

fn collect_in(round: u64) {
    COLLECTED_IN.set(round);
    mi_alloc::collect();
}
