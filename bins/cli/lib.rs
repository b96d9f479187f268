//! Command-line front ends of parallel-cc: the clap definitions of every
//! executable, the rendering of results for people and for scripts
//! (`--json`), and the mapping of errors to exit codes. The work itself is
//! done by the `pcc` library; binaries in `bins/` are one call into here.

pub mod budget;
pub mod claims;
pub mod cleanup;
pub mod config;
pub mod conflicts;
pub mod docs;
pub mod doctor;
pub mod front;
pub mod heartbeat;
pub mod hook;
pub mod install;
pub mod mcp;
pub mod merge;
pub mod migrate;
pub mod register;
pub mod release;
pub mod render;
pub mod sandbox;
pub mod sandbox_pack;
pub mod scope;
pub mod status;
pub mod suggestions;
pub mod templates;
pub mod watch;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;
use serde::Serialize;

/// Exit code of a failed command.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code of a command line that could not be understood.
pub const EXIT_USAGE: i32 = 2;

/// What a command produced: the structure `--json` prints and the text a
/// person reads, plus the exit code.
pub struct Output {
    /// The `--json` rendering, already serialised (empty: print nothing).
    pub json: String,
    pub human: String,
    pub exit_code: i32,
}

impl Output {
    pub fn new(value: &impl Serialize, human: String) -> Output {
        Output {
            json: serde_json::to_string_pretty(value).unwrap_or_default(),
            human,
            exit_code: 0,
        }
    }

    /// Nothing to print (hooks and `--quiet`).
    pub fn silent() -> Output {
        Output {
            json: String::new(),
            human: String::new(),
            exit_code: 0,
        }
    }

    pub fn with_exit_code(mut self, code: i32) -> Output {
        self.exit_code = code;
        self
    }
}

/// Parses the command line as `A`, runs `body`, prints its output or its
/// error, and exits. Errors are one line on stderr; with `--json` a
/// `{"success": false, "error": ...}` object also goes to stdout.
pub fn main_with<A: Parser>(json_flag: fn(&A) -> bool, body: fn(A) -> anyhow::Result<Output>) -> ! {
    let raw: Vec<OsString> = std::env::args_os().collect();
    let args = parse_or_exit::<A>(&raw);
    let json = json_flag(&args);
    finish(body(args), json)
}

/// Prints a command's outcome and exits with its code.
pub fn finish(outcome: anyhow::Result<Output>, json: bool) -> ! {
    let code = match outcome {
        Ok(output) => {
            print_output(&output, json);
            output.exit_code
        }
        Err(err) => report_error(&err, json),
    };
    std::process::exit(code)
}

/// Parses arguments, turning clap's errors into one line and exit code 2.
pub fn parse_or_exit<A: Parser>(raw: &[OsString]) -> A {
    match A::try_parse_from(raw) {
        Ok(args) => args,
        Err(err) => {
            use clap::error::ErrorKind;
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                err.exit();
            }
            let rendered = err.render().to_string();
            let mut lines = rendered.lines().skip_while(|l| l.trim().is_empty());
            let mut first = lines
                .next()
                .unwrap_or("error: invalid arguments")
                .trim()
                .to_owned();
            // "the following required arguments were not provided:" lists
            // them on the lines below: keep them on the one line.
            if first.ends_with(':') {
                let listed: Vec<&str> = lines
                    .take_while(|l| !l.trim().is_empty())
                    .map(str::trim)
                    .collect();
                if !listed.is_empty() {
                    first = format!("{first} {}", listed.join(", "));
                }
            }
            let line = if first.starts_with("error:") {
                first
            } else {
                format!("error: {first}")
            };
            eprintln!("{line} (see --help)");
            if raw.iter().any(|a| a == "--json") {
                let message = line.trim_start_matches("error: ").to_owned();
                println!(
                    "{}",
                    serde_json::json!({"success": false, "error": message})
                );
            }
            std::process::exit(EXIT_USAGE)
        }
    }
}

/// Prints a command's output as JSON or as text.
pub fn print_output(output: &Output, json: bool) {
    let mut stdout = std::io::stdout().lock();
    if json {
        if !output.json.is_empty() {
            let _ = writeln!(stdout, "{}", output.json);
        }
    } else if !output.human.is_empty() {
        let _ = write!(stdout, "{}", output.human);
        if !output.human.ends_with('\n') {
            let _ = writeln!(stdout);
        }
    }
    let _ = stdout.flush();
}

/// Prints an error as one line (plus a hint line for user errors) and
/// returns the exit code.
pub fn report_error(err: &anyhow::Error, json: bool) -> i32 {
    let (message, hint) = match err.downcast_ref::<pcc::UserError>() {
        Some(user) => (user.message.clone(), user.hint.clone()),
        None => (format!("{err:#}"), None),
    };
    let message = message.replace('\n', " ");
    match &hint {
        Some(hint) => eprintln!("error: {message} (hint: {hint})"),
        None => eprintln!("error: {message}"),
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"success": false, "error": message})
        );
    }
    EXIT_FAILURE
}

/// The data directory, as every command finds it.
pub fn data_dir() -> anyhow::Result<std::path::PathBuf> {
    pcc::paths::data_dir()
}
