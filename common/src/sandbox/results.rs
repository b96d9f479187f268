//! Bringing a sandbox's work back. The workspace is a git repository whose
//! first commit (the baseline) is the packed workspace; the agent's commits
//! follow it, and what it left uncommitted is committed last. The work comes
//! back into the user's repository as new commits on a new branch, replayed
//! path by path onto the commit the run started from (the user's files
//! that were not packed stay as they are), or as uncommitted changes in a
//! new worktree. The user's own checkout, index and HEAD are never touched.
//!
//! What is read for reporting ([`Collected`]: paths, subjects, the patch)
//! is masked by the run's [`Redactor`] as it is read, so that no secret in
//! a file name or message reaches a result, log, row or report; the branch
//! itself keeps the agent's work as it is. Repositories of their own inside
//! the workspace (submodules, clones) cannot come back with the branch:
//! [`nested_work`] finds the ones that hold work, so that the run says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::build::TreeUpdateBuilder;
use git2::{Delta, DiffOptions, FileMode, Oid, Repository, Signature, Tree};
use serde::Serialize;

use crate::config::Config;
use crate::db::Database;
use crate::held_work::{self, SubmoduleWork};
use crate::redact::Redactor;
use crate::worktree::{self, RepoGuard, Start};
use crate::UserError;

/// The work of a sandbox, read from its workspace repository, with the
/// run's secrets masked.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Collected {
    /// Paths changed between the baseline and the end, sorted.
    pub files: Vec<String>,
    /// The agent's commits (oldest first), as subjects.
    pub commits: Vec<String>,
    /// The whole change as a patch (git's format, binary included).
    #[serde(skip)]
    pub patch: String,
    /// Work the branch cannot carry, one line each (see [`held_work::SubmoduleWork`]).
    pub not_brought_back: Vec<String>,
}

/// What came back into the user's repository.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub worktree: Option<String>,
    /// The pull request `--git-live` opened.
    pub pull_request: Option<String>,
    /// Files the user's working tree had changed, uncommitted, when the run
    /// started: the branch begins with a commit of them, before the
    /// agent's work (a worktree holds them uncommitted with the rest).
    pub started_from_uncommitted: usize,
}

/// One commit to replay: its parent's tree and its own, in the workspace.
struct Step {
    from: Oid,
    to: Oid,
    author: Signature<'static>,
    committer: Signature<'static>,
    message: String,
}

/// The first-parent chain of the workspace from the baseline to HEAD.
fn steps(ws: &Repository, baseline: Oid) -> Result<Vec<Step>> {
    let head = ws
        .head()
        .and_then(|h| h.peel_to_commit())
        .context("the sandbox workspace has no HEAD commit")?;
    let base = ws
        .find_commit(baseline)
        .context("the sandbox baseline is missing")?;
    let mut chain = Vec::new();
    let mut current = head.clone();
    let mut reached = false;
    for _ in 0..10_000 {
        if current.id() == baseline {
            reached = true;
            break;
        }
        let Ok(parent) = current.parent(0) else { break };
        chain.push(current.clone());
        current = parent;
    }
    let owned = |sig: git2::Signature| sig.to_owned();
    if !reached {
        // History was rewritten: bring the end state back as one commit.
        return Ok(vec![Step {
            from: base.tree_id(),
            to: head.tree_id(),
            author: owned(head.author()),
            committer: owned(head.committer()),
            message: "Changes made in the sandbox\n".to_owned(),
        }]);
    }
    chain.reverse();
    Ok(chain
        .iter()
        .map(|c| Step {
            from: c.parent(0).map(|p| p.tree_id()).unwrap_or(base.tree_id()),
            to: c.tree_id(),
            author: owned(c.author()),
            committer: owned(c.committer()),
            message: c.message().unwrap_or("").to_owned(),
        })
        .filter(|s| s.from != s.to)
        .collect())
}

/// Opens the workspace repository. Only its commits are read here: an
/// index libgit2 cannot read (git's split index, say, which the agent may
/// have turned on) is replaced by an empty one in memory, so that reading
/// attributes for a diff does not fail on it.
fn open_workspace(workspace: &Path) -> Result<Repository> {
    let ws = Repository::open(workspace).context("cannot open the sandbox workspace")?;
    if ws.index().is_err() {
        ws.set_index(&mut git2::Index::new()?)?;
    }
    Ok(ws)
}

