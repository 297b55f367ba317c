//! `gw run FILE [--workers N] [--driver uring|epoll] [--busy-poll TIME|off]
//! [--multishot on|off]`: compile, serve.
//!
//! `--busy-poll` (default `100us`, `off` to disable; env `GW_BUSY_POLL`) is how long a
//! lightly loaded worker keeps polling for I/O after a request starts or ends before it
//! sleeps (gw-runtime's spin.rs). It is fixed for the process: the io_uring set-up depends on
//! it.
//!
//! `--multishot` (default `on`; env `GW_MULTISHOT`): on io_uring, each socket receives through
//! one multishot receive into the worker's provided-buffer ring rather than a receive per
//! read (gw-runtime's worker.rs, `BUF_RING`). `off` is there to measure it against.
//!
//! Prints one `gw: listening on http://ADDR (N workers, DRIVER)` line per listener on stdout
//! once every worker accepts, and flushes it. SIGTERM / SIGINT stop accepting, let in-flight
//! requests finish (up to `timeouts { drain }`) and exit 0. SIGHUP recompiles the file; a
//! config that fails keeps the old one serving, a good one is published to the workers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gw_program::ConfigImage;
use gw_runtime::{Driver, Loaded, Options, Server, Signal, Signals};

/// Parsed command line of `gw run`.
#[derive(Debug, PartialEq)]
pub(crate) struct RunArgs {
    pub file: PathBuf,
    pub opts: Options,
}

const USAGE: &str = "usage: gw run FILE [--workers N] [--driver uring|epoll] \
     [--busy-poll TIME|off] [--multishot on|off]";

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

/// Parse `gw run` arguments; `env` holds the defaults for `--driver`, `--busy-poll` and
/// `--multishot`.
pub(crate) fn parse_args(args: &[String], env: RunEnv) -> Result<RunArgs, String> {
    let mut file = None;
    let mut opts = Options::default();
    let mut driver = env.driver;
    let mut busy_poll = env.busy_poll;
    let mut multishot = env.multishot;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--workers" | "-w" => {
                let v = it.next().ok_or("--workers needs a number")?;
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("--workers: `{v}` is not a number"))?;
                if n == 0 {
                    return Err("--workers must be at least 1".into());
                }
                opts.workers = Some(n);
            }
            "--driver" => driver = Some(it.next().ok_or("--driver needs uring or epoll")?.clone()),
            "--busy-poll" => {
                busy_poll = Some(
                    it.next()
                        .ok_or("--busy-poll needs a time or `off`")?
                        .clone(),
                )
            }
            "--multishot" => {
                multishot = Some(it.next().ok_or("--multishot needs on or off")?.clone())
            }
            s if s.starts_with("--multishot=") => {
                multishot = Some(s.trim_start_matches("--multishot=").into())
            }
            s if s.starts_with("--busy-poll=") => {
                busy_poll = Some(s.trim_start_matches("--busy-poll=").into())
            }
            s if s.starts_with("--workers=") => {
                let v = s.trim_start_matches("--workers=");
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("--workers: `{v}` is not a number"))?;
                opts.workers = Some(n.max(1));
            }
            s if s.starts_with("--driver=") => {
                driver = Some(s.trim_start_matches("--driver=").into())
            }
            s if s.starts_with('-') => return Err(format!("unknown option `{s}`")),
            s if file.is_none() => file = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument `{s}`")),
        }
    }
    if let Some(d) = driver.filter(|d| !d.is_empty()) {
        opts.driver = Some(
            Driver::parse(&d).ok_or_else(|| format!("unknown driver `{d}` (uring or epoll)"))?,
        );
    }
    if let Some(b) = busy_poll.filter(|b| !b.is_empty()) {
        opts.busy_poll = Some(busy_poll_window(&b)?);
    }
    if let Some(m) = multishot.filter(|m| !m.is_empty()) {
        opts.multishot = Some(on_off("--multishot", &m)?);
    }
    let file = file.ok_or("missing FILE")?;
    Ok(RunArgs { file, opts })
}

/// Compile a `.gw` file for serving: diagnostics (warnings included) go to stderr; `None` when
/// there were errors.
pub(crate) fn compile_file(path: &Path) -> Option<ConfigImage> {
    let registry = gw_plugins_std::registry();
    let available: Vec<String> = registry.names().map(str::to_owned).collect();
    crate::tools::load(path, Some(available)).and_then(|(_, compiled)| compiled.image)
}

