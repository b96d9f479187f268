//! Moving the target: a compare-and-swap of the target branch against the
//! tip the candidate was checked on, taken while the caller holds the
//! repository's lock. A checkout that has the target checked out is
//! brought to the new tip with `git merge --ff-only` (index and files, and
//! git's `post-merge` and `reference-transaction` hooks, as git runs them)
//! only when it is clean; with uncommitted changes nothing in it is touched
//! and the item waits as blocked. Otherwise the ref moves with
//! `git update-ref <ref> <new> <old>` (its `reference-transaction` hook
//! runs). Either is atomic: after a kill the ref is at the old tip or the
//! new one. With a remote to push to (`--push`), the new tip is pushed to
//! the remote's target first, once the local move is known to be possible;
//! a push the remote refuses leaves the local target where it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use git2::{BranchType, Oid, Repository};

use crate::{failpoint, held_work};

/// What became of a move.
#[derive(Debug, Clone)]
pub enum Moved {
    /// The target is at the new tip; the checkout brought along, if any.
    Landed { checkout: Option<PathBuf> },
    /// The target is no longer at the tip that was checked.
    TipMoved,
    /// The target's checkout has uncommitted changes.
    Blocked { checkout: PathBuf, files: usize },
    /// The remote refused the push; nothing moved here.
    PushRefused { reason: String },
}

/// The tip of a local branch.
pub fn branch_tip(repo: &Repository, branch: &str) -> Option<Oid> {
    repo.find_branch(branch, BranchType::Local)
        .ok()?
        .get()
        .target()
}

/// The checkouts (main or linked) that have `branch` checked out.
fn checkouts_of(repo: &Repository, branch: &str) -> Vec<PathBuf> {
    let reference = format!("refs/heads/{branch}");
    let mut found = Vec::new();
    let on_branch = |path: &Path| -> bool {
        Repository::open(path)
            .ok()
            .and_then(|r| {
                r.find_reference("HEAD")
                    .ok()
                    .and_then(|h| h.symbolic_target().map(str::to_owned))
            })
            .is_some_and(|target| target == reference)
    };
    if let Some(workdir) = repo.workdir() {
        if on_branch(workdir) {
            found.push(workdir.to_path_buf());
        }
    }
    if let Ok(names) = repo.worktrees() {
        for name in names.iter().flatten() {
            if let Ok(worktree) = repo.find_worktree(name) {
                let path = worktree.path().to_path_buf();
                if path.exists() && on_branch(&path) {
                    found.push(path);
                }
            }
        }
    }
    found
}

fn git(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// Moves `target` from `old` to `new` unless it moved meanwhile; with
/// `push_to`, pushes `new` to that remote's `target` first.
pub fn compare_and_swap(
    repo_path: &Path,
    target: &str,
    old: Oid,
    new: Oid,
    branch: &str,
    push_to: Option<&str>,
) -> Result<Moved> {
    let repo = Repository::open(repo_path)
        .with_context(|| format!("cannot open {}", repo_path.display()))?;
    if branch_tip(&repo, target) != Some(old) {
        return Ok(Moved::TipMoved);
    }
    let checkouts = checkouts_of(&repo, target);
    for checkout in &checkouts {
        let files = Repository::open(checkout)
            .context("cannot open the target's checkout")
            .and_then(|r| held_work::local_changes(&r))
            .map(|c| c.uncommitted_files + c.hidden_changes)
            .unwrap_or(1);
        if files > 0 {
            return Ok(Moved::Blocked {
                checkout: checkout.clone(),
                files,
            });
        }
    }
    if let Some(remote) = push_to {
        if let Err(err) = crate::github::push_commit(repo_path, remote, &new.to_string(), target) {
            return Ok(Moved::PushRefused {
                reason: format!("{err:#}"),
            });
        }
        failpoint::hit("land:after-push");
    }
    failpoint::hit("land:before-ref");
    let message = format!("parallel-cc land: {branch}");
    let moved = match checkouts.first() {
        Some(checkout) => {
            let output = git(checkout)
                .args(["merge", "--ff-only", "--quiet"])
                .arg(new.to_string())
                .env("GIT_REFLOG_ACTION", &message)
                .stderr(Stdio::piped())
                .output()
                .context("cannot run git merge --ff-only")?;
            if !output.status.success() {
                if branch_tip(&Repository::open(repo_path)?, target) != Some(old) {
                    return Ok(Moved::TipMoved);
                }
                anyhow::bail!(
                    "git merge --ff-only in {} failed: {}",
                    checkout.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            Moved::Landed {
                checkout: Some(checkout.clone()),
            }
        }
        None => {
            let status = git(repo_path)
                .args(["update-ref", "-m", &message])
                .arg(format!("refs/heads/{target}"))
                .arg(new.to_string())
                .arg(old.to_string())
                .stderr(Stdio::null())
                .status()
                .context("cannot run git update-ref")?;
            if !status.success() {
                return Ok(Moved::TipMoved);
            }
            Moved::Landed { checkout: None }
        }
    };
    failpoint::hit("land:after-ref");
    Ok(moved)
}

/// The commit a remote's branch is at (`git ls-remote`), if it has it.
pub fn remote_tip(repo_path: &Path, remote: &str, branch: &str) -> Option<Oid> {
    let output = git(repo_path)
        .args(["ls-remote", "--heads", remote])
        .arg(format!("refs/heads/{branch}"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.split_whitespace().next()?;
    Oid::from_str(first).ok()
}

/// Brings a landed branch's own worktree to the landed commit, so that its
/// branch holds nothing the target lacks: only when the worktree is clean
/// and the branch is still at `source` (compare-and-swap of the branch,
/// then a two-tree `git read-tree -m -u` that refuses to lose anything;
/// the branch is put back if that fails). Returns whether it moved.
pub fn follow(worktree: &Path, branch: &str, source: Oid, landed: Oid) -> bool {
    if source == landed {
        return false;
    }
    let Ok(repo) = Repository::open(worktree) else {
        return false;
    };
    let on_branch = repo
        .head()
        .ok()
        .and_then(|h| h.name().map(str::to_owned))
        .is_some_and(|name| name == format!("refs/heads/{branch}"));
    let clean = held_work::local_changes(&repo).is_ok_and(|c| c.is_empty());
    if !on_branch || !clean {
        return false;
    }
    let reference = format!("refs/heads/{branch}");
    let swapped = git(worktree)
        .args([
            "update-ref",
            "-m",
            "parallel-cc land: follow the landed commit",
        ])
        .arg(&reference)
        .arg(landed.to_string())
        .arg(source.to_string())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !swapped {
        return false;
    }
    let updated = git(worktree)
        .args(["read-tree", "-m", "-u"])
        .arg(source.to_string())
        .arg(landed.to_string())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !updated {
        let _ = git(worktree)
            .args(["update-ref", &reference])
            .arg(source.to_string())
            .arg(landed.to_string())
            .status();
    }
    updated
}
