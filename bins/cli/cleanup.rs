//! `git pcc cleanup`: remove what dead sessions left behind, in the
//! repository around the working directory (or `--repo`), in one kept
//! worktree (`--worktree`), or everywhere (`--all`).

use std::path::PathBuf;

use clap::Args;
use pcc::session::{self, CleanupReport, CleanupScope};

use crate::render;
use crate::scope::Scope;
use crate::{Output, EXIT_FAILURE};

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Only list what would be removed
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove worktrees and branches that hold work
    #[arg(long)]
    pub force: bool,
    /// The repository containing this path (default: the one around the
    /// working directory)
    #[arg(long, value_name = "PATH", conflicts_with_all = ["all", "worktree"])]
    pub repo: Option<PathBuf>,
    /// Only this kept worktree (or the worktree of this stale session)
    #[arg(long, value_name = "PATH", conflicts_with = "all")]
    pub worktree: Option<PathBuf>,
    /// Every repository parallel-cc knows
    #[arg(long)]
    pub all: bool,
    /// Also remove clean worktrees no session accounts for any more that
    /// nobody used for this long: 30m, 12h, 7d, 2w
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,
}

/// `30m`, `12h`, `7d`, `2w` (also `s`) in seconds.
fn parse_duration(text: &str) -> anyhow::Result<i64> {
    let invalid = || {
        pcc::UserError::with_hint(
            format!("invalid duration '{text}' for --older-than"),
            "a number and a unit: 30m, 12h, 7d or 2w",
        )
    };
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| invalid())?;
    let unit = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(invalid().into()),
    };
    number.checked_mul(unit).ok_or_else(|| invalid().into())
}

pub fn run(args: CleanupArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    crate::config::warn_about_settings(&data_dir);
    let scope = match &args.worktree {
        Some(path) => CleanupScope::Worktree(path.clone()),
        None => match Scope::resolve(args.repo.as_deref(), args.all, Some("git pcc cleanup"))? {
            Scope::Repository(path) => CleanupScope::Repository(path),
            Scope::All { .. } => CleanupScope::All,
        },
    };
    let older_than = args.older_than.as_deref().map(parse_duration).transpose()?;
    let report = session::cleanup_with(&data_dir, &scope, args.dry_run, args.force, older_than)
        .map_err(|err| crate::scope::with_repo_hint(err, args.repo.is_some()))?;
    let code = if report.failures.is_empty() && report.repaired.failed.is_empty() {
        0
    } else {
        EXIT_FAILURE
    };
    Ok(Output::new(&seed_fields(&report), human(&report, &scope)).with_exit_code(code))
}

/// Our report with the TypeScript tool's fields beside it: how many
/// sessions went (`removed`), their ids (`sessions`) and the names of the
/// worktrees removed (`worktreesRemoved`).
fn seed_fields(report: &CleanupReport) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    let ids: Vec<&str> = report
        .removed_sessions
        .iter()
        .map(|s| s.session_id.as_str())
        .collect();
    let names: Vec<String> = report
        .removed_worktrees
        .iter()
        .filter_map(|path| std::path::Path::new(path).file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    value["removed"] = ids.len().into();
    value["sessions"] = serde_json::json!(ids);
    value["worktreesRemoved"] = serde_json::json!(names);
    value
}

fn human(report: &CleanupReport, scope: &CleanupScope) -> String {
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut out = String::new();
    for path in &report.repaired.undone {
        let verb = if report.dry_run {
            "would undo"
        } else {
            "undid"
        };
        out.push_str(&format!(
            "{verb} the interrupted creation of {}\n",
            render::quoted(path)
        ));
    }
    for path in &report.repaired.finished {
        let verb = if report.dry_run {
            "would finish"
        } else {
            "finished"
        };
        out.push_str(&format!(
            "{verb} the interrupted removal of {}\n",
            render::quoted(path)
        ));
    }
    for path in &report.repaired.kept {
        out.push_str(&format!(
            "kept {}: its creation was interrupted, and its branch has commits since\n",
            render::quoted(path)
        ));
    }
    for s in &report.removed_sessions {
        out.push_str(&format!(
            "{verb} stale session {} (pid {}, {})\n",
            render::short_id(&s.session_id),
            s.pid,
            if s.is_main_repo {
                "main checkout".into()
            } else {
                render::quoted(&s.worktree_path)
            }
        ));
    }
    for path in &report.removed_worktrees {
        out.push_str(&format!("{verb} worktree {}\n", render::quoted(path)));
    }
    for kept in &report.kept {
        out.push_str(&format!(
            "kept {} ({})\n",
            render::quoted(&kept.worktree_path),
            render::quoted(&kept.reason)
        ));
    }
    for failure in &report.repaired.failed {
        out.push_str(&format!(
            "could not repair the interrupted {} of {}: {}\n",
            failure.operation,
            render::quoted(&failure.worktree_path),
            failure.error
        ));
    }
    for failure in &report.failures {
        out.push_str(&format!(
            "could not clean up {}: {}\n",
            render::quoted(&failure.worktree_path),
            failure.error
        ));
    }
    if out.is_empty() {
        out.push_str("nothing to clean up\n");
    } else if !report.kept.is_empty() && !report.force {
        out.push_str(&format!(
            "'git pcc cleanup --force {}' removes the kept worktrees that hold work too\n",
            scope_flag(scope, report)
        ));
    }
    out
}

/// The flag that names the same scope again.
fn scope_flag(scope: &CleanupScope, report: &CleanupReport) -> String {
    match scope {
        CleanupScope::All => "--all".to_owned(),
        CleanupScope::Worktree(path) => {
            let path = report
                .kept
                .first()
                .map(|k| k.worktree_path.clone())
                .unwrap_or_else(|| path.to_string_lossy().into_owned());
            format!("--worktree {}", render::shell_word(&path))
        }
        CleanupScope::Repository(_) => {
            format!("--repo {}", render::shell_word(&report.repo_path))
        }
    }
}
