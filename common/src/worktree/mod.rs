//! Worktrees of parallel sessions, made and removed with libgit2 so that
//! `git worktree list` and every git command see ordinary worktrees.
//!
//! A worktree lives at `<root>/<name>` (root default
//! `<repo parent>/<repo>-worktrees`), named `<8 hex>` unless a name was
//! asked for, on branch `<prefix><name>` (`parallel/1a2b3c4d`) started from
//! the main checkout's HEAD (or a given commit). Worktrees and branches of
//! earlier versions (`parallel-<8 hex>`, `parallel/parallel-<8 hex>`) are
//! recorded with their own names and handled like any other.
//!
//! Invariants:
//! - worktrees are created and removed only under the repository's lock,
//!   which a [`RepoGuard`] holds; taking one first finishes or undoes what a
//!   dead process left half done (see [`journal`]);
//! - each creation and removal is recorded in the journal before the
//!   filesystem changes, and settled in the transaction that records its
//!   outcome, so a half-created worktree is never mistaken for anyone's work;
//! - what can refuse a removal (a `git worktree lock`, a directory that is no
//!   longer this repository's worktree, a branch checked out elsewhere) is
//!   looked at before anything moves;
//! - removal renames the directory to a trash name beside it first (atomic:
//!   no half-deleted worktree is ever visible), unregisters it, deletes its
//!   branch, records the outcome, and only then deletes the files, outside
//!   the lock.

pub mod base;
pub mod disk;
mod journal;
mod names;
mod setup;
pub mod sparse;

pub use journal::{entries as journal_entries, Entry as JournalEntry, Repair, RepairFailure};
pub use setup::{copy_included_files, link_shared_directories, run_setup, SetupFailure};

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use git2::{BranchType, Oid, Repository, WorktreeAddOptions, WorktreeLockStatus};
use rusqlite::Connection;
use serde::Serialize;

use crate::db::Database;
use crate::lock::{self, FileLock};
use crate::{checkout, config::Config, failpoint, git, paths, UserError};

/// Prefix of directories that are being deleted.
const TRASH_PREFIX: &str = ".pcc-trash-";

/// A repository's lock, held, with what dead processes left repaired.
pub struct RepoGuard {
    _lock: FileLock,
    repo_path: PathBuf,
    repo_key: String,
    /// What taking the guard finished or undid.
    pub repaired: Repair,
}

impl RepoGuard {
    /// Takes the lock of the repository at `repo_path` (waiting at most
    /// `wait` for another holder), then finishes or undoes every worktree
    /// creation and removal a dead process left half done.
    pub fn acquire(
        data_dir: &Path,
        db: &mut Database,
        repo_path: &Path,
        wait: Duration,
    ) -> Result<RepoGuard> {
        let lock = lock::lock_repository(data_dir, repo_path, wait)?;
        let repo_key = paths::to_db_string(repo_path)?;
        let repaired = journal::repair(db, repo_path, &repo_key)?;
        Ok(RepoGuard {
            _lock: lock,
            repo_path: repo_path.to_path_buf(),
            repo_key,
            repaired,
        })
    }

    /// The repository's main checkout.
    pub fn repo_path(&self) -> &Path {
        &self.repo_path
    }

    /// The repository as the database names it.
    pub fn repo_key(&self) -> &str {
        &self.repo_key
    }
}

/// The directory that holds a repository's worktrees.
pub fn worktrees_root(repo_path: &Path, config: &Config) -> Result<PathBuf> {
    if let Some(root) = config.worktree_root() {
        let root = paths::expand_home(&root)?;
        let root = if root.is_absolute() {
            root
        } else {
            repo_path.join(root)
        };
        return Ok(paths::canonicalize_lenient(&root));
    }
    let name = repo_path
        .file_name()
        .context("the repository has no directory name")?
        .to_string_lossy()
        .into_owned();
    let parent = repo_path
        .parent()
        .context("the repository has no parent directory")?;
    Ok(parent.join(format!("{name}-worktrees")))
}

// ---------------------------------------------------------------- create

