//! `gw run FILE [--workers N] [--driver uring|epoll] [--busy-poll TIME|off]
//! [--multishot on|off]`: compile, serve. `gw check` shares every step up to binding
//! ([`compile_file`], [`prepare`]) so that both reach one verdict on a config.
//!
//! `--busy-poll` (default `off`; `100us` is the latency mode; env `GW_BUSY_POLL`) is how long
//! a lightly loaded worker keeps polling for I/O after a request starts or ends before it
//! sleeps (gw-runtime's spin.rs). It is fixed for the process: the io_uring set-up depends on
//! it.
//!
//! `--multishot` (default `on`; env `GW_MULTISHOT`): on io_uring, each socket receives through
//! one multishot receive into the worker's provided-buffer ring rather than a receive per
//! read (gw-runtime's worker.rs, `BUF_RING`). `off` is there to measure it against.
//!
//! Prints one `gw: listening on http[s]://ADDR (N workers, DRIVER)` line per listener on stdout
//! once every worker accepts, and flushes it. SIGTERM / SIGINT stop accepting, let in-flight
//! requests finish (up to `timeouts { drain }`) and exit 0. SIGHUP recompiles the file; a
//! config that fails keeps the old one serving, a good one is published to the workers.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gw_program::ConfigImage;
use gw_runtime::{Driver, Loaded, Options, Server, Signal, Signals};

use crate::cli::{Args, Command, Opt};

/// Parsed command line of `gw run`.
#[derive(Debug, PartialEq)]
pub(crate) struct RunArgs {
    pub file: PathBuf,
    pub opts: Options,
    /// `--pid-file`: where the pid goes, and beside it (`FILE.reload`) each reload's outcome
    /// for `gw reload`.
    pub pid_file: Option<PathBuf>,
}

/// `gw run`'s options, as README.md documents them.
pub(crate) const COMMAND: Command = Command {
    name: "run",
    operands: "FILE",
    about: "compile FILE and serve it: one worker per core, io_uring (epoll fallback)",
    details: "SIGTERM / SIGINT stop accepting, let in-flight requests finish and exit 0; \
              SIGHUP recompiles FILE (a config that fails keeps the old one serving).",
    opts: &[
        Opt::value("workers", "N", "worker threads, each pinned to a core")
            .short('w')
            .default("the config's `workers`, else one per core"),
        Opt::value("driver", "uring|epoll", "the I/O driver")
            .env("GW_DRIVER")
            .default("uring, epoll where io_uring is unavailable"),
        Opt::value(
            "busy-poll",
            "TIME|off",
            "the latency mode (`100us`): after a request starts or ends, a worker serving at \
             most 4 connections polls for I/O this long (at most 1s) before it sleeps",
        )
        .env("GW_BUSY_POLL")
        .default("off"),
        Opt::value(
            "multishot",
            "on|off",
            "on io_uring, one multishot receive per socket into the worker's buffer ring \
             (Linux 6.0; plain receives where the kernel lacks it)",
        )
        .env("GW_MULTISHOT")
        .default("on"),
        Opt::value(
            "pid-file",
            "FILE",
            "write the pid here, and each reload's outcome to FILE.reload (`gw reload` reads both)",
        ),
    ],
    main,
};

/// The environment's defaults for `gw run`'s options.
#[derive(Debug, Default)]
pub(crate) struct RunEnv {
    /// `GW_DRIVER`
    pub driver: Option<String>,
    /// `GW_BUSY_POLL`
    pub busy_poll: Option<String>,
    /// `GW_MULTISHOT`
    pub multishot: Option<String>,
}

impl RunEnv {
    fn read() -> RunEnv {
        RunEnv {
            driver: std::env::var("GW_DRIVER").ok(),
            busy_poll: std::env::var("GW_BUSY_POLL").ok(),
            multishot: std::env::var("GW_MULTISHOT").ok(),
        }
    }
}

