//! hyper's timer, with each connection's sleep kept for its next request.
//!
//! hyper arms the header read timeout each time it waits for a request's head, and drops it
//! once the head is read: with `hyper_util`'s timer, each request registered a new tokio sleep
//! in the runtime's timer wheel and removed it again, under the wheel's lock. `perf` put those
//! (the insert, the removal, the lock, the allocation) at about 2.5% of a kept 304's time under
//! load, more than any other piece of the service's own. Here a connection keeps its sleep
//! ([`with_sleep`]): dropped by hyper, it goes back to the connection still registered, and
//! the next head's timeout moves its deadline later, which tokio does without the wheel (a
//! deadline moved later is checked when the earlier one comes). hyper's timeouts are
//! unchanged: the same deadlines, met the same way.
//!
//! (A pool per thread instead moved sleeps between connections, and each then registered
//! another task's waker, whose count lives with that task: the pool cost about as much as it
//! saved.)

use std::{
    cell::RefCell,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use hyper::rt::{Sleep, Timer};

tokio::task_local! {
    /// The connection's sleep, between two heads.
    static KEPT: RefCell<Option<Pin<Box<tokio::time::Sleep>>>>;
}

/// `connection` (a task's future serving one connection), with a place to keep its sleep.
pub fn with_sleep<F: Future>(connection: F) -> impl Future<Output = F::Output> {
    KEPT.scope(RefCell::new(None), connection)
}

/// See the module's documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReusingTimer;

impl Timer for ReusingTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        let kept = KEPT
            .try_with(|kept| kept.try_borrow_mut().ok().and_then(|mut kept| kept.take()))
            .ok()
            .flatten();
        let inner = match kept {
            Some(mut sleep) => {
                sleep.as_mut().reset(deadline.into());
                sleep
            }
            None => Box::pin(tokio::time::sleep_until(deadline.into())),
        };
        Box::pin(Reused { inner: Some(inner) })
    }

    /// The runtime's clock (as `hyper_util`'s timer): a paused clock in tests.
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into()
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

/// A sleep that goes back to its connection when dropped.
struct Reused {
    inner: Option<Pin<Box<tokio::time::Sleep>>>,
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
        // One that fired is registered no more (moving its deadline would register it
        // again): it goes. Rare: a head that took the whole timeout ends the connection.
        if sleep.is_elapsed() {
            return;
        }
        let _ = KEPT.try_with(|kept| {
            if let Ok(mut kept) = kept.try_borrow_mut() {
                *kept = Some(sleep);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the connection keeps a sleep now.
    fn kept() -> bool {
        KEPT.with(|kept| kept.borrow().is_some())
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_sleep_waits_for_its_new_deadline_only() {
        with_sleep(async {
            let timer = ReusingTimer;
            let start = timer.now();
            drop(timer.sleep(Duration::from_secs(10)));
            assert!(kept(), "kept for the next head");
            // Taken back, for a shorter wait than its old deadline.
            let second = timer.sleep(Duration::from_secs(3));
            assert!(!kept());
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
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_elapsed_sleep_is_not_kept_and_none_is_kept_outside_a_connection() {
        with_sleep(async {
            ReusingTimer.sleep(Duration::from_millis(10)).await;
            assert!(!kept());
        })
        .await;
        let start = ReusingTimer.now();
        let outside = ReusingTimer.sleep(Duration::from_secs(2));
        outside.await;
        assert!(ReusingTimer.now() - start >= Duration::from_secs(2));
    }
}
