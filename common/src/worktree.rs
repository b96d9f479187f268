//! Worktrees of parallel sessions, made and removed with libgit2 so that
//! `git worktree list` and every git command see ordinary worktrees.
//!
//! A worktree lives at `<root>/<name>` (root default
//! `<repo parent>/<repo>-worktrees`), named `parallel-<8 hex>`, on branch
//! `<prefix><name>` started from the main checkout's HEAD. Removal first
//! renames the directory to a trash name beside it (atomic, so no half-deleted
//! worktree is ever visible), unregisters it and deletes its branch, and only
//! then deletes the files, which can happen outside any lock.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use git2::{BranchType, Repository, WorktreeAddOptions, WorktreePruneOptions};
use serde::Serialize;

use crate::{checkout, config::Config, git, paths, UserError};

/// Prefix of directories that are being deleted.
const TRASH_PREFIX: &str = ".pcc-trash-";

/// A worktree created for a session.
#[derive(Debug, Clone)]
pub struct NewWorktree {
    pub name: String,
    pub path: PathBuf,
    pub branch: String,
    pub base_branch: Option<String>,
    pub base_commit: String,
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

/// Creates a new worktree on a new branch from the main checkout's HEAD.
/// Leaves nothing behind when it fails.
/// A requested name is used when free, else with a numeric suffix.
pub fn create(
    repo_path: &Path,
    config: &Config,
    requested_name: Option<&str>,
) -> Result<NewWorktree> {
    let repo = git::open(repo_path)?;
    let head = repo.head().map_err(|_| {
        UserError::with_hint(
            "the repository has no commits yet, so no worktree can branch from it",
            "make a first commit, then start the session again",
        )
    })?;
    let base_commit = head
        .peel_to_commit()
        .context("HEAD does not point at a commit")?;
    let base_branch = git::current_branch(&repo);
    let root = worktrees_root(repo_path, config)?;
    std::fs::create_dir_all(&root)
        .with_context(|| format!("cannot create worktree directory {}", root.display()))?;
    let prefix = config.branch_prefix();

    let requested = requested_name.map(sanitize_name).filter(|n| !n.is_empty());
    let mut attempt = 0;
    let (name, path, branch_name) = loop {
        attempt += 1;
        let name = match (&requested, attempt) {
            (Some(name), 1) => name.clone(),
            (Some(name), n) if n <= 20 => format!("{name}-{n}"),
            _ => format!(
                "parallel-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
        };
        let path = root.join(&name);
        let branch_name = format!("{prefix}{name}");
        let taken = path.exists()
            || repo.find_branch(&branch_name, BranchType::Local).is_ok()
            || repo.find_worktree(&name).is_ok();
        if !taken {
            break (name, path, branch_name);
        }
    };

    let branch = repo
        .branch(&branch_name, &base_commit, false)
        .with_context(|| format!("cannot create branch {branch_name}"))?;
    let tree = base_commit.tree().context("cannot read the tree of HEAD")?;
    let added = if checkout::needs_no_filters(&repo, &tree) {
        add_worktree_directly(&repo, &name, &path, &branch_name, &tree)
    } else {
        let mut options = WorktreeAddOptions::new();
        options.reference(Some(branch.get()));
        repo.worktree(&name, &path, Some(&options))
            .map(drop)
            .map_err(anyhow::Error::new)
    };
    if let Err(err) = added {
        // Undo whatever libgit2 managed to write before failing.
        let _ = std::fs::remove_dir_all(&path);
        let _ = std::fs::remove_dir_all(repo.path().join("worktrees").join(&name));
        if let Ok(mut branch) = repo.find_branch(&branch_name, BranchType::Local) {
            let _ = branch.delete();
        }
        return Err(err.context(format!("cannot create worktree {}", path.display())));
    }
    Ok(NewWorktree {
        name,
        path: paths::canonicalize_lenient(&path),
        branch: branch_name,
        base_branch,
        base_commit: base_commit.id().to_string(),
    })
}

/// Turns a suggested name into a safe directory and branch name component.
fn sanitize_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    cleaned
        .trim_matches(|c| c == '-' || c == '.')
        .chars()
        .take(64)
        .collect()
}

/// Registers a worktree the way git lays one out (`.git/worktrees/<name>/`
/// with `gitdir`, `commondir` and `HEAD`, and a `.git` file in the worktree
/// pointing back), then writes the tree with [`checkout::write_tree`].
fn add_worktree_directly(
    repo: &Repository,
    name: &str,
    path: &Path,
    branch: &str,
    tree: &git2::Tree,
) -> Result<()> {
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
    let worktree = git::open(&workdir)?;
    checkout::write_tree(&worktree, &workdir, tree)
}

/// What removing a worktree did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    pub worktree_removed: bool,
    pub branch_deleted: bool,
    /// The directory to delete once the repository lock is released.
    #[serde(skip)]
    pub trash: Option<PathBuf>,
}

