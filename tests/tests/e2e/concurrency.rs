//! Many clients at once: 100 parallel keep-alive connections on 2 workers, and 300 on one
//! worker (past the 256 sockets a worker puts on multishot receive, so on io_uring the
//! client and upstream sockets mix both ways of receiving); every request answered once, and
//! the upstreams' counts add up.

use std::collections::BTreeSet;
use std::thread;

use crate::support::*;

on_both_drivers! {
    parallel_keep_alive => parallel_keep_alive_uring, parallel_keep_alive_epoll;
    past_the_multishot_limit => past_the_multishot_limit_uring, past_the_multishot_limit_epoll;
}

fn parallel_keep_alive(d: Driver) {
    parallel(d, 2, 100, 5);
}

fn past_the_multishot_limit(d: Driver) {
    parallel(d, 1, 300, 3);
}

fn parallel(d: Driver, workers: usize, connections: usize, requests: usize) {
    let (a, b) = (Upstream::echo("a"), Upstream::echo("b"));
    let config = format!(
        "workers {workers}\n{}route ANY /{{proxy+}} {{\n  upstream u\n}}\n",
        upstream_block("u", &[a.addr(), b.addr()], "balance round_robin")
    );
    let gw = Gw::start(d, &config);
    let addr = gw.addr;
    let clients: Vec<_> = (0..connections)
        .map(|i| {
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || -> Result<(), String> {
                    let mut c = Client::try_connect(addr).map_err(|e| format!("conn {i}: {e}"))?;
                    for j in 0..requests {
                        let path = format!("/par/{i}/{j}");
                        let wire = build_request("POST", &path, &[], path.as_bytes());
                        c.try_send(&wire)
                            .map_err(|e| format!("{path}: write: {e}"))?;
                        let r = c
                            .read_response("POST")
                            .map_err(|e| format!("{path}: {e}"))?;
                        if r.status != 200 || r.header("x-up-path") != Some(path.as_str()) {
                            return Err(format!(
                                "{path}: {} {:?}",
                                r.status,
                                r.header("x-up-path")
                            ));
                        }
                    }
                    Ok(())
                })
                .expect("spawn client")
        })
        .collect();
    let errors: Vec<String> = clients
        .into_iter()
        .filter_map(|t| t.join().unwrap().err())
        .collect();
    assert!(
        errors.is_empty(),
        "{} of {connections} clients failed: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );

    let mut seen = BTreeSet::new();
    for r in a.traffic().into_iter().chain(b.traffic()) {
        assert_eq!(r.body, r.target.as_bytes(), "body of {} mixed up", r.target);
        assert!(
            seen.insert(r.target.clone()),
            "{} reached the upstreams twice",
            r.target
        );
    }
    assert_eq!(seen.len(), connections * requests, "upstream counts");
    assert!(
        a.count() > 0 && b.count() > 0,
        "a {} b {}",
        a.count(),
        b.count()
    );
}
