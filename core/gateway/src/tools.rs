//! `gw check`, `gw fmt` and `gw disasm`: the DSL tools. Only `gw check` looks beyond the
//! file: it resolves names and tries listen addresses as `gw run` would.

use std::io::Write;
use std::path::Path;

use gw_compiler::{Compiled, Options};
use gw_syntax::Parsed;

use crate::cli::{Args, Command, Opt};
use crate::run::{OnMachine, Prepared};

/// Parse and compile one file, printing diagnostics (rustc style) to stderr.
/// Returns the compiled result when it had no errors.
pub fn load(path: &Path, available_plugins: Option<Vec<String>>) -> Option<(Parsed, Compiled)> {
    let (compiled, diags) = load_quiet(path, available_plugins);
    eprint!("{diags}");
    compiled
}

/// As [`load`], with the rendered diagnostics returned instead of printed.
pub fn load_quiet(
    path: &Path,
    available_plugins: Option<Vec<String>>,
) -> (Option<(Parsed, Compiled)>, String) {
    let parsed = gw_syntax::parse_file(path);
    let mut diags = parsed.diagnostics.clone();
    let compiled = if diags.iter().any(|d| d.is_error()) {
        None
    } else {
        let opts = Options {
            // what this build serves is checked against what it compiles
            signatures: if available_plugins.is_some() {
                gw_plugins_std::registry().signatures()
            } else {
                Vec::new()
            },
            available_plugins,
            ..Options::default()
        };
        let compiled = gw_compiler::compile(&parsed, &opts);
        diags.extend(compiled.diagnostics.iter().cloned());
        Some(compiled)
    };
    let text = if diags.is_empty() {
        String::new()
    } else {
        gw_syntax::render_all(&diags, &parsed.sources)
    };
    match compiled {
        Some(c) if c.image.is_some() => (Some((parsed, c)), text),
        _ => (None, text),
    }
}

/// `gw check`: no options.
pub(crate) const CHECK: Command = Command {
    name: "check",
    operands: "FILE...",
    about: "what `gw run FILE` would refuse (exit 1) or warn about (exit 0), without serving",
    details: "Compiles against the policies this build serves, resolves upstream server names, \
              builds the plugins and tries each listen address, as `gw run` does before it \
              serves. What depends on this machine (an upstream name that does not resolve here, \
              a listen address in use, also by a gw already serving it) is a warning; the rest \
              is an error, printed as `gw run` prints it.",
    opts: &[],
    main: check,
};

/// `gw check FILE...`: for each file, every verdict `gw run FILE` would reach short of serving
/// (run.rs: `compile_file`, `prepare`), printed the same way; what depends on this machine is
/// a warning. Exit 0 when every file would be served, 1 otherwise.
fn check(args: Args) -> i32 {
    if args.operands.is_empty() {
        return crate::cli::usage_error(&CHECK, "missing FILE");
    }
    let mut ok = true;
    for f in &args.operands {
        let Some(image) = crate::run::compile_file(Path::new(f)) else {
            ok = false;
            continue;
        };
        let routes = image.routes.len();
        match crate::run::prepare(image, OnMachine::Warn) {
            Prepared::Ready(_) => eprintln!("{f}: ok ({routes} routes)"),
            Prepared::NotHere => {
                eprintln!("{f}: ok ({routes} routes), with warnings about this machine")
            }
            Prepared::Refused => ok = false,
        }
    }
    if ok { 0 } else { 1 }
}

/// `gw fmt`'s options.
pub(crate) const FMT: Command = Command {
    name: "fmt",
    operands: "FILE...",
    about: "print each file in the canonical formatting",
    details: "",
    opts: &[
        Opt::flag(
            "check",
            "name each file not in canonical form and exit 1, print no code",
        ),
        Opt::flag("write", "rewrite each file that is not formatted").short('w'),
    ],
    main: fmt,
};

/// `gw fmt [--check] FILE...`: print the canonical form, or with `--check` exit 1 when a file
/// is not already in it.
fn fmt(args: Args) -> i32 {
    let check = args.flag("check");
    let write = args.flag("write");
    if check && write {
        return crate::cli::usage_error(&FMT, "--check and --write exclude each other");
    }
    let files = &args.operands;
    if files.is_empty() {
        return crate::cli::usage_error(&FMT, "missing FILE");
    }
    let mut status = 0;
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {f}: {e}");
                status = 1;
                continue;
            }
        };
        match gw_syntax::format_source(f, &text) {
            Ok(out) if check => {
                if out != text {
                    eprintln!("{f}: not formatted (run `gw fmt --write {f}`)");
                    status = 1;
                }
            }
            Ok(out) if write => {
                if out != text
                    && let Err(e) = std::fs::write(f, out)
                {
                    eprintln!("error: cannot write {f}: {e}");
                    status = 1;
                }
            }
            Ok(out) => {
                let _ = std::io::stdout().write_all(out.as_bytes());
            }
            Err(diags) => {
                let mut sources = gw_syntax::SourceMap::default();
                sources.add(gw_syntax::SourceFile::new(f.clone(), f.into(), text, None));
                eprint!("{}", gw_syntax::render_all(&diags, &sources));
                status = 1;
            }
        }
    }
    status
}

/// `gw disasm`'s options.
pub(crate) const DISASM: Command = Command {
    name: "disasm",
    operands: "FILE",
    about: "each route's bytecode, each op with its .gw line",
    details: "",
    opts: &[Opt::value(
        "route",
        "'METHOD /pattern'",
        "only the route declared as `route METHOD /pattern`",
    )],
    main: disasm,
};

/// `gw disasm FILE [--route 'METHOD /pattern']`
fn disasm(args: Args) -> i32 {
    let route = args.value("route");
    let file = match args.operands.as_slice() {
        [file] => file,
        [] => return crate::cli::usage_error(&DISASM, "missing FILE"),
        [_, x, ..] => {
            return crate::cli::usage_error(&DISASM, &format!("unexpected argument `{x}`"));
        }
    };
    let Some((_, compiled)) = load(Path::new(file), None) else {
        return 1;
    };
    let Some(image) = compiled.image else {
        return 1;
    };
    let out = gw_program::disasm::disasm_image(&image, route);
    if out.is_empty() {
        eprintln!("error: no route matches `{}`", route.unwrap_or_default());
        return 1;
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    0
}
