//! The I/O driver of a worker's monoio runtime: io_uring set up as the side-by-side benchmark
//! measures it (bench/README.md#gw-floor): COOP_TASKRUN + SINGLE_ISSUER + DEFER_TASKRUN, each
//! worker its ring's only issuer, without DEFER_TASKRUN for a busy-polling worker (see
//! spin.rs); or the legacy epoll driver where io_uring cannot be set up.

use std::fmt;
use std::future::Future;
use std::io;

use monoio::time::TimeDriver;
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

/// Submission queue entries per ring.
const RING_ENTRIES: u32 = 4096;

/// Which monoio driver runs the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Uring,
    Legacy,
}

impl Driver {
    /// Parse `uring` / `io_uring` / `epoll` / `legacy`.
    pub fn parse(s: &str) -> Option<Driver> {
        match s.trim().to_ascii_lowercase().as_str() {
            "uring" | "io_uring" | "iouring" => Some(Driver::Uring),
            "epoll" | "legacy" => Some(Driver::Legacy),
            _ => None,
        }
    }

    /// The driver to use: `forced` (from `--driver` or `GW_DRIVER`) if given, else io_uring
    /// when a ring with the chosen flags can be built on this machine, else epoll. The second
    /// value says why, for the start-up log.
    pub fn choose(forced: Option<Driver>) -> (Driver, &'static str) {
        match forced {
            Some(d) => (d, "forced"),
            None => match probe_uring() {
                Ok(()) => (Driver::Uring, "default"),
                Err(_) => (Driver::Legacy, "io_uring unavailable"),
            },
        }
    }

    /// Build a runtime of this driver on the current thread and run `fut` to completion.
    /// `busy_poll`: the worker will poll its ring without blocking (spin.rs).
    pub fn block_on<F: Future>(self, busy_poll: bool, fut: F) -> io::Result<F::Output> {
        match self {
            Driver::Uring => {
                let mut rt = RuntimeBuilder::<IoUringDriver>::new()
                    .with_entries(RING_ENTRIES)
                    .uring_builder(uring_setup(!busy_poll))
                    .enable_timer()
                    .build()?;
                Ok(rt.block_on(fut))
            }
            Driver::Legacy => {
                let mut rt = RuntimeBuilder::<LegacyDriver>::new()
                    .with_entries(RING_ENTRIES)
                    .enable_timer()
                    .build()?;
                Ok(rt.block_on(fut))
            }
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Driver::Uring => "io_uring",
            Driver::Legacy => "epoll",
        })
    }
}

/// `defer`: post completions only when the worker asks for them (DEFER_TASKRUN), which a
/// worker that busy-polls never does without blocking.
fn uring_setup(defer: bool) -> io_uring::Builder {
    let mut b = io_uring::IoUring::builder();
    b.setup_coop_taskrun().setup_single_issuer();
    if defer {
        b.setup_defer_taskrun();
    }
    b
}