/// A worktree created for a session. Its journal entry stays open until
/// [`NewWorktree::settle`] runs in the transaction that records its owner.
#[derive(Debug, Clone)]
pub struct NewWorktree {
    pub name: String,
    pub path: PathBuf,
    pub branch: String,
    pub base_branch: Option<String>,
    pub base_commit: String,
    journal_id: i64,
}

impl NewWorktree {
    /// Marks the creation complete; call it inside the transaction that
    /// records who owns the worktree, so the two happen together or not.
    pub fn settle(&self, conn: &Connection) -> Result<()> {
        journal::settle(conn, self.journal_id)
    }

    /// Undoes a creation whose owner could not be recorded.
    pub fn abandon(self, db: &Database, guard: &RepoGuard) {
        if let Ok(repo) = git::open(guard.repo_path()) {
            let tip = Oid::from_str(&self.base_commit).ok();
            if undo_creation(Some(&repo), &self.path, &self.name, &self.branch, tip).is_ok() {
                let _ = journal::settle(db.conn(), self.journal_id);
            }
        }
    }
}

/// What a new worktree starts from.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// The main checkout's HEAD.
    Head,
    /// A given commit.
    Commit(Oid),
}

/// A free name, path and branch for a new worktree.
struct Slot {
    name: String,
    path: PathBuf,
    branch: String,
}

/// Creates a new worktree on a new branch, journaled: a process killed at
/// any step leaves an entry the next [`RepoGuard`] undoes. A requested name
/// is used when free, else with a numeric suffix.
pub fn create(
    db: &Database,
    guard: &RepoGuard,
    config: &Config,
    requested_name: Option<&str>,
    start: Start,
) -> Result<NewWorktree> {
    let repo = git::open(guard.repo_path())?;
    let base_commit = match start {
        Start::Head => repo
            .head()
            .map_err(|_| {
                UserError::with_hint(
                    "the repository has no commits yet, so no worktree can branch from it",
                    "make a first commit, then start the session again",
                )
            })?
            .peel_to_commit()
            .context("HEAD does not point at a commit")?,
        Start::Commit(oid) => repo
            .find_commit(oid)
            .with_context(|| format!("cannot find commit {oid}"))?,
    };
    let root = worktrees_root(guard.repo_path(), config)?;
    std::fs::create_dir_all(&root)
        .with_context(|| format!("cannot create worktree directory {}", root.display()))?;
    let prefix = config.branch_prefix();
    if !names::is_valid_branch(&format!("{prefix}x")) {
        return Err(UserError::with_hint(
            format!("worktree.branchPrefix '{prefix}' cannot start a branch name"),
            "git pcc config set worktree.branchPrefix parallel/",
        )
        .into());
    }
    let slot = choose_slot(&repo, &root, &prefix, requested_name);
    create_in_slot(db, guard, &repo, config, slot, &base_commit)
}

/// Makes again, at `path` under the name `name` and on `branch` at `tip`,
/// a worktree that was removed; fails when any of them is taken now (see
/// [`can_recreate`]).
pub fn recreate(
    db: &Database,
    guard: &RepoGuard,
    config: &Config,
    path: &Path,
    name: &str,
    branch: &str,
    tip: Oid,
) -> Result<NewWorktree> {
    let repo = git::open(guard.repo_path())?;
    if !can_recreate(&repo, path, name, branch) {
        return Err(UserError::new(format!(
            "cannot make worktree {} again: its path, name or branch {branch} is taken",
            path.display()
        ))
        .into());
    }
    let base_commit = repo
        .find_commit(tip)
        .with_context(|| format!("cannot find commit {tip}"))?;
    let parent = path.parent().context("the worktree path has no parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create worktree directory {}", parent.display()))?;
    let slot = Slot {
        name: name.to_owned(),
        path: path.to_path_buf(),
        branch: branch.to_owned(),
    };
    create_in_slot(db, guard, &repo, config, slot, &base_commit)
}

/// Whether a worktree can be made at `path`, registered as `name`, on the
/// new branch `branch`: none of them is there now.
pub fn can_recreate(repo: &Repository, path: &Path, name: &str, branch: &str) -> bool {
    std::fs::symlink_metadata(path).is_err()
        && names::is_valid_branch(branch)
        && repo.find_branch(branch, BranchType::Local).is_err()
        && !repo.path().join("worktrees").join(name).exists()
}

