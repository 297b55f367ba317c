//! `gw demo`: a built-in echo upstream with gw in front of it.

pub fn main(args: &[String]) -> i32 {
    let _ = args;
    eprintln!("gw demo: not built yet");
    1
}
