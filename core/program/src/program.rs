//! One phase program. (Placeholder; the op set and verifier replace this.)

#[derive(Debug, Clone, Default)]
pub struct Program {}
