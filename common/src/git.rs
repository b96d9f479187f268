//! Questions asked of git repositories through libgit2: which repository a
//! path belongs to (always named by its main checkout, whether the path is
//! inside it, in a subdirectory, or in one of its worktrees), and whether a
//! worktree holds work (uncommitted changes, or commits its base lacks).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::{BranchType, Repository, StatusOptions};
use serde::Serialize;

use crate::{paths, UserError};

/// Resolves any path inside a repository or one of its worktrees to the
/// canonical top level of the repository's main checkout.
pub fn resolve_repository(path: &Path) -> Result<PathBuf> {
    let canonical = paths::canonicalize_existing(path)?;
    let repo = Repository::discover(&canonical).map_err(|_| {
        UserError::with_hint(
            format!("not a git repository: {}", canonical.display()),
            "run it inside a git checkout or pass --repo",
        )
    })?;
    if repo.is_bare() {
        return Err(bare_repository(&canonical));
    }
    let main = if repo.is_worktree() {
        let common = Repository::open(repo.commondir()).with_context(|| {
            format!("cannot open the main repository of {}", canonical.display())
        })?;
        if common.is_bare() {
            return Err(bare_repository(&canonical));
        }
        common.workdir().map(Path::to_path_buf)
    } else {
        repo.workdir().map(Path::to_path_buf)
    };
    let main = main.ok_or_else(|| bare_repository(&canonical))?;
    paths::canonicalize_existing(&main)
}

fn bare_repository(path: &Path) -> anyhow::Error {
    UserError::with_hint(
        format!("{} is a bare repository", path.display()),
        "parallel-cc needs a repository with a working tree",
    )
    .into()
}

/// Opens a repository (main checkout or worktree) at its top level.
pub fn open(path: &Path) -> Result<Repository> {
    Repository::open(path).with_context(|| format!("cannot open repository {}", path.display()))
}

/// The branch checked out in a repository, or `None` when HEAD is detached
/// or unborn.
pub fn current_branch(repo: &Repository) -> Option<String> {
    let head = repo.head().ok()?;
    if head.is_branch() {
        head.shorthand().map(str::to_owned)
    } else {
        None
    }
}

/// The branch a checkout's HEAD names, even when it has no commit yet.
pub fn head_branch_name(repo: &Repository) -> Option<String> {
    let head = repo.find_reference("HEAD").ok()?;
    let target = head.symbolic_target()?;
    target.strip_prefix("refs/heads/").map(str::to_owned)
}

/// Why a worktree cannot be removed without losing something.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldWork {
    /// Files with uncommitted changes, tracked or untracked (not ignored).
    pub uncommitted_files: usize,
    /// Commits on the worktree's branch or HEAD that its base does not have.
    pub unmerged_commits: usize,
    /// Set when the worktree could not be inspected; treated as held work.
    pub inspection_error: Option<String>,
}

impl HeldWork {
    /// Whether removing the worktree or branch would lose anything.
    pub fn holds_work(&self) -> bool {
        self.uncommitted_files > 0 || self.unmerged_commits > 0 || self.inspection_error.is_some()
    }

    /// A short reason for humans and JSON, `None` when nothing is held.
    pub fn reason(&self, base: Option<&str>) -> Option<String> {
        let mut parts = Vec::new();
        if self.uncommitted_files > 0 {
            parts.push(format!(
                "{} uncommitted {}",
                self.uncommitted_files,
                plural(self.uncommitted_files, "file", "files")
            ));
        }
        if self.unmerged_commits > 0 {
            parts.push(format!(
                "{} {} not on {}",
                self.unmerged_commits,
                plural(self.unmerged_commits, "commit", "commits"),
                base.unwrap_or("its base")
            ));
        }
        if let Some(error) = &self.inspection_error {
            parts.push(format!("could not be inspected ({error})"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 {
        one
    } else {
        many
    }
}

/// What a worktree started from, to tell its own commits from its base's.
pub struct WorktreeBase<'a> {
    pub branch: Option<&'a str>,
    pub base_branch: Option<&'a str>,
    pub base_commit: Option<&'a str>,
}

/// Inspects a worktree for held work. Failures to inspect count as held
/// work, so nothing is deleted on a guess.
pub fn held_work(main: &Repository, worktree_path: &Path, base: &WorktreeBase) -> HeldWork {
    let mut held = HeldWork::default();
    let worktree = if worktree_path.exists() {
        match Repository::open(worktree_path) {
            Ok(repo) => Some(repo),
            Err(err) => {
                held.inspection_error = Some(err.message().to_owned());
                None
            }
        }
    } else {
        None
    };
    if let Some(repo) = &worktree {
        match uncommitted_files(repo) {
            Ok(count) => held.uncommitted_files = count,
            Err(err) => held.inspection_error = Some(format!("{err:#}")),
        }
    }
    match unmerged_commits(main, worktree.as_ref(), base) {
        Ok(count) => held.unmerged_commits = count,
        Err(err) => held.inspection_error = Some(format!("{err:#}")),
    }
    held
}

/// Tracked changes plus untracked files that are not ignored.
pub fn uncommitted_files(repo: &Repository) -> Result<usize> {
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut options))
        .context("cannot read status")?;
    Ok(statuses.len())
}

fn unmerged_commits(
    main: &Repository,
    worktree: Option<&Repository>,
    base: &WorktreeBase,
) -> Result<usize> {
    let mut walk = main.revwalk()?;
    let mut tips = 0;
    if let Some(branch) = base.branch {
        if let Ok(found) = main.find_branch(branch, BranchType::Local) {
            if let Some(oid) = found.get().target() {
                walk.push(oid)?;
                tips += 1;
            }
        }
    }
    if let Some(repo) = worktree {
        if let Ok(oid) = repo.head().and_then(|h| h.peel_to_commit()).map(|c| c.id()) {
            walk.push(oid)?;
            tips += 1;
        }
    }
    if tips == 0 {
        return Ok(0);
    }
    let mut hidden = 0;
    if let Some(commit) = base.base_commit.and_then(|c| git2::Oid::from_str(c).ok()) {
        if main.find_commit(commit).is_ok() {
            walk.hide(commit)?;
            hidden += 1;
        }
    }
    if let Some(branch) = base.base_branch {
        if let Ok(found) = main.find_branch(branch, BranchType::Local) {
            if let Some(oid) = found.get().target() {
                walk.hide(oid)?;
                hidden += 1;
            }
        }
    }
    if hidden == 0 {
        // Nothing known about the base: measure against the main checkout.
        if let Ok(oid) = main.head().and_then(|h| h.peel_to_commit()).map(|c| c.id()) {
            walk.hide(oid)?;
        }
    }
    let mut count = 0;
    for oid in walk {
        oid?;
        count += 1;
    }
    Ok(count)
}
