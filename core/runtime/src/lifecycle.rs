//! A worker thread's life: its runtime, listeners and start-up, and the loops that run
//! beside its connections (accept, control, pool sweep, watchdog, plugin ticks).

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::net::TcpListener;

use crate::deadline::TICK;
use crate::driver::Driver;
use crate::loaded::Loaded;
use crate::worker::{Control, Ended, Gen, Worker};

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
    /// The admin endpoint, served by the worker that gets it (worker 0).
    pub admin: Option<crate::admin::Admin>,
    pub access_writer: crate::access_log::Writer,
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
        admin,
        access_writer,
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
        w.access_writer = Some(access_writer);
        let client: Rc<dyn gw_plugin::HttpClient> =
            Rc::new(crate::http_client::WorkerHttp::new(weak.clone()));
        w.http = Some(client);
        w
    });
    for l in listeners {
        if let Err(e) = listen(&w, l) {
            let _ = ready.send(Err(format!("worker {id}: cannot register listener: {e}")));
            return;
        }
    }
    monoio::spawn(control_loop(w.clone(), control));
    spawn_ticks(&w);
    monoio::spawn(sweep_loop(w.clone()));
    monoio::spawn(access_log_loop(w.clone()));
    monoio::spawn(watchdog_loop(w.clone()));
    crate::spin::spawn(&w, |w: &Worker| &w.spin, w.id);
    if id == 0 {
        crate::checks::spawn_checks(&w);
    }
    if let Some(admin) = admin {
        monoio::spawn(crate::admin::serve(w.clone(), admin));
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
    // WebSockets were sent a Close (1001) by their tunnels when the worker stopped
    if w.websockets.get() > 0 {
        crate::log::log!(
            "worker {id}: closing {} WebSocket(s), for up to {} ms",
            w.websockets.get(),
            drain.as_millis()
        );
    }
    while (w.inflight.get() > 0 || w.websockets.get() > 0) && Instant::now() < deadline {
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
    w.flush_access_log();
    w.flush_spans();
}

/// Hands the worker's access log lines to the writer at least every 100 ms.
async fn access_log_loop(w: Rc<Worker>) {
    loop {
        monoio::select! {
            _ = monoio::time::sleep(Duration::from_millis(100)) => {},
            _ = w.stop.wait() => return,
        }
        w.flush_access_log();
        w.flush_spans();
    }
}

/// Tick slot `i` of `cfg` at once (a key set is fetched before it is needed), then every
/// `every` while `cfg` is the worker's config.
async fn tick_loop(w: Rc<Worker>, cfg: std::rc::Weak<Gen>, i: usize, every: Duration) {
    let every = every.max(Duration::from_millis(1));
    loop {
        let Some(this) = cfg.upgrade() else { return };
        if !Rc::ptr_eq(&this, &w.current()) {
            return;
        }
        if let Some(work) = this.slots.get(i).and_then(|s| s.tick(w.http.as_ref())) {
            monoio::spawn(work);
        }
        drop(this);
        monoio::select! {
            _ = monoio::time::sleep(every) => {},
            _ = w.stop.wait() => return,
        }
    }
}

/// Start the periodic work of the current config's plugin instances that ask for it
/// (`Instance::every`). Each task ends when its config is replaced or the worker stops.
pub fn spawn_ticks(w: &Rc<Worker>) {
    let cfg = w.current();
    for (i, slot) in cfg.slots.iter().enumerate() {
        if let Some(every) = slot.every() {
            monoio::spawn(tick_loop(w.clone(), Rc::downgrade(&cfg), i, every));
        }
    }
}

/// Accept on `l` until the worker stops or a reload removes its address.
fn listen(w: &Rc<Worker>, l: std::net::TcpListener) -> std::io::Result<()> {
    let addr = l.local_addr()?;
    let l = TcpListener::from_std(l)?;
    let stop = Rc::new(crate::stop::Stop::new());
    w.listeners.borrow_mut().push((addr, stop.clone()));
    monoio::spawn(accept_loop(w.clone(), l, stop));
    Ok(())
}

async fn accept_loop(w: Rc<Worker>, listener: TcpListener, own: Rc<crate::stop::Stop>) {
    let local = listener.local_addr().ok();
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = w.stop.wait() => return,
            _ = own.wait() => return,
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
                w.metrics.borrow_mut().accepted += 1;
                // the config current at accept picks the certificates: after a reload, new
                // connections get the new ones and open ones keep theirs
                let cfg = w.current();
                let tls = local.and_then(|a| cfg.loaded.server_tls(a));
                let h2c = local
                    .is_some_and(|a| cfg.image().listeners.iter().any(|l| l.addr == a && l.h2c));
                drop(cfg);
                let accepted = crate::downstream::Accepted {
                    peer,
                    local,
                    tls,
                    h2c,
                    listener: own.clone(),
                };
                if let Some(conn) = crate::downstream::serve(w.clone(), stream, accepted) {
                    monoio::spawn(conn);
                }
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
                spawn_ticks(&w);
                // the old config's checks stop themselves; start the new one's
                if w.id == 0 {
                    crate::checks::spawn_checks(&w);
                }
            }
            Control::Shutdown => break,
            Control::Snapshot(reply) => {
                let _ = reply.send(w.snapshot());
            }
            Control::Listen { add, remove } => {
                w.listeners.borrow_mut().retain(|(a, stop)| {
                    let gone = remove.contains(a);
                    if gone {
                        stop.trigger();
                    }
                    !gone
                });
                for l in add {
                    if let Err(e) = listen(&w, l) {
                        crate::log::log!("worker {}: cannot register listener: {e}", w.id);
                    }
                }
            }
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
        w.tick_clock();
        w.spin.tick();
        w.watchdog.sweep();
    }
}
