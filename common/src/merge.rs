//! Merge detection: noticing when a session's branch (or a branch someone
//! subscribed to) has landed in its target, by fast-forward, merge commit,
//! squash or rebase, and telling the sessions that care.
//!
//! A branch counts as merged into its target when it has commits of its own
//! and either its tip is an ancestor of the target, or merging it into the
//! target would change nothing (its changes are already there: a squash or
//! rebase merge). Each merge is recorded once per branch tip in
//! `merge_events`; every interested session gets one `merge_notices` row,
//! which its next PostToolUse hook prints and marks delivered.
//!
//! Invariant: git work happens outside any database transaction; results
//! are written afterwards in one short `BEGIN IMMEDIATE` per repository.

use std::path::Path;

use anyhow::{Context, Result};
use git2::{BranchType, Oid, Repository};
use rayon::prelude::*;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::db::Database;
use crate::{paths, UserError};

/// A recorded merge, with the seed's field names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeEvent {
    pub id: String,
    pub repo_path: String,
    pub branch_name: String,
    pub source_commit: String,
    pub target_branch: String,
    pub target_commit: String,
    pub merged_at: String,
    pub detected_at: String,
    pub notification_sent: bool,
}

/// A subscription to a branch's merge.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub session_id: String,
    pub repo_path: String,
    pub branch_name: String,
    pub target_branch: String,
    pub created_at: String,
    pub notified_at: Option<String>,
    pub is_active: bool,
}

/// repo, branch, base branch, base commit, pid, process start, agent pid,
/// agent start.
type SessionBranchRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// One branch to look at.
#[derive(Debug, Clone)]
struct Watch {
    branch: String,
    target: String,
    base_commit: Option<String>,
}

/// A merge found by the git work, not yet recorded.
#[derive(Debug, Clone)]
struct Found {
    branch: String,
    target: String,
    source_commit: String,
    target_commit: String,
}

/// What one poll did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollReport {
    pub repositories: usize,
    pub branches_checked: usize,
    pub new_events: Vec<MergeEvent>,
}

/// Polls every repository with live sessions or active subscriptions once.
pub fn poll(data_dir: &Path) -> Result<PollReport> {
    let Some(db) = Database::open_existing_current(data_dir)? else {
        return Ok(PollReport::default());
    };
    let plan = watch_plan(db.conn())?;
    drop(db);
    let checked: usize = plan.iter().map(|(_, w)| w.len()).sum();
    // Git work in parallel, one repository per task, no database held.
    let found: Vec<(String, Vec<Found>)> = plan
        .par_iter()
        .map(|(repo, watches)| {
            (
                repo.clone(),
                detect(Path::new(repo), watches).unwrap_or_default(),
            )
        })
        .collect();
    let mut report = PollReport {
        repositories: plan.len(),
        branches_checked: checked,
        new_events: Vec::new(),
    };
    let mut db = Database::open(data_dir)?;
    for (repo, merges) in found {
        if merges.is_empty() {
            continue;
        }
        let events = db.immediate(|tx| record(tx, &repo, &merges))?;
        report.new_events.extend(events);
    }
    Ok(report)
}

