//! Processing a repository's land queue. One runner per repository at a
//! time (a lock file beside the repository's lock; a second `git pcc land`
//! waits for it, then finds its items done or processes what is left), so
//! items land in queue order and each exactly once. For each item, in
//! order: refuse uncommitted changes in its worktree, build the candidate
//! on the target's tip, check it in a scratch worktree, then move the
//! target by compare-and-swap against that tip under the repository's
//! lock; when the tip moved meanwhile the item is built and checked again.
//! An item that stops is recorded with its reason and the next one goes on
//! from the target as it is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use git2::{Oid, Repository};
use serde::Serialize;

use super::candidate::{self, Built, Candidate, Request};
use super::queue::{self, Ending, Item};
use super::target::{self, Moved};
use super::{check, notify, State};
use crate::analysis::FileAnalysis;
use crate::db::Database;
use crate::worktree::RepoGuard;
use crate::{config::Config, failpoint, held_work, lock, paths};

/// How many times an item is built again because its target moved.
const MAX_ATTEMPTS: usize = 25;

/// What a runner did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub repo_path: String,
    /// Items a dead runner or a blocked checkout had left, put back.
    pub requeued: usize,
    /// The items this runner took, as they ended.
    pub processed: Vec<Item>,
}

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Checks at once (speculative checks are not implemented: 1).
    pub jobs: usize,
}

fn runner_lock_path(data_dir: &Path, repo_path: &Path) -> PathBuf {
    lock::repository_lock_path(data_dir, repo_path).with_extension("land.lock")
}

/// Processes the queue of the repository at `repo_path` until no item is
/// queued.
pub fn process(data_dir: &Path, repo_path: &Path, _options: &RunOptions) -> Result<Outcome> {
    let _runner = lock::FileLock::acquire(&runner_lock_path(data_dir, repo_path))?;
    let repo_key = paths::to_db_string(repo_path)?;
    let mut db = Database::open(data_dir)?;
    let requeued = db.immediate(|tx| queue::requeue_waiting(tx, &repo_key))?;
    let known: Vec<String> = queue::items(db.conn(), Some(&repo_key))?
        .into_iter()
        .map(|i| i.id)
        .collect();
    check::remove_stale(data_dir, repo_path, &known, &[]);
    let config = Config::load(data_dir)?;
    let mut outcome = Outcome {
        repo_path: repo_key.clone(),
        requeued,
        processed: Vec::new(),
    };
    while let Some(item) = db.immediate(|tx| queue::claim_next(tx, &repo_key))? {
        failpoint::hit("land:after-claim");
        let id = item.id.clone();
        if let Err(err) = land_item(data_dir, &mut db, &config, repo_path, &item) {
            let reason = format!("{err:#}");
            db.immediate(|tx| {
                if queue::finish(
                    tx,
                    &id,
                    State::Failed,
                    &Ending {
                        reason: Some(reason.clone()),
                        ..Ending::default()
                    },
                )? {
                    notify::stopped(tx, &item, &reason)?;
                }
                Ok(())
            })?;
        }
        if let Some(done) = queue::item(db.conn(), &id)? {
            outcome.processed.push(done);
        }
    }
    Ok(outcome)
}

/// Ends `item` in `state`, telling its session when it stopped.
fn finish(db: &mut Database, item: &Item, state: State, ending: Ending) -> Result<()> {
    db.immediate(|tx| {
        if queue::finish(tx, &item.id, state, &ending)? && state != State::Landed {
            notify::stopped(tx, item, ending.reason.as_deref().unwrap_or(state.as_str()))?;
        }
        Ok(())
    })
}

/// The session's worktree, when the item belongs to a session that has one.
fn session_worktree(db: &Database, item: &Item) -> Result<Option<PathBuf>> {
    let Some(session) = &item.session_id else {
        return Ok(None);
    };
    let path: Option<String> = db
        .conn()
        .query_row(
            "SELECT worktree_path FROM sessions WHERE id = ?1 AND is_main_repo = 0",
            [session],
            |r| r.get(0),
        )
        .ok();
    Ok(path.map(PathBuf::from).filter(|p| p.exists()))
}

