//! `gw fmt`: the canonical form of a `.gw` file.
//!
//! The text is printed from the AST, so parsing the output gives the same tree (modulo spans),
//! and the source decides only layout: a block, template or list whose braces sit on one
//! source line stays on one line (`{ a; b }`), otherwise it gets one item per line, indented
//! by two spaces; statements joined by `;` on one source line stay joined; one blank line is
//! kept where the source had one or more; comments are kept, own-line comments on their own
//! line at the indentation of what follows, trailing comments two spaces after the code.
//! Literals keep their spelling (`10_000`, `5m`); everything else is one space apart.

mod expr;
mod items;
mod stmts;
mod template;

use crate::diag::Diagnostic;
use crate::prescan::Comment;
use crate::span::{FileId, SourceFile, Span};

/// Formats `text` (the file `name`); Err holds the syntax errors that prevent it.
pub fn format_source(name: &str, text: &str) -> Result<String, Vec<Diagnostic>> {
    let parsed = crate::parse_detached(name, text.as_bytes());
    if parsed.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(parsed.diagnostics);
    }
    let Some(file) = parsed.sources.get(FileId(0)) else {
        return Ok(String::new());
    };
    let comments = crate::prescan::scan(&file.text, FileId(0)).comments;
    let mut p = Printer::new(file, comments);
    items::top_level(&mut p, &parsed.config.items);
    Ok(p.finish())
}

/// Builds the output line by line and places comments and blank lines from the source.
pub(crate) struct Printer<'a> {
    file: &'a SourceFile,
    comments: Vec<Comment>,
    next_comment: usize,
    out: String,
    line: String,
    open: bool,
    indent: usize,
    /// Source line of the last thing printed (0: nothing yet).
    last_line: u32,
    /// Right after a `{`: no blank line here.
    block_start: bool,
}

impl<'a> Printer<'a> {
    fn new(file: &'a SourceFile, comments: Vec<Comment>) -> Self {
        Printer {
            file,
            comments,
            next_comment: 0,
            out: String::new(),
            line: String::new(),
            open: false,
            indent: 0,
            last_line: 0,
            block_start: true,
        }
    }

