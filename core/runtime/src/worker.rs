//! One worker: a pinned thread running its own monoio runtime, accepting on its own
//! SO_REUSEPORT sockets and owning its buffers, upstream pools and plugin instances.

use std::cell::{Cell, RefCell};
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gw_program::ConfigImage;
use gw_proto::HeadLimits;
use monoio::net::TcpListener;

use crate::buffers::BufPool;
use crate::deadline::{TICK, Watchdog};
use crate::driver::Driver;
use crate::host::Slots;
use crate::loaded::Loaded;
use crate::spin::Spin;
use crate::stop::Stop;
use crate::upstream::pool::Upstreams;

/// A message from the control thread.
#[derive(Debug)]
pub enum Control {
    /// Serve this configuration from the next request on.
    Reload(Arc<Loaded>),
    /// Stop accepting, finish in-flight requests, exit.
    Shutdown,
}

/// Unsticky canary counters per worker (by canary id modulo this).
const SPLIT_COUNTERS: usize = 64;

/// One configuration as this worker serves it. A request holds its `Rc<Gen>` until it ends,
/// so a reload never changes the image under a running request.
pub struct Gen {
    pub loaded: Arc<Loaded>,
    pub slots: Vec<crate::slot::Slot>,
    pub split: Vec<Cell<u64>>,
    pub limits: HeadLimits,
    /// Path characters some route allows: the listener check before routing lets these
    /// through, and the route's own check decides.
    pub path_allow_any: gw_proto::PathChars,
}

impl Gen {
    fn new(loaded: Arc<Loaded>, worker: usize) -> Gen {
        let slots = loaded
            .factories
            .iter()
            .map(|f| crate::slot::Slot::new(f.instance(worker)))
            .collect();
        let l = &loaded.image.limits;
        let limits = HeadLimits {
            url: l.url as usize,
            head: l.headers as usize,
            headers: l.header_count as usize,
        };
        let path_allow_any = loaded
            .image
            .routes
            .iter()
            .fold(gw_proto::PathChars::NONE, |acc, r| acc.union(r.path_allow));
        Gen {
            path_allow_any,
            slots,
            split: (0..SPLIT_COUNTERS).map(|_| Cell::new(0)).collect(),
            limits,
            loaded,
        }
    }

    /// The image.
    pub fn image(&self) -> &ConfigImage {
        &self.loaded.image
    }

    /// The plugin instances.
    pub fn slots(&self) -> &Slots {
        &self.slots
    }
}

/// A worker's state, shared by its tasks through `Rc`.
pub struct Worker {
    pub id: usize,
    pub pool: BufPool,
    cfg: RefCell<Rc<Gen>>,
    pub upstreams: RefCell<Upstreams>,
    pub stop: Stop,
    /// Deadlines of the connections' reads and upstream exchanges.
    pub watchdog: Watchdog,
    /// Open client connections.
    pub conns: Cell<u32>,
    /// Requests between their first head byte and their last response byte.
    pub inflight: Cell<u32>,
    /// Busy-polling state (spin.rs).
    pub spin: Spin,
    /// Sockets receive through one multishot receive each, into the worker's provided-buffer
    /// ring (io_uring only; see [`BUF_RING`]).
    pub multishot: bool,
    /// The time as of the last watchdog tick: for the upstream pools' idle and ejection
    /// bookkeeping, which a clock read per pick and per release would cost more than it gains.
    clock: Cell<Instant>,
    /// Requests that passed the log phase (`Server::requests_ended`).
    pub ended: Arc<Ended>,
    /// The HTTP client plugins' own calls use (`Host::http`).
    pub http: Option<Rc<dyn gw_plugin::HttpClient>>,
    /// The Date field as of the last watchdog tick, and the second it shows.
    date: Cell<(i64, [u8; 29])>,
    seq: Cell<u64>,
    seed: (u64, u64),
}

fn random_u64() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

