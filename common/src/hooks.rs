//! Claude Code hook handlers. Each reads the hook's JSON payload and decides
//! what parallel-cc does for that event; the binary prints the outcome.
//!
//! - `SessionStart`: an agent started without the wrapper registers itself
//!   when its checkout is free, or is told that another session works there.
//! - `SessionEnd`: the agent's sessions are released (work is kept).
//! - `WorktreeCreate` (`claude --worktree`, isolated subagents): the worktree
//!   is created through parallel-cc as a registered session; its absolute path
//!   is the hook's only output, and a failure fails the creation.
//! - `WorktreeRemove`: the session of that worktree is released.
//! - `PreToolUse` (edit tools): an edit of a file another live session holds
//!   EXCLUSIVE is denied, with the reason.
//!
//! Hooks other than `WorktreeCreate` never fail the agent: whatever goes
//! wrong, they exit 0.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::session::{self, HeartbeatTarget, Placement, SessionSelector};
use crate::{process, UserError};

/// What a hook prints and how it exits.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HookOutcome {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

impl HookOutcome {
    fn quiet() -> HookOutcome {
        HookOutcome::default()
    }
}

fn text_field<'a>(payload: &'a Value, key: &str) -> Option<&'a str> {
    payload
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn payload_cwd(payload: &Value) -> Option<PathBuf> {
    text_field(payload, "cwd")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
}

fn env_session_id() -> Option<String> {
    std::env::var("PARALLEL_CC_SESSION_ID")
        .ok()
        .filter(|s| !s.is_empty())
}

/// `SessionStart`.
pub fn session_start(data_dir: &Path, payload: &Value) -> HookOutcome {
    let known = HeartbeatTarget {
        env_session_id: env_session_id(),
        ancestors: true,
        ..HeartbeatTarget::default()
    };
    if let Ok(Some(_)) = session::heartbeat(data_dir, &known) {
        return HookOutcome::quiet();
    }
    let (Some(cwd), Some(agent)) = (payload_cwd(payload), process::agent_ancestor()) else {
        return HookOutcome::quiet();
    };
    match session::register_with(data_dir, &cwd, agent, &Placement::MainCheckoutOnly) {
        Ok(_) => HookOutcome::quiet(),
        Err(err) => match err.downcast_ref::<UserError>() {
            Some(user) if user.message.starts_with("another session") => HookOutcome {
                stdout: format!(
                    "parallel-cc: {}. Edits here may collide with it; for isolated work start with \
                     `claude-parallel` or `claude --worktree`.\n",
                    user.message
                ),
                ..HookOutcome::default()
            },
            _ => HookOutcome::quiet(),
        },
    }
}

/// `SessionEnd`.
pub fn session_end(data_dir: &Path, payload: &Value) -> HookOutcome {
    if text_field(payload, "reason") == Some("clear") {
        // `/clear` starts a new conversation in the same process.
        return HookOutcome::quiet();
    }
    let mut ids: Vec<String> = env_session_id().into_iter().collect();
    if let Some(agent) = process::agent_ancestor() {
        ids.extend(session::sessions_of_pid(data_dir, agent).unwrap_or_default());
    }
    ids.dedup();
    let mut outcome = HookOutcome::quiet();
    for id in ids {
        if let Ok(report) = session::release(data_dir, &SessionSelector::Id(id), false) {
            if let Some(kept) = report.kept {
                outcome.stderr.push_str(&format!(
                    "parallel-cc: kept worktree {} ({})\n",
                    kept.worktree_path, kept.reason
                ));
            }
        }
    }
    outcome
}

/// `WorktreeCreate`: prints the new worktree's absolute path.
pub fn worktree_create(data_dir: &Path, payload: &Value) -> HookOutcome {
    let fail = |message: String| HookOutcome {
        stderr: format!("parallel-cc: {message}\n"),
        exit_code: 1,
        ..HookOutcome::default()
    };
    let Some(cwd) = payload_cwd(payload) else {
        return fail("the hook input has no cwd".to_owned());
    };
    let Some(agent) = process::agent_ancestor() else {
        return fail("cannot find the agent process that asked for the worktree".to_owned());
    };
    let name = text_field(payload, "name")
        .or_else(|| text_field(payload, "worktree_name"))
        .map(str::to_owned);
    match session::register_with(data_dir, &cwd, agent, &Placement::Worktree { name }) {
        Ok(registration) => HookOutcome {
            stdout: format!("{}\n", registration.worktree_path),
            ..HookOutcome::default()
        },
        Err(err) => fail(format!("{err:#}")),
    }
}

/// The tools whose edits a claim guards, and where each names its file.
const EDIT_TOOLS: &[(&str, &str)] = &[
    ("Edit", "file_path"),
    ("Write", "file_path"),
    ("MultiEdit", "file_path"),
    ("NotebookEdit", "notebook_path"),
];

/// `PreToolUse` for edit tools: denies an edit of a file that another live
/// session holds EXCLUSIVE, with a reason the agent can read.
pub fn pre_tool_use(data_dir: &Path, payload: &Value) -> HookOutcome {
    let tool = text_field(payload, "tool_name").unwrap_or_default();
    let Some((_, field)) = EDIT_TOOLS.iter().find(|(name, _)| *name == tool) else {
        return HookOutcome::quiet();
    };
    let Some(file) = payload
        .get("tool_input")
        .and_then(|input| text_field(input, field))
    else {
        return HookOutcome::quiet();
    };
    let target = HeartbeatTarget {
        env_session_id: env_session_id(),
        ancestors: true,
        cwd: payload_cwd(payload),
        ..HeartbeatTarget::default()
    };
    let Ok(Some(me)) = session::find_session(data_dir, &target) else {
        return HookOutcome::quiet();
    };
    let claimant = crate::claims::Claimant {
        session_id: me.session_id,
        repo_path: PathBuf::from(me.repo_path),
        worktree_path: PathBuf::from(me.worktree_path),
    };
    match crate::claims::exclusive_blocker(data_dir, &claimant, file) {
        Ok(Some(blocker)) => {
            let reason = format!(
                "{} is claimed EXCLUSIVE by another parallel-cc session ({}){} until {}. Do not edit it now: \
                 work on something else, or coordinate (list_file_claims shows the claim).",
                blocker.file_path,
                blocker.session_id,
                blocker.reason.as_deref().map(|r| format!(" for: {r}")).unwrap_or_default(),
                blocker.expires_at
            );
            let decision = serde_json::json!({
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": reason
                }
            });
            HookOutcome {
                stdout: format!("{decision}\n"),
                ..HookOutcome::default()
            }
        }
        _ => HookOutcome::quiet(),
    }
}

/// `WorktreeRemove`.
pub fn worktree_remove(data_dir: &Path, payload: &Value) -> HookOutcome {
    let Some(path) = text_field(payload, "worktree_path") else {
        return HookOutcome::quiet();
    };
    let Ok(Some(id)) = session::session_at_worktree(data_dir, Path::new(path)) else {
        return HookOutcome::quiet();
    };
    match session::release(data_dir, &SessionSelector::Id(id), false) {
        Ok(report) => match report.kept {
            Some(kept) => HookOutcome {
                stderr: format!(
                    "parallel-cc: kept worktree {} ({})\n",
                    kept.worktree_path, kept.reason
                ),
                ..HookOutcome::default()
            },
            None => HookOutcome::quiet(),
        },
        Err(_) => HookOutcome::quiet(),
    }
}
