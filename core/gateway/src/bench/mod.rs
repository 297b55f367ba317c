//! `gw bench URL [--rate R/s | --connections C] [--duration 30s] [--workers N] [-X METHOD]
//! [-H 'k: v'] [--body @file] [--compare URL2 ...] [--json] [--plot out.svg]`: an HTTP/1.1
//! load generator on gw's own runtime, to measure what a gateway adds on the user's own
//! routes; and `gw bench --cost --volume 2e9/month [--from results.json]`: a managed
//! gateway's bill beside the gw cores that volume needs.
//!
//! Targets run one after the other with the same settings; the first is the baseline of the
//! differences. README.md shows a run; bench/README.md ("gw bench") how it compares with wrk.

mod args;
mod conn;
mod cost;
mod load;
mod plot;
mod report;
mod target;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use gw_runtime::Driver;
use hdrhistogram::Histogram;

use crate::cli::{Args, Command, Opt};
use args::{Action, LoadArgs};
use load::{Live, Plan, Snapshot, Tally};
use report::{Outcome, Settings};

/// `gw bench`'s options.
pub(crate) const COMMAND: Command = Command {
    name: "bench",
    operands: "URL [URL...]",
    about: "measure URL's latency and throughput over HTTP/1.1 (and what a gateway adds)",
    details: "Open loop with --rate: requests go out on a fixed schedule and each latency runs \
              from its scheduled time, so a stalled server shows (no coordinated omission). \
              Closed loop otherwise: each connection sends when its last response is complete. \
              Errors are counted by kind: connect, timeout, reset (closed before the response \
              was complete), non-2xx, protocol (not HTTP/1.x). Only http:// URLs for now. \
              `gw bench --cost --volume 2e9/month [--from results.json]` prints AWS API \
              Gateway's monthly bill for that volume beside the gw cores it needs.",
    opts: &[
        Opt::value(
            "rate",
            "R/s",
            "open loop: requests a second (also N/m, N/h), over all workers",
        )
        .short('r'),
        Opt::value(
            "connections",
            "C",
            "closed loop: connections, each sending back to back; with --rate, the most \
             connections opened",
        )
        .short('c')
        .default("50; with --rate, at most 100"),
        Opt::value(
            "duration",
            "TIME",
            "how long each target runs (30s, 500ms, 2m)",
        )
        .short('d')
        .default("10s"),
        Opt::value(
            "workers",
            "N",
            "threads, each with its own runtime, connections and histogram",
        )
        .short('w')
        .default("1"),
        Opt::value(
            "timeout",
            "TIME",
            "a request without its whole response by then fails",
        )
        .default("10s"),
        Opt::value("method", "METHOD", "the request method")
            .short('X')
            .default("GET"),
        Opt::value(
            "header",
            "'NAME: VALUE'",
            "a request header field (repeatable)",
        )
        .short('H'),
        Opt::value(
            "body",
            "@FILE|TEXT",
            "the request body: a file's bytes, or TEXT",
        ),
        Opt::value(
            "compare",
            "URL",
            "also run URL with the same settings (repeatable; URLs after the first operand \
             count too); differences are from the first target",
        ),
        Opt::flag(
            "json",
            "print the results as JSON with the full percentile spectrum",
        ),
        Opt::value(
            "plot",
            "FILE.svg",
            "draw every target's latency by percentile on one chart",
        ),
        Opt::value("driver", "uring|epoll", "the I/O driver")
            .env("GW_DRIVER")
            .default("uring, epoll where io_uring is unavailable"),
        Opt::flag(
            "cost",
            "print AWS API Gateway's monthly bill for --volume beside the gw cores it needs",
        ),
        Opt::value(
            "volume",
            "N/month",
            "with --cost: requests (WebSocket: messages) a month; also N/day, N/s",
        ),
        Opt::value(
            "from",
            "FILE.json",
            "with --cost: the throughput per core from a `gw bench --json` run (its last target)",
        )
        .default("the figure in bench/README.md"),
        Opt::value(
            "server-cores",
            "N",
            "with --cost: the cores of the gateway that the --from run measured",
        )
        .default("1"),
        Opt::value(
            "connection-minutes",
            "N/month",
            "with --cost: WebSocket connection-minutes a month",
        )
        .default("0"),
    ],
    main,
};

fn main(a: Args) -> i32 {
    let action = match args::parse(&a) {
        Ok(x) => x,
        Err(e) => return crate::cli::usage_error(&COMMAND, &e),
    };
    match action {
        Action::Cost(c) => cost::main(&c),
        Action::Load(l) => {
            let driver = match a
                .value("driver")
                .map(str::to_owned)
                .or_else(|| std::env::var("GW_DRIVER").ok())
                .filter(|d| !d.is_empty())
            {
                None => Driver::choose(None).0,
                Some(d) => match Driver::parse(&d) {
                    Some(d) => d,
                    None => {
                        let e = format!("unknown driver `{d}` (uring or epoll)");
                        return crate::cli::usage_error(&COMMAND, &e);
                    }
                },
            };
            load_main(&l, driver)
        }
    }
}

