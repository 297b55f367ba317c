//! Busy-polling (`gw run --busy-poll`): while a worker serves few connections, it keeps
//! polling its driver for a short window after each request starts or ends instead of
//! sleeping in the kernel. The next completion is then seen without waking an idle core,
//! which on a VM is most of a proxy's added latency (bench/README.md).
//!
//! Under load the worker never sleeps anyway, and a spin would only turn its idle gaps into
//! CPU time, so the worker spins only while at most [`MAX_CONNS`] connections started a
//! request in the current and the previous watchdog tick. An idle worker does not spin, and a
//! spinning one yields its core at each step to any other thread that wants it.
//!
//! io_uring's DEFER_TASKRUN posts completions only when the ring is entered with GETEVENTS,
//! which monoio does only when it blocks; a busy-polling worker's ring is therefore set up
//! without it (driver.rs), and its completions are posted when the worker next enters the
//! kernel, which a spin step does.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::worker::Worker;

/// The default window: the time after a request event for which a lightly loaded worker
/// polls instead of sleeping.
pub const DEFAULT_WINDOW: Duration = Duration::from_micros(100);

/// Active connections per tick above which a worker does not spin.
pub const MAX_CONNS: u32 = 4;

/// A worker's busy-poll state.
#[derive(Default)]
pub struct Spin {
    /// Zero: busy-polling is off.
    window: Duration,
    /// Request starts and ends: a change restarts the window.
    events: Cell<u64>,
    /// Connections that started a request in this watchdog tick, and in the previous one.
    active: Cell<u32>,
    active_before: Cell<u32>,
    tick: Cell<u32>,
    /// The spinner, while it waits for a request event.
    parked: Cell<Option<Waker>>,
    /// The ping-pong of [`Step`]: the spinner's and the kicker's wakers.
    spinner: Cell<Option<Waker>>,
    kicker: Cell<Option<Waker>>,
}

impl Spin {
    /// Busy-polling for `window` after each request event (zero: off).
    pub fn new(window: Duration) -> Spin {
        Spin {
            window,
            ..Spin::default()
        }
    }

    /// Whether this worker busy-polls at all.
    pub fn enabled(&self) -> bool {
        !self.window.is_zero()
    }

    /// Few enough connections are active for a spin to pay.
    fn light(&self) -> bool {
        self.active.get().max(self.active_before.get()) <= MAX_CONNS
    }

    /// A connection's request started; `stamp` is the connection's last active tick.
    #[inline]
    pub fn started(&self, stamp: &mut u32) {
        let tick = self.tick.get();
        if *stamp != tick {
            *stamp = tick;
            self.active.set(self.active.get().saturating_add(1));
        }
        self.event();
    }

    /// A request ended.
    #[inline]
    pub fn event(&self) {
        self.events.set(self.events.get().wrapping_add(1));
        if self.light()
            && let Some(w) = self.parked.take()
        {
            w.wake();
        }
    }

    /// A watchdog tick passed.
    pub fn tick(&self) {
        self.active_before.set(self.active.get());
        self.active.set(0);
        self.tick.set(self.tick.get().wrapping_add(1));
    }

    /// A stamp no tick has, for a new connection.
    pub const NEVER: u32 = u32::MAX;
}

/// Start the spinner and its kicker on the current worker (when enabled).
pub fn spawn(w: &Rc<Worker>) {
    if w.spin.enabled() {
        monoio::spawn(spin_loop(w.clone()));
        monoio::spawn(kick_loop(w.clone()));
    }
}

/// Waits for a request event, then polls until no event came for the window.
async fn spin_loop(w: Rc<Worker>) {
    let s = &w.spin;
    loop {
        Parked(s, s.events.get()).await;
        let mut seen = s.events.get();
        let mut since = Instant::now();
        while s.light() {
            Step(s, false).await;
            // give the core to any other thread that wants it (another worker, an upstream
            // or client on the same core): the spin only uses time nobody else needs
            std::thread::yield_now();
            let now = Instant::now();
            let e = s.events.get();
            if e != seen {
                seen = e;
                since = now;
            } else if now.duration_since(since) >= s.window {
                break;
            }
        }
    }
}

/// Wakes the spinner each time the spinner wakes it.
async fn kick_loop(w: Rc<Worker>) {
    std::future::poll_fn(|cx| {
        if let Some(s) = w.spin.spinner.take() {
            s.wake();
        }
        w.spin.kicker.set(Some(cx.waker().clone()));
        Poll::<()>::Pending
    })
    .await
}

/// Ready once a request event happened after `events` was `.1`.
struct Parked<'a>(&'a Spin, u64);

impl Future for Parked<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.events.get() != self.1 && self.0.light() {
            return Poll::Ready(());
        }
        self.0.parked.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// One spin step: every ready task runs and the runtime polls its driver without blocking,
/// then the spinner continues. A task that wakes itself goes to the front of monoio's queue
/// and would starve the others, so the spinner and the kicker wake each other instead: a wake
/// from another task queues at the back.
struct Step<'a>(&'a Spin, bool);

impl Future for Step<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.1 {
            return Poll::Ready(());
        }
        self.1 = true;
        self.0.spinner.set(Some(cx.waker().clone()));
        if let Some(k) = self.0.kicker.take() {
            k.wake();
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_load_is_counted_per_connection_and_tick() {
        let s = Spin::new(DEFAULT_WINDOW);
        let mut stamps = [Spin::NEVER; 8];
        // one connection with many requests is one active connection
        for _ in 0..100 {
            s.started(&mut stamps[0]);
        }
        assert_eq!(s.active.get(), 1);
        for st in stamps.iter_mut().take(MAX_CONNS as usize) {
            s.started(st);
        }
        assert!(s.light());
        s.started(&mut stamps[MAX_CONNS as usize]);
        assert!(!s.light());
        // the busy tick still counts for one more tick, then the worker is light again
        s.tick();
        assert!(!s.light());
        s.tick();
        assert!(s.light());
    }

    #[test]
    fn off_when_the_window_is_zero() {
        assert!(!Spin::new(Duration::ZERO).enabled());
        assert!(Spin::new(DEFAULT_WINDOW).enabled());
    }
}
