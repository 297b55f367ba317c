//! Running the real `gw` binary: locating (and if needed building) it, one process per test
//! with its config in a temp dir, killed on drop.
//!
//! The binary is `target/<profile>/gw` next to this test executable (`GW_BIN` overrides).
//! When it is missing it is built once with `cargo build -p gw`; when it exists it is used as
//! is, so run `cargo build -p gw` first after changing gw (CI does).

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use super::client::Client;
use super::upstream::free_port;

/// The I/O driver a test runs gw on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Uring,
    Epoll,
}

impl Driver {
    /// The `--driver` argument.
    pub fn flag(self) -> &'static str {
        match self {
            Driver::Uring => "uring",
            Driver::Epoll => "epoll",
        }
    }

    /// How the listening line names it.
    pub fn label(self) -> &'static str {
        match self {
            Driver::Uring => "io_uring",
            Driver::Epoll => "epoll",
        }
    }
}

/// Path of the gw binary, brought up to date on first use (`cargo build -p gw`).
pub fn gw_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("GW_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("current exe");
        // target/<profile>/deps/e2e-HASH -> target/<profile>
        let deps = exe
            .parent()
            .filter(|d| d.file_name().is_some_and(|n| n == "deps"));
        let profile_dir = deps.and_then(Path::parent).unwrap_or_else(|| {
            panic!(
                "{} is not in target/<profile>/deps: set GW_BIN",
                exe.display()
            )
        });
        let bin = profile_dir.join("gw");
        // always: a gw binary left from an older tree would be tested otherwise (a no-op when
        // it is up to date)
        build_gw(profile_dir);
        assert!(
            bin.exists(),
            "{} missing after `cargo build -p gw`",
            bin.display()
        );
        bin
    })
}

fn build_gw(profile_dir: &Path) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "gw"]).current_dir(workspace);
    // cargo test sets this for the test; a build script that watches it (ring's) would see a
    // change and rebuild, with everything above it, on every switch between the two
    cmd.env_remove("CARGO_MANIFEST_DIR");
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    if let Some(target_dir) = profile_dir.parent() {
        cmd.env("CARGO_TARGET_DIR", target_dir);
    }
    let status = cmd.status().expect("run cargo build -p gw");
    assert!(status.success(), "`cargo build -p gw` failed: {status}");
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("gw-e2e-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (SIGKILL) and reaped on drop.
pub struct Proc(pub Child);

impl Proc {
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Send a signal by name (`TERM`, `INT`) with kill(1): the crate forbids unsafe (libc).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} {} failed", self.id());
    }

    /// The exit status, if the process ends within `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How long gw may take from spawn to its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Attempts with a fresh port when gw reports its port in use.
const ADDR_IN_USE_RETRIES: usize = 5;

/// A running `gw run`, listening on a free loopback port.
pub struct Gw {
    // Declared first so the process dies before its directory is removed.
    pub proc: Proc,
    pub addr: SocketAddr,
    /// The `gw: listening on ...` line.
    pub banner: String,
    dir: TempDir,
}

impl Gw {
    /// Start gw on `driver` with `config`, to which `listen 127.0.0.1:PORT` is prepended.
    pub fn start(driver: Driver, config: &str) -> Gw {
        Gw::start_with(driver, config, &[])
    }

    /// As [`Gw::start`], with extra command-line arguments.
    pub fn start_with(driver: Driver, config: &str, args: &[&str]) -> Gw {
        Gw::start_listening(driver, "", config, args)
    }

    /// As [`Gw::start_with`], with options for the listener (`{ allow_in_path "%2F" }`).
    pub fn start_listening(driver: Driver, listen: &str, config: &str, args: &[&str]) -> Gw {
        Gw::start_env(driver, listen, config, args, &[])
    }

