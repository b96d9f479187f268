//! The `land_queue` table: one row per branch asked to land, in the order
//! asked (`seq`). Each change of state is one statement inside the caller's
//! `BEGIN IMMEDIATE` transaction and follows [`State::can_become`]; a row
//! only becomes `checking` for one runner, whose PID and start time it
//! records so a runner that died is recognised.

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use serde_json::Value;

use super::{Publish, State, Strategy};

/// One queued branch, as `land --status` and `land_status` show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub id: String,
    pub position: i64,
    pub repo_path: String,
    pub session_id: Option<String>,
    pub branch: String,
    pub target_branch: String,
    pub strategy: String,
    pub check_command: Option<String>,
    pub check_timeout_minutes: i64,
    pub auto_fix: bool,
    pub message: Option<String>,
    pub state: State,
    pub reason: Option<String>,
    pub source_commit: Option<String>,
    pub candidate_commit: Option<String>,
    /// The target tip the candidate was built on (and checked against).
    pub checked_tip: Option<String>,
    pub landed_commit: Option<String>,
    /// The conflicting files, their hunks and classes, when it stopped so.
    pub conflicts: Option<Value>,
    pub log_path: Option<String>,
    pub attempts: i64,
    #[serde(skip)]
    pub owner_pid: Option<i64>,
    #[serde(skip)]
    pub owner_start: Option<i64>,
    pub requested_by: Option<String>,
    /// `push` or `pr`, when asked for.
    pub publish: Option<String>,
    pub pull_request_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

impl Item {
    pub fn strategy(&self) -> Strategy {
        Strategy::parse(&self.strategy).unwrap_or(Strategy::Rebase)
    }

    pub fn publish(&self) -> Option<Publish> {
        self.publish.as_deref().and_then(Publish::parse)
    }

    /// The id as people see it: its first eight characters.
    pub fn short_id(&self) -> &str {
        &self.id[..8.min(self.id.len())]
    }
}

const COLUMNS: &str = "id, seq, repo_path, session_id, branch, target_branch, strategy, check_command, \
     check_timeout_minutes, auto_fix, message, state, reason, source_commit, candidate_commit, \
     checked_tip, landed_commit, conflicts, log_path, attempts, owner_pid, owner_start, requested_by, \
     created_at, updated_at, finished_at, publish, pull_request_url";

fn from_row(row: &Row) -> rusqlite::Result<Item> {
    let state: String = row.get(11)?;
    let conflicts: Option<String> = row.get(17)?;
    Ok(Item {
        id: row.get(0)?,
        position: row.get(1)?,
        repo_path: row.get(2)?,
        session_id: row.get(3)?,
        branch: row.get(4)?,
        target_branch: row.get(5)?,
        strategy: row.get(6)?,
        check_command: row.get(7)?,
        check_timeout_minutes: row.get(8)?,
        auto_fix: row.get::<_, i64>(9)? != 0,
        message: row.get(10)?,
        state: State::parse(&state).unwrap_or(State::Failed),
        reason: row.get(12)?,
        source_commit: row.get(13)?,
        candidate_commit: row.get(14)?,
        checked_tip: row.get(15)?,
        landed_commit: row.get(16)?,
        conflicts: conflicts.and_then(|text| serde_json::from_str(&text).ok()),
        log_path: row.get(18)?,
        attempts: row.get(19)?,
        owner_pid: row.get(20)?,
        owner_start: row.get(21)?,
        requested_by: row.get(22)?,
        created_at: row.get(23)?,
        updated_at: row.get(24)?,
        finished_at: row.get(25)?,
        publish: row.get(26)?,
        pull_request_url: row.get(27)?,
    })
}

/// What a new item is.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub repo_path: String,
    pub session_id: Option<String>,
    pub branch: String,
    pub target_branch: String,
    pub strategy: Strategy,
    pub check_command: Option<String>,
    pub check_timeout_minutes: i64,
    pub auto_fix: bool,
    pub message: Option<String>,
    /// `cli` or `mcp`.
    pub requested_by: String,
    /// The branch's tip when it was asked for.
    pub tip: Option<String>,
    pub publish: Option<Publish>,
}

/// Adds a branch to its repository's queue and returns its item. A branch
/// that already waits for the same target (queued, checking or blocked)
/// keeps its place, and a branch whose tip landed already (its own tip, or
/// the commit it landed as) is not landed again: that item is returned.
pub fn enqueue(tx: &Connection, new: &NewItem) -> Result<Item> {
    if let Some(tip) = &new.tip {
        let landed: Option<Item> = tx
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM land_queue WHERE repo_path = ?1 AND branch = ?2 AND target_branch = ?3
                       AND state = 'landed' AND (source_commit = ?4 OR landed_commit = ?4)
                     ORDER BY seq DESC LIMIT 1"
                ),
                params![new.repo_path, new.branch, new.target_branch, tip],
                from_row,
            )
            .optional()?;
        if let Some(item) = landed {
            return Ok(item);
        }
    }
    let waiting: Option<Item> = tx
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM land_queue WHERE repo_path = ?1 AND branch = ?2 AND target_branch = ?3
                   AND state IN ('queued', 'checking', 'blocked') ORDER BY seq LIMIT 1"
            ),
            params![new.repo_path, new.branch, new.target_branch],
            from_row,
        )
        .optional()?;
    if let Some(item) = waiting {
        return Ok(item);
    }
    let id = uuid::Uuid::new_v4().to_string();
    tx.execute(
        "INSERT INTO land_queue (id, repo_path, session_id, branch, target_branch, strategy, check_command,
             check_timeout_minutes, auto_fix, message, state, requested_by, publish)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'queued', ?11, ?12)",
        params![
            id,
            new.repo_path,
            new.session_id,
            new.branch,
            new.target_branch,
            new.strategy.as_str(),
            new.check_command,
            new.check_timeout_minutes,
            i64::from(new.auto_fix),
            new.message,
            new.requested_by,
            new.publish.map(Publish::as_str)
        ],
    )
    .context("cannot add to the land queue")?;
    item(tx, &id)?.context("the new land item vanished")
}