/// The branches to check, per repository: live worktree sessions' branches
/// against their base branch, and active subscriptions.
fn watch_plan(conn: &Connection) -> Result<Vec<(String, Vec<Watch>)>> {
    let mut plan: Vec<(String, Vec<Watch>)> = Vec::new();
    let mut add = |repo: String, watch: Watch| match plan.iter_mut().find(|(r, _)| *r == repo) {
        Some((_, list)) => {
            if !list
                .iter()
                .any(|w| w.branch == watch.branch && w.target == watch.target)
            {
                list.push(watch);
            }
        }
        None => plan.push((repo, vec![watch])),
    };
    let mut stmt = conn.prepare(
        "SELECT repo_path, branch, base_branch, base_commit, pid, process_start, agent_pid, agent_start
         FROM sessions WHERE is_main_repo = 0 AND branch IS NOT NULL",
    )?;
    let rows: Vec<SessionBranchRow> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (repo, branch, base_branch, base_commit, pid, start, agent, agent_start) in rows {
        let agent_start = agent_start.map(|s: i64| s as u64);
        if crate::session::is_alive(pid, start.map(|s| s as u64), agent, agent_start) {
            add(
                repo,
                Watch {
                    branch,
                    target: base_branch.unwrap_or_else(|| "main".to_owned()),
                    base_commit,
                },
            );
        }
    }
    let mut stmt = conn.prepare(
        "SELECT repo_path, branch_name, target_branch, base_commit FROM subscriptions WHERE is_active = 1",
    )?;
    let rows: Vec<(String, String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (repo, branch, target, base_commit) in rows {
        add(
            repo,
            Watch {
                branch,
                target,
                base_commit,
            },
        );
    }
    Ok(plan)
}

fn branch_tip(repo: &Repository, name: &str) -> Option<Oid> {
    repo.find_branch(name, BranchType::Local)
        .ok()?
        .get()
        .target()
}

/// Which of `watches` are merged in `repo_path`.
fn detect(repo_path: &Path, watches: &[Watch]) -> Result<Vec<Found>> {
    let repo = Repository::open(repo_path)
        .with_context(|| format!("cannot open {}", repo_path.display()))?;
    let mut found = Vec::new();
    for watch in watches {
        if let Some(merge) = merged(&repo, watch)? {
            found.push(merge);
        }
    }
    Ok(found)
}

fn merged(repo: &Repository, watch: &Watch) -> Result<Option<Found>> {
    let (Some(tip), Some(target)) = (
        branch_tip(repo, &watch.branch),
        branch_tip(repo, &watch.target),
    ) else {
        return Ok(None);
    };
    // A branch with no commits of its own has nothing to have merged.
    let fork = match watch
        .base_commit
        .as_deref()
        .and_then(|c| Oid::from_str(c).ok())
    {
        Some(base) => base,
        None => repo.merge_base(tip, target)?,
    };
    if tip == fork {
        return Ok(None);
    }
    let is_merged = tip == target
        || repo.graph_descendant_of(target, tip)?
        || changes_already_in(repo, tip, target)?;
    Ok(is_merged.then(|| Found {
        branch: watch.branch.clone(),
        target: watch.target.clone(),
        source_commit: tip.to_string(),
        target_commit: target.to_string(),
    }))
}

/// Whether merging `tip` into `target` would leave the target's tree as it
/// is: the branch's changes are already there (squash or rebase merge).
fn changes_already_in(repo: &Repository, tip: Oid, target: Oid) -> Result<bool> {
    let base = repo.merge_base(tip, target)?;
    let base_tree = repo.find_commit(base)?.tree()?;
    let ours = repo.find_commit(target)?.tree()?;
    let theirs = repo.find_commit(tip)?.tree()?;
    if theirs.id() == base_tree.id() {
        return Ok(false);
    }
    let mut index = repo.merge_trees(&base_tree, &ours, &theirs, None)?;
    if index.has_conflicts() {
        return Ok(false);
    }
    Ok(index.write_tree_to(repo)? == ours.id())
}

/// Records merges not yet recorded, ends the subscriptions they answer, and
/// queues one notice per interested session.
fn record(tx: &Connection, repo: &str, merges: &[Found]) -> Result<Vec<MergeEvent>> {
    let mut events = Vec::new();
    for merge in merges {
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM merge_events WHERE repo_path = ?1 AND branch_name = ?2
                            AND target_branch = ?3 AND source_commit = ?4)",
            params![repo, merge.branch, merge.target, merge.source_commit],
            |r| r.get(0),
        )?;
        if exists {
            continue;
        }
        let id = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "INSERT INTO merge_events (id, repo_path, branch_name, source_commit, target_branch, target_commit,
                                       notification_sent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)",
            params![id, repo, merge.branch, merge.source_commit, merge.target, merge.target_commit],
        )?;
        let message = format!(
            "parallel-cc: branch {} was merged into {} (now at {}). {} moved: rebase your work onto it \
             (the rebase_assist tool can check and do it).",
            merge.branch,
            merge.target,
            &merge.target_commit[..7.min(merge.target_commit.len())],
            merge.target
        );
        let mut interested: Vec<String> = Vec::new();
        let mut stmt = tx.prepare(
            "SELECT session_id FROM subscriptions WHERE repo_path = ?1 AND branch_name = ?2
               AND target_branch = ?3 AND is_active = 1",
        )?;
        for row in stmt.query_map(params![repo, merge.branch, merge.target], |r| {
            r.get::<_, String>(0)
        })? {
            interested.push(row?);
        }
        let mut stmt =
            tx.prepare("SELECT id FROM sessions WHERE repo_path = ?1 AND branch = ?2")?;
        for row in stmt.query_map(params![repo, merge.branch], |r| r.get::<_, String>(0))? {
            interested.push(row?);
        }
        interested.sort();
        interested.dedup();
        for session in interested {
            tx.execute(
                "INSERT OR IGNORE INTO merge_notices (id, event_id, session_id, message) VALUES (?1, ?2, ?3, ?4)",
                params![uuid::Uuid::new_v4().to_string(), id, session, message],
            )?;
        }
        tx.execute(
            "UPDATE subscriptions SET notified_at = datetime('now'), is_active = 0
             WHERE repo_path = ?1 AND branch_name = ?2 AND target_branch = ?3 AND is_active = 1",
            params![repo, merge.branch, merge.target],
        )?;
        if let Some(event) = event_by_id(tx, &id)? {
            events.push(event);
        }
    }
    Ok(events)
}

