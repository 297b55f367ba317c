//! `gw-floor`: what the kernel's TCP work alone costs. One thread, one monoio runtime, set up
//! the way gw's workers are (io_uring with COOP_TASKRUN + SINGLE_ISSUER, plus DEFER_TASKRUN
//! unless `--defer-taskrun no`, which is the ring of a busy-polling gw worker; or the epoll
//! driver with `--driver epoll`). Each accepted connection gets one upstream connection;
//! bytes are copied both ways and nothing is parsed. bench/run.sh measures it beside gw, nginx
//! and HAProxy so their figures have a floor to be read against.
//!
//! ```text
//! gw-floor --listen 127.0.0.1:8100 --upstream 127.0.0.1:8080 [--driver uring|epoll]
//!          [--defer-taskrun yes|no]
//! ```

mod forward;

use std::net::SocketAddr;
use std::process::ExitCode;

use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};
use nix::sys::signal::{SigSet, Signal};

/// Submission queue entries, as gw's workers use.
const RING_ENTRIES: u32 = 4096;

const USAGE: &str = "usage: gw-floor --listen ADDR --upstream ADDR [--driver uring|epoll] \
     [--defer-taskrun yes|no]\n\
     Forwards bytes between each accepted connection and one new connection to the upstream.";

/// Which monoio driver to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    Uring,
    Epoll,
}

/// The parsed command line.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    listen: SocketAddr,
    upstream: SocketAddr,
    driver: Driver,
    /// io_uring's DEFER_TASKRUN (gw's workers drop it when they busy-poll).
    defer: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut listen, mut upstream, mut driver, mut defer) = (None, None, Driver::Uring, true);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_owned());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let addr = || {
            value
                .parse::<SocketAddr>()
                .map_err(|e| format!("{flag} {value}: {e} (want IP:PORT)"))
        };
        match flag.as_str() {
            "--listen" => listen = Some(addr()?),
            "--upstream" => upstream = Some(addr()?),
            "--driver" => {
                driver = match value.as_str() {
                    "uring" | "io_uring" => Driver::Uring,
                    "epoll" | "legacy" => Driver::Epoll,
                    _ => return Err(format!("--driver {value}: want uring or epoll")),
                }
            }
            "--defer-taskrun" => {
                defer = match value.as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(format!("--defer-taskrun {value}: want yes or no")),
                }
            }
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    Ok(Args {
        listen: listen.ok_or_else(|| format!("--listen is required\n{USAGE}"))?,
        upstream: upstream.ok_or_else(|| format!("--upstream is required\n{USAGE}"))?,
        driver,
        defer,
    })
}

fn uring_setup(defer: bool) -> io_uring::Builder {
    let mut b = io_uring::IoUring::builder();
    // The runtime's thread is the ring's only issuer; with DEFER_TASKRUN, completions run
    // when it asks for them.
    b.setup_coop_taskrun().setup_single_issuer();
    if defer {
        b.setup_defer_taskrun();
    }
    b
}

fn run(args: &Args) -> std::io::Result<()> {
    let serve = forward::serve(args.listen, args.upstream);
    match args.driver {
        Driver::Uring => RuntimeBuilder::<IoUringDriver>::new()
            .with_entries(RING_ENTRIES)
            .uring_builder(uring_setup(args.defer))
            .build()?
            .block_on(serve),
        Driver::Epoll => RuntimeBuilder::<LegacyDriver>::new()
            .with_entries(RING_ENTRIES)
            .build()?
            .block_on(serve),
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("gw-floor: {msg}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "gw-floor: {} -> {} ({:?} driver{})",
        args.listen,
        args.upstream,
        args.driver,
        if args.defer { "" } else { ", no DEFER_TASKRUN" }
    );
    // SIGINT and SIGTERM end the process through exit(), so that an instrumented build
    // (scripts/build-pgo.sh) writes its profile: the forwarder runs on its own thread and this
    // one waits for the signal.
    let mut stop = SigSet::empty();
    stop.add(Signal::SIGINT);
    stop.add(Signal::SIGTERM);
    if let Err(e) = stop.thread_block() {
        eprintln!("gw-floor: blocking signals: {e}");
        return ExitCode::FAILURE;
    }
    std::thread::spawn(move || {
        if let Err(e) = run(&args) {
            eprintln!("gw-floor: {e}");
            std::process::exit(1);
        }
    });
    match stop.wait() {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gw-floor: waiting for a signal: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, String> {
        parse_args(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn parses_flags_and_rejects_bad_ones() {
        let a = parse("--upstream 127.0.0.1:2 --listen 127.0.0.1:1 --driver epoll").unwrap();
        assert_eq!(a.listen.port(), 1);
        assert_eq!(a.upstream.port(), 2);
        assert_eq!(a.driver, Driver::Epoll);
        assert!(a.defer);
        let a = parse("--listen 127.0.0.1:1 --upstream 127.0.0.1:2 --defer-taskrun no").unwrap();
        assert!(!a.defer);
        assert!(
            parse("--defer-taskrun maybe")
                .unwrap_err()
                .contains("yes or no")
        );
        assert_eq!(
            parse("--listen 127.0.0.1:1 --upstream 127.0.0.1:2")
                .unwrap()
                .driver,
            Driver::Uring
        );
        assert!(
            parse("--listen 127.0.0.1:1")
                .unwrap_err()
                .contains("--upstream")
        );
        assert!(
            parse("--listen nope --upstream 127.0.0.1:2")
                .unwrap_err()
                .contains("IP:PORT")
        );
        assert!(parse("--listen").unwrap_err().contains("needs a value"));
        assert!(
            parse("--driver kqueue")
                .unwrap_err()
                .contains("uring or epoll")
        );
        assert!(parse("--bogus 1").unwrap_err().contains("unknown argument"));
    }
}
