//! `git pcc heartbeat`: mark a session alive. Claude Code runs it after
//! every tool call (`--hook`), so it does one SQLite write and nothing else,
//! and as a hook it is silent and succeeds whatever happens.

use std::path::PathBuf;

use clap::Args;
use pcc::session::{self, HeartbeatTarget};

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
}

pub fn run(args: HeartbeatArgs) -> anyhow::Result<Output> {
    if args.hook {
        let _ = run_hook(&args);
        return Ok(Output::silent());
    }
    let data_dir = crate::data_dir()?;
    let target = HeartbeatTarget {
        session_id: args.session_id.clone(),
        env_session_id: env_session_id(),
        pid: args.pid,
        ancestors: true,
        cwd: std::env::current_dir().ok(),
        take_notices: false,
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

fn run_hook(args: &HeartbeatArgs) -> anyhow::Result<()> {
    let payload = crate::hook::read_payload();
    let cwd = payload
        .get("cwd")
        .and_then(|v| v.as_str())
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok());
    let target = HeartbeatTarget {
        session_id: args.session_id.clone(),
        env_session_id: env_session_id(),
        pid: args.pid,
        ancestors: true,
        cwd,
        take_notices: true,
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
