//! The store of limits a fleet of gw nodes shares (`store redis "redis://host:6379"`): a small
//! RESP2 client on the worker's own runtime, so a call never blocks a worker.
//!
//! Each limit is one Lua script run by `EVAL`, which Redis executes atomically: a bucket is a
//! theoretical arrival time (GCRA, as on the node) read and written inside the script, a quota
//! a counter raised with `INCR` and taken back with `DECR` when it is over, so no update is
//! lost however many nodes ask at once. The script reads Redis's clock (`TIME`), so nodes
//! whose clocks differ still agree.
//!
//! Each worker keeps its own connections (up to [`MAX_IDLE`]), one command per exchange; a
//! connection is reused only after a whole reply with nothing more. A pooled connection that
//! fails is retried once on a fresh one (Redis restarted meanwhile); a failure on a fresh one,
//! or no reply within [`TIMEOUT`], marks the store down on that worker for [`DOWN_FOR`], during
//! which calls answer at once as the limit's `on_store_down` says, then it is tried again.

use std::cell::{Cell, RefCell};
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

/// How long one call may take, connect included.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a worker answers `on_store_down` without trying, after a failure.
pub(crate) const DOWN_FOR: Duration = Duration::from_secs(1);
/// Idle connections a worker keeps.
const MAX_IDLE: usize = 8;
/// Largest reply read.
const MAX_REPLY: usize = 64 * 1024;
/// Deepest nesting of arrays parsed.
const MAX_DEPTH: usize = 4;

/// The script of one limit. `KEYS[1]`: the bucket, `KEYS[2]`: the quota counter. `ARGV`:
/// the bucket's interval in microseconds (0: no bucket), its burst, the quota (0: none), and
/// the Unix time at which the quota's counter may expire. Replies `{verdict, a, b}`: 1
/// admitted (`a` = microseconds the bucket is ahead of now, `b` = the quota's count); 0
/// refused by the bucket (`a` = microseconds until a request conforms, `b` = until the bucket
/// is full); 2 refused by the quota (`a` as for 1).
pub(crate) const SCRIPT: &str = "\
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local ahead = 0
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
  if tat < now then tat = now end
  local nxt = tat + interval
  local window = interval * tonumber(ARGV[2])
  if nxt - now > window then
    return {0, nxt - now - window, tat - now}
  end
  redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.floor((nxt - now) / 1000) + 1)
  ahead = nxt - now
end
local quota = tonumber(ARGV[3])
if quota > 0 then
  local n = redis.call('INCR', KEYS[2])
  if n == 1 then redis.call('EXPIREAT', KEYS[2], ARGV[4]) end
  if n > quota then
    redis.call('DECR', KEYS[2])
    return {2, ahead, quota}
  end
  return {1, ahead, n}
end
return {1, ahead, 0}
";

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

