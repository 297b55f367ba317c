//! `gw`: the Gatewright command line.

fn main() {
    std::process::exit(0);
}
