//! `gw`: the Gatewright command line.

mod cli;
mod demo;
mod run;

fn main() {
    std::process::exit(cli::main());
}