/// Make a compiled image servable (resolve upstreams, build plugin factories).
pub(crate) fn load(image: ConfigImage, previous: Option<&Loaded>) -> Option<Loaded> {
    match Loaded::load(image, &gw_plugins_std::registry(), previous) {
        Ok(l) => Some(l),
        Err(e) => {
            for m in &e.messages {
                eprintln!("error: {m}");
            }
            None
        }
    }
}

/// Start the workers and print the listen lines.
pub(crate) fn start(loaded: Arc<Loaded>, opts: &Options) -> Option<Server> {
    let server = match Server::start(loaded, opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gw: {e}");
            return None;
        }
    };
    if server.driver_reason() != "default" && server.driver() == Driver::Legacy {
        eprintln!("gw: using the epoll driver ({})", server.driver_reason());
    }
    let mut out = std::io::stdout().lock();
    for a in server.addrs() {
        let _ = writeln!(
            out,
            "gw: listening on http://{a} ({} worker{}, {})",
            server.workers(),
            if server.workers() == 1 { "" } else { "s" },
            server.driver()
        );
    }
    let _ = out.flush();
    Some(server)
}

/// Serve until SIGTERM / SIGINT; SIGHUP recompiles `file` (when given).
pub(crate) fn serve(
    server: Server,
    signals: &Signals,
    mut current: Arc<Loaded>,
    file: Option<&Path>,
) {
    let handle = server.handle();
    loop {
        match signals.wait() {
            Ok(Signal::Terminate) => break,
            Ok(Signal::Reload) => {
                let Some(path) = file else { continue };
                eprintln!("gw: reloading {}", path.display());
                let Some(image) = compile_file(path) else {
                    eprintln!("gw: reload failed; the previous config keeps serving");
                    continue;
                };
                if image.listeners != current.image.listeners {
                    eprintln!("gw: listener changes need a restart; other changes apply");
                }
                if let Some(next) = load(image, Some(&current)) {
                    current = Arc::new(next);
                    handle.reload(current.clone());
                    eprintln!("gw: reloaded");
                }
            }
            Err(e) => {
                eprintln!("gw: signal wait failed: {e}");
                break;
            }
        }
    }
    handle.shutdown();
    server.wait();
}

pub fn main(args: &[String]) -> i32 {
    let parsed = match parse_args(args, RunEnv::read()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("gw run: {e}\n{USAGE}");
            return 2;
        }
    };
    let Some(image) = compile_file(&parsed.file) else {
        return 1;
    };
    let Some(loaded) = load(image, None) else {
        return 1;
    };
    // before any thread starts, so every worker inherits the mask
    let signals = match Signals::block() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gw: cannot block signals: {e}");
            return 1;
        }
    };
    let loaded = Arc::new(loaded);
    let Some(server) = start(loaded.clone(), &parsed.opts) else {
        return 1;
    };
    serve(server, &signals, loaded, Some(&parsed.file));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    /// The options `gw run` parses from `a` with `env` as the environment.
    fn opts(a: &[&str], env: RunEnv) -> Options {
        parse_args(&args(a), env).unwrap().opts
    }

    fn env_driver(d: &str) -> RunEnv {
        RunEnv {
            driver: Some(d.into()),
            ..RunEnv::default()
        }
    }

    #[test]
    fn parses_workers_and_driver() {
        let p = parse_args(
            &args(&["api.gw", "--workers", "2", "--driver", "epoll"]),
            RunEnv::default(),
        )
        .unwrap();
        assert_eq!(p.file, PathBuf::from("api.gw"));
        assert_eq!(p.opts.workers, Some(2));
        assert_eq!(p.opts.driver, Some(Driver::Legacy));
        let p = parse_args(&args(&["api.gw"]), env_driver("uring")).unwrap();
        assert_eq!(p.opts.driver, Some(Driver::Uring));
        let p = parse_args(&args(&["--driver=uring", "api.gw"]), env_driver("epoll")).unwrap();
        assert_eq!(p.opts.driver, Some(Driver::Uring));
    }

    #[test]
    fn rejects_bad_arguments() {
        let bad = |a: &[&str]| parse_args(&args(a), RunEnv::default()).is_err();
        assert!(bad(&[]));
        assert!(bad(&["a.gw", "--workers", "x"]));
        assert!(bad(&["a.gw", "--workers", "0"]));
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
