//! What a new worktree starts from: `head` (the main checkout's HEAD, the
//! default), `fresh` (fetch, then the remote's default branch) or any ref.
//! Chosen, first found first, by `git pcc register --base`,
//! `$PARALLEL_CC_BASE` (the wrapper and every hook, `WorktreeCreate`
//! included, see it), the repository's own `worktree.base` and the user's.
//!
//! The base is recorded as the session's base branch (`origin/main` for
//! `fresh`, the ref as given otherwise) and its commit, so held work, ahead
//! and behind, and merge and land decisions measure against it. A fetch that
//! fails (offline, no such remote) falls back to the remote-tracking ref
//! already there, with one warning.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use git2::{BranchType, Oid, Repository};

use crate::config::Config;
use crate::UserError;

/// The environment variable that names the base for the wrapper and hooks.
pub const BASE_ENV: &str = "PARALLEL_CC_BASE";

/// How long a `fresh` base waits for its fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// A base as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSpec {
    /// The main checkout's HEAD.
    Head,
    /// The remote's default branch, fetched first.
    Fresh,
    /// A ref or commit (`main`, `origin/release`, `v1.2`, a hash).
    Ref(String),
}

impl BaseSpec {
    /// Reads a spec: `head`, `fresh`, or a ref.
    pub fn parse(text: &str) -> BaseSpec {
        match text.trim() {
            "" | "head" | "HEAD" => BaseSpec::Head,
            "fresh" => BaseSpec::Fresh,
            other => BaseSpec::Ref(other.to_owned()),
        }
    }

    /// The spec in force: `explicit`, else `$PARALLEL_CC_BASE`, else the
    /// configuration (already with the repository's own values over it).
    pub fn choose(explicit: Option<&str>, config: &Config) -> BaseSpec {
        let from_env = std::env::var(BASE_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
        match explicit.map(str::to_owned).or(from_env) {
            Some(text) => BaseSpec::parse(&text),
            None => BaseSpec::parse(&config.worktree_base()),
        }
    }
}

/// A base found in the repository.
#[derive(Debug, Clone)]
pub struct ResolvedBase {
    pub commit: Oid,
    /// The branch (or ref) held work and merges measure against; `None`
    /// for the main checkout's HEAD, whose current branch is used.
    pub branch: Option<String>,
    /// Set when a fetch failed and the local ref was used instead.
    pub warning: Option<String>,
}

/// Finds the commit `spec` names in the repository at `repo_path`, fetching
/// first for [`BaseSpec::Fresh`]. `None` for [`BaseSpec::Head`].
pub fn resolve(repo_path: &Path, spec: &BaseSpec) -> Result<Option<ResolvedBase>> {
    match spec {
        BaseSpec::Head => Ok(None),
        BaseSpec::Ref(name) => {
            let repo = crate::git::open(repo_path)?;
            let commit = commit_of(&repo, name).ok_or_else(|| {
                UserError::with_hint(
                    format!("base '{name}' names no commit in {}", repo_path.display()),
                    "give a branch, tag or commit that exists (git branch -a), or 'head' or 'fresh'",
                )
            })?;
            Ok(Some(ResolvedBase {
                commit,
                branch: Some(name.clone()),
                warning: None,
            }))
        }
        BaseSpec::Fresh => fresh(repo_path).map(Some),
    }
}

fn commit_of(repo: &Repository, name: &str) -> Option<Oid> {
    repo.revparse_single(&format!("{name}^{{commit}}"))
        .ok()
        .map(|object| object.id())
}

/// Fetches the remote, then finds its default branch.
fn fresh(repo_path: &Path) -> Result<ResolvedBase> {
    let repo = crate::git::open(repo_path)?;
    let remote = remote_name(&repo).ok_or_else(|| {
        UserError::with_hint(
            "worktree.base is 'fresh' but the repository has no remote",
            "add one (git remote add origin URL) or use --base head",
        )
    })?;
    let fetched = fetch(repo_path, &remote);
    let repo = crate::git::open(repo_path)?;
    let branch = default_branch(&repo, &remote).ok_or_else(|| {
        UserError::with_hint(
            format!("cannot tell the default branch of remote '{remote}'"),
            format!("git remote set-head {remote} --auto, or give --base {remote}/main"),
        )
    })?;
    let commit = commit_of(&repo, &branch)
        .with_context(|| format!("{branch} does not point at a commit"))?;
    let warning = fetched.err().map(|err| {
        format!("cannot fetch '{remote}' ({err}); new worktree starts from the local {branch}")
    });
    Ok(ResolvedBase {
        commit,
        branch: Some(branch),
        warning,
    })
}

/// The remote of the current branch's upstream, else `origin`, else the
/// only remote.
fn remote_name(repo: &Repository) -> Option<String> {
    let remotes = repo.remotes().ok()?;
    let names: Vec<String> = remotes.iter().flatten().map(str::to_owned).collect();
    let upstream = repo
        .head()
        .ok()
        .and_then(|head| head.shorthand().map(str::to_owned))
        .and_then(|branch| {
            repo.config()
                .ok()?
                .get_string(&format!("branch.{branch}.remote"))
                .ok()
        })
        .filter(|name| names.contains(name));
    upstream
        .or_else(|| names.iter().find(|n| *n == "origin").cloned())
        .or_else(|| (names.len() == 1).then(|| names[0].clone()))
}

/// `<remote>/<its HEAD>`, else `<remote>/main` or `<remote>/master`.
fn default_branch(repo: &Repository, remote: &str) -> Option<String> {
    let head = format!("refs/remotes/{remote}/HEAD");
    if let Ok(reference) = repo.find_reference(&head) {
        if let Some(target) = reference.symbolic_target() {
            if let Some(short) = target.strip_prefix("refs/remotes/") {
                if repo.find_branch(short, BranchType::Remote).is_ok() {
                    return Some(short.to_owned());
                }
            }
        }
    }
    ["main", "master"]
        .iter()
        .map(|name| format!("{remote}/{name}"))
        .find(|name| repo.find_branch(name, BranchType::Remote).is_ok())
}

/// `git fetch <remote>`, then `git remote set-head <remote> --auto` when
/// the remote's HEAD is not known yet; never prompting, at most
/// [`FETCH_TIMEOUT`].
fn fetch(repo_path: &Path, remote: &str) -> std::result::Result<(), String> {
    run_git(
        repo_path,
        &["fetch", "--quiet", "--no-write-fetch-head", remote],
    )?;
    let repo = crate::git::open(repo_path).map_err(|e| e.to_string())?;
    if repo
        .find_reference(&format!("refs/remotes/{remote}/HEAD"))
        .is_err()
    {
        let _ = run_git(repo_path, &["remote", "set-head", remote, "--auto"]);
    }
    Ok(())
}

fn run_git(repo_path: &Path, args: &[&str]) -> std::result::Result<(), String> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo_path)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run git: {err}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(_)) => {
                let mut text = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
                }
                let line = text
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("git failed")
                    .trim_start_matches("fatal: ")
                    .to_owned();
                return Err(line);
            }
            Ok(None) if started.elapsed() > FETCH_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer in {} s", FETCH_TIMEOUT.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(err) => return Err(err.to_string()),
        }
    }
}
