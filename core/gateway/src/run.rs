//! `gw run FILE`: compile, then serve.

pub fn main(args: &[String]) -> i32 {
    let _ = args;
    eprintln!("gw run: not built yet");
    1
}
