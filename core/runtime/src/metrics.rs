//! Request metrics, kept per worker without anything shared between cores: plain counters and
//! HdrHistograms a worker alone writes, copied into a [`Snapshot`] only when the admin
//! endpoint asks (`Control::Snapshot`), then merged and written in the Prometheus text format.
//!
//! Every label value comes from the compiled config (route names, the fixed method list,
//! status classes, policy names), never from the traffic, so the number of series is bounded
//! by the config: a path gw never routed counts under the route `-`.

use std::fmt::Write;

use hdrhistogram::Histogram;

/// Method label values; anything else counts as `OTHER`.
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
];

/// The route label of requests no route served (bad heads, 404s, 405s).
pub const NO_ROUTE: &str = "-";

/// Longest latency a histogram records exactly (60 s, in µs); longer ones saturate.
const MAX_US: u64 = 60_000_000;

/// `le` bounds of the latency histograms, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Quantiles exported as gauges beside each histogram.
const QUANTILES: [(f64, &str); 4] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99"), (0.999, "0.999")];

fn histogram() -> Option<Box<Histogram<u32>>> {
    // two significant figures: about 7 KiB a histogram, made on a route's first request
    Histogram::new_with_bounds(1, MAX_US, 2).ok().map(Box::new)
}

/// The method's label index.
pub fn method_index(method: &[u8]) -> usize {
    METHODS
        .iter()
        .position(|m| m.as_bytes() == method)
        .unwrap_or(METHODS.len() - 1)
}

/// One route's counts on one worker.
#[derive(Clone, Default)]
pub struct RouteStats {
    /// Requests by method and status class (1xx to 5xx).
    pub requests: [[u64; 5]; METHODS.len()],
    /// Gateway latency: first head byte to the end of the response, µs.
    pub latency: Option<Box<Histogram<u32>>>,
    /// Upstream (integration) latency: request sent to response head read, µs.
    pub upstream: Option<Box<Histogram<u32>>>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// WebSocket messages relayed: client to upstream, upstream to client.
    pub ws_messages: [u64; 2],
}

impl RouteStats {
    fn merge(&mut self, o: &RouteStats) {
        for (a, b) in self.requests.iter_mut().zip(&o.requests) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        merge_hist(&mut self.latency, &o.latency);
        merge_hist(&mut self.upstream, &o.upstream);
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        for (a, b) in self.ws_messages.iter_mut().zip(o.ws_messages) {
            *a += b;
        }
    }
}

fn merge_hist(a: &mut Option<Box<Histogram<u32>>>, b: &Option<Box<Histogram<u32>>>) {
    match (a.as_mut(), b) {
        (Some(a), Some(b)) => {
            let _ = a.add(b.as_ref());
        }
        (None, Some(b)) => *a = Some(b.clone()),
        _ => {}
    }
}

fn record(h: &mut Option<Box<Histogram<u32>>>, us: u64) {
    if h.is_none() {
        *h = histogram();
    }
    if let Some(h) = h {
        h.saturating_record(us.clamp(1, MAX_US));
    }
}

/// What one request adds.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Index into the worker's route table ([`Metrics::route`]).
    pub route: usize,
    pub method: usize,
    pub status: u16,
    pub latency_us: u64,
    pub upstream_us: Option<u64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// A worker's metrics. Routes are kept by name across reloads, so a series never restarts
/// while gw runs.
#[derive(Clone, Default)]
pub struct Metrics {
    names: Vec<String>,
    index: ahash::HashMap<String, usize>,
    routes: Vec<RouteStats>,
    /// Denials by route and status, then by policy (a plugin's name, or `require`): a route
    /// has few policies, and a denial counted finds its policy without an allocation.
    denials: ahash::HashMap<(usize, u16), Vec<(String, u64)>>,
    pub accepted: u64,
    pub connect_errors: u64,
    pub retries: u64,
}

impl Metrics {
    /// The table index of route `name`, added on first sight.
    pub fn route(&mut self, name: &str) -> usize {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        let i = self.routes.len();
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        self.routes.push(RouteStats::default());
        i
    }

