//! Real programs on either side of gw: curl as the client on the main paths, nginx as the
//! upstream (when installed).

use std::fs;

use crate::support::gw::TempDir;
use crate::support::tools::{Nginx, curl};
use crate::support::*;

on_both_drivers! {
    curl_main_paths => curl_main_paths_uring, curl_main_paths_epoll;
    nginx_upstream => nginx_upstream_uring, nginx_upstream_epoll;
}

fn curl_main_paths(d: Driver) {
    let big = pattern(8 * 1024 * 1024, 21);
    let served = big.clone();
    let up = Upstream::start("u", move |r| match r.path() {
        "/big" => Reply::text(served.clone()),
        "/chunked" => Reply::Chunked {
            status: 200,
            headers: vec![],
            chunks: vec![b"a".to_vec(), b"bc".to_vec()],
        },
        _ => Reply::Echo,
    });
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let tmp = TempDir::new();
    let file = |name: &str| tmp.path().join(name).display().to_string();

    // GET with a header; status, headers and body written to files.
    let out = curl(&[
        "-H",
        "X-Test: curl",
        "-D",
        &file("h1"),
        "-o",
        &file("b1"),
        "-w",
        "%{http_code}",
        &gw.url("/c/get?x=1"),
    ]);
    assert_eq!(out.stdout, "200");
    let body: serde_json::Value = serde_json::from_slice(&fs::read(file("b1")).unwrap()).unwrap();
    assert_eq!(body["path"], "/c/get?x=1");
    assert!(
        fs::read_to_string(file("h1"))
            .unwrap()
            .to_ascii_lowercase()
            .contains("x-up-name: u")
    );
    assert_eq!(up.traffic().pop().unwrap().header("x-test"), Some("curl"));

    // Uploads: 1 MiB with Content-Length, then chunked.
    let upload = pattern(1024 * 1024, 22);
    fs::write(file("upload"), &upload).unwrap();
    let data = format!("@{}", file("upload"));
    for extra in [None, Some("Transfer-Encoding: chunked")] {
        let mut args = vec![
            "--data-binary",
            &data,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ];
        if let Some(h) = extra {
            args.extend(["-H", h]);
        }
        let url = gw.url("/c/upload");
        args.push(&url);
        assert_eq!(curl(&args).stdout, "200", "{extra:?}");
        let got = up.traffic().pop().unwrap();
        assert_eq!(got.method, "POST");
        assert_eq!(
            first_difference(&got.body, &upload),
            None,
            "{extra:?}: upload differs"
        );
    }

    // 8 MiB download, and a chunked one.
    curl(&["-o", &file("big"), &gw.url("/big")]);
    assert_eq!(
        first_difference(&fs::read(file("big")).unwrap(), &big),
        None,
        "download differs"
    );
    assert_eq!(curl(&[&gw.url("/chunked")]).stdout, "abc");

    // HEAD, and two URLs on one reused connection.
    let out = curl(&[
        "-I",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &gw.url("/c/head"),
    ]);
    assert_eq!(out.stdout, "200");
    let out = curl(&[
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{num_connects}\n",
        &gw.url("/c/one"),
        &gw.url("/c/two"),
    ]);
    assert_eq!(
        out.stdout, "1\n0\n",
        "curl had to reconnect: {}",
        out.stderr
    );
}

fn nginx_upstream(d: Driver) {
    let page = pattern(1024 * 1024, 23);
    let server = "    location = /hello { return 200 \"nginx:$request_method:$uri:$http_x_forwarded_for\"; }\n\
                  location /static/ { }";
    let Some(nginx) = Nginx::start(server, &[("static/page.bin", &page)]) else {
        println!("nginx is not installed: the nginx upstream test was not run");
        return;
    };
    let gw = Gw::start(d, &proxy_all(nginx.addr));
    let mut c = gw.connect();
    for _ in 0..3 {
        let r = c.get("/hello");
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "nginx:GET:/hello:127.0.0.1")
        );
    }
    let r = c.get("/static/page.bin");
    assert_eq!(r.status, 200);
    assert_eq!(
        first_difference(&r.body, &page),
        None,
        "static file through gw differs"
    );
    let r = c.request("HEAD", "/static/page.bin", &[], b"");
    assert_eq!(
        (r.status, r.header("content-length")),
        (200, Some("1048576"))
    );
    assert_eq!(c.get("/nope").status, 404, "nginx's 404 passes through");
}
