//! `gw usage KEY_ID --config FILE`: a key's plan and how much of its quota it has used, from
//! the usage file `gw run FILE` keeps (saved at most a second behind the running gw).

use std::path::Path;

use crate::cli::{Args, Command, Opt};

/// `gw usage`'s options.
pub(crate) const COMMAND: Command = Command {
    name: "usage",
    operands: "KEY_ID",
    about: "an API key's plan and the quota it has used this period",
    details: "Reads the usage file of the config's `throttle plan` (`limits { usage_file }`, by \
              default FILE.usage), which a running gw saves at most once a second and when it \
              stops. Exit 1 when the config does not compile, has no `throttle plan`, or has \
              no such key.",
    opts: &[Opt::value(
        "config",
        "FILE",
        "the .gw file the key is served by",
    )],
    main,
};

fn main(args: Args) -> i32 {
    let key = match args.operands.as_slice() {
        [key] => key,
        [] => return crate::cli::usage_error(&COMMAND, "missing KEY_ID"),
        [_, x, ..] => {
            return crate::cli::usage_error(&COMMAND, &format!("unexpected argument `{x}`"));
        }
    };
    let Some(file) = args.value("config") else {
        return crate::cli::usage_error(&COMMAND, "missing --config FILE");
    };
    let Some(image) = crate::run::compile_file(Path::new(file)) else {
        return 1;
    };
    let Some(spec) = image.plugins.iter().find(|s| s.plugin == "throttle.plan") else {
        eprintln!("error: {file} has no `throttle plan`, so no usage is counted");
        return 1;
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    match gw_plugins_std::plan::usage_report(spec, key, now_ms) {
        Ok(report) => {
            print!("{report}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
