//! The load: worker threads, each a monoio runtime on gw's driver (io_uring, epoll where it
//! is unavailable) with its own connections and its own histogram, merged at the end.
//!
//! Open loop (`--rate`): request slots are spaced 1/rate apart from a common start, dealt to
//! the workers in turn. A connection takes the next slot as soon as it is free and sends when
//! the slot comes; a slot that comes while every connection of its worker is busy waits for
//! the first free one, or opens a new connection up to the cap. Latency runs from the slot's
//! scheduled time, so the wait of a request queued behind a slow response is in its latency
//! (no coordinated omission). monoio's timer has a 1 ms resolution, so a connection sends in
//! the 2 ms before its slot rather than late; a request sent early is timed from when it
//! was sent. Closed loop (`--connections` alone): each connection sends its next request when
//! the last response is complete, timed from its sending.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gw_runtime::Driver;
use hdrhistogram::Histogram;
use monoio::task::JoinHandle;

use super::conn::{Conn, Failure};

/// monoio's timer resolution.
const TICK: Duration = Duration::from_millis(1);
/// How early a connection wakes for its slot: a sleep ends up to a tick after its deadline
/// (monoio rounds deadlines up to the tick), and a wake-up after the slot would count the
/// timer's lateness as the target's latency.
const EARLY: Duration = Duration::from_millis(2);
/// How long a closed-loop connection waits after a failed connect before it tries again, so
/// that an unreachable target is not hammered by a hot loop.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);
/// Highest latency a histogram holds, in ns (an hour); longer ones are recorded as this.
const HIST_MAX_NS: u64 = 3_600_000_000_000;
/// The provided-buffer ring of the workers' multishot receives: buffers, bytes each, sockets
/// (as gw's workers, gw-runtime's `BUF_RING`).
const BUF_RING: (u16, usize, usize) = (512, 8192, 256);

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// `rate` requests a second over all workers, at most `max_connections` open at once.
    Open { rate: f64, max_connections: usize },
    /// Each of `connections` connections sends back to back.
    Closed { connections: usize },
}

/// One target's load, the same for every worker.
#[derive(Debug)]
pub(crate) struct Plan {
    pub addr: SocketAddr,
    pub request: Vec<u8>,
    pub head_request: bool,
    pub mode: Mode,
    pub duration: Duration,
    pub timeout: Duration,
    pub workers: usize,
}

impl Plan {
    /// Slots of the whole run in the open loop.
    fn slots(&self, rate: f64) -> u64 {
        // rate and duration are checked finite and positive; `as` saturates
        (rate * self.duration.as_secs_f64()).floor() as u64
    }

    /// `total` shared out over the workers: worker `id`'s part.
    fn share(&self, total: usize, id: usize) -> usize {
        let w = self.workers.max(1);
        total / w + usize::from(id < total % w)
    }
}

/// What one worker (or, merged, a whole run) counted.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    /// Latency of each response (any status), ns.
    pub hist: Histogram<u64>,
    pub ok: u64,
    pub non_2xx: u64,
    pub connect: u64,
    pub timeout: u64,
    pub reset: u64,
    pub protocol: u64,
    pub connections: u64,
    /// When the last request ended.
    pub last: Option<Instant>,
}

impl Tally {
    pub fn new() -> Result<Tally, String> {
        Ok(Tally {
            hist: Histogram::new_with_max(HIST_MAX_NS, 3)
                .map_err(|e| format!("cannot make a histogram: {e:?}"))?,
            ok: 0,
            non_2xx: 0,
            connect: 0,
            timeout: 0,
            reset: 0,
            protocol: 0,
            connections: 0,
            last: None,
        })
    }

    pub fn responses(&self) -> u64 {
        self.ok + self.non_2xx
    }

    pub fn errors(&self) -> u64 {
        self.non_2xx + self.connect + self.timeout + self.reset + self.protocol
    }

    /// Requests taken on: answered or failed.
    pub fn requests(&self) -> u64 {
        self.responses() + self.connect + self.timeout + self.reset + self.protocol
    }

    pub fn merge(&mut self, o: &Tally) {
        // same bounds on both sides: add cannot fail
        let _ = self.hist.add(&o.hist);
        self.ok += o.ok;
        self.non_2xx += o.non_2xx;
        self.connect += o.connect;
        self.timeout += o.timeout;
        self.reset += o.reset;
        self.protocol += o.protocol;
        self.connections += o.connections;
        self.last = self.last.max(o.last);
    }

