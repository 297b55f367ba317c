//! The pest parser generated from `grammar/gw.pest`.

use pest_derive::Parser;

/// The generated parser; its parse tree never leaves this crate.
#[derive(Parser)]
#[grammar = "../../grammar/gw.pest"]
pub(crate) struct GwParser;
