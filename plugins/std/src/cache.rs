//! `cache { ttl 60s; key [query.limit]; vary claim.tenant; max_entry 1MiB; max_size 64MiB }`:
//! upstream responses kept per worker and served without the upstream.
//!
//! ```gw
//! route GET /pets {
//!   cache { ttl 60s; key [query.limit]; max_entry 256KiB; max_size 32MiB }
//!   upstream pets
//! }
//! ```
//!
//! The request program's `["lookup", key…, vary…]` call answers a hit with the stored
//! response (`Call::Respond`, with `Age` and `X-Cache: hit`); the response program's
//! `["store", …]` call keeps the upstream's answer when it may (`control.rs`). An entry's key
//! is the request's path and host, then each `key` and `vary` value; the upstream's `Vary`
//! names request fields whose values must match too.
//!
//! Each worker has its own cache (`max_size` split evenly among the workers), so nothing is
//! shared between cores and nothing locks; eviction is S3-FIFO (`s3fifo.rs`). A reload keeps a
//! worker's entries for the same route and key (a thread-local registry by `state_key`).
//! While one request of a worker fetches a key, that worker's other requests for the key wait
//! for it (up to [`COLLAPSE_WAIT`]) and are served from what it stored, so concurrent misses
//! send one upstream request per worker.

mod control;
pub mod s3fifo;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use gw_plugin::{
    ArgSpec, ArgType, BuildError, Call, Completion, Effect, Factory, Host, Instance, PendingOp,
    Plugin, PluginSpec, Signature, Value,
};
use gw_program::Field;

use control::Freshness;
use s3fifo::S3Fifo;

/// How long the requests that find a key being fetched wait for it before fetching it
/// themselves.
pub const COLLAPSE_WAIT: Duration = Duration::from_secs(5);
/// `max_entry` when the config gives none.
const DEFAULT_MAX_ENTRY: u64 = 1 << 20;
/// `max_size` when the config gives none (for all workers together).
const DEFAULT_MAX_SIZE: u64 = 64 << 20;
/// Variants (by the upstream's `Vary`) kept per key.
const MAX_VARIANTS: usize = 8;
/// Fetches a worker tracks at once; past it, misses are not collapsed until some end.
const MAX_FLIGHTS: usize = 1024;
/// Purges recorded by prefix before further ones purge everything.
const PURGE_SLOTS: usize = 1024;
/// Statuses kept (RFC 9111 §3, the heuristically cacheable ones gw serves).
const STATUSES: [u16; 5] = [200, 203, 204, 301, 404];
/// Fields never replayed from a stored response: hop-by-hop and framing (the hit is framed
/// anew), and the ones gw sets on a hit.
const NOT_REPLAYED: [&str; 11] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "date",
    "age",
    "x-cache",
];

static SIGNATURE: Signature = Signature {
    name: "cache",
    mnemonic: "cache",
    args: &[
        ArgSpec {
            name: "ttl",
            ty: ArgType::Duration,
            required: true,
        },
        ArgSpec {
            name: "keys",
            ty: ArgType::Int,
            required: true,
        },
        ArgSpec {
            name: "vary",
            ty: ArgType::Int,
            required: true,
        },
        ArgSpec {
            name: "max_entry",
            ty: ArgType::Size,
            required: false,
        },
        ArgSpec {
            name: "max_size",
            ty: ArgType::Size,
            required: false,
        },
    ],
};

/// The `cache` policy.
pub struct Cache;

#[derive(Debug, Clone, Copy)]
struct Settings {
    ttl: Duration,
    parts: usize,
    max_entry: usize,
    max_size: usize,
}

/// Purges asked for from outside the workers (an admin endpoint), applied by each worker at
/// its next use of the cache: a published log of prefixes, and a counter of purges of all.
#[derive(Debug)]
struct Purges {
    slots: Box<[OnceLock<String>]>,
    reserved: AtomicUsize,
    published: AtomicUsize,
    all: AtomicU64,
}

