//! gw-syntax: `.gw` text to a typed AST with spans, and rustc-style diagnostics.
//!
//! pest's parse tree never leaves this crate: [`parse_file`] returns an [`ast::Config`].
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

pub mod ast;
pub mod diag;
pub mod span;

pub use diag::{Diagnostic, Label, Severity};
pub use span::{FileId, SourceFile, SourceMap, Span};
