//! `gw check`, `gw fmt` and `gw disasm`: the DSL tools, no network.

use std::io::Write;
use std::path::Path;

use gw_compiler::{Compiled, Options};
use gw_syntax::Parsed;

/// Parse and compile one file, printing diagnostics (rustc style) to stderr.
/// Returns the compiled result when it had no errors.
pub fn load(path: &Path, available_plugins: Option<Vec<String>>) -> Option<(Parsed, Compiled)> {
    let parsed = gw_syntax::parse_file(path);
    let mut diags = parsed.diagnostics.clone();
    let compiled = if diags.iter().any(|d| d.is_error()) {
        None
    } else {
        let opts = Options {
            available_plugins,
            ..Options::default()
        };
        let compiled = gw_compiler::compile(&parsed, &opts);
        diags.extend(compiled.diagnostics.iter().cloned());
        Some(compiled)
    };
    if !diags.is_empty() {
        eprint!("{}", gw_syntax::render_all(&diags, &parsed.sources));
    }
    match compiled {
        Some(c) if c.image.is_some() => Some((parsed, c)),
        _ => None,
    }
}

/// `gw check FILE...`: exit 0 when every file is valid, 1 otherwise.
pub fn check(args: &[String]) -> i32 {
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if files.is_empty() {
        eprintln!("usage: gw check FILE...");
        return 2;
    }
    let mut ok = true;
    for f in files {
        match load(Path::new(f), None) {
            Some((_, c)) => {
                let routes = c.image.as_ref().map_or(0, |i| i.routes.len());
                eprintln!("{f}: ok ({routes} routes)");
            }
            None => ok = false,
        }
    }
    if ok { 0 } else { 1 }
}

/// `gw fmt [--check] FILE...`: print the canonical form, or with `--check` exit 1 when a file
/// is not already in it.
pub fn fmt(args: &[String]) -> i32 {
    let check = args.iter().any(|a| a == "--check");
    let write = args.iter().any(|a| a == "--write" || a == "-w");
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if files.is_empty() {
        eprintln!("usage: gw fmt [--check | --write] FILE...");
        return 2;
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

/// `gw disasm FILE [--route 'METHOD /pattern']`
pub fn disasm(args: &[String]) -> i32 {
    let mut file = None;
    let mut route = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--route" => route = it.next().cloned(),
            _ if file.is_none() => file = Some(a.clone()),
            _ => {
                eprintln!("usage: gw disasm FILE [--route 'METHOD /pattern']");
                return 2;
            }
        }
    }
    let Some(file) = file else {
        eprintln!("usage: gw disasm FILE [--route 'METHOD /pattern']");
        return 2;
    };
    let Some((_, compiled)) = load(Path::new(&file), None) else {
        return 1;
    };
    let Some(image) = compiled.image else {
        return 1;
    };
    let out = gw_program::disasm::disasm_image(&image, route.as_deref());
    if out.is_empty() {
        eprintln!("error: no route matches `{}`", route.unwrap_or_default());
        return 1;
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    0
}
