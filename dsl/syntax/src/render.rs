//! rustc-style rendering of diagnostics, without colour (grammar/README.md#error-codes):
//!
//! ```text
//! error[E0201]: unknown claim `emial`
//!   --> petstore.gw:52:11
//!    |
//! 52 |   require claim.emial == "ops@example.com"
//!    |           ^^^^^^^^^^^ not a claim of `jwt users`
//!    |
//!    = help: did you mean `claim.email`?
//! ```
//!
//! The gutter is as wide as the widest line number shown; line numbers are right-aligned.
//! Secondary labels are drawn with `-` on their own lines, in line order, with `...` between
//! lines that are not adjacent; a label in another file gets its own ` ::: file:line:col`
//! section. A span over several lines is underlined on its first line, to the line's end.
//! Tabs are shown as four spaces.

use std::fmt::Write as _;

use crate::diag::{Diagnostic, Severity};
use crate::span::{FileId, SourceFile, SourceMap, Span};

/// One underline: on `line`, from display column `col` (0-based), `width` wide.
struct Mark<'a> {
    line: u32,
    col: usize,
    width: usize,
    primary: bool,
    label: &'a str,
}

/// Display width of `s` with tabs as four columns.
fn width(s: &str) -> usize {
    s.chars().map(|c| if c == '\t' { 4 } else { 1 }).sum()
}

fn mark<'a>(file: &SourceFile, span: Span, primary: bool, label: &'a str) -> Mark<'a> {
    let (line, _) = file.line_col(span.start);
    let text = file.line_text(line);
    let line_start = file
        .line_starts
        .get(line.saturating_sub(1) as usize)
        .copied()
        .unwrap_or(0) as usize;
    let start = (span.start as usize)
        .saturating_sub(line_start)
        .min(text.len());
    let end = (span.end as usize)
        .saturating_sub(line_start)
        .min(text.len())
        .max(start);
    let before = text.get(..start).unwrap_or("");
    let inside = text.get(start..end).unwrap_or("");
    Mark {
        line,
        col: width(before),
        width: width(inside).max(1),
        primary,
        label,
    }
}