/// `100us`, `50µs`, `1ms`, `0` or `off`: a busy-poll window, at most one second.
fn busy_poll_window(v: &str) -> Result<std::time::Duration, String> {
    let v = v.trim();
    if v == "off" || v == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = v.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("--busy-poll: `{v}` is not a time like `100us`"))?;
    let us = match unit {
        "us" | "µs" => n,
        "ms" => n.saturating_mul(1_000),
        "s" => n.saturating_mul(1_000_000),
        _ => {
            return Err(format!(
                "--busy-poll: `{v}` needs a unit: us, ms or s (or `off`)"
            ));
        }
    };
    if us > 1_000_000 {
        return Err(format!("--busy-poll: `{v}` is over the 1s maximum"));
    }
    Ok(std::time::Duration::from_micros(us))
}

/// `on` or `off`.
fn on_off(flag: &str, v: &str) -> Result<bool, String> {
    match v.trim() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{flag}: `{v}` is not `on` or `off`")),
    }
}

/// `--workers`: a number of workers, at least one.
fn workers(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(0) => Err("--workers must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("--workers: `{v}` is not a number")),
    }
}

/// Read `gw run`'s parsed command line; `env` holds the defaults for `--driver`, `--busy-poll`
/// and `--multishot`.
pub(crate) fn parse_args(args: &Args, env: RunEnv) -> Result<RunArgs, String> {
    let (file, extra) = match args.operands.as_slice() {
        [] => return Err("missing FILE".into()),
        [file, extra @ ..] => (file, extra.first()),
    };
    if let Some(x) = extra {
        return Err(format!("unexpected argument `{x}`"));
    }
    let mut opts = Options {
        workers: args.value("workers").map(workers).transpose()?,
        ..Options::default()
    };
    let driver = args.value("driver").map(str::to_owned).or(env.driver);
    if let Some(d) = driver.filter(|d| !d.is_empty()) {
        opts.driver = Some(
            Driver::parse(&d).ok_or_else(|| format!("unknown driver `{d}` (uring or epoll)"))?,
        );
    }
    let busy_poll = args.value("busy-poll").map(str::to_owned).or(env.busy_poll);
    if let Some(b) = busy_poll.filter(|b| !b.is_empty()) {
        opts.busy_poll = Some(busy_poll_window(&b)?);
    }
    let multishot = args.value("multishot").map(str::to_owned).or(env.multishot);
    if let Some(m) = multishot.filter(|m| !m.is_empty()) {
        opts.multishot = Some(on_off("--multishot", &m)?);
    }
    Ok(RunArgs {
        file: PathBuf::from(file),
        opts,
        pid_file: args.value("pid-file").map(PathBuf::from),
    })
}

/// Compile a `.gw` file for serving, against the policies this build serves (E0801 for the
/// others): diagnostics (warnings included) go to stderr; `None` when there were errors.
pub(crate) fn compile_file(path: &Path) -> Option<ConfigImage> {
    let registry = gw_plugins_std::registry();
    let available: Vec<String> = registry.names().map(str::to_owned).collect();
    crate::tools::load(path, Some(available)).and_then(|(_, compiled)| compiled.image)
}

/// What to make of a refusal that depends on this machine rather than on the config and this
/// build: an upstream server name that does not resolve here, a listen address that cannot be
/// bound here now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnMachine {
    /// `gw run`: an error, like every other refusal.
    Refuse,
    /// `gw check`: a warning, since the config may be meant for another machine.
    Warn,
}

/// What [`prepare`] made of a compiled image. Every reason has been printed.
#[derive(Debug)]
pub(crate) enum Prepared {
    /// Servable: bind and start.
    Ready(Loaded),
    /// Refused only for what depends on this machine (`OnMachine::Warn`: warnings printed).
    NotHere,
    /// Refused.
    Refused,
}

