//! W3C Trace Context (`tracing { }`): a request's trace, taken from a valid `traceparent` or
//! started by gw (sampled at the configured ratio), a new span id for gw's hop and another
//! for its upstream request, which gets `traceparent` with that span as its parent.
//! `tracestate` passes through unchanged. Sampled spans are exported as OTLP/HTTP JSON by one
//! exporter thread, in batches, through a bounded queue: spans that do not fit are dropped
//! and counted, never waited for.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::write_json_str;

/// A request's trace context; `on` only on configs with `tracing { }`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TraceCtx {
    pub on: bool,
    pub sampled: bool,
    trace: [u8; 32],
    /// The caller's span, if a valid `traceparent` came in.
    parent: Option<[u8; 16]>,
    /// gw's span for this request.
    pub span: [u8; 16],
    /// The span of the upstream request.
    pub upstream: [u8; 16],
}

fn hex_into(mut v: u64, out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in out.iter_mut().rev() {
        *b = HEX.get((v & 15) as usize).copied().unwrap_or(b'0');
        v >>= 4;
    }
}

fn is_lower_hex(b: &[u8]) -> bool {
    b.iter()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

impl TraceCtx {
    /// The context for a request that sent `traceparent` (or none); `random` gives fresh ids,
    /// `sample_10k` is the share of traces gw starts that it samples.
    pub fn begin(
        traceparent: Option<&[u8]>,
        mut random: impl FnMut() -> u64,
        sample_10k: u32,
    ) -> TraceCtx {
        let mut t = TraceCtx {
            on: true,
            ..TraceCtx::default()
        };
        match traceparent.and_then(parse) {
            Some((trace, parent, flags)) => {
                t.trace = trace;
                t.parent = Some(parent);
                t.sampled = flags & 1 == 1;
            }
            None => {
                let (a, b) = (random(), random());
                hex_into(a, t.trace.get_mut(..16).unwrap_or(&mut []));
                hex_into(b, t.trace.get_mut(16..).unwrap_or(&mut []));
                t.sampled = random() % 10_000 < u64::from(sample_10k);
            }
        }
        hex_into(random() | 1, &mut t.span);
        hex_into(random() | 1, &mut t.upstream);
        t
    }

    /// The trace id, when tracing is on.
    pub fn trace_id(&self) -> Option<&str> {
        self.on
            .then(|| std::str::from_utf8(&self.trace).ok())
            .flatten()
    }

    /// The `traceparent` sent upstream: this trace, the upstream span as parent.
    pub fn upstream_header(&self) -> String {
        format!(
            "00-{}-{}-{}",
            std::str::from_utf8(&self.trace).unwrap_or(""),
            std::str::from_utf8(&self.upstream).unwrap_or(""),
            if self.sampled { "01" } else { "00" }
        )
    }
}

/// `00-<32 hex>-<16 hex>-<2 hex>` (a later version's extra fields are ignored, as the spec
/// asks); all-zero ids and version `ff` are invalid.
fn parse(v: &[u8]) -> Option<([u8; 32], [u8; 16], u8)> {
    let v = v.trim_ascii();
    let version = v.get(..2)?;
    if !is_lower_hex(version) || version == b"ff" || v.get(2) != Some(&b'-') {
        return None;
    }
    if version == b"00" && v.len() != 55 {
        return None;
    }
    let trace = v.get(3..35)?;
    let parent = v.get(36..52)?;
    let flags = v.get(53..55)?;
    if v.get(35) != Some(&b'-') || v.get(52) != Some(&b'-') {
        return None;
    }
    if !is_lower_hex(trace) || !is_lower_hex(parent) || !is_lower_hex(flags) {
        return None;
    }
    if trace.iter().all(|c| *c == b'0') || parent.iter().all(|c| *c == b'0') {
        return None;
    }
    let flags = u8::from_str_radix(std::str::from_utf8(flags).ok()?, 16).ok()?;
    Some((trace.try_into().ok()?, parent.try_into().ok()?, flags))
}

/// One finished span.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace: [u8; 32],
    pub span: [u8; 16],
    pub parent: Option<[u8; 16]>,
    pub name: String,
    /// 2: server (gw's hop), 3: client (the upstream request).
    pub kind: u8,
    pub start_ns: u64,
    pub end_ns: u64,
    pub method: String,
    pub status: u16,
    pub peer: Option<SocketAddr>,
}

