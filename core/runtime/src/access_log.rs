//! The access log (`log { }`): one JSON line per request, written without ever blocking a
//! request.
//!
//! Each worker formats its lines into a buffer of its own and hands full buffers (or, every
//! 100 ms, what it has) to one writer thread through a bounded queue. The writer does the
//! blocking writes. When the queue is full (a full disk, a slow stdout, a file system that
//! hangs) the worker drops the batch and counts its lines in
//! `gw_access_log_dropped_lines_total`: requests never wait for the log. SIGUSR1 makes the
//! writer reopen its file, so logrotate can move it away first.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gw_program::{AccessLog, LogField, LogTarget};

use crate::error::write_json_str;

/// A worker hands its buffer over past this size.
pub const BATCH: usize = 64 * 1024;
/// Batches the writer may have queued: 4 MiB at most per writer.
const QUEUE: usize = 64;

/// What the writer thread is asked to do.
enum Msg {
    Lines {
        to: LogTarget,
        bytes: Vec<u8>,
        lines: u64,
    },
    Reopen,
    /// Everything before it is written: tell the sender.
    Sync(std::sync::mpsc::Sender<()>),
}

/// Counts shared by the workers, the writer and the admin endpoint.
#[derive(Debug, Default)]
pub struct Counts {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
}

/// The sending side: cheap to clone, one per worker.
#[derive(Clone)]
pub struct Writer {
    tx: flume::Sender<Msg>,
    pub counts: Arc<Counts>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Start the writer thread. It ends once every `Writer` is dropped and the queue is
    /// written out.
    pub fn start() -> std::io::Result<(Writer, std::thread::JoinHandle<()>)> {
        let (tx, rx) = flume::bounded(QUEUE);
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let t = std::thread::Builder::new()
            .name("gw-access-log".into())
            .spawn(move || write_loop(&rx, &c))?;
        Ok((Writer { tx, counts }, t))
    }

    /// Hand a batch over, or drop it (counted) when the writer is behind.
    pub fn send(&self, to: &LogTarget, bytes: Vec<u8>, lines: u64) {
        let msg = Msg::Lines {
            to: to.clone(),
            bytes,
            lines,
        };
        if self.tx.try_send(msg).is_err() {
            self.counts.dropped.fetch_add(lines, Ordering::Relaxed);
        }
    }

    /// Reopen the log file (SIGUSR1).
    pub fn reopen(&self) {
        let _ = self.tx.try_send(Msg::Reopen);
    }

    /// Wait (up to `timeout`) until every batch handed over so far is written.
    pub fn sync(&self, timeout: std::time::Duration) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.tx.send_timeout(Msg::Sync(tx), timeout).is_ok() {
            let _ = rx.recv_timeout(timeout);
        }
    }
}

fn write_loop(rx: &flume::Receiver<Msg>, counts: &Counts) {
    let mut files: Vec<(PathBuf, std::fs::File)> = Vec::new();
    let mut failing: Option<String> = None;
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Reopen => {
                files.clear();
                crate::log::log!("access log: reopened");
            }
            Msg::Sync(done) => {
                let _ = std::io::stdout().flush();
                let _ = done.send(());
            }
            Msg::Lines { to, bytes, lines } => {
                let r = match &to {
                    LogTarget::Stdout => std::io::stdout().lock().write_all(&bytes),
                    LogTarget::File(path) => {
                        open(&mut files, path).and_then(|f| f.write_all(&bytes))
                    }
                };
                match r {
                    Ok(()) => {
                        counts.written.fetch_add(lines, Ordering::Relaxed);
                        if failing.take().is_some() {
                            crate::log::log!("access log: writing again");
                        }
                    }
                    Err(e) => {
                        counts.dropped.fetch_add(lines, Ordering::Relaxed);
                        let why = e.to_string();
                        // once per cause, not once per batch
                        if failing.as_deref() != Some(why.as_str()) {
                            crate::log::log!("access log: lines dropped: {why}");
                            failing = Some(why);
                        }
                        if let LogTarget::File(p) = &to {
                            files.retain(|(q, _)| q != p);
                        }
                    }
                }
            }
        }
    }
    let _ = std::io::stdout().flush();
}

fn open<'a>(
    files: &'a mut Vec<(PathBuf, std::fs::File)>,
    path: &PathBuf,
) -> std::io::Result<&'a mut std::fs::File> {
    let i = match files.iter().position(|(p, _)| p == path) {
        Some(i) => i,
        None => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            files.push((path.clone(), f));
            files.len() - 1
        }
    };
    files
        .get_mut(i)
        .map(|(_, f)| f)
        .ok_or_else(|| std::io::Error::other("log file"))
}

/// One request's values, as the log phase knows them.
pub struct Line<'a> {
    pub request_id: &'a str,
    pub client: std::net::IpAddr,
    pub caller: Option<&'a str>,
    pub method: &'a [u8],
    pub path: &'a str,
    pub route: Option<&'a str>,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub latency_us: u64,
    pub upstream_us: Option<u64>,
    pub upstream: Option<std::net::SocketAddr>,
    pub user_agent: Option<&'a [u8]>,
    pub trace_id: Option<&'a str>,
    /// A denying policy's account of why.
    pub reason: Option<&'a str>,
}

