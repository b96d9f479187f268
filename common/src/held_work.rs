//! Held work: what removing a worktree or its branch would lose. Besides
//! what `git status` shows (tracked changes, untracked files that are not
//! ignored) and commits the base lacks, this counts what a plain status
//! hides: edits of files marked assume-unchanged or skip-worktree, and work
//! inside submodules (uncommitted files, and commits the superproject does
//! not record, whose objects live in the worktree's own git directory and
//! go with it). Anything that cannot be inspected counts as held work, so
//! nothing is deleted on a guess.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result};
use git2::{BranchType, FileMode, ObjectType, Oid, Repository, StatusOptions};
use serde::Serialize;

/// `assume-unchanged` in an index entry's flags.
const ASSUME_UNCHANGED: u16 = 0x8000;
/// `skip-worktree` in an index entry's extended flags.
const SKIP_WORKTREE: u16 = 0x4000;

/// Why a worktree cannot be removed without losing something.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldWork {
    /// Files with uncommitted changes, tracked or untracked (not ignored).
    pub uncommitted_files: usize,
    /// Commits on the worktree's branch or HEAD that its base does not have.
    pub unmerged_commits: usize,
    /// Changed files that `git status` does not show because they are
    /// marked assume-unchanged or skip-worktree.
    pub hidden_changes: usize,
    /// Submodules holding work of their own.
    pub submodules: Vec<SubmoduleWork>,
    /// Set when the worktree could not be inspected; treated as held work.
    pub inspection_error: Option<String>,
}

/// The work one submodule of a worktree holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmoduleWork {
    /// Its path in the worktree.
    pub path: String,
    pub uncommitted_files: usize,
    /// Commits the superproject's HEAD does not record and no remote has.
    pub unrecorded_commits: usize,
}

impl HeldWork {
    /// Whether removing the worktree or branch would lose anything.
    pub fn holds_work(&self) -> bool {
        self.uncommitted_files > 0
            || self.unmerged_commits > 0
            || self.hidden_changes > 0
            || !self.submodules.is_empty()
            || self.inspection_error.is_some()
    }

