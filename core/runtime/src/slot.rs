//! A worker's plugin instances, each lent to one request at a time. A request that finds its
//! instance lent out (another request is awaiting the instance's `ready()`) waits for it to
//! come back and is woken when it does.

use std::cell::{Cell, RefCell};
use std::task::{Poll, Waker};

use gw_plugin::Instance;

/// One plugin instance of a worker, and the requests waiting for it.
pub struct Slot {
    inst: Cell<Option<Box<dyn Instance>>>,
    waiters: RefCell<Vec<Waker>>,
}

impl Slot {
    pub fn new(inst: Box<dyn Instance>) -> Slot {
        Slot {
            inst: Cell::new(Some(inst)),
            waiters: RefCell::new(Vec::new()),
        }
    }

    /// The instance, unless it is lent out.
    pub fn take(&self) -> Option<Box<dyn Instance>> {
        self.inst.take()
    }

    /// Give the instance back and wake every request waiting for it: the first to run takes
    /// it and the others wait again. Waking only one could wake a request that has ended
    /// since (a dropped waiter leaves its waker behind) and strand the rest.
    pub fn put(&self, inst: Box<dyn Instance>) {
        self.inst.set(Some(inst));
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for w in waiters {
            w.wake();
        }
    }

    /// Wait for the instance and lend it out. Dropping the [`Lent`] (also by dropping the
    /// request's future while it awaits) puts the instance back.
    pub async fn lend(&self) -> Lent<'_> {
        let inst = std::future::poll_fn(|cx| match self.inst.take() {
            Some(inst) => Poll::Ready(inst),
            None => {
                let mut waiters = self.waiters.borrow_mut();
                if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    waiters.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await;
        Lent {
            slot: self,
            inst: Some(inst),
        }
    }

    /// Requests waiting for the instance (stale wakers included).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }
}

/// An instance lent to one request; it goes back to its slot on drop.
pub struct Lent<'a> {
    slot: &'a Slot,
    inst: Option<Box<dyn Instance>>,
}

impl Lent<'_> {
    /// Await the instance's `ready()`.
    pub async fn ready(&mut self) {
        if let Some(inst) = self.inst.as_mut() {
            inst.ready().await;
        }
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(inst) = self.inst.take() {
            self.slot.put(inst);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::{Pin, pin};
    use std::rc::Rc;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use gw_plugin::{Call, Host, Value};

    use super::*;

    /// `ready()` takes `ms` milliseconds; counts the readies that completed.
    struct Slow {
        ms: u64,
        done: Rc<Cell<u32>>,
    }

    impl Instance for Slow {
        fn call(&mut self, _: &mut dyn Host, _: &[Value]) -> Call {
            Call::Pending
        }
        fn ready(&mut self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
            Box::pin(async move {
                monoio::time::sleep(Duration::from_millis(self.ms)).await;
                self.done.set(self.done.get() + 1);
            })
        }
    }

    fn slot(ms: u64) -> (Rc<Slot>, Rc<Cell<u32>>) {
        let done = Rc::new(Cell::new(0));
        let inst = Slow {
            ms,
            done: done.clone(),
        };
        (Rc::new(Slot::new(Box::new(inst))), done)
    }

    #[test]
    fn waiters_take_turns_and_are_woken_when_the_instance_returns() {
        crate::Driver::Uring
            .block_on(false, async {
                let (s, done) = slot(5);
                let tasks: Vec<_> = (0..4)
                    .map(|_| {
                        let s = s.clone();
                        monoio::spawn(async move { s.lend().await.ready().await })
                    })
                    .collect();
                let all = async {
                    for t in tasks {
                        t.await;
                    }
                };
                let r = monoio::time::timeout(Duration::from_secs(5), all).await;
                assert!(r.is_ok(), "a waiter was never woken");
                assert_eq!(done.get(), 4);
                assert!(s.take().is_some(), "the instance is back");
                assert_eq!(s.waiting(), 0);
            })
            .unwrap();
    }

    #[test]
    fn a_request_dropped_while_it_holds_the_instance_gives_it_back() {
        crate::Driver::Uring
            .block_on(false, async {
                let (s, done) = slot(1_000);
                let noop = std::task::Waker::noop();
                let mut cx = Context::from_waker(noop);
                {
                    let mut holder = pin!(async { s.lend().await.ready().await });
                    assert_eq!(holder.as_mut().poll(&mut cx), Poll::Pending);
                    assert!(s.take().is_none(), "lent out");
                    let mut waiter = pin!(s.lend());
                    assert!(waiter.as_mut().poll(&mut cx).is_pending());
                    assert_eq!(s.waiting(), 1);
                }
                // both futures are gone: the holder's instance is back, its ready() never ended
                assert_eq!(done.get(), 0);
                assert!(s.take().is_some());
            })
            .unwrap();
    }

    #[test]
    fn a_waiter_that_went_away_does_not_strand_the_next() {
        crate::Driver::Uring
            .block_on(false, async {
                let (s, done) = slot(5);
                let holder = {
                    let s = s.clone();
                    monoio::spawn(async move { s.lend().await.ready().await })
                };
                monoio::time::sleep(Duration::from_millis(1)).await;
                // registers, then goes away before the instance comes back
                {
                    let noop = std::task::Waker::noop();
                    let mut gone = pin!(s.lend());
                    assert!(
                        gone.as_mut()
                            .poll(&mut Context::from_waker(noop))
                            .is_pending()
                    );
                }
                let next = {
                    let s = s.clone();
                    monoio::spawn(async move { s.lend().await.ready().await })
                };
                let both = async {
                    holder.await;
                    next.await;
                };
                let r = monoio::time::timeout(Duration::from_secs(5), both).await;
                assert!(r.is_ok(), "the next waiter was stranded");
                assert_eq!(done.get(), 2);
            })
            .unwrap();
    }
}
