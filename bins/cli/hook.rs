//! `git pcc hook <event>`: the entry points of the Claude Code hooks that
//! `git pcc install --hooks` configures. Each reads the hook's JSON on stdin.
//! The hooks run inside the agent's step, so `git-pcc hook` parses only its
//! own arguments ([`HookCommand`]).

use std::io::{Read, Write};

use clap::{Args, ValueEnum};
use pcc::hooks::{self, HookOutcome};

use crate::Output;

// `git pcc hook` parsed on its own, as `heartbeat` is: the state hooks run
// at every prompt, tool and stop. Same arguments as the `hook` subcommand
// of `FrontArgs`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "git-pcc hook",
    bin_name = "git pcc hook",
    version,
    about = "Claude Code hook entry points (run by the installed hooks)"
)]
pub struct HookCommand {
    #[command(flatten)]
    pub args: HookArgs,
}

#[derive(Debug, Args)]
pub struct HookArgs {
    /// The hook event this run answers
    #[arg(value_enum)]
    pub event: HookEvent,
    /// The agent whose hook this is: claude, codex or gemini (their
    /// payloads and answers differ)
    #[arg(long, value_name = "NAME", default_value = pcc::agents::DEFAULT_AGENT)]
    pub agent: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum HookEvent {
    /// Register an agent started without the wrapper, when its checkout is free
    SessionStart,
    /// Release the agent's sessions (work is kept)
    SessionEnd,
    /// Create a worktree for `claude --worktree` and print its path
    WorktreeCreate,
    /// Release the session of a worktree Claude Code removes
    WorktreeRemove,
    /// Record that the session works (waits, for AskUserQuestion); deny an
    /// edit of a file another session holds EXCLUSIVE
    PreToolUse,
    /// Record that the session works on a prompt
    UserPromptSubmit,
    /// Record that the session waits for a permission
    PermissionRequest,
    /// Record that the session waits for its user (permission prompt,
    /// question) or is idle at its prompt
    Notification,
    /// Record that the session is idle, with the first line of its last message
    Stop,
    /// Record that the session is idle after an error ended its turn
    StopFailure,
    /// Record that the session is compacting its conversation
    PreCompact,
    /// Record that the session's compaction ended
    PostCompact,
}

/// Whether `word` names a hook event (`session-start`, ...).
pub fn is_event(word: &std::ffi::OsStr) -> bool {
    word.to_str()
        .is_some_and(|word| HookEvent::from_str(word, false).is_ok())
}

/// Reads a Claude Code hook's whole stdin: payloads of edit tools carry the
/// file's content and may be many megabytes.
pub fn read_input() -> Vec<u8> {
    let mut input = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut input);
    input
}

/// A hook payload as JSON: `Null` when it is missing or not JSON (hooks
/// never fail the agent over their input); a payload that is not JSON is
/// logged.
fn parse_payload(data_dir: &std::path::Path, event: &str, input: &[u8]) -> serde_json::Value {
    if input.iter().all(u8::is_ascii_whitespace) {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(input).unwrap_or_else(|err| {
        hooks::log_unreadable(data_dir, event, input.len(), &err);
        serde_json::Value::Null
    })
}

pub fn run(args: HookArgs) -> anyhow::Result<Output> {
    // The hook's time, before anything can make it wait: it orders the
    // state updates of hooks that land out of order.
    let at = pcc::session::state::now_millis();
    let input = read_input();
    // A hook never fails its agent: a name that cannot be an agent's is
    // taken as Claude Code's.
    let agent = if pcc::agents::is_valid_name(&args.agent) {
        args.agent.as_str()
    } else {
        pcc::agents::DEFAULT_AGENT
    };
    let dialect = pcc::agents::hook_dialect(agent);
    let outcome = match crate::data_dir() {
        Ok(data_dir) => {
            let payload = || parse_payload(&data_dir, args.event.name(), &input);
            match args.event {
                HookEvent::SessionStart => hooks::session_start(&data_dir, &payload(), at, agent),
                HookEvent::SessionEnd => hooks::session_end(&data_dir, &payload(), at),
                HookEvent::WorktreeCreate => hooks::worktree_create(&data_dir, &payload()),
                HookEvent::WorktreeRemove => hooks::worktree_remove(&data_dir, &payload()),
                HookEvent::PreToolUse => hooks::pre_tool_use(&data_dir, &input, at, dialect),
                event => hooks::record_state(&data_dir, event.name(), &input, at),
            }
        }
        Err(err) => match args.event {
            HookEvent::WorktreeCreate => HookOutcome {
                stderr: format!("parallel-cc: {err:#}\n"),
                exit_code: 1,
                ..HookOutcome::default()
            },
            _ => HookOutcome::default(),
        },
    };
    let _ = std::io::stdout().write_all(outcome.stdout.as_bytes());
    let _ = std::io::stderr().write_all(outcome.stderr.as_bytes());
    Ok(Output::silent().with_exit_code(outcome.exit_code))
}

impl HookEvent {
    fn name(self) -> &'static str {
        match self {
            HookEvent::SessionStart => "SessionStart",
            HookEvent::SessionEnd => "SessionEnd",
            HookEvent::WorktreeCreate => "WorktreeCreate",
            HookEvent::WorktreeRemove => "WorktreeRemove",
            HookEvent::PreToolUse => "PreToolUse",
            HookEvent::UserPromptSubmit => "UserPromptSubmit",
            HookEvent::PermissionRequest => "PermissionRequest",
            HookEvent::Notification => "Notification",
            HookEvent::Stop => "Stop",
            HookEvent::StopFailure => "StopFailure",
            HookEvent::PreCompact => "PreCompact",
            HookEvent::PostCompact => "PostCompact",
        }
    }
}
