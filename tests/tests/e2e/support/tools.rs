//! Real third-party programs the suite drives: curl as a client, nginx as an upstream.
//! scripts/install-test-deps.sh installs both.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::gw::{Proc, TempDir};
use super::upstream::free_port;

/// A program on PATH, or in /usr/sbin (where Debian puts nginx, often off a user's PATH).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// What one curl run printed.
pub struct CurlOutput {
    pub stdout: String,
    pub stderr: String,
}

/// Run `curl -sS --http1.1 --max-time 30 ARGS`; panics (with stderr) if curl fails.
pub fn curl(args: &[&str]) -> CurlOutput {
    let bin =
        find_program("curl").expect("curl is not installed: run scripts/install-test-deps.sh");
    let out = Command::new(bin)
        .args(["-sS", "--http1.1", "--max-time", "30"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "curl {args:?} failed ({}): {stderr}",
        out.status
    );
    CurlOutput { stdout, stderr }
}

/// nginx running as an upstream with a generated config in a temp dir; killed on drop.
pub struct Nginx {
    _proc: Proc,
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Nginx {
    /// Start nginx (`daemon off`, one process) with `server_body` inside its `server { }`,
    /// and `files` written under `<dir>/www`. None when nginx is not installed.
    pub fn start(server_body: &str, files: &[(&str, &[u8])]) -> Option<Nginx> {
        let bin = find_program("nginx")?;
        let dir = TempDir::new();
        let d = dir.path().display().to_string();
        let www = dir.path().join("www");
        for (name, bytes) in files {
            let path = www.join(name);
            fs::create_dir_all(path.parent().expect("file has a parent")).expect("mkdir www");
            fs::write(&path, bytes).expect("write www file");
        }
        let port = free_port();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             server {{\n    listen 127.0.0.1:{port};\n    root {d}/www;\n{server_body}\n  }}\n}}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path().join("stderr.log")).expect("stderr file"))
            .spawn()
            .expect("spawn nginx");
        let mut proc = Proc(child);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            let exited = proc.wait_timeout(Duration::from_millis(0));
            if exited.is_some() || Instant::now() >= deadline {
                let log = fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
                let err = fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                panic!("nginx did not start ({exited:?}): {log}\n{err}");
            }
            thread::sleep(Duration::from_millis(20));
        }
        Some(Nginx {
            _proc: proc,
            addr,
            _dir: dir,
        })
    }
}
