//! REDbot (an independent HTTP linter, installed by scripts/install-test-deps.sh) checks gw's
//! own responses (a mock, 404, 405, an error page) and proxied ones: nothing it reports may be
//! a warning or worse. gw's own responses carry Date and `Cache-Control: no-store`; a proxied
//! response without a Date gets one.

use std::process::Command;

use crate::support::*;

on_both_drivers! {
    redbot_finds_nothing_to_fix => redbot_finds_nothing_to_fix_uring, redbot_finds_nothing_to_fix_epoll;
}

/// REDbot's notes on `url` as (level, summary).
fn redbot(url: &str) -> Vec<(String, String)> {
    let out = Command::new("redbot")
        .args(["-o", "har", url])
        .output()
        .expect("run redbot (scripts/install-test-deps.sh installs it)");
    assert!(out.status.success(), "redbot {url}: {out:?}");
    let har: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("redbot {url}: not HAR ({e}): {out:?}"));
    let notes = har["log"]["entries"][0]["_red_messages"]
        .as_array()
        .unwrap_or_else(|| panic!("redbot {url}: no notes in {har}"));
    notes
        .iter()
        .map(|n| {
            (
                n["level"].as_str().unwrap_or("").to_string(),
                n["summary"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn redbot_finds_nothing_to_fix(d: Driver) {
    let up = Upstream::start("u", |_| Reply::Response {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/plain".into()),
            ("cache-control".into(), "max-age=60".into()),
        ],
        body: b"proxied".to_vec(),
    });
    let config = format!(
        "{}route GET /hello {{\n  respond 200 json {{ ok: true }}\n}}\n\
route POST /only-post {{\n  respond 201\n}}\n\
route ANY /p/{{rest+}} {{\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let mut problems = Vec::new();
    for path in ["/hello", "/nowhere", "/only-post", "/p/a"] {
        let notes = redbot(&gw.url(path));
        assert!(
            notes.iter().any(|(l, _)| l == "GOOD"),
            "{path}: REDbot saw no response: {notes:?}"
        );
        for (level, summary) in notes {
            if level == "WARN" || level == "BAD" {
                problems.push(format!("{path}: {level} {summary}"));
            }
        }
    }
    assert!(problems.is_empty(), "REDbot:\n  {}", problems.join("\n  "));
}