/// Creates the worktree of `slot` from `base_commit`, journaled.
fn create_in_slot(
    db: &Database,
    guard: &RepoGuard,
    repo: &Repository,
    config: &Config,
    slot: Slot,
    base_commit: &git2::Commit,
) -> Result<NewWorktree> {
    let base_branch = git::current_branch(repo);
    let cone = sparse::Cone::new(&config.sparse_paths())?;
    let journal_id = journal::record_create(
        db.conn(),
        guard.repo_key(),
        &slot.path,
        &slot.name,
        &slot.branch,
        base_commit.id(),
    )?;
    failpoint::hit("create:after-journal");
    if let Err(err) = build(repo, &slot, base_commit, cone.as_ref()) {
        // Undo whatever was written before the failure.
        let undone = undo_creation(
            Some(repo),
            &slot.path,
            &slot.name,
            &slot.branch,
            Some(base_commit.id()),
        );
        if undone.is_ok() {
            journal::settle(db.conn(), journal_id)?;
        }
        return Err(err.context(format!("cannot create worktree {}", slot.path.display())));
    }
    Ok(NewWorktree {
        name: slot.name,
        path: paths::canonicalize_lenient(&slot.path),
        branch: slot.branch,
        base_branch,
        base_commit: base_commit.id().to_string(),
        journal_id,
    })
}

fn choose_slot(repo: &Repository, root: &Path, prefix: &str, requested: Option<&str>) -> Slot {
    let requested = requested.map(names::sanitize).filter(|n| !n.is_empty());
    let mut attempt = 0;
    loop {
        attempt += 1;
        let name = match (&requested, attempt) {
            (Some(name), 1) => name.clone(),
            (Some(name), n) if n <= 20 => format!("{name}-{n}"),
            _ => uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        };
        let path = root.join(&name);
        let branch = format!("{prefix}{name}");
        let taken = path.exists()
            || !names::is_valid_branch(&branch)
            || repo.find_branch(&branch, BranchType::Local).is_ok()
            || repo.find_worktree(&name).is_ok()
            || repo.path().join("worktrees").join(&name).exists();
        if !taken {
            return Slot { name, path, branch };
        }
    }
}

/// The branch, the worktree's registration and its files.
fn build(
    repo: &Repository,
    slot: &Slot,
    base_commit: &git2::Commit,
    cone: Option<&sparse::Cone>,
) -> Result<()> {
    let branch = repo
        .branch(&slot.branch, base_commit, false)
        .with_context(|| format!("cannot create branch {}", slot.branch))?;
    failpoint::hit("create:after-branch");
    let tree = base_commit
        .tree()
        .context("cannot read the commit's tree")?;
    if checkout::needs_no_filters(repo, &tree) {
        add_worktree_directly(repo, slot, &tree, cone)?;
    } else {
        let mut options = WorktreeAddOptions::new();
        options.reference(Some(branch.get()));
        repo.worktree(&slot.name, &slot.path, Some(&options))?;
        if let Some(cone) = cone {
            failpoint::hit("create:after-sparse");
            sparse::narrow_with_git(&slot.path, cone)?;
        }
    }
    failpoint::hit("create:after-index");
    Ok(())
}

