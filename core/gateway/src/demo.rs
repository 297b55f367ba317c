//! `gw demo [--port P]`: a built-in echo upstream on 127.0.0.1 (a random port) and gw in
//! front of it, configured by grammar/examples/quickstart.gw (embedded in the binary). The
//! quickstart's `upstream app` is pointed at the echo server after compiling.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use gw_program::Server as UpstreamServer;
use gw_runtime::{Options, Signals};

use crate::cli::{Args, Command, Opt};
use crate::run::{OnMachine, Prepared};

const QUICKSTART: &str = include_str!("../../../grammar/examples/quickstart.gw");

/// `gw demo`'s options.
pub(crate) const COMMAND: Command = Command {
    name: "demo",
    operands: "",
    about: "gw in front of a built-in echo upstream; prints curls to try",
    details: "Serves grammar/examples/quickstart.gw (built in) with one worker; Ctrl-C stops.",
    opts: &[
        Opt::value("port", "P", "the port gw listens on, on 127.0.0.1")
            .short('p')
            .default("8080, the quickstart's `listen`"),
    ],
    main,
};

fn parse_port(args: &Args) -> Result<Option<u16>, String> {
    if let Some(x) = args.operands.first() {
        return Err(format!("unexpected argument `{x}`"));
    }
    args.value("port")
        .map(|v| {
            v.parse()
                .map_err(|_| format!("--port: `{v}` is not a port"))
        })
        .transpose()
}

fn main(args: Args) -> i32 {
    let port = match parse_port(&args) {
        Ok(p) => p,
        Err(e) => return crate::cli::usage_error(&COMMAND, &e),
    };
    // before the echo server's threads start: every thread must inherit the blocked mask
    let signals = match Signals::block() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gw demo: cannot block signals: {e}");
            return 1;
        }
    };
    let echo = match gw_echo::start(SocketAddr::from(([127, 0, 0, 1], 0))) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gw demo: cannot start the echo upstream: {e}");
            return 1;
        }
    };
    // the compiler reads files: give it the embedded quickstart as one
    let path: PathBuf = std::env::temp_dir().join(format!("gw-demo-{}.gw", std::process::id()));
    if let Err(e) = std::fs::write(&path, QUICKSTART) {
        eprintln!("gw demo: cannot write {}: {e}", path.display());
        return 1;
    }
    let image = crate::run::compile_file(&path);
    let _ = std::fs::remove_file(&path);
    let Some(mut image) = image else { return 1 };
    for up in &mut image.upstreams {
        up.servers = vec![UpstreamServer {
            host: echo.ip().to_string(),
            port: echo.port(),
            weight: 1,
            tls: None,
        }];
    }
    if let Some(p) = port {
        for l in &mut image.listeners {
            l.addr.set_port(p);
        }
    }
    let Prepared::Ready(loaded) = crate::run::prepare(image, OnMachine::Refuse) else {
        return 1;
    };
    let loaded = Arc::new(loaded);
    let opts = Options {
        workers: Some(1),
        ..Options::default()
    };
    let Some(server) = crate::run::start(loaded.clone(), &opts) else {
        return 1;
    };
    let base = server
        .addrs()
        .first()
        .map(|a| format!("http://{a}"))
        .unwrap_or_default();
    println!("gw: echo upstream on http://{echo}; try:");
    println!("  curl -i {base}/hello");
    println!("  curl -i {base}/health");
    println!("  curl -i {base}/api/anything?x=1");
    println!(
        "  curl -i -X POST -H 'content-type: application/json' -d '{{\"a\":1}}' {base}/api/items"
    );
    println!("Ctrl-C stops.");
    crate::run::serve(server, &signals, loaded, None, None);
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Parsed;

    fn port(a: &[&str]) -> Result<Option<u16>, String> {
        let a: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        match COMMAND.parse(&a)? {
            Parsed::Args(a) => parse_port(&a),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn port_argument() {
        assert_eq!(port(&[]), Ok(None));
        assert_eq!(port(&["--port", "9090"]), Ok(Some(9090)));
        assert_eq!(port(&["-p", "9090"]), Ok(Some(9090)));
        assert!(port(&["--port", "x"]).is_err());
        assert!(port(&["--bogus"]).is_err());
        assert!(port(&["extra"]).is_err());
    }

    #[test]
    fn quickstart_has_the_app_upstream_demo_rewrites() {
        assert!(QUICKSTART.contains("upstream app"));
        // the default `--help` states
        assert!(QUICKSTART.contains("\nlisten 127.0.0.1:8080\n"));
    }
}
