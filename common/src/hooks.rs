//! Agent hook handlers. Each reads the hook's JSON payload and decides
//! what parallel-cc does for that event; the binary prints the outcome.
//! Claude Code's events are the names here; the Codex CLI sends the same
//! payloads and reads the same answers; the Gemini CLI's events are run as
//! theirs (`BeforeTool` as `PreToolUse`, `AfterAgent` as `Stop`, ...) and
//! its denial is answered in its own form (see [`HookDialect`]).
//!
//! - `SessionStart`: an agent started without the wrapper registers itself
//!   in the checkout it runs in (the main checkout or a worktree the user
//!   made) when that is free, or is told that another session works there;
//!   an agent started by the wrapper records its own process for its
//!   session, which then lives as long as the agent does.
//! - `SessionEnd`: the agent's sessions are released (work is kept).
//! - `WorktreeCreate` (`claude --worktree`, isolated subagents): the worktree
//!   is created through parallel-cc as a registered session; its absolute path
//!   is the hook's only output, and a failure fails the creation.
//! - `WorktreeRemove`: the session of that worktree is released.
//! - `PreToolUse` (every tool): the session is `working` (`waiting` for an
//!   `AskUserQuestion`); an edit of a file another live session holds
//!   EXCLUSIVE is denied, with the reason. The payload is read whole (a
//!   Write carries the file's content, often megabytes) but only the fields
//!   the decision needs are kept; one that cannot be parsed is allowed and
//!   logged.
//! - `UserPromptSubmit`, `PermissionRequest`, `Notification`, `Stop`,
//!   `StopFailure`, `PreCompact`, `PostCompact`: the session's state (see
//!   `session::state`), in the one statement a heartbeat costs. Those that
//!   move it to `waiting` or `idle` (and `PreToolUse` of an
//!   `AskUserQuestion`) start the user's notifier when `notify.enabled`
//!   says so and the change calls for it (see `notify`), without waiting
//!   for it.
//!
//! Hooks other than `WorktreeCreate` never fail the agent and never stall
//! it: whatever goes wrong, they exit 0, and they wait a fraction of a
//! second at most for a repository or database another process is changing.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::agents::Hooks as HookDialect;
use crate::session::state::{self, HookPayload, StateUpdate};
use crate::session::{self, HeartbeatTarget, Patience, Placement, SessionSelector};
use crate::{paths, process, time, UserError};

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

/// The state update a hook named `hook_event` makes with this payload,
/// stamped with the time the hook started.
fn state_update(hook_event: &str, payload: &HookPayload, at_millis: i64) -> Option<StateUpdate> {
    state::event_of(hook_event, payload).and_then(|event| StateUpdate::new(&event, at_millis))
}

/// A payload read as JSON, for the state it reports.
fn state_payload(payload: &Value) -> HookPayload {
    serde_json::from_value(payload.clone()).unwrap_or_default()
}

/// `SessionStart` of the agent named `agent`.
pub fn session_start(
    data_dir: &Path,
    payload: &Value,
    at_millis: i64,
    agent_name: &str,
) -> HookOutcome {
    let known = HeartbeatTarget {
        env_session_id: env_session_id(),
        ancestors: true,
        state: state_update("SessionStart", &state_payload(payload), at_millis),
        ..HeartbeatTarget::default()
    };
    let agent = process::agent_ancestor();
    let conversation = text_field(payload, "session_id").filter(|id| !id.is_empty());
    if let Ok(Some(beat)) = session::heartbeat(data_dir, &known) {
        if let Some(agent) = agent.filter(|agent| *agent != beat.pid) {
            let _ = session::record_agent(data_dir, &beat.session_id, agent);
        }
        if let Some(conversation) = conversation {
            let _ = session::record_conversation(data_dir, &beat.session_id, conversation);
        }
        return HookOutcome::quiet();
    }
    let (Some(cwd), Some(agent)) = (payload_cwd(payload), agent) else {
        return HookOutcome::quiet();
    };
    let request = session::Request {
        placement: &Placement::CurrentCheckoutOnly,
        patience: Patience::Hook,
        base: None,
        agent: Some(agent_name),
        config: None,
    };
    match session::register_from(data_dir, &cwd, agent, &request) {
        Ok(registration) => {
            if let Some(conversation) = conversation {
                let _ =
                    session::record_conversation(data_dir, &registration.session_id, conversation);
            }
            HookOutcome::quiet()
        }
        Err(err) => match err.downcast_ref::<UserError>() {
            Some(user) if user.message.starts_with("another session") => HookOutcome {
                stdout: format!(
                    "parallel-cc: {}. Edits here may collide with it; for isolated work start with \
                     `{agent_name}-parallel`{}.\n",
                    user.message,
                    if agent_name == crate::agents::DEFAULT_AGENT {
                        " or `claude --worktree`"
                    } else {
                        ""
                    }
                ),
                ..HookOutcome::default()
            },
            _ => HookOutcome::quiet(),
        },
    }
}

