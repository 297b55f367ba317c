//! gw-bench: inputs shared by the criterion benches (benches/) — the side-by-side proxy
//! benchmark is `bench/run.sh`.

use std::fmt::Write;

/// A `.gw` file with `n` routes in the shapes real APIs have: literal resources, `{id}`
/// parameters, nested sub-resources and a few greedy pass-throughs, with a realistic statement
/// mix (header transforms, guards, mocks).
pub fn generate_config(n: usize) -> String {
    let mut s = String::with_capacity(n * 120);
    s.push_str("listen 127.0.0.1:8080\n\nupstream api {\n  server 127.0.0.1:9000\n}\n\n");
    for i in 0..n {
        let svc = i / 10;
        let _ = match i % 10 {
            0 => writeln!(s, "route GET /svc{svc}/items {{\n  upstream api\n}}"),
            1 => writeln!(s, "route POST /svc{svc}/items {{\n  set header x-svc = \"{svc}\"\n  upstream api\n}}"),
            2 => writeln!(s, "route GET /svc{svc}/items/{{id}} {{\n  require path.id != \"0\" else 404\n  upstream api\n}}"),
            3 => writeln!(s, "route PUT /svc{svc}/items/{{id}} {{\n  upstream api\n}}"),
            4 => writeln!(s, "route DELETE /svc{svc}/items/{{id}} {{\n  remove header cookie\n  upstream api\n}}"),
            5 => writeln!(s, "route GET /svc{svc}/items/{{id}}/tags {{\n  upstream api\n}}"),
            6 => writeln!(s, "route GET /svc{svc}/items/{{id}}/tags/{{tag}} {{\n  respond 200 json {{ id: path.id, tag: path.tag }}\n}}"),
            7 => writeln!(s, "route GET /svc{svc}/health {{\n  respond 200 json {{ ok: true }}\n}}"),
            8 => writeln!(s, "route ANY /svc{svc}/files/{{rest+}} {{\n  upstream api\n}}"),
            _ => writeln!(s, "route PATCH /svc{svc}/items/{{id}} {{\n  set header x-id = path.id when has(header.x-trace)\n  upstream api\n}}"),
        };
    }
    s
}

/// Request paths that hit routes of [`generate_config`] (spread over the whole table).
pub fn sample_paths(n: usize, count: usize) -> Vec<(&'static str, String)> {
    let services = (n / 10).max(1);
    (0..count)
        .map(|i| {
            let svc = (i * 7919) % services;
            match i % 5 {
                0 => ("GET", format!("/svc{svc}/items")),
                1 => ("GET", format!("/svc{svc}/items/{i}")),
                2 => ("GET", format!("/svc{svc}/items/{i}/tags/blue")),
                3 => ("GET", format!("/svc{svc}/files/a/b/c.txt")),
                _ => ("DELETE", format!("/svc{svc}/items/{i}")),
            }
        })
        .collect()
}