    /// Count one request.
    pub fn record(&mut self, s: &Sample) {
        let Some(r) = self.routes.get_mut(s.route) else {
            return;
        };
        let class = usize::from((s.status / 100).clamp(1, 5) - 1);
        if let Some(row) = r.requests.get_mut(s.method)
            && let Some(n) = row.get_mut(class)
        {
            *n += 1;
        }
        record(&mut r.latency, s.latency_us);
        if let Some(us) = s.upstream_us {
            record(&mut r.upstream, us);
        }
        r.bytes_in += s.bytes_in;
        r.bytes_out += s.bytes_out;
    }

    /// Count `n` WebSocket messages a tunnel of `route` relayed toward the upstream or the
    /// client.
    pub fn websocket_messages(&mut self, route: usize, to_upstream: bool, n: u64) {
        if let Some(c) = self
            .routes
            .get_mut(route)
            .and_then(|r| r.ws_messages.get_mut(usize::from(!to_upstream)))
        {
            *c += n;
        }
    }

    /// Count a denial by `policy`.
    pub fn denied(&mut self, route: usize, policy: &str, status: u16) {
        self.add_denials(route, policy, status, 1);
    }

    fn add_denials(&mut self, route: usize, policy: &str, status: u16, n: u64) {
        let by_policy = self.denials.entry((route, status)).or_default();
        match by_policy.iter_mut().find(|(p, _)| p == policy) {
            Some((_, count)) => *count += n,
            None => by_policy.push((policy.to_owned(), n)),
        }
    }
}

/// Gauges and counters that are not per route, read when the snapshot is taken.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerGauges {
    pub connections: u64,
    pub inflight: u64,
    pub ejections: u64,
    pub websockets: u64,
}

/// One worker's metrics at one moment, sent to the admin endpoint.
#[derive(Clone, Default)]
pub struct Snapshot {
    pub metrics: Metrics,
    pub gauges: WorkerGauges,
}

/// Process-wide counts kept by the control thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Process {
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    pub generation: u64,
    pub workers: usize,
    pub log_lines: u64,
    pub log_dropped: u64,
    pub spans_exported: u64,
    pub spans_dropped: u64,
}

