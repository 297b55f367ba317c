//! Subcommand dispatch.

const USAGE: &str = "\
usage: gw <command> [args]

commands:
  run FILE [--workers N] [--driver uring|epoll] [--busy-poll TIME|off] [--multishot on|off]
                                                  serve FILE
  demo [--port P]                                 gw in front of a built-in echo upstream
  check FILE...                                   validate (exit 0 valid, 1 invalid)
  fmt [--check | --write] FILE...                 canonical formatting
  disasm FILE [--route 'METHOD /pattern']         each route's bytecode with its .gw lines
";

pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]);
    match args.first().map(String::as_str) {
        Some("run") => crate::run::main(rest),
        Some("demo") => crate::demo::main(rest),
        Some("check") => crate::tools::check(rest),
        Some("fmt") => crate::tools::fmt(rest),
        Some("disasm") => crate::tools::disasm(rest),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            0
        }
        Some("-V" | "--version" | "version") => {
            println!("gw {}", env!("CARGO_PKG_VERSION"));
            0
        }
        _ => {
            eprint!("{USAGE}");
            2
        }
    }
}
