//! Processing a repository's land queue. One runner per repository at a
//! time (a lock file beside the repository's lock; a second `git pcc land`
//! waits for it, then finds its items done or processes what is left), so
//! items land in queue order and each exactly once. For each item, in
//! order: refuse uncommitted changes in its worktree, build the candidate
//! on the target's tip (with `jobs` above 1, on the candidate of the item
//! before it: see [`super::pipeline`]), check it in a scratch worktree,
//! then move the target by compare-and-swap against that tip under the
//! repository's lock; when the tip moved meanwhile the item is built and
//! checked again. An item that stops is recorded with its reason and the
//! next one goes on from the target as it is.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::{Oid, Repository};
use serde::Serialize;

use super::candidate::{self, Built, Candidate, Request};
use super::check::CheckOutcome;
use super::pipeline::Pipeline;
use super::queue::{self, Ending, Item};
use super::target::{self, Moved};
use super::{notify, publish, Publish, State};
use crate::analysis::FileAnalysis;
use crate::db::Database;
use crate::worktree::RepoGuard;
use crate::{config::Config, held_work, lock, paths};

/// How many times an item is built again because its target moved.
pub(super) const MAX_ATTEMPTS: usize = 25;

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
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Items checked at once, each on the candidate of the one before it.
    pub jobs: usize,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions { jobs: 1 }
    }
}

fn runner_lock_path(data_dir: &Path, repo_path: &Path) -> PathBuf {
    lock::repository_lock_path(data_dir, repo_path).with_extension("land.lock")
}

/// What a runner works with.
pub(super) struct RunContext<'a> {
    pub data_dir: &'a Path,
    pub repo_path: &'a Path,
    pub repo_key: &'a str,
    pub config: &'a Config,
    pub repo: Repository,
}

/// Processes the queue of the repository at `repo_path` until no item is
/// queued.
pub fn process(data_dir: &Path, repo_path: &Path, options: &RunOptions) -> Result<Outcome> {
    let _runner = lock::FileLock::acquire(&runner_lock_path(data_dir, repo_path))?;
    let repo_key = paths::to_db_string(repo_path)?;
    let mut db = Database::open(data_dir)?;
    let requeued = db.immediate(|tx| queue::requeue_waiting(tx, &repo_key))?;
    let known: Vec<String> = queue::items(db.conn(), Some(&repo_key))?
        .into_iter()
        .map(|i| i.id)
        .collect();
    super::check::remove_stale(data_dir, repo_path, &known, &[]);
    let config = Config::load(data_dir)?;
    let context = RunContext {
        data_dir,
        repo_path,
        repo_key: &repo_key,
        config: &config,
        repo: Repository::open(repo_path)
            .with_context(|| format!("cannot open {}", repo_path.display()))?,
    };
    let mut pipeline = Pipeline::new(&context, options.jobs.max(1));
    pipeline.run(&mut db)?;
    let mut processed = Vec::new();
    for id in pipeline.processed() {
        if let Some(done) = queue::item(db.conn(), id)? {
            processed.push(done);
        }
    }
    Ok(Outcome {
        repo_path: repo_key.clone(),
        requeued,
        processed,
    })
}

/// Ends `item` in `state`, telling its session when it stopped.
pub(super) fn finish(db: &mut Database, item: &Item, state: State, ending: Ending) -> Result<()> {
    db.immediate(|tx| {
        if queue::finish(tx, &item.id, state, &ending)?
            && !matches!(state, State::Landed | State::Proposed)
        {
            notify::stopped(tx, item, ending.reason.as_deref().unwrap_or(state.as_str()))?;
        }
        Ok(())
    })
}

/// Ends `item` as failed by `err`.
pub(super) fn fail(db: &mut Database, item: &Item, err: &anyhow::Error) -> Result<()> {
    finish(db, item, State::Failed, reason_only(format!("{err:#}")))
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

/// Whether a claimed item goes on, and with what.
pub(super) enum Admitted {
    /// It ended already (refused, or found landed).
    Done,
    Go {
        source: Oid,
        worktree: Option<PathBuf>,
    },
}

/// Takes a claimed item in: refuses uncommitted work and a missing branch,
/// and records as landed a candidate a dead runner had already landed.
pub(super) fn admit(context: &RunContext, db: &mut Database, item: &Item) -> Result<Admitted> {
    let repo = &context.repo;
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
            finish(db, item, State::Failed, reason_only(reason))?;
            return Ok(Admitted::Done);
        }
    }
    let Some(source) = target::branch_tip(repo, &item.branch) else {
        let reason = format!("there is no branch named {}", item.branch);
        finish(db, item, State::Failed, reason_only(reason))?;
        return Ok(Admitted::Done);
    };
    if let (Some(candidate), Some(tip)) = (&item.candidate_commit, &item.checked_tip) {
        let recorded_source = item.source_commit.clone().unwrap_or(source.to_string());
        let landed = Oid::from_str(candidate)?;
        if let Some(now) = target::branch_tip(repo, &item.target_branch) {
            // A candidate recorded before a runner died may have landed already.
            let in_target = now == landed || repo.graph_descendant_of(now, landed)?;
            if in_target && candidate != tip {
                record_landed(db, item, &recorded_source, candidate, None, &worktree, None)?;
                return Ok(Admitted::Done);
            }
            // Or reached the remote (`--push`), the local move not made.
            if item.publish() == Some(Publish::Push)
                && now.to_string() == *tip
                && publish::remote_has(context, &item.target_branch, landed)
            {
                let moved = move_target(context, db, item, now, landed, false)?;
                if let Moved::Landed { checkout } = moved {
                    let how = format!(
                        "pushed before the last runner stopped{}",
                        checkout
                            .map(|c| format!("; {} brought forward", c.display()))
                            .unwrap_or_default()
                    );
                    record_landed(
                        db,
                        item,
                        &recorded_source,
                        candidate,
                        Some(how),
                        &worktree,
                        None,
                    )?;
                    return Ok(Admitted::Done);
                }
            }
        }
    }
    Ok(Admitted::Go { source, worktree })
}

