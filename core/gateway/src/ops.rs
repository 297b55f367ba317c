//! `gw reload` and `gw diff`: what an operator asks a running gateway, and what a reload
//! would change.
//!
//! `gw run --pid-file F` writes its pid to `F` and, after each reload, `F.reload`:
//!
//! ```text
//! attempt 3
//! result ok
//! generation 4
//! summary 12 routes (+1 -0 ~2), 3 upstreams (~1), 4 policies
//! ---
//! <the diagnostics of a refused config>
//! ```
//!
//! `gw reload` notes the attempt number there, sends SIGHUP, and waits for a higher one.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gw_program::ConfigImage;

use crate::cli::{Args, Command, Opt};

/// How long `gw reload` waits for the outcome (a config with many files compiles in well
/// under a second; resolving upstream names can take longer).
const RELOAD_WAIT: Duration = Duration::from_secs(60);

pub(crate) const RELOAD: Command = Command {
    name: "reload",
    operands: "",
    about: "make a running `gw run --pid-file F` reload its config and print the outcome",
    details: "Sends SIGHUP to the pid in the pid file, then waits for the outcome gw writes \
              beside it (FILE.reload): the new generation and what changed, or the diagnostics \
              of a refused config, which leaves the previous one serving (exit 1).",
    opts: &[Opt::value(
        "pid-file",
        "FILE",
        "the pid file `gw run --pid-file` writes",
    )
    .default("/run/gw.pid")],
    main: reload_main,
};

pub(crate) const DIFF: Command = Command {
    name: "diff",
    operands: "OLD NEW",
    about: "the routes, upstreams, policies and settings a reload from OLD to NEW would change",
    details: "Compiles both files (every policy of the language) and lists what is added (+), \
              removed (-) and changed (~). Exit 0 when a reload would change nothing, 1 when it \
              would, 2 when a file does not compile.",
    opts: &[],
    main: diff_main,
};

fn outcome_path(pid: &Path) -> PathBuf {
    let mut p = pid.as_os_str().to_owned();
    p.push(".reload");
    PathBuf::from(p)
}

/// Record a reload's outcome beside the pid file, atomically (write, then rename).
pub(crate) fn write_reload_outcome(
    pid: &Path,
    attempt: u64,
    generation: u64,
    outcome: Result<&str, &String>,
) {
    let mut text = format!("attempt {attempt}\n");
    match outcome {
        Ok(summary) => {
            let _ = write!(
                text,
                "result ok\ngeneration {generation}\nsummary {summary}\n---\n"
            );
        }
        Err(diags) => {
            let _ = write!(text, "result failed\ngeneration {generation}\n---\n{diags}");
        }
    }
    let path = outcome_path(pid);
    let tmp = {
        let mut t = path.as_os_str().to_owned();
        t.push(".tmp");
        PathBuf::from(t)
    };
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        gw_runtime::log::line(format_args!("cannot write {}: {e}", path.display()));
    }
}

