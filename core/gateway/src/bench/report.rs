//! What a run reports: a table per target, the difference per percentile from the first
//! target, and the same as JSON with the full percentile spectrum.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::load::{Mode, Tally};

/// The percentiles of the table and of the differences.
pub(crate) const TABLE: [(&str, f64); 4] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
];

/// One target's run.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub url: String,
    pub tally: Tally,
    /// From the start to the end of the last request, at least the run's duration.
    pub elapsed: Duration,
}

impl Outcome {
    /// Responses (of any status) a second.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.tally.responses() as f64 / s
        } else {
            0.0
        }
    }

    /// Latency at quantile `q`, ns; 0 with no responses.
    fn at(&self, q: f64) -> u64 {
        self.tally.hist.value_at_quantile(q)
    }

    /// The latencies in the table: p50, p90, p99, p99.9, then max.
    fn row(&self) -> [u64; 5] {
        let [a, b, c, d] = TABLE.map(|(_, q)| self.at(q));
        [a, b, c, d, self.tally.hist.max()]
    }
}

/// The run's settings as the report states them.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub mode: Mode,
    pub duration: Duration,
    pub workers: usize,
    pub timeout: Duration,
    pub method: String,
}

impl Settings {
    fn describe(&self) -> String {
        let mode = match self.mode {
            Mode::Open {
                rate,
                max_connections,
            } => format!("open loop at {rate} req/s, up to {max_connections} connections"),
            Mode::Closed { connections } => format!("closed loop, {connections} connections"),
        };
        let workers = if self.workers == 1 {
            "worker"
        } else {
            "workers"
        };
        format!(
            "{mode}, {} for {}, {} {workers}",
            self.method,
            secs(self.duration),
            self.workers
        )
    }
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// `ns` for a person: `52.3 µs`, `1.24 ms`, `2.10 s`.
pub(crate) fn human(ns: f64) -> String {
    let a = ns.abs();
    if a < 10_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else if a < 1e6 {
        format!("{:.0} µs", ns / 1e3)
    } else if a < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// `b` over `a`: `+30.1 µs (+58%)`.
fn difference(a: u64, b: u64) -> String {
    let d = b as f64 - a as f64;
    let sign = if d >= 0.0 { "+" } else { "" };
    if a == 0 {
        format!("{sign}{}", human(d))
    } else {
        format!("{sign}{} ({sign}{:.0}%)", human(d), d / a as f64 * 100.0)
    }
}

/// The tables of a run, targets in order, then the differences from the first.
pub(crate) fn table(settings: &Settings, outcomes: &[Outcome]) -> String {
    let mut out = format!("gw bench: {}\n", settings.describe());
    for (i, o) in outcomes.iter().enumerate() {
        let t = &o.tally;
        let _ = writeln!(out, "\n[{}] {}", i + 1, o.url);
        let _ = writeln!(
            out,
            "  requests  {} in {:.2} s: {:.1} req/s, {} responses, {} connections opened",
            t.requests(),
            o.elapsed.as_secs_f64(),
            o.rate(),
            t.responses(),
            t.connections
        );
        let _ = writeln!(
            out,
            "  errors    {}: connect {}, timeout {}, reset {}, non-2xx {}, protocol {}",
            t.errors(),
            t.connect,
            t.timeout,
            t.reset,
            t.non_2xx,
            t.protocol
        );
        let heads = TABLE.iter().map(|(n, _)| *n).chain(["max"]);
        let _ = writeln!(out, "  latency   {}", columns(heads.map(str::to_owned)));
        if t.responses() == 0 {
            let _ = writeln!(out, "            (no responses)");
        } else {
            let row = o.row().map(|ns| human(ns as f64));
            let _ = writeln!(out, "            {}", columns(row.into_iter()));
        }
    }
    if let [first, rest @ ..] = outcomes
        && !rest.is_empty()
    {
        let _ = writeln!(out, "\ndifference from [1] {}:", first.url);
        let heads = TABLE.iter().map(|(n, _)| *n).chain(["max"]);
        let _ = writeln!(out, "       {}", columns_wide(heads.map(str::to_owned)));
        let base = first.row();
        for (i, o) in rest.iter().enumerate() {
            let cells = base.iter().zip(o.row()).map(|(a, b)| difference(*a, b));
            let _ = writeln!(out, "  [{}]  {}", i + 2, columns_wide(cells));
        }
    }
    out
}

fn columns(cells: impl Iterator<Item = String>) -> String {
    cells
        .map(|c| format!("{c:<11}"))
        .collect::<String>()
        .trim_end()
        .to_owned()
}

fn columns_wide(cells: impl Iterator<Item = String>) -> String {
    cells
        .map(|c| format!("{c:<22}"))
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// The percentile spectrum: (percentile, latency ns) at HdrHistogram's quantile steps (5 per
/// halving of the distance to 100%), up to the largest value.
pub(crate) fn spectrum(hist: &Histogram<u64>) -> Vec<(f64, u64)> {
    if hist.is_empty() {
        return Vec::new();
    }
    hist.iter_quantiles(5)
        .map(|v| (v.quantile_iterated_to() * 100.0, v.value_iterated_to()))
        .collect()
}

fn micros(ns: u64) -> f64 {
    (ns as f64 / 1e3 * 1000.0).round() / 1000.0
}

/// The run as JSON (`--json`; `gw bench --cost --from` reads it back).
pub(crate) fn json(settings: &Settings, outcomes: &[Outcome]) -> Value {
    let (mode, rate, connections) = match settings.mode {
        Mode::Open {
            rate,
            max_connections,
        } => ("open", Some(rate), max_connections),
        Mode::Closed { connections } => ("closed", None, connections),
    };
    let targets: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let t = &o.tally;
            let mut latency = serde_json::Map::new();
            if t.responses() > 0 {
                latency.insert("min".into(), json!(micros(t.hist.min())));
                latency.insert(
                    "mean".into(),
                    json!((t.hist.mean() / 1e3 * 1000.0).round() / 1000.0),
                );
                for (name, q) in TABLE.iter().chain(&[("p99.99", 0.9999)]) {
                    latency.insert((*name).into(), json!(micros(o.at(*q))));
                }
                latency.insert("max".into(), json!(micros(t.hist.max())));
            }
            let spectrum: Vec<Value> = spectrum(&t.hist)
                .into_iter()
                .map(|(p, ns)| json!({ "percentile": p, "latency_us": micros(ns) }))
                .collect();
            json!({
                "url": o.url,
                "requests": t.requests(),
                "responses": t.responses(),
                "status_2xx": t.ok,
                "errors": {
                    "total": t.errors(),
                    "connect": t.connect,
                    "timeout": t.timeout,
                    "reset": t.reset,
                    "non_2xx": t.non_2xx,
                    "protocol": t.protocol,
                },
                "connections_opened": t.connections,
                "elapsed_s": o.elapsed.as_secs_f64(),
                "requests_per_s": o.rate(),
                "latency_us": latency,
                "percentiles": spectrum,
            })
        })
        .collect();
    let differences: Vec<Value> = match outcomes {
        [first, rest @ ..] => rest
            .iter()
            .map(|o| {
                let mut d = serde_json::Map::new();
                d.insert("url".into(), json!(o.url));
                d.insert("from".into(), json!(first.url));
                let names = TABLE.iter().map(|(n, _)| *n).chain(["max"]);
                for ((name, a), b) in names.zip(first.row()).zip(o.row()) {
                    d.insert(format!("{name}_us"), json!(micros(b) - micros(a)));
                }
                Value::Object(d)
            })
            .collect(),
        [] => Vec::new(),
    };
    json!({
        "tool": "gw bench",
        "version": env!("CARGO_PKG_VERSION"),
        "settings": {
            "mode": mode,
            "rate": rate,
            "connections": connections,
            "duration_s": settings.duration.as_secs_f64(),
            "workers": settings.workers,
            "timeout_s": settings.timeout.as_secs_f64(),
            "method": settings.method,
        },
        "targets": targets,
        "differences": differences,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(url: &str, latencies_us: &[u64]) -> Outcome {
        let mut tally = Tally::new().unwrap();
        for us in latencies_us {
            tally.hist.record(us * 1000).unwrap();
            tally.ok += 1;
        }
        tally.reset = 2;
        Outcome {
            url: url.into(),
            tally,
            elapsed: Duration::from_secs(2),
        }
    }

    fn settings() -> Settings {
        Settings {
            mode: Mode::Closed { connections: 4 },
            duration: Duration::from_secs(2),
            workers: 1,
            timeout: Duration::from_secs(10),
            method: "GET".into(),
        }
    }

    #[test]
    fn units_read_as_a_person_would() {
        assert_eq!(human(5_250.0), "5.2 µs");
        assert_eq!(human(52_300.0), "52 µs");
        assert_eq!(human(1_240_000.0), "1.24 ms");
        assert_eq!(human(2_100_000_000.0), "2.10 s");
        assert_eq!(difference(100_000, 150_000), "+50 µs (+50%)");
        assert_eq!(difference(100_000, 90_000), "-10 µs (-10%)");
        assert_eq!(difference(10_000, 9_000), "-1.0 µs (-10%)");
    }

    #[test]
    fn tables_count_errors_and_compare_percentiles() {
        let a = outcome("http://a/", &[100; 100]);
        let b = outcome("http://b/", &[300; 100]);
        let t = table(&settings(), &[a.clone(), b.clone()]);
        assert!(t.contains("[1] http://a/"), "{t}");
        assert!(
            t.contains("requests  102 in 2.00 s: 50.0 req/s, 100 responses"),
            "{t}"
        );
        assert!(
            t.contains("errors    2: connect 0, timeout 0, reset 2"),
            "{t}"
        );
        assert!(t.contains("difference from [1] http://a/"), "{t}");
        assert!(t.contains("+200 µs (+200%)"), "{t}");
        let j = json(&settings(), &[a, b]);
        assert_eq!(j["targets"][0]["errors"]["reset"], 2);
        let near = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1.0;
        assert!(near(&j["targets"][1]["latency_us"]["p99"], 300.0), "{j}");
        assert!(near(&j["differences"][0]["p50_us"], 200.0), "{j}");
        let spectrum = j["targets"][0]["percentiles"].as_array().unwrap();
        assert!(spectrum.len() > 1);
        assert_eq!(spectrum.last().unwrap()["percentile"], 100.0);
    }
}
