//! Starting and stopping the workers: bind every listener once per worker (SO_REUSEPORT),
//! start one pinned thread per worker, wait until each listens, and hand back a [`Handle`]
//! for reload and graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::driver::Driver;
use crate::lifecycle::{self, WorkerSpec};
use crate::listener::bind_all;
use crate::loaded::Loaded;
use crate::worker::{self, Control};

/// How to run: overrides of the image's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Worker threads (`--workers`); else the image's `workers`; else one per core.
    pub workers: Option<usize>,
    /// Force a driver (`--driver`, `GW_DRIVER`); else io_uring when available.
    pub driver: Option<Driver>,
    /// Do not pin worker `i` to core `i % cores` (pinned by default).
    pub no_pin: bool,
    /// Busy-poll window (`--busy-poll`, spin.rs); `None`: the default, zero: off.
    pub busy_poll: Option<std::time::Duration>,
    /// Multishot receives on io_uring (`--multishot`, worker.rs); `None`: the default, on.
    pub multishot: Option<bool>,
}

/// A running gateway.
pub struct Server {
    addrs: Vec<SocketAddr>,
    driver: Driver,
    driver_reason: &'static str,
    threads: Vec<JoinHandle<()>>,
    handle: Handle,
    ended: Vec<Arc<worker::Ended>>,
}

/// Sends reloads and the shutdown to every worker. Cheap to clone, `Send`.
#[derive(Debug, Clone)]
pub struct Handle {
    workers: Vec<flume::Sender<Control>>,
    admin: Arc<crate::admin::AdminState>,
    access: crate::access_log::Writer,
}

impl Handle {
    /// Stop accepting, let in-flight requests finish (up to `timeouts { drain }`), exit.
    pub fn shutdown(&self) {
        for w in &self.workers {
            let _ = w.send(Control::Shutdown);
        }
    }

    /// Serve `loaded` from each connection's next request on.
    pub fn reload(&self, loaded: Arc<Loaded>) {
        self.admin
            .reloads_ok
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for w in &self.workers {
            let _ = w.send(Control::Reload(loaded.clone()));
        }
    }

    /// Reopen the access log file (SIGUSR1, after logrotate moved it).
    pub fn reopen_logs(&self) {
        self.access.reopen();
    }

    /// Count a reload that was refused (the metrics' `gw_reloads_total{result="failed"}`).
    pub fn reload_failed(&self) {
        self.admin
            .reloads_failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The admin endpoint's socket: a plain one (no SO_REUSEPORT), so a second gw on the same
/// address fails to start rather than share it.
fn bind_admin(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("admin {addr}: {e}")))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

impl Server {
    /// Bind the image's listeners and start the workers; returns once every worker listens.
    pub fn start(loaded: Arc<Loaded>, opts: &Options) -> io::Result<Server> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let count = opts
            .workers
            .or(loaded.image.workers.map(usize::from))
            .unwrap_or(cores)
            .clamp(1, 1024);
        let addrs: Vec<SocketAddr> = loaded.image.listeners.iter().map(|l| l.addr).collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the config has no `listen`",
            ));
        }
        let (mut sockets, bound) = bind_all(&addrs, count)?;
        let (driver, driver_reason) = Driver::choose(opts.driver);
        let busy_poll = opts.busy_poll.unwrap_or(std::time::Duration::ZERO);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut threads = Vec::with_capacity(count);
        let (senders, mut receivers): (Vec<_>, Vec<_>) =
            (0..count).map(|_| flume::unbounded()).unzip();
        receivers.reverse();
        let (access, access_thread) = crate::access_log::Writer::start()?;
        // the writer ends once every sender is gone; the last lines are synced in `wait`
        drop(access_thread);
        let admin_state = Arc::new(crate::admin::AdminState {
            access: access.counts.clone(),
            ..crate::admin::AdminState::default()
        });
        let mut admin = match loaded.image.admin {
            Some(addr) => Some(crate::admin::Admin {
                listener: bind_admin(addr)?,
                workers: senders.clone(),
                state: admin_state.clone(),
            }),
            None => None,
        };
        let mut ended: Vec<Arc<worker::Ended>> = Vec::with_capacity(count);
        for id in 0..count {
            let listeners: Vec<std::net::TcpListener> = sockets
                .iter_mut()
                .filter_map(|per_addr| per_addr.pop())
                .collect();
            let Some(rx) = receivers.pop() else {
                break;
            };
            ended.push(Arc::new(worker::Ended::default()));
            let spec = WorkerSpec {
                id,
                cpu: (!opts.no_pin).then_some(id % cores),
                listeners,
                loaded: loaded.clone(),
                control: rx,
                ready: ready_tx.clone(),
                busy_poll,
                multishot: opts.multishot.unwrap_or(true),
                ended: ended.last().cloned().unwrap_or_default(),
                admin: admin.take(),
                access_writer: access.clone(),
            };
            let t = std::thread::Builder::new()
                .name(format!("gw-worker-{id}"))
                .spawn(move || lifecycle::run(spec, driver))?;
            threads.push(t);
        }
        drop(ready_tx);
        let handle = Handle {
            workers: senders,
            admin: admin_state,
            access,
        };
        for _ in 0..count {
            let failed = match ready_rx.recv() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("a worker exited during start-up".to_owned()),
            };
            if let Some(e) = failed {
                handle.shutdown();
                for t in threads {
                    let _ = t.join();
                }
                return Err(io::Error::other(e));
            }
        }
        Ok(Server {
            addrs: bound,
            driver,
            driver_reason,
            threads,
            handle,
            ended,
        })
    }

    /// Requests that have passed the log phase, on every worker: each request once, whatever
    /// its exit (proxied, answered by gw, refused, failed).
    pub fn requests_ended(&self) -> u64 {
        self.ended.iter().map(|e| e.get()).sum()
    }

    /// The addresses actually listened on (port 0 resolved), in `listen` order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The driver the workers run.
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// Why that driver (`default`, `forced`, `io_uring unavailable`).
    pub fn driver_reason(&self) -> &'static str {
        self.driver_reason
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    /// A handle for reload and shutdown.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Block until every worker has exited (after [`Handle::shutdown`]) and the access log
    /// lines they handed over are written.
    pub fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
        self.handle.access.sync(std::time::Duration::from_secs(5));
    }

    /// Shut down and wait.
    pub fn stop(self) {
        self.handle.shutdown();
        self.wait();
    }
}

#[cfg(test)]
mod tests;
