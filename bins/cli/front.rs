//! `git-pcc`, the front door: `git pcc <sub>` reaches it. It runs its own
//! subcommands and hands any other `<sub>` to `git-pcc-<sub>` found on PATH
//! (or beside this executable), as git and cargo do.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{
    budget, claims, cleanup, config, conflicts, docs, doctor, heartbeat, hook, install, land,
    merge, migrate, status, statusline, suggestions, top, Output,
};

/// Coordinate parallel AI coding-agent sessions in one git repository.
#[derive(Debug, Parser)]
#[command(
    name = "git-pcc",
    bin_name = "git pcc",
    version,
    allow_external_subcommands = true,
    after_help = "Any other command runs git-pcc-<command> from PATH, as git does. 'git pcc <command> --help' shows a command's options."
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
    /// Live view of sessions, states, conflicts, claims, merges and sandbox runs
    Top(top::TopArgs),
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
    /// Land finished branches on their target, in order, each one checked
    Land(land::LandArgs),
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
    /// One line for Claude Code's status line (reads its JSON on stdin)
    Statusline(statusline::StatusLineArgs),
    /// Print a shell completion script
    Completions(docs::CompletionArgs),
    /// Register an agent session in a repository (git-pcc-register)
    #[command(disable_help_flag = true)]
    Register {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// End a session; its worktree and branch go unless they hold work (git-pcc-release)
    #[command(disable_help_flag = true)]
    Release {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Run coding agents unattended in sandboxes and bring their work back as branches (git-pcc-sandbox)
    #[command(disable_help_flag = true)]
    Sandbox {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Sandbox templates (git-pcc-sandbox templates)
    #[command(disable_help_flag = true)]
    Templates {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Watch for merged branches of live sessions and of subscriptions (git-pcc-watch)
    #[command(disable_help_flag = true)]
    Watch {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// The MCP server agents use to see each other (pcc-mcp)
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
        FrontCommand::Top(sub) => top::run(sub, json),
        FrontCommand::Heartbeat(sub) => heartbeat::run(sub),
        FrontCommand::Cleanup(sub) => cleanup::run(sub),
        FrontCommand::Doctor(sub) => doctor::run(sub),
        FrontCommand::Update(_) => migrate::run(None),
        FrontCommand::Migrate(sub) => migrate::run(sub.version.as_deref()),
        FrontCommand::Config(sub) => config::run(sub),
        FrontCommand::Claims(sub) => claims::run(sub),
        FrontCommand::Merge(sub) => merge::run(sub),
        FrontCommand::Land(sub) => land::run(sub),
        FrontCommand::Conflicts(sub) => conflicts::run(sub),
        FrontCommand::Suggestions(sub) => suggestions::run(sub),
        FrontCommand::Budget(sub) => budget::run(sub),
        FrontCommand::Install(sub) => install::run(sub),
        FrontCommand::Hook(sub) => hook::run(sub),
        FrontCommand::Statusline(sub) => statusline::run(sub),
        FrontCommand::Completions(sub) => docs::print_completions(sub),
        FrontCommand::Register { args } => delegate("git-pcc-register", Vec::new(), args, json),
        FrontCommand::Release { args } => delegate("git-pcc-release", Vec::new(), args, json),
        FrontCommand::Sandbox { args } => delegate("git-pcc-sandbox", Vec::new(), args, json),
        FrontCommand::Templates { args } => {
            delegate("git-pcc-sandbox", vec!["templates".into()], args, json)
        }
        FrontCommand::Watch { args } => delegate("git-pcc-watch", Vec::new(), args, json),
        FrontCommand::Mcp { args } => delegate("pcc-mcp", Vec::new(), args, json),
        FrontCommand::External(words) => {
            let json = json || wants_json(&words);
            dispatch(words, json)
        }
    }
}

/// Whether the words of a command `git pcc` does not parse itself ask for
/// JSON (`git pcc stauts --json`): then an error is JSON on stdout too.
pub fn wants_json(words: &[OsString]) -> bool {
    words
        .iter()
        .take_while(|word| *word != "--")
        .any(|word| word == "--json")
}

/// Whether `git pcc` was asked for JSON, by its own flag or by one given
/// to a command it hands on.
pub fn json_requested(args: &FrontArgs) -> bool {
    args.json || matches!(&args.command, FrontCommand::External(words) if wants_json(words))
}

/// Runs one of our other executables with `leading` and then `args`,
/// passing `--json` on when it was given before the command name.
fn delegate(
    program: &str,
    leading: Vec<OsString>,
    args: Vec<OsString>,
    json: bool,
) -> anyhow::Result<Output> {
    let mut rest = leading;
    rest.extend(args);
    // pcc-mcp speaks JSON-RPC whatever it is told; the others take --json.
    if json && program != "pcc-mcp" && !rest.iter().any(|a| a == "--json") {
        rest.push("--json".into());
    }
    run_program(program, rest)
}

/// The names `git pcc` answers to, for suggestions: its own commands and
/// the ones it hands on.
fn command_names() -> Vec<String> {
    use clap::CommandFactory;
    FrontArgs::command()
        .get_subcommands()
        .flat_map(|sub| {
            std::iter::once(sub.get_name().to_owned())
                .chain(sub.get_all_aliases().map(str::to_owned))
        })
        .collect()
}

/// The known command most like `name`, if one is close enough to be what
/// was meant (a typo or two, or a prefix).
pub fn similar_command(name: &str, known: &[String]) -> Option<String> {
    let limit = (name.chars().count() / 3).max(1);
    known
        .iter()
        .filter(|candidate| candidate.as_str() != "help")
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, candidate)| {
            *distance <= limit || (name.len() >= 3 && candidate.starts_with(name))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.clone())
}

/// Levenshtein distance, with a swap of two neighbours counted once.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
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
        let hint = match similar_command(&name, &command_names()) {
            Some(similar) => {
                format!("did you mean 'git pcc {similar}'? 'git pcc --help' lists the commands")
            }
            None => "'git pcc --help' lists the commands".to_owned(),
        };
        return Err(
            pcc::UserError::with_hint(format!("'{name}' is not a git pcc command"), hint).into(),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_the_command_meant() {
        let known = command_names();
        let similar = |name: &str| similar_command(name, &known);
        assert_eq!(similar("statsu").as_deref(), Some("status"));
        assert_eq!(similar("stauts").as_deref(), Some("status"));
        assert_eq!(similar("sandbx").as_deref(), Some("sandbox"));
        assert_eq!(similar("doctr").as_deref(), Some("doctor"));
        assert_eq!(similar("conf").as_deref(), Some("config"));
        assert_eq!(similar("zzzzzz"), None);
    }

    #[test]
    fn json_is_asked_for_anywhere_before_a_double_dash() {
        let words = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(wants_json(&words(&["stauts", "--json"])));
        assert!(!wants_json(&words(&["x", "--", "--json"])));
        assert!(!wants_json(&words(&["x"])));
    }
}