/// One item by its id.
pub fn item(conn: &Connection, id: &str) -> Result<Option<Item>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM land_queue WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

/// The whole id of the item `given` names (the id or a prefix of it).
pub fn resolve_id(conn: &Connection, given: &str) -> Result<Option<String>> {
    crate::ids::resolve(
        conn,
        "SELECT id, branch || ' onto ' || target_branch || ', ' || state FROM land_queue
         WHERE id = ?1 OR id LIKE ?2 ESCAPE '\\' ORDER BY seq",
        given,
        "land item",
    )
}

/// The items of a repository (every repository: `None`), in queue order.
pub fn items(conn: &Connection, repo_path: Option<&str>) -> Result<Vec<Item>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM land_queue WHERE (?1 IS NULL OR repo_path = ?1) ORDER BY seq"
    ))?;
    let rows = stmt.query_map([repo_path], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Puts back in the queue what a dead runner left `checking`, and what
/// waited `blocked` (its checkout may be clean now). Returns how many.
pub fn requeue_waiting(tx: &Connection, repo_path: &str) -> Result<usize> {
    let checking: Vec<(String, Option<i64>, Option<i64>)> = {
        let mut stmt = tx.prepare(
            "SELECT id, owner_pid, owner_start FROM land_queue WHERE repo_path = ?1 AND state = 'checking'",
        )?;
        let rows = stmt.query_map([repo_path], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut count = 0;
    for (id, pid, start) in checking {
        let alive = pid
            .is_some_and(|pid| crate::process::is_same_process_alive(pid, start.map(|s| s as u64)));
        if !alive {
            count += set_state(tx, &id, State::Checking, State::Queued)?;
        }
    }
    count += tx.execute(
        "UPDATE land_queue SET state = 'queued', updated_at = datetime('now')
         WHERE repo_path = ?1 AND state = 'blocked'",
        [repo_path],
    )?;
    Ok(count)
}

/// Takes the first queued item of a repository for this runner; with
/// `onto`, only when that item lands onto that target (items never pass
/// one another).
pub fn claim_next(tx: &Connection, repo_path: &str, onto: Option<&str>) -> Result<Option<Item>> {
    let next: Option<(String, String)> = tx
        .query_row(
            "SELECT id, target_branch FROM land_queue WHERE repo_path = ?1 AND state = 'queued'
             ORDER BY seq LIMIT 1",
            [repo_path],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((id, target)) = next else {
        return Ok(None);
    };
    if onto.is_some_and(|onto| onto != target) {
        return Ok(None);
    }
    let pid = i64::from(std::process::id());
    let start = crate::process::start_time(pid).map(|s| s as i64);
    tx.execute(
        "UPDATE land_queue SET state = 'checking', owner_pid = ?2, owner_start = ?3,
             attempts = attempts + 1, reason = NULL, updated_at = datetime('now')
         WHERE id = ?1 AND state = 'queued'",
        params![id, pid, start],
    )?;
    item(tx, &id)
}

fn set_state(tx: &Connection, id: &str, from: State, to: State) -> Result<usize> {
    debug_assert!(from.can_become(to));
    Ok(tx.execute(
        "UPDATE land_queue SET state = ?3, updated_at = datetime('now') WHERE id = ?1 AND state = ?2",
        params![id, from.as_str(), to.as_str()],
    )?)
}

/// Records the candidate built for an item and the tip it stands on.
pub fn record_candidate(
    tx: &Connection,
    id: &str,
    source: &str,
    candidate: &str,
    tip: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE land_queue SET source_commit = ?2, candidate_commit = ?3, checked_tip = ?4,
             updated_at = datetime('now') WHERE id = ?1",
        params![id, source, candidate, tip],
    )?;
    Ok(())
}

/// How an item's turn ended.
#[derive(Debug, Clone, Default)]
pub struct Ending {
    pub reason: Option<String>,
    pub landed_commit: Option<String>,
    pub conflicts: Option<Value>,
    pub log_path: Option<String>,
    pub pull_request_url: Option<String>,
}

/// Ends a `checking` item in `state`. False when it was not `checking`
/// (another runner took it back after this one was thought dead).
pub fn finish(tx: &Connection, id: &str, state: State, ending: &Ending) -> Result<bool> {
    debug_assert!(State::Checking.can_become(state));
    let finished = state.is_final();
    let changed = tx.execute(
        "UPDATE land_queue SET state = ?2, reason = ?3, landed_commit = COALESCE(?4, landed_commit),
             conflicts = ?5, log_path = COALESCE(?6, log_path), updated_at = datetime('now'),
             finished_at = CASE WHEN ?7 THEN datetime('now') ELSE NULL END,
             pull_request_url = COALESCE(?8, pull_request_url)
         WHERE id = ?1 AND state = 'checking'",
        params![
            id,
            state.as_str(),
            ending.reason,
            ending.landed_commit,
            ending
                .conflicts
                .as_ref()
                .map(|c| c.to_string()),
            ending.log_path,
            finished,
            ending.pull_request_url
        ],
    )?;
    Ok(changed == 1)
}

/// Adds `new` to the queue in one transaction, returning their items.
pub fn enqueue_all(db: &mut crate::db::Database, new: &[NewItem]) -> Result<Vec<Item>> {
    db.immediate(|tx| new.iter().map(|n| enqueue(tx, n)).collect())
}
