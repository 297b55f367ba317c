//! A worker-local stop signal: set once by the control task, awaited by accept loops and
//! background tasks. Single-threaded (`!Send`), so a `Cell` and a waker list suffice.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Set once; every waiter wakes.
#[derive(Debug, Default)]
pub struct Stop {
    stopped: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

impl Stop {
    /// Not stopped.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Stop and wake every waiter.
    pub fn trigger(&self) {
        self.stopped.set(true);
        for w in self.wakers.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Whether `trigger` was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Resolves once stopped.
    pub fn wait(&self) -> StopWait<'_> {
        StopWait { stop: self }
    }
}

/// The future of [`Stop::wait`].
#[derive(Debug)]
pub struct StopWait<'a> {
    stop: &'a Stop,
}

impl Future for StopWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.stop.stopped.get() {
            return Poll::Ready(());
        }
        let mut wakers = self.stop.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn waiters_wake_on_trigger() {
        crate::Driver::Legacy
            .block_on(false, async {
                let stop = Rc::new(Stop::new());
                let s2 = stop.clone();
                let waiter = monoio::spawn(async move {
                    s2.wait().await;
                    7
                });
                monoio::time::sleep(std::time::Duration::from_millis(5)).await;
                assert!(!stop.is_stopped());
                stop.trigger();
                assert_eq!(waiter.await, 7);
                // already stopped: resolves at once
                stop.wait().await;
            })
            .unwrap();
    }
}