fn land_item(
    data_dir: &Path,
    db: &mut Database,
    config: &Config,
    repo_path: &Path,
    item: &Item,
) -> Result<()> {
    let repo = Repository::open(repo_path)
        .with_context(|| format!("cannot open {}", repo_path.display()))?;
    let worktree = session_worktree(db, item)?;
    if let Some(worktree) = &worktree {
        let changes = Repository::open(worktree)
            .context("cannot open the session's worktree")
            .and_then(|r| held_work::local_changes(&r))?;
        let files = changes.uncommitted_files + changes.hidden_changes;
        if files > 0 {
            let reason = format!(
                "refused: {} has {files} uncommitted file(s), which land does not take; commit them, then land again",
                worktree.display()
            );
            return finish(db, item, State::Failed, reason_only(reason));
        }
    }
    let Some(source) = target::branch_tip(&repo, &item.branch) else {
        let reason = format!("there is no branch named {}", item.branch);
        return finish(db, item, State::Failed, reason_only(reason));
    };
    // A candidate recorded before a runner died may have landed already.
    if let (Some(candidate), Some(tip)) = (&item.candidate_commit, &item.checked_tip) {
        let landed = Oid::from_str(candidate)?;
        if let Some(now) = target::branch_tip(&repo, &item.target_branch) {
            let in_target = now == landed || repo.graph_descendant_of(now, landed)?;
            if in_target && candidate != tip {
                let recorded_source = item.source_commit.clone().unwrap_or(source.to_string());
                return record_landed(db, item, &recorded_source, candidate, None, &worktree);
            }
        }
    }
    for _ in 0..MAX_ATTEMPTS {
        let Some(tip) = target::branch_tip(&repo, &item.target_branch) else {
            let reason = format!("there is no target branch named {}", item.target_branch);
            return finish(db, item, State::Failed, reason_only(reason));
        };
        let built = candidate::build(
            &repo,
            &Request {
                source,
                tip,
                strategy: item.strategy(),
                auto_fix: item.auto_fix,
                message: item.message.as_deref(),
                branch: &item.branch,
                target: &item.target_branch,
            },
        )?;
        let candidate = match built {
            Built::Conflict(files) => {
                let ending = Ending {
                    reason: Some(conflict_reason(&files, &item.target_branch, tip)),
                    conflicts: Some(serde_json::to_value(&files)?),
                    ..Ending::default()
                };
                return finish(db, item, State::Conflict, ending);
            }
            Built::Ready(candidate) => candidate,
        };
        if candidate.already_in {
            let ending = Ending {
                reason: Some(format!("already in {}", item.target_branch)),
                landed_commit: Some(tip.to_string()),
                ..Ending::default()
            };
            return finish(db, item, State::Landed, ending);
        }
        db.immediate(|tx| {
            queue::record_candidate(
                tx,
                &item.id,
                &source.to_string(),
                &candidate.commit,
                &tip.to_string(),
            )
        })?;
        failpoint::hit("land:after-candidate");
        let mut log_path = None;
        if let Some(command) = &item.check_command {
            let timeout = Duration::from_secs(item.check_timeout_minutes.max(1) as u64 * 60);
            let outcome = check::run(
                data_dir,
                repo_path,
                &item.id,
                &candidate.commit,
                command,
                timeout,
            )?;
            failpoint::hit("land:after-check");
            if !outcome.passed {
                let how = if outcome.timed_out {
                    format!("ran past {} min", item.check_timeout_minutes)
                } else {
                    match outcome.exit_code {
                        Some(code) => format!("exit code {code}"),
                        None => "killed by a signal".to_owned(),
                    }
                };
                let last = outcome
                    .tail
                    .iter()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .cloned()
                    .unwrap_or_default();
                let ending = Ending {
                    reason: Some(format!(
                        "the check `{command}` failed ({how}); last line: {last}; log: {}",
                        outcome.log_path
                    )),
                    log_path: Some(outcome.log_path),
                    ..Ending::default()
                };
                return finish(db, item, State::Failed, ending);
            }
            log_path = Some(outcome.log_path);
        }
        let moved = {
            let _guard = RepoGuard::acquire(data_dir, db, repo_path, config.lock_wait())?;
            target::compare_and_swap(
                repo_path,
                &item.target_branch,
                tip,
                Oid::from_str(&candidate.commit)?,
                &item.branch,
            )?
        };
        match moved {
            Moved::TipMoved => continue,
            Moved::Blocked { checkout, files } => {
                let reason = format!(
                    "checked, but {} has {files} uncommitted file(s) and {} is checked out there; \
                     nothing in it was touched: commit or stash them (git -C {} stash), then run 'git pcc land'",
                    checkout.display(),
                    item.target_branch,
                    checkout.display()
                );
                let ending = Ending {
                    reason: Some(reason),
                    log_path,
                    ..Ending::default()
                };
                return finish(db, item, State::Blocked, ending);
            }
            Moved::Landed { checkout } => {
                return record_landed(
                    db,
                    item,
                    &source.to_string(),
                    &candidate.commit,
                    Some(describe(&candidate, checkout.as_deref())),
                    &worktree,
                );
            }
        }
    }
    let reason = format!(
        "{} kept moving: gave up after {MAX_ATTEMPTS} attempts",
        item.target_branch
    );
    finish(db, item, State::Failed, reason_only(reason))
}

