//! `git-pcc`, the front door: `git pcc <sub>` reaches it. It runs its own
//! subcommands and hands any other `<sub>` to `git-pcc-<sub>` found on PATH
//! (or beside this executable), as git and cargo do.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{
    budget, claims, cleanup, config, conflicts, docs, doctor, heartbeat, hook, install, merge,
    migrate, status, suggestions, Output,
};

/// Coordinate parallel AI coding-agent sessions in one git repository.
#[derive(Debug, Parser)]
#[command(
    name = "git-pcc",
    bin_name = "git pcc",
    version,
    allow_external_subcommands = true,
    after_help = "Other commands run git-pcc-<command> from PATH: register, release, and those of later installs."
)]
pub struct FrontArgs {
    /// Print results as JSON
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: FrontCommand,
}

#[derive(Debug, Subcommand)]
pub enum FrontCommand {
    /// Show sessions, their worktrees, liveness and held work
    Status(status::StatusArgs),
    /// Mark a session alive (also the Claude Code hook entry point)
    Heartbeat(heartbeat::HeartbeatArgs),
    /// Remove stale sessions and clean worktrees; report what is kept
    Cleanup(cleanup::CleanupArgs),
    /// Check that parallel-cc can work here
    Doctor(doctor::DoctorArgs),
    /// Bring the database schema up to date
    Update(migrate::UpdateArgs),
    /// Migrate the database schema to a version
    Migrate(migrate::MigrateArgs),
    /// Read and change settings
    Config(config::ConfigArgs),
    /// List file claims
    Claims(claims::ClaimsArgs),
    /// Merge events and subscriptions
    Merge(merge::MergeArgs),
    /// Conflict history, classified conflicts of a merge, predicted conflicts
    Conflicts(conflicts::ConflictsArgs),
    /// Auto-fix suggestions for conflicts: list, make, apply, roll back
    Suggestions(suggestions::SuggestionsArgs),
    /// Spending of sandbox runs against the limits
    Budget(budget::BudgetArgs),
    /// Wire parallel-cc into Claude Code (hooks, MCP server) and the shell
    Install(install::InstallArgs),
    /// Claude Code hook entry points (run by the installed hooks)
    Hook(hook::HookArgs),
    /// Print a shell completion script
    Completions(docs::CompletionArgs),
    /// Sandbox templates (`git pcc templates` runs git-pcc-sandbox templates)
    #[command(disable_help_flag = true)]
    Templates {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// The MCP server (`git pcc mcp serve` runs pcc-mcp)
    #[command(disable_help_flag = true)]
    Mcp {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    #[command(external_subcommand)]
    External(Vec<OsString>),
}

pub fn run(args: FrontArgs) -> anyhow::Result<Output> {
    let json = args.json;
    match args.command {
        FrontCommand::Status(sub) => status::run(sub),
        FrontCommand::Heartbeat(sub) => heartbeat::run(sub),
        FrontCommand::Cleanup(sub) => cleanup::run(sub),
        FrontCommand::Doctor(sub) => doctor::run(sub),
        FrontCommand::Update(_) => migrate::run(None),
        FrontCommand::Migrate(sub) => migrate::run(sub.version.as_deref()),
        FrontCommand::Config(sub) => config::run(sub),
        FrontCommand::Claims(sub) => claims::run(sub),
        FrontCommand::Merge(sub) => merge::run(sub),
        FrontCommand::Conflicts(sub) => conflicts::run(sub),
        FrontCommand::Suggestions(sub) => suggestions::run(sub),
        FrontCommand::Budget(sub) => budget::run(sub),
        FrontCommand::Install(sub) => install::run(sub),
        FrontCommand::Hook(sub) => hook::run(sub),
        FrontCommand::Completions(sub) => docs::print_completions(sub),
        FrontCommand::Mcp { args } => run_program("pcc-mcp", args),
        FrontCommand::Templates { args } => {
            let mut rest = vec![OsString::from("templates")];
            rest.extend(args);
            if json && !rest.iter().any(|a| a == "--json") {
                rest.push("--json".into());
            }
            run_program("git-pcc-sandbox", rest)
        }
        FrontCommand::External(words) => dispatch(words, json),
    }
}

/// Replaces this process with `git-pcc-<sub>`, passing the rest along.
fn dispatch(words: Vec<OsString>, json: bool) -> anyhow::Result<Output> {
    let mut words = words.into_iter();
    let sub = words.next().unwrap_or_default();
    let name = sub.to_string_lossy().into_owned();
    if let Some((program, replacement)) = deprecated(&name) {
        eprintln!("warning: 'git pcc {name}' is deprecated; use 'git pcc {replacement}'");
        // The front door takes the whole replacement; another program is
        // named by its first word.
        let skip = usize::from(program != "git-pcc");
        let mut rest: Vec<OsString> = replacement
            .split(' ')
            .skip(skip)
            .map(OsString::from)
            .collect();
        rest.extend(words);
        return run_program(program, rest);
    }
    let Some(program) = find_subcommand(&name) else {
        return Err(pcc::UserError::with_hint(
            format!("'{name}' is not a git pcc command"),
            "see 'git pcc --help'",
        )
        .into());
    };
    let mut rest: Vec<OsString> = words.collect();
    if json && !rest.iter().any(|a| a == "--json") {
        rest.push("--json".into());
    }
    exec(program, rest)
}

/// Hyphenated command names of the TypeScript tool that still work: the
/// program that serves them and the command that replaces them.
fn deprecated(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "mcp-serve" => Some(("pcc-mcp", "mcp serve")),
        "watch-merges" => Some(("git-pcc-watch", "watch merges")),
        "merge-status" => Some(("git-pcc", "merge status")),
        "sandbox-run" => Some(("git-pcc-sandbox", "sandbox run")),
        "sandbox-logs" => Some(("git-pcc-sandbox", "sandbox logs")),
        "sandbox-download" => Some(("git-pcc-sandbox", "sandbox download")),
        "sandbox-kill" => Some(("git-pcc-sandbox", "sandbox kill")),
        "sandbox-list" => Some(("git-pcc-sandbox", "sandbox list")),
        "sandbox-status" => Some(("git-pcc-sandbox", "sandbox status")),
        "budget-status" => Some(("git-pcc", "budget status")),
        _ => None,
    }
}

/// Replaces this process with one of our other executables.
fn run_program(program: &str, args: Vec<OsString>) -> anyhow::Result<Output> {
    let found = which::which(program).ok().or_else(|| {
        let beside = std::env::current_exe().ok()?.parent()?.join(program);
        beside.is_file().then_some(beside)
    });
    match found {
        Some(path) => exec(path, args),
        None => Err(pcc::UserError::with_hint(
            format!("{program} is not installed"),
            "run scripts/install.sh",
        )
        .into()),
    }
}

/// Finds `git-pcc-<name>` on PATH, then beside this executable.
pub fn find_subcommand(name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('-') {
        return None;
    }
    let program = format!("git-pcc-{name}");
    if let Ok(found) = which::which(&program) {
        return Some(found);
    }
    let beside = std::env::current_exe().ok()?.parent()?.join(&program);
    beside.is_file().then_some(beside)
}

#[cfg(unix)]
fn exec(program: PathBuf, args: Vec<OsString>) -> anyhow::Result<Output> {
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(&program).args(args).exec();
    Err(anyhow::Error::new(err).context(format!("cannot run {}", program.display())))
}

#[cfg(not(unix))]
fn exec(program: PathBuf, args: Vec<OsString>) -> anyhow::Result<Output> {
    let status = std::process::Command::new(&program).args(args).status()?;
    std::process::exit(status.code().unwrap_or(crate::EXIT_FAILURE))
}
