//! The I/O driver of a worker's monoio runtime: io_uring set up as DESIGN.md §4 measured
//! (COOP_TASKRUN + SINGLE_ISSUER + DEFER_TASKRUN: each worker is its ring's only issuer;
//! without DEFER_TASKRUN for a busy-polling worker, see spin.rs), or the legacy epoll driver
//! where io_uring cannot be set up.

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

    #[test]
    fn forced_driver_wins() {
        assert_eq!(Driver::choose(Some(Driver::Legacy)).0, Driver::Legacy);
    }
}