    fn fail(&mut self, f: Failure) {
        match f {
            Failure::Connect => self.connect += 1,
            Failure::Timeout => self.timeout += 1,
            Failure::Reset => self.reset += 1,
            Failure::Protocol => self.protocol += 1,
        }
    }
}

/// Counters the progress line reads while the run goes on.
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
}

/// What a worker sends the progress line: its histogram so far.
pub(crate) type Snapshot = (usize, Histogram<u64>);

/// A worker's state, shared by its tasks on its one thread.
struct Worker {
    id: usize,
    plan: Arc<Plan>,
    request: Rc<Vec<u8>>,
    start: Instant,
    multishot: bool,
    tally: RefCell<Tally>,
    /// Open loop: this worker's next untaken slot (its own numbering).
    next: Cell<u64>,
    /// Open loop: connections whose task runs.
    open: Cell<usize>,
    live: Option<Arc<Live>>,
}

impl Worker {
    /// The time of this worker's slot `k`; `None` past the last slot of the run.
    fn slot_time(&self, k: u64, rate: f64) -> Option<Instant> {
        let j = k
            .checked_mul(self.plan.workers as u64)?
            .checked_add(self.id as u64)?;
        (j < self.plan.slots(rate)).then(|| self.start + Duration::from_secs_f64(j as f64 / rate))
    }

    fn take_slot(&self, rate: f64) -> Option<Instant> {
        let k = self.next.get();
        let t = self.slot_time(k, rate)?;
        self.next.set(k + 1);
        Some(t)
    }