/// Records a merge made by `git pcc land` as any detected merge is
/// recorded (its branch's session and subscribers hear of it), and queues
/// the same notice for each of `others` (the repository's other live
/// sessions). `None` when that merge was recorded already.
pub fn record_landed(
    tx: &Connection,
    repo: &str,
    branch: &str,
    source_commit: &str,
    target: &str,
    target_commit: &str,
    others: &[String],
) -> Result<Option<MergeEvent>> {
    let found = Found {
        branch: branch.to_owned(),
        target: target.to_owned(),
        source_commit: source_commit.to_owned(),
        target_commit: target_commit.to_owned(),
    };
    let Some(event) = record(tx, repo, &[found])?.into_iter().next() else {
        return Ok(None);
    };
    let message: Option<String> = tx
        .query_row(
            "SELECT message FROM merge_notices WHERE event_id = ?1 LIMIT 1",
            [&event.id],
            |r| r.get(0),
        )
        .optional()?;
    let message = message.unwrap_or_else(|| {
        format!(
            "parallel-cc: branch {branch} was merged into {target} (now at {}). {target} moved: rebase your work onto it \
             (the rebase_assist tool can check and do it).",
            &target_commit[..7.min(target_commit.len())]
        )
    });
    for session in others {
        tx.execute(
            "INSERT OR IGNORE INTO merge_notices (id, event_id, session_id, message) VALUES (?1, ?2, ?3, ?4)",
            params![uuid::Uuid::new_v4().to_string(), event.id, session, message],
        )?;
    }
    Ok(Some(event))
}

const EVENT_COLUMNS: &str =
    "id, repo_path, branch_name, source_commit, target_branch, target_commit, \
     merged_at, detected_at, notification_sent";

fn event_from_row(row: &rusqlite::Row) -> rusqlite::Result<MergeEvent> {
    Ok(MergeEvent {
        id: row.get(0)?,
        repo_path: row.get(1)?,
        branch_name: row.get(2)?,
        source_commit: row.get(3)?,
        target_branch: row.get(4)?,
        target_commit: row.get(5)?,
        merged_at: row.get(6)?,
        detected_at: row.get(7)?,
        notification_sent: row.get::<_, i64>(8)? != 0,
    })
}

fn event_by_id(conn: &Connection, id: &str) -> Result<Option<MergeEvent>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {EVENT_COLUMNS} FROM merge_events WHERE id = ?1"
    ))?;
    Ok(stmt.query_row([id], event_from_row).optional()?)
}

/// Merge events, newest first.
pub fn events(
    data_dir: &Path,
    repo: Option<&str>,
    branch: Option<&str>,
    limit: i64,
) -> Result<Vec<MergeEvent>> {
    let Some(db) = Database::open_existing_current(data_dir)? else {
        return Ok(Vec::new());
    };
    let mut stmt = db.conn().prepare(&format!(
        "SELECT {EVENT_COLUMNS} FROM merge_events WHERE (?1 IS NULL OR repo_path = ?1)
           AND (?2 IS NULL OR branch_name = ?2) ORDER BY detected_at DESC, rowid DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![repo, branch, limit], event_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Subscriptions, newest first.
pub fn subscriptions(data_dir: &Path, repo: Option<&str>, limit: i64) -> Result<Vec<Subscription>> {
    let Some(db) = Database::open_existing_current(data_dir)? else {
        return Ok(Vec::new());
    };
    let mut stmt = db.conn().prepare(&format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE (?1 IS NULL OR repo_path = ?1)
         ORDER BY created_at DESC, rowid DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![repo, limit], subscription_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

const SUBSCRIPTION_COLUMNS: &str =
    "id, session_id, repo_path, branch_name, target_branch, created_at, notified_at, is_active";

fn subscription_from_row(r: &rusqlite::Row) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        id: r.get(0)?,
        session_id: r.get(1)?,
        repo_path: r.get(2)?,
        branch_name: r.get(3)?,
        target_branch: r.get(4)?,
        created_at: r.get(5)?,
        notified_at: r.get(6)?,
        is_active: r.get::<_, i64>(7)? != 0,
    })
}

/// Subscribes a session to the merge of `branch` into `target`.
pub fn subscribe(
    data_dir: &Path,
    session_id: &str,
    repo_path: &Path,
    branch: &str,
    target: &str,
) -> Result<Subscription> {
    let repo = Repository::open(repo_path)
        .with_context(|| format!("cannot open {}", repo_path.display()))?;
    let tip = branch_tip(&repo, branch)
        .ok_or_else(|| UserError::new(format!("no branch named {branch}")))?;
    let target_tip = branch_tip(&repo, target)
        .ok_or_else(|| UserError::new(format!("no branch named {target}")))?;
    let base = repo.merge_base(tip, target_tip).ok().map(|o| o.to_string());
    let repo_key = paths::to_db_string(repo_path)?;
    let id = uuid::Uuid::new_v4().to_string();
    let mut db = Database::open(data_dir)?;
    db.immediate(|tx| {
        tx.execute(
            "INSERT INTO subscriptions (id, session_id, repo_path, branch_name, target_branch, base_commit)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, session_id, repo_key, branch, target, base],
        )?;
        Ok(tx.query_row(
            &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?1"),
            [&id],
            subscription_from_row,
        )?)
    })
}

/// Takes the undelivered merge notices of a session, marking them delivered
/// (the heartbeat hook prints them). One statement.
pub fn take_notices(conn: &Connection, session_id: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "UPDATE merge_notices SET delivered_at = datetime('now')
         WHERE session_id = ?1 AND delivered_at IS NULL RETURNING message",
    )?;
    let rows = stmt.query_map([session_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
