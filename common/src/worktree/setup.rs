//! Preparing a new worktree for work: ignored files the agent needs copied
//! from the main checkout (`.worktreeinclude`, config `worktree.copy`), and
//! config `worktree.setup` commands run inside it.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::{config::Config, git, UserError};

/// Links ignored directories of the main checkout that match config
/// `worktree.symlink` (gitignore syntax, e.g. `node_modules`) into a new
/// worktree, as Claude Code's `worktree.symlinkDirectories` does: the
/// worktree gets a symbolic link to the main checkout's directory, so it
/// costs no disk and no install time, and everything written through it
/// lands in the main checkout's copy, shared by every worktree. Held work
/// does not count such a link, and removing the worktree removes only the
/// link. A path the worktree already has is left alone. Returns the
/// repository-relative paths linked.
pub fn link_shared_directories(
    repo_path: &Path,
    worktree_path: &Path,
    config: &Config,
) -> Result<Vec<String>> {
    let patterns = config.symlink_patterns();
    if patterns.is_empty() {
        return Ok(Vec::new());
    }
    let mut builder = ignore::gitignore::GitignoreBuilder::new(repo_path);
    for pattern in &patterns {
        builder.add_line(None, pattern).map_err(|err| {
            UserError::new(format!(
                "invalid worktree.symlink pattern '{pattern}': {err}"
            ))
        })?;
    }
    let matcher = builder
        .build()
        .context("cannot build the symlink patterns")?;
    let mut linked = Vec::new();
    for relative in ignored_paths(repo_path)? {
        let source = repo_path.join(&relative);
        if !source.is_dir()
            || !matcher
                .matched_path_or_any_parents(&relative, true)
                .is_ignore()
        {
            continue;
        }
        let target = worktree_path.join(&relative);
        if std::fs::symlink_metadata(&target).is_ok() {
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the directory of {relative}"))?;
        }
        exclude_link(repo_path, &relative)?;
        std::os::unix::fs::symlink(&source, &target)
            .with_context(|| format!("cannot link {relative} into the worktree"))?;
        linked.push(relative);
    }
    linked.sort();
    Ok(linked)
}

/// Makes git ignore the link at `relative` as it ignores the directory: a
/// `.gitignore` line such as `node_modules/` matches directories only, so
/// without this `git status` would list the link and `git add -A` would
/// commit it. The line goes in the repository's `info/exclude` (shared by
/// its worktrees), anchored, once; it ignores nothing the main checkout
/// did not already ignore there.
fn exclude_link(repo_path: &Path, relative: &str) -> Result<()> {
    let repo = git::open(repo_path)?;
    let file = repo.commondir().join("info").join("exclude");
    let line = format!("/{relative}");
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    if text.lines().any(|l| l.trim() == line) {
        return Ok(());
    }
    let mut updated = text;
    if !updated.is_empty() && !updated.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str(&format!(
        "# linked into worktrees (worktree.symlink)\n{line}\n"
    ));
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    crate::config::write_atomically(&file, updated.as_bytes())
        .with_context(|| format!("cannot update {}", file.display()))
}

/// The ignored files and directories of a checkout (a directory as one
/// entry), repository-relative.
fn ignored_paths(repo_path: &Path) -> Result<Vec<String>> {
    let repo = git::open(repo_path)?;
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(false)
        .include_ignored(true)
        .recurse_ignored_dirs(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut options))
        .context("cannot list ignored files")?;
    Ok(statuses
        .iter()
        .filter(|entry| entry.status().is_ignored())
        .filter_map(|entry| entry.path().map(|p| p.trim_end_matches('/').to_owned()))
        .collect())
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
    let index = repo.index().context("cannot read the index")?;
    let mut found = Vec::new();
    ignored_matches(&repo, &index, &matcher, repo_path, "", &mut found)?;
    let mut copied = Vec::new();
    for relative in found {
        let source = repo_path.join(&relative);
        let target = worktree_path.join(&relative);
        copy_path(&source, &target)
            .with_context(|| format!("cannot copy {relative} into the worktree"))?;
        copied.push(relative);
    }
    copied.sort();
    Ok(copied)
}

/// The ignored files and directories under `dir` (`relative` to the top)
/// that `matcher` matches, found as `git status --ignored` lists them (an
/// ignored directory whole, not what is inside it) but without looking at
/// any tracked file: one directory read each, and git's ignore rules asked
/// only about directories and about files the patterns match, so a large
/// checkout costs next to nothing. Nested repositories are left alone.
fn ignored_matches(
    repo: &git2::Repository,
    index: &git2::Index,
    matcher: &ignore::gitignore::Gitignore,
    dir: &Path,
    relative: &str,
    found: &mut Vec<String>,
) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if relative.is_empty() && name == ".git" {
            continue;
        }
        let path = if relative.is_empty() {
            name.to_owned()
        } else {
            format!("{relative}/{name}")
        };
        let is_dir = entry.file_type()?.is_dir();
        if is_dir {
            if repo
                .is_path_ignored(Path::new(&format!("{path}/")))
                .unwrap_or(false)
            {
                if matcher.matched_path_or_any_parents(&path, true).is_ignore() {
                    found.push(path);
                }
            } else if !entry.path().join(".git").exists() {
                ignored_matches(repo, index, matcher, &entry.path(), &path, found)?;
            }
            continue;
        }
        if matcher
            .matched_path_or_any_parents(&path, false)
            .is_ignore()
            && index.get_path(Path::new(&path), 0).is_none()
            && repo.is_path_ignored(Path::new(&path)).unwrap_or(false)
        {
            found.push(path);
        }
    }
    Ok(())
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
