//! How a runner goes through the queue: a window of claimed items onto one
//! target, in queue order, stacked: the first is built on the target's
//! tip, each next one on the candidate of the one before it, and every
//! candidate's check is started at once, on a thread and in a scratch
//! worktree of its own (speculative checks, as merge queues do). Up to
//! `jobs` check commands run at a time; the window holds `2 × jobs` items,
//! so the candidates next in line are built and their worktrees made while
//! the others are checked, and a check that ends lets the next one's
//! command start at once, before its own item is even landed.
//! Only the first item of the window ever moves the target, and only to a
//! candidate built on the tip the target is at:
//!
//! - its check passed: the target moves to its candidate by
//!   compare-and-swap; the items above stood on exactly that candidate, so
//!   their checks go on and count;
//! - its check failed, or it conflicts: it stops, and the items that stood
//!   on it are built again without it and checked again (only they: what
//!   stands below keeps its check);
//! - the target moved meanwhile: it and everything above are built again.
//!
//! A speculative check that failed, or a conflict on a speculative base, is
//! no verdict: it counts once the item is first and built on the target's
//! real tip. With `jobs` 1 the window holds one item: the sequential queue.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use git2::Oid;

use super::candidate::{Built, Candidate};
use super::check::{self, CheckJob, Lanes, Running};
use super::queue::{self, Ending, Item};
use super::runner::{self, Admitted, RunContext, MAX_ATTEMPTS};
use super::target::{self, Moved};
use super::{publish, Publish, State};
use crate::analysis::FileAnalysis;
use crate::db::Database;
use crate::failpoint;

/// The claimed items being worked on, first one first.
pub(super) struct Pipeline<'a> {
    context: &'a RunContext<'a>,
    jobs: usize,
    window: Vec<Slot>,
    /// Where the checks' commands run, `jobs` at a time.
    lanes: Arc<Lanes>,
    /// Checks that gave their outcome, their scratch worktrees still
    /// being removed.
    retired: Vec<Running>,
    processed: Vec<String>,
}

/// One claimed item and its candidate on the stack.
struct Slot {
    item: Item,
    source: Oid,
    worktree: Option<PathBuf>,
    stacked: Option<Stacked>,
    /// Times the target moved under its checked candidate.
    moves: usize,
}

/// What an item gave when built on `base`.
struct Stacked {
    base: Oid,
    built: Stack,
}

enum Stack {
    Conflict(Vec<FileAnalysis>),
    /// `base` has everything the branch has.
    AlreadyIn,
    /// A candidate, its check running (or done) when there is one.
    Ready {
        candidate: Candidate,
        check: Option<Running>,
    },
}

impl Stacked {
    /// The commit the next item stands on.
    fn next_base(&self) -> Result<Oid> {
        Ok(match &self.built {
            Stack::Ready { candidate, .. } => Oid::from_str(&candidate.commit)?,
            Stack::Conflict(_) | Stack::AlreadyIn => self.base,
        })
    }
}

impl<'a> Pipeline<'a> {
    pub(super) fn new(context: &'a RunContext<'a>, jobs: usize) -> Pipeline<'a> {
        Pipeline {
            context,
            jobs,
            window: Vec::new(),
            lanes: Lanes::new(jobs),
            retired: Vec::new(),
            processed: Vec::new(),
        }
    }

    /// The ids of the items that ended, in the order they ended.
    pub(super) fn processed(&self) -> &[String] {
        &self.processed
    }

    /// Works until no item is queued.
    pub(super) fn run(&mut self, db: &mut Database) -> Result<()> {
        loop {
            self.fill(db)?;
            if self.window.is_empty() {
                return Ok(());
            }
            if self.restack(db)? {
                self.settle_first(db)?;
            }
        }
    }

    /// How many items the window holds: with `jobs` above 1, twice what
    /// can be checked at once, so that while `jobs` candidates are checked
    /// the next ones are built and their scratch worktrees made, and each
    /// check that ends lets the next one start at once.
    fn size(&self) -> usize {
        if self.jobs > 1 {
            self.jobs * 2
        } else {
            1
        }
    }

    /// Claims items until the window is full or the next item lands
    /// elsewhere. An item for a pull request is dealt with at once.
    fn fill(&mut self, db: &mut Database) -> Result<()> {
        while self.window.len() < self.size() {
            let onto = self.window.first().map(|s| s.item.target_branch.clone());
            let Some(item) =
                db.immediate(|tx| queue::claim_next(tx, self.context.repo_key, onto.as_deref()))?
            else {
                return Ok(());
            };
            failpoint::hit("land:after-claim");
            let admitted =
                runner::admit(self.context, db, &item).and_then(|admitted| match admitted {
                    Admitted::Go { source, .. } if item.publish() == Some(Publish::PullRequest) => {
                        publish::propose(self.context, db, &item, source)?;
                        Ok(None)
                    }
                    Admitted::Go { source, worktree } => Ok(Some((source, worktree))),
                    Admitted::Done => Ok(None),
                });
            match admitted {
                Ok(Some((source, worktree))) => self.window.push(Slot {
                    item,
                    source,
                    worktree,
                    stacked: None,
                    moves: 0,
                }),
                Ok(None) => self.processed.push(item.id),
                Err(err) => {
                    runner::fail(db, &item, &err)?;
                    self.processed.push(item.id);
                }
            }
        }
        Ok(())
    }

    /// Builds again every item whose base is not what the item below it
    /// gives now, cancelling its check, and starts the new checks. False
    /// when the first item ended instead (its target is gone).
    fn restack(&mut self, db: &mut Database) -> Result<bool> {
        let target = self.window[0].item.target_branch.clone();
        let Some(tip) = target::branch_tip(&self.context.repo, &target) else {
            let first = self.window.remove(0);
            let reason = format!("there is no target branch named {target}");
            runner::finish(db, &first.item, State::Failed, runner::reason_only(reason))?;
            self.processed.push(first.item.id);
            return Ok(false);
        };
        let mut base = tip;
        let mut index = 0;
        while index < self.window.len() {
            let slot = &mut self.window[index];
            if slot.stacked.as_ref().map(|s| s.base) != Some(base) {
                // Dropping a running check cancels it.
                slot.stacked = None;
                match stack(self.context, db, slot, base, &self.lanes) {
                    Ok(stacked) => slot.stacked = Some(stacked),
                    Err(err) => {
                        let slot = self.window.remove(index);
                        runner::fail(db, &slot.item, &err)?;
                        self.processed.push(slot.item.id);
                        continue;
                    }
                }
            }
            if let Some(stacked) = &slot.stacked {
                base = stacked.next_base()?;
            }
            index += 1;
        }
        Ok(true)
    }

    /// Waits for the first item's check and lands it, or stops it.
    fn settle_first(&mut self, db: &mut Database) -> Result<()> {
        let first = self.window.remove(0);
        let item = first.item.clone();
        let settled = settle(self.context, db, first, &mut self.retired);
        self.retired.retain(|running| !running.is_finished());
        match settled {
            Ok(Some(again)) => self.window.insert(0, again),
            Ok(None) => self.processed.push(item.id),
            Err(err) => {
                runner::fail(db, &item, &err)?;
                self.processed.push(item.id);
            }
        }
        Ok(())
    }
}