/// Registers a worktree the way git lays one out (`.git/worktrees/<name>/`
/// with `gitdir`, `commondir` and `HEAD`, and a `.git` file in the worktree
/// pointing back), then writes the tree with [`checkout::write_tree`].
fn add_worktree_directly(
    repo: &Repository,
    slot: &Slot,
    tree: &git2::Tree,
    cone: Option<&sparse::Cone>,
) -> Result<()> {
    let (name, path, branch) = (&slot.name, &slot.path, &slot.branch);
    let admin = repo.path().join("worktrees").join(name);
    std::fs::create_dir_all(admin.parent().unwrap_or(repo.path()))?;
    std::fs::create_dir(&admin).with_context(|| format!("cannot create {}", admin.display()))?;
    std::fs::create_dir(path).with_context(|| format!("cannot create {}", path.display()))?;
    let workdir = paths::canonicalize_existing(path)?;
    let admin = paths::canonicalize_existing(&admin)?;
    std::fs::write(
        admin.join("gitdir"),
        format!("{}\n", workdir.join(".git").display()),
    )?;
    std::fs::write(admin.join("commondir"), "../..\n")?;
    std::fs::write(admin.join("HEAD"), format!("ref: refs/heads/{branch}\n"))?;
    std::fs::write(
        workdir.join(".git"),
        format!("gitdir: {}\n", admin.display()),
    )?;
    failpoint::hit("create:after-admin");
    if let Some(cone) = cone {
        sparse::configure(repo, &admin, cone)?;
        failpoint::hit("create:after-sparse");
    }
    let worktree = git::open(&workdir)?;
    checkout::write_tree_within(&worktree, &workdir, tree, cone)
}

/// What undoing an interrupted creation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Undone {
    /// Its directory, registration and branch are gone.
    Removed,
    /// Someone committed on its branch since: nothing was touched.
    BranchMoved,
}

/// Removes what a creation made: its directory (never anyone's work: the
/// creation did not finish), its registration, and its branch. When the
/// branch no longer points where the creation started it, someone worked
/// there, and nothing is touched.
fn undo_creation(
    repo: Option<&Repository>,
    path: &Path,
    name: &str,
    branch: &str,
    tip: Option<Oid>,
) -> Result<Undone> {
    let found = repo.and_then(|repo| repo.find_branch(branch, BranchType::Local).ok());
    if found.as_ref().is_some_and(|b| b.get().target() != tip) {
        return Ok(Undone::BranchMoved);
    }
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_dir_all(path)
            .with_context(|| format!("cannot remove {}", path.display()))?;
    }
    let Some(repo) = repo else {
        return Ok(Undone::Removed);
    };
    let admin = repo.path().join("worktrees").join(name);
    if admin.exists() && admin_points_at(&admin, path) {
        std::fs::remove_dir_all(&admin)
            .with_context(|| format!("cannot remove {}", admin.display()))?;
    }
    remove_stale_ref_lock(repo, branch);
    if let Some(mut found) = found {
        found
            .delete()
            .with_context(|| format!("cannot delete branch {branch}"))?;
    }
    Ok(Undone::Removed)
}

/// Whether a worktree registration names `path` (or names nothing yet).
fn admin_points_at(admin: &Path, path: &Path) -> bool {
    match std::fs::read_to_string(admin.join("gitdir")) {
        Ok(gitdir) => {
            let named = Path::new(gitdir.trim());
            let named = named.parent().unwrap_or(named);
            paths::canonicalize_lenient(named) == paths::canonicalize_lenient(path)
        }
        Err(_) => true,
    }
}

// ---------------------------------------------------------------- locate

/// Where a worktree is now, as git knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Its directory: where git's registration says it is (it may have been
    /// moved with `git worktree move`), else where it was recorded.
    pub path: PathBuf,
    /// Its name under `.git/worktrees/`, when git has it registered.
    pub admin_name: Option<String>,
    /// The reason given to `git worktree lock` (empty when none), when it
    /// is locked.
    pub locked: Option<String>,
}

impl Located {
    /// Whether the worktree moved away from `stored`.
    pub fn moved_from(&self, stored: &Path) -> bool {
        self.path != stored && self.path.exists() && !stored.exists()
    }
}