/// Make a compiled image servable: gw-runtime's `Loaded::load` refuses what this build does
/// not serve, resolves upstream server names and builds the plugin factories. Each refusal
/// prints as `error: ...`, or `warning: ...` when it depends on this machine and `on_machine`
/// is `Warn`.
pub(crate) fn load(
    image: ConfigImage,
    previous: Option<&Loaded>,
    on_machine: OnMachine,
) -> Prepared {
    let e = match Loaded::load(image, &gw_plugins_std::registry(), previous) {
        Ok(l) => return Prepared::Ready(l),
        Err(e) => e,
    };
    let mut refused = false;
    for (i, m) in e.messages.iter().enumerate() {
        if on_machine == OnMachine::Warn && e.machine.contains(&i) {
            eprintln!("warning: {m}");
        } else {
            eprintln!("error: {m}");
            refused = true;
        }
    }
    if refused {
        Prepared::Refused
    } else {
        Prepared::NotHere
    }
}

/// Everything `gw run` checks between compiling and starting the workers, shared with
/// `gw check` so both give one verdict: [`load`], then the listeners. `gw run` binds them when
/// it starts; `gw check` (`OnMachine::Warn`) tries each address instead and warns about one it
/// cannot bind.
pub(crate) fn prepare(image: ConfigImage, on_machine: OnMachine) -> Prepared {
    let listeners: Vec<SocketAddr> = image.listeners.iter().map(|l| l.addr).collect();
    let mut prepared = load(image, None, on_machine);
    if matches!(prepared, Prepared::Refused) {
        return prepared;
    }
    if listeners.is_empty() {
        eprintln!("error: the config has no `listen`");
        return Prepared::Refused;
    }
    if let Prepared::Ready(l) = &prepared
        && l.image.routes.is_empty()
    {
        eprintln!(
            "warning: the config has no route: every request is a 404, and a reload to it is refused"
        );
    }
    if on_machine == OnMachine::Warn {
        for addr in listeners {
            if let Err(e) = probe_listen(addr) {
                eprintln!("warning: cannot listen on {addr}: {e}");
                prepared = Prepared::NotHere;
            }
        }
    }
    prepared
}

/// Whether `addr` can be bound now, as `gw run` would find it. The probe socket is plain (no
/// SO_REUSEPORT), so it never joins the accept group of a gw already serving `addr` and takes
/// none of its connections; such a gw makes the port count as in use.
fn probe_listen(addr: SocketAddr) -> std::io::Result<()> {
    std::net::TcpListener::bind(addr).map(drop)
}

