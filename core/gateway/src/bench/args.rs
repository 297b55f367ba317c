//! `gw bench`'s command line read into what a run needs; every bad value is an error that
//! names the option.

use std::path::PathBuf;
use std::time::Duration;

use super::load::Mode;
use super::target::{self, RequestSpec, Target};
use crate::cli::Args;

/// Connections of a closed-loop run given neither `--rate` nor `--connections`.
pub(crate) const DEFAULT_CONNECTIONS: usize = 50;
/// Most connections an open-loop run opens without `--connections`.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 100;
/// Most workers: more threads than this measure the machine's scheduler, not the target.
const MAX_WORKERS: usize = 1024;

/// A load run.
#[derive(Debug)]
pub(crate) struct LoadArgs {
    pub targets: Vec<Target>,
    pub mode: Mode,
    pub duration: Duration,
    pub timeout: Duration,
    pub workers: usize,
    pub request: RequestSpec,
    pub json: bool,
    pub plot: Option<PathBuf>,
}

/// `--cost`.
#[derive(Debug, PartialEq)]
pub(crate) struct CostArgs {
    /// Requests (or WebSocket messages) a month.
    pub volume: f64,
    pub from: Option<PathBuf>,
    /// WebSocket connection-minutes a month.
    pub connection_minutes: f64,
    /// Cores of the gateway that the `--from` run measured.
    pub server_cores: f64,
}

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Action {
    Load(Box<LoadArgs>),
    Cost(CostArgs),
}

/// The options of a load run that `--cost` does not take, and the other way round.
const LOAD_ONLY: [&str; 11] = [
    "rate",
    "connections",
    "duration",
    "workers",
    "timeout",
    "method",
    "header",
    "body",
    "compare",
    "json",
    "plot",
];
const COST_ONLY: [&str; 4] = ["volume", "from", "connection-minutes", "server-cores"];

pub(crate) fn parse(args: &Args) -> Result<Action, String> {
    let given = |names: &[&str]| {
        args.opts
            .iter()
            .map(|(l, _)| *l)
            .find(|l| names.contains(l))
    };
    if args.flag("cost") {
        if let Some(o) = given(&LOAD_ONLY) {
            return Err(format!("--cost takes no --{o}"));
        }
        if let Some(x) = args.operands.first() {
            return Err(format!("--cost takes no URL (`{x}`)"));
        }
        let volume = args
            .value("volume")
            .ok_or("--cost needs --volume, e.g. --volume 2e9/month")?;
        return Ok(Action::Cost(CostArgs {
            volume: per_month("--volume", volume)?,
            from: args.value("from").map(PathBuf::from),
            connection_minutes: args
                .value("connection-minutes")
                .map(|v| per_month("--connection-minutes", v))
                .transpose()?
                .unwrap_or(0.0),
            server_cores: args
                .value("server-cores")
                .map(|v| positive("--server-cores", v))
                .transpose()?
                .unwrap_or(1.0),
        }));
    }
    if let Some(o) = given(&COST_ONLY) {
        return Err(format!("--{o} goes with --cost"));
    }
    let compare: Vec<&str> = args
        .opts
        .iter()
        .filter(|(l, _)| *l == "compare")
        .filter_map(|(_, v)| v.as_deref())
        .collect();
    let (first, more) = match args.operands.as_slice() {
        [] => return Err("missing URL".into()),
        [first, more @ ..] => (first, more),
    };
    if let Some(x) = more.first()
        && compare.is_empty()
    {
        return Err(format!(
            "unexpected argument `{x}` (to measure more targets, use --compare URL)"
        ));
    }
    let mut targets = vec![target::parse_url(first)?];
    for url in compare
        .iter()
        .copied()
        .chain(more.iter().map(String::as_str))
    {
        targets.push(target::parse_url(url)?);
    }
    let rate = args.value("rate").map(rate).transpose()?;
    let connections = args
        .value("connections")
        .map(|v| count("--connections", v, usize::MAX))
        .transpose()?;
    let mode = match (rate, connections) {
        (Some(rate), c) => Mode::Open {
            rate,
            max_connections: c.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        },
        (None, c) => Mode::Closed {
            connections: c.unwrap_or(DEFAULT_CONNECTIONS),
        },
    };
    let workers = args
        .value("workers")
        .map(|v| count("--workers", v, MAX_WORKERS))
        .transpose()?
        .unwrap_or(1);
    let conns = match mode {
        Mode::Open {
            max_connections, ..
        } => max_connections,
        Mode::Closed { connections } => connections,
    };
    if conns < workers {
        return Err(format!(
            "--connections {conns} is fewer than --workers {workers}: each worker needs one"
        ));
    }
    let method = target::parse_method(args.value("method").unwrap_or("GET"))?;
    let headers = args
        .opts
        .iter()
        .filter(|(l, _)| *l == "header")
        .filter_map(|(_, v)| v.as_deref())
        .map(target::parse_header)
        .collect::<Result<Vec<_>, _>>()?;
    let body = match args.value("body") {
        None => Vec::new(),
        Some(v) => match v.strip_prefix('@') {
            Some(path) => std::fs::read(path).map_err(|e| format!("--body @{path}: {e}"))?,
            None => v.as_bytes().to_vec(),
        },
    };
    Ok(Action::Load(Box::new(LoadArgs {
        targets,
        mode,
        duration: args
            .value("duration")
            .map(|v| duration("--duration", v))
            .transpose()?
            .unwrap_or(Duration::from_secs(10)),
        timeout: args
            .value("timeout")
            .map(|v| duration("--timeout", v))
            .transpose()?
            .unwrap_or(Duration::from_secs(10)),
        workers,
        request: RequestSpec {
            method,
            headers,
            body,
        },
        json: args.flag("json"),
        plot: args.value("plot").map(PathBuf::from),
    })))
}

