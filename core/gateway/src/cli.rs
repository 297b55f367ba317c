//! The command line. Each command declares its options once, in a [`Command`] beside its code;
//! that table drives the parser, `gw COMMAND --help` and the errors for unknown commands and
//! options, so the help cannot leave out an option the command accepts.

use std::fmt::Write as _;

use gw_syntax::diag::did_you_mean;

/// One option of a command.
#[derive(Debug)]
pub(crate) struct Opt {
    /// `--long`, without the dashes.
    pub long: &'static str,
    pub short: Option<char>,
    /// What the value looks like (`N`, `on|off`); `None` for a flag.
    pub value: Option<&'static str>,
    pub help: &'static str,
    /// The environment variable read when the option is not given.
    pub env: Option<&'static str>,
    /// What applies when neither the option nor `env` is given.
    pub default: Option<&'static str>,
}

impl Opt {
    /// A flag: `--long`, no value.
    pub const fn flag(long: &'static str, help: &'static str) -> Opt {
        Opt {
            long,
            short: None,
            value: None,
            help,
            env: None,
            default: None,
        }
    }

    /// An option with a value that looks like `value`.
    pub const fn value(long: &'static str, value: &'static str, help: &'static str) -> Opt {
        Opt {
            value: Some(value),
            ..Opt::flag(long, help)
        }
    }

    pub const fn short(self, short: char) -> Opt {
        Opt {
            short: Some(short),
            ..self
        }
    }

    pub const fn env(self, env: &'static str) -> Opt {
        Opt {
            env: Some(env),
            ..self
        }
    }

    pub const fn default(self, default: &'static str) -> Opt {
        Opt {
            default: Some(default),
            ..self
        }
    }

    /// `-w, --workers N` as the help shows it.
    fn synopsis(&self) -> String {
        let short = self.short.map_or("    ".to_owned(), |c| format!("-{c}, "));
        match self.value {
            Some(v) => format!("{short}--{} {v}", self.long),
            None => format!("{short}--{}", self.long),
        }
    }
}

/// The column help text is wrapped at.
const HELP_WIDTH: usize = 100;

