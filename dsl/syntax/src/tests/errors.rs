//! Every syntax error code, with its rendered output asserted in full.

use std::path::{Path, PathBuf};

use super::support::{codes, rendered};
use crate::*;

#[track_caller]
fn check(src: &str, want: &str) {
    assert_eq!(rendered(src), want, "source:\n{src}");
}

#[test]
fn e0101_misspelt_declaration_keyword() {
    check(
        "listen :8080\n\nupsteam pets {\n  server 10.0.1.10:8080\n}\n",
        "error[E0101]: expected a declaration such as `route`, `upstream`, `listen` or `jwt`, found `upsteam`
 --> t.gw:3:1
  |
3 | upsteam pets {
  | ^^^^^^^ expected a declaration
  |
  = help: did you mean `upstream`?

error: could not compile `t.gw` due to 1 previous error
",
    );
}

#[test]
fn e0101_one_error_per_route() {
    check(
        "route GET /a {\n  upstraem app\n}\n\nroute GET /b {\n  respond 200 jsn { ok: true }\n}\n\nroute GET /c {\n  set header x-c = = \"c\"\n}\n\nroute GET /d {\n  upstream app\n}\n",
        "error[E0101]: expected a statement such as `upstream`, `respond`, `require`, `set header` or `}`, found `upstraem`
 --> t.gw:2:3
  |
2 |   upstraem app
  |   ^^^^^^^^ expected a statement or `}`
  |
  = help: did you mean `upstream`?

error[E0101]: expected a body (`json {…}`, `text \"…\"`), `when`, `headers` or end of line, found `jsn`
 --> t.gw:6:15
  |
6 |   respond 200 jsn { ok: true }
  |               ^^^ expected a body, `when`, `headers` or end of line
  |
  = help: did you mean `json`?

error[E0101]: expected an expression, found `=`
  --> t.gw:10:20
   |
10 |   set header x-c = = \"c\"
   |                    ^ expected an expression

error: could not compile `t.gw` due to 3 previous errors
",
    );
    // The fourth route survived the recovery.
    let p = parse_source(
        "t.gw",
        "route GET /a {\n  upstraem app\n}\nroute GET /d {\n  upstream app\n}\n",
    );
    assert_eq!(p.config.items.len(), 1);
}

#[test]
fn e0101_methods_are_upper_case() {
    check(
        "route get /a { respond 200 }\n",
        "error[E0101]: expected an HTTP method (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`, `OPTIONS`, `ANY`), found `get`
 --> t.gw:1:7
  |
1 | route get /a { respond 200 }
  |       ^^^ expected a method
  |
  = help: HTTP methods are written in upper case: `GET`

error: could not compile `t.gw` due to 1 previous error
",
    );
}

#[test]
fn e0101_newline_ends_a_statement_and_tabs_align() {
    check(
        "route GET /x {\n\trequire\ta == 1 &&\n\t\tb\n}\n",
        "error[E0101]: expected an expression, found end of line
 --> t.gw:2:19
  |
2 |     require    a == 1 &&
  |                         ^ expected an expression

error: could not compile `t.gw` due to 1 previous error
",
    );
}

#[test]
fn e0102_unclosed_block_points_at_the_opener() {
    check(
        "route GET /items {\n  set header x-source = \"gw\"\n  upstream app\n\nroute GET /health {\n  respond 200\n}\n",
        "error[E0102]: unclosed `{`
 --> t.gw:1:18
  |
1 | route GET /items {
  |                  ^ this `{` is never closed
  |
  = help: add the missing `}`

error: could not compile `t.gw` due to 1 previous error
",
    );
    // The next route is parsed after the unclosed one.
    let p = parse_source(
        "t.gw",
        "route GET /a {\n  upstream app\n\nroute GET /b {\n  respond 200\n}\n",
    );
    assert_eq!(p.config.items.len(), 1);
}

#[test]
fn e0102_unclosed_string() {
    check(
        "route GET /hello {\n  respond 200 text \"hello, world\n}\n",
        "error[E0102]: unclosed string
 --> t.gw:2:20
  |
2 |   respond 200 text \"hello, world
  |                    ^ this string is never closed
  |
  = help: a string ends on the line it starts on: close it with `\"`, and write `\\n` for a newline

error: could not compile `t.gw` due to 1 previous error
",
    );
}

#[test]
fn e0103_bad_literals() {
    check(
        "upstream app {\n  timeout connect 10 s\n}\n",
        "error[E0103]: bad literal `10 s`
 --> t.gw:2:19
  |
2 |   timeout connect 10 s
  |                   ^^^^ a unit must touch its number
  |
  = help: write `10s`

error: could not compile `t.gw` due to 1 previous error
",
    );
    check(
        "route GET /x {\n  require client.ip in 999.1.1.0/24 else 403\n  timeout 30sec\n}\nvars { v = 1.5.3; big = 99999999999999999999 }\n",
        "error[E0103]: bad literal `999.1.1.0/24`
 --> t.gw:2:24
  |
2 |   require client.ip in 999.1.1.0/24 else 403
  |                        ^^^^^^^^^^^^ `999` is not an IPv4 octet (0-255)

error[E0103]: bad literal `30sec`
 --> t.gw:3:11
  |
3 |   timeout 30sec
  |           ^^^^^ unknown unit `sec`
  |
  = help: did you mean `s`?

error[E0103]: bad literal `1.5.3`
 --> t.gw:5:12
  |
5 | vars { v = 1.5.3; big = 99999999999999999999 }
  |            ^^^^^ not a number
  |
  = help: numbers are written `42`, `10_000` or with a unit: `1.5s`, `12.5%`

error[E0103]: bad literal `99999999999999999999`
 --> t.gw:5:25
  |
5 | vars { v = 1.5.3; big = 99999999999999999999 }
  |                         ^^^^^^^^^^^^^^^^^^^^ does not fit in a 64-bit integer
  |
  = help: the largest integer is 9223372036854775807

error: could not compile `t.gw` due to 4 previous errors
",
    );
}

#[test]
fn e0104_invalid_utf8_names_the_byte() {
    let p = parse_bytes(
        "latin1.gw",
        b"listen :8080\n# caf\xe9\nroute GET /x { respond 200 }\n",
    );
    assert!(p.config.items.is_empty());
    assert_eq!(
        render_all(&p.diagnostics, &p.sources),
        "error[E0104]: `latin1.gw` is not valid UTF-8
 --> latin1.gw:2:6
  |
2 | # caf\u{fffd}
  |      ^ invalid UTF-8 at byte 18
  |
  = help: save the file as UTF-8

error: could not compile `latin1.gw` due to 1 previous error
"
    );
}

#[test]
fn e0105_file_too_large() {
    let big = vec![b'#'; MAX_FILE_SIZE + 1];
    let p = parse_bytes("big.gw", &big);
    assert_eq!(
        render_all(&p.diagnostics, &p.sources),
        "error[E0105]: `big.gw` is too large: 16777217 bytes, the limit is 16 MiB (16777216 bytes)
 --> big.gw
  = note: gw refuses files over 16 MiB before parsing them; split the file with `include`

error: could not compile `big.gw` due to 1 previous error
"
    );
    let at_limit = vec![b'#'; MAX_FILE_SIZE];
    assert!(parse_bytes("ok.gw", &at_limit).diagnostics.is_empty());
}

#[test]
fn e0106_nesting_too_deep() {
    let src = format!(
        "route GET /x {{\n  require {}true{}\n}}\n",
        "(".repeat(70),
        ")".repeat(70)
    );
    let out = rendered(&src);
    assert!(
        out.starts_with("error[E0106]: nesting is too deep\n --> t.gw:2:74\n"),
        "{out}"
    );
    assert!(
        out.contains("^ this `(` is nested more than 64 levels deep\n"),
        "{out}"
    );
    assert!(out.ends_with("due to 1 previous error\n"));
    assert_eq!(
        codes(&format!("vars {{ x = {} }}", vec!["a"; 200].join(" + "))),
        ["E0106"]
    );
}

#[test]
fn e0402_two_params_in_one_segment() {
    check(
        "route GET /tiles/{z}{x} { respond 200 }\n",
        "error[E0402]: invalid path segment `{z}{x}`
 --> t.gw:1:18
  |
1 | route GET /tiles/{z}{x} { respond 200 }
  |                  ^^^^^^ a segment is literal text or a single `{param}`
  |
  = note: there are no in-segment prefixes and no two parameters in one segment in v1

error: could not compile `t.gw` due to 1 previous error
",
    );
    assert_eq!(codes("route GET /v{id} { respond 200 }"), ["E0402"]);
}

/// A fresh directory under the system temp dir for one test.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gw-syntax-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("dir");
    }
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn includes_expand_in_place_relative_to_the_including_file() {
    let dir = scratch_dir("include");
    let root = write(
        &dir,
        "main.gw",
        "listen :8080\ninclude \"routes/pets.gw\"\nadmin :9901\n",
    );
    write(
        &dir,
        "routes/pets.gw",
        "include \"more.gw\"\nroute GET /pets { respond 200 }\n",
    );
    write(&dir, "routes/more.gw", "workers 2\n");
    let p = parse_file(&root);
    assert!(
        p.diagnostics.is_empty(),
        "{}",
        render_all(&p.diagnostics, &p.sources)
    );
    let kinds: Vec<&str> = p
        .config
        .items
        .iter()
        .map(|i| match &i.kind {
            ast::ItemKind::Listen { .. } => "listen",
            ast::ItemKind::Include(_) => "include",
            ast::ItemKind::Workers(_) => "workers",
            ast::ItemKind::Route(_) => "route",
            ast::ItemKind::Admin(_) => "admin",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["listen", "include", "include", "workers", "route", "admin"]
    );
    assert_eq!(p.sources.files.len(), 3);
    let more = &p.sources.files[2];
    assert!(more.name.ends_with("routes/more.gw"), "{}", more.name);
    let from = more.included_from.map(|s| p.sources.snippet(s).to_string());
    assert_eq!(from.as_deref(), Some("\"more.gw\""));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn e0701_missing_include_and_e0703_cycles_and_depth() {
    let dir = scratch_dir("include-errors");
    let root = write(&dir, "main.gw", "include \"nope.gw\"\ninclude \"a.gw\"\n");
    write(&dir, "a.gw", "include \"main.gw\"\n");
    let p = parse_file(&root);
    let out = render_all(&p.diagnostics, &p.sources).replace(&dir.display().to_string(), "DIR");
    assert_eq!(
        out,
        "error[E0701]: cannot read included file `DIR/nope.gw`: no such file
 --> DIR/main.gw:1:9
  |
1 | include \"nope.gw\"
  |         ^^^^^^^^^ included here

error[E0703]: include cycle: `DIR/main.gw` is already being included
 --> DIR/a.gw:1:9
  |
1 | include \"main.gw\"
  |         ^^^^^^^^^ this include starts the cycle again
  |
  = note: include chain: DIR/main.gw -> DIR/a.gw -> DIR/main.gw

error: could not compile `DIR/main.gw` due to 2 previous errors
"
    );
    // A chain of 18 files: the 17th include is refused.
    for i in 0..18 {
        write(
            &dir,
            &format!("d{i}.gw"),
            &format!("include \"d{}.gw\"\n", i + 1),
        );
    }
    write(&dir, "d18.gw", "workers 1\n");
    let p = parse_file(&dir.join("d0.gw"));
    assert_eq!(
        p.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(),
        ["E0703"]
    );
    assert_eq!(p.sources.files.len(), MAX_INCLUDE_DEPTH + 1);
    // Devices and directories are never read.
    let p = parse_source("t.gw", &format!("include \"{}\"\n", dir.display()));
    assert_eq!(
        p.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(),
        ["E0701"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_root_file_is_e0701() {
    let p = parse_file(Path::new("/nonexistent/gw/root.gw"));
    assert_eq!(
        render_all(&p.diagnostics, &p.sources),
        "error[E0701]: cannot read `/nonexistent/gw/root.gw`: no such file
 --> /nonexistent/gw/root.gw

error: could not compile `/nonexistent/gw/root.gw` due to 1 previous error
"
    );
}

#[test]
fn recovery_stops_after_many_errors() {
    let src = "route GET /x { requre }\n".repeat(MAX_SYNTAX_ERRORS + 50);
    let p = parse_source("t.gw", &src);
    assert_eq!(p.diagnostics.len(), MAX_SYNTAX_ERRORS);
    assert!(p.diagnostics.last().is_some_and(|d| !d.notes.is_empty()));
}