fn load_main(l: &LoadArgs, driver: Driver) -> i32 {
    let settings = Settings {
        mode: l.mode,
        duration: l.duration,
        workers: l.workers,
        timeout: l.timeout,
        method: l.request.method.clone(),
    };
    let progress = std::io::stdout().is_terminal() && !l.json;
    let mut outcomes = Vec::with_capacity(l.targets.len());
    for (i, t) in l.targets.iter().enumerate() {
        let plan = Plan {
            addr: t.addr,
            request: target::request_bytes(t, &l.request),
            head_request: l.request.method == "HEAD",
            mode: l.mode,
            duration: l.duration,
            timeout: l.timeout,
            workers: l.workers,
        };
        let label = format!("[{}] {}", i + 1, t.url);
        match run(plan, driver, progress.then_some(label.as_str())) {
            Ok((tally, elapsed)) => outcomes.push(Outcome {
                url: t.url.clone(),
                tally,
                elapsed,
            }),
            Err(e) => {
                eprintln!("gw bench: {}: {e}", t.url);
                return 1;
            }
        }
    }
    if l.json {
        let j = report::json(&settings, &outcomes);
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        print!("{}", report::table(&settings, &outcomes));
    }
    let _ = std::io::stdout().flush();
    if let Some(path) = &l.plot {
        if let Err(e) = plot::draw(path, &outcomes) {
            eprintln!("gw bench: --plot {}: {e}", path.display());
            return 1;
        }
        if !l.json {
            println!("\nplot: {}", path.display());
        }
    }
    let silent: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.tally.responses() == 0)
        .map(|o| o.url.as_str())
        .collect();
    if silent.is_empty() {
        0
    } else {
        eprintln!("gw bench: no response from {}", silent.join(", "));
        1
    }
}

/// How long the workers get to start and connect before the common start.
const START_DELAY: Duration = Duration::from_millis(100);

/// Run `plan` on its workers; with `progress`, a live line labelled with it. Returns the
/// merged tally and the run's length (at least its duration: to the end of the last request).
fn run(plan: Plan, driver: Driver, progress: Option<&str>) -> Result<(Tally, Duration), String> {
    let plan = Arc::new(plan);
    let start = Instant::now() + START_DELAY;
    let live = progress.map(|_| Arc::new(Live::default()));
    let (tx, rx) = flume::unbounded::<Snapshot>();
    let mut handles = Vec::with_capacity(plan.workers);
    for id in 0..plan.workers {
        let (plan, live) = (plan.clone(), live.clone());
        let tx = progress.map(|_| tx.clone());
        let h = thread::Builder::new()
            .name(format!("gw-bench-{id}"))
            .spawn(move || load::run_worker(id, plan, driver, start, live, tx))
            .map_err(|e| format!("cannot start a worker thread: {e}"))?;
        handles.push(h);
    }
    drop(tx);
    if let (Some(label), Some(live)) = (progress, &live) {
        show_progress(label, live, &rx, start, &handles);
    }
    let mut total = Tally::new()?;
    for h in handles {
        let t = h
            .join()
            .map_err(|_| "a worker thread failed".to_owned())??;
        total.merge(&t);
    }
    let elapsed = total
        .last
        .map_or(plan.duration, |l| l.saturating_duration_since(start))
        .max(plan.duration);
    Ok((total, elapsed))
}

/// The live line, once a second until the workers are done: rate over the last second,
/// errors, p99 so far (from each worker's latest histogram).
fn show_progress(
    label: &str,
    live: &Live,
    rx: &flume::Receiver<Snapshot>,
    start: Instant,
    handles: &[thread::JoinHandle<Result<Tally, String>>],
) {
    let mut latest: Vec<Option<Histogram<u64>>> = vec![None; handles.len()];
    let (mut last_n, mut last_t) = (0, Instant::now());
    let mut out = std::io::stdout();
    while !handles.iter().all(|h| h.is_finished()) {
        while let Ok((id, h)) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(slot) = latest.get_mut(id) {
                *slot = Some(h);
            }
        }
        if last_t.elapsed() < Duration::from_secs(1) {
            continue;
        }
        let n = live.requests.load(Ordering::Relaxed);
        let rate = (n - last_n) as f64 / last_t.elapsed().as_secs_f64();
        (last_n, last_t) = (n, Instant::now());
        let mut merged: Option<Histogram<u64>> = None;
        for h in latest.iter().flatten() {
            match &mut merged {
                None => merged = Some(h.clone()),
                Some(m) => {
                    let _ = m.add(h);
                }
            }
        }
        let p99 = merged
            .filter(|m| !m.is_empty())
            .map_or("-".to_owned(), |m| {
                report::human(m.value_at_quantile(0.99) as f64)
            });
        let _ = write!(
            out,
            "\r\x1b[K{label}: {:.0}s, {rate:.0} req/s, {} errors, p99 {p99}",
            start.elapsed().as_secs_f64(),
            live.errors.load(Ordering::Relaxed)
        );
        let _ = out.flush();
    }
    let _ = write!(out, "\r\x1b[K");
    let _ = out.flush();
}