/// `SessionEnd`.
pub fn session_end(data_dir: &Path, payload: &Value, at_millis: i64) -> HookOutcome {
    if text_field(payload, "reason") == Some("clear") {
        // `/clear` starts a new conversation in the same process.
        return HookOutcome::quiet();
    }
    // Ended first: a session whose release cannot be done now shows so.
    // Only the agent's own session (not one found by the directory, which
    // may be another agent's that works there).
    let ending = HeartbeatTarget {
        env_session_id: env_session_id(),
        ancestors: true,
        state: state_update("SessionEnd", &state_payload(payload), at_millis),
        ..HeartbeatTarget::default()
    };
    let _ = session::heartbeat(data_dir, &ending);
    let mut ids: Vec<String> = env_session_id().into_iter().collect();
    if let Some(agent) = process::agent_ancestor() {
        ids.extend(session::sessions_of_pid(data_dir, agent).unwrap_or_default());
    }
    ids.dedup();
    let mut outcome = HookOutcome::quiet();
    for id in ids {
        let released = session::release(data_dir, &SessionSelector::Id(id), false, Patience::Hook);
        if let Ok(report) = released {
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
    let placement = Placement::Worktree { name };
    match session::register_with(data_dir, &cwd, agent, &placement, Patience::Command) {
        Ok(registration) => HookOutcome {
            stdout: format!("{}\n", registration.worktree_path),
            ..HookOutcome::default()
        },
        Err(err) => fail(format!("{err:#}")),
    }
}

/// The tools whose edits a claim guards, and where each names its file:
/// Claude Code's, the Gemini CLI's (`write_file`, `replace`), then
/// OpenCode's (`edit`, `write`; their `filePath`).
const EDIT_TOOLS: &[(&str, &str)] = &[
    ("Edit", "file_path"),
    ("Write", "file_path"),
    ("MultiEdit", "file_path"),
    ("NotebookEdit", "notebook_path"),
    ("write_file", "file_path"),
    ("replace", "file_path"),
    ("edit", "file_path"),
    ("write", "file_path"),
];

/// The files a tool call is about to change, as given (absolute, or
/// relative to the agent's directory): the file of an edit tool, or each
/// file of a patch in the Codex CLI's `apply_patch` format (its own tool,
/// or run through its shell tool).
fn edited_files(tool_name: &str, input: &state::ToolInput) -> Vec<String> {
    if let Some((_, field)) = EDIT_TOOLS.iter().find(|(name, _)| *name == tool_name) {
        let file = match *field {
            "notebook_path" => input.notebook_path.clone(),
            _ => input.file_path.clone(),
        };
        return file.filter(|f| !f.is_empty()).into_iter().collect();
    }
    match tool_name {
        "apply_patch" | "Bash" => input
            .command
            .as_deref()
            .map(patched_files)
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The files a patch in the `apply_patch` format adds, updates, deletes or
/// moves to (`*** Update File: src/lib.rs`); none when `text` holds no patch.
pub fn patched_files(text: &str) -> Vec<String> {
    if !text.contains("*** Begin Patch") {
        return Vec::new();
    }
    const HEADERS: [&str; 4] = [
        "*** Add File: ",
        "*** Update File: ",
        "*** Delete File: ",
        "*** Move to: ",
    ];
    let mut files: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if let Some(file) = HEADERS.iter().find_map(|header| line.strip_prefix(header)) {
            let file = file.trim().to_owned();
            if !file.is_empty() && !files.contains(&file) {
                files.push(file);
            }
        }
    }
    files
}

/// `PreToolUse`: records that the session works (or waits, for an
/// `AskUserQuestion`), then denies an edit of a file that another live
/// session holds EXCLUSIVE, with a reason the agent can read, in the form
/// its `dialect` reads. `input` is the hook's whole stdin.
pub fn pre_tool_use(
    data_dir: &Path,
    input: &[u8],
    at_millis: i64,
    dialect: HookDialect,
) -> HookOutcome {
    let payload: HookPayload = match serde_json::from_slice(input) {
        Ok(payload) => payload,
        Err(err) => {
            log_unreadable(data_dir, "PreToolUse", input.len(), &err);
            return HookOutcome::quiet();
        }
    };
    let cwd = payload
        .cwd
        .clone()
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok());
    let target = HeartbeatTarget {
        env_session_id: env_session_id(),
        ancestors: true,
        cwd,
        ..HeartbeatTarget::default()
    };
    let working = HeartbeatTarget {
        state: state_update("PreToolUse", &payload, at_millis),
        ..target.clone()
    };
    beat_and_notify(data_dir, "PreToolUse", working);
    let tool_name = payload.tool_name.unwrap_or_default();
    let files = edited_files(&tool_name, &payload.tool_input.unwrap_or_default());
    if files.is_empty() {
        return HookOutcome::quiet();
    }
    let Ok(Some(me)) = session::find_session(data_dir, &target) else {
        return HookOutcome::quiet();
    };
    // A relative path is the agent's: relative to the directory it runs in.
    let base = target
        .cwd
        .clone()
        .unwrap_or_else(|| PathBuf::from(&me.worktree_path));
    let claimant = crate::claims::Claimant {
        session_id: me.session_id,
        repo_path: PathBuf::from(me.repo_path),
        worktree_path: PathBuf::from(me.worktree_path),
    };
    for file in files {
        let file = base.join(&file).to_string_lossy().into_owned();
        if let Ok(Some(blocker)) = crate::claims::exclusive_blocker(data_dir, &claimant, &file) {
            return deny(&blocker, dialect);
        }
    }
    HookOutcome::quiet()
}

/// The hooks that only report a state: `UserPromptSubmit`,
/// `PermissionRequest`, `Notification`, `Stop`, `StopFailure`,
/// `PreCompact`, `PostCompact` (`hook_event` is Claude Code's name). One
/// statement; silent; a state the hook had to skip is logged.
pub fn record_state(
    data_dir: &Path,
    hook_event: &str,
    input: &[u8],
    at_millis: i64,
) -> HookOutcome {
    let payload = HookPayload::parse(input);
    let Some(update) = state_update(hook_event, &payload, at_millis) else {
        return HookOutcome::quiet();
    };
    let target = HeartbeatTarget {
        env_session_id: env_session_id(),
        ancestors: true,
        cwd: payload
            .cwd
            .filter(|c| !c.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok()),
        state: Some(update),
        ..HeartbeatTarget::default()
    };
    beat_and_notify(data_dir, hook_event, target);
    HookOutcome::quiet()
}

/// The state hook's heartbeat; when notifications are on and its update
/// moves the session to `waiting` or `idle`, the same statement tells the
/// state before, and the notifier the change calls for is started. What
/// fails is logged.
fn beat_and_notify(data_dir: &Path, hook_event: &str, mut target: HeartbeatTarget) {
    let config = crate::notify::wanted(data_dir, target.state.as_ref());
    target.observe_change = config.is_some();
    let beat = match session::heartbeat(data_dir, &target) {
        Ok(beat) => beat,
        Err(err) => {
            log_line(data_dir, &format!("{hook_event}: state skipped: {err:#}"));
            return;
        }
    };
    let (Some(config), Some(beat), Some(update)) = (config, beat, &target.state) else {
        return;
    };
    let Some(change) = &beat.change else {
        return;
    };
    let minutes = config
        .integer("notify.idleAfterWorkingMinutes")
        .unwrap_or(2);
    let Some(notice) = crate::notify::notice_for(&beat.session_id, update, change, minutes) else {
        return;
    };
    if let Err(err) = crate::notify::send(&config, &notice) {
        log_line(
            data_dir,
            &format!("{hook_event}: notification skipped: {err:#}"),
        );
    }
}

fn deny(blocker: &crate::claims::Claim, dialect: HookDialect) -> HookOutcome {
    let reason = format!(
        "{} is claimed EXCLUSIVE by another parallel-cc session ({}){} until {}. Do not edit it now: \
         work on something else, or coordinate (list_file_claims shows the claim).",
        blocker.file_path,
        blocker.session_id,
        blocker
            .reason
            .as_deref()
            .map(|r| format!(" for: {r}"))
            .unwrap_or_default(),
        blocker.expires_at
    );
    let decision = match dialect {
        HookDialect::Gemini => serde_json::json!({"decision": "deny", "reason": reason}),
        _ => serde_json::json!({
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason
            }
        }),
    };
    HookOutcome {
        stdout: format!("{decision}\n"),
        ..HookOutcome::default()
    }
}

/// Records a hook payload that could not be parsed, so an edit a claim
/// might have denied is never allowed silently. Only its size and the
/// parser's message are written: the payload may hold secrets.
pub fn log_unreadable(data_dir: &Path, event: &str, size: usize, err: &serde_json::Error) {
    log_line(
        data_dir,
        &format!(
            "{event}: payload of {size} bytes could not be parsed ({err}); the step was allowed"
        ),
    );
}

/// Appends one dated line to `logs/hooks.log`: what a silent hook could
/// not do is found there.
pub fn log_line(data_dir: &Path, message: &str) {
    let dir = paths::logs_dir(data_dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let line = format!(
        "{} {message}\n",
        time::format_sqlite_datetime(time::unix_now())
    );
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("hooks.log"))
    {
        let _ = file.write_all(line.as_bytes());
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
    match session::release(data_dir, &SessionSelector::Id(id), false, Patience::Hook) {
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
