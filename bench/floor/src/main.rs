//! `gw-floor`: the cheapest forwarding loop the kernel allows, whatever gw does. One thread,
//! one monoio runtime on io_uring with COOP_TASKRUN + SINGLE_ISSUER + DEFER_TASKRUN (completions
//! run only when the thread asks for them, no busy-polling), every socket on one multishot
//! receive into a provided-buffer ring (the patched monoio, vendor/monoio/PATCHES.md). Each
//! accepted connection gets one upstream connection; bytes are copied both ways and nothing is
//! parsed. bench/run.sh measures it beside gw, nginx and HAProxy so their figures have a floor
//! to be read against.
//!
//! ```text
//! gw-floor --listen 127.0.0.1:8100 --upstream 127.0.0.1:8080
//! ```

mod forward;

use std::net::SocketAddr;
use std::process::ExitCode;

use monoio::{IoUringDriver, RuntimeBuilder};
use nix::sys::signal::{SigSet, Signal};

/// Submission queue entries, as gw's workers use.
const RING_ENTRIES: u32 = 4096;

const USAGE: &str = "usage: gw-floor --listen ADDR --upstream ADDR\n\
     Forwards bytes between each accepted connection and one new connection to the upstream.";

/// The parsed command line.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    listen: SocketAddr,
    upstream: SocketAddr,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut listen, mut upstream) = (None, None);
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
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    Ok(Args {
        listen: listen.ok_or_else(|| format!("--listen is required\n{USAGE}"))?,
        upstream: upstream.ok_or_else(|| format!("--upstream is required\n{USAGE}"))?,
    })
}

fn run(args: &Args) -> std::io::Result<()> {
    let mut ring = io_uring::IoUring::builder();
    ring.setup_coop_taskrun()
        .setup_single_issuer()
        .setup_defer_taskrun();
    RuntimeBuilder::<IoUringDriver>::new()
        .with_entries(RING_ENTRIES)
        .uring_builder(ring)
        .build()?
        .block_on(forward::serve(args.listen, args.upstream))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("gw-floor: {msg}");
            return ExitCode::from(2);
        }
    };
    eprintln!("gw-floor: {} -> {}", args.listen, args.upstream);
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
        let a = parse("--upstream 127.0.0.1:2 --listen 127.0.0.1:1").unwrap();
        assert_eq!((a.listen.port(), a.upstream.port()), (1, 2));
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
            parse("--driver epoll")
                .unwrap_err()
                .contains("unknown argument")
        );
    }
}