/// Build (and drop) one ring with the workers' flags: fails under seccomp profiles that block
/// io_uring and on kernels without DEFER_TASKRUN.
fn probe_uring() -> io::Result<()> {
    if !monoio::utils::detect_uring() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring not supported",
        ));
    }
    let rt = RuntimeBuilder::<TimeDriver<IoUringDriver>>::new()
        .with_entries(256)
        .uring_builder(uring_setup(true))
        .build()?;
    drop(rt);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        assert_eq!(Driver::parse("uring"), Some(Driver::Uring));
        assert_eq!(Driver::parse("IO_URING"), Some(Driver::Uring));
        assert_eq!(Driver::parse("epoll"), Some(Driver::Legacy));
        assert_eq!(Driver::parse("kqueue"), None);
        assert_eq!(Driver::Uring.to_string(), "io_uring");
    }

    #[test]
    fn both_drivers_run_a_future_with_timers() {
        for (d, busy_poll) in [
            (Driver::Uring, false),
            (Driver::Uring, true),
            (Driver::Legacy, false),
        ] {
            let out = d
                .block_on(busy_poll, async {
                    monoio::time::sleep(std::time::Duration::from_millis(1)).await;
                    7
                })
                .unwrap();
            assert_eq!(out, 7);
        }
    }

    /// Accept one connection on a fresh runtime of `driver` with a provided-buffer ring of
    /// `ring` (buffers, bytes), switch multishot receive on, and run `serve` on it while
    /// `client` drives the other end from a thread.
    fn with_multishot<T: Send + 'static, R>(
        driver: Driver,
        ring: (u16, usize),
        client: impl FnOnce(std::net::TcpStream) -> T + Send + 'static,
        serve: impl AsyncFnOnce(monoio::net::TcpStream, bool) -> R,
    ) -> (R, T) {
        driver
            .block_on(false, async move {
                let registered = monoio::utils::register_buf_ring(ring.0, ring.1, 4).unwrap();
                assert_eq!(registered, driver == Driver::Uring);
                let l = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap();
                let t =
                    std::thread::spawn(move || client(std::net::TcpStream::connect(addr).unwrap()));
                let (mut s, _) = l.accept().await.unwrap();
                let on = s.recv_multishot();
                let r = serve(s, on).await;
                (r, t.join().unwrap())
            })
            .unwrap()
    }

    #[test]
    fn multishot_receive_keeps_order_when_the_ring_runs_dry() {
        use monoio::io::AsyncReadRent;
        use std::io::Write;
        let sent: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        for driver in [Driver::Uring, Driver::Legacy] {
            let data = sent.clone();
            // 4 buffers of 64 bytes: the kernel fills them faster than they are read, so the
            // receive ends with ENOBUFS and reads go on through plain receives and re-armed
            // multishot ones
            let (got, ()) = with_multishot(
                driver,
                (4, 64),
                move |mut c| {
                    for part in data.chunks(3_000) {
                        c.write_all(part).unwrap();
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                },
                async |mut s, on| {
                    assert_eq!(on, driver == Driver::Uring);
                    let mut got = Vec::new();
                    loop {
                        // let data pile up behind the read
                        monoio::time::sleep(std::time::Duration::from_millis(1)).await;
                        let (r, buf) = s.read(Vec::with_capacity(700)).await;
                        match r.unwrap() {
                            0 => break got,
                            n => got.extend_from_slice(&buf[..n]),
                        }
                    }
                },
            );
            assert_eq!(got.len(), sent.len(), "{driver}");
            assert!(got == sent, "{driver}: bytes out of order");
        }
    }

    #[test]
    fn a_multishot_socket_dropped_while_waiting_sends_its_fin() {
        use monoio::io::AsyncReadRent;
        use std::io::Read;
        for driver in [Driver::Uring, Driver::Legacy] {
            let (_, eof) = with_multishot(
                driver,
                (8, 1024),
                |mut c| {
                    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                        .unwrap();
                    let mut b = [0u8; 16];
                    // the kernel's armed receive holds the socket: unless it is cancelled
                    // first, closing the fd sends no FIN and this read times out
                    c.read(&mut b).map_err(|e| e.kind())
                },
                async |mut s, _| {
                    let read = s.read(Vec::with_capacity(64));
                    let timed = monoio::time::timeout(std::time::Duration::from_millis(20), read);
                    assert!(timed.await.is_err(), "no data was sent");
                    drop(s);
                    monoio::time::sleep(std::time::Duration::from_millis(50)).await;
                },
            );
            assert_eq!(eof, Ok(0), "{driver}");
        }
    }

    #[test]
    fn multishot_receive_is_limited_to_its_most_sockets() {
        Driver::Uring
            .block_on(false, async {
                assert!(monoio::utils::register_buf_ring(8, 64, 2).unwrap());
                let l = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap();
                let mut s: Vec<monoio::net::TcpStream> = Vec::new();
                for _ in 0..3 {
                    s.push(monoio::net::TcpStream::connect_addr(addr).await.unwrap());
                }
                let on: Vec<bool> = s.iter_mut().map(|s| s.recv_multishot()).collect();
                assert_eq!(on, [true, true, false]);
                assert!(!s[2].has_multishot());
                // a socket's slot is free again once it is gone
                drop(s.remove(0));
                assert!(s[1].recv_multishot());
            })
            .unwrap();
    }

    #[test]
    fn forced_driver_wins() {
        assert_eq!(Driver::choose(Some(Driver::Legacy)).0, Driver::Legacy);
    }
}
