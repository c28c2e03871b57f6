//! hyper's timer, with its sleeps kept for reuse.
//!
//! hyper arms the header read timeout each time it waits for a request's head, and drops it
//! once the head is read: with `hyper_util`'s timer, each request registered a new tokio sleep
//! in the runtime's timer wheel and removed it again, under the wheel's lock. `perf` put those
//! (the insert, the removal, the lock, the allocation) at about 2.5% of a kept 304's time under
//! load, more than any other piece of the service's own. A sleep dropped here goes back to its
//! thread's pool, still registered; the next head's timeout takes it and moves its deadline
//! later, which tokio does without the wheel (a deadline moved later is checked when the
//! earlier one comes). hyper's timeouts are unchanged: the same deadlines, met the same way.
//!
//! A pooled sleep that reaches its old deadline unused wakes the task that last polled it,
//! once (a task that finds nothing to do); a thread keeps at most [`POOLED`] sleeps.

use std::{
    cell::RefCell,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use hyper::rt::{Sleep, Timer};
use thread_local::ThreadLocal;

/// The most sleeps a thread keeps for reuse.
const POOLED: usize = 256;

/// A thread's sleeps, padded to their own cache lines: the `thread_local` crate keeps the
/// threads' values side by side, and each borrow writes the `RefCell`'s flag.
#[derive(Default)]
#[repr(align(128))]
struct Pool(RefCell<Vec<Pin<Box<tokio::time::Sleep>>>>);

/// See the module's documentation. One per server: its sleeps belong to the runtime that
/// serves it.
#[derive(Clone, Default)]
pub struct ReusingTimer {
    pools: Arc<ThreadLocal<Pool>>,
}

impl ReusingTimer {
    fn take(&self, deadline: Instant) -> Pin<Box<tokio::time::Sleep>> {
        let pooled = self
            .pools
            .get_or(Pool::default)
            .0
            .try_borrow_mut()
            .ok()
            .and_then(|mut pool| pool.pop());
        match pooled {
            Some(mut sleep) => {
                sleep.as_mut().reset(deadline.into());
                sleep
            }
            None => Box::pin(tokio::time::sleep_until(deadline.into())),
        }
    }
}

impl Timer for ReusingTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    /// The runtime's clock (as `hyper_util`'s timer): a paused clock in tests.
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(Reused {
            inner: Some(self.take(deadline)),
            pools: Arc::clone(&self.pools),
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<Reused>() {
            Some(mut reused) => {
                if let Some(inner) = reused.inner.as_mut() {
                    inner.as_mut().reset(new_deadline.into());
                }
            }
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A sleep that goes back to its thread's pool when dropped.
struct Reused {
    inner: Option<Pin<Box<tokio::time::Sleep>>>,
    pools: Arc<ThreadLocal<Pool>>,
}

impl Future for Reused {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        match self.inner.as_mut() {
            Some(inner) => inner.as_mut().poll(context),
            None => Poll::Ready(()),
        }
    }
}

impl Sleep for Reused {}

impl Drop for Reused {
    fn drop(&mut self) {
        let Some(sleep) = self.inner.take() else {
            return;
        };
        // One that fired is registered no more: moving its deadline would register it again,
        // so it goes (rare: a head that took the whole timeout).
        if sleep.is_elapsed() {
            return;
        }
        if let Ok(mut pool) = self.pools.get_or(Pool::default).0.try_borrow_mut()
            && pool.len() < POOLED
        {
            pool.push(sleep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_reused_sleep_waits_for_its_new_deadline_only() {
        let timer = ReusingTimer::default();
        let start = timer.now();
        let first = timer.sleep(Duration::from_secs(10));
        drop(first);
        assert_eq!(timer.pools.get().map(|pool| pool.0.borrow().len()), Some(1));
        // Taken from the pool, for a shorter wait than its old deadline.
        let second = timer.sleep(Duration::from_secs(3));
        assert_eq!(timer.pools.get().map(|pool| pool.0.borrow().len()), Some(0));
        second.await;
        let waited = timer.now() - start;
        assert!(
            waited >= Duration::from_secs(3) && waited < Duration::from_secs(4),
            "{waited:?}"
        );
        // And moved later by `reset`.
        let mut third = timer.sleep(Duration::from_secs(1));
        let before = timer.now();
        timer.reset(&mut third, before + Duration::from_secs(5));
        third.await;
        let waited = timer.now() - before;
        assert!(waited >= Duration::from_secs(5), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_elapsed_sleep_is_not_kept() {
        let timer = ReusingTimer::default();
        let sleep = timer.sleep(Duration::from_millis(10));
        sleep.await;
        assert_eq!(timer.pools.get().map_or(0, |pool| pool.0.borrow().len()), 0);
    }
}