/// `1000`, `1000/s`, `1e3/s`, `60000/m`, `5/ms`: requests a second, positive and finite.
fn rate(v: &str) -> Result<f64, String> {
    let (num, per) = v.trim().split_once('/').unwrap_or((v.trim(), "s"));
    let seconds = match per {
        "s" | "sec" => 1.0,
        "ms" => 1e-3,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("--rate `{v}`: want N/s, N/m or N/h")),
    };
    let n = number(num).ok_or_else(|| format!("--rate `{v}` is not a rate like 1000/s"))?;
    let r = n / seconds;
    if r.is_finite() && r > 0.0 && r <= 1e9 {
        Ok(r)
    } else {
        Err(format!(
            "--rate `{v}`: want more than 0 and at most 1e9 a second"
        ))
    }
}

/// A decimal or `1e9`-style number.
fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A whole number from 1 to `max`.
fn count(flag: &str, v: &str, max: usize) -> Result<usize, String> {
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        Ok(_) => Err(format!("{flag} `{v}`: want 1 to {max}")),
        Err(_) => Err(format!("{flag} `{v}` is not a whole number")),
    }
}

fn positive(flag: &str, v: &str) -> Result<f64, String> {
    match number(v) {
        Some(n) if n > 0.0 => Ok(n),
        _ => Err(format!("{flag} `{v}`: want a number above 0")),
    }
}

/// `30s`, `500ms`, `2m`, `1h`, or a number of seconds; above zero, at most a day.
pub(crate) fn duration(flag: &str, v: &str) -> Result<Duration, String> {
    let t = v.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{flag} `{v}`: want a time like 30s, 500ms or 2m")),
    };
    let n = number(num).ok_or_else(|| format!("{flag} `{v}` is not a time like 30s"))?;
    let s = n * scale;
    if s > 0.0 && s <= 86_400.0 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(format!("{flag} `{v}`: want more than 0 and at most a day"))
    }
}