/// Reads what the agent did in the workspace repository at `workspace`,
/// every text masked by `redactor`.
pub fn collect(workspace: &Path, baseline: Oid, redactor: &Redactor) -> Result<Collected> {
    let ws = open_workspace(workspace)?;
    let base_tree = ws.find_commit(baseline)?.tree()?;
    let head = ws.head()?.peel_to_commit()?;
    let end_tree = head.tree()?;
    let mut options = DiffOptions::new();
    options.show_binary(true).include_typechange(true);
    let diff = ws.diff_tree_to_tree(Some(&base_tree), Some(&end_tree), Some(&mut options))?;
    let mut files: Vec<String> = diff
        .deltas()
        .filter_map(|d| {
            d.new_file()
                .path()
                .or_else(|| d.old_file().path())
                .map(|p| redactor.redact(&p.to_string_lossy()).into_owned())
        })
        .collect();
    files.sort();
    files.dedup();
    let mut patch = Vec::new();
    diff.print(git2::DiffFormat::Patch, |_, _, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            patch.push(line.origin() as u8);
        }
        patch.extend_from_slice(line.content());
        true
    })?;
    // The agent writes the messages: they may quote its secrets.
    let commits = steps(&ws, baseline)?
        .iter()
        .map(|s| {
            let subject = s.message.lines().next().unwrap_or("");
            redactor.redact(subject).into_owned()
        })
        .collect();
    Ok(Collected {
        files,
        commits,
        patch: redactor
            .redact(&String::from_utf8_lossy(&patch))
            .into_owned(),
        not_brought_back: Vec::new(),
    })
}

/// The commits the user's repository records for submodule paths at
/// `base_commit` (its gitlinks), by path.
pub fn recorded_submodules(repo_path: &Path, base_commit: Oid) -> Result<BTreeMap<String, Oid>> {
    let user = Repository::open(repo_path)?;
    let tree = user.find_commit(base_commit)?.tree()?;
    let mut found = BTreeMap::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.filemode() == i32::from(FileMode::Commit) {
            if let Some(name) = entry.name() {
                found.insert(format!("{dir}{name}"), entry.id());
            }
        }
        git2::TreeWalkResult::Ok
    })?;
    Ok(found)
}

/// The repositories inside the workspace at `workspace` (directories with
/// a `.git` of their own that the workspace does not ignore) that hold
/// work, sorted by path. The commits the user's repository records for
/// them are read from `repo_path` at `base_commit` when there are any.
pub fn nested_work(
    workspace: &Path,
    repo_path: &Path,
    base_commit: Oid,
) -> Result<Vec<SubmoduleWork>> {
    let ws = open_workspace(workspace)?;
    let mut paths = Vec::new();
    find_nested(&ws, workspace, String::new(), &mut paths);
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    paths.sort();
    let recorded = recorded_submodules(repo_path, base_commit)?;
    let mut found = Vec::new();
    for path in paths {
        // A `.git` that is no repository holds no commits to lose.
        let Ok(repo) = Repository::open(workspace.join(&path)) else {
            continue;
        };
        let known = recorded.get(&path).copied();
        let work = held_work::repository_work(&repo, &path, known)?;
        if work.holds_work() {
            found.push(work);
        }
    }
    Ok(found)
}

/// Adds to `found` the repositories under `dir` (`rel` from the top), at
/// any depth, skipping what the workspace ignores and every `.git`.
fn find_nested(ws: &Repository, dir: &Path, rel: String, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name() == ".git" || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if ws.is_path_ignored(&child).unwrap_or(false) {
            continue;
        }
        let path = entry.path();
        if std::fs::symlink_metadata(path.join(".git")).is_ok() {
            found.push(child.clone());
        }
        find_nested(ws, &path, child, found);
    }
}