/// The attempt number in an outcome file (0 when there is none yet).
fn attempt_of(text: &str) -> u64 {
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("attempt "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn reload_main(args: Args) -> i32 {
    if let Some(x) = args.operands.first() {
        return crate::cli::usage_error(&RELOAD, &format!("unexpected argument `{x}`"));
    }
    let pid_file = PathBuf::from(args.value("pid-file").unwrap_or("/run/gw.pid"));
    let pid: i32 = match std::fs::read_to_string(&pid_file) {
        Ok(t) => match t.trim().parse() {
            Ok(p) if p > 0 => p,
            _ => {
                eprintln!("error: {} does not hold a pid", pid_file.display());
                return 1;
            }
        },
        Err(e) => {
            eprintln!(
                "error: cannot read {}: {e} (is gw running with `--pid-file {}`?)",
                pid_file.display(),
                pid_file.display()
            );
            return 1;
        }
    };
    let outcome = outcome_path(&pid_file);
    let before = std::fs::read_to_string(&outcome).map_or(0, |t| attempt_of(&t));
    if let Err(e) = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    ) {
        eprintln!("error: cannot signal gw (pid {pid}): {e}");
        return 1;
    }
    let deadline = Instant::now() + RELOAD_WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(&outcome)
            && attempt_of(&text) > before
        {
            let (head, diags) = text.split_once("---\n").unwrap_or((&text, ""));
            let field = |k: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(str::trim)
                    .unwrap_or("")
            };
            if field("result ") == "ok" {
                print!("{diags}");
                println!(
                    "reloaded: generation {}, {}",
                    field("generation "),
                    field("summary ")
                );
                return 0;
            }
            eprint!("{diags}");
            eprintln!(
                "reload refused: generation {} keeps serving",
                field("generation ")
            );
            return 1;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "error: gw (pid {pid}) wrote no outcome to {} within {}s",
                outcome.display(),
                RELOAD_WAIT.as_secs()
            );
            return 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What changed between two images, by kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// `(kind, sign, name)`: sign `+`, `-` or `~`.
    pub items: Vec<(&'static str, char, String)>,
}

/// A route's programs and settings as text, without source locations (a line added above a
/// route moves it without changing it).
fn route_text(img: &ConfigImage, name: &str) -> String {
    let text = gw_program::disasm_image(img, Some(name));
    let loc = img
        .routes
        .iter()
        .find(|r| r.name == name)
        .map(|r| format!("{}:{}", r.request.file, r.request.line))
        .unwrap_or_default();
    text.lines()
        .map(|l| {
            let l = l.split(" ; ").next().unwrap_or(l);
            let l = if loc.is_empty() {
                l.to_owned()
            } else {
                l.replace(&loc, "")
            };
            l.trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn changes(old: &ConfigImage, new: &ConfigImage) -> Changes {
    let mut c = Changes::default();
    let mut names =
        |kind: &'static str, a: Vec<String>, b: Vec<String>, same: &dyn Fn(&str) -> bool| {
            for n in &b {
                if !a.contains(n) {
                    c.items.push((kind, '+', n.clone()));
                } else if !same(n) {
                    c.items.push((kind, '~', n.clone()));
                }
            }
            for n in &a {
                if !b.contains(n) {
                    c.items.push((kind, '-', n.clone()));
                }
            }
        };
    let routes = |i: &ConfigImage| i.routes.iter().map(|r| r.name.clone()).collect();
    names("route", routes(old), routes(new), &|n| {
        route_text(old, n) == route_text(new, n)
    });
    let ups = |i: &ConfigImage| i.upstreams.iter().map(|u| u.name.clone()).collect();
    names("upstream", ups(old), ups(new), &|n| {
        old.upstreams.iter().find(|u| u.name == n) == new.upstreams.iter().find(|u| u.name == n)
    });
    let key = |p: &gw_program::PluginSpec| format!("{} {}", p.plugin, p.state_key);
    let specs = |i: &ConfigImage| {
        let mut v: Vec<String> = i.plugins.iter().map(key).collect();
        v.dedup();
        v
    };
    let args_of = |i: &ConfigImage, n: &str| {
        i.plugins
            .iter()
            .find(|p| key(p) == n)
            .map(|p| p.args.clone())
    };
    names("policy", specs(old), specs(new), &|n| {
        args_of(old, n) == args_of(new, n)
    });
    let listen = |i: &ConfigImage| i.listeners.iter().map(|l| l.addr.to_string()).collect();
    names("listen", listen(old), listen(new), &|n| {
        old.listeners.iter().find(|l| l.addr.to_string() == n)
            == new.listeners.iter().find(|l| l.addr.to_string() == n)
    });
    for (what, same) in [
        ("admin", old.admin == new.admin),
        ("workers", old.workers == new.workers),
        ("limits", old.limits == new.limits),
        ("timeouts", old.timeouts == new.timeouts),
        ("log", old.access_log == new.access_log),
        ("tracing", old.tracing == new.tracing),
        ("on error", error_pages(old) == error_pages(new)),
    ] {
        if !same {
            c.items.push(("setting", '~', what.to_owned()));
        }
    }
    c
}

fn error_pages(i: &ConfigImage) -> Vec<(Vec<u16>, String)> {
    i.error_pages
        .iter()
        .map(|p| {
            let text = gw_program::disasm_program(&p.program, "error", Some(i));
            let text: Vec<&str> = text
                .lines()
                .skip(1)
                .map(|l| l.split(" ; ").next().unwrap_or(l).trim_end())
                .collect();
            (p.statuses.clone(), text.join("\n"))
        })
        .collect()
}

/// One line for the log: `12 routes (+1 -0 ~2), 3 upstreams (~1), 4 policies`.
pub(crate) fn summary(old: &ConfigImage, new: &ConfigImage) -> String {
    let c = changes(old, new);
    let count = |kind: &str, sign: char| {
        c.items
            .iter()
            .filter(|(k, s, _)| *k == kind && *s == sign)
            .count()
    };
    let part = |kind: &str, total: usize, noun: &str| {
        let (a, r, m) = (count(kind, '+'), count(kind, '-'), count(kind, '~'));
        if a + r + m == 0 {
            format!("{total} {noun}")
        } else {
            format!("{total} {noun} (+{a} -{r} ~{m})")
        }
    };
    let mut s = format!(
        "{}, {}, {}",
        part("route", new.routes.len(), "routes"),
        part("upstream", new.upstreams.len(), "upstreams"),
        part("policy", new.plugins.len(), "policies")
    );
    let settings: Vec<String> = c
        .items
        .iter()
        .filter_map(|(k, sign, n)| match *k {
            "setting" => Some(n.clone()),
            "listen" => Some(format!("listen {sign}{n}")),
            _ => None,
        })
        .collect();
    if !settings.is_empty() {
        let _ = write!(s, "; changed: {}", settings.join(", "));
    }
    s
}

fn diff_main(args: Args) -> i32 {
    let [old, new] = args.operands.as_slice() else {
        return crate::cli::usage_error(&DIFF, "expected two files: OLD NEW");
    };
    let compile = |f: &String| crate::tools::load(Path::new(f), None).and_then(|(_, c)| c.image);
    let (Some(a), Some(b)) = (compile(old), compile(new)) else {
        return 2;
    };
    let c = changes(&a, &b);
    if c.items.is_empty() {
        println!("no changes: a reload would serve the same config");
        return 0;
    }
    for kind in ["listen", "setting", "route", "upstream", "policy"] {
        for (_, sign, name) in c.items.iter().filter(|(k, _, _)| *k == kind) {
            println!("{sign} {kind} {name}");
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(text: &str) -> ConfigImage {
        let parsed = gw_syntax::parse_source("t.gw", text);
        gw_compiler::compile(&parsed, &gw_compiler::Options::default())
            .image
            .expect("compiles")
    }

    #[test]
    fn changes_ignore_moved_lines_and_name_what_changed() {
        let a = image(
            "listen :8080\nupstream u { server 127.0.0.1:9000 }\nroute GET /a { upstream u }\nroute GET /b { respond 200 }\n",
        );
        let b = image(
            "listen :8080\n\n# moved down a line\nupstream u { server 127.0.0.1:9001 }\nroute GET /a { upstream u }\nroute GET /c { respond 200 }\nlog { to stdout }\n",
        );
        let c = changes(&a, &b);
        assert!(c.items.contains(&("upstream", '~', "u".into())), "{c:?}");
        assert!(c.items.contains(&("route", '+', "GET /c".into())));
        assert!(c.items.contains(&("route", '-', "GET /b".into())));
        assert!(!c.items.iter().any(|(_, _, n)| n == "GET /a"), "{c:?}");
        assert!(c.items.contains(&("setting", '~', "log".into())));
        assert_eq!(changes(&a, &a), Changes::default());
        assert_eq!(
            summary(&a, &b),
            "2 routes (+1 -1 ~0), 1 upstreams (+0 -0 ~1), 0 policies; changed: log"
        );
        assert_eq!(attempt_of("attempt 12\nresult ok\n"), 12);
        assert_eq!(attempt_of(""), 0);
    }
}
