//! Subcommand dispatch: check, fmt, disasm (here), run and demo (run.rs, demo.rs).

pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => crate::run::main(args.get(1..).unwrap_or(&[])),
        Some("demo") => crate::demo::main(args.get(1..).unwrap_or(&[])),
        _ => {
            eprintln!("usage: gw <run|demo|check|fmt|disasm> ...");
            2
        }
    }
}