fn reason_only(reason: String) -> Ending {
    Ending {
        reason: Some(reason),
        ..Ending::default()
    }
}

fn describe(candidate: &Candidate, checkout: Option<&Path>) -> String {
    let mut parts = vec![if candidate.commits_made == 0 {
        "fast-forward".to_owned()
    } else {
        format!("{} commit(s) made", candidate.commits_made)
    }];
    if !candidate.fixes.is_empty() {
        parts.push(format!("fixed: {}", candidate.fixes.join(", ")));
    }
    if let Some(checkout) = checkout {
        parts.push(format!("{} brought forward", checkout.display()));
    }
    parts.join("; ")
}

/// Marks an item landed, records the merge event, then brings its own
/// worktree to the landed commit when it is clean.
fn record_landed(
    db: &mut Database,
    item: &Item,
    source: &str,
    landed: &str,
    reason: Option<String>,
    worktree: &Option<PathBuf>,
) -> Result<()> {
    db.immediate(|tx| {
        let ending = Ending {
            reason: reason.clone(),
            landed_commit: Some(landed.to_owned()),
            ..Ending::default()
        };
        if queue::finish(tx, &item.id, State::Landed, &ending)? {
            notify::landed(tx, item, source, landed)?;
        }
        Ok(())
    })?;
    failpoint::hit("land:after-record");
    if let (Some(worktree), Ok(source), Ok(landed)) =
        (worktree, Oid::from_str(source), Oid::from_str(landed))
    {
        target::follow(worktree, &item.branch, source, landed);
    }
    Ok(())
}

/// `src/app.py (SEMANTIC), src/util.py (TRIVIAL)`.
fn conflict_reason(files: &[FileAnalysis], target: &str, tip: Oid) -> String {
    let list: Vec<String> = files
        .iter()
        .map(|f| format!("{} ({})", f.file_path, f.conflict_type.as_str()))
        .collect();
    let tip = tip.to_string();
    format!(
        "conflict in {} with {target} at {}",
        list.join(", "),
        &tip[..7]
    )
}

/// What landing would do, without changing anything: each branch built on
/// the one before it, from the target's tip.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunItem {
    pub branch: String,
    pub target_branch: String,
    /// `would land`, `conflict`, `nothing to land`.
    pub outcome: String,
    pub candidate: Option<Candidate>,
    pub conflicts: Vec<FileAnalysis>,
}

/// Builds each of `items` on the target as the ones before it would leave
/// it; no ref, queue row or checkout changes.
pub fn dry_run(repo_path: &Path, items: &[super::NewItem]) -> Result<Vec<DryRunItem>> {
    let repo = Repository::open(repo_path)
        .with_context(|| format!("cannot open {}", repo_path.display()))?;
    let mut tips: Vec<(String, Oid)> = Vec::new();
    let mut out = Vec::new();
    for item in items {
        let tip = match tips.iter().find(|(t, _)| *t == item.target_branch) {
            Some((_, tip)) => *tip,
            None => target::branch_tip(&repo, &item.target_branch).ok_or_else(|| {
                crate::UserError::new(format!("no branch named {}", item.target_branch))
            })?,
        };
        let source = target::branch_tip(&repo, &item.branch)
            .ok_or_else(|| crate::UserError::new(format!("no branch named {}", item.branch)))?;
        let built = candidate::build(
            &repo,
            &Request {
                source,
                tip,
                strategy: item.strategy,
                auto_fix: item.auto_fix,
                message: item.message.as_deref(),
                branch: &item.branch,
                target: &item.target_branch,
            },
        )?;
        let entry = match built {
            Built::Conflict(files) => DryRunItem {
                branch: item.branch.clone(),
                target_branch: item.target_branch.clone(),
                outcome: "conflict".to_owned(),
                candidate: None,
                conflicts: files,
            },
            Built::Ready(candidate) => {
                let next = Oid::from_str(&candidate.commit)?;
                tips.retain(|(t, _)| *t != item.target_branch);
                tips.push((item.target_branch.clone(), next));
                DryRunItem {
                    branch: item.branch.clone(),
                    target_branch: item.target_branch.clone(),
                    outcome: if candidate.already_in {
                        "nothing to land"
                    } else {
                        "would land"
                    }
                    .to_owned(),
                    candidate: Some(candidate),
                    conflicts: Vec::new(),
                }
            }
        };
        out.push(entry);
    }
    Ok(out)
}