fn file_sections<'a>(d: &'a Diagnostic, sources: &'a SourceMap) -> Vec<(FileId, Vec<Mark<'a>>)> {
    let mut sections: Vec<(FileId, Vec<Mark<'a>>)> = Vec::new();
    let labels = std::iter::once((d.span, true, d.label.as_str())).chain(
        d.secondary
            .iter()
            .map(|l| (l.span, false, l.message.as_str())),
    );
    for (span, primary, label) in labels {
        let Some(file) = sources.get(span.file) else {
            continue;
        };
        if file.text.is_empty() {
            continue;
        }
        let m = mark(file, span, primary, label);
        match sections.iter_mut().find(|(f, _)| *f == span.file) {
            Some((_, marks)) => marks.push(m),
            None => sections.push((span.file, vec![m])),
        }
    }
    for (_, marks) in &mut sections {
        marks.sort_by_key(|m| (m.line, !m.primary, m.col));
    }
    sections
}

fn digits(n: u32) -> usize {
    n.to_string().len()
}

/// Renders one diagnostic; the text ends with a newline.
pub fn render(d: &Diagnostic, sources: &SourceMap) -> String {
    let sev = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut out = format!("{sev}[{}]: {}\n", d.code, d.message);
    let sections = file_sections(d, sources);
    let w = sections
        .iter()
        .flat_map(|(_, m)| m.iter().map(|m| digits(m.line)))
        .max()
        .unwrap_or(1);
    let pad = " ".repeat(w);
    let (name, line, col) = sources.locate(d.span);
    match sources.get(d.span.file).filter(|f| !f.text.is_empty()) {
        Some(_) => {
            let _ = writeln!(out, "{pad}--> {name}:{line}:{col}");
        }
        None => {
            let _ = writeln!(out, "{pad}--> {name}");
        }
    }
    for (i, (file_id, marks)) in sections.iter().enumerate() {
        let Some(file) = sources.get(*file_id) else {
            continue;
        };
        if i > 0 {
            let first = marks.iter().map(|m| m.line).min().unwrap_or(1);
            let col = marks
                .iter()
                .find(|m| m.line == first)
                .map_or(1, |m| m.col + 1);
            let _ = writeln!(out, "{pad}::: {}:{first}:{col}", file.name);
        }
        let _ = writeln!(out, "{pad} |");
        let mut prev: Option<u32> = None;
        for m in marks {
            if prev != Some(m.line) {
                if prev.is_some_and(|p| m.line > p + 1) {
                    out.push_str("...\n");
                }
                let text = file.line_text(m.line).replace('\t', "    ");
                let _ = writeln!(out, "{:>w$} | {}", m.line, text);
                trim_line_end(&mut out);
                prev = Some(m.line);
            }
            let ch = if m.primary { "^" } else { "-" };
            let _ = write!(out, "{pad} | {}{}", " ".repeat(m.col), ch.repeat(m.width));
            if !m.label.is_empty() {
                let _ = write!(out, " {}", m.label);
            }
            out.push('\n');
        }
    }
    if !d.help.is_empty() || !d.notes.is_empty() {
        if !sections.is_empty() {
            let _ = writeln!(out, "{pad} |");
        }
        for h in &d.help {
            let _ = writeln!(out, "{pad} = help: {h}");
        }
        for n in &d.notes {
            let _ = writeln!(out, "{pad} = note: {n}");
        }
    }
    out
}

/// Drops trailing spaces of the line just written (an empty source line).
fn trim_line_end(out: &mut String) {
    if out.ends_with(" \n") {
        let trimmed = out.trim_end_matches(['\n', ' ']).len();
        out.truncate(trimmed);
        out.push('\n');
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Renders every diagnostic, a blank line between them, then a summary line:
/// `error: could not compile `FILE` due to N previous errors; M warnings emitted` when there
/// are errors, `warning: `FILE` generated M warnings` when there are only warnings, and
/// nothing at all when `diags` is empty. FILE is the root file (the first in `sources`).
pub fn render_all(diags: &[Diagnostic], sources: &SourceMap) -> String {
    if diags.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for d in diags {
        out.push_str(&render(d, sources));
        out.push('\n');
    }
    let root = sources.files.first().map_or("<input>", |f| f.name.as_str());
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if errors > 0 {
        let _ = write!(
            out,
            "error: could not compile `{root}` due to {} previous {}",
            errors,
            if errors == 1 { "error" } else { "errors" }
        );
        if warnings > 0 {
            let _ = write!(out, "; {} emitted", plural(warnings, "warning"));
        }
        out.push('\n');
    } else {
        let _ = writeln!(
            out,
            "warning: `{root}` generated {}",
            plural(warnings, "warning")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::SourceFile;

    fn sources(files: &[(&str, &str)]) -> SourceMap {
        let mut m = SourceMap::default();
        for (name, text) in files {
            m.add(SourceFile::new(
                (*name).into(),
                (*name).into(),
                (*text).into(),
                None,
            ));
        }
        m
    }

    /// The span of the `n`th occurrence (0-based) of `needle` in file `f`.
    fn find(m: &SourceMap, f: u32, needle: &str, n: usize) -> Span {
        let text = &m.files[f as usize].text;
        let start = text
            .match_indices(needle)
            .nth(n)
            .map(|(i, _)| i)
            .expect("needle");
        Span::new(FileId(f), start as u32, (start + needle.len()) as u32)
    }

    #[test]
    fn the_language_sample_shape() {
        let mut text = "\n".repeat(51);
        text.push_str("  require claim.emial == \"ops@example.com\"\n");
        let m = sources(&[("petstore.gw", &text)]);
        let d = Diagnostic::error(
            "E0201",
            find(&m, 0, "claim.emial", 0),
            "unknown claim `emial`",
        )
        .with_label("not a claim of `jwt users`")
        .with_help("did you mean `claim.email`?")
        .with_note("claims are declared in `jwt users { claims { … } }` (petstore.gw:25)");
        assert_eq!(
            render(&d, &m),
            "error[E0201]: unknown claim `emial`
  --> petstore.gw:52:11
   |
52 |   require claim.emial == \"ops@example.com\"
   |           ^^^^^^^^^^^ not a claim of `jwt users`
   |
   = help: did you mean `claim.email`?
   = note: claims are declared in `jwt users { claims { … } }` (petstore.gw:25)
"
        );
    }

    #[test]
    fn secondary_labels_in_line_order_with_gaps() {
        let mut text = "\n".repeat(66);
        text.push_str("route GET /pets/{id} {\n");
        text.push_str(&"\n".repeat(34));
        text.push_str("route GET /pets/{pet_id} {\n");
        let m = sources(&[("petstore.gw", &text)]);
        let d = Diagnostic::error(
            "E0401",
            find(&m, 0, "GET /pets/{pet_id}", 0),
            "routes overlap: they match the same requests",
        )
        .with_label("this route can never be selected")
        .with_secondary(find(&m, 0, "GET /pets/{id}", 0), "first defined here")
        .with_help("parameter names do not distinguish routes; merge the two routes");
        assert_eq!(
            render(&d, &m),
            "error[E0401]: routes overlap: they match the same requests
   --> petstore.gw:102:7
    |
 67 | route GET /pets/{id} {
    |       -------------- first defined here
...
102 | route GET /pets/{pet_id} {
    |       ^^^^^^^^^^^^^^^^^^ this route can never be selected
    |
    = help: parameter names do not distinguish routes; merge the two routes
"
        );
    }

    #[test]
    fn adjacent_lines_multi_line_spans_and_other_files() {
        let m = sources(&[
            ("a.gw", "  throttle 1/s by claim.sub\n  auth jwt shoppers\n"),
            ("b.gw", "x\nrespond 200 json {\n  a: 1\n}\n"),
        ]);
        let d = Diagnostic::error(
            "E0501",
            find(&m, 0, "claim.sub", 0),
            "`claim.sub` is not available here",
        )
        .with_label("claims exist only after `auth jwt`")
        .with_secondary(
            find(&m, 0, "auth jwt shoppers", 0),
            "the token is verified here",
        );
        assert_eq!(
            render(&d, &m),
            "error[E0501]: `claim.sub` is not available here
 --> a.gw:1:19
  |
1 |   throttle 1/s by claim.sub
  |                   ^^^^^^^^^ claims exist only after `auth jwt`
2 |   auth jwt shoppers
  |   ----------------- the token is verified here
"
        );
        let body = Span::new(FileId(1), 2, 30);
        let d = Diagnostic::warning("W0204", body, "unused")
            .with_secondary(find(&m, 0, "auth", 0), "elsewhere");
        assert_eq!(
            render(&d, &m),
            "warning[W0204]: unused
 --> b.gw:2:1
  |
2 | respond 200 json {
  | ^^^^^^^^^^^^^^^^^^
 ::: a.gw:2:3
  |
2 |   auth jwt shoppers
  |   ---- elsewhere
"
        );
    }

    #[test]
    fn summary_lines() {
        let m = sources(&[("x.gw", "a\n")]);
        let e = Diagnostic::error("E0101", Span::new(FileId(0), 0, 1), "bad");
        let w = Diagnostic::warning("W0204", Span::new(FileId(0), 0, 1), "unused");
        let last = |ds: &[Diagnostic]| render_all(ds, &m).lines().last().map(str::to_string);
        assert_eq!(
            last(std::slice::from_ref(&e)).as_deref(),
            Some("error: could not compile `x.gw` due to 1 previous error")
        );
        assert_eq!(
            last(&[e.clone(), e.clone(), w.clone()]).as_deref(),
            Some("error: could not compile `x.gw` due to 2 previous errors; 1 warning emitted")
        );
        assert_eq!(
            last(&[w.clone(), w]).as_deref(),
            Some("warning: `x.gw` generated 2 warnings")
        );
        assert_eq!(render_all(&[], &m), "");
        let out = render_all(&[e.clone(), e], &m);
        assert!(
            out.contains("\n\nerror[E0101]"),
            "blank line between diagnostics:\n{out}"
        );
    }

    #[test]
    fn spans_out_of_range_do_not_panic() {
        let m = sources(&[("x.gw", "abc")]);
        let d = Diagnostic::error("E0101", Span::new(FileId(0), 99, 200), "far");
        assert!(render(&d, &m).starts_with("error[E0101]: far\n"));
        let d = Diagnostic::error("E0101", Span::new(FileId(7), 0, 1), "no file");
        assert_eq!(render(&d, &m), "error[E0101]: no file\n --> <unknown>\n");
    }
}
