//! One worker's view of every upstream: per-server keep-alive pools (LIFO, so the warmest
//! connection is reused and cold ones age out), in-flight counts for least request, and
//! passive health (eject after N consecutive connect failures for a cool-down).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gw_program::ConfigImage;

use super::balance::{Balancer, Rng};
use super::stream::UpStream;
use crate::loaded::Loaded;
use crate::tls::UpstreamTls;

/// Idle connections kept per server and worker.
const MAX_IDLE: usize = 256;

/// One server of an upstream on this worker.
#[derive(Debug)]
pub struct ServerState {
    pub addr: SocketAddr,
    /// How to speak TLS to it (`server … tls`); `None`: plain TCP.
    pub tls: Option<Arc<UpstreamTls>>,
    idle: Vec<(UpStream, Instant)>,
    /// Consecutive connect failures.
    fails: u32,
    ejected_until: Option<Instant>,
    pub inflight: u32,
}

impl ServerState {
    /// Ejected by passive health at `now`.
    pub fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|until| now < until)
    }

    fn new(addr: SocketAddr, tls: Option<Arc<UpstreamTls>>) -> ServerState {
        ServerState {
            addr,
            tls,
            idle: Vec::new(),
            fails: 0,
            ejected_until: None,
            inflight: 0,
        }
    }
}

/// One upstream on this worker.
#[derive(Debug)]
pub struct UpstreamState {
    pub name: String,
    pub balancer: Balancer,
    pub servers: Vec<ServerState>,
    inflight: Vec<u32>,
    idle_timeout: Duration,
    max_fails: u32,
    fail_timeout: Duration,
}

/// Every upstream of the current config on this worker, indexed by upstream id.
#[derive(Debug)]
pub struct Upstreams {
    pub list: Vec<UpstreamState>,
    pub rng: Rng,
    /// Servers passive health ejected since the worker started.
    pub ejections: u64,
}