/// Copies the blobs a tree change needs from the workspace, and turns it
/// into path updates.
fn path_updates(
    ws: &Repository,
    user: &Repository,
    from: &Tree,
    to: &Tree,
    skip_deletions: bool,
) -> Result<TreeUpdateBuilder> {
    let mut options = DiffOptions::new();
    options.include_typechange(true);
    let diff = ws.diff_tree_to_tree(Some(from), Some(to), Some(&mut options))?;
    let odb = user.odb()?;
    let mut updates = TreeUpdateBuilder::new();
    for delta in diff.deltas() {
        let new = delta.new_file();
        let old = delta.old_file();
        match delta.status() {
            Delta::Deleted => {
                if !skip_deletions {
                    if let Some(path) = old.path() {
                        updates.remove(path);
                    }
                }
            }
            _ => {
                let Some(path) = new.path() else { continue };
                let mode = match new.mode() {
                    git2::FileMode::BlobExecutable => FileMode::BlobExecutable,
                    git2::FileMode::Link => FileMode::Link,
                    git2::FileMode::Commit => FileMode::Commit,
                    _ => FileMode::Blob,
                };
                if mode != FileMode::Commit && !odb.exists(new.id()) {
                    let blob = ws.find_blob(new.id())?;
                    user.blob(blob.content())?;
                }
                if delta.status() == Delta::Renamed {
                    if let Some(old_path) = old.path() {
                        updates.remove(old_path);
                    }
                }
                updates.upsert(path, new.id(), mode);
            }
        }
    }
    Ok(updates)
}

/// The work replayed onto the user's repository.
struct Replayed {
    /// The last commit (the base itself when nothing changed).
    tip: Oid,
    /// How many files the commit of the uncommitted changes the run started
    /// from holds (0: there is no such commit).
    started_files: usize,
}

/// Replays the sandbox's work onto `base_commit` of the user's repository:
/// first the uncommitted changes the run started from, as a commit of
/// their own, then the agent's commits.
fn replay(
    user: &Repository,
    workspace: &Path,
    baseline: Oid,
    base_commit: Oid,
    run_id: &str,
) -> Result<Replayed> {
    let ws = open_workspace(workspace)?;
    let base = user
        .find_commit(base_commit)
        .context("the commit the run started from is gone from the repository")?;
    let mut tip = base.clone();
    let baseline_tree = ws.find_commit(baseline)?.tree()?;

    // What the packed working tree had beyond the base commit: the
    // uncommitted changes the agent started from.
    let mut started = path_updates_from_user(user, &ws, &base.tree()?, &baseline_tree)?;
    let started_tree = started.create_updated(user, &base.tree()?)?;
    let mut started_files = 0;
    if started_tree != base.tree_id() {
        let diff = user.diff_tree_to_tree(
            Some(&base.tree()?),
            Some(&user.find_tree(started_tree)?),
            None,
        )?;
        started_files = diff.deltas().len();
        let signature = user
            .signature()
            .or_else(|_| Signature::now("parallel-cc", "sandbox@parallel-cc.invalid"))?;
        let tree = user.find_tree(started_tree)?;
        let oid = user.commit(
            None,
            &signature,
            &signature,
            &format!("Uncommitted changes sandbox run {run_id} started from\n"),
            &tree,
            &[&tip],
        )?;
        tip = user.find_commit(oid)?;
    }

    for step in steps(&ws, baseline)? {
        let from = ws.find_tree(step.from)?;
        let to = ws.find_tree(step.to)?;
        let mut updates = path_updates(&ws, user, &from, &to, false)?;
        let tree_id = updates.create_updated(user, &tip.tree()?)?;
        let tree = user.find_tree(tree_id)?;
        let oid = user.commit(
            None,
            &step.author,
            &step.committer,
            &step.message,
            &tree,
            &[&tip],
        )?;
        tip = user.find_commit(oid)?;
    }
    Ok(Replayed {
        tip: tip.id(),
        started_files,
    })
}

/// The changes from the user's base tree to the packed baseline, by path:
/// new and modified files only (files left out of the pack stay).
fn path_updates_from_user(
    user: &Repository,
    ws: &Repository,
    base: &Tree,
    baseline: &Tree,
) -> Result<TreeUpdateBuilder> {
    let ours = flatten(user, base)?;
    let theirs = flatten(ws, baseline)?;
    let odb = user.odb()?;
    // Secrets and ignored files packed on request (`--include`) are the
    // agent's to read, not to commit: only files git would take come back.
    let secrets = super::pack::matcher(super::pack::SECRET_PATTERNS.iter().copied())?;
    let is_key = |oid: Oid, mode: i32| {
        (mode == i32::from(FileMode::Blob) || mode == i32::from(FileMode::BlobExecutable))
            && ws
                .find_blob(oid)
                .is_ok_and(|blob| super::pack::is_key_head(blob.content()))
    };
    let mut updates = TreeUpdateBuilder::new();
    for (path, (oid, mode)) in &theirs {
        if ours.get(path) == Some(&(*oid, *mode)) {
            continue;
        }
        if !ours.contains_key(path)
            && (user.is_path_ignored(Path::new(path)).unwrap_or(false)
                || secrets.matched_path_or_any_parents(path, false).is_ignore()
                || is_key(*oid, *mode))
        {
            continue;
        }
        if *mode != i32::from(FileMode::Commit) && !odb.exists(*oid) {
            user.blob(ws.find_blob(*oid)?.content())?;
        }
        let mode = match *mode {
            m if m == i32::from(FileMode::BlobExecutable) => FileMode::BlobExecutable,
            m if m == i32::from(FileMode::Link) => FileMode::Link,
            m if m == i32::from(FileMode::Commit) => FileMode::Commit,
            _ => FileMode::Blob,
        };
        updates.upsert(path.as_str(), *oid, mode);
    }
    Ok(updates)
}

