//! `gw`: the Gatewright command line.

mod cli;
mod demo;
mod ops;
mod run;
mod tools;
mod trace;

fn main() {
    std::process::exit(cli::main());
}