/// Finds the worktree recorded at `stored` (registered under `name_hint`,
/// usually): followed when it was moved, with its lock.
pub fn locate(repo: &Repository, stored: &Path, name_hint: Option<&str>) -> Located {
    let stored = paths::canonicalize_lenient(stored);
    let by_hint = name_hint.and_then(|name| {
        let worktree = repo.find_worktree(name).ok()?;
        let path = paths::canonicalize_lenient(worktree.path());
        (path == stored || (!stored.exists() && path.exists()))
            .then(|| (name.to_owned(), path, worktree))
    });
    let found = by_hint.or_else(|| {
        let names = repo.worktrees().ok()?;
        names.iter().flatten().find_map(|name| {
            let worktree = repo.find_worktree(name).ok()?;
            let path = paths::canonicalize_lenient(worktree.path());
            (path == stored).then(|| (name.to_owned(), path, worktree))
        })
    });
    match found {
        Some((name, path, worktree)) => Located {
            path,
            admin_name: Some(name),
            locked: match worktree.is_locked() {
                Ok(WorktreeLockStatus::Locked(reason)) => {
                    Some(reason.unwrap_or_default().trim().to_owned())
                }
                _ => None,
            },
        },
        None => Located {
            path: stored,
            admin_name: None,
            locked: None,
        },
    }
}

/// Why a worktree must stay where it is even when it holds no work: `git
/// worktree lock`, or a directory that is no longer this repository's
/// worktree. `None` when it may be removed.
pub fn removal_blocker(repo: &Repository, located: &Located) -> Option<String> {
    if let Some(reason) = &located.locked {
        return Some(if reason.is_empty() {
            "locked with 'git worktree lock'".to_owned()
        } else {
            format!("locked with 'git worktree lock': {reason}")
        });
    }
    if located.path.exists() && !is_worktree_of(repo, &located.path) {
        return Some("its directory is no longer a worktree of this repository".to_owned());
    }
    None
}

/// Whether `path` is a linked worktree of `repo` (not its main checkout).
fn is_worktree_of(repo: &Repository, path: &Path) -> bool {
    let Ok(found) = Repository::open(path) else {
        return false;
    };
    let common = paths::canonicalize_lenient(found.commondir());
    found.is_worktree()
        && common == paths::canonicalize_lenient(repo.path())
        && found
            .workdir()
            .is_some_and(|w| paths::canonicalize_lenient(w) == paths::canonicalize_lenient(path))
}

// ---------------------------------------------------------------- remove

/// What removing a worktree did. Its files are deleted by
/// [`Removal::finish`], outside the repository lock.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    pub worktree_removed: bool,
    pub branch_deleted: bool,
    #[serde(skip)]
    trash: Option<PathBuf>,
    #[serde(skip)]
    journal_id: Option<i64>,
}