    /// One request on `conn` (opened first when there is none); the connection is kept only
    /// when it can carry the next one.
    async fn request(&self, conn: &mut Option<Conn>, budget: Duration) -> Result<u16, Failure> {
        let fut = async {
            let mut c = match conn.take() {
                Some(c) => c,
                None => {
                    let c = Conn::open(self.plan.addr, self.multishot)
                        .await
                        .map_err(|_| Failure::Connect)?;
                    self.tally.borrow_mut().connections += 1;
                    c
                }
            };
            let r = c
                .exchange(self.request.clone(), self.plan.head_request)
                .await?;
            if r.keep_alive {
                *conn = Some(c);
            }
            Ok(r.status)
        };
        match monoio::time::timeout(budget, fut).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// Count one request that took on `from` and ended now.
    fn record(&self, from: Instant, outcome: Result<u16, Failure>) {
        let now = Instant::now();
        let mut t = self.tally.borrow_mut();
        match outcome {
            Ok(status) => {
                let ns = u64::try_from(now.saturating_duration_since(from).as_nanos());
                t.hist.saturating_record(ns.unwrap_or(u64::MAX).max(1));
                if (200..300).contains(&status) {
                    t.ok += 1;
                } else {
                    t.non_2xx += 1;
                }
            }
            Err(f) => t.fail(f),
        }
        t.last = Some(now);
        if let Some(live) = &self.live {
            live.requests.fetch_add(1, Ordering::Relaxed);
            if !matches!(outcome, Ok(s) if (200..300).contains(&s)) {
                live.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Run worker `id` of `plan` on this thread, on `driver`: its connections from `start` on.
/// `progress`: where to send its histogram about once a second.
pub(crate) fn run_worker(
    id: usize,
    plan: Arc<Plan>,
    driver: Driver,
    start: Instant,
    live: Option<Arc<Live>>,
    progress: Option<flume::Sender<Snapshot>>,
) -> Result<Tally, String> {
    let tally = Tally::new()?;
    driver
        .block_on(false, worker(id, plan, start, tally, live, progress))
        .map_err(|e| format!("cannot start the {driver} runtime: {e}"))
}

async fn worker(
    id: usize,
    plan: Arc<Plan>,
    start: Instant,
    tally: Tally,
    live: Option<Arc<Live>>,
    progress: Option<flume::Sender<Snapshot>>,
) -> Tally {
    // registered before any socket exists, so every one can use it; epoll has none
    let multishot =
        monoio::utils::register_buf_ring(BUF_RING.0, BUF_RING.1, BUF_RING.2).unwrap_or(false);
    let w = Rc::new(Worker {
        id,
        request: Rc::new(plan.request.clone()),
        plan,
        start,
        multishot,
        tally: RefCell::new(tally),
        next: Cell::new(0),
        open: Cell::new(0),
        live,
    });
    if let Some(tx) = progress {
        let w = w.clone();
        monoio::spawn(async move {
            loop {
                monoio::time::sleep(Duration::from_secs(1)).await;
                let snap = w.tally.borrow().hist.clone();
                if tx.send((w.id, snap)).is_err() {
                    return;
                }
            }
        });
    }
    let tasks: Vec<JoinHandle<()>> = match w.plan.mode {
        Mode::Closed { connections } => (0..w.plan.share(connections, id))
            .map(|_| monoio::spawn(closed_loop(w.clone())))
            .collect(),
        Mode::Open {
            rate,
            max_connections,
        } => {
            let cap = w.plan.share(max_connections, id).max(1);
            dispatch(w.clone(), rate, cap).await
        }
    };
    for t in tasks {
        t.await;
    }
    w.tally.borrow().clone()
}

/// A connection opened before the start, so the first requests do not pay for it; one that
/// is not open by then is opened (and counted) when a request needs it.
async fn preconnect(w: &Worker) -> Option<Conn> {
    let left = w.start.saturating_duration_since(Instant::now());
    let c = monoio::time::timeout(left, Conn::open(w.plan.addr, w.multishot))
        .await
        .ok()?
        .ok()?;
    w.tally.borrow_mut().connections += 1;
    Some(c)
}

async fn wait_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        monoio::time::sleep(t - now).await;
    }
}

/// Closed loop: back to back until the run's end; the request in flight then completes.
async fn closed_loop(w: Rc<Worker>) {
    let mut conn = preconnect(&w).await;
    wait_until(w.start).await;
    let end = w.start + w.plan.duration;
    while Instant::now() < end {
        let sent = Instant::now();
        let out = w.request(&mut conn, w.plan.timeout).await;
        w.record(sent, out);
        if out == Err(Failure::Connect) {
            monoio::time::sleep(CONNECT_BACKOFF).await;
        }
    }
}

/// Open loop: watch the slots as they come; one that no connection has taken when it comes
/// (all are busy) goes to a new connection, up to `cap`. Returns the connections' tasks.
async fn dispatch(w: Rc<Worker>, rate: f64, cap: usize) -> Vec<JoinHandle<()>> {
    let first = preconnect(&w).await;
    wait_until(w.start).await;
    let mut tasks = vec![spawn_open(&w, rate, first, None)];
    loop {
        let k = w.next.get();
        let Some(t) = w.slot_time(k, rate) else {
            break;
        };
        wait_until(t).await;
        if w.next.get() != k {
            continue;
        }
        if w.open.get() < cap {
            let slot = w.take_slot(rate);
            tasks.push(spawn_open(&w, rate, None, slot));
        } else {
            // every connection is busy and no more may open: the slot waits for one
            monoio::time::sleep(TICK).await;
        }
    }
    tasks
}

fn spawn_open(
    w: &Rc<Worker>,
    rate: f64,
    conn: Option<Conn>,
    slot: Option<Instant>,
) -> JoinHandle<()> {
    w.open.set(w.open.get() + 1);
    monoio::spawn(open_loop(w.clone(), rate, conn, slot))
}

/// One open-loop connection: take the next slot, send when it comes, until none is left.
async fn open_loop(w: Rc<Worker>, rate: f64, mut conn: Option<Conn>, mut slot: Option<Instant>) {
    while let Some(t) = slot.take().or_else(|| w.take_slot(rate)) {
        let now = Instant::now();
        if t > now + EARLY {
            monoio::time::sleep(t - now - EARLY).await;
        }
        let sent = Instant::now();
        let from = t.min(sent);
        let late = sent.saturating_duration_since(from);
        let out = if late >= w.plan.timeout {
            // queued past its timeout behind slow responses: sending it now would measure
            // nothing the count of timeouts does not say
            Err(Failure::Timeout)
        } else {
            w.request(&mut conn, w.plan.timeout - late).await
        };
        w.record(from, out);
    }
    w.open.set(w.open.get().saturating_sub(1));
}