impl Reply {
    /// The integers of an array reply (`{verdict, a, b}`).
    pub(crate) fn ints(&self) -> Option<Vec<i64>> {
        match self {
            Reply::Array(items) => items
                .iter()
                .map(|i| match i {
                    Reply::Int(n) => Some(*n),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }
}

/// Append a command (an array of bulk strings) to `out`.
pub(crate) fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// One reply from the front of `buf`: the reply and the bytes it took, `None` when more bytes
/// are needed, `Err` when the bytes are not RESP2.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    parse_at(buf, 0)
}

fn parse_at(buf: &[u8], depth: usize) -> Result<Option<(Reply, usize)>, String> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let (Some(kind), Some(line)) = (buf.first(), buf.get(1..end)) else {
        return Err("empty line".into());
    };
    let text = std::str::from_utf8(line).map_err(|_| "a line that is not UTF-8".to_string())?;
    let next = end + 2;
    let int = || {
        text.parse::<i64>()
            .map_err(|_| format!("not an integer: {text:?}"))
    };
    match kind {
        b'+' => Ok(Some((Reply::Simple(text.to_owned()), next))),
        b'-' => Ok(Some((Reply::Error(text.to_owned()), next))),
        b':' => Ok(Some((Reply::Int(int()?), next))),
        b'$' => {
            let n = int()?;
            if n < 0 {
                return Ok(Some((Reply::Bulk(None), next)));
            }
            let n = usize::try_from(n).map_err(|_| "bulk length".to_string())?;
            if n > MAX_REPLY {
                return Err("a reply over 64 KiB".into());
            }
            match buf.get(next..next + n + 2) {
                Some(body) if body.ends_with(b"\r\n") => {
                    let data = body.get(..n).unwrap_or_default().to_vec();
                    Ok(Some((Reply::Bulk(Some(data)), next + n + 2)))
                }
                Some(_) => Err("a bulk string without its CRLF".into()),
                None => Ok(None),
            }
        }
        b'*' => {
            let n = int()?;
            if n < 0 {
                return Ok(Some((Reply::Array(Vec::new()), next)));
            }
            if depth >= MAX_DEPTH || n > 1024 {
                return Err("an array too deep or too long".into());
            }
            let mut items = Vec::new();
            let mut at = next;
            for _ in 0..n {
                let rest = buf.get(at..).unwrap_or_default();
                match parse_at(rest, depth + 1)? {
                    Some((r, used)) => {
                        items.push(r);
                        at += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(items), at)))
        }
        other => Err(format!("unknown reply type {:?}", char::from(*other))),
    }
}

/// `redis://host[:port]` resolved to an address (on the control thread, when a config loads).
pub(crate) fn resolve(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| format!("`{url}`: only redis:// URLs"))?;
    let hostport = rest.strip_suffix('/').unwrap_or(rest);
    if hostport.is_empty() || hostport.contains(['/', '@', '?']) {
        return Err(format!(
            "`{url}`: write redis://HOST[:PORT] (no user, database or options)"
        ));
    }
    // HOST:PORT as given, else HOST on Redis's port
    let addrs = hostport.to_socket_addrs().or_else(|_| {
        let host = hostport.trim_start_matches('[').trim_end_matches(']');
        (host, 6379).to_socket_addrs()
    });
    addrs
        .map_err(|e| format!("`{url}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{url}`: no address"))
}

/// Why a store call failed: every one of them means "the store is down" to a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Down(pub(crate) String);

/// A worker's connections to one Redis.
#[derive(Debug)]
pub(crate) struct Store {
    addr: SocketAddr,
    idle: RefCell<Vec<TcpStream>>,
    down_until: Cell<Option<Instant>>,
}

impl Store {
    pub(crate) fn new(addr: SocketAddr) -> Store {
        Store {
            addr,
            idle: RefCell::new(Vec::new()),
            down_until: Cell::new(None),
        }
    }

    /// Whether a recent failure says not to try yet.
    fn resting(&self) -> bool {
        self.down_until.get().is_some_and(|t| Instant::now() < t)
    }

    /// Send `command` (RESP bytes) and read its reply. An error reply from Redis counts as
    /// the store being down (a script it refused cannot be trusted to have counted).
    pub(crate) async fn call(self: Rc<Self>, command: Vec<u8>) -> Result<Reply, Down> {
        if self.resting() {
            return Err(Down("store down, retried after a second".into()));
        }
        let r = match monoio::time::timeout(TIMEOUT, self.exchange(command)).await {
            Ok(r) => r,
            Err(_) => Err(Down(format!("no answer within {TIMEOUT:?}"))),
        };
        match r {
            Ok(Reply::Error(e)) => Err(Down(format!("redis: {e}"))),
            Ok(reply) => {
                self.down_until.set(None);
                Ok(reply)
            }
            Err(e) => {
                self.down_until.set(Some(Instant::now() + DOWN_FOR));
                Err(e)
            }
        }
    }

