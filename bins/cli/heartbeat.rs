//! `git pcc heartbeat`: mark a session alive. Claude Code runs it after
//! every tool call (`--hook`), so it does one SQLite write and nothing else,
//! and as a hook it is silent and succeeds whatever happens.

use std::path::PathBuf;

use clap::Args;
use pcc::session::{self, state, HeartbeatTarget};

use crate::Output;

// `git pcc heartbeat` parsed on its own: the hook runs it after every tool
// call, and building the whole front-door command tree for that is
// measurable. Same flags as the `heartbeat` subcommand of `FrontArgs`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "git-pcc heartbeat",
    bin_name = "git pcc heartbeat",
    version,
    about = "Mark a session alive (also the Claude Code hook entry point)"
)]
pub struct HeartbeatCommand {
    /// Print results as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub args: HeartbeatArgs,
}

#[derive(Debug, Args)]
pub struct HeartbeatArgs {
    /// PID the session was registered with
    #[arg(long, value_name = "PID")]
    pub pid: Option<i64>,
    /// Id of the session
    #[arg(long, value_name = "ID")]
    pub session_id: Option<String>,
    /// Run as a Claude Code hook: read the hook's JSON on stdin, print
    /// nothing, always exit 0
    #[arg(long)]
    pub hook: bool,
    /// Record the agent's own process for the session (with --session-id),
    /// so the session lives as long as the agent
    #[arg(
        long,
        value_name = "PID",
        requires = "session_id",
        conflicts_with = "hook"
    )]
    pub agent_pid: Option<i64>,
}

pub fn run(args: HeartbeatArgs) -> anyhow::Result<Output> {
    if args.hook {
        if let Err(err) = run_hook(&args) {
            // Silent for the agent; a skipped beat (a database another
            // process held longer than a hook waits) is logged.
            if let Ok(data_dir) = crate::data_dir() {
                pcc::hooks::log_line(
                    &data_dir,
                    &format!("PostToolUse: heartbeat skipped: {err:#}"),
                );
            }
        }
        return Ok(Output::silent());
    }
    let data_dir = crate::data_dir()?;
    if let (Some(agent), Some(id)) = (args.agent_pid, &args.session_id) {
        return record_agent(&data_dir, id, agent);
    }
    let target = HeartbeatTarget {
        session_id: args.session_id.clone(),
        env_session_id: env_session_id(),
        pid: args.pid,
        ancestors: true,
        cwd: std::env::current_dir().ok(),
        take_notices: false,
        state: None,
        observe_change: false,
    };
    match session::heartbeat(&data_dir, &target)? {
        Some(beat) => {
            let human = format!(
                "heartbeat recorded for session {} (pid {})\n",
                beat.session_id, beat.pid
            );
            Ok(Output::new(&beat, human))
        }
        None => Err(pcc::UserError::with_hint(
            "no session found for this heartbeat",
            "pass --session-id or --pid, or run it inside a registered session",
        )
        .into()),
    }
}

fn record_agent(data_dir: &std::path::Path, id: &str, agent: i64) -> anyhow::Result<Output> {
    if !pcc::process::is_alive(agent) {
        return Err(pcc::UserError::new(format!("process {agent} is not running")).into());
    }
    if !session::record_agent(data_dir, id, agent)? {
        return Err(pcc::UserError::with_hint(
            format!("no session with id {id}"),
            "'git pcc status' lists the sessions",
        )
        .into());
    }
    let human = format!("session {id} now lives as long as process {agent}\n");
    Ok(Output::new(
        &serde_json::json!({"sessionId": id, "agentPid": agent}),
        human,
    ))
}

/// The `PostToolUse` hook: the heartbeat, which also records that the
/// session works (one statement). The payload's fields other than those the
/// state reads (a tool's whole output, of any size) are skipped without
/// being kept.
fn run_hook(args: &HeartbeatArgs) -> anyhow::Result<()> {
    let at = state::now_millis();
    let input = crate::hook::read_input();
    let payload = state::HookPayload::parse(&input);
    // The state of the event Claude Code names (PostToolUse where we
    // install it); none when the payload names none.
    let update = payload
        .hook_event_name
        .as_deref()
        .and_then(|name| state::event_of(name, &payload))
        .and_then(|event| state::StateUpdate::new(&event, at));
    let cwd = payload
        .cwd
        .filter(|cwd| !cwd.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok());
    let target = HeartbeatTarget {
        session_id: args.session_id.clone(),
        env_session_id: env_session_id(),
        pid: args.pid,
        ancestors: true,
        cwd,
        take_notices: true,
        state: update,
        observe_change: false,
    };
    if let Some(beat) = session::heartbeat(&crate::data_dir()?, &target)? {
        if !beat.notices.is_empty() {
            // Claude Code passes additionalContext on to the agent.
            let output = serde_json::json!({
                "hookSpecificOutput": {
                    "hookEventName": "PostToolUse",
                    "additionalContext": beat.notices.join("\n")
                }
            });
            println!("{output}");
        }
    }
    Ok(())
}

fn env_session_id() -> Option<String> {
    std::env::var("PARALLEL_CC_SESSION_ID")
        .ok()
        .filter(|s| !s.is_empty())
}