/// `units` (words, or bracketed notes kept whole) in lines of at most `width` characters; a
/// longer unit gets a line of its own.
fn wrap<'a>(units: impl IntoIterator<Item = &'a str>, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for unit in units {
        if !line.is_empty() && line.chars().count() + 1 + unit.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(unit);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A `gw` command.
#[derive(Debug)]
pub(crate) struct Command {
    pub name: &'static str,
    /// The operands after the options: `FILE`, `FILE...` or nothing.
    pub operands: &'static str,
    /// One line for `gw help`.
    pub about: &'static str,
    /// Said after the option list of `gw COMMAND --help`, when there is more to say (one
    /// paragraph, wrapped).
    pub details: &'static str,
    pub opts: &'static [Opt],
    pub main: fn(Args) -> i32,
}

impl Command {
    fn usage(&self) -> String {
        let mut s = format!("usage: gw {}", self.name);
        if !self.opts.is_empty() {
            s.push_str(" [options]");
        }
        if !self.operands.is_empty() {
            s.push(' ');
            s.push_str(self.operands);
        }
        s
    }

    /// What `gw COMMAND --help` prints.
    pub fn help(&self) -> String {
        let help = ("-h, --help".to_owned(), "print this help", Vec::new());
        let opts: Vec<(String, &str, Vec<String>)> = self
            .opts
            .iter()
            .map(|o| {
                let env = o.env.map(|e| format!("[env: {e}]"));
                let default = o.default.map(|d| format!("[default: {d}]"));
                (
                    o.synopsis(),
                    o.help,
                    env.into_iter().chain(default).collect(),
                )
            })
            .chain([help])
            .collect();
        let width = opts.iter().map(|(s, ..)| s.len()).max().unwrap_or(0);
        let column = HELP_WIDTH.saturating_sub(width + 4);
        let mut out = format!(
            "gw {}: {}\n\n{}\n\noptions:\n",
            self.name,
            self.about,
            self.usage()
        );
        for (synopsis, text, notes) in &opts {
            let mut lines = wrap(text.split_whitespace(), column);
            // a note is not broken, and starts a line of its own
            lines.extend(wrap(notes.iter().map(String::as_str), column));
            let mut synopsis = synopsis.as_str();
            for line in lines {
                let _ = writeln!(out, "  {synopsis:<width$}  {line}");
                synopsis = "";
            }
        }
        if !self.details.is_empty() {
            out.push('\n');
            for line in wrap(self.details.split_whitespace(), HELP_WIDTH) {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    /// The command line `args` against this command's options.
    pub fn parse(&self, args: &[String]) -> Result<Parsed, String> {
        let mut out = Args::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                out.operands.extend(it.cloned());
                break;
            }
            if a == "-h" || a == "--help" {
                return Ok(Parsed::Help);
            }
            let (opt, inline) = if let Some(body) = a.strip_prefix("--") {
                let (name, inline) = match body.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (body, None),
                };
                match self.opts.iter().find(|o| o.long == name) {
                    Some(o) => (o, inline),
                    None => return Err(self.unknown_option(&format!("--{name}"))),
                }
            } else if a.len() > 1 && a.starts_with('-') {
                let mut chars = a.chars().skip(1);
                let o = match (chars.next(), chars.next()) {
                    (Some(c), None) => self.opts.iter().find(|o| o.short == Some(c)),
                    _ => None,
                };
                match o {
                    Some(o) => (o, None),
                    None => return Err(self.unknown_option(a)),
                }
            } else {
                out.operands.push(a.clone());
                continue;
            };
            let value = match (opt.value, inline) {
                (None, None) => None,
                (None, Some(_)) => return Err(format!("`--{}` takes no value", opt.long)),
                (Some(_), Some(v)) => Some(v.to_owned()),
                (Some(what), None) => match it.next() {
                    Some(v) => Some(v.clone()),
                    None => return Err(format!("`--{}` needs a value: {what}", opt.long)),
                },
            };
            out.opts.push((opt.long, value));
        }
        Ok(Parsed::Args(out))
    }

    fn unknown_option(&self, given: &str) -> String {
        if self.opts.is_empty() {
            return format!(
                "unknown option `{given}`: `gw {}` has no options",
                self.name
            );
        }
        let longs: Vec<String> = self.opts.iter().map(|o| format!("--{}", o.long)).collect();
        match did_you_mean(given, longs.iter().map(String::as_str)) {
            Some(s) => format!("unknown option `{given}` (did you mean `{s}`?)"),
            None => format!("unknown option `{given}`"),
        }
    }
}

/// A command line parsed against its command's options.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Args {
    /// In command-line order: the option's long name and its value (`None` for a flag).
    pub opts: Vec<(&'static str, Option<String>)>,
    pub operands: Vec<String>,
}

impl Args {
    /// Whether the flag `--long` was given.
    pub fn flag(&self, long: &str) -> bool {
        self.opts.iter().any(|(l, _)| *l == long)
    }

    /// The value of `--long`; the last one given wins, as in most tools.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(l, _)| *l == long)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// The outcome of parsing: arguments to run the command with, or a request for its help.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    Args(Args),
    Help,
}

/// Every command, in the order `gw help` lists them.
const COMMANDS: [&Command; 10] = [
    &crate::run::COMMAND,
    &crate::ops::RELOAD,
    &crate::demo::COMMAND,
    &crate::tools::CHECK,
    &crate::ops::DIFF,
    &crate::tools::FMT,
    &crate::tools::DISASM,
    &crate::usage::COMMAND,
    &crate::trace::COMMAND,
    &crate::bench::COMMAND,
];

/// What `gw help` prints.
fn help() -> String {
    let mut rows: Vec<(String, &str)> = COMMANDS
        .iter()
        .map(|c| {
            (
                format!("{} {}", c.name, c.operands).trim_end().to_owned(),
                c.about,
            )
        })
        .collect();
    rows.push(("help [COMMAND]".into(), "this list, or a command's options"));
    rows.push(("version".into(), "print gw's version"));
    let width = rows.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
    let mut out = format!(
        "gw {}: the Gatewright API gateway\n\nusage: gw COMMAND [options] [args]\n\ncommands:\n",
        env!("CARGO_PKG_VERSION")
    );
    for (synopsis, about) in rows {
        let _ = writeln!(out, "  {synopsis:<width$}  {about}");
    }
    out.push_str("\n`gw COMMAND --help` lists a command's options.\n");
    out
}

/// `gw foo`: the message, with a guess for a near miss.
fn unknown_command(name: &str) -> String {
    let names = COMMANDS.iter().map(|c| c.name).chain(["help", "version"]);
    match did_you_mean(name, names) {
        Some(s) => format!("gw: unknown command `{name}` (did you mean `{s}`?)\n\n"),
        None => format!("gw: unknown command `{name}`\n\n"),
    }
}

fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.into_iter().find(|c| c.name == name)
}

pub fn main() -> i32 {
    // lossy rather than a panic on an argument that is not UTF-8: a path that cannot be
    // spelled then fails as a missing file
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let rest = args.get(1..).unwrap_or(&[]);
    let Some(name) = args.first() else {
        eprint!("{}", help());
        return 2;
    };
    match name.as_str() {
        "-h" | "--help" | "help" => match rest.first().map(String::as_str) {
            None | Some("help" | "version") => {
                print!("{}", help());
                0
            }
            Some(c) => match find(c) {
                Some(cmd) => {
                    print!("{}", cmd.help());
                    0
                }
                None => {
                    eprint!("{}{}", unknown_command(c), help());
                    2
                }
            },
        },
        "-V" | "--version" | "version" => {
            println!("gw {}", env!("CARGO_PKG_VERSION"));
            0
        }
        name => {
            let Some(cmd) = find(name) else {
                eprint!("{}{}", unknown_command(name), help());
                return 2;
            };
            match cmd.parse(rest) {
                Ok(Parsed::Args(a)) => (cmd.main)(a),
                Ok(Parsed::Help) => {
                    print!("{}", cmd.help());
                    0
                }
                Err(e) => usage_error(cmd, &e),
            }
        }
    }
}