    async fn exchange(&self, command: Vec<u8>) -> Result<Reply, Down> {
        let pooled = self.idle.borrow_mut().pop();
        let mut command = command;
        if let Some(conn) = pooled {
            match once(conn, command).await {
                Ok((reply, conn)) => return Ok(self.keep(reply, conn)),
                // a pooled connection may have been closed by a restart: once more, fresh
                Err((_, back)) => command = back,
            }
        }
        let conn = TcpStream::connect_addr(self.addr)
            .await
            .map_err(|e| Down(format!("connect {}: {e}", self.addr)))?;
        let _ = conn.set_nodelay(true);
        match once(conn, command).await {
            Ok((reply, conn)) => Ok(self.keep(reply, conn)),
            Err((e, _)) => Err(e),
        }
    }

    fn keep(&self, (reply, whole): (Reply, bool), conn: TcpStream) -> Reply {
        let mut idle = self.idle.borrow_mut();
        if whole && idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        reply
    }
}

/// One command on `conn`: the reply (and whether nothing followed it) with the connection, or
/// the failure with the command back.
async fn once(
    mut conn: TcpStream,
    command: Vec<u8>,
) -> Result<((Reply, bool), TcpStream), (Down, Vec<u8>)> {
    let (res, command) = conn.write_all(command).await;
    if let Err(e) = res {
        return Err((Down(format!("write: {e}")), command));
    }
    let mut got: Vec<u8> = Vec::with_capacity(128);
    loop {
        match parse(&got) {
            Ok(Some((reply, used))) => return Ok(((reply, used == got.len()), conn)),
            Ok(None) if got.len() < MAX_REPLY => {}
            Ok(None) => return Err((Down("a reply over 64 KiB".into()), command)),
            Err(e) => return Err((Down(format!("bad reply: {e}")), command)),
        }
        let buf = Vec::with_capacity(4096);
        let (res, buf) = conn.read(buf).await;
        match res {
            Ok(0) => return Err((Down("connection closed".into()), command)),
            Ok(_) => got.extend_from_slice(&buf),
            Err(e) => return Err((Down(format!("read: {e}")), command)),
        }
    }
}

