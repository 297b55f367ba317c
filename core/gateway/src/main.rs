//! `gw`: the Gatewright command line.

mod bench;
mod cli;
mod demo;
mod run;
mod tools;

fn main() {
    std::process::exit(cli::main());
}