/// Builds `item`'s branch (at `source`) on `base`, in memory.
pub(super) fn build(repo: &Repository, item: &Item, source: Oid, base: Oid) -> Result<Built> {
    candidate::build(
        repo,
        &Request {
            source,
            tip: base,
            strategy: item.strategy(),
            auto_fix: item.auto_fix,
            message: item.message.as_deref(),
            branch: &item.branch,
            target: &item.target_branch,
        },
    )
}

/// How a failed check ends its item: the command, how it failed, the log's
/// last line and its path.
pub(super) fn check_failed(item: &Item, outcome: CheckOutcome) -> Ending {
    Ending {
        reason: Some(format!(
            "the check `{}` failed ({}); last line: {}; log: {}",
            item.check_command.as_deref().unwrap_or_default(),
            how_it_failed(item, &outcome),
            last_line(&outcome),
            outcome.log_path
        )),
        log_path: Some(outcome.log_path),
        ..Ending::default()
    }
}

pub(super) fn how_it_failed(item: &Item, outcome: &CheckOutcome) -> String {
    if outcome.timed_out {
        format!("ran past {} min", item.check_timeout_minutes)
    } else {
        match outcome.exit_code {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".to_owned(),
        }
    }
}

pub(super) fn last_line(outcome: &CheckOutcome) -> String {
    outcome
        .tail
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .cloned()
        .unwrap_or_default()
}

/// Moves the item's target from `tip` to `new` under the repository's
/// lock (pushing it first when the item asks for it and `push` is true).
pub(super) fn move_target(
    context: &RunContext,
    db: &mut Database,
    item: &Item,
    tip: Oid,
    new: Oid,
    push: bool,
) -> Result<Moved> {
    let remote = (push && item.publish() == Some(Publish::Push)).then(|| publish::remote(context));
    let _guard = RepoGuard::acquire(
        context.data_dir,
        db,
        context.repo_path,
        context.config.lock_wait(),
    )?;
    target::compare_and_swap(
        context.repo_path,
        &item.target_branch,
        tip,
        new,
        &item.branch,
        remote.as_deref(),
    )
}

/// Records how a move that was not a landing ended the item; `Some(())`
/// when the item ended, `None` when its target moved (build again).
pub(super) fn moved_elsewhere(
    db: &mut Database,
    item: &Item,
    moved: &Moved,
    log_path: Option<String>,
) -> Result<Option<()>> {
    let reason = match moved {
        Moved::TipMoved | Moved::Landed { .. } => return Ok(None),
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
            finish(db, item, State::Blocked, ending)?;
            return Ok(Some(()));
        }
        Moved::PushRefused { reason } => format!(
            "checked, but the push of {} was refused, so nothing moved here: {reason}; \
             bring {} up to date with its remote (git pull), then land again",
            item.target_branch, item.target_branch
        ),
    };
    let ending = Ending {
        reason: Some(reason),
        log_path,
        ..Ending::default()
    };
    finish(db, item, State::Failed, ending)?;
    Ok(Some(()))
}

pub(super) fn reason_only(reason: String) -> Ending {
    Ending {
        reason: Some(reason),
        ..Ending::default()
    }
}

pub(super) fn describe(candidate: &Candidate, checkout: Option<&Path>, pushed: bool) -> String {
    let mut parts = vec![if candidate.commits_made == 0 {
        "fast-forward".to_owned()
    } else {
        format!("{} commit(s) made", candidate.commits_made)
    }];
    if !candidate.fixes.is_empty() {
        parts.push(format!("fixed: {}", candidate.fixes.join(", ")));
    }
    if pushed {
        parts.push("pushed".to_owned());
    }
    if let Some(checkout) = checkout {
        parts.push(format!("{} brought forward", checkout.display()));
    }
    parts.join("; ")
}

/// Marks an item landed, records the merge event, then brings its own
/// worktree to the landed commit when it is clean.
pub(super) fn record_landed(
    db: &mut Database,
    item: &Item,
    source: &str,
    landed: &str,
    reason: Option<String>,
    worktree: &Option<PathBuf>,
    log_path: Option<String>,
) -> Result<()> {
    db.immediate(|tx| {
        let ending = Ending {
            reason: reason.clone(),
            landed_commit: Some(landed.to_owned()),
            log_path: log_path.clone(),
            ..Ending::default()
        };
        if queue::finish(tx, &item.id, State::Landed, &ending)? {
            notify::landed(tx, item, source, landed)?;
        }
        Ok(())
    })?;
    crate::failpoint::hit("land:after-record");
    if let (Some(worktree), Ok(source), Ok(landed)) =
        (worktree, Oid::from_str(source), Oid::from_str(landed))
    {
        target::follow(worktree, &item.branch, source, landed);
    }
    Ok(())
}

/// `src/app.py (SEMANTIC), src/util.py (TRIVIAL)`.
pub(super) fn conflict_reason(files: &[FileAnalysis], target: &str, tip: Oid) -> String {
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