impl TraceCtx {
    /// The spans of a sampled request that took `total_ns` from `start_ns`, with its upstream
    /// request starting `.0` ns in and taking `.1` ns to its response head.
    #[allow(clippy::too_many_arguments)]
    pub fn spans(
        &self,
        route: &str,
        method: &str,
        status: u16,
        start_ns: u64,
        total_ns: u64,
        upstream: Option<(u64, u64, SocketAddr)>,
        out: &mut Vec<Span>,
    ) {
        let end = start_ns + total_ns;
        out.push(Span {
            trace: self.trace,
            span: self.span,
            parent: self.parent,
            name: route.to_owned(),
            kind: 2,
            start_ns,
            end_ns: end,
            method: method.to_owned(),
            status,
            peer: None,
        });
        if let Some((offset, ns, peer)) = upstream {
            let up_start = start_ns + offset;
            out.push(Span {
                trace: self.trace,
                span: self.upstream,
                parent: Some(self.span),
                name: format!("{method} upstream"),
                kind: 3,
                start_ns: up_start.min(end),
                end_ns: (up_start + ns).min(end),
                method: method.to_owned(),
                status,
                peer: Some(peer),
            });
        }
    }
}

/// Spans queued for the exporter, at most this many batches.
const QUEUE: usize = 256;

/// Spans exported and dropped since the process started, across reloads.
#[derive(Debug, Default)]
pub struct Counts {
    pub exported: AtomicU64,
    pub dropped: AtomicU64,
}

/// The process's span counts (`gw_spans_exported_total`, `gw_spans_dropped_total`).
pub static COUNTS: Counts = Counts {
    exported: AtomicU64::new(0),
    dropped: AtomicU64::new(0),
};

/// The exporter's sending side, one per config; its thread ends with the config.
#[derive(Clone)]
pub struct Exporter {
    tx: flume::Sender<Vec<Span>>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}