/// Every file of a tree with its blob and mode.
fn flatten(repo: &Repository, tree: &Tree) -> Result<BTreeMap<String, (Oid, i32)>> {
    let mut files = BTreeMap::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() != Some(git2::ObjectType::Tree) {
            if let Some(name) = entry.name() {
                files.insert(format!("{dir}{name}"), (entry.id(), entry.filemode()));
            }
        }
        git2::TreeWalkResult::Ok
    })?;
    let _ = repo;
    Ok(files)
}

/// Checks, before a run starts, that a branch name is usable and free.
pub fn check_branch_free(repo_path: &Path, branch: &str) -> Result<()> {
    if !git2::Branch::name_is_valid(branch).unwrap_or(false) {
        return Err(UserError::new(format!("'{branch}' is not a valid branch name")).into());
    }
    let repo = Repository::open(repo_path)?;
    if repo.find_branch(branch, git2::BranchType::Local).is_ok() {
        return Err(UserError::with_hint(
            format!("branch '{branch}' already exists"),
            "name another branch, or use --branch auto",
        )
        .into());
    }
    Ok(())
}

/// Brings the work back on a new branch.
pub fn import_branch(
    repo_path: &Path,
    workspace: &Path,
    baseline: Oid,
    base_commit: Oid,
    branch: &str,
    run_id: &str,
) -> Result<Imported> {
    let user = Repository::open(repo_path)?;
    let replayed = replay(&user, workspace, baseline, base_commit, run_id)?;
    let commit = user.find_commit(replayed.tip)?;
    user.branch(branch, &commit, false)
        .with_context(|| format!("cannot create branch {branch}"))?;
    Ok(Imported {
        branch: Some(branch.to_owned()),
        commit: Some(replayed.tip.to_string()),
        worktree: None,
        pull_request: None,
        started_from_uncommitted: replayed.started_files,
    })
}

/// Brings the work back as uncommitted changes in a new worktree (on a new
/// branch at the commit the run started from), made under the repository's
/// lock like every worktree of ours.
#[allow(clippy::too_many_arguments)]
pub fn import_worktree(
    data_dir: &Path,
    repo_path: &Path,
    config: &Config,
    workspace: &Path,
    baseline: Oid,
    base_commit: Oid,
    name: &str,
    run_id: &str,
) -> Result<Imported> {
    let user = Repository::open(repo_path)?;
    let replayed = replay(&user, workspace, baseline, base_commit, run_id)?;
    let tip = replayed.tip;
    let mut db = Database::open(data_dir)?;
    let guard = RepoGuard::acquire(data_dir, &mut db, repo_path, config.lock_wait())?;
    let created = worktree::create(&db, &guard, config, Some(name), Start::Commit(base_commit))?;
    let written = (|| -> Result<()> {
        let wt = Repository::open(&created.path)?;
        let tree = wt.find_commit(tip)?.tree()?;
        let mut checkout = git2::build::CheckoutBuilder::new();
        checkout.force().remove_untracked(false);
        wt.checkout_tree(tree.as_object(), Some(&mut checkout))
            .context("cannot write the sandbox's changes into the new worktree")
    })();
    if let Err(err) = written {
        created.abandon(&db, &guard);
        return Err(err);
    }
    created.settle(db.conn())?;
    Ok(Imported {
        branch: Some(created.branch),
        commit: None,
        worktree: Some(created.path.display().to_string()),
        pull_request: None,
        started_from_uncommitted: replayed.started_files,
    })
}

/// Where a path inside a repository would be, made absolute.
pub fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}