/// A command line the command cannot run: say why and how it is used; exit status 2.
pub(crate) fn usage_error(cmd: &Command, why: &str) -> i32 {
    eprintln!(
        "gw {}: {why}\n{}\n(`gw {} --help` lists the options)",
        cmd.name,
        cmd.usage(),
        cmd.name
    );
    2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(cmd: &Command, a: &[&str]) -> Result<Parsed, String> {
        cmd.parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn args(cmd: &Command, a: &[&str]) -> Args {
        match parse(cmd, a) {
            Ok(Parsed::Args(a)) => a,
            other => panic!("{a:?}: {other:?}"),
        }
    }

    #[test]
    fn options_in_every_spelling() {
        let run = &crate::run::COMMAND;
        let a = args(
            run,
            &["a.gw", "-w", "2", "--driver=epoll", "--busy-poll", "off"],
        );
        assert_eq!(a.operands, ["a.gw"]);
        assert_eq!(a.value("workers"), Some("2"));
        assert_eq!(a.value("driver"), Some("epoll"));
        assert_eq!(a.value("busy-poll"), Some("off"));
        assert_eq!(a.value("multishot"), None);
        // the last one wins; `--` ends the options
        let a = args(run, &["--workers", "1", "--workers=3", "--", "-odd.gw"]);
        assert_eq!(a.value("workers"), Some("3"));
        assert_eq!(a.operands, ["-odd.gw"]);
        let fmt = &crate::tools::FMT;
        assert!(args(fmt, &["--check", "a.gw"]).flag("check"));
        assert!(args(fmt, &["-w", "a.gw"]).flag("write"));
    }

    #[test]
    fn help_anywhere_on_the_line() {
        let run = &crate::run::COMMAND;
        assert_eq!(parse(run, &["--help"]), Ok(Parsed::Help));
        assert_eq!(
            parse(run, &["a.gw", "--workers", "2", "-h"]),
            Ok(Parsed::Help)
        );
    }

    #[test]
    fn unknown_and_malformed_options_are_named() {
        let run = &crate::run::COMMAND;
        let err = |c: &Command, a: &[&str]| parse(c, a).unwrap_err();
        assert_eq!(
            err(run, &["a.gw", "--worker", "2"]),
            "unknown option `--worker` (did you mean `--workers`?)"
        );
        assert_eq!(err(run, &["a.gw", "--bogus=1"]), "unknown option `--bogus`");
        assert_eq!(err(run, &["a.gw", "-x"]), "unknown option `-x`");
        assert_eq!(
            err(run, &["a.gw", "--driver"]),
            "`--driver` needs a value: uring|epoll"
        );
        assert_eq!(
            err(&crate::tools::FMT, &["--check=yes", "a.gw"]),
            "`--check` takes no value"
        );
        assert_eq!(
            err(&crate::tools::CHECK, &["--fast", "a.gw"]),
            "unknown option `--fast`: `gw check` has no options"
        );
    }

    #[test]
    fn help_lists_every_option_with_its_env_and_default() {
        // words as one line: a default may wrap
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        for cmd in COMMANDS {
            let help = words(&cmd.help());
            assert!(help.contains(&cmd.usage()), "{help}");
            for o in cmd.opts {
                assert!(help.contains(&words(&o.synopsis())), "{}: {help}", o.long);
                for s in o.env.iter().chain(&o.default) {
                    assert!(help.contains(&words(s)), "{}: {s} not in {help}", o.long);
                }
            }
        }
    }

    #[test]
    fn help_text_wraps_between_words() {
        assert_eq!(
            wrap("a bb  ccc\ndd".split_whitespace(), 6),
            ["a bb", "ccc dd"]
        );
        assert_eq!(wrap(["abcdefgh", "i"], 4), ["abcdefgh", "i"]);
        for cmd in COMMANDS {
            for line in cmd.help().lines() {
                assert!(line.chars().count() <= HELP_WIDTH, "{line}");
            }
        }
    }

    #[test]
    fn commands_are_listed_and_near_misses_guessed() {
        let list = help();
        for cmd in COMMANDS {
            assert!(list.contains(cmd.about), "{list}");
        }
        assert!(unknown_command("chek").contains("did you mean `check`?"));
        assert!(unknown_command("serve").ends_with("`serve`\n\n"));
    }
}