impl Upstreams {
    /// Build for `loaded`, taking over the pools of `old` (a reload) for servers that keep
    /// their upstream name and address.
    pub fn new(loaded: &Loaded, seed: u64, old: Option<Upstreams>) -> Upstreams {
        let image: &ConfigImage = &loaded.image;
        let ejections = old.as_ref().map_or(0, |o| o.ejections);
        let mut old = old.map(|o| o.list).unwrap_or_default();
        let list = image
            .upstreams
            .iter()
            .zip(loaded.addrs.iter().zip(&loaded.up_tls))
            .map(|(up, (addrs, tls))| {
                let weights: Vec<u32> = up.servers.iter().map(|s| s.weight).collect();
                let mut prev = old.iter_mut().find(|o| o.name == up.name);
                let servers = addrs
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        let mut s = ServerState::new(*a, tls.get(i).cloned().flatten());
                        let same_tls = |ps: &ServerState| match (&ps.tls, &s.tls) {
                            (None, None) => true,
                            (Some(x), Some(y)) => x.spec == y.spec,
                            _ => false,
                        };
                        if let Some(p) = prev.as_mut()
                            && let Some(ps) = p
                                .servers
                                .iter_mut()
                                .find(|ps| ps.addr == *a && same_tls(ps))
                        {
                            s.idle = std::mem::take(&mut ps.idle);
                        }
                        s
                    })
                    .collect::<Vec<_>>();
                UpstreamState {
                    name: up.name.clone(),
                    balancer: Balancer::new(up.balance, &weights),
                    inflight: vec![0; servers.len()],
                    servers,
                    idle_timeout: Duration::from_millis(image.timeouts.upstream_idle),
                    max_fails: up.max_fails,
                    fail_timeout: Duration::from_millis(up.fail_timeout),
                }
            })
            .collect();
        Upstreams {
            list,
            rng: Rng::new(seed),
            ejections,
        }
    }

    /// Pick a server of upstream `up`, skipping `exclude` (a server that just failed) when
    /// another is usable. `None`: no usable server.
    pub fn pick(
        &mut self,
        up: usize,
        hash: Option<u64>,
        exclude: Option<usize>,
        loaded: &Loaded,
        now: Instant,
    ) -> Option<usize> {
        let u = self.list.get_mut(up)?;
        for (f, s) in u.inflight.iter_mut().zip(&u.servers) {
            *f = s.inflight;
        }
        let servers = &u.servers;
        let board = &loaded.health;
        let healthy = |i: usize| {
            board.is_up(up, i)
                && servers
                    .get(i)
                    .is_some_and(|s| s.ejected_until.is_none_or(|until| now >= until))
        };
        let with_exclude = |i: usize| healthy(i) && Some(i) != exclude;
        let first = u
            .balancer
            .pick(hash, &u.inflight, &mut self.rng, with_exclude);
        match first {
            Some(i) => Some(i),
            None if exclude.is_some() => u.balancer.pick(hash, &u.inflight, &mut self.rng, healthy),
            None => None,
        }
    }

    fn server(&mut self, up: usize, server: usize) -> Option<&mut ServerState> {
        self.list.get_mut(up)?.servers.get_mut(server)
    }

    /// The server's address.
    pub fn addr(&self, up: usize, server: usize) -> Option<SocketAddr> {
        self.list.get(up)?.servers.get(server).map(|s| s.addr)
    }

    /// How to speak TLS to the server (`None`: plain TCP, or no such server).
    pub fn tls(&self, up: usize, server: usize) -> Option<Arc<UpstreamTls>> {
        self.list.get(up)?.servers.get(server)?.tls.clone()
    }

    /// A pooled connection to the server that has not sat idle too long and on which nothing
    /// has arrived since its last response. Bytes an idle upstream connection received (a
    /// second, unsolicited response; a late body after a HEAD) or its close would otherwise be
    /// read as the next client's response: such a connection is dropped, as nginx's
    /// keep-alive close handler does.
    pub fn take(&mut self, up: usize, server: usize, now: Instant) -> Option<UpStream> {
        let u = self.list.get_mut(up)?;
        let timeout = u.idle_timeout;
        let s = u.servers.get_mut(server)?;
        while let Some((mut conn, since)) = s.idle.pop() {
            if now.duration_since(since) < timeout && conn.is_quiet() {
                return Some(conn);
            }
        }
        None
    }

    /// Return a connection that finished a response cleanly (whatever arrives after this is
    /// found by [`Upstreams::take`], so it is asked once per reuse).
    pub fn put(&mut self, up: usize, server: usize, conn: UpStream, now: Instant) {
        if let Some(s) = self.server(up, server)
            && s.idle.len() < MAX_IDLE
        {
            s.idle.push((conn, now));
        }
    }

    /// Close connections idle for longer than the upstream idle timeout.
    pub fn sweep(&mut self, now: Instant) {
        for u in &mut self.list {
            let timeout = u.idle_timeout;
            for s in &mut u.servers {
                s.idle
                    .retain(|(_, since)| now.duration_since(*since) < timeout);
            }
        }
    }

    /// Count a request starting (`+1`) or ending (`-1`) on a server.
    pub fn track(&mut self, up: usize, server: usize, starting: bool) {
        if let Some(s) = self.server(up, server) {
            s.inflight = if starting {
                s.inflight + 1
            } else {
                s.inflight.saturating_sub(1)
            };
        }
    }

    /// An exchange with the server ended, as a failure of a kind its upstream counts
    /// (`max_fails N on …`) or not: `max_fails` failures in a row eject the server for
    /// `fail_timeout`, and a success ends the streak and any ejection.
    pub fn outcome(&mut self, up: usize, server: usize, failed: bool, now: Instant) {
        let Some(u) = self.list.get_mut(up) else {
            return;
        };
        let (max, cool) = (u.max_fails.max(1), u.fail_timeout);
        let Some(s) = u.servers.get_mut(server) else {
            return;
        };
        if !failed {
            s.fails = 0;
            if s.ejected_until.take().is_some() {
                crate::log::log!("upstream {} server {}: answers again", u.name, s.addr);
            }
            return;
        }
        s.fails += 1;
        if s.fails >= max {
            self.ejections += 1;
            s.ejected_until = Some(now + cool);
            s.fails = 0;
            crate::log::log!(
                "upstream {} server {}: ejected for {} ms after {max} failure(s) in a row",
                u.name,
                s.addr,
                cool.as_millis()
            );
        }
    }

    /// Some server of `up` is neither ejected nor failing its active check.
    pub fn healthy(&self, up: usize, loaded: &Loaded, now: Instant) -> bool {
        self.list.get(up).is_some_and(|u| {
            u.servers.iter().enumerate().any(|(i, s)| {
                loaded.health.is_up(up, i) && s.ejected_until.is_none_or(|t| now >= t)
            })
        })
    }

    /// Idle pooled connections in total.
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        self.list
            .iter()
            .flat_map(|u| &u.servers)
            .map(|s| s.idle.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gw_plugin::Registry;
    use gw_program::{Balance, Server, Upstream};
    use monoio::net::TcpStream;

    fn loaded(servers: &[&str]) -> Loaded {
        let up = Upstream {
            name: "app".into(),
            servers: servers
                .iter()
                .map(|s| {
                    let a: SocketAddr = s.parse().unwrap();
                    Server {
                        host: a.ip().to_string(),
                        port: a.port(),
                        weight: 1,
                        tls: None,
                    }
                })
                .collect(),
            balance: Balance::RoundRobin,
            connect_timeout: None,
            request_timeout: None,
            health: None,
            max_fails: 2,
            fail_on: Default::default(),
            fail_timeout: 60_000,
            host_header: None,
        };
        let image = ConfigImage {
            upstreams: vec![up],
            ..ConfigImage::default()
        };
        Loaded::load(image, &Registry::new(), None).unwrap()
    }

    #[test]
    fn passive_health_ejects_after_consecutive_failures() {
        let l = loaded(&["127.0.0.1:1", "127.0.0.1:2"]);
        let mut ups = Upstreams::new(&l, 1, None);
        let now = Instant::now();
        ups.outcome(0, 0, true, now);
        // one failure: still usable
        let picks: Vec<_> = (0..4)
            .map(|_| ups.pick(0, None, None, &l, now).unwrap())
            .collect();
        assert!(picks.contains(&0));
        ups.outcome(0, 0, true, now);
        for _ in 0..4 {
            assert_eq!(ups.pick(0, None, None, &l, now), Some(1));
        }
        // after the cool-down it is back
        let later = now + Duration::from_secs(61);
        let picks: Vec<_> = (0..4)
            .map(|_| ups.pick(0, None, None, &l, later).unwrap())
            .collect();
        assert!(picks.contains(&0));
        // active health marks the other one down: nothing usable at `now`
        l.health.set(0, 1, false);
        assert_eq!(ups.pick(0, None, None, &l, now), None);
        assert!(!ups.healthy(0, &l, now));
        assert!(ups.healthy(0, &l, later));
        l.health.set(0, 1, true);
        // a success ends a streak: two failures apart do not eject
        ups.outcome(0, 0, true, later);
        ups.outcome(0, 0, false, later);
        ups.outcome(0, 0, true, later);
        let picks: Vec<_> = (0..4)
            .map(|_| ups.pick(0, None, None, &l, later).unwrap())
            .collect();
        assert!(picks.contains(&0));
    }

    #[test]
    fn exclude_is_a_preference() {
        let l = loaded(&["127.0.0.1:1", "127.0.0.1:2"]);
        let mut ups = Upstreams::new(&l, 1, None);
        let now = Instant::now();
        for _ in 0..4 {
            assert_eq!(ups.pick(0, None, Some(0), &l, now), Some(1));
        }
        l.health.set(0, 1, false);
        assert_eq!(ups.pick(0, None, Some(0), &l, now), Some(0));
    }

    #[test]
    fn a_pooled_connection_that_received_bytes_or_closed_is_not_reused() {
        crate::Driver::Legacy
            .block_on(false, async {
                use std::io::Write;
                let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = server.local_addr().unwrap();
                let l = loaded(&[&addr.to_string()]);
                let mut ups = Upstreams::new(&l, 1, None);
                let now = Instant::now();
                let quiet = TcpStream::connect_addr(addr).await.unwrap();
                let (_quiet_peer, _) = server.accept().unwrap();
                let noisy = TcpStream::connect_addr(addr).await.unwrap();
                let (mut noisy_peer, _) = server.accept().unwrap();
                let closed = TcpStream::connect_addr(addr).await.unwrap();
                let (closed_peer, _) = server.accept().unwrap();
                let quiet_local = quiet.local_addr().unwrap();
                ups.put(0, 0, UpStream::Plain(quiet), now);
                ups.put(0, 0, UpStream::Plain(noisy), now);
                ups.put(0, 0, UpStream::Plain(closed), now);
                noisy_peer
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!")
                    .unwrap();
                drop(closed_peer);
                monoio::time::sleep(Duration::from_millis(50)).await;
                let Some(UpStream::Plain(got)) = ups.take(0, 0, now) else {
                    panic!("the quiet connection")
                };
                assert_eq!(got.local_addr().unwrap(), quiet_local);
                assert_eq!(ups.idle_count(), 0);
            })
            .unwrap();
    }

    #[test]
    fn pool_is_lifo_and_ages_out() {
        crate::Driver::Legacy
            .block_on(false, async {
                let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = server.local_addr().unwrap();
                let l = loaded(&[&addr.to_string()]);
                let mut ups = Upstreams::new(&l, 1, None);
                let now = Instant::now();
                let a = TcpStream::connect_addr(addr).await.unwrap();
                let b = TcpStream::connect_addr(addr).await.unwrap();
                let b_local = b.local_addr().unwrap();
                ups.put(0, 0, UpStream::Plain(a), now);
                ups.put(0, 0, UpStream::Plain(b), now);
                assert_eq!(ups.idle_count(), 2);
                let Some(UpStream::Plain(got)) = ups.take(0, 0, now) else {
                    panic!("a pooled connection")
                };
                assert_eq!(got.local_addr().unwrap(), b_local);
                ups.sweep(now + Duration::from_secs(3600));
                assert_eq!(ups.idle_count(), 0);
                assert!(ups.take(0, 0, now).is_none());
                // a reload carries pools over by name and address
                ups.put(0, 0, UpStream::Plain(got), now);
                let carried = Upstreams::new(&l, 2, Some(ups));
                assert_eq!(carried.idle_count(), 1);
            })
            .unwrap();
    }
}