/// The `EVAL` of [`SCRIPT`] for one request.
pub(crate) fn eval(bucket: &str, quota: &str, argv: [u64; 4]) -> Vec<u8> {
    let nums = argv.map(|n| n.to_string());
    let mut out = Vec::with_capacity(SCRIPT.len() + 128);
    encode(
        &[
            b"EVAL",
            SCRIPT.as_bytes(),
            b"2",
            bucket.as_bytes(),
            quota.as_bytes(),
            nums[0].as_bytes(),
            nums[1].as_bytes(),
            nums[2].as_bytes(),
            nums[3].as_bytes(),
        ],
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_whole_or_ask_for_more() {
        assert_eq!(parse(b"+OK\r\n"), Ok(Some((Reply::Simple("OK".into()), 5))));
        assert_eq!(parse(b":42\r\n:1"), Ok(Some((Reply::Int(42), 5))));
        assert_eq!(parse(b"$3\r\nab"), Ok(None));
        assert_eq!(
            parse(b"$3\r\nabc\r\n"),
            Ok(Some((Reply::Bulk(Some(b"abc".to_vec())), 9)))
        );
        assert_eq!(parse(b"$-1\r\n"), Ok(Some((Reply::Bulk(None), 5))));
        let arr = b"*3\r\n:1\r\n:250\r\n:7\r\n";
        let (r, used) = parse(arr).unwrap().unwrap();
        assert_eq!((r.ints(), used), (Some(vec![1, 250, 7]), arr.len()));
        for cut in 0..arr.len() {
            assert_eq!(parse(&arr[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(
            parse(b"-ERR no\r\n"),
            Ok(Some((Reply::Error("ERR no".into()), 9)))
        );
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b":x\r\n").is_err());
        assert!(
            parse(b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n").is_err(),
            "too deep"
        );
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode(&[b"GET", b"k"], &mut out);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }

    #[test]
    fn urls_name_a_host_and_port() {
        assert_eq!(
            resolve("redis://127.0.0.1:7000").unwrap(),
            "127.0.0.1:7000".parse().unwrap()
        );
        assert_eq!(resolve("redis://127.0.0.1").unwrap().port(), 6379);
        assert_eq!(resolve("redis://[::1]:7001").unwrap().port(), 7001);
        assert!(resolve("http://x").is_err());
        assert!(resolve("redis://u:p@h:1").is_err());
        assert!(resolve("redis://h:1/2").is_err());
    }
}

/// What a limit does when its store cannot answer (`on_store_down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnDown {
    /// Let the request through, unlimited.
    Allow,
    /// Refuse it: 503 with `Retry-After: 1`.
    Deny,
}

/// A limit's Redis: its URL (for logs and disasm), its address, and `on_store_down`.
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    pub(crate) url: Arc<str>,
    pub(crate) addr: SocketAddr,
    pub(crate) on_down: OnDown,
}

impl Remote {
    /// From a spec's `store` URL and `on_store_down` word (default `deny`); `None` without a
    /// store (`scope node`).
    pub(crate) fn of(store: Option<&str>, on_down: Option<&str>) -> Result<Option<Remote>, String> {
        let Some(url) = store else {
            return Ok(None);
        };
        let on_down = match on_down {
            None | Some("deny") => OnDown::Deny,
            Some("allow") => OnDown::Allow,
            Some(other) => return Err(format!("on_store_down `{other}`: allow or deny")),
        };
        Ok(Some(Remote {
            url: url.into(),
            addr: resolve(url)?,
            on_down,
        }))
    }

    /// The answer when the store could not decide.
    /// Run `command` (a script of [`eval`]) on `store`, awaited by the request; `verdict`
    /// answers from the script's reply (`None`: not a reply it knows). An error, a reply
    /// `verdict` does not know, or a request that cannot wait is answered as [`Remote::down`].
    pub(crate) fn pend(
        &self,
        host: &mut dyn gw_plugin::Host,
        store: Rc<Store>,
        command: Vec<u8>,
        verdict: impl FnOnce(&mut dyn gw_plugin::Host, &Reply) -> Option<gw_plugin::Call> + 'static,
    ) -> gw_plugin::Call {
        let remote = self.clone();
        let op: gw_plugin::PendingOp = Box::pin(async move {
            let reply = store.call(command).await;
            let done: gw_plugin::Completion =
                Box::new(move |host: &mut dyn gw_plugin::Host| match reply {
                    Ok(r) => verdict(host, &r)
                        .unwrap_or_else(|| remote.down(host, &Down(format!("reply {r:?}")))),
                    Err(e) => remote.down(host, &e),
                });
            done
        });
        if host.pend(op) {
            gw_plugin::Call::Pending
        } else {
            self.down(host, &Down("this request cannot wait".into()))
        }
    }

    pub(crate) fn down(&self, host: &mut dyn gw_plugin::Host, why: &Down) -> gw_plugin::Call {
        match self.on_down {
            OnDown::Allow => gw_plugin::Call::Continue,
            OnDown::Deny => {
                let reason = format!("limit store {} down: {}", self.url, why.0);
                host.apply(gw_plugin::Effect::DenyReason(&reason));
                gw_plugin::Call::Deny {
                    status: 503,
                    retry_after: Some(1),
                }
            }
        }
    }
}

/// One command over a blocking connection, for `gw usage` (never on a worker).
pub(crate) fn call_blocking(addr: SocketAddr, command: &[u8]) -> Result<Reply, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.write_all(command).map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some((reply, _)) = parse(&got)? {
            return Ok(reply);
        }
        match s.read(&mut buf) {
            Ok(0) => return Err("connection closed".into()),
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) => return Err(e.to_string()),
        }
        if got.len() > MAX_REPLY {
            return Err("a reply over 64 KiB".into());
        }
    }
}
