//! Rebase help for a session: report what a rebase onto the target would
//! conflict on, or rebase the session's branch in its own worktree. The
//! rebase runs in memory; only a rebase that replays every commit cleanly
//! moves the branch and updates the worktree, so a conflict leaves the
//! worktree exactly as it was, with no rebase in progress.

use std::path::Path;

use anyhow::{Context, Result};
use git2::{build::CheckoutBuilder, RebaseOptions, Repository, Signature};
use serde::Serialize;

use crate::conflicts::{self, FileConflict, Side};
use crate::UserError;

/// What `rebase_assist` found or did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RebaseReport {
    pub success: bool,
    pub check_only: bool,
    pub branch: String,
    pub target_branch: String,
    pub has_conflicts: bool,
    pub conflicts: Vec<FileConflict>,
    pub rebased: bool,
    pub commits_replayed: usize,
    pub old_head: String,
    pub new_head: Option<String>,
    pub message: String,
}

/// Checks, and unless `check_only` performs, a rebase of the branch checked
/// out in `worktree` onto `target`.
pub fn assist(worktree: &Path, target: &str, check_only: bool) -> Result<RebaseReport> {
    let repo = Repository::open(worktree)
        .with_context(|| format!("cannot open {}", worktree.display()))?;
    let head = repo.head().context("the worktree has no HEAD")?;
    if !head.is_branch() {
        return Err(UserError::new("the worktree is not on a branch; nothing to rebase").into());
    }
    let branch = head.shorthand().unwrap_or_default().to_owned();
    let head_name = head.name().unwrap_or_default().to_owned();
    let old_head = head.peel_to_commit()?.id();
    let check = conflicts::check(
        &repo,
        &Side::Checkout(worktree.to_path_buf()),
        &Side::Revision(target.to_owned()),
    )?;
    let mut report = RebaseReport {
        success: true,
        check_only,
        branch: branch.clone(),
        target_branch: target.to_owned(),
        has_conflicts: check.has_conflicts,
        conflicts: check.conflicts,
        rebased: false,
        commits_replayed: 0,
        old_head: old_head.to_string(),
        new_head: None,
        message: String::new(),
    };
    if check_only {
        report.message = if report.has_conflicts {
            format!(
                "rebasing {branch} onto {target} would conflict in {} file(s)",
                report.conflicts.len()
            )
        } else {
            format!("{branch} rebases cleanly onto {target}")
        };
        return Ok(report);
    }
    if report.has_conflicts {
        report.success = false;
        report.message =
            format!("not rebased: {branch} conflicts with {target}; resolve those files first");
        return Ok(report);
    }
    if !crate::held_work::local_changes(&repo)?.is_empty() {
        report.success = false;
        report.message =
            "not rebased: the worktree has uncommitted changes; commit them first".to_owned();
        return Ok(report);
    }

    let onto = repo.revparse_single(target)?.peel_to_commit()?;
    let branch_commit = repo.reference_to_annotated_commit(&repo.find_reference(&head_name)?)?;
    let upstream = repo.find_annotated_commit(onto.id())?;
    let signature = repo
        .signature()
        .or_else(|_| Signature::now("parallel-cc", "parallel-cc@localhost"))?;
    let mut options = RebaseOptions::new();
    options.inmemory(true);
    let mut rebase = repo.rebase(
        Some(&branch_commit),
        Some(&upstream),
        None,
        Some(&mut options),
    )?;
    let mut new_head = onto.id();
    while let Some(operation) = rebase.next() {
        operation?;
        if rebase.inmemory_index()?.has_conflicts() {
            rebase.abort()?;
            report.success = false;
            report.message = format!(
                "not rebased: a commit of {branch} conflicts with {target}; nothing changed"
            );
            return Ok(report);
        }
        new_head = rebase.commit(None, &signature, None)?;
        report.commits_replayed += 1;
    }
    rebase.finish(None)?;
    // Move the branch, then bring the (clean) worktree to it.
    repo.find_reference(&head_name)?
        .set_target(new_head, &format!("parallel-cc: rebase onto {target}"))?;
    let commit = repo.find_commit(new_head)?;
    repo.checkout_tree(commit.as_object(), Some(CheckoutBuilder::new().force()))?;
    report.rebased = true;
    report.new_head = Some(new_head.to_string());
    report.message = format!(
        "rebased {branch} onto {target}: {} commit(s) replayed",
        report.commits_replayed
    );
    Ok(report)
}