impl Worker {
    /// A worker serving `loaded`, busy-polling for `busy_poll` after request events (zero:
    /// not at all), its sockets on multishot receive when `multishot` (the ring registered).
    pub fn new(id: usize, loaded: Arc<Loaded>, busy_poll: Duration, multishot: bool) -> Worker {
        let seed = (random_u64(), random_u64());
        let upstreams = Upstreams::new(&loaded, seed.0 ^ id as u64, None);
        Worker {
            id,
            pool: BufPool::new(),
            cfg: RefCell::new(Rc::new(Gen::new(loaded, id))),
            upstreams: RefCell::new(upstreams),
            stop: Stop::new(),
            watchdog: Watchdog::default(),
            conns: Cell::new(0),
            inflight: Cell::new(0),
            spin: Spin::new(busy_poll),
            multishot,
            clock: Cell::new(Instant::now()),
            ended: Arc::default(),
            http: None,
            date: Cell::new(current_date(None)),
            seq: Cell::new(0),
            seed,
        }
    }

    /// The Date field's value (at most [`TICK`] old while the worker runs).
    pub fn http_date(&self) -> [u8; 29] {
        self.date.get().1
    }

    /// The time as of the last watchdog tick (at most [`TICK`] old while the worker runs).
    pub fn now(&self) -> Instant {
        self.clock.get()
    }

    /// The configuration new requests use.
    pub fn current(&self) -> Rc<Gen> {
        self.cfg.borrow().clone()
    }

    /// Switch to a new configuration; upstream pools carry over by name.
    pub fn install(&self, loaded: Arc<Loaded>) {
        let old = std::mem::replace(
            &mut *self.upstreams.borrow_mut(),
            Upstreams::new(&loaded, self.seed.0, None),
        );
        let ups = Upstreams::new(&loaded, self.seed.0 ^ self.seq.get(), Some(old));
        *self.upstreams.borrow_mut() = ups;
        *self.cfg.borrow_mut() = Rc::new(Gen::new(loaded, self.id));
    }

    /// Start the periodic work of the current config's plugin instances that ask for it
    /// (`Instance::every`). Each task ends when its config is replaced or the worker stops.
    pub fn spawn_ticks(self: &Rc<Self>) {
        let cfg = self.current();
        for (i, slot) in cfg.slots.iter().enumerate() {
            if let Some(every) = slot.every() {
                monoio::spawn(tick_loop(self.clone(), Rc::downgrade(&cfg), i, every));
            }
        }
    }

    /// Write a fresh request id (UUID-shaped, 128 random-looking bits) into `out`.
    pub fn request_id(&self, out: &mut String) {
        let n = self.seq.get().wrapping_add(1);
        self.seq.set(n);
        let hi = mix(self.seed.0 ^ n);
        let lo = mix(self.seed.1 ^ n.rotate_left(17) ^ self.id as u64);
        let text = uuid_text(hi, lo);
        out.clear();
        out.push_str(std::str::from_utf8(&text).unwrap_or_default());
    }
}

/// `hi` and `lo` as lower-case hex in UUID layout (8-4-4-4-12), without `fmt` or a per-digit
/// loop: this runs for every request.
fn uuid_text(hi: u64, lo: u64) -> [u8; 36] {
    let a = hex8((hi >> 32) as u32);
    let b = hex8(hi as u32);
    let c = hex8((lo >> 32) as u32);
    let d = hex8(lo as u32);
    [
        a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b'-', b[0], b[1], b[2], b[3], b'-', b[4],
        b[5], b[6], b[7], b'-', c[0], c[1], c[2], c[3], b'-', c[4], c[5], c[6], c[7], d[0], d[1],
        d[2], d[3], d[4], d[5], d[6], d[7],
    ]
}

