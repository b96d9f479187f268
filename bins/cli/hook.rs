//! `git pcc hook <event>`: the entry points of the Claude Code hooks that
//! `git pcc install --hooks` configures. Each reads the hook's JSON on stdin.

use std::io::{Read, Write};

use clap::{Args, ValueEnum};
use pcc::hooks::{self, HookOutcome};

use crate::Output;

#[derive(Debug, Args)]
pub struct HookArgs {
    /// The hook event this run answers
    #[arg(value_enum)]
    pub event: HookEvent,
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
    /// Deny an edit of a file another session holds EXCLUSIVE
    PreToolUse,
}

/// The most of a hook payload we read; payloads are a few hundred bytes.
const HOOK_INPUT_LIMIT: u64 = 1 << 20;

/// Reads a Claude Code hook payload from stdin: `Null` when it is missing
/// or not JSON (hooks never fail the agent over their input).
pub fn read_payload() -> serde_json::Value {
    let mut input = String::new();
    let _ = std::io::stdin()
        .take(HOOK_INPUT_LIMIT)
        .read_to_string(&mut input);
    serde_json::from_str(&input).unwrap_or(serde_json::Value::Null)
}

pub fn run(args: HookArgs) -> anyhow::Result<Output> {
    let payload = read_payload();
    let outcome = match crate::data_dir() {
        Ok(data_dir) => match args.event {
            HookEvent::SessionStart => hooks::session_start(&data_dir, &payload),
            HookEvent::SessionEnd => hooks::session_end(&data_dir, &payload),
            HookEvent::WorktreeCreate => hooks::worktree_create(&data_dir, &payload),
            HookEvent::WorktreeRemove => hooks::worktree_remove(&data_dir, &payload),
            HookEvent::PreToolUse => hooks::pre_tool_use(&data_dir, &payload),
        },
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
