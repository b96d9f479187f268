//! The command line a newcomer types: help that lists every command
//! `git pcc` reaches, and parse errors that keep clap's suggestions and
//! possible values in our one-line format, in JSON on stdout wherever
//! `--json` is on the line.

mod support;

use std::process::Output;

use serde_json::Value;
use support::TestEnv;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a usage error: one line on stderr holding every `expected`.
fn usage_error(output: &Output, code: i32, expected: &[&str]) -> String {
    assert_eq!(output.status.code(), Some(code), "{}", stderr(output));
    let text = stderr(output);
    assert_eq!(text.lines().count(), 1, "one line expected: {text}");
    assert!(text.starts_with("error: "), "{text}");
    for needle in expected {
        assert!(text.contains(needle), "{text:?} lacks {needle:?}");
    }
    text
}

#[test]
fn help_lists_every_command_git_pcc_reaches() {
    let env = TestEnv::new();
    let output = env.pcc("git-pcc").arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout).into_owned();
    for (command, summary) in [
        ("status", "Show sessions"),
        ("top", "Live view of sessions"),
        ("register", "Register an agent session in a repository"),
        ("release", "End a session"),
        ("sandbox", "Run coding agents unattended in sandboxes"),
        ("templates", "Sandbox templates"),
        ("watch", "Watch for merged branches"),
        ("mcp", "The MCP server"),
        ("completions", "Print a shell completion script"),
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(command) && l.contains(summary)),
            "{command} ({summary}) missing from:\n{help}"
        );
    }
    // The command each passes to answers for itself.
    for (words, expected) in [
        (vec!["sandbox", "--help"], "Usage: git pcc sandbox"),
        (vec!["watch", "--help"], "Usage: git pcc watch"),
        (vec!["release", "--help"], "Usage: git-pcc-release"),
    ] {
        let output = env.pcc("git-pcc").args(&words).output().unwrap();
        assert!(output.status.success(), "{words:?}: {}", stderr(&output));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains(expected), "{words:?}: {text}");
    }
}

#[test]
fn the_summaries_in_help_are_those_of_the_commands_they_run() {
    use clap::CommandFactory;
    let front = pcc_cli::front::FrontArgs::command();
    let templates = pcc_cli::sandbox::SandboxArgs::command()
        .find_subcommand("templates")
        .cloned()
        .unwrap();
    for (name, program, real) in [
        (
            "register",
            "git-pcc-register",
            pcc_cli::register::RegisterArgs::command(),
        ),
        (
            "release",
            "git-pcc-release",
            pcc_cli::release::ReleaseArgs::command(),
        ),
        (
            "sandbox",
            "git-pcc-sandbox",
            pcc_cli::sandbox::SandboxArgs::command(),
        ),
        ("templates", "git-pcc-sandbox templates", templates),
        (
            "watch",
            "git-pcc-watch",
            pcc_cli::watch::WatchArgs::command(),
        ),
    ] {
        let summary = front
            .find_subcommand(name)
            .and_then(|sub| sub.get_about())
            .map(|about| about.to_string())
            .unwrap_or_default();
        let own = real.get_about().map(|a| a.to_string()).unwrap_or_default();
        assert_eq!(
            summary,
            format!("{} ({program})", own.trim_end_matches('.')),
            "git pcc {name}"
        );
    }
}

#[test]
fn a_mistyped_command_gets_a_suggestion() {
    let env = TestEnv::new();
    let output = env.pcc("git-pcc").arg("statsu").output().unwrap();
    usage_error(
        &output,
        1,
        &[
            "'statsu' is not a git pcc command",
            "did you mean 'git pcc status'?",
        ],
    );
    let output = env.pcc("git-pcc-sandbox").arg("statsu").output().unwrap();
    usage_error(
        &output,
        2,
        &["unrecognized subcommand 'statsu'", "'status'"],
    );
}

#[test]
fn a_mistyped_flag_gets_a_suggestion() {
    let env = TestEnv::new();
    let output = env
        .pcc("git-pcc-sandbox")
        .args(["run", "--promt", "x"])
        .output()
        .unwrap();
    usage_error(
        &output,
        2,
        &[
            "unexpected argument '--promt'",
            "a similar argument exists: '--prompt'",
            "(see --help)",
        ],
    );
}

#[test]
fn an_invalid_value_lists_the_valid_ones() {
    let env = TestEnv::new();
    let output = env
        .pcc("git-pcc")
        .args(["budget", "status", "--period", "yearly"])
        .output()
        .unwrap();
    usage_error(
        &output,
        2,
        &[
            "invalid value 'yearly'",
            "[possible values: daily, weekly, monthly]",
        ],
    );
}

#[test]
fn a_negative_number_reaches_the_range_check() {
    let env = TestEnv::new();
    let output = env
        .pcc("git-pcc")
        .args(["config", "set", "session.staleMinutes", "-5"])
        .output()
        .unwrap();
    usage_error(
        &output,
        1,
        &["invalid value '-5' for session.staleMinutes: expected a whole number from 1 to 10080"],
    );
}

#[test]
fn json_anywhere_on_the_line_gets_the_error_as_json() {
    let env = TestEnv::new();
    for words in [
        vec!["stauts", "--json"],
        vec!["--json", "stauts"],
        vec!["budget", "status", "--period", "yearly", "--json"],
        vec!["status", "--bogus", "--json"],
    ] {
        let output = env.pcc("git-pcc").args(&words).output().unwrap();
        assert!(!output.status.success(), "{words:?}");
        let value: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{words:?}: no JSON on stdout: {}", stderr(&output)));
        assert_eq!(value["success"], false, "{words:?}");
        let error = value["error"].as_str().unwrap();
        assert!(!error.is_empty() && !error.starts_with("error:"), "{error}");
        assert_eq!(stderr(&output).lines().count(), 1, "{words:?}");
    }
}
