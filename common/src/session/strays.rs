//! Worktrees no record accounts for, as `cleanup` handles them: those
//! Claude Code made itself under `.claude/worktrees/` (`claude --worktree`
//! without our `WorktreeCreate` hook), and, with `--older-than`, ours that
//! no session, kept record or journal entry names any more.
//!
//! The rules are those of every other worktree: one that holds work (see
//! `held_work`, measured against the main checkout's branch, since nothing
//! recorded where it started) or is locked stays, unless forced for work;
//! and one that some process has as its working directory (an agent that
//! works there without a session) always stays. With `--older-than` only
//! those unused for that long go (the newest change of their HEAD, index,
//! reflog or directory).

use std::path::Path;

use anyhow::Result;
use git2::Repository;

use super::release::{keep_reason, kept_counts, KeptWorktree};
use super::status::unaccounted;
use super::{sessions_where, Session};
use crate::config::Config;
use crate::db::Database;
use crate::held_work::{self, WorktreeBase};
use crate::worktree::{self, disk, Removal, RepoGuard, Unaccounted, MADE_BY_CLAUDE};
use crate::{git, process, time};

/// What to do with one stray worktree.
pub(super) enum Verdict {
    Remove(worktree::Located),
    Keep(KeptWorktree),
    /// Not `cleanup`'s to look at (one of ours without `--older-than`).
    Skip,
}

/// The stray worktrees of a repository, each with what `cleanup` does to it.
pub(super) fn strays(
    db: &Database,
    config: &Config,
    repo_key: &str,
    older_than: Option<i64>,
    force: bool,
) -> Result<Vec<(Unaccounted, Verdict)>> {
    let Ok(repo) = git::open(Path::new(repo_key)) else {
        return Ok(Vec::new());
    };
    let sessions: Vec<Session> = sessions_where(db.conn(), "WHERE repo_path = ?1", [repo_key])?;
    let journal = worktree::journal_entries(db.conn(), Some(repo_key))?;
    let found = unaccounted(db.conn(), config, Some(repo_key), &sessions, &journal)?;
    let now = time::unix_now();
    Ok(found
        .into_iter()
        .map(|stray| {
            let verdict = judge(&repo, &stray, older_than, force, now);
            (stray, verdict)
        })
        .collect())
}

fn judge(
    repo: &Repository,
    stray: &Unaccounted,
    older_than: Option<i64>,
    force: bool,
    now: i64,
) -> Verdict {
    if stray.made_by != MADE_BY_CLAUDE && older_than.is_none() {
        return Verdict::Skip;
    }
    let path = Path::new(&stray.worktree_path);
    let mut located = worktree::locate(repo, path, Some(&stray.worktree_name));
    if stray.made_by == MADE_BY_CLAUDE
        && located
            .locked
            .as_deref()
            .is_some_and(worktree::is_stale_claude_lock)
    {
        located.locked = None;
    }
    let base_branch = git::current_branch(repo);
    let held = held_work::held_work(
        repo,
        &located.path,
        &WorktreeBase {
            branch: stray.branch.as_deref(),
            base_branch: base_branch.as_deref(),
            base_commit: None,
        },
    );
    let mut reason = keep_reason(repo, &located, &held, base_branch.as_deref(), force);
    if reason.is_none() && process::any_works_in(&located.path) {
        reason = Some("a process works in it".to_owned());
    }
    if let (None, Some(limit)) = (&reason, older_than) {
        let admin = repo.path().join("worktrees").join(&stray.worktree_name);
        let idle = disk::last_activity(Some(&admin), &located.path).map(|t| now - t);
        if idle.is_none_or(|idle| idle < limit) {
            reason = Some(format!(
                "used {} ago, less than --older-than",
                idle.map_or_else(|| "a moment".to_owned(), describe_age)
            ));
        }
    }
    match reason {
        None => Verdict::Remove(located),
        Some(reason) => Verdict::Keep(KeptWorktree {
            worktree_path: stray.worktree_path.clone(),
            worktree_name: Some(stray.worktree_name.clone()),
            branch: stray.branch.clone(),
            repo_path: stray.repo_path.clone(),
            session_id: None,
            locked: located.locked.is_some(),
            ..kept_counts(&held, reason)
        }),
    }
}

fn describe_age(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7_200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3_600),
        s => format!("{} days", s / 86_400),
    }
}

/// Removes a stray worktree the verdict allows, and its branch when the
/// branch holds nothing else.
pub(super) fn remove(
    db: &mut Database,
    guard: &RepoGuard,
    stray: &Unaccounted,
    located: &worktree::Located,
) -> Result<Removal> {
    let repo = git::open(guard.repo_path())?;
    worktree::remove(db, guard, &repo, located, stray.branch.as_deref(), None)
}