/// Unregisters a worktree and deletes its branch; its files are moved to a
/// trash directory that [`Removal::finish`] deletes. The caller has checked
/// for held work (or the user forced it) and holds the repository lock.
pub fn remove(
    repo: &Repository,
    worktree_path: &Path,
    worktree_name: Option<&str>,
    branch: Option<&str>,
) -> Result<Removal> {
    let mut removal = Removal::default();
    if worktree_path.exists() {
        let parent = worktree_path
            .parent()
            .context("worktree has no parent directory")?;
        let leaf = worktree_path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let trash = parent.join(format!(
            "{TRASH_PREFIX}{leaf}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        std::fs::rename(worktree_path, &trash)
            .with_context(|| format!("cannot move worktree {} away", worktree_path.display()))?;
        removal.trash = Some(trash);
        removal.worktree_removed = true;
    }
    if let Some(admin_name) = admin_name(repo, worktree_path, worktree_name) {
        if let Ok(worktree) = repo.find_worktree(&admin_name) {
            let mut options = WorktreePruneOptions::new();
            options.valid(true).locked(false).working_tree(false);
            worktree
                .prune(Some(&mut options))
                .with_context(|| format!("cannot unregister worktree {admin_name}"))?;
            removal.worktree_removed = true;
        }
    }
    if let Some(branch) = branch {
        if let Ok(mut found) = repo.find_branch(branch, BranchType::Local) {
            if !found.is_head() {
                found
                    .delete()
                    .with_context(|| format!("cannot delete branch {branch}"))?;
                removal.branch_deleted = true;
            }
        }
    }
    Ok(removal)
}

/// Finds the name under `.git/worktrees/` of the worktree at `path`.
fn admin_name(repo: &Repository, path: &Path, hint: Option<&str>) -> Option<String> {
    if let Some(name) = hint {
        if let Ok(worktree) = repo.find_worktree(name) {
            if paths::canonicalize_lenient(worktree.path()) == paths::canonicalize_lenient(path) {
                return Some(name.to_owned());
            }
        }
    }
    let names = repo.worktrees().ok()?;
    names.iter().flatten().find_map(|name| {
        let worktree = repo.find_worktree(name).ok()?;
        (paths::canonicalize_lenient(worktree.path()) == paths::canonicalize_lenient(path))
            .then(|| name.to_owned())
    })
}

impl Removal {
    /// Deletes the moved-away files.
    pub fn finish(&self) {
        if let Some(trash) = &self.trash {
            let _ = std::fs::remove_dir_all(trash);
        }
    }
}

/// Deletes trash left by a removal that crashed before it finished.
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

/// Copies ignored files of the main checkout that match the patterns of
/// `.worktreeinclude` or config `worktree.copy` (gitignore syntax) into a
/// new worktree, as Claude Code does with `.worktreeinclude`. Only ignored
/// files qualify, so a copy never shows up as uncommitted work. Returns the
/// repository-relative paths copied.
pub fn copy_included_files(
    repo_path: &Path,
    worktree_path: &Path,
    config: &Config,
) -> Result<Vec<String>> {
    let mut builder = ignore::gitignore::GitignoreBuilder::new(repo_path);
    let include_file = repo_path.join(".worktreeinclude");
    if include_file.is_file() {
        if let Some(err) = builder.add(&include_file) {
            return Err(
                UserError::new(format!("cannot read {}: {err}", include_file.display())).into(),
            );
        }
    }
    for pattern in config.copy_patterns() {
        builder.add_line(None, &pattern).map_err(|err| {
            UserError::new(format!("invalid worktree.copy pattern '{pattern}': {err}"))
        })?;
    }
    let matcher = builder
        .build()
        .context("cannot build the include patterns")?;
    if matcher.is_empty() {
        return Ok(Vec::new());
    }

    let repo = git::open(repo_path)?;
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(false)
        .include_ignored(true)
        .recurse_ignored_dirs(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut options))
        .context("cannot list untracked files")?;
    let mut copied = Vec::new();
    for entry in statuses.iter() {
        let status = entry.status();
        if !status.is_ignored() {
            continue;
        }
        let Some(relative) = entry.path() else {
            continue;
        };
        let relative = relative.trim_end_matches('/');
        let source = repo_path.join(relative);
        let is_dir = source.is_dir();
        if !matcher
            .matched_path_or_any_parents(relative, is_dir)
            .is_ignore()
        {
            continue;
        }
        let target = worktree_path.join(relative);
        copy_path(&source, &target)
            .with_context(|| format!("cannot copy {relative} into the worktree"))?;
        copied.push(relative.to_owned());
    }
    copied.sort();
    Ok(copied)
}

fn copy_path(source: &Path, target: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(source)?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if meta.is_dir() {
        std::fs::create_dir_all(target)?;
        for entry in std::fs::read_dir(source)? {
            let entry = entry?;
            copy_path(&entry.path(), &target.join(entry.file_name()))?;
        }
    } else if meta.file_type().is_symlink() {
        let link = std::fs::read_link(source)?;
        std::os::unix::fs::symlink(link, target)?;
    } else {
        std::fs::copy(source, target)?;
    }
    Ok(())
}

/// A setup command that failed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupFailure {
    pub command: String,
    pub exit_code: Option<i32>,
}

/// Runs config `worktree.setup` commands inside a new worktree, appending
/// their output to `log_path`. Failures are returned, not fatal.
pub fn run_setup(worktree_path: &Path, commands: &[String], log_path: &Path) -> Vec<SetupFailure> {
    let mut failures = Vec::new();
    if commands.is_empty() {
        return failures;
    }
    if let Some(parent) = log_path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    for command in commands {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path);
        let (stdout, stderr) = match log.and_then(|f| Ok((f.try_clone()?, f))) {
            Ok((out, err)) => (Stdio::from(out), Stdio::from(err)),
            Err(_) => (Stdio::null(), Stdio::null()),
        };
        let status = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(worktree_path)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .status();
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => failures.push(SetupFailure {
                command: command.clone(),
                exit_code: status.code(),
            }),
            Err(_) => failures.push(SetupFailure {
                command: command.clone(),
                exit_code: None,
            }),
        }
    }
    failures
}