impl Purges {
    fn new() -> Purges {
        Purges {
            slots: (0..PURGE_SLOTS).map(|_| OnceLock::new()).collect(),
            reserved: AtomicUsize::new(0),
            published: AtomicUsize::new(0),
            all: AtomicU64::new(0),
        }
    }

    fn purge(&self, prefix: &str) {
        if prefix.is_empty() {
            self.all.fetch_add(1, Ordering::AcqRel);
            return;
        }
        let i = self.reserved.fetch_add(1, Ordering::AcqRel);
        let Some(slot) = self.slots.get(i) else {
            // the log is full: purging everything is never wrong
            self.all.fetch_add(1, Ordering::AcqRel);
            return;
        };
        let _ = slot.set(prefix.to_owned());
        // publish in order: an earlier reservation is published first
        while self
            .published
            .compare_exchange_weak(i, i + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            std::thread::yield_now();
        }
    }
}

struct CacheFactory {
    settings: Settings,
    state_key: String,
    purges: Arc<Purges>,
    workers: Arc<AtomicUsize>,
}

/// One stored response.
#[derive(Debug)]
struct Entry {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    stored: Instant,
    /// Its age when stored (the upstream's `Age`), in seconds.
    age: u64,
    fresh_for: Duration,
    /// The request fields the upstream's `Vary` names, with this request's values.
    vary: Vec<(String, Option<Vec<u8>>)>,
}

impl Entry {
    fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum();
        let vary: usize = self
            .vary
            .iter()
            .map(|(n, v)| n.len() + v.as_ref().map_or(0, Vec::len))
            .sum();
        self.body.len() + headers + vary + 96
    }

    fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.stored) < self.fresh_for
    }

    fn matches(&self, host: &dyn Host) -> bool {
        self.vary
            .iter()
            .all(|(name, v)| host.request_header(name.as_bytes()) == v.as_deref())
    }
}

