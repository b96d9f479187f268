//! Questions asked of git repositories through libgit2: which repository a
//! path belongs to (always named by its main checkout, whether the path is
//! inside it, in a subdirectory, or in one of its worktrees), which checkout
//! it is in, and which branch a checkout has. Held work is `held_work`'s.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::Repository;

use crate::{paths, UserError};

/// Resolves any path inside a repository or one of its worktrees to the
/// canonical top level of the repository's main checkout.
pub fn resolve_repository(path: &Path) -> Result<PathBuf> {
    Ok(resolve_checkout(path)?.repo_path)
}

/// The checkout a path is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The top level of the repository's main checkout.
    pub repo_path: PathBuf,
    /// The top level of the checkout the path is in (the main checkout or a
    /// linked worktree).
    pub top: PathBuf,
    /// The worktree's name under `.git/worktrees/`, for a linked worktree.
    pub linked_name: Option<String>,
}

impl Checkout {
    pub fn is_linked(&self) -> bool {
        self.linked_name.is_some()
    }
}

/// How the error of a path outside every repository begins.
const NOT_A_REPOSITORY: &str = "not a git repository: ";

/// Whether `err` says that a path is in no git repository (so that a
/// command can say which of its flags named it).
pub fn is_not_a_repository(err: &anyhow::Error) -> bool {
    err.downcast_ref::<UserError>()
        .is_some_and(|user| user.message.starts_with(NOT_A_REPOSITORY))
}

/// Finds the checkout (main or linked worktree) that contains `path`.
pub fn resolve_checkout(path: &Path) -> Result<Checkout> {
    let canonical = paths::canonicalize_existing(path)?;
    let repo = Repository::discover(&canonical).map_err(|_| {
        UserError::with_hint(
            format!("{NOT_A_REPOSITORY}{}", canonical.display()),
            "run it inside a git checkout, or name a path inside one",
        )
    })?;
    if repo.is_bare() {
        return Err(bare_repository(&canonical));
    }
    let top = repo
        .workdir()
        .map(Path::to_path_buf)
        .ok_or_else(|| bare_repository(&canonical))?;
    let (main, linked_name) = if repo.is_worktree() {
        let common = Repository::open(repo.commondir()).with_context(|| {
            format!("cannot open the main repository of {}", canonical.display())
        })?;
        if common.is_bare() {
            return Err(bare_repository(&canonical));
        }
        let name = repo
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        (common.workdir().map(Path::to_path_buf), name)
    } else {
        (Some(top.clone()), None)
    };
    let main = main.ok_or_else(|| bare_repository(&canonical))?;
    Ok(Checkout {
        repo_path: paths::canonicalize_existing(&main)?,
        top: paths::canonicalize_existing(&top)?,
        linked_name,
    })
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
