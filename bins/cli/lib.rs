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
pub mod land;
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
pub mod statusline;
pub mod suggestions;
pub mod templates;
pub mod top;
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
            let line = one_line(&err.render().to_string());
            eprintln!("{line} (see --help)");
            let json = raw
                .iter()
                .skip(1)
                .take_while(|a| *a != "--")
                .any(|a| a == "--json");
            if json {
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

/// Clap's error text in our one line: the error, the values it lists
/// (`[possible values: daily, weekly, monthly]`, the missing arguments) and
/// its tips (`a similar argument exists: '--prompt'`); the usage and the
/// pointer to `--help` are left out.
fn one_line(rendered: &str) -> String {
    let mut lines = rendered.lines().skip_while(|l| l.trim().is_empty());
    let mut line = lines
        .next()
        .unwrap_or("error: invalid arguments")
        .trim()
        .to_owned();
    let mut listed: Vec<&str> = Vec::new();
    let mut tips: Vec<&str> = Vec::new();
    for next in lines {
        let next = next.trim();
        if next.starts_with("Usage:") || next.starts_with("For more information") {
            break;
        }
        if let Some(tip) = next.strip_prefix("tip:") {
            tips.push(tip.trim());
        } else if !next.is_empty() {
            // The missing arguments, or `[possible values: ...]`.
            listed.push(next);
        }
    }
    if !listed.is_empty() {
        if line.ends_with(':') {
            line = format!("{line} {}", listed.join(", "));
        } else {
            line = format!("{line} {}", listed.join(" "));
        }
    }
    if !tips.is_empty() {
        line = format!("{line}; {}", tips.join("; "));
    }
    if line.starts_with("error:") {
        line
    } else {
        format!("error: {line}")
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

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn clap_errors_keep_their_values_and_tips_on_one_line() {
        assert_eq!(
            one_line(
                "error: invalid value 'yearly' for '--period <PERIOD>'\n  [possible values: daily, weekly, monthly]\n\nFor more information, try '--help'.\n"
            ),
            "error: invalid value 'yearly' for '--period <PERIOD>' [possible values: daily, weekly, monthly]"
        );
        assert_eq!(
            one_line(
                "error: unexpected argument '--promt' found\n\n  tip: a similar argument exists: '--prompt'\n\nUsage: git pcc sandbox run --prompt <TEXT>\n\nFor more information, try '--help'.\n"
            ),
            "error: unexpected argument '--promt' found; a similar argument exists: '--prompt'"
        );
        assert_eq!(
            one_line(
                "error: the following required arguments were not provided:\n  --pid <PID>\n  --repo <PATH>\n\nUsage: x\n"
            ),
            "error: the following required arguments were not provided: --pid <PID>, --repo <PATH>"
        );
    }
}
