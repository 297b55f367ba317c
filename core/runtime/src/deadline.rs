//! Cheap deadlines for the per-request I/O of a connection.
//!
//! A monoio timer per read or write costs a timer-wheel insert and removal plus a clock read
//! and a future move each time — measured at ~600 instructions per operation, more than the
//! proxying code around it. Here a connection owns one [`Watch`], registered once with its
//! worker's [`Watchdog`]; bounding an operation only writes the deadline into the watch, and the
//! watchdog's sweep (every [`TICK`]) wakes the operations whose deadline has passed.
//!
//! Deadlines are read off `CLOCK_MONOTONIC_COARSE` (the kernel's tick-updated clock: the vDSO
//! returns it without reading the TSC), padded by its resolution so none fires early. A
//! deadline fires up to one tick plus two clock resolutions late, which no timeout of the
//! configuration is fine-grained enough to notice.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::OnceLock;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use nix::time::{ClockId, clock_getres, clock_gettime};

/// How often the watchdog looks at the deadlines.
pub const TICK: Duration = Duration::from_millis(10);

/// Milliseconds on the coarse monotonic clock (or, where it is missing, since the first call).
pub fn coarse_ms() -> u64 {
    match clock_gettime(ClockId::CLOCK_MONOTONIC_COARSE) {
        Ok(t) => (t.tv_sec() as u64)
            .saturating_mul(1000)
            .saturating_add(t.tv_nsec() as u64 / 1_000_000),
        Err(_) => {
            static EPOCH: OnceLock<Instant> = OnceLock::new();
            EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
        }
    }
}

/// The coarse clock's resolution in whole milliseconds, rounded up (1 ms at least): how far
/// [`coarse_ms`] may lag the true time.
fn coarse_slack_ms() -> u64 {
    static SLACK: OnceLock<u64> = OnceLock::new();
    *SLACK.get_or_init(|| {
        clock_getres(ClockId::CLOCK_MONOTONIC_COARSE).map_or(1, |r| {
            let ns = (r.tv_sec() as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(r.tv_nsec() as u64);
            ns.div_ceil(1_000_000).max(1)
        })
    })
}

/// One connection's deadline: at most one bounded operation at a time.
#[derive(Debug, Default)]
pub struct Watch {
    /// On the [`coarse_ms`] clock.
    deadline: Cell<Option<u64>>,
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// The deadline passed before the operation completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl Watch {
    /// Run `fut` until it completes or `limit` passes (the caller then drops it, which
    /// cancels its I/O). Pinned by the caller: taken by value, the future would be stored (and
    /// copied) twice, as the argument and as the pinned local.
    pub async fn within<F: Future>(
        &self,
        limit: Duration,
        mut fut: Pin<&mut F>,
    ) -> Result<F::Output, Elapsed> {
        let limit_ms = u64::try_from(limit.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        let deadline = coarse_ms()
            .saturating_add(limit_ms)
            .saturating_add(coarse_slack_ms());
        self.deadline.set(Some(deadline));
        self.fired.set(false);
        let out = std::future::poll_fn(|cx| {
            if self.fired.get() {
                return Poll::Ready(None);
            }
            match fut.as_mut().poll(cx) {
                Poll::Ready(v) => Poll::Ready(Some(v)),
                Poll::Pending => {
                    let mut slot = self.waker.borrow_mut();
                    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        *slot = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await;
        self.deadline.set(None);
        out.ok_or(Elapsed)
    }

    /// Fire if the deadline has passed (`now` on the [`coarse_ms`] clock).
    fn check(&self, now: u64) {
        if let Some(d) = self.deadline.get()
            && now >= d
        {
            self.deadline.set(None);
            self.fired.set(true);
            if let Some(w) = self.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

/// A worker's watches. Single-threaded, shared by the worker's tasks.
#[derive(Debug, Default)]
pub struct Watchdog {
    watches: RefCell<Vec<Weak<Watch>>>,
}

impl Watchdog {
    /// A new watch, swept by this watchdog until it is dropped.
    pub fn watch(&self) -> Rc<Watch> {
        let w = Rc::new(Watch::default());
        self.watches.borrow_mut().push(Rc::downgrade(&w));
        w
    }

    /// Fire every watch whose deadline has passed; forget dropped ones.
    pub fn sweep(&self) {
        let now = coarse_ms();
        // collect first: a woken task only runs later, but keep the borrow short anyway
        let due: Vec<Rc<Watch>> = {
            let mut list = self.watches.borrow_mut();
            let mut due = Vec::new();
            list.retain(|w| match w.upgrade() {
                Some(w) => {
                    if w.deadline.get().is_some_and(|d| now >= d) {
                        due.push(w);
                    }
                    true
                }
                None => false,
            });
            due
        };
        for w in due {
            w.check(now);
        }
    }

    /// Watches alive.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.watches.borrow().len()
    }

    /// No watch is registered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;

    #[test]
    fn a_fast_operation_completes_and_a_slow_one_times_out() {
        for d in [crate::Driver::Uring, crate::Driver::Legacy] {
            d.block_on(false, async {
                let dog = Rc::new(Watchdog::default());
                let sweeper = dog.clone();
                let stop = Rc::new(Cell::new(false));
                let stop2 = stop.clone();
                monoio::spawn(async move {
                    while !stop2.get() {
                        monoio::time::sleep(TICK).await;
                        sweeper.sweep();
                    }
                });
                let w = dog.watch();
                let fast = w
                    .within(Duration::from_millis(200), pin!(async { 5 }))
                    .await;
                assert_eq!(fast, Ok(5));
                let started = Instant::now();
                let slow = w
                    .within(
                        Duration::from_millis(30),
                        pin!(monoio::time::sleep(Duration::from_secs(5))),
                    )
                    .await;
                assert_eq!(slow, Err(Elapsed));
                let took = started.elapsed();
                assert!(took >= Duration::from_millis(30), "{took:?}");
                assert!(took < Duration::from_millis(30) + TICK * 20, "{took:?}");
                // the watch is reusable after firing
                let again = w
                    .within(Duration::from_millis(200), pin!(async { 6 }))
                    .await;
                assert_eq!(again, Ok(6));
                drop(w);
                dog.sweep();
                assert!(dog.is_empty());
                stop.set(true);
            })
            .unwrap();
        }
    }
}
