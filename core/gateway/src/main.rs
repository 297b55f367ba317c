//! `gw`: the Gatewright command line.

mod bench;
mod cli;
mod demo;
mod ops;
mod run;
mod tools;
mod trace;
mod usage;

fn main() {
    std::process::exit(cli::main());
}