/// A fetch in flight on this worker, that other requests for its key wait for.
#[derive(Default)]
struct Flight {
    started: Option<Instant>,
    done: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Flight {
    fn finish(&self) {
        self.done.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

/// Resolves when its flight is done.
struct Landed(Rc<Flight>);

impl Future for Landed {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.done.get() {
            Poll::Ready(())
        } else {
            self.0.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// A worker's cache of one `state_key`.
struct Store {
    entries: S3Fifo<Rc<str>, Rc<Vec<Rc<Entry>>>>,
    flights: HashMap<Rc<str>, Rc<Flight>>,
    seen_all: u64,
    seen_purges: usize,
}

thread_local! {
    /// This worker's stores by `state_key`, so a reload keeps its entries.
    static STORES: RefCell<HashMap<String, Weak<RefCell<Store>>>> = RefCell::new(HashMap::new());
}

struct CacheInstance {
    settings: Settings,
    state_key: String,
    purges: Arc<Purges>,
    workers: Arc<AtomicUsize>,
    /// The previous config's store on a reload, else made at the first call, when every
    /// worker has counted itself.
    store: Option<Rc<RefCell<Store>>>,
    key: String,
}

fn bad(spec: &PluginSpec, message: &str) -> BuildError {
    BuildError::at(spec, format!("cache: {message}"))
}

impl Plugin for Cache {
    fn signature(&self) -> &Signature {
        &SIGNATURE
    }

    fn build(
        &self,
        spec: &PluginSpec,
        previous: Option<&dyn Factory>,
    ) -> Result<Box<dyn Factory>, BuildError> {
        let int = |n: &str| match Value::find(&spec.args, n) {
            Some(Value::Int(i)) => usize::try_from(*i).ok(),
            _ => None,
        };
        let size = |n: &str, default: u64| match Value::find(&spec.args, n) {
            Some(Value::Size(s)) => *s,
            _ => default,
        };
        let ttl = match Value::find(&spec.args, "ttl") {
            Some(Value::Duration(ms)) if *ms > 0 => Duration::from_millis(*ms),
            _ => return Err(bad(spec, "no ttl")),
        };
        let (Some(keys), Some(vary)) = (int("keys"), int("vary")) else {
            return Err(bad(spec, "no key count"));
        };
        let settings = Settings {
            ttl,
            parts: keys + vary,
            max_entry: usize::try_from(size("max_entry", DEFAULT_MAX_ENTRY)).unwrap_or(usize::MAX),
            max_size: usize::try_from(size("max_size", DEFAULT_MAX_SIZE)).unwrap_or(usize::MAX),
        };
        let purges = previous
            .and_then(|p| p.as_any().downcast_ref::<CacheFactory>())
            .map_or_else(|| Arc::new(Purges::new()), |p| p.purges.clone());
        Ok(Box::new(CacheFactory {
            settings,
            state_key: spec.state_key.clone(),
            purges,
            workers: Arc::default(),
        }))
    }
}

impl Factory for CacheFactory {
    fn purge(&self, prefix: &str) -> bool {
        self.purges.purge(prefix);
        true
    }

    fn instance(&self, _worker: usize) -> Box<dyn Instance> {
        self.workers.fetch_add(1, Ordering::AcqRel);
        Box::new(CacheInstance {
            settings: self.settings,
            state_key: self.state_key.clone(),
            purges: self.purges.clone(),
            workers: self.workers.clone(),
            // instances are made on their worker while its previous config still holds the
            // store, so a reload finds it here
            store: STORES.with(|m| m.borrow().get(&self.state_key).and_then(Weak::upgrade)),
            key: String::new(),
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Purge the entries of a `cache` use whose key starts with `prefix` (all of them for `""`) on
/// every worker, each at its next use of the cache; false when `factory` is not a cache's.
/// An entry's key is the request path, `\0`, the host, then `\0` and each key and vary value.
pub fn purge(factory: &dyn Factory, prefix: &str) -> bool {
    factory.as_any().downcast_ref::<CacheFactory>().is_some() && factory.purge(prefix)
}

/// Purge every cache of route `route` (its name, `GET /pets/{id}`), given a config's specs and
/// their factories (same order); how many caches were purged.
pub fn purge_route(specs: &[PluginSpec], factories: &[Box<dyn Factory>], route: &str) -> usize {
    let prefix = format!("{route}#cache#");
    specs
        .iter()
        .zip(factories)
        .filter(|(s, _)| s.plugin == "cache" && s.state_key.starts_with(&prefix))
        .filter(|(_, f)| purge(f.as_ref(), ""))
        .count()
}

fn text_of(v: &Value, out: &mut String) {
    match v {
        v if v.is_missing() => out.push('\u{1}'),
        v => match v.as_text() {
            Some(s) => out.push_str(s),
            None => v.write_text(out),
        },
    }
}

impl CacheInstance {
    fn store(&mut self) -> Rc<RefCell<Store>> {
        if let Some(s) = &self.store {
            return s.clone();
        }
        let workers = self.workers.load(Ordering::Acquire).max(1);
        let capacity = self.settings.max_size / workers;
        let store = STORES.with(|m| {
            let mut m = m.borrow_mut();
            if let Some(s) = m.get(&self.state_key).and_then(Weak::upgrade) {
                return s;
            }
            let s = Rc::new(RefCell::new(Store {
                entries: S3Fifo::new(capacity),
                flights: HashMap::new(),
                seen_all: self.purges.all.load(Ordering::Acquire),
                seen_purges: self.purges.published.load(Ordering::Acquire),
            }));
            m.retain(|_, w| w.strong_count() > 0);
            m.insert(self.state_key.clone(), Rc::downgrade(&s));
            s
        });
        self.store = Some(store.clone());
        store
    }

    /// Apply the purges published since this worker last looked.
    fn apply_purges(&self, store: &mut Store) {
        let all = self.purges.all.load(Ordering::Acquire);
        if all != store.seen_all {
            store.seen_all = all;
            store.entries.remove_if(|_, _| true);
        }
        let published = self.purges.published.load(Ordering::Acquire);
        for i in store.seen_purges..published {
            if let Some(prefix) = self.purges.slots.get(i).and_then(OnceLock::get) {
                store
                    .entries
                    .remove_if(|k, _| k.starts_with(prefix.as_str()));
            }
        }
        store.seen_purges = published;
    }

    /// The entry key of this request: path, host, then the key and vary values.
    fn key(&mut self, host: &mut dyn Host, parts: &[Value]) -> Rc<str> {
        self.key.clear();
        text_of(&host.load(Field::ReqPath), &mut self.key);
        self.key.push('\0');
        text_of(&host.load(Field::ReqHost), &mut self.key);
        for p in parts.iter().take(self.settings.parts) {
            self.key.push('\0');
            text_of(p, &mut self.key);
        }
        Rc::from(self.key.as_str())
    }

    fn lookup(&mut self, host: &mut dyn Host, parts: &[Value]) -> Call {
        let method = host.load(Field::ReqMethod);
        let method = method.as_text().unwrap_or("");
        if method != "GET" && method != "HEAD" {
            return Call::Continue;
        }
        let key = self.key(host, parts);
        let store = self.store();
        let mut s = store.borrow_mut();
        self.apply_purges(&mut s);
        if let Some(call) = serve(&mut s, &key, host) {
            return call;
        }
        host.apply(Effect::RespSetHeader("x-cache", "miss"));
        if method != "GET" {
            return Call::Continue;
        }
        match s.flights.get(&key) {
            Some(f) if f.started.is_some_and(|t| t.elapsed() < COLLAPSE_WAIT) => {
                let flight = f.clone();
                drop(s);
                wait_for(host, flight, store, key)
            }
            _ => {
                // a fetch that never stored (its request failed) is forgotten after the wait
                if s.flights.len() >= MAX_FLIGHTS {
                    s.flights
                        .retain(|_, f| f.started.is_some_and(|t| t.elapsed() < COLLAPSE_WAIT));
                    if s.flights.len() >= MAX_FLIGHTS {
                        return Call::Continue;
                    }
                }
                let flight = Flight {
                    started: Some(Instant::now()),
                    ..Flight::default()
                };
                if let Some(old) = s.flights.insert(key, Rc::new(flight)) {
                    old.finish();
                }
                Call::Continue
            }
        }
    }

    fn keep(&mut self, host: &mut dyn Host, parts: &[Value]) -> Call {
        let key = self.key(host, parts);
        let store = self.store();
        let mut s = store.borrow_mut();
        let flight = s.flights.remove(&key);
        if let Some(entry) = storable(host, &self.settings) {
            let now = Instant::now();
            let mut variants: Vec<Rc<Entry>> = s
                .entries
                .peek(&key)
                .map(|v| {
                    v.iter()
                        .filter(|e| e.fresh(now) && e.vary != entry.vary)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if variants.len() >= MAX_VARIANTS {
                variants.remove(0);
            }
            variants.push(Rc::new(entry));
            let size = key.len() + variants.iter().map(|e| e.size()).sum::<usize>();
            s.entries.insert(key, Rc::new(variants), size);
        }
        drop(s);
        if let Some(f) = flight {
            f.finish();
        }
        Call::Continue
    }
}

/// Answer from the cache when it holds a fresh entry for this request.
fn serve(s: &mut Store, key: &Rc<str>, host: &mut dyn Host) -> Option<Call> {
    let now = Instant::now();
    let entry = s
        .entries
        .get(key)?
        .iter()
        .find(|e| e.fresh(now) && e.matches(host))?
        .clone();
    for (n, v) in &entry.headers {
        host.apply(Effect::RespAppendHeader(n, v));
    }
    let age = entry.age + now.saturating_duration_since(entry.stored).as_secs();
    host.apply(Effect::RespSetHeader("age", &age.to_string()));
    host.apply(Effect::RespSetHeader("x-cache", "hit"));
    host.apply(Effect::RespSetBodyBytes(&entry.body));
    Some(Call::Respond(entry.status))
}

/// Wait for the request fetching `key` on this worker, then answer from what it stored (or go
/// to the upstream when it stored nothing).
fn wait_for(
    host: &mut dyn Host,
    flight: Rc<Flight>,
    store: Rc<RefCell<Store>>,
    key: Rc<str>,
) -> Call {
    let op: PendingOp = Box::pin(async move {
        let _ = monoio::time::timeout(COLLAPSE_WAIT, Landed(flight)).await;
        let done: Completion = Box::new(move |host: &mut dyn Host| {
            let mut s = store.borrow_mut();
            serve(&mut s, &key, host).unwrap_or(Call::Continue)
        });
        done
    });
    if host.pend(op) {
        Call::Pending
    } else {
        Call::Continue
    }
}

/// The upstream's response as an entry, when a shared cache may keep it.
fn storable(host: &mut dyn Host, settings: &Settings) -> Option<Entry> {
    if host.load(Field::ReqMethod).as_text() != Some("GET") {
        return None;
    }
    let status = match host.load(Field::RespStatus) {
        Value::Int(s) => u16::try_from(s).ok()?,
        _ => return None,
    };
    if !STATUSES.contains(&status) {
        return None;
    }
    let mut headers = Vec::new();
    let mut control: Option<Vec<u8>> = None;
    let mut vary_names: Vec<String> = Vec::new();
    let mut refused = false;
    let mut age = 0;
    host.for_each_response_header(&mut |n, v| {
        let (Ok(name), Ok(value)) = (std::str::from_utf8(n), std::str::from_utf8(v)) else {
            refused = true;
            return;
        };
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "set-cookie" => refused = true,
            "cache-control" => {
                let c = control.get_or_insert_with(Vec::new);
                if !c.is_empty() {
                    c.push(b',');
                }
                c.extend_from_slice(v);
            }
            "vary" => vary_names.extend(
                value
                    .split(',')
                    .map(|f| f.trim().to_ascii_lowercase())
                    .filter(|f| !f.is_empty()),
            ),
            "age" => age = value.trim().parse().unwrap_or(0),
            _ => {}
        }
        if !NOT_REPLAYED.contains(&lower.as_str()) {
            headers.push((lower, value.to_owned()));
        }
    });
    if refused || vary_names.iter().any(|f| f == "*") {
        return None;
    }
    let fresh_for = match control::freshness(control.as_deref()) {
        Freshness::Refuse(_) => return None,
        Freshness::Keep(None) => settings.ttl,
        Freshness::Keep(Some(s)) => Duration::from_secs(s).min(settings.ttl),
    };
    let body = host.response_body()?;
    if body.len() > settings.max_entry {
        return None;
    }
    let body = body.to_vec();
    let vary = vary_names
        .into_iter()
        .map(|n| {
            let v = host.request_header(n.as_bytes()).map(<[u8]>::to_vec);
            (n, v)
        })
        .collect();
    Some(Entry {
        status,
        headers,
        body,
        stored: Instant::now(),
        age,
        fresh_for,
        vary,
    })
}

impl Instance for CacheInstance {
    fn call(&mut self, host: &mut dyn Host, args: &[Value]) -> Call {
        let (mode, parts) = match args.split_first() {
            Some((m, rest)) => (m.as_text().unwrap_or(""), rest),
            None => ("", args),
        };
        match mode {
            "lookup" => self.lookup(host, parts),
            "store" => self.keep(host, parts),
            _ => Call::Continue,
        }
    }
}

#[cfg(test)]
mod tests;