    /// As [`Gw::start_listening`], with variables added to gw's environment.
    pub fn start_env(
        driver: Driver,
        listen: &str,
        config: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Gw {
        // A port found free by bind :0 can be taken (by another test's socket) before gw
        // binds it: try another one then.
        for _ in 0..ADDR_IN_USE_RETRIES {
            match Gw::try_start(driver, listen, config, args, env) {
                Ok(gw) => return gw,
                Err(dir) => drop(dir),
            }
        }
        panic!("gw found its port in use {ADDR_IN_USE_RETRIES} times");
    }

    /// Err (with the spent temp dir) only when the port was taken; panics on other failures.
    fn try_start(
        driver: Driver,
        listen: &str,
        config: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Gw, TempDir> {
        let port = free_port();
        let config = format!("listen 127.0.0.1:{port} {listen}\n{config}");
        let dir = TempDir::new();
        let (mut proc, stdout) = spawn_gw(&dir, &config, driver, args, env);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let scheme = if listen.trim_start().starts_with("tls") {
            "https"
        } else {
            "http"
        };
        let want = format!("gw: listening on {scheme}://{addr} (");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let banner = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.starts_with(&want) => break line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!(
                    "gw did not print `{want}...` within {START_TIMEOUT:?}\n{}",
                    report(&dir, &config)
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = proc.wait_timeout(Duration::from_secs(2));
                    let stderr = fs::read_to_string(dir.path().join("stderr.log"));
                    if stderr.is_ok_and(|e| e.contains("Address already in use")) {
                        drop(proc);
                        return Err(dir);
                    }
                    panic!(
                        "gw exited before listening ({status:?})\n{}",
                        report(&dir, &config)
                    )
                }
            }
        };
        Ok(Gw {
            proc,
            addr,
            banner,
            dir,
        })
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// One request on a fresh connection.
    pub fn get(&self, target: &str) -> super::client::Response {
        self.connect().get(target)
    }

    pub fn url(&self, target: &str) -> String {
        format!("http://{}{target}", self.addr)
    }

    /// The directory gw runs from: its config is `e2e.gw` there.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// gw's stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
}

fn spawn_gw(
    dir: &TempDir,
    config: &str,
    driver: Driver,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Proc, std::process::ChildStdout) {
    let file = dir.path().join("e2e.gw");
    fs::write(&file, config).expect("write config");
    let stderr = File::create(dir.path().join("stderr.log")).expect("stderr file");
    let mut child = Command::new(gw_bin())
        .arg("run")
        .arg(&file)
        .args(["--driver", driver.flag()])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", gw_bin().display()));
    let stdout = child.stdout.take().expect("piped stdout");
    (Proc(child), stdout)
}

fn report(dir: &TempDir, config: &str) -> String {
    let stderr = fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    format!("--- config ---\n{config}\n--- stderr ---\n{stderr}")
}

/// Outcome of a `gw run` that is expected to fail.
pub struct Failed {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The config file path as passed to gw.
    pub file: PathBuf,
}

/// Run `gw run` on a config that must not start (`config` used verbatim); it must exit
/// within 10 s.
pub fn run_expecting_exit(driver: Driver, config: &str) -> Failed {
    let dir = TempDir::new();
    let file = dir.path().join("e2e.gw");
    fs::write(&file, config).expect("write config");
    let mut proc = Proc(
        Command::new(gw_bin())
            .arg("run")
            .arg(&file)
            .args(["--driver", driver.flag()])
            .stdin(Stdio::null())
            .stdout(File::create(dir.path().join("stdout.log")).expect("stdout file"))
            .stderr(File::create(dir.path().join("stderr.log")).expect("stderr file"))
            .spawn()
            .expect("spawn gw"),
    );
    let status = proc
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("gw kept running on a bad config\n{}", report(&dir, config)));
    Failed {
        status,
        stdout: fs::read_to_string(dir.path().join("stdout.log")).unwrap_or_default(),
        stderr: fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default(),
        file,
    }
}

/// Config lines for an upstream `name` over `servers`, with extra settings.
pub fn upstream_block(name: &str, servers: &[SocketAddr], extra: &str) -> String {
    let mut out = format!("upstream {name} {{\n");
    for s in servers {
        out.push_str(&format!("  server {s}\n"));
    }
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        out.push_str(&format!("  {}\n", line.trim()));
    }
    out.push_str("}\n");
    out
}

/// The common config: everything under `/` goes to one upstream `u`.
pub fn proxy_all(up: SocketAddr) -> String {
    format!(
        "{}route ANY /{{proxy+}} {{\n  upstream u\n}}\n",
        upstream_block("u", &[up], "")
    )
}
