//! Busy-polling (`gw run --busy-poll`): while a worker serves few connections, it keeps
//! polling its driver for a short window after each request starts or ends instead of
//! sleeping in the kernel. The next completion is then seen without waking an idle core,
//! which on a VM is most of a proxy's added latency (bench/README.md).
//!
//! Under load the worker never sleeps anyway, and a spin would only turn its idle gaps into
//! CPU time, so the worker spins only while at most [`MAX_CONNS`] connections started or ended
//! a request in the current and the previous watchdog tick. An idle worker does not spin, and a
//! worker that shares its core with another busy thread stops spinning (see `spin_loop`).
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

use nix::time::{ClockId, clock_gettime};

/// Active connections per tick above which a worker does not spin.
pub const MAX_CONNS: u32 = 4;

/// A worker's busy-poll state.
#[derive(Default)]
pub struct Spin {
    /// Zero: busy-polling is off.
    window: Duration,
    /// Request starts and ends: a change restarts the window.
    events: Cell<u64>,
    /// Connections that started or ended a request in this watchdog tick, and in the
    /// previous one.
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

    /// A connection's request started or ended; `stamp` is the connection's last active
    /// tick. Ends count as activity too, so the responses that trail a burst do not look like
    /// a lightly loaded worker.
    #[inline]
    pub fn request_event(&self, stamp: &mut u32) {
        let tick = self.tick.get();
        if *stamp != tick {
            *stamp = tick;
            self.active.set(self.active.get().saturating_add(1));
        }
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

/// Start the spinner and its kicker of worker `id` on the current thread (when enabled);
/// `owner` keeps `spin` alive while they run.
pub fn spawn<T: 'static>(owner: &Rc<T>, spin: fn(&T) -> &Spin, id: usize) {
    if spin(owner).enabled() {
        let o = owner.clone();
        monoio::spawn(async move { spin_loop(spin(&o), id).await });
        let o = owner.clone();
        monoio::spawn(async move { kick_loop(spin(&o)).await });
    }
}

/// Waits for a request event, then polls until no event came for the window, or until
/// another thread keeps taking the core: then the core is shared with a CPU-bound thread, a
/// spinning worker would wait out that thread's time slices where a sleeping one is woken at
/// once, and the worker sleeps for [`BACKOFF`] before it tries again.
async fn spin_loop(s: &Spin, id: usize) {
    let mut paused_until: Option<Instant> = None;
    let mut losses = Losses::default();
    let mut last_log: Option<Instant> = None;
    loop {
        Parked(s, s.events.get()).await;
        if paused_until.is_some_and(|t| Instant::now() < t) {
            continue;
        }
        let mut seen = s.events.get();
        let mut since = Instant::now();
        let mut prev = since;
        // the thread's CPU clock is a syscall: read it every MARK_STEPS steps and after a
        // long step, not at each step
        let (mut mark, mut mark_cpu, mut steps) = (since, thread_cpu(), 0u32);
        while s.light() {
            Step(s, false).await;
            let now = Instant::now();
            if now.duration_since(prev) > LOST_STEP {
                let used = thread_cpu();
                let stolen = now
                    .duration_since(mark)
                    .saturating_sub(used.saturating_sub(mark_cpu));
                if stolen > LOST_STEP && losses.add(now) {
                    paused_until = Some(now + BACKOFF);
                    // once a minute at most: on a shared host this recurs every second
                    if last_log.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60)) {
                        last_log = Some(now);
                        crate::log::log!(
                            "worker {}: busy-poll pauses for {} ms: another thread keeps taking this core",
                            id,
                            BACKOFF.as_millis()
                        );
                    }
                    break;
                }
                (mark, mark_cpu, steps) = (now, used, 0);
            } else if steps >= MARK_STEPS {
                (mark, mark_cpu, steps) = (now, thread_cpu(), 0);
            } else {
                steps += 1;
            }
            prev = now;
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

/// Spin steps between two reads of the thread's CPU clock.
const MARK_STEPS: u32 = 64;

/// A spin step during which other threads held the core this long lost it to a time slice:
/// longer than the runs of an I/O-bound neighbour (an upstream on the same core), shorter
/// than a CPU-bound thread's slice.
const LOST_STEP: Duration = Duration::from_micros(500);

/// Lost steps within [`LOSS_SPAN`] that mean a CPU-bound neighbour; fewer are the kernel's or
/// the hypervisor's occasional work.
const LOSSES: u32 = 3;
const LOSS_SPAN: Duration = Duration::from_millis(100);

/// How long a worker that keeps losing its core while spinning sleeps between requests.
pub const BACKOFF: Duration = Duration::from_secs(1);

/// Recent lost steps.
#[derive(Default)]
struct Losses {
    first: Option<Instant>,
    count: u32,
}

impl Losses {
    /// Count a lost step at `now`; true when that makes [`LOSSES`] within [`LOSS_SPAN`].
    fn add(&mut self, now: Instant) -> bool {
        match self.first {
            Some(f) if now.duration_since(f) <= LOSS_SPAN => self.count += 1,
            _ => (self.first, self.count) = (Some(now), 1),
        }
        if self.count >= LOSSES {
            *self = Losses::default();
            return true;
        }
        false
    }
}

/// CPU time of this thread (zero if the clock is missing: every long step then counts as
/// lost, and the worker soon backs off).
fn thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

/// Wakes the spinner each time the spinner wakes it.
async fn kick_loop(spin: &Spin) {
    std::future::poll_fn(|cx| {
        if let Some(s) = spin.spinner.take() {
            s.wake();
        }
        spin.kicker.set(Some(cx.waker().clone()));
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

    /// The latency mode's usual window (`--busy-poll 100us`).
    const DEFAULT_WINDOW: Duration = Duration::from_micros(100);

    #[test]
    fn light_load_is_counted_per_connection_and_tick() {
        let s = Spin::new(DEFAULT_WINDOW);
        let mut stamps = [Spin::NEVER; 8];
        // one connection with many requests is one active connection
        for _ in 0..100 {
            s.request_event(&mut stamps[0]);
        }
        assert_eq!(s.active.get(), 1);
        for st in stamps.iter_mut().take(MAX_CONNS as usize) {
            s.request_event(st);
        }
        assert!(s.light());
        s.request_event(&mut stamps[MAX_CONNS as usize]);
        assert!(!s.light());
        // the busy tick still counts for one more tick, then the worker is light again
        s.tick();
        assert!(!s.light());
        s.tick();
        assert!(s.light());
        // responses trailing a burst keep the worker busy
        for st in stamps.iter_mut() {
            s.request_event(st);
        }
        assert!(!s.light());
    }

    #[test]
    fn losses_back_off_only_when_they_repeat() {
        let t = Instant::now();
        let mut l = Losses::default();
        // occasional losses, further apart than the span
        for i in 0..10 {
            assert!(!l.add(t + LOSS_SPAN * 2 * i));
        }
        let t = t + LOSS_SPAN * 30;
        assert!(!l.add(t));
        assert!(!l.add(t + Duration::from_millis(3)));
        assert!(l.add(t + Duration::from_millis(6)));
        // and it starts counting afresh
        assert!(!l.add(t + Duration::from_millis(9)));
    }

    #[test]
    fn off_when_the_window_is_zero() {
        assert!(!Spin::new(Duration::ZERO).enabled());
        assert!(Spin::new(DEFAULT_WINDOW).enabled());
    }
}