/// Whether the `n`th (from 1) sampled request answered with `status` is logged: every line
/// unless sampled; a sampled status keeps exactly `per_10k` of every 10,000.
pub fn keep(log: &AccessLog, status: u16, n: u64) -> bool {
    match log.sample {
        Some((per_10k, below)) if status < below => {
            let p = u64::from(per_10k);
            n.saturating_mul(p) / 10_000 != n.saturating_sub(1).saturating_mul(p) / 10_000
        }
        _ => true,
    }
}

thread_local! {
    /// The second last stamped and its text up to the milliseconds (`2026-12-06T06:47:00.`).
    static SECOND: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((-1, String::new())) };
}

/// The current UTC time in RFC 3339 with milliseconds, the date and time of day formatted
/// once a second.
fn stamp(out: &mut Vec<u8>) {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (sec, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    SECOND.with(|s| {
        let mut s = s.borrow_mut();
        if s.0 != sec {
            s.1.clear();
            crate::log::stamp(&mut s.1);
            // keep `…:SS.` and write the milliseconds per line
            s.1.truncate(20);
            s.0 = sec;
        }
        out.push(b'"');
        out.extend_from_slice(s.1.as_bytes());
        let _ = write!(out, "{milli:03}Z\"");
    });
}

/// Append `l` as one JSON line with the fields `log` names.
pub fn format(log: &AccessLog, l: &Line<'_>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, f) in log.fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(f.name().as_bytes());
        out.extend_from_slice(b"\":");
        match f {
            LogField::Time => stamp(out),
            LogField::RequestId => write_json_str(l.request_id, out),
            // an address's text needs no escaping
            LogField::ClientIp => {
                let _ = write!(out, "\"{}\"", l.client);
            }
            LogField::Caller => opt_str(l.caller, out),
            LogField::Method => write_json_str(&String::from_utf8_lossy(l.method), out),
            LogField::Path => write_json_str(l.path, out),
            LogField::Route => opt_str(l.route, out),
            LogField::Status => int(u64::from(l.status), out),
            LogField::RequestBytes => int(l.bytes_in, out),
            LogField::ResponseBytes => int(l.bytes_out, out),
            LogField::LatencyUs => int(l.latency_us, out),
            LogField::UpstreamLatencyUs => match l.upstream_us {
                Some(us) => int(us, out),
                None => out.extend_from_slice(b"null"),
            },
            LogField::Upstream => match l.upstream {
                Some(a) => {
                    let _ = write!(out, "\"{a}\"");
                }
                None => out.extend_from_slice(b"null"),
            },
            LogField::UserAgent => match l.user_agent {
                Some(ua) => write_json_str(&String::from_utf8_lossy(ua), out),
                None => out.extend_from_slice(b"null"),
            },
            LogField::TraceId => opt_str(l.trace_id, out),
            LogField::Reason => opt_str(l.reason, out),
        }
    }
    out.extend_from_slice(b"}\n");
}

fn opt_str(v: Option<&str>, out: &mut Vec<u8>) {
    match v {
        Some(s) => write_json_str(s, out),
        None => out.extend_from_slice(b"null"),
    }
}

fn int(v: u64, out: &mut Vec<u8>) {
    let _ = write!(out, "{v}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(sample: Option<(u32, u16)>) -> AccessLog {
        AccessLog {
            fields: LogField::ALL.to_vec(),
            to: LogTarget::Stdout,
            sample,
        }
    }

    #[test]
    fn a_line_is_one_json_object_with_every_field() {
        let mut out = Vec::new();
        let l = Line {
            request_id: "r\"1",
            client: "10.0.0.1".parse().unwrap(),
            caller: Some("acme"),
            method: b"GET",
            path: "/pets/1",
            route: Some("GET /pets/{id}"),
            status: 200,
            bytes_in: 80,
            bytes_out: 300,
            latency_us: 120,
            upstream_us: Some(90),
            upstream: Some("127.0.0.1:9000".parse().unwrap()),
            user_agent: Some(b"curl/8"),
            trace_id: None,
            reason: Some("jwt users: token expired"),
        };
        format(&log(None), &l, &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        let v: std::collections::BTreeMap<String, String> = String::from_utf8(out.clone())
            .unwrap()
            .trim_matches(['{', '}', '\n'])
            .split(",\"")
            .map(|kv| {
                let (k, v) = kv.split_once("\":").unwrap();
                (k.trim_matches('"').to_string(), v.to_string())
            })
            .collect();
        assert_eq!(v.len(), LogField::ALL.len());
        assert_eq!(v["requestId"], "\"r\\\"1\"");
        assert_eq!(v["status"], "200");
        assert_eq!(v["traceId"], "null");
        assert_eq!(v["reason"], "\"jwt users: token expired\"");
        assert_eq!(v["upstream"], "\"127.0.0.1:9000\"");
    }

    #[test]
    fn sampling_keeps_its_exact_share_and_every_error() {
        let l = log(Some((1000, 400)));
        let kept = (1..=10_000).filter(|n| keep(&l, 200, *n)).count();
        assert_eq!(kept, 1000);
        assert!((1..=100).all(|n| keep(&l, 500, n)));
        assert!((1..=100).all(|n| keep(&log(None), 200, n)));
    }
}