    /// A short reason for humans and JSON, `None` when nothing is held.
    pub fn reason(&self, base: Option<&str>) -> Option<String> {
        let mut parts = Vec::new();
        if self.uncommitted_files > 0 {
            parts.push(count(
                self.uncommitted_files,
                "uncommitted file",
                "uncommitted files",
            ));
        }
        if self.unmerged_commits > 0 {
            parts.push(format!(
                "{} not on {}",
                count(self.unmerged_commits, "commit", "commits"),
                base.unwrap_or("its base")
            ));
        }
        if self.hidden_changes > 0 {
            parts.push(format!(
                "{} marked assume-unchanged or skip-worktree",
                count(self.hidden_changes, "changed file", "changed files")
            ));
        }
        for submodule in &self.submodules {
            parts.push(submodule.describe());
        }
        if let Some(error) = &self.inspection_error {
            parts.push(format!("could not be inspected ({error})"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

impl SubmoduleWork {
    /// Whether it has anything that could be lost.
    pub fn holds_work(&self) -> bool {
        self.uncommitted_files > 0 || self.unrecorded_commits > 0
    }

    /// `submodule sub: 1 uncommitted file, 1 commit not in the superproject`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.uncommitted_files > 0 {
            parts.push(count(
                self.uncommitted_files,
                "uncommitted file",
                "uncommitted files",
            ));
        }
        if self.unrecorded_commits > 0 {
            parts.push(format!(
                "{} not in the superproject",
                count(self.unrecorded_commits, "commit", "commits")
            ));
        }
        format!("submodule {}: {}", self.path, parts.join(", "))
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What a worktree started from, to tell its own commits from its base's.
pub struct WorktreeBase<'a> {
    pub branch: Option<&'a str>,
    pub base_branch: Option<&'a str>,
    pub base_commit: Option<&'a str>,
}

/// Inspects a worktree for held work.
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
        match local_changes(repo) {
            Ok(local) => {
                held.uncommitted_files = local.uncommitted_files;
                held.hidden_changes = local.hidden_changes;
                held.submodules = local.submodules;
            }
            Err(err) => held.inspection_error = Some(format!("{err:#}")),
        }
    }
    match unmerged_commits(main, worktree.as_ref(), base) {
        Ok(count) => held.unmerged_commits = count,
        Err(err) => held.inspection_error = Some(format!("{err:#}")),
    }
    held
}

/// How many commits a worktree's branch has that its base branch has not
/// (ahead), and the other way round (behind); against the commit it
/// started from when its base branch is gone. `None` when its branch or
/// its base cannot be found.
pub fn ahead_behind(main: &Repository, base: &WorktreeBase) -> Option<(usize, usize)> {
    let tip = |name: &str| {
        main.find_branch(name, BranchType::Local)
            .ok()
            .and_then(|branch| branch.get().target())
    };
    let ours = tip(base.branch?)?;
    let theirs = base
        .base_branch
        .and_then(|name| base_tip(main, name))
        .or_else(|| base.base_commit.and_then(|c| Oid::from_str(c).ok()))?;
    main.graph_ahead_behind(ours, theirs).ok()
}

/// Work in a checkout that no commit holds: what `git status` shows, what
/// it hides, and what its submodules hold.
#[derive(Debug, Default)]
pub struct LocalChanges {
    pub uncommitted_files: usize,
    pub hidden_changes: usize,
    pub submodules: Vec<SubmoduleWork>,
}

impl LocalChanges {
    /// Whether anything would be lost by overwriting the checkout.
    pub fn is_empty(&self) -> bool {
        self.uncommitted_files == 0 && self.hidden_changes == 0 && self.submodules.is_empty()
    }
}

/// The uncommitted work of one checkout (a worktree or a submodule).
pub fn local_changes(repo: &Repository) -> Result<LocalChanges> {
    let (mut changes, gitlinks) = own_changes(repo)?;
    if !gitlinks.is_empty() {
        let workdir = repo
            .workdir()
            .context("the repository has no working tree")?;
        let head_tree = repo.head().and_then(|head| head.peel_to_tree()).ok();
        for path in gitlinks {
            let recorded = head_tree
                .as_ref()
                .and_then(|tree| tree.get_path(Path::new(&path)).ok())
                .map(|entry| entry.id());
            changes
                .submodules
                .extend(submodule_work(workdir, &path, recorded)?);
        }
    }
    Ok(changes)
}

/// What one checkout holds uncommitted, its submodules left out, and the
/// paths of its submodules (gitlinks in its index).
fn own_changes(repo: &Repository) -> Result<(LocalChanges, Vec<String>)> {
    let workdir = repo
        .workdir()
        .context("the repository has no working tree")?
        .to_path_buf();
    let shown = status_paths(repo)?;
    let index = repo.index().context("cannot read the index")?;
    let mut changes = LocalChanges::default();
    let mut gitlinks = Vec::new();
    // Flagged files are judged on their own: libgit2's status hides some of
    // their edits (as git's does) but reports a sparse checkout's absent
    // skip-worktree files as deleted (as git's does not).
    let mut flagged = HashSet::new();
    for entry in index.iter() {
        let path = String::from_utf8_lossy(&entry.path).into_owned();
        if entry.mode == u32::from(FileMode::Commit) {
            gitlinks.push(path);
            continue;
        }
        let assumed = entry.flags & ASSUME_UNCHANGED != 0;
        let skipped = entry.flags_extended & SKIP_WORKTREE != 0;
        if assumed || skipped {
            if hidden_change(&workdir, &entry, skipped) {
                changes.hidden_changes += 1;
            }
            flagged.insert(path);
        }
    }
    let main_workdir = repo
        .is_worktree()
        .then(|| repo.commondir().parent().map(Path::to_path_buf))
        .flatten();
    changes.uncommitted_files = shown
        .difference(&flagged)
        .filter(|path| {
            !main_workdir
                .as_deref()
                .is_some_and(|main| is_shared_link(&workdir, main, path))
        })
        .count();
    Ok((changes, gitlinks))
}

/// The work of a repository nested at `path` in another one (a submodule,
/// a clone, a `git init`), its own nested repositories left out: its
/// uncommitted files, and its commits that neither `recorded` (the commit
/// the outer repository records for `path`) nor any remote-tracking branch
/// has.
pub fn repository_work(
    repo: &Repository,
    path: &str,
    recorded: Option<Oid>,
) -> Result<SubmoduleWork> {
    let (changes, _) =
        own_changes(repo).with_context(|| format!("cannot inspect the repository at {path}"))?;
    Ok(SubmoduleWork {
        path: path.to_owned(),
        uncommitted_files: changes.uncommitted_files + changes.hidden_changes,
        unrecorded_commits: unrecorded_commits(repo, recorded)
            .with_context(|| format!("cannot inspect the commits of {path}"))?,
    })
}

/// Paths `git status` shows: tracked changes and untracked files that are
/// not ignored (submodules are looked at on their own).
fn status_paths(repo: &Repository) -> Result<HashSet<String>> {
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut options))
        .context("cannot read status")?;
    Ok(statuses
        .iter()
        .map(|entry| String::from_utf8_lossy(entry.path_bytes()).into_owned())
        .collect())
}

/// Tracked changes plus untracked files that are not ignored.
pub fn uncommitted_files(repo: &Repository) -> Result<usize> {
    Ok(status_paths(repo)?.len())
}

