//! `git-pcc-release`: end a session and tidy up after it.

use clap::{ArgGroup, Parser};
use pcc::session::{self, Patience, ReleaseReport, SessionSelector};

use crate::render;
use crate::Output;

/// End a session; its worktree and branch go unless they hold work.
///
/// Removes the session and, for a worktree session, its worktree and branch,
/// unless they hold work (uncommitted files, or commits not on the branch it
/// started from): those are kept, and the reason is reported.
#[derive(Debug, Parser)]
#[command(name = "git-pcc-release", version, group(ArgGroup::new("target").required(true).args(["pid", "session_id"])))]
pub struct ReleaseArgs {
    /// PID the session was registered with
    #[arg(long, value_name = "PID")]
    pub pid: Option<i64>,
    /// Id of the session
    #[arg(long, value_name = "ID")]
    pub session_id: Option<String>,
    /// Also remove a worktree and branch that hold work
    #[arg(long)]
    pub force: bool,
    /// Print nothing, and treat an unknown session as success (for hooks)
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ReleaseArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    if !args.quiet {
        crate::config::warn_about_settings(&data_dir);
    }
    let selector = match (&args.session_id, args.pid) {
        (Some(id), _) => SessionSelector::Id(id.clone()),
        (None, Some(pid)) => SessionSelector::Pid(pid),
        (None, None) => unreachable!("clap requires --pid or --session-id"),
    };
    match session::release(&data_dir, &selector, args.force, Patience::Command) {
        Ok(report) if args.quiet => {
            // Kept work is worth a line even in quiet mode: it is on disk.
            if let Some(kept) = &report.kept {
                eprintln!(
                    "parallel-cc: kept worktree {} ({})",
                    render::quoted(&kept.worktree_path),
                    render::quoted(&kept.reason)
                );
            }
            Ok(Output::new(&seed_fields(&report), String::new()))
        }
        Ok(report) => Ok(Output::new(&seed_fields(&report), human(&report))),
        Err(err) if args.quiet && err.downcast_ref::<pcc::UserError>().is_some() => {
            Ok(Output::silent())
        }
        Err(err) if args.json && is_unknown_session(&err) => {
            // The TypeScript tool answered an unknown PID with
            // `{"released": false}` and exit 0; scripts rely on it.
            let mut value = serde_json::json!({"released": false, "worktreeRemoved": false});
            match &selector {
                SessionSelector::Pid(pid) => value["pid"] = (*pid).into(),
                SessionSelector::Id(id) => value["sessionId"] = id.clone().into(),
            }
            if let Some(user) = err.downcast_ref::<pcc::UserError>() {
                value["reason"] = user.message.clone().into();
            }
            Ok(Output::new(&value, String::new()))
        }
        Err(err) => Err(err),
    }
}

/// Our report with the TypeScript tool's `released` beside it.
fn seed_fields(report: &ReleaseReport) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    value["released"] = true.into();
    value
}

/// Whether `err` says no session matches (and nothing else went wrong).
fn is_unknown_session(err: &anyhow::Error) -> bool {
    err.downcast_ref::<pcc::UserError>()
        .is_some_and(|user| user.message.starts_with("no session"))
}

fn human(r: &ReleaseReport) -> String {
    let mut out = format!(
        "released session {} (pid {})\n",
        render::short_id(&r.session_id),
        r.pid
    );
    if let Some(kept) = &r.kept {
        out.push_str(&render::fields(&[
            ("kept", render::quoted(&kept.worktree_path).into_owned()),
            ("branch", kept.branch.clone().unwrap_or_default()),
            ("because", kept.reason.clone()),
        ]));
        let path = render::shell_word(&kept.worktree_path);
        out.push_str(&if kept.locked {
            format!("'git worktree unlock {path}' lets 'git pcc cleanup --worktree {path}' remove it\n")
        } else {
            format!("remove it with 'git pcc cleanup --force --worktree {path}' once the work is safe\n")
        });
    } else if r.worktree_removed {
        let mut removed = format!("removed worktree {}", render::quoted(&r.worktree_path));
        if r.branch_deleted {
            removed.push_str(" and its branch");
        }
        out.push_str(&removed);
        out.push('\n');
    }
    out
}
