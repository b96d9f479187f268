//! `git pcc cleanup`: remove what dead sessions left behind.

use std::path::PathBuf;

use clap::Args;
use pcc::session::{self, CleanupReport};

use crate::render;
use crate::Output;

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Only list what would be removed
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove worktrees and branches that hold work
    #[arg(long)]
    pub force: bool,
    /// Only the repository containing this path
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
}

pub fn run(args: CleanupArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    crate::config::warn_about_settings(&data_dir);
    let report = session::cleanup(&data_dir, args.repo.as_deref(), args.dry_run, args.force)?;
    Ok(Output::new(&report, human(&report)))
}

fn human(report: &CleanupReport) -> String {
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut out = String::new();
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
    if out.is_empty() {
        out.push_str("nothing to clean up\n");
    } else if !report.kept.is_empty() && !report.force {
        out.push_str("'git pcc cleanup --force' removes kept worktrees too\n");
    }
    out
}