/// Whether a file that git was told not to look at differs from its index
/// entry. A skip-worktree file that is absent is how sparse checkouts look,
/// not a change.
fn hidden_change(workdir: &Path, entry: &git2::IndexEntry, skip_worktree: bool) -> bool {
    let path = workdir.join(String::from_utf8_lossy(&entry.path).as_ref());
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return !skip_worktree;
    };
    use std::os::unix::fs::MetadataExt;
    if meta.len() == u64::from(entry.file_size)
        && meta.mtime() as i32 == entry.mtime.seconds()
        && meta.mtime_nsec() as u32 == entry.mtime.nanoseconds()
    {
        return false;
    }
    let content = if meta.file_type().is_symlink() {
        std::fs::read_link(&path).ok().and_then(|target| {
            Oid::hash_object(ObjectType::Blob, target.as_os_str().as_encoded_bytes()).ok()
        })
    } else {
        Oid::hash_file(ObjectType::Blob, &path).ok()
    };
    content != Some(entry.id)
}

/// The work of the submodule at `path` (and of submodules inside it), when
/// it is checked out.
fn submodule_work(workdir: &Path, path: &str, recorded: Option<Oid>) -> Result<Vec<SubmoduleWork>> {
    let dir = workdir.join(path);
    if !dir.join(".git").exists() {
        return Ok(Vec::new());
    }
    let repo = Repository::open(&dir).with_context(|| format!("cannot open submodule {path}"))?;
    let inner = local_changes(&repo).with_context(|| format!("cannot inspect submodule {path}"))?;
    let own = SubmoduleWork {
        path: path.to_owned(),
        uncommitted_files: inner.uncommitted_files + inner.hidden_changes,
        unrecorded_commits: unrecorded_commits(&repo, recorded)
            .with_context(|| format!("cannot inspect the commits of submodule {path}"))?,
    };
    let mut found: Vec<SubmoduleWork> = own.holds_work().then_some(own).into_iter().collect();
    found.extend(inner.submodules.into_iter().map(|nested| SubmoduleWork {
        path: format!("{path}/{}", nested.path),
        ..nested
    }));
    Ok(found)
}

/// Commits of a submodule's HEAD and local branches that neither the
/// superproject's recorded commit nor any remote-tracking branch contains.
fn unrecorded_commits(repo: &Repository, recorded: Option<Oid>) -> Result<usize> {
    let mut walk = repo.revwalk()?;
    let mut tips = 0;
    if let Ok(oid) = repo.head().and_then(|h| h.peel_to_commit()).map(|c| c.id()) {
        walk.push(oid)?;
        tips += 1;
    }
    for branch in repo.branches(Some(BranchType::Local))? {
        if let Some(oid) = branch?.0.get().target() {
            walk.push(oid)?;
            tips += 1;
        }
    }
    if tips == 0 {
        return Ok(0);
    }
    if let Some(oid) = recorded.filter(|oid| repo.find_commit(*oid).is_ok()) {
        walk.hide(oid)?;
    }
    for branch in repo.branches(Some(BranchType::Remote))? {
        if let Some(oid) = branch?.0.get().target() {
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
    if let Some(commit) = base.base_commit.and_then(|c| Oid::from_str(c).ok()) {
        if main.find_commit(commit).is_ok() {
            walk.hide(commit)?;
            hidden += 1;
        }
    }
    if let Some(oid) = base.base_branch.and_then(|name| base_tip(main, name)) {
        walk.hide(oid)?;
        hidden += 1;
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

/// The commit a base branch points at: a local branch (`main`), else a
/// remote-tracking one (`origin/main`, a `worktree.base` of `fresh`), else
/// any other ref a session was based on (`v1.2`).
pub fn base_tip(main: &Repository, name: &str) -> Option<Oid> {
    let branch = main
        .find_branch(name, BranchType::Local)
        .or_else(|_| main.find_branch(name, BranchType::Remote))
        .ok()
        .and_then(|branch| branch.get().target());
    branch.or_else(|| {
        main.revparse_single(&format!("{name}^{{commit}}"))
            .ok()
            .map(|object| object.id())
    })
}

/// Whether `path` in a linked worktree is a symbolic link to the same path
/// in the main checkout: a directory shared by config `worktree.symlink`,
/// whose contents are the main checkout's (removing the worktree removes
/// only the link), so not the worktree's work.
fn is_shared_link(workdir: &Path, main_workdir: &Path, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    let link = workdir.join(path);
    std::fs::symlink_metadata(&link).is_ok_and(|meta| meta.file_type().is_symlink())
        && std::fs::read_link(&link).is_ok_and(|target| target == main_workdir.join(path))
}
