//! A cheap lexical pass that runs before pest.
//!
//! It finds what a PEG parser reports badly or cannot survive: nesting deeper than
//! [`MAX_DEPTH`] (E0106, checked before pest recurses into it), unclosed brackets and strings
//! (E0102, pointing at the opener) and stray or mismatched closers (E0101). It also lists the
//! comments, which `gw fmt` keeps. The parser uses an issue only to explain a declaration pest
//! rejected, so a pre-scan that disagrees with the grammar never invents an error.

use crate::diag::Diagnostic;
use crate::span::{FileId, Span};

/// Deepest bracket/string nesting accepted (E0106 beyond).
pub const MAX_DEPTH: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    Paren,
    Bracket,
    Brace,
    /// `{` inside a string: code until its `}`.
    Interp,
    Str,
    Raw,
}

impl Frame {
    fn open_text(self) -> &'static str {
        match self {
            Frame::Paren => "(",
            Frame::Bracket => "[",
            Frame::Brace | Frame::Interp => "{",
            Frame::Str => "\"",
            Frame::Raw => "r\"",
        }
    }

    fn closes(self, c: u8) -> bool {
        matches!(
            (self, c),
            (Frame::Paren, b')') | (Frame::Bracket, b']') | (Frame::Brace | Frame::Interp, b'}')
        )
    }
}

/// A problem found lexically; `anchor` is where it starts (the opener for unclosed ones).
#[derive(Clone, Debug)]
pub(crate) struct Issue {
    pub anchor: usize,
    pub diag: Diagnostic,
}

/// A `#` comment: byte range (without the newline) and whether code precedes it on its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Comment {
    pub start: usize,
    pub end: usize,
    pub own_line: bool,
}

/// What the pre-scan found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// E0106: the file must not be handed to pest.
    pub too_deep: Option<Diagnostic>,
    pub issues: Vec<Issue>,
    pub comments: Vec<Comment>,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    file: FileId,
    stack: Vec<(Frame, usize)>,
    out: Scan,
}

/// Scans `text` (one file) for nesting, delimiter and string problems, and comments.
pub(crate) fn scan(text: &str, file: FileId) -> Scan {
    let mut s = Scanner {
        bytes: text.as_bytes(),
        file,
        stack: Vec::new(),
        out: Scan::default(),
    };
    s.run();
    s.out
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

impl Scanner<'_> {
    fn at(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(0)
    }

    fn span(&self, start: usize, len: usize) -> Span {
        let end = (start + len).min(self.bytes.len());
        Span::new(self.file, to_u32(start), to_u32(end))
    }

    fn run(&mut self) {
        let mut i = 0;
        while i < self.bytes.len() {
            let in_string = matches!(self.stack.last(), Some((Frame::Str | Frame::Raw, _)));
            let next = if in_string {
                self.string_byte(i)
            } else {
                self.code_byte(i)
            };
            match next {
                Some(n) => i = n,
                None => return,
            }
        }
        self.finish();
    }

    /// Handles the byte at `i` in code; returns where to continue (None: stop scanning).
    fn code_byte(&mut self, i: usize) -> Option<usize> {
        let b = self.at(i);
        match b {
            b'#' => {
                let mut end = i;
                while end < self.bytes.len() && !matches!(self.at(end), b'\n' | b'\r') {
                    end += 1;
                }
                let line_start = self.bytes.get(..i).map_or(0, |s| {
                    s.iter()
                        .rposition(|&c| c == b'\n' || c == b'\r')
                        .map_or(0, |p| p + 1)
                });
                let own_line = self
                    .bytes
                    .get(line_start..i)
                    .is_some_and(|s| s.iter().all(|&c| c == b' ' || c == b'\t'));
                self.out.comments.push(Comment {
                    start: i,
                    end,
                    own_line,
                });
                Some(end)
            }
            b'"' => self.push(Frame::Str, i).then_some(i + 1),
            b'r' if self.at(i + 1) == b'"' && (i == 0 || !is_ident_byte(self.at(i - 1))) => {
                self.push(Frame::Raw, i).then_some(i + 2)
            }
            b'(' => self.push(Frame::Paren, i).then_some(i + 1),
            b'[' => self.push(Frame::Bracket, i).then_some(i + 1),
            b'{' => self.push(Frame::Brace, i).then_some(i + 1),
            b')' | b']' | b'}' => {
                self.close(b, i);
                Some(i + 1)
            }
            b'\n' | b'\r' => {
                // An interpolation cannot span lines. Its text is code the grammar may not
                // accept, so the parser reports it; the scan resynchronises here.
                if let Some(k) = self
                    .stack
                    .iter()
                    .position(|(f, _)| matches!(f, Frame::Str | Frame::Raw))
                {
                    self.stack.truncate(k);
                }
                Some(i + 1)
            }
            _ => Some(i + 1),
        }
    }

    fn string_byte(&mut self, i: usize) -> Option<usize> {
        let raw = matches!(self.stack.last(), Some((Frame::Raw, _)));
        match self.at(i) {
            b'"' => {
                self.stack.pop();
                Some(i + 1)
            }
            b'\n' | b'\r' => {
                let k = self.stack.len().saturating_sub(1);
                self.unclosed_string_at(k);
                Some(i)
            }
            b'\\' if !raw && !matches!(self.at(i + 1), b'\n' | b'\r' | 0) => Some(i + 2),
            b'{' if !raw && self.at(i + 1) == b'{' => Some(i + 2),
            b'}' if !raw && self.at(i + 1) == b'}' => Some(i + 2),
            b'{' if !raw => self.push(Frame::Interp, i).then_some(i + 1),
            _ => Some(i + 1),
        }
    }

    /// Pushes a frame; false (and E0106) when that nests too deep.
    fn push(&mut self, frame: Frame, at: usize) -> bool {
        self.stack.push((frame, at));
        if self.stack.len() <= MAX_DEPTH {
            return true;
        }
        let diag = Diagnostic::error(
            "E0106",
            self.span(at, frame.open_text().len()),
            "nesting is too deep",
        )
        .with_label(format!(
            "this `{}` is nested more than {MAX_DEPTH} levels deep",
            frame.open_text()
        ))
        .with_note(format!(
            "brackets, blocks and strings nest at most {MAX_DEPTH} levels deep"
        ))
        .with_help("flatten the expression, or split it over several statements");
        self.out.too_deep = Some(diag);
        false
    }

    fn close(&mut self, b: u8, at: usize) {
        let closer = match b {
            b')' => ")",
            b']' => "]",
            _ => "}",
        };
        if self.stack.last().is_some_and(|(f, _)| f.closes(b)) {
            self.stack.pop();
            return;
        }
        // Only frames opened in code can be closed here (strings are on top otherwise).
        match self.stack.iter().rposition(|(f, _)| f.closes(b)) {
            Some(k) => {
                let (open, open_at) = self.stack.last().copied().unwrap_or((Frame::Paren, at));
                let diag = Diagnostic::error(
                    "E0101",
                    self.span(at, 1),
                    format!("mismatched closing delimiter `{closer}`"),
                )
                .with_label("mismatched closing delimiter")
                .with_secondary(
                    self.span(open_at, open.open_text().len()),
                    "unclosed delimiter",
                );
                self.out.issues.push(Issue {
                    anchor: open_at.min(at),
                    diag,
                });
                self.stack.truncate(k);
            }
            None => {
                let diag = Diagnostic::error(
                    "E0101",
                    self.span(at, 1),
                    format!("unexpected closing delimiter `{closer}`"),
                )
                .with_label(format!("no matching opener for this `{closer}`"));
                self.out.issues.push(Issue { anchor: at, diag });
            }
        }
    }

    /// The string frame at stack index `k` ran into the end of its line.
    fn unclosed_string_at(&mut self, k: usize) {
        if let Some(&(frame, at)) = self.stack.get(k) {
            let diag = Diagnostic::error("E0102", self.span(at, frame.open_text().len()), "unclosed string")
                .with_label("this string is never closed")
                .with_help("a string ends on the line it starts on: close it with `\"`, and write `\\n` for a newline");
            self.out.issues.push(Issue { anchor: at, diag });
        }
        self.stack.truncate(k);
    }

    fn finish(&mut self) {
        let open = std::mem::take(&mut self.stack);
        for (frame, at) in open {
            let diag = match frame {
                Frame::Str | Frame::Raw => {
                    Diagnostic::error("E0102", self.span(at, 1), "unclosed string")
                        .with_label("this string is never closed")
                }
                _ => {
                    let (o, c) = match frame {
                        Frame::Paren => ("(", ")"),
                        Frame::Bracket => ("[", "]"),
                        _ => ("{", "}"),
                    };
                    Diagnostic::error("E0102", self.span(at, 1), format!("unclosed `{o}`"))
                        .with_label(format!("this `{o}` is never closed"))
                        .with_help(format!("add the missing `{c}`"))
                }
            };
            self.out.issues.push(Issue { anchor: at, diag });
        }
    }
}

pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<(&'static str, usize)> {
        scan(text, FileId(0))
            .issues
            .iter()
            .map(|i| (i.diag.code, i.anchor))
            .collect()
    }

    #[test]
    fn balanced_input_has_no_issues() {
        let text = "route GET /a/{id} {\n  x = \"{a} {{ }} \\\" (\" # ( [\n}\n";
        let s = scan(text, FileId(0));
        assert!(
            s.issues.is_empty() && s.too_deep.is_none(),
            "{:?}",
            s.issues
        );
        let hash = text.find('#').unwrap_or(0);
        let end = text[hash..].find('\n').unwrap_or(0) + hash;
        assert_eq!(
            s.comments,
            vec![Comment {
                start: hash,
                end,
                own_line: false
            }]
        );
    }

    #[test]
    fn unclosed_block_points_at_the_opener() {
        assert_eq!(
            codes("route GET /a {\n  upstream x\n\nroute GET /b { }\n"),
            vec![("E0102", 13)]
        );
    }

    #[test]
    fn unclosed_string_stops_at_end_of_line() {
        assert_eq!(codes("a \"hello\nb \"ok\"\n"), vec![("E0102", 2)]);
        assert_eq!(codes("a r\"x\\\nb\n"), vec![("E0102", 2)]);
    }

    #[test]
    fn stray_and_mismatched_closers() {
        assert_eq!(codes("}\n"), vec![("E0101", 0)]);
        assert_eq!(codes("[ (]"), vec![("E0101", 2)]);
    }

    #[test]
    fn depth_limit_is_enforced_before_parsing() {
        let ok = format!("{}x{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(scan(&ok, FileId(0)).too_deep.is_none());
        let deep = format!(
            "{}x{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        let d = scan(&deep, FileId(0))
            .too_deep
            .map(|d| (d.code, d.span.start));
        assert_eq!(d, Some(("E0106", MAX_DEPTH as u32)));
        // Interpolated strings nest too.
        let strings = "\"{".repeat(40) + &"}\"".repeat(40);
        assert!(scan(&strings, FileId(0)).too_deep.is_some());
    }

    #[test]
    fn comments_know_whether_they_own_their_line() {
        let s = scan("# a\n  # b\nx # c\n", FileId(0));
        let own: Vec<bool> = s.comments.iter().map(|c| c.own_line).collect();
        assert_eq!(own, vec![true, true, false]);
    }
}