impl Exporter {
    /// Start the exporter thread for `url` (`http://host:port/path`), naming `service`.
    pub fn start(url: &str, service: &str) -> std::io::Result<Exporter> {
        let (tx, rx) = flume::bounded::<Vec<Span>>(QUEUE);
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| std::io::Error::other("OTLP endpoint is not http://"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/v1/traces" } else { path }.to_owned();
        let authority = authority.to_owned();
        let service = service.to_owned();
        std::thread::Builder::new()
            .name("gw-otlp".into())
            .spawn(move || export_loop(&rx, &authority, &path, &service, &COUNTS))?;
        Ok(Exporter { tx })
    }

    /// Queue spans, or drop them (counted) when the exporter is behind.
    pub fn send(&self, spans: Vec<Span>) {
        let n = spans.len() as u64;
        if self.tx.try_send(spans).is_err() {
            COUNTS.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }
}

fn export_loop(
    rx: &flume::Receiver<Vec<Span>>,
    authority: &str,
    path: &str,
    service: &str,
    counts: &Counts,
) {
    let mut failing = false;
    while let Ok(mut batch) = rx.recv() {
        // what else is queued goes in the same request
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        let body = otlp_json(&batch, service);
        let n = batch.len() as u64;
        match post(authority, path, &body) {
            Ok(status) if (200..300).contains(&status) => {
                counts.exported.fetch_add(n, Ordering::Relaxed);
                failing = false;
            }
            other => {
                counts.dropped.fetch_add(n, Ordering::Relaxed);
                if !failing {
                    crate::log::log!(
                        "tracing: spans dropped: the collector at {authority}: {other:?}"
                    );
                    failing = true;
                }
            }
        }
    }
}

/// One POST, its status; a fresh connection each batch (batches are seconds apart at most).
fn post(authority: &str, path: &str, body: &[u8]) -> std::io::Result<u16> {
    let addr = authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut answer = Vec::new();
    let _ = s.take(64 * 1024).read_to_end(&mut answer);
    let status = answer
        .get(9..12)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    Ok(status)
}

/// The OTLP/HTTP JSON body of `spans` (ids as lower-case hex, times as decimal strings).
pub fn otlp_json(spans: &[Span], service: &str) -> Vec<u8> {
    let mut o = Vec::with_capacity(256 + spans.len() * 400);
    o.extend_from_slice(b"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":");
    write_json_str(service, &mut o);
    o.extend_from_slice(b"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"gw\"},\"spans\":[");
    for (i, s) in spans.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"traceId\":\"");
        o.extend_from_slice(&s.trace);
        o.extend_from_slice(b"\",\"spanId\":\"");
        o.extend_from_slice(&s.span);
        o.push(b'"');
        if let Some(p) = &s.parent {
            o.extend_from_slice(b",\"parentSpanId\":\"");
            o.extend_from_slice(p);
            o.push(b'"');
        }
        o.extend_from_slice(b",\"name\":");
        write_json_str(&s.name, &mut o);
        o.extend_from_slice(
            format!(
                ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\"attributes\":[",
                s.kind, s.start_ns, s.end_ns
            )
            .as_bytes(),
        );
        o.extend_from_slice(b"{\"key\":\"http.request.method\",\"value\":{\"stringValue\":");
        write_json_str(&s.method, &mut o);
        o.extend_from_slice(
            format!(
                "}}}},{{\"key\":\"http.response.status_code\",\"value\":{{\"intValue\":\"{}\"}}}}",
                s.status
            )
            .as_bytes(),
        );
        if let Some(peer) = s.peer {
            o.extend_from_slice(b",{\"key\":\"server.address\",\"value\":{\"stringValue\":");
            write_json_str(&peer.to_string(), &mut o);
            o.extend_from_slice(b"}}");
        }
        o.extend_from_slice(b"]");
        if s.status >= 500 {
            o.extend_from_slice(b",\"status\":{\"code\":2}");
        }
        o.push(b'}');
    }
    o.extend_from_slice(b"]}]}]}");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parses_per_w3c() {
        let good = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (t, p, f) = parse(good).unwrap();
        assert_eq!(&t, b"4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(&p, b"00f067aa0ba902b7");
        assert_eq!(f, 1);
        for bad in [
            &b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"[..],
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            b"garbage",
        ] {
            assert!(parse(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
        // a later version may add fields
        assert!(parse(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz").is_some());
    }

    #[test]
    fn a_trace_is_continued_or_started() {
        let mut n = 0u64;
        let mut rnd = || {
            n += 1;
            n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        };
        let t = TraceCtx::begin(
            Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            &mut rnd,
            0,
        );
        assert_eq!(t.trace_id(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(t.sampled);
        let h = t.upstream_header();
        assert!(h.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(
            !h.contains("00f067aa0ba902b7"),
            "a new parent id for the next hop"
        );
        assert!(h.ends_with("-01"));
        let started = TraceCtx::begin(None, &mut rnd, 10_000);
        assert!(started.sampled);
        assert_ne!(started.trace_id(), t.trace_id());
        assert!(parse(started.upstream_header().as_bytes()).is_some());
        assert!(!TraceCtx::begin(None, &mut rnd, 0).sampled);
        assert_eq!(TraceCtx::default().trace_id(), None);
    }

    #[test]
    fn spans_are_otlp_json() {
        let t = TraceCtx::begin(None, || 7, 10_000);
        let mut spans = Vec::new();
        t.spans(
            "GET /x",
            "GET",
            200,
            1_000,
            900,
            Some((400, 300, "127.0.0.1:9".parse().unwrap())),
            &mut spans,
        );
        assert_eq!(spans.len(), 2);
        let body = String::from_utf8(otlp_json(&spans, "edge")).unwrap();
        assert!(body.contains("\"service.name\",\"value\":{\"stringValue\":\"edge\"}"));
        assert!(body.contains("\"kind\":3"));
        assert!(body.contains("\"startTimeUnixNano\":\"1400\""));
        assert!(body.contains(&format!(
            "\"parentSpanId\":\"{}\"",
            std::str::from_utf8(&t.span).unwrap()
        )));
    }
}
