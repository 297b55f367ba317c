//! Crate-level tests: the examples, every construct, every error code, hostile input.
mod decls;
mod errors;
mod examples;
mod expressions;
mod robust;
mod statements;
mod support;
