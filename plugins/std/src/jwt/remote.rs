//! A key set gw fetches itself (`jwks "http://…" refresh 10m`), shared by every worker.
//!
//! The set is one `ArcSwapOption`: a request loads it without a lock, a fetch replaces it
//! whole. Workers' ticks race for the due refresh through one atomic flag, so one fetch runs
//! at a time for the node. A failed fetch keeps the last good set; a request that names an
//! unknown `kid` may start a refetch, at most once per [`FORCED_EVERY_MS`].

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use gw_plugin::{HttpClient, HttpRequest};

use super::keys::{self, KeySet};

/// The least time between two refetches asked for by unknown `kid`s.
pub(crate) const FORCED_EVERY_MS: i64 = 10_000;
/// One fetch's timeout.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How soon a failed fetch is retried, at most (sooner when `refresh` is shorter).
const RETRY_MS: i64 = 10_000;
/// How soon a fetch is retried while gw has never had keys.
const FIRST_RETRY_MS: i64 = 1_000;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A JWKS URL, resolved at load, and the last key set fetched from it.
pub(crate) struct Remote {
    pub url: String,
    addr: SocketAddr,
    host: String,
    target: String,
    /// `https://`: fetched over TLS.
    pub tls: bool,
    refresh_ms: i64,
    keys: ArcSwapOption<KeySet>,
    next_due_ms: AtomicI64,
    last_forced_ms: AtomicI64,
    fetching: AtomicBool,
}

impl Remote {
    /// Parses `url` and resolves its host (on the control thread, at load).
    pub(crate) fn new(url: &str, refresh_ms: i64) -> Result<Remote, String> {
        let u = crate::service_url::ServiceUrl::resolve(url)?;
        Ok(Remote {
            url: url.to_string(),
            addr: u.addr,
            host: u.host,
            target: u.target,
            tls: u.tls,
            refresh_ms,
            keys: ArcSwapOption::empty(),
            next_due_ms: AtomicI64::new(0),
            last_forced_ms: AtomicI64::new(i64::MIN / 2),
            fetching: AtomicBool::new(false),
        })
    }

    /// Whether this remote fetches the same URL on the same schedule (a reload keeps its
    /// keys).
    pub(crate) fn same(&self, url: &str, refresh_ms: i64) -> bool {
        self.url == url && self.refresh_ms == refresh_ms
    }

    /// The last good key set; `None` while gw has never had one.
    pub(crate) fn keys(&self) -> Option<Arc<KeySet>> {
        self.keys.load_full()
    }

    /// The fetch, when the scheduled refresh is due at `now` and none runs.
    pub(crate) fn claim_due(self: &Arc<Self>, now: i64) -> Option<Claim> {
        (now >= self.next_due_ms.load(Ordering::Acquire)
            && !self.fetching.swap(true, Ordering::AcqRel))
        .then(|| Claim(self.clone()))
    }

    /// A refetch for an unknown `kid`: at most one per [`FORCED_EVERY_MS`]; while a fetch
    /// runs, the request waits for that one instead.
    pub(crate) fn claim_forced(self: &Arc<Self>, now: i64) -> Forced {
        if self.fetching.load(Ordering::Acquire) {
            return Forced::Running;
        }
        let last = self.last_forced_ms.load(Ordering::Acquire);
        if now.saturating_sub(last) < FORCED_EVERY_MS
            || self
                .last_forced_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return Forced::Limited;
        }
        if self.fetching.swap(true, Ordering::AcqRel) {
            Forced::Running
        } else {
            Forced::Start(Claim(self.clone()))
        }
    }

    /// Waits until the running fetch ends (it is bounded by its timeout). Another worker may
    /// run it, so this looks at the flag between short sleeps rather than being woken.
    pub(crate) async fn settled(self: Arc<Self>) {
        let deadline = std::time::Instant::now() + FETCH_TIMEOUT + Duration::from_secs(1);
        while self.fetching.load(Ordering::Acquire) && std::time::Instant::now() < deadline {
            monoio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// What an unknown `kid` may do about the key set.
pub(crate) enum Forced {
    /// Fetch it now.
    Start(Claim),
    /// A fetch is under way: wait for it.
    Running,
    /// A refetch ran less than [`FORCED_EVERY_MS`] ago.
    Limited,
}

/// The right to run the one fetch of a [`Remote`]; released when dropped, so a fetch that
/// is abandoned (its request gone, its worker stopping) never blocks the next.
pub(crate) struct Claim(Arc<Remote>);

impl Drop for Claim {
    fn drop(&mut self) {
        self.0.fetching.store(false, Ordering::Release);
    }
}

impl Claim {
    /// Fetches the set once (after a claim), stores it when it parses, schedules the next
    /// refresh and releases the claim. A failure keeps the last good set and is logged.
    pub(crate) async fn fetch(self, http: Rc<dyn HttpClient>, name: Arc<str>) {
        let remote = &self.0;
        let request = HttpRequest {
            method: "GET".into(),
            target: remote.target.clone(),
            host: remote.host.clone(),
            headers: vec![("accept".into(), "application/json".into())],
            body: Vec::new(),
            tls: remote.tls,
        };
        let got = http.send(remote.addr, request, FETCH_TIMEOUT).await;
        let result = match got {
            Ok(r) if r.status == 200 => keys::parse_jwks(&r.body, false),
            Ok(r) => Err(format!("status {}", r.status)),
            Err(e) => Err(format!("{e:?}")),
        };
        let now = now_ms();
        let next = match result {
            Ok(set) => {
                remote.keys.store(Some(Arc::new(set)));
                now.saturating_add(remote.refresh_ms)
            }
            Err(why) => {
                let had = remote.keys.load().is_some();
                gw_plugin::log::line(format_args!(
                    "jwt {name}: fetching {} failed ({why}); {}",
                    remote.url,
                    if had {
                        "keeping the last good key set"
                    } else {
                        "no keys yet: requests get 503"
                    }
                ));
                let retry = if had { RETRY_MS } else { FIRST_RETRY_MS };
                now.saturating_add(retry.min(remote.refresh_ms))
            }
        };
        remote.next_due_ms.store(next, Ordering::Release);
    }
}