/// Builds `slot` on `base`, records its candidate and starts its check.
fn stack(
    context: &RunContext,
    db: &mut Database,
    slot: &Slot,
    base: Oid,
    lanes: &Arc<Lanes>,
) -> Result<Stacked> {
    let item = &slot.item;
    let built = match runner::build(&context.repo, item, slot.source, base)? {
        Built::Conflict(files) => Stack::Conflict(files),
        Built::Ready(candidate) if candidate.already_in => Stack::AlreadyIn,
        Built::Ready(candidate) => {
            db.immediate(|tx| {
                queue::record_candidate(
                    tx,
                    &item.id,
                    &slot.source.to_string(),
                    &candidate.commit,
                    &base.to_string(),
                )
            })?;
            failpoint::hit("land:after-candidate");
            let check = item.check_command.as_ref().map(|command| {
                let job = CheckJob {
                    data_dir: context.data_dir.to_path_buf(),
                    repo_path: context.repo_path.to_path_buf(),
                    item_id: item.id.clone(),
                    commit: candidate.commit.clone(),
                    command: command.clone(),
                    timeout: check_timeout(item),
                };
                check::spawn(job, lanes)
            });
            Stack::Ready { candidate, check }
        }
    };
    Ok(Stacked { base, built })
}

pub(super) fn check_timeout(item: &Item) -> Duration {
    Duration::from_secs(item.check_timeout_minutes.max(1) as u64 * 60)
}

/// Ends the first item of the window, built on the target's tip: lands it
/// when its check passes and the tip is still there. Returns it when it
/// must be built again (the target moved). Its check, once it gave its
/// outcome, goes to `retired` (its scratch worktree is removed meanwhile).
fn settle(
    context: &RunContext,
    db: &mut Database,
    mut first: Slot,
    retired: &mut Vec<Running>,
) -> Result<Option<Slot>> {
    let item = first.item.clone();
    let Some(Stacked { base, built }) = first.stacked.take() else {
        anyhow::bail!("the item was not built");
    };
    let (candidate, check) = match built {
        Stack::Conflict(files) => {
            let ending = Ending {
                reason: Some(runner::conflict_reason(&files, &item.target_branch, base)),
                conflicts: Some(serde_json::to_value(&files)?),
                ..Ending::default()
            };
            runner::finish(db, &item, State::Conflict, ending)?;
            return Ok(None);
        }
        Stack::AlreadyIn => {
            let ending = Ending {
                reason: Some(format!("already in {}", item.target_branch)),
                landed_commit: Some(base.to_string()),
                ..Ending::default()
            };
            runner::finish(db, &item, State::Landed, ending)?;
            return Ok(None);
        }
        Stack::Ready { candidate, check } => (candidate, check),
    };
    let mut log_path = None;
    if let Some(mut running) = check {
        let outcome = running.wait();
        retired.push(running);
        let outcome = outcome?;
        failpoint::hit("land:after-check");
        if !outcome.passed {
            runner::finish(
                db,
                &item,
                State::Failed,
                runner::check_failed(&item, outcome),
            )?;
            return Ok(None);
        }
        log_path = Some(outcome.log_path);
    }
    let new = Oid::from_str(&candidate.commit)?;
    let moved = runner::move_target(context, db, &item, base, new, true)?;
    if let Moved::Landed { checkout } = &moved {
        let pushed = item.publish() == Some(Publish::Push);
        let how = runner::describe(&candidate, checkout.as_deref(), pushed);
        runner::record_landed(
            db,
            &item,
            &first.source.to_string(),
            &candidate.commit,
            Some(how),
            &first.worktree,
            log_path,
        )?;
        return Ok(None);
    }
    if runner::moved_elsewhere(db, &item, &moved, log_path)?.is_some() {
        return Ok(None);
    }
    first.moves += 1;
    if first.moves >= MAX_ATTEMPTS {
        let reason = format!(
            "{} kept moving: gave up after {MAX_ATTEMPTS} attempts",
            item.target_branch
        );
        runner::finish(db, &item, State::Failed, runner::reason_only(reason))?;
        return Ok(None);
    }
    Ok(Some(first))
}