/// The 8 hex digits of `x`, most significant first, a word at a time.
fn hex8(x: u32) -> [u8; 8] {
    // One nibble per byte, most significant nibble in the most significant byte.
    let x = u64::from(x);
    let v = ((x & 0xffff_0000) << 16) | (x & 0xffff);
    let v = ((v & 0x0000_ff00_0000_ff00) << 8) | (v & 0x0000_00ff_0000_00ff);
    let v = ((v & 0x00f0_00f0_00f0_00f0) << 4) | (v & 0x000f_000f_000f_000f);
    // 1 in each byte whose nibble is 10 or more: those skip from '9'+1 to 'a'.
    let letters = ((v + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (v + 0x3030_3030_3030_3030 + letters * 39).to_be_bytes()
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a worker thread needs to start.
pub struct WorkerSpec {
    pub id: usize,
    /// Core to pin to (`None`: not pinned).
    pub cpu: Option<usize>,
    pub listeners: Vec<std::net::TcpListener>,
    pub loaded: Arc<Loaded>,
    pub control: flume::Receiver<Control>,
    /// Reports once listening (or why it could not start).
    pub ready: std::sync::mpsc::Sender<Result<(), String>>,
    /// Busy-poll window (zero: off).
    pub busy_poll: Duration,
    /// Receive through multishot receives where the driver allows (`--multishot`).
    pub multishot: bool,
    /// Where this worker counts the requests that passed its log phase.
    pub ended: Arc<Ended>,
}

/// Requests that passed one worker's log phase. Only its worker writes it (a load and a store,
/// no read-modify-write); readers sum the workers'. Padded to a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Ended(std::sync::atomic::AtomicU64);

impl Ended {
    /// One more request ended (its worker only).
    pub fn add_one(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.0.store(self.0.load(Relaxed).wrapping_add(1), Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The provided-buffer ring of a worker's multishot receives: buffers, bytes per buffer, and
/// the most sockets that receive through it at a time (later ones keep plain receives). A
/// receive copies out of its buffer and gives it back at once, so buffers are held only by
/// bytes that have arrived and are not read yet, one or two per socket. The kernel takes the
/// buffers in ring order: beyond a few hundred sockets the ring's sweep through memory cost
/// more cache misses than a receive per read (measured at c500 with 4,096 buffers), and a
/// ring run dry ends receives (ENOBUFS), so the socket limit keeps both in bounds. 4 MiB,
/// touched only as far as traffic reaches.
pub const BUF_RING: (u16, usize, usize) = (512, 8192, 256);

/// The body of a worker thread.
pub fn run(spec: WorkerSpec, driver: Driver) {
    if let Some(cpu) = spec.cpu
        && let Err(e) = monoio::utils::bind_to_cpu_set(Some(cpu))
    {
        crate::log::log!("worker {}: cannot pin to core {cpu}: {e}", spec.id);
    }
    let ready = spec.ready.clone();
    let busy_poll = !spec.busy_poll.is_zero();
    if let Err(e) = driver.block_on(busy_poll, main(spec)) {
        let _ = ready.send(Err(format!("cannot start the {driver} runtime: {e}")));
    }
}

async fn main(spec: WorkerSpec) {
    let WorkerSpec {
        id,
        listeners,
        loaded,
        control,
        ready,
        busy_poll,
        multishot,
        ended,
        ..
    } = spec;
    let drain = Duration::from_millis(loaded.image.timeouts.drain);
    // registered before any socket exists, so every one can use it
    let multishot = multishot
        && match monoio::utils::register_buf_ring(BUF_RING.0, BUF_RING.1, BUF_RING.2) {
            Ok(on) => on,
            Err(e) => {
                crate::log::log!(
                    "worker {id}: no provided-buffer ring ({e}): one receive per read"
                );
                false
            }
        };
    let w = Rc::new_cyclic(|weak| {
        let mut w = Worker::new(id, loaded, busy_poll, multishot);
        w.ended = ended;
        let client: Rc<dyn gw_plugin::HttpClient> =
            Rc::new(crate::http_client::WorkerHttp::new(weak.clone()));
        w.http = Some(client);
        w
    });
    for l in listeners {
        match TcpListener::from_std(l) {
            Ok(l) => {
                monoio::spawn(accept_loop(w.clone(), l));
            }
            Err(e) => {
                let _ = ready.send(Err(format!("worker {id}: cannot register listener: {e}")));
                return;
            }
        }
    }
    monoio::spawn(control_loop(w.clone(), control));
    w.spawn_ticks();
    monoio::spawn(sweep_loop(w.clone()));
    monoio::spawn(watchdog_loop(w.clone()));
    crate::spin::spawn(&w);
    if id == 0 {
        crate::upstream::health::spawn_checks(&w);
    }
    let _ = ready.send(Ok(()));
    w.stop.wait().await;
    // Draining: accept loops have ended; idle keep-alive connections close when the runtime
    // drops; requests in flight get up to `drain` to finish.
    let deadline = Instant::now() + drain;
    if w.inflight.get() > 0 {
        crate::log::log!(
            "worker {id}: draining {} request(s), for up to {} ms",
            w.inflight.get(),
            drain.as_millis()
        );
    }
    while w.inflight.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
    match w.inflight.get() {
        0 => crate::log::log!("worker {id}: drained"),
        n => crate::log::log!(
            "worker {id}: drain timeout: closing {n} connection(s) with a request in flight"
        ),
    }
    // let the accept loops end and their sockets' close ops reach the ring
    monoio::time::sleep(Duration::from_millis(10)).await;
}

/// Tick slot `i` of `cfg` every `every` while `cfg` is the worker's config.
async fn tick_loop(w: Rc<Worker>, cfg: std::rc::Weak<Gen>, i: usize, every: Duration) {
    let every = every.max(Duration::from_millis(1));
    loop {
        monoio::select! {
            _ = monoio::time::sleep(every) => {},
            _ = w.stop.wait() => return,
        }
        let Some(this) = cfg.upgrade() else { return };
        if !Rc::ptr_eq(&this, &w.current()) {
            return;
        }
        if let Some(work) = this.slots.get(i).and_then(|s| s.tick(w.http.as_ref())) {
            monoio::spawn(work);
        }
    }
}

/// The Date field for now, reusing `last` within the same second.
fn current_date(last: Option<(i64, [u8; 29])>) -> (i64, [u8; 29]) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match last {
        Some(l) if l.0 == secs => l,
        _ => (secs, gw_proto::http_date(secs)),
    }
}

async fn accept_loop(w: Rc<Worker>, listener: TcpListener) {
    let local = listener.local_addr().ok();
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = w.stop.wait() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let limit = w.current().image().limits.connections_per_worker;
                if w.conns.get() >= limit {
                    // over the limit: accept and close at once, the kernel queue stays short
                    drop(stream);
                    continue;
                }
                w.conns.set(w.conns.get() + 1);
                monoio::spawn(crate::conn::serve(w.clone(), stream, peer, local));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning
                crate::log::log!("worker {}: accept: {e}", w.id);
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn control_loop(w: Rc<Worker>, rx: flume::Receiver<Control>) {
    while let Ok(msg) = rx.recv_async().await {
        match msg {
            Control::Reload(loaded) => {
                w.install(loaded);
                w.spawn_ticks();
                // the old config's checks stop themselves; start the new one's
                if w.id == 0 {
                    crate::upstream::health::spawn_checks(&w);
                }
            }
            Control::Shutdown => break,
        }
    }
    // a closed channel means the server handle is gone: stop as well
    w.stop.trigger();
}

async fn sweep_loop(w: Rc<Worker>) {
    loop {
        monoio::select! {
            _ = monoio::time::sleep(Duration::from_secs(1)) => {},
            _ = w.stop.wait() => return,
        }
        w.upstreams.borrow_mut().sweep(Instant::now());
    }
}

/// Fires the connections' deadlines. Runs until the runtime ends, so requests that drain
/// after a shutdown keep their deadlines.
async fn watchdog_loop(w: Rc<Worker>) {
    loop {
        monoio::time::sleep(TICK).await;
        w.clock.set(Instant::now());
        w.date.set(current_date(Some(w.date.get())));
        w.spin.tick();
        w.watchdog.sweep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_and_uuid_shaped() {
        let loaded = Loaded::load(ConfigImage::default(), &gw_plugin::Registry::new(), None);
        let w = Worker::new(0, Arc::new(loaded.unwrap()), Duration::ZERO, false);
        let mut a = String::new();
        let mut b = String::new();
        w.request_id(&mut a);
        w.request_id(&mut b);
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(a.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn uuid_text_matches_fmt() {
        for (hi, lo) in [
            (0, 0),
            (u64::MAX, u64::MAX),
            (0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
            (mix(1), mix(2)),
        ] {
            let want = format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                hi >> 32,
                (hi >> 16) & 0xffff,
                hi & 0xffff,
                lo >> 48,
                lo & 0xffff_ffff_ffff
            );
            assert_eq!(String::from_utf8(uuid_text(hi, lo).to_vec()).unwrap(), want);
        }
    }
}
