//! Randomized comparison of the trie against the naive reference matcher.

use super::reference::{self, Expect};
use super::tests::key;
use super::*;

/// xorshift64*: deterministic, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const LITERALS: &[&str] = &["a", "b", "c"];
const ROUTE_METHODS: &[&str] = &["GET", "GET", "HEAD", "POST", "ANY", "DELETE", "post"];
const ROUTE_HOSTS: &[&str] = &[
    "",
    "",
    "",
    "api.example.com",
    "*.example.com",
    "*.b.example.com",
    "B.EXAMPLE.com",
];
const REQ_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "get"];
const REQ_HOSTS: &[&str] = &[
    "api.example.com",
    "API.example.com:8080",
    "b.example.com",
    "x.b.example.com",
    "x.example.com",
    "example.com",
    "other.org",
    "",
];

fn random_pattern(rng: &mut Rng) -> String {
    let len = rng.below(4);
    let mut p = String::new();
    for i in 0..len {
        p.push('/');
        match rng.below(6) {
            0..=2 => p.push_str(rng.pick(LITERALS)),
            3 | 4 => p.push_str("{p}"),
            _ if i + 1 == len => p.push_str("{g+}"),
            _ => p.push_str("{p}"),
        }
    }
    if p.is_empty() || rng.below(4) == 0 {
        p.push('/');
    }
    p
}

fn random_path(rng: &mut Rng) -> String {
    let len = rng.below(6);
    let mut p = String::new();
    for _ in 0..len {
        p.push('/');
        if rng.below(12) != 0 {
            p.push_str(rng.pick(&["a", "b", "c", "x", "yy"]));
        }
    }
    if p.is_empty() || rng.below(4) == 0 {
        p.push('/');
    }
    p
}

fn random_keys(rng: &mut Rng, n: usize) -> Vec<RouteKey> {
    (0..n)
        .map(|i| {
            let host = rng.pick(ROUTE_HOSTS);
            let host = (!host.is_empty()).then_some(host);
            key(
                host,
                rng.pick(ROUTE_METHODS),
                &random_pattern(rng),
                i as u32,
            )
        })
        .collect()
}

fn actual(r: &Router, host: &str, method: &str, path: &str) -> Expect {
    let mut params = vec![(1, 1)];
    match r.lookup(host, method, path, &mut params) {
        Lookup::Found { route } => Expect::Found { route, params },
        Lookup::MethodNotAllowed { allow } => Expect::NotAllowed(allow.to_owned()),
        Lookup::NotFound => Expect::NotFound,
    }
}

#[test]
fn lookup_agrees_with_the_reference_matcher() {
    let mut found = 0;
    let mut not_allowed = 0;
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let n = 1 + rng.below(40);
        let mut keys = random_keys(&mut rng, n);
        // Drop the later key of every conflicting pair, as the compiler would make the user do.
        let dropped: Vec<u32> = reference::conflicts(&keys).iter().map(|c| c.1).collect();
        keys.retain(|k| !dropped.contains(&k.route));
        let router = Router::build(&keys).expect("conflicts were removed");
        for _ in 0..200 {
            let host = rng.pick(REQ_HOSTS);
            let method = rng.pick(REQ_METHODS);
            let path = random_path(&mut rng);
            let want = reference::expect(&keys, host, method, &path);
            match want {
                Expect::Found { .. } => found += 1,
                Expect::NotAllowed(_) => not_allowed += 1,
                Expect::NotFound => {}
            }
            assert_eq!(
                actual(&router, host, method, &path),
                want,
                "seed {seed}: {method} {host} {path}\nkeys: {keys:#?}"
            );
        }
    }
    // The generator must exercise every outcome, or the comparison proves little.
    assert!(
        found > 10_000 && not_allowed > 1_000,
        "{found} {not_allowed}"
    );
}

#[test]
fn conflicts_agree_with_the_reference() {
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0xd1b5_4a32_d192_ed03));
        let n = 1 + rng.below(30);
        let keys = random_keys(&mut rng, n);
        let want = reference::conflicts(&keys);
        let got = match Router::build(&keys) {
            Ok(_) => Vec::new(),
            Err(cs) => cs.iter().map(|c| (c.first, c.second)).collect(),
        };
        assert_eq!(got, want, "seed {seed}: {keys:#?}");
    }
}
