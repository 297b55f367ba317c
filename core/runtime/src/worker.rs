//! One worker: a pinned thread running its own monoio runtime, accepting on its own
//! SO_REUSEPORT sockets and owning its buffers, upstream pools and plugin instances.

use std::cell::{Cell, RefCell};
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gw_program::ConfigImage;
use gw_proto::HeadLimits;

use crate::buffers::BufPool;
use crate::deadline::Watchdog;
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
    /// Send a copy of this worker's metrics (the admin endpoint's scrape).
    Snapshot(flume::Sender<crate::metrics::Snapshot>),
    /// Listener changes of a reload, sent before the `Reload`: accept on these sockets too,
    /// and stop accepting on these addresses (their connections go on to their end).
    Listen {
        add: Vec<std::net::TcpListener>,
        remove: Vec<std::net::SocketAddr>,
    },
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
    /// Each route's index in the worker's metrics, and that of requests without a route.
    pub metric_ids: Vec<usize>,
    pub metric_none: usize,
    /// The locals naming the caller in the access log: `key.id`, then `claim.sub`.
    pub caller_locals: Vec<usize>,
    /// Something reads the requests' measurements (metrics for an admin endpoint, an access
    /// log, tracing): without it the log phase only counts, and no clock is read for it.
    pub observed: bool,
    /// The access log has the `reason` field: denial reasons go there rather than to stderr.
    pub logs_reasons: bool,
    /// The `cors` policy called alone, for gw's own answers (`ConfigImage::cors_alone`).
    pub cors_alone: Option<gw_program::Program>,
}

impl Gen {
    fn new(loaded: Arc<Loaded>, worker: usize, metrics: &mut crate::metrics::Metrics) -> Gen {
        let metric_ids = loaded
            .image
            .routes
            .iter()
            .map(|r| metrics.route(&r.name))
            .collect();
        let metric_none = metrics.route(crate::metrics::NO_ROUTE);
        let locals = loaded
            .image
            .routes
            .first()
            .map(|r| r.request.locals.as_slice())
            .unwrap_or(&[]);
        let caller_locals = ["key.id", "claim.sub"]
            .iter()
            .filter_map(|n| locals.iter().position(|l| l == n))
            .collect();
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
        let img = &loaded.image;
        let observed = img.admin.is_some() || img.access_log.is_some() || img.tracing.is_some();
        let logs_reasons = img
            .access_log
            .as_ref()
            .is_some_and(|l| l.fields.contains(&gw_program::LogField::Reason));
        Gen {
            cors_alone: img.cors_alone(),
            observed,
            logs_reasons,
            caller_locals,
            metric_ids,
            metric_none,
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
    /// WebSocket tunnels open.
    pub websockets: Cell<u32>,
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
    /// This worker's request metrics (metrics.rs), read only through `Control::Snapshot`.
    pub metrics: RefCell<crate::metrics::Metrics>,
    /// Access log lines not yet handed to the writer, how many, and requests sampled so far.
    pub access: RefCell<(Vec<u8>, u64, u64)>,
    /// The access log's writer thread.
    pub access_writer: Option<crate::access_log::Writer>,
    /// Finished spans not yet handed to the exporter.
    pub spans: RefCell<Vec<crate::trace::Span>>,
    /// Each listening address's own stop, so a reload can close one.
    pub listeners: RefCell<Vec<(std::net::SocketAddr, Rc<Stop>)>>,
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
        let mut metrics = crate::metrics::Metrics::default();
        let cfg = Gen::new(loaded, id, &mut metrics);
        Worker {
            id,
            pool: BufPool::new(),
            cfg: RefCell::new(Rc::new(cfg)),
            metrics: RefCell::new(metrics),
            access: RefCell::new((Vec::new(), 0, 0)),
            access_writer: None,
            spans: RefCell::new(Vec::new()),
            listeners: RefCell::new(Vec::new()),
            upstreams: RefCell::new(upstreams),
            stop: Stop::new(),
            watchdog: Watchdog::default(),
            conns: Cell::new(0),
            inflight: Cell::new(0),
            websockets: Cell::new(0),
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

    /// A watchdog tick: the clock and the Date field move on.
    pub fn tick_clock(&self) {
        self.clock.set(Instant::now());
        self.date.set(current_date(Some(self.date.get())));
    }

    /// The Date field's value (at most [`crate::deadline::TICK`] old while the worker runs).
    pub fn http_date(&self) -> [u8; 29] {
        self.date.get().1
    }

    /// The time as of the last watchdog tick (at most [`crate::deadline::TICK`] old while the worker runs).
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
        // lines go where the config that served them said
        self.flush_access_log();
        let cfg = Gen::new(loaded, self.id, &mut self.metrics.borrow_mut());
        *self.cfg.borrow_mut() = Rc::new(cfg);
    }

    /// Hand the spans finished so far to the current config's exporter.
    pub fn flush_spans(&self) {
        let spans = std::mem::take(&mut *self.spans.borrow_mut());
        if spans.is_empty() {
            return;
        }
        if let Some(e) = &self.current().loaded.exporter {
            e.send(spans);
        }
    }

    /// Hand the access log lines written so far to the writer.
    pub fn flush_access_log(&self) {
        let cfg = self.current();
        let (Some(writer), Some(log)) = (&self.access_writer, &cfg.image().access_log) else {
            return;
        };
        let mut a = self.access.borrow_mut();
        if a.1 == 0 {
            return;
        }
        let bytes = std::mem::replace(
            &mut a.0,
            Vec::with_capacity(crate::access_log::BATCH + 4096),
        );
        writer.send(&log.to, bytes, a.1);
        a.1 = 0;
    }

    /// A copy of this worker's metrics, with its gauges as of now.
    pub fn snapshot(&self) -> crate::metrics::Snapshot {
        crate::metrics::Snapshot {
            metrics: self.metrics.borrow().clone(),
            gauges: crate::metrics::WorkerGauges {
                connections: u64::from(self.conns.get()),
                inflight: u64::from(self.inflight.get()),
                websockets: u64::from(self.websockets.get()),
                ejections: self.upstreams.borrow().ejections,
            },
        }
    }

    /// 64 random-looking bits (trace and span ids).
    pub fn random(&self) -> u64 {
        let n = self.seq.get().wrapping_add(1);
        self.seq.set(n);
        mix(self.seed.1 ^ n.rotate_left(29) ^ (self.id as u64).rotate_left(7))
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