/// Merge every worker's snapshot and write them in the Prometheus text format 0.0.4.
pub fn render(snaps: &[Snapshot], p: &Process) -> String {
    let mut all = Metrics::default();
    let mut g = WorkerGauges::default();
    for s in snaps {
        for (i, name) in s.metrics.names.iter().enumerate() {
            let at = all.route(name);
            if let (Some(dst), Some(src)) = (all.routes.get_mut(at), s.metrics.routes.get(i)) {
                dst.merge(src);
            }
        }
        for ((route, status), by_policy) in &s.metrics.denials {
            if let Some(name) = s.metrics.names.get(*route) {
                let at = all.route(name);
                for (policy, n) in by_policy {
                    all.add_denials(at, policy, *status, *n);
                }
            }
        }
        all.accepted += s.metrics.accepted;
        all.connect_errors += s.metrics.connect_errors;
        all.retries += s.metrics.retries;
        g.connections += s.gauges.connections;
        g.inflight += s.gauges.inflight;
        g.ejections += s.gauges.ejections;
        g.websockets += s.gauges.websockets;
    }
    let mut o = String::with_capacity(4096);
    let mut order: Vec<usize> = (0..all.names.len()).collect();
    order.sort_by(|a, b| all.names.get(*a).cmp(&all.names.get(*b)));

    header(
        &mut o,
        "gw_requests_total",
        "counter",
        "Requests by route, method and status class.",
    );
    for &i in &order {
        let (Some(name), Some(r)) = (all.names.get(i), all.routes.get(i)) else {
            continue;
        };
        for (m, row) in r.requests.iter().enumerate() {
            for (c, n) in row.iter().enumerate() {
                if *n > 0 {
                    let _ = writeln!(
                        o,
                        "gw_requests_total{{route=\"{}\",method=\"{}\",status=\"{}xx\"}} {n}",
                        escape(name),
                        METHODS.get(m).unwrap_or(&"OTHER"),
                        c + 1
                    );
                }
            }
        }
    }
    for (metric, help, pick) in [
        (
            "gw_request_duration_seconds",
            "Gateway latency: first request byte to the end of the response.",
            (|r: &RouteStats| r.latency.as_deref()) as fn(&RouteStats) -> Option<&Histogram<u32>>,
        ),
        (
            "gw_upstream_duration_seconds",
            "Upstream (integration) latency: request sent to response head received.",
            |r: &RouteStats| r.upstream.as_deref(),
        ),
    ] {
        header(&mut o, metric, "histogram", help);
        for &i in &order {
            let (Some(name), Some(Some(h))) = (all.names.get(i), all.routes.get(i).map(pick))
            else {
                continue;
            };
            let route = escape(name);
            for le in BUCKETS {
                let n = h.count_between(0, (le * 1e6) as u64);
                let _ = writeln!(o, "{metric}_bucket{{route=\"{route}\",le=\"{le}\"}} {n}");
            }
            let total = h.len();
            let sum = h.mean() * total as f64 / 1e6;
            let _ = writeln!(
                o,
                "{metric}_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(o, "{metric}_sum{{route=\"{route}\"}} {sum}");
            let _ = writeln!(o, "{metric}_count{{route=\"{route}\"}} {total}");
        }
        let gauge = format!("{}_quantile", metric.trim_end_matches("_seconds"));
        header(
            &mut o,
            &format!("{gauge}_seconds"),
            "gauge",
            "Latency quantiles since start, from the merged HdrHistograms.",
        );
        for &i in &order {
            let (Some(name), Some(Some(h))) = (all.names.get(i), all.routes.get(i).map(pick))
            else {
                continue;
            };
            for (q, label) in QUANTILES {
                let v = h.value_at_quantile(q) as f64 / 1e6;
                let _ = writeln!(
                    o,
                    "{gauge}_seconds{{route=\"{}\",quantile=\"{label}\"}} {v}",
                    escape(name)
                );
            }
        }
    }
    for (metric, help, pick) in [
        (
            "gw_request_bytes_total",
            "Bytes received from clients.",
            (|r: &RouteStats| r.bytes_in) as fn(&RouteStats) -> u64,
        ),
        (
            "gw_response_bytes_total",
            "Bytes sent to clients.",
            |r: &RouteStats| r.bytes_out,
        ),
    ] {
        header(&mut o, metric, "counter", help);
        for &i in &order {
            if let (Some(name), Some(r)) = (all.names.get(i), all.routes.get(i)) {
                let _ = writeln!(o, "{metric}{{route=\"{}\"}} {}", escape(name), pick(r));
            }
        }
    }
    header(
        &mut o,
        "gw_websocket_messages_total",
        "counter",
        "WebSocket messages relayed, by route and direction.",
    );
    for &i in &order {
        let (Some(name), Some(r)) = (all.names.get(i), all.routes.get(i)) else {
            continue;
        };
        if r.ws_messages == [0, 0] {
            continue;
        }
        for (direction, n) in ["to_upstream", "to_client"].iter().zip(r.ws_messages) {
            let _ = writeln!(
                o,
                "gw_websocket_messages_total{{route=\"{}\",direction=\"{direction}\"}} {n}",
                escape(name)
            );
        }
    }
    header(
        &mut o,
        "gw_denials_total",
        "counter",
        "Requests a policy refused, by route, policy and status.",
    );
    let mut denials: Vec<(usize, &str, u16, u64)> = all
        .denials
        .iter()
        .flat_map(|((route, status), by_policy)| {
            by_policy
                .iter()
                .map(move |(policy, n)| (*route, policy.as_str(), *status, *n))
        })
        .collect();
    denials.sort_unstable();
    for (route, policy, status, n) in denials {
        let name = all.names.get(route).map_or(NO_ROUTE, String::as_str);
        let _ = writeln!(
            o,
            "gw_denials_total{{route=\"{}\",policy=\"{}\",status=\"{status}\"}} {n}",
            escape(name),
            escape(policy)
        );
    }
    for (metric, kind, help, value) in [
        (
            "gw_connections_accepted_total",
            "counter",
            "Client connections accepted.",
            all.accepted,
        ),
        (
            "gw_connections_active",
            "gauge",
            "Client connections open now.",
            g.connections,
        ),
        (
            "gw_websockets_open",
            "gauge",
            "WebSocket connections relaying now.",
            g.websockets,
        ),
        (
            "gw_requests_in_flight",
            "gauge",
            "Requests between their first byte and the end of their response.",
            g.inflight,
        ),
        (
            "gw_upstream_connect_errors_total",
            "counter",
            "Upstream connections that could not be made.",
            all.connect_errors,
        ),
        (
            "gw_upstream_retries_total",
            "counter",
            "Upstream attempts after the first (retry N on ...).",
            all.retries,
        ),
        (
            "gw_upstream_ejections_total",
            "counter",
            "Servers ejected by passive health.",
            g.ejections,
        ),
        (
            "gw_reloads_total{result=\"ok\"}",
            "counter",
            "Configuration reloads by result.",
            p.reloads_ok,
        ),
        (
            "gw_reloads_total{result=\"failed\"}",
            "",
            "",
            p.reloads_failed,
        ),
        (
            "gw_config_generation",
            "gauge",
            "Configurations served since start (1: the first).",
            p.generation,
        ),
        ("gw_workers", "gauge", "Worker threads.", p.workers as u64),
        (
            "gw_access_log_lines_total",
            "counter",
            "Access log lines written.",
            p.log_lines,
        ),
        (
            "gw_access_log_dropped_lines_total",
            "counter",
            "Access log lines dropped: the writer was behind or the write failed.",
            p.log_dropped,
        ),
        (
            "gw_spans_exported_total",
            "counter",
            "Spans the collector accepted.",
            p.spans_exported,
        ),
        (
            "gw_spans_dropped_total",
            "counter",
            "Spans dropped: the exporter was behind or the collector failed.",
            p.spans_dropped,
        ),
    ] {
        if !kind.is_empty() {
            header(
                &mut o,
                metric.split('{').next().unwrap_or(metric),
                kind,
                help,
            );
        }
        let _ = writeln!(o, "{metric} {value}");
    }
    o
}

fn header(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

/// A label value: backslash, quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(route: usize, status: u16, us: u64) -> Sample {
        Sample {
            route,
            method: method_index(b"GET"),
            status,
            latency_us: us,
            upstream_us: Some(us / 2),
            bytes_in: 100,
            bytes_out: 1000,
        }
    }

    #[test]
    fn workers_merge_by_route_name() {
        let mut a = Metrics::default();
        let mut b = Metrics::default();
        let ra = a.route("GET /pets");
        let _ = b.route("GET /other");
        let rb = b.route("GET /pets");
        a.record(&sample(ra, 200, 300));
        a.record(&sample(ra, 503, 3_000));
        b.record(&sample(rb, 200, 700));
        b.denied(rb, "jwt", 401);
        a.websocket_messages(ra, true, 3);
        b.websocket_messages(rb, false, 2);
        a.accepted = 2;
        b.accepted = 3;
        let snaps = [
            Snapshot {
                metrics: a,
                gauges: WorkerGauges::default(),
            },
            Snapshot {
                metrics: b,
                gauges: WorkerGauges::default(),
            },
        ];
        let text = render(&snaps, &Process::default());
        assert!(
            text.contains("gw_requests_total{route=\"GET /pets\",method=\"GET\",status=\"2xx\"} 2")
        );
        assert!(
            text.contains("gw_requests_total{route=\"GET /pets\",method=\"GET\",status=\"5xx\"} 1")
        );
        assert!(text.contains("gw_request_duration_seconds_count{route=\"GET /pets\"} 3"));
        assert!(
            text.contains("gw_request_duration_seconds_bucket{route=\"GET /pets\",le=\"0.001\"} 2")
        );
        assert!(text.contains("gw_request_bytes_total{route=\"GET /pets\"} 300"));
        assert!(
            text.contains("gw_denials_total{route=\"GET /pets\",policy=\"jwt\",status=\"401\"} 1")
        );
        assert!(text.contains("gw_connections_accepted_total 5"));
        assert!(text.contains(
            "gw_websocket_messages_total{route=\"GET /pets\",direction=\"to_upstream\"} 3"
        ));
        assert!(text.contains(
            "gw_websocket_messages_total{route=\"GET /pets\",direction=\"to_client\"} 2"
        ));
        assert!(!text.contains("gw_websocket_messages_total{route=\"GET /other\""));
        assert!(!text.contains("route=\"GET /other\",method"));
    }

    #[test]
    fn labels_are_escaped_and_methods_bounded() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(METHODS[method_index(b"BREW")], "OTHER");
        assert_eq!(METHODS[method_index(b"DELETE")], "DELETE");
    }
}