/// `meta` with the file it came from and the SHA-256 of the file's text.
fn describe(path: &Path, meta: gw_runtime::ConfigMeta) -> gw_runtime::ConfigMeta {
    use sha2::Digest;
    let hash = std::fs::read(path)
        .map(|text| {
            sha2::Sha256::digest(&text)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .unwrap_or_default();
    gw_runtime::ConfigMeta {
        source: path.display().to_string(),
        source_hash: hash,
        ..meta
    }
}

/// Start the workers and print what serves: the listen lines, then the admin endpoint, the
/// routes and upstreams, and where the access log and spans go.
pub(crate) fn start(loaded: Arc<Loaded>, opts: &Options) -> Option<Server> {
    let image = loaded.image.clone();
    let server = match Server::start(loaded, opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return None;
        }
    };
    if server.driver_reason() != "default" && server.driver() == Driver::Legacy {
        gw_runtime::log::line(format_args!(
            "using the epoll driver ({})",
            server.driver_reason()
        ));
    }
    let mut out = std::io::stdout().lock();
    // `listen` order, as `Server::addrs` gives them
    for (a, l) in server.addrs().iter().zip(&image.listeners) {
        let scheme = if l.tls.is_some() { "https" } else { "http" };
        let _ = writeln!(
            out,
            "gw: listening on {scheme}://{a} ({} worker{}, {})",
            server.workers(),
            if server.workers() == 1 { "" } else { "s" },
            server.driver()
        );
    }
    if let Some(a) = image.admin {
        let _ = writeln!(
            out,
            "gw: admin on http://{a} (/metrics /healthz /ready /config /upstreams)"
        );
    }
    let names = |v: Vec<&str>| {
        let shown: Vec<&str> = v.iter().take(8).copied().collect();
        let more = v.len().saturating_sub(shown.len());
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let _ = writeln!(
        out,
        "gw: {} route{}: {}",
        image.routes.len(),
        if image.routes.len() == 1 { "" } else { "s" },
        names(image.routes.iter().map(|r| r.name.as_str()).collect())
    );
    if !image.upstreams.is_empty() {
        let _ = writeln!(
            out,
            "gw: {} upstream{}: {}",
            image.upstreams.len(),
            if image.upstreams.len() == 1 { "" } else { "s" },
            names(image.upstreams.iter().map(|u| u.name.as_str()).collect())
        );
    }
    if let Some(l) = &image.access_log {
        let to = match &l.to {
            gw_program::LogTarget::Stdout => "stdout".to_owned(),
            gw_program::LogTarget::File(p) => p.display().to_string(),
        };
        let _ = writeln!(out, "gw: access log to {to} (SIGUSR1 reopens it)");
    }
    if let Some(t) = &image.tracing {
        let _ = writeln!(
            out,
            "gw: tracing: W3C traceparent, {}.{:02}% of new traces sampled{}",
            t.sample / 100,
            t.sample % 100,
            t.otlp
                .as_ref()
                .map(|u| format!(", spans to {u}"))
                .unwrap_or_default()
        );
    }
    let _ = out.flush();
    Some(server)
}

/// Serve until SIGTERM / SIGINT; SIGHUP recompiles `file` (when given), SIGUSR1 reopens the
/// access log. Each reload's outcome goes to the log and, with a pid file, to `PID.reload`.
pub(crate) fn serve(
    server: Server,
    signals: &Signals,
    mut current: Arc<Loaded>,
    file: Option<&Path>,
    pid_file: Option<&Path>,
) {
    let handle = server.handle();
    let mut attempts = 0u64;
    loop {
        match signals.wait() {
            Ok(Signal::Terminate) => break,
            Ok(Signal::Reopen) => handle.reopen_logs(),
            Ok(Signal::Reload) => {
                let Some(path) = file else { continue };
                attempts += 1;
                gw_runtime::log::line(format_args!("reloading {}", path.display()));
                let outcome = reload(path, &current, &handle);
                match &outcome {
                    Ok((next, summary)) => {
                        current = next.clone();
                        gw_runtime::log::line(format_args!(
                            "reloaded: generation {}, {summary}",
                            current.meta.generation
                        ));
                    }
                    Err(why) => {
                        handle.reload_failed();
                        eprint!("{why}");
                        gw_runtime::log::line(format_args!(
                            "reload failed; the previous config keeps serving"
                        ));
                    }
                }
                if let Some(pid) = pid_file {
                    crate::ops::write_reload_outcome(
                        pid,
                        attempts,
                        current.meta.generation,
                        outcome.as_ref().map(|(_, s)| s.as_str()),
                    );
                }
            }
            Err(e) => {
                gw_runtime::log::line(format_args!("signal wait failed: {e}"));
                break;
            }
        }
    }
    handle.shutdown();
    server.wait();
    // the workers have ended: plugins save what outlives the process (quota counts)
    for f in &current.factories {
        f.stop();
    }
}

/// One reload, whole or not at all: the new config compiles, has a listener and a route (a
/// file half written by a deploy tool must not empty the gateway), loads, and its new listen
/// addresses bind; only then do the workers get it. `Err` holds what to tell the operator.
fn reload(
    path: &Path,
    current: &Arc<Loaded>,
    handle: &gw_runtime::Handle,
) -> Result<(Arc<Loaded>, String), String> {
    let registry = gw_plugins_std::registry();
    let available: Vec<String> = registry.names().map(str::to_owned).collect();
    let (compiled, diags) = crate::tools::load_quiet(path, Some(available));
    let Some(image) = compiled.and_then(|(_, c)| c.image) else {
        return Err(diags);
    };
    // warnings of a config that applies still go to the log
    eprint!("{diags}");
    if image.listeners.is_empty() {
        return Err(
            "error: the new config has no `listen`: refused, the gateway would serve nothing\n"
                .into(),
        );
    }
    if image.routes.is_empty() {
        return Err("error: the new config has no route: refused, every request would be a 404 (a file still being written?)\n".into());
    }
    let summary = crate::ops::summary(&current.image, &image);
    let mut next = match Loaded::load(image, &registry, Some(current)) {
        Ok(l) => l,
        Err(e) => {
            return Err(e.messages.iter().map(|m| format!("error: {m}\n")).collect());
        }
    };
    next.meta = describe(path, next.meta);
    let old: Vec<SocketAddr> = current.image.listeners.iter().map(|l| l.addr).collect();
    let new: Vec<SocketAddr> = next.image.listeners.iter().map(|l| l.addr).collect();
    let add: Vec<SocketAddr> = new.iter().filter(|a| !old.contains(a)).copied().collect();
    let remove: Vec<SocketAddr> = old.iter().filter(|a| !new.contains(a)).copied().collect();
    if !add.is_empty() || !remove.is_empty() {
        let bound = handle
            .relisten(&add, &remove)
            .map_err(|e| format!("error: {e}\n"))?;
        for a in bound {
            gw_runtime::log::line(format_args!("listening on http://{a}"));
        }
        for a in &remove {
            gw_runtime::log::line(format_args!(
                "stopped listening on http://{a} (its open connections go on)"
            ));
        }
    }
    let next = Arc::new(next);
    handle.reload(next.clone());
    Ok((next, summary))
}

fn main(args: Args) -> i32 {
    let parsed = match parse_args(&args, RunEnv::read()) {
        Ok(p) => p,
        Err(e) => return crate::cli::usage_error(&COMMAND, &e),
    };
    let Some(image) = compile_file(&parsed.file) else {
        return 1;
    };
    let Prepared::Ready(mut loaded) = prepare(image, OnMachine::Refuse) else {
        return 1;
    };
    loaded.meta = describe(&parsed.file, loaded.meta);
    // before any thread starts, so every worker inherits the mask
    let signals = match Signals::block() {
        Ok(s) => s,
        Err(e) => {
            gw_runtime::log::line(format_args!("cannot block signals: {e}"));
            return 1;
        }
    };
    let loaded = Arc::new(loaded);
    // before the listen lines, so whoever waits for those finds the pid file
    if let Some(pid) = &parsed.pid_file
        && let Err(e) = std::fs::write(pid, format!("{}\n", std::process::id()))
    {
        gw_runtime::log::line(format_args!("cannot write {}: {e}", pid.display()));
        return 1;
    }
    let Some(server) = start(loaded.clone(), &parsed.opts) else {
        if let Some(pid) = &parsed.pid_file {
            let _ = std::fs::remove_file(pid);
        }
        return 1;
    };
    serve(
        server,
        &signals,
        loaded,
        Some(&parsed.file),
        parsed.pid_file.as_deref(),
    );
    if let Some(pid) = &parsed.pid_file {
        let _ = std::fs::remove_file(pid);
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `gw run A...` with `env` as the environment, as the command line reaches `main`.
    fn parse(a: &[&str], env: RunEnv) -> Result<RunArgs, String> {
        let a: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        match COMMAND.parse(&a)? {
            crate::cli::Parsed::Args(a) => parse_args(&a, env),
            crate::cli::Parsed::Help => Err("help".into()),
        }
    }

    /// The options `gw run` parses from `a` with `env` as the environment.
    fn opts(a: &[&str], env: RunEnv) -> Options {
        parse(a, env).unwrap().opts
    }

    fn env_driver(d: &str) -> RunEnv {
        RunEnv {
            driver: Some(d.into()),
            ..RunEnv::default()
        }
    }

    #[test]
    fn parses_workers_and_driver() {
        let p = parse(
            &["api.gw", "--workers", "2", "--driver", "epoll"],
            RunEnv::default(),
        )
        .unwrap();
        assert_eq!(p.file, PathBuf::from("api.gw"));
        assert_eq!(p.opts.workers, Some(2));
        assert_eq!(p.opts.driver, Some(Driver::Legacy));
        let p = parse(&["api.gw"], env_driver("uring")).unwrap();
        assert_eq!(p.opts.driver, Some(Driver::Uring));
        let p = parse(&["--driver=uring", "api.gw"], env_driver("epoll")).unwrap();
        assert_eq!(p.opts.driver, Some(Driver::Uring));
    }

    #[test]
    fn rejects_bad_arguments() {
        let bad = |a: &[&str]| parse(a, RunEnv::default()).is_err();
        assert!(bad(&[]));
        assert!(bad(&["a.gw", "--workers", "x"]));
        assert!(bad(&["a.gw", "--workers", "0"]));
        assert!(bad(&["a.gw", "--workers=0"]));
        assert!(bad(&["a.gw", "--driver", "kqueue"]));
        assert!(bad(&["a.gw", "b.gw"]));
        assert!(bad(&["a.gw", "--bogus"]));
        assert!(bad(&["a.gw", "--busy-poll", "100"]));
        assert!(bad(&["a.gw", "--busy-poll", "fast"]));
        assert!(bad(&["a.gw", "--busy-poll", "2s"]));
        assert!(bad(&["a.gw", "--busy-poll"]));
        assert!(bad(&["a.gw", "--multishot", "yes"]));
        assert!(bad(&["a.gw", "--multishot"]));
    }

    #[test]
    fn parses_multishot() {
        let multishot = |a: &[&str], env: Option<&str>| {
            let multishot = env.map(Into::into);
            opts(
                a,
                RunEnv {
                    multishot,
                    ..RunEnv::default()
                },
            )
            .multishot
        };
        assert_eq!(multishot(&["a.gw"], None), None);
        assert_eq!(
            multishot(&["a.gw", "--multishot", "off"], None),
            Some(false)
        );
        assert_eq!(multishot(&["a.gw", "--multishot=on"], None), Some(true));
        assert_eq!(multishot(&["a.gw"], Some("off")), Some(false));
        // the flag beats the environment
        assert_eq!(
            multishot(&["a.gw", "--multishot", "on"], Some("off")),
            Some(true)
        );
    }

    #[test]
    fn parses_busy_poll() {
        use std::time::Duration;
        let window = |a: &[&str], env: Option<&str>| {
            let busy_poll = env.map(Into::into);
            opts(
                a,
                RunEnv {
                    busy_poll,
                    ..RunEnv::default()
                },
            )
            .busy_poll
        };
        assert_eq!(window(&["a.gw"], None), None);
        assert_eq!(
            window(&["a.gw", "--busy-poll", "50us"], None),
            Some(Duration::from_micros(50))
        );
        assert_eq!(
            window(&["a.gw", "--busy-poll=2ms"], None),
            Some(Duration::from_millis(2))
        );
        assert_eq!(
            window(&["a.gw", "--busy-poll", "off"], None),
            Some(Duration::ZERO)
        );
        assert_eq!(window(&["a.gw"], Some("0")), Some(Duration::ZERO));
        // the flag beats the environment
        assert_eq!(
            window(&["a.gw", "--busy-poll", "10µs"], Some("off")),
            Some(Duration::from_micros(10))
        );
    }
}