/// Removes a worktree and its branch and ends the rows that own it (the
/// session `session_id`, and a kept-worktree record of its path) in one
/// journaled sequence; the caller holds `guard`, has checked for held work
/// (or the user forced it) and [`removal_blocker`]. Fails before anything
/// moves when the directory cannot be moved.
pub fn remove(
    db: &mut Database,
    guard: &RepoGuard,
    repo: &Repository,
    located: &Located,
    branch: Option<&str>,
    session_id: Option<&str>,
) -> Result<Removal> {
    let path = &located.path;
    let exists = std::fs::symlink_metadata(path).is_ok();
    let trash = if exists {
        let parent = path.parent().context("worktree has no parent directory")?;
        if !is_writable(parent) {
            return Err(UserError::new(format!(
                "cannot remove worktree {}: {} is not writable",
                path.display(),
                parent.display()
            ))
            .into());
        }
        let leaf = path.file_name().unwrap_or_default().to_string_lossy();
        Some(parent.join(format!(
            "{TRASH_PREFIX}{leaf}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )))
    } else {
        None
    };
    let branch_tip = branch.and_then(|name| deletable_branch_tip(repo, name, located));
    let journal_id = journal::record_remove(
        db.conn(),
        guard.repo_key(),
        &journal::Removing {
            path,
            name: located.admin_name.as_deref(),
            branch: branch.filter(|_| branch_tip.is_some()),
            branch_tip,
            trash: trash.as_deref(),
            session_id,
        },
    )?;
    failpoint::hit("remove:after-journal");
    let mut removal = Removal {
        journal_id: Some(journal_id),
        ..Removal::default()
    };
    if let Some(trash) = &trash {
        if let Err(err) = std::fs::rename(path, trash) {
            // Nothing has changed yet: the entry goes, the worktree stays.
            journal::settle(db.conn(), journal_id)?;
            return Err(anyhow::Error::new(err)
                .context(format!("cannot move worktree {} away", path.display())));
        }
        removal.worktree_removed = true;
        removal.trash = Some(trash.clone());
    }
    failpoint::hit("remove:after-rename");
    if let Some(name) = &located.admin_name {
        removal.worktree_removed |= unregister(repo, name, path)?;
    }
    failpoint::hit("remove:after-unregister");
    if let (Some(name), Some(tip)) = (branch, branch_tip) {
        removal.branch_deleted = delete_branch_at(repo, name, tip)?;
    }
    failpoint::hit("remove:after-branch");
    db.immediate(|tx| journal::conclude_removal(tx, journal_id, path, session_id))?;
    failpoint::hit("remove:after-record");
    Ok(removal)
}

impl Removal {
    /// Deletes the moved-away files, then the journal entry that named them.
    pub fn finish(&self, conn: &Connection) {
        if let Some(trash) = &self.trash {
            let _ = std::fs::remove_dir_all(trash);
        }
        failpoint::hit("remove:during-purge");
        if let Some(id) = self.journal_id {
            let _ = journal::settle(conn, id);
        }
    }

    /// The trash directory's parent (a worktree root), if files were moved.
    pub fn trash_root(&self) -> Option<&Path> {
        self.trash.as_deref().and_then(Path::parent)
    }
}

fn is_writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access only reads the NUL-terminated path.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

/// Deletes a worktree's registration under `.git/worktrees/` (what `git
/// worktree prune` does for it), when it still names `path`.
fn unregister(repo: &Repository, admin_name: &str, path: &Path) -> Result<bool> {
    let admin = repo.path().join("worktrees").join(admin_name);
    if !admin.exists() || !admin_points_at(&admin, path) {
        return Ok(false);
    }
    std::fs::remove_dir_all(&admin)
        .with_context(|| format!("cannot unregister worktree {admin_name}"))?;
    Ok(true)
}

/// The tip of `branch` when removing the worktree may delete it: it exists
/// and no other checkout has it checked out.
fn deletable_branch_tip(repo: &Repository, branch: &str, located: &Located) -> Option<Oid> {
    let tip = repo
        .find_branch(branch, BranchType::Local)
        .ok()?
        .get()
        .target()?;
    let reference = format!("refs/heads/{branch}");
    let main_has_it = repo
        .find_reference("HEAD")
        .ok()
        .and_then(|head| head.symbolic_target().map(|t| t == reference))
        .unwrap_or(false);
    if main_has_it {
        return None;
    }
    let names = repo.worktrees().ok()?;
    let elsewhere = names.iter().flatten().any(|name| {
        Some(name) != located.admin_name.as_deref()
            && std::fs::read_to_string(repo.path().join("worktrees").join(name).join("HEAD"))
                .is_ok_and(|head| head.trim() == format!("ref: {reference}"))
    });
    (!elsewhere).then_some(tip)
}

/// Deletes the lock file of one of our branches that a process killed
/// while it changed the branch left behind; the caller holds the
/// repository's lock, so no process of ours holds it now.
fn remove_stale_ref_lock(repo: &Repository, branch: &str) {
    let _ = std::fs::remove_file(repo.path().join(format!("refs/heads/{branch}.lock")));
}

/// Deletes `branch` when it still points at `tip`.
fn delete_branch_at(repo: &Repository, branch: &str, tip: Oid) -> Result<bool> {
    remove_stale_ref_lock(repo, branch);
    match repo.find_branch(branch, BranchType::Local) {
        Ok(mut found) if found.get().target() == Some(tip) => {
            found
                .delete()
                .with_context(|| format!("cannot delete branch {branch}"))?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Deletes trash a removal of an earlier version left in a worktree root.
pub fn purge_trash(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(TRASH_PREFIX)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Removes the worktree root directory when nothing is left in it.
pub fn remove_root_if_empty(root: &Path) {
    let _ = std::fs::remove_dir(root);
}

// ---------------------------------------------------------------- unaccounted

/// A worktree git has registered in our worktree root or on one of our
/// branches that no session, kept record or journal entry accounts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unaccounted {
    pub repo_path: String,
    pub worktree_path: String,
    pub worktree_name: String,
    pub branch: Option<String>,
    /// `parallel-cc`, or `claude-code` for one Claude Code made itself
    /// (`claude --worktree` without our `WorktreeCreate` hook) under
    /// `.claude/worktrees/`.
    pub made_by: &'static str,
    /// What it holds (Claude Code's worktrees only), `None` when nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_work: Option<String>,
    /// Bytes on disk, with `status --disk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_bytes: Option<u64>,
}

/// `made_by` of a worktree Claude Code made itself.
pub const MADE_BY_CLAUDE: &str = "claude-code";

/// Where Claude Code puts the worktrees it makes itself, in a repository.
pub fn claude_worktrees_root(repo_path: &Path) -> PathBuf {
    repo_path.join(".claude").join("worktrees")
}

/// Whether a `git worktree lock` reason is the one Claude Code writes while
/// a session works in one of its own worktrees (`claude session NAME (pid
/// PID start TICKS)`, the start as `/proc/PID/stat` gives it) and that
/// process has ended: Claude Code leaves the lock behind when it exits, and
/// nobody holds it any more. Any other reason is a lock someone meant.
pub fn is_stale_claude_lock(reason: &str) -> bool {
    let Some(rest) = reason
        .strip_prefix("claude session ")
        .and_then(|r| r.rsplit_once(" (pid "))
        .map(|(_, r)| r)
    else {
        return false;
    };
    let Some((pid, start)) = rest.strip_suffix(')').and_then(|r| r.split_once(" start ")) else {
        return false;
    };
    match (pid.parse::<i64>(), start.parse::<u64>()) {
        (Ok(pid), Ok(start)) => !crate::process::is_same_process_alive(pid, Some(start)),
        _ => false,
    }
}

/// The worktrees of `repo` under `root` or on a branch starting with
/// `prefix` whose paths `known` does not list.
pub fn unaccounted(
    repo: &Repository,
    repo_key: &str,
    root: &Path,
    prefix: &str,
    known: &HashSet<String>,
) -> Vec<Unaccounted> {
    let Ok(names) = repo.worktrees() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for name in names.iter().flatten() {
        let Ok(worktree) = repo.find_worktree(name) else {
            continue;
        };
        let path = paths::canonicalize_lenient(worktree.path());
        let path_text = path.to_string_lossy().into_owned();
        if known.contains(&path_text) {
            continue;
        }
        let branch = std::fs::read_to_string(repo.path().join("worktrees").join(name).join("HEAD"))
            .ok()
            .and_then(|head| {
                head.trim()
                    .strip_prefix("ref: refs/heads/")
                    .map(str::to_owned)
            });
        let ours =
            path.starts_with(root) || branch.as_deref().is_some_and(|b| b.starts_with(prefix));
        let claudes = path.starts_with(claude_worktrees_root(Path::new(repo_key)));
        if ours || claudes {
            found.push(Unaccounted {
                repo_path: repo_key.to_owned(),
                worktree_path: path_text,
                worktree_name: name.to_owned(),
                branch,
                made_by: if claudes {
                    MADE_BY_CLAUDE
                } else {
                    "parallel-cc"
                },
                held_work: None,
                disk_bytes: None,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::is_stale_claude_lock;

    #[test]
    fn only_claude_codes_lock_of_an_ended_process_is_stale() {
        let me = i64::from(std::process::id());
        let start = crate::process::start_time(me).unwrap();
        let live = format!("claude session quick-look (pid {me} start {start})");
        assert!(!is_stale_claude_lock(&live));
        let restarted = format!("claude session quick-look (pid {me} start {})", start + 1);
        assert!(is_stale_claude_lock(&restarted));
        assert!(is_stale_claude_lock(
            "claude session a (b) (pid 2147483646 start 1)"
        ));
        for meant in [
            "",
            "on a USB disk",
            "claude session x",
            "claude session x (pid 2147483646)",
            "claude session x (pid many start 1)",
        ] {
            assert!(!is_stale_claude_lock(meant), "{meant}");
        }
    }
}