    pub(crate) fn src(&self) -> &'a str {
        &self.file.text
    }

    /// The source text of a span.
    pub(crate) fn snippet(&self, span: Span) -> &'a str {
        self.file
            .text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    pub(crate) fn line_of(&self, pos: usize) -> u32 {
        self.file.line_col(crate::prescan::to_u32(pos)).0
    }

    pub(crate) fn w(&mut self, s: &str) {
        self.line.push_str(s);
    }

    fn comment_text(&self, c: Comment) -> &'a str {
        self.file.text.get(c.start..c.end).unwrap_or("#").trim_end()
    }

    fn push_line(&mut self, text: &str) {
        if !text.is_empty() {
            for _ in 0..self.indent {
                self.out.push_str("  ");
            }
            self.out.push_str(text);
        }
        self.out.push('\n');
    }

    /// A blank line before something on source line `line`, if the source had one.
    fn blank_before(&mut self, line: u32) {
        if !self.block_start && self.last_line > 0 && line > self.last_line + 1 {
            self.out.push('\n');
        }
    }

    /// Prints pending comments that start before `pos` on their own lines.
    pub(crate) fn flush_comments(&mut self, pos: usize) {
        while let Some(&c) = self.comments.get(self.next_comment) {
            if c.start >= pos {
                break;
            }
            self.next_comment += 1;
            let line = self.line_of(c.start);
            self.blank_before(line);
            let text = self.comment_text(c);
            self.push_line(text);
            self.last_line = self.last_line.max(line);
            self.block_start = false;
        }
    }

    /// Starts a new output line for an item that begins at source offset `pos`.
    pub(crate) fn start_item(&mut self, pos: usize) {
        if self.open {
            return;
        }
        self.flush_comments(pos);
        let line = self.line_of(pos);
        self.blank_before(line);
        self.open = true;
        self.block_start = false;
    }

    /// Starts a line with no comment or blank-line handling (a closing `}`).
    pub(crate) fn start_raw(&mut self) {
        self.open = true;
        self.block_start = false;
    }

    /// Ends the current line; `pos` is the end of the last token printed on it, so trailing
    /// comments of that source line follow it. Comments left inside the printed code (a
    /// multi-line expression printed on one line) go on their own lines before it.
    pub(crate) fn end_line(&mut self, pos: usize) {
        let src_line = self.line_of(pos.saturating_sub(1));
        let line = std::mem::take(&mut self.line);
        while let Some(&c) = self.comments.get(self.next_comment) {
            if c.start >= pos {
                break;
            }
            self.next_comment += 1;
            let text = self.comment_text(c);
            self.push_line(text);
        }
        let mut text = line;
        while let Some(&c) = self.comments.get(self.next_comment) {
            if c.own_line || self.line_of(c.start) != src_line {
                break;
            }
            self.next_comment += 1;
            text.push_str("  ");
            text.push_str(self.comment_text(c));
        }
        self.push_line(&text);
        self.open = false;
        self.last_line = self.last_line.max(src_line);
    }

    pub(crate) fn indent(&mut self) {
        self.indent += 1;
        self.block_start = true;
    }

    pub(crate) fn dedent(&mut self) {
        self.indent = self.indent.saturating_sub(1);
    }

    /// The first `{` at or after `from`, skipping spaces, comments and words.
    pub(crate) fn open_after(&self, from: usize) -> usize {
        let bytes = self.src().as_bytes();
        let mut i = from;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'{' => return i,
                b'#' => {
                    while bytes.get(i).is_some_and(|&c| c != b'\n') {
                        i += 1;
                    }
                }
                _ => i += 1,
            }
        }
        from
    }

    /// The `}` matching the `{` at `open` (strings and comments skipped).
    pub(crate) fn close_of(&self, open: usize) -> usize {
        let bytes = self.src().as_bytes();
        let mut depth = 0usize;
        let mut i = open;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return i;
                    }
                }
                b'#' => {
                    while bytes.get(i + 1).is_some_and(|&c| c != b'\n') {
                        i += 1;
                    }
                }
                b'"' => {
                    let raw = i > 0
                        && bytes.get(i - 1) == Some(&b'r')
                        && !bytes
                            .get(i.wrapping_sub(2))
                            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
                    i += 1;
                    while let Some(&c) = bytes.get(i) {
                        match c {
                            b'"' | b'\n' => break,
                            b'\\' if !raw => i += 2,
                            _ => i += 1,
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
        bytes.len().saturating_sub(1)
    }

    /// Whether the braces at `open` and `close` are on one source line.
    pub(crate) fn same_line(&self, a: usize, b: usize) -> bool {
        self.line_of(a) == self.line_of(b)
    }

    /// Prints a braced list of items. `item` prints one item; `span` locates it in the source.
    pub(crate) fn block<T>(
        &mut self,
        open: usize,
        items: &[T],
        span: fn(&T) -> Span,
        item: fn(&mut Printer<'a>, &T),
    ) {
        let close = self.close_of(open);
        if self.same_line(open, close) {
            if items.is_empty() {
                self.w("{}");
                return;
            }
            self.w("{ ");
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    self.w("; ");
                }
                item(self, it);
            }
            self.w(" }");
            return;
        }
        self.w("{");
        self.end_line(open + 1);
        self.indent();
        self.lines(items, span, item);
        self.flush_comments(close);
        self.dedent();
        self.start_raw();
        self.w("}");
    }

    /// Items one per line; items that shared a source line stay joined with `; `.
    pub(crate) fn lines<T>(
        &mut self,
        items: &[T],
        span: fn(&T) -> Span,
        item: fn(&mut Printer<'a>, &T),
    ) {
        let mut prev_end: Option<usize> = None;
        for it in items {
            let s = span(it);
            match prev_end {
                Some(end)
                    if self.line_of(end.saturating_sub(1)) == self.line_of(s.start as usize) =>
                {
                    self.w("; ")
                }
                Some(end) => {
                    self.end_line(end);
                    self.start_item(s.start as usize);
                }
                None => self.start_item(s.start as usize),
            }
            item(self, it);
            prev_end = Some(s.end as usize);
        }
        if let Some(end) = prev_end {
            self.end_line(end);
        }
    }

    fn finish(mut self) -> String {
        let end = self.file.text.len() + 1;
        self.flush_comments(end);
        let trimmed = self.out.trim_end_matches('\n').len();
        self.out.truncate(trimmed);
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out
    }
}

#[cfg(test)]
mod tests;