/// `2e9/month`, `2e9` (a month), `66e6/day`, `800/s`: how many a month (30.4375 days,
/// 365.25 / 12).
fn per_month(flag: &str, v: &str) -> Result<f64, String> {
    const MONTH_S: f64 = 30.4375 * 86_400.0;
    let (num, per) = v.trim().split_once('/').unwrap_or((v.trim(), "month"));
    let scale = match per {
        "month" | "mo" => 1.0,
        "day" | "d" => MONTH_S / 86_400.0,
        "h" | "hour" => MONTH_S / 3600.0,
        "s" | "sec" => MONTH_S,
        _ => return Err(format!("{flag} `{v}`: want N/month, N/day or N/s")),
    };
    match number(num) {
        Some(n) if n >= 0.0 => Ok(n * scale),
        _ => Err(format!("{flag} `{v}` is not a volume like 2e9/month")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Parsed;

    fn parse_line(line: &str) -> Result<Action, String> {
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        match super::super::COMMAND.parse(&words)? {
            Parsed::Args(a) => parse(&a),
            Parsed::Help => Err("help".into()),
        }
    }

    fn load(line: &str) -> LoadArgs {
        match parse_line(line).unwrap() {
            Action::Load(l) => *l,
            Action::Cost(_) => panic!("{line}: a cost"),
        }
    }

    #[test]
    fn modes_and_defaults() {
        let l = load("http://127.0.0.1:1/");
        assert_eq!(l.mode, Mode::Closed { connections: 50 });
        assert_eq!(
            (l.duration, l.workers, l.request.method.as_str()),
            (Duration::from_secs(10), 1, "GET")
        );
        let l = load("http://127.0.0.1:1/ --rate 1e3/s -d 2s -c 8 -w 2");
        assert_eq!(
            l.mode,
            Mode::Open {
                rate: 1000.0,
                max_connections: 8
            }
        );
        assert_eq!((l.duration, l.workers), (Duration::from_secs(2), 2));
        let l = load("http://127.0.0.1:1/ --rate 60/m -X POST -H a:1 -H b:2 --body x");
        assert_eq!(
            l.mode,
            Mode::Open {
                rate: 1.0,
                max_connections: 100
            }
        );
        assert_eq!(l.request.headers.len(), 2);
        assert_eq!(l.request.body, b"x");
        let l = load("http://127.0.0.1:1/a --compare http://127.0.0.1:2/b http://127.0.0.1:3/");
        let urls: Vec<&str> = l.targets.iter().map(|t| t.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:1/a",
                "http://127.0.0.1:2/b",
                "http://127.0.0.1:3/"
            ]
        );
    }

    #[test]
    fn bad_values_are_named() {
        let err = |l: &str| parse_line(l).unwrap_err();
        assert!(err("").contains("missing URL"));
        assert!(err("https://127.0.0.1/").contains("TLS"));
        assert!(err("http://127.0.0.1/ --rate 0").contains("--rate"));
        assert!(err("http://127.0.0.1/ --rate fast").contains("not a rate"));
        assert!(err("http://127.0.0.1/ --rate -5/s").contains("more than 0"));
        assert!(err("http://127.0.0.1/ --rate 5/week").contains("N/s"));
        assert!(err("http://127.0.0.1/ -c 0").contains("1 to"));
        assert!(err("http://127.0.0.1/ -d 3x").contains("30s"));
        assert!(err("http://127.0.0.1/ -d 0s").contains("more than 0"));
        assert!(err("http://127.0.0.1/ -w many").contains("whole number"));
        assert!(err("http://127.0.0.1/ -w 4 -c 2").contains("each worker needs one"));
        assert!(err("http://127.0.0.1/ http://127.0.0.1:2/").contains("--compare"));
        assert!(err("http://127.0.0.1/ --body @/no/such/file").contains("--body @/no/such"));
        assert!(err("http://127.0.0.1/ --volume 1e9").contains("goes with --cost"));
        assert!(err("--cost --rate 5").contains("--cost takes no --rate"));
        assert!(err("--cost").contains("--volume"));
        assert!(err("--cost --volume lots").contains("2e9/month"));
    }

    #[test]
    fn cost_volumes() {
        let Action::Cost(c) =
            parse_line("--cost --volume 2e9/month --connection-minutes 1e6/day").unwrap()
        else {
            panic!("not a cost")
        };
        assert_eq!(c.volume, 2e9);
        assert_eq!(c.connection_minutes, 30.4375e6);
        assert_eq!(c.server_cores, 1.0);
        assert_eq!(per_month("v", "1/s").unwrap(), 2_629_800.0);
        assert_eq!(duration("d", "1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("d", "250ms").unwrap(), Duration::from_millis(250));
    }
}
