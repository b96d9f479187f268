//! Sessions: one agent process working in one repository. This module owns
//! their lifecycle — register, heartbeat, release, cleanup — and the status
//! report.
//!
//! Invariants, each kept by deciding under the repository's file lock and
//! writing in one `BEGIN IMMEDIATE` transaction:
//! - at most one live session per repository works in the main checkout;
//! - every other live session has its own worktree and branch;
//! - a worktree or branch holding work (uncommitted files, commits its base
//!   lacks) is never removed unless forced; it is recorded in
//!   `kept_worktrees` with the reason, for `cleanup` to look at again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rayon::prelude::*;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::config::Config;
use crate::db::Database;
use crate::git::{self, HeldWork, WorktreeBase};
use crate::worktree::{self, Removal};
use crate::{lock, paths, process, time, UserError};

/// A row of the `sessions` table.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub pid: i64,
    pub repo_path: String,
    pub worktree_path: String,
    pub worktree_name: Option<String>,
    pub is_main_repo: bool,
    pub created_at: String,
    pub last_heartbeat: String,
    pub branch: Option<String>,
    pub base_branch: Option<String>,
    pub base_commit: Option<String>,
    pub process_start: Option<u64>,
}

const SESSION_COLUMNS: &str = "id, pid, repo_path, worktree_path, worktree_name, is_main_repo, \
     created_at, last_heartbeat, branch, base_branch, base_commit, process_start";

impl Session {
    fn from_row(row: &Row) -> rusqlite::Result<Session> {
        Ok(Session {
            id: row.get(0)?,
            pid: row.get(1)?,
            repo_path: row.get(2)?,
            worktree_path: row.get(3)?,
            worktree_name: row.get(4)?,
            is_main_repo: row.get::<_, i64>(5)? != 0,
            created_at: row.get(6)?,
            last_heartbeat: row.get(7)?,
            branch: row.get(8)?,
            base_branch: row.get(9)?,
            base_commit: row.get(10)?,
            process_start: row.get::<_, Option<i64>>(11)?.map(|v| v as u64),
        })
    }

    /// Whether the process that registered this session is still running.
    pub fn is_alive(&self) -> bool {
        process::is_same_process_alive(self.pid, self.process_start)
    }

    fn base(&self) -> WorktreeBase<'_> {
        WorktreeBase {
            branch: self.branch.as_deref(),
            base_branch: self.base_branch.as_deref(),
            base_commit: self.base_commit.as_deref(),
        }
    }
}

fn sessions_where(
    conn: &Connection,
    condition: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Session>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions {condition}");
    let mut stmt = conn.prepare_cached(&sql).context("cannot query sessions")?;
    let rows = stmt.query_map(args, Session::from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn session_by_id(conn: &Connection, id: &str) -> Result<Option<Session>> {
    Ok(sessions_where(conn, "WHERE id = ?1", [id])?
        .into_iter()
        .next())
}

fn live_session_by_pid(conn: &Connection, pid: i64) -> Result<Option<Session>> {
    Ok(
        sessions_where(conn, "WHERE pid = ?1 ORDER BY created_at", [pid])?
            .into_iter()
            .find(Session::is_alive),
    )
}

// ---------------------------------------------------------------- register

/// The result of `register`, with the seed's JSON field names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    pub session_id: String,
    pub worktree_path: String,
    pub worktree_name: Option<String>,
    pub is_new: bool,
    pub is_main_repo: bool,
    pub parallel_sessions: i64,
    pub repo_path: String,
    pub branch: Option<String>,
    pub copied_files: Vec<String>,
    pub setup_failures: Vec<worktree::SetupFailure>,
    pub cleaned_sessions: Vec<String>,
}

/// Where a new session should work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The main checkout when it is free, else a new worktree.
    Auto,
    /// Always a new worktree, named after `name` when it is free.
    Worktree { name: Option<String> },
    /// The main checkout only; an error when another session has it.
    MainCheckoutOnly,
}

/// Registers the process `pid` as a session in the repository containing
/// `repo`. The first live session takes the main checkout; later ones get a
/// new worktree. Registering a PID again returns its existing session.
pub fn register(data_dir: &Path, repo: &Path, pid: i64) -> Result<Registration> {
    register_with(data_dir, repo, pid, &Placement::Auto)
}

/// [`register`] with a choice of where the session works.
pub fn register_with(
    data_dir: &Path,
    repo: &Path,
    pid: i64,
    placement: &Placement,
) -> Result<Registration> {
    if !process::is_alive(pid) {
        return Err(UserError::with_hint(
            format!("process {pid} is not running"),
            "pass the PID of the agent's process (the wrapper uses its own, $$)",
        )
        .into());
    }
    let repo_path = git::resolve_repository(repo)?;
    let repo_key = paths::to_db_string(&repo_path)?;
    let mut db = Database::open(data_dir)?;
    let config = Config::load(data_dir)?;

    let repo_lock = lock::lock_repository(data_dir, &repo_path)?;
    let reusable = if matches!(placement, Placement::Worktree { .. }) {
        // One agent may ask for several worktrees (one per subagent).
        None
    } else {
        live_session_by_pid(db.conn(), pid)?
    };
    if let Some(existing) = reusable {
        let parallel = count_sessions(db.conn(), &existing.repo_path)?;
        return Ok(Registration {
            session_id: existing.id,
            worktree_path: existing.worktree_path,
            worktree_name: existing.worktree_name,
            is_new: false,
            is_main_repo: existing.is_main_repo,
            parallel_sessions: parallel,
            repo_path: existing.repo_path,
            branch: existing.branch,
            copied_files: Vec::new(),
            setup_failures: Vec::new(),
            cleaned_sessions: Vec::new(),
        });
    }

    let mut removals = Vec::new();
    let mut cleaned = Vec::new();
    for stale in sessions_where(db.conn(), "WHERE repo_path = ?1", [&repo_key])? {
        if !stale.is_alive() {
            let outcome = release_locked(&mut db, &stale, false)?;
            removals.extend(outcome.removal);
            cleaned.push(stale.id);
        }
    }

    let session_id = uuid::Uuid::new_v4().to_string();
    let process_start = process::start_time(pid).map(|t| t as i64);
    let main_holder = sessions_where(
        db.conn(),
        "WHERE repo_path = ?1 AND is_main_repo = 1",
        [&repo_key],
    )?
    .into_iter()
    .next();
    let wants_worktree = match placement {
        Placement::Auto => main_holder.is_some(),
        Placement::Worktree { .. } => true,
        Placement::MainCheckoutOnly => {
            if let Some(holder) = main_holder {
                return Err(UserError::new(format!(
                    "another session (pid {}) works in the main checkout of {}",
                    holder.pid, repo_key
                ))
                .into());
            }
            false
        }
    };
    let requested_name = match placement {
        Placement::Worktree { name } => name.as_deref(),
        _ => None,
    };
    let (worktree, branch) = if wants_worktree {
        let created = worktree::create(&repo_path, &config, requested_name)?;
        let branch = Some(created.branch.clone());
        (Some(created), branch)
    } else {
        let branch = git::open(&repo_path)
            .ok()
            .and_then(|r| git::head_branch_name(&r));
        (None, branch)
    };
    let worktree_path = match &worktree {
        Some(created) => paths::to_db_string(&created.path)?,
        None => repo_key.clone(),
    };
    let inserted = db.immediate(|tx| {
        tx.execute(
            "INSERT INTO sessions (id, pid, repo_path, worktree_path, worktree_name, is_main_repo,
                                   branch, base_branch, base_commit, process_start)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                session_id,
                pid,
                repo_key,
                worktree_path,
                worktree.as_ref().map(|w| w.name.clone()),
                worktree.is_none(),
                branch,
                worktree.as_ref().and_then(|w| w.base_branch.clone()),
                worktree.as_ref().map(|w| w.base_commit.clone()),
                process_start,
            ],
        )?;
        count_sessions(tx, &repo_key)
    });
    let parallel = match inserted {
        Ok(count) => count,
        Err(err) => {
            if let Some(created) = &worktree {
                if let Ok(repo) = git::open(&repo_path) {
                    if let Ok(removal) = worktree::remove(
                        &repo,
                        &created.path,
                        Some(&created.name),
                        Some(&created.branch),
                    ) {
                        removal.finish();
                    }
                }
            }
            return Err(err.context("cannot record the session"));
        }
    };
    drop(repo_lock);
    finish_removals(data_dir, &repo_path, &removals)?;

    let mut registration = Registration {
        session_id: session_id.clone(),
        worktree_path,
        worktree_name: worktree.as_ref().map(|w| w.name.clone()),
        is_new: true,
        is_main_repo: worktree.is_none(),
        parallel_sessions: parallel,
        repo_path: repo_key,
        branch,
        copied_files: Vec::new(),
        setup_failures: Vec::new(),
        cleaned_sessions: cleaned,
    };
    if let Some(created) = &worktree {
        registration.copied_files =
            worktree::copy_included_files(&repo_path, &created.path, &config)?;
        let log_path = paths::logs_dir(data_dir).join(format!("session-{session_id}.log"));
        registration.setup_failures =
            worktree::run_setup(&created.path, &config.setup_commands(), &log_path);
    }
    Ok(registration)
}

/// Deletes the files of removed worktrees (outside the repository lock),
/// then, under the lock again, any trash a crash left and worktree roots
/// that are now empty.
fn finish_removals(data_dir: &Path, repo_path: &Path, removals: &[Removal]) -> Result<()> {
    let mut roots: Vec<PathBuf> = Vec::new();
    for removal in removals {
        removal.finish();
        if let Some(root) = removal.trash.as_ref().and_then(|t| t.parent()) {
            if !roots.iter().any(|r| r == root) {
                roots.push(root.to_path_buf());
            }
        }
    }
    if !roots.is_empty() {
        let _relock = lock::lock_repository(data_dir, repo_path)?;
        for root in roots {
            worktree::purge_trash(&root);
            worktree::remove_root_if_empty(&root);
        }
    }
    Ok(())
}

fn count_sessions(conn: &Connection, repo_key: &str) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM sessions WHERE repo_path = ?1",
        [repo_key],
        |row| row.get(0),
    )?)
}

// ---------------------------------------------------------------- release

/// How to name the session to release.
#[derive(Debug, Clone)]
pub enum SessionSelector {
    Pid(i64),
    Id(String),
}

/// A worktree kept because it holds work.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptWorktree {
    pub worktree_path: String,
    pub worktree_name: Option<String>,
    pub branch: Option<String>,
    pub repo_path: String,
    pub session_id: Option<String>,
    pub reason: String,
    pub uncommitted_files: usize,
    pub unmerged_commits: usize,
}

/// The result of `release`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseReport {
    pub success: bool,
    pub session_id: String,
    pub pid: i64,
    pub repo_path: String,
    pub is_main_repo: bool,
    pub worktree_path: String,
    pub worktree_removed: bool,
    pub branch_deleted: bool,
    pub kept: Option<KeptWorktree>,
}

struct ReleaseOutcome {
    removal: Option<Removal>,
    kept: Option<KeptWorktree>,
}

/// Ends a session: its row goes; its worktree and branch go too unless they
/// hold work (or `force` is set), in which case they are kept and recorded.
pub fn release(data_dir: &Path, selector: &SessionSelector, force: bool) -> Result<ReleaseReport> {
    let Some(mut db) = Database::open_existing_current(data_dir)? else {
        return Err(no_session(selector));
    };
    let found = find_for_release(db.conn(), selector)?.ok_or_else(|| no_session(selector))?;
    let repo_path = PathBuf::from(&found.repo_path);
    let repo_lock = lock::lock_repository(data_dir, &repo_path)?;
    // Decide on the row as it is now that we hold the lock.
    let session = session_by_id(db.conn(), &found.id)?.ok_or_else(|| no_session(selector))?;
    let outcome = release_locked(&mut db, &session, force)?;
    drop(repo_lock);
    finish_removals(data_dir, &repo_path, outcome.removal.as_slice())?;
    let removal = outcome.removal.unwrap_or_default();
    Ok(ReleaseReport {
        success: true,
        session_id: session.id,
        pid: session.pid,
        repo_path: session.repo_path,
        is_main_repo: session.is_main_repo,
        worktree_path: session.worktree_path,
        worktree_removed: removal.worktree_removed,
        branch_deleted: removal.branch_deleted,
        kept: outcome.kept,
    })
}

fn find_for_release(conn: &Connection, selector: &SessionSelector) -> Result<Option<Session>> {
    match selector {
        SessionSelector::Id(id) => session_by_id(conn, id),
        SessionSelector::Pid(pid) => {
            let mut found = sessions_where(conn, "WHERE pid = ?1 ORDER BY created_at DESC", [pid])?;
            // Prefer the session of the process that is running now.
            let index = found.iter().position(Session::is_alive).unwrap_or(0);
            Ok((!found.is_empty()).then(|| found.swap_remove(index)))
        }
    }
}

fn no_session(selector: &SessionSelector) -> anyhow::Error {
    let what = match selector {
        SessionSelector::Pid(pid) => format!("no session is registered for process {pid}"),
        SessionSelector::Id(id) => format!("no session with id {id}"),
    };
    UserError::with_hint(what, "'git pcc status' lists the sessions").into()
}

/// Releases one session; the caller holds its repository's lock.
fn release_locked(db: &mut Database, session: &Session, force: bool) -> Result<ReleaseOutcome> {
    let mut outcome = ReleaseOutcome {
        removal: None,
        kept: None,
    };
    if !session.is_main_repo {
        let worktree_path = PathBuf::from(&session.worktree_path);
        match git::open(Path::new(&session.repo_path)) {
            Ok(repo) => {
                let (branch, held) = inspect_session(&repo, session);
                if held.holds_work() && !force {
                    outcome.kept = Some(kept_from_session(session, &held, branch));
                } else {
                    outcome.removal = Some(worktree::remove(
                        &repo,
                        &worktree_path,
                        session.worktree_name.as_deref(),
                        branch.as_deref(),
                    )?);
                }
            }
            Err(_) if !Path::new(&session.repo_path).exists() => {}
            Err(err) => return Err(err),
        }
    }
    let kept = outcome.kept.clone();
    db.immediate(|tx| {
        tx.execute("DELETE FROM sessions WHERE id = ?1", [&session.id])?;
        match &kept {
            Some(kept) => record_kept(tx, kept, session)?,
            None => {
                tx.execute(
                    "DELETE FROM kept_worktrees WHERE worktree_path = ?1",
                    [&session.worktree_path],
                )?;
            }
        }
        Ok(())
    })?;
    Ok(outcome)
}

/// A worktree session's branch and held work. Rows written by the
/// TypeScript tool have no branch column: the worktree's own branch stands in.
fn inspect_session(repo: &git2::Repository, session: &Session) -> (Option<String>, HeldWork) {
    let worktree_path = Path::new(&session.worktree_path);
    let branch = session
        .branch
        .clone()
        .or_else(|| branch_of_worktree(worktree_path));
    let base = WorktreeBase {
        branch: branch.as_deref(),
        ..session.base()
    };
    let held = git::held_work(repo, worktree_path, &base);
    (branch, held)
}

fn branch_of_worktree(path: &Path) -> Option<String> {
    git::open(path)
        .ok()
        .and_then(|repo| git::current_branch(&repo))
}

fn kept_from_session(session: &Session, held: &HeldWork, branch: Option<String>) -> KeptWorktree {
    KeptWorktree {
        worktree_path: session.worktree_path.clone(),
        worktree_name: session.worktree_name.clone(),
        branch,
        repo_path: session.repo_path.clone(),
        session_id: Some(session.id.clone()),
        reason: held
            .reason(session.base_branch.as_deref())
            .unwrap_or_default(),
        uncommitted_files: held.uncommitted_files,
        unmerged_commits: held.unmerged_commits,
    }
}

fn record_kept(conn: &Connection, kept: &KeptWorktree, session: &Session) -> Result<()> {
    conn.execute(
        "INSERT INTO kept_worktrees (worktree_path, repo_path, worktree_name, branch, base_branch,
                                     base_commit, session_id, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(worktree_path) DO UPDATE SET reason = excluded.reason, kept_at = datetime('now')",
        params![
            kept.worktree_path,
            kept.repo_path,
            kept.worktree_name,
            kept.branch,
            session.base_branch,
            session.base_commit,
            kept.session_id,
            kept.reason,
        ],
    )?;
    Ok(())
}

/// The live sessions of a repository, oldest first.
pub fn live_sessions(data_dir: &Path, repo_key: &str) -> Result<Vec<Session>> {
    let Some(db) = Database::open_existing(data_dir)? else {
        return Ok(Vec::new());
    };
    let all = sessions_where(
        db.conn(),
        "WHERE repo_path = ?1 ORDER BY created_at, rowid",
        [repo_key],
    )?;
    Ok(all.into_iter().filter(Session::is_alive).collect())
}

/// Live-or-not sessions registered with `pid`.
pub fn sessions_of_pid(data_dir: &Path, pid: i64) -> Result<Vec<String>> {
    let Some(db) = Database::open_existing(data_dir)? else {
        return Ok(Vec::new());
    };
    Ok(sessions_where(db.conn(), "WHERE pid = ?1", [pid])?
        .into_iter()
        .map(|s| s.id)
        .collect())
}

/// The session working in exactly this worktree path, if any.
pub fn session_at_worktree(data_dir: &Path, worktree_path: &Path) -> Result<Option<String>> {
    let Some(db) = Database::open_existing(data_dir)? else {
        return Ok(None);
    };
    let key = paths::to_db_string(&paths::canonicalize_lenient(worktree_path))?;
    Ok(sessions_where(
        db.conn(),
        "WHERE worktree_path = ?1 AND is_main_repo = 0",
        [key],
    )?
    .into_iter()
    .next()
    .map(|s| s.id))
}

// ---------------------------------------------------------------- heartbeat

/// Where to look for the session a heartbeat belongs to, in order.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatTarget {
    /// `--session-id`: must match.
    pub session_id: Option<String>,
    /// `$PARALLEL_CC_SESSION_ID`: used when it matches.
    pub env_session_id: Option<String>,
    /// `--pid`: must match.
    pub pid: Option<i64>,
    /// Look for the nearest ancestor process that is a session.
    pub ancestors: bool,
    /// The working directory of the agent (from the hook's JSON or our own).
    pub cwd: Option<PathBuf>,
    /// Also take the session's undelivered merge notices (the hook prints
    /// them for the agent).
    pub take_notices: bool,
}

/// The session a heartbeat was recorded for.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    pub session_id: String,
    pub pid: i64,
    pub last_heartbeat: String,
    pub matched_by: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
}

/// Records that a session is alive. `Ok(None)` when no session matches (or
/// there is no database yet); hooks treat that as nothing to do.
pub fn heartbeat(data_dir: &Path, target: &HeartbeatTarget) -> Result<Option<Heartbeat>> {
    let Some(db) = Database::open_existing(data_dir)? else {
        return Ok(None);
    };
    let conn = db.conn();
    // One statement per lookup: this runs after every tool call.
    let touch = |condition: &str,
                 key: &dyn rusqlite::ToSql,
                 matched_by: &'static str|
     -> Result<Option<Heartbeat>> {
        let sql = format!(
            "UPDATE sessions SET last_heartbeat = datetime('now') WHERE {condition} RETURNING id, pid, last_heartbeat"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([key])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        Ok(Some(Heartbeat {
            session_id: row.get(0)?,
            pid: row.get(1)?,
            last_heartbeat: row.get(2)?,
            matched_by,
            notices: Vec::new(),
        }))
    };
    let beat = if let Some(id) = &target.session_id {
        touch("id = ?1", id, "session-id")?
    } else if let Some(beat) = match &target.env_session_id {
        Some(id) => touch("id = ?1", id, "environment")?,
        None => None,
    } {
        Some(beat)
    } else if let Some(pid) = target.pid {
        touch("pid = ?1", &pid, "pid")?
    } else {
        let rest = HeartbeatTarget {
            ancestors: target.ancestors,
            cwd: target.cwd.clone(),
            ..HeartbeatTarget::default()
        };
        match locate(conn, &rest)? {
            Some((id, matched_by)) => touch("id = ?1", &id, matched_by)?,
            None => None,
        }
    };
    let Some(mut beat) = beat else {
        return Ok(None);
    };
    if target.take_notices {
        // Databases from before merge notices have no such table yet.
        beat.notices = crate::merge::take_notices(conn, &beat.session_id).unwrap_or_default();
    }
    Ok(Some(beat))
}

/// The session `target` points at, described as `status` describes it.
pub fn find_session(data_dir: &Path, target: &HeartbeatTarget) -> Result<Option<SessionStatus>> {
    let Some(db) = Database::open_existing(data_dir)? else {
        return Ok(None);
    };
    let Some((id, _)) = locate(db.conn(), target)? else {
        return Ok(None);
    };
    let Some(session) = session_by_id(db.conn(), &id)? else {
        return Ok(None);
    };
    let held = if session.is_main_repo {
        None
    } else {
        git::open(Path::new(&session.repo_path))
            .ok()
            .map(|repo| git::held_work(&repo, Path::new(&session.worktree_path), &session.base()))
    };
    let alive = session.is_alive();
    Ok(Some(describe(&session, alive, held, time::unix_now())))
}

/// Finds the id of the session a target points at, and how it was found.
fn locate(conn: &Connection, target: &HeartbeatTarget) -> Result<Option<(String, &'static str)>> {
    let by_id = |id: &str| -> Result<Option<String>> {
        let mut stmt = conn.prepare_cached("SELECT id FROM sessions WHERE id = ?1")?;
        Ok(stmt.query_row([id], |row| row.get(0)).optional()?)
    };
    if let Some(id) = &target.session_id {
        return Ok(by_id(id)?.map(|id| (id, "session-id")));
    }
    if let Some(id) = &target.env_session_id {
        if let Some(id) = by_id(id)? {
            return Ok(Some((id, "environment")));
        }
    }
    if let Some(pid) = target.pid {
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM sessions WHERE pid = ?1 ORDER BY created_at DESC, rowid DESC",
        )?;
        let id: Option<String> = stmt.query_row([pid], |row| row.get(0)).optional()?;
        return Ok(id.map(|id| (id, "pid")));
    }
    if target.ancestors {
        let chain = process::ancestors();
        if !chain.is_empty() {
            let list = chain
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let mut stmt = conn.prepare(&format!(
                "SELECT id, pid FROM sessions WHERE pid IN ({list})"
            ))?;
            let found: Vec<(String, i64)> = stmt
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let nearest = chain.iter().find_map(|pid| {
                found
                    .iter()
                    .find(|(_, p)| p == pid)
                    .map(|(id, _)| id.clone())
            });
            if let Some(id) = nearest {
                return Ok(Some((id, "ancestor")));
            }
        }
    }
    if let Some(cwd) = &target.cwd {
        let cwd = paths::canonicalize_lenient(cwd);
        let mut stmt = conn.prepare_cached("SELECT id, worktree_path FROM sessions")?;
        let candidates: Vec<(String, String)> = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let best = candidates
            .into_iter()
            .filter(|(_, path)| cwd.starts_with(path))
            .max_by_key(|(_, path)| path.len());
        if let Some((id, _)) = best {
            return Ok(Some((id, "cwd")));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------- status

/// One session as `status` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    pub session_id: String,
    pub pid: i64,
    pub repo_path: String,
    pub worktree_path: String,
    pub worktree_name: Option<String>,
    pub branch: Option<String>,
    pub is_main_repo: bool,
    pub is_alive: bool,
    pub holds_work: bool,
    pub held_work: Option<String>,
    pub created_at: String,
    pub last_heartbeat: String,
    pub duration_minutes: i64,
    pub heartbeat_age_minutes: i64,
}

/// The result of `status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub sessions: Vec<SessionStatus>,
    pub total_sessions: usize,
    pub kept_worktrees: Vec<KeptWorktree>,
}

/// Lists sessions (of one repository, or all), with liveness and held work.
pub fn status(data_dir: &Path, repo: Option<&Path>) -> Result<StatusReport> {
    let repo_key = match repo {
        Some(path) => Some(paths::to_db_string(&git::resolve_repository(path)?)?),
        None => None,
    };
    let Some(db) = Database::open_existing_current(data_dir)? else {
        return Ok(StatusReport {
            sessions: Vec::new(),
            total_sessions: 0,
            kept_worktrees: Vec::new(),
        });
    };
    let (condition, args): (&str, Vec<String>) = match &repo_key {
        Some(key) => (
            "WHERE repo_path = ?1 ORDER BY created_at, rowid",
            vec![key.clone()],
        ),
        None => ("ORDER BY repo_path, created_at, rowid", Vec::new()),
    };
    let sessions = sessions_where(
        db.conn(),
        condition,
        rusqlite::params_from_iter(args.iter()),
    )?;
    let kept = kept_worktrees(db.conn(), repo_key.as_deref())?
        .iter()
        .map(|record| inspect_kept(record).0)
        .collect();
    let alive = liveness(&sessions);
    let held = inspect_worktrees(&sessions);
    let now = time::unix_now();
    let rows: Vec<SessionStatus> = sessions
        .iter()
        .zip(held)
        .map(|(session, held)| {
            describe(
                session,
                alive[&(session.pid, session.process_start)],
                held,
                now,
            )
        })
        .collect();
    Ok(StatusReport {
        total_sessions: rows.len(),
        sessions: rows,
        kept_worktrees: kept,
    })
}

/// One session as `status` shows it.
fn describe(session: &Session, is_alive: bool, held: Option<HeldWork>, now: i64) -> SessionStatus {
    let minutes_since = |stamp: &str| {
        time::parse_sqlite_datetime(stamp).map_or(0, |then| ((now - then).max(0)) / 60)
    };
    let branch = if session.is_main_repo {
        read_head_branch(Path::new(&session.repo_path)).or_else(|| session.branch.clone())
    } else {
        session.branch.clone()
    };
    SessionStatus {
        session_id: session.id.clone(),
        pid: session.pid,
        repo_path: session.repo_path.clone(),
        worktree_path: session.worktree_path.clone(),
        worktree_name: session.worktree_name.clone(),
        branch,
        is_main_repo: session.is_main_repo,
        is_alive,
        holds_work: held.as_ref().is_some_and(HeldWork::holds_work),
        held_work: held
            .as_ref()
            .and_then(|h| h.reason(session.base_branch.as_deref())),
        created_at: session.created_at.clone(),
        last_heartbeat: session.last_heartbeat.clone(),
        duration_minutes: minutes_since(&session.created_at),
        heartbeat_age_minutes: minutes_since(&session.last_heartbeat),
    }
}

/// Whether each distinct (PID, start time) of `sessions` is alive, checked
/// once each.
fn liveness(sessions: &[Session]) -> HashMap<(i64, Option<u64>), bool> {
    let mut alive = HashMap::new();
    for session in sessions {
        alive
            .entry((session.pid, session.process_start))
            .or_insert_with(|| session.is_alive());
    }
    alive
}

/// The held work of each worktree session (`None` for main sessions and
/// sessions whose repository is gone), opening each repository once and
/// inspecting repositories in parallel.
fn inspect_worktrees(sessions: &[Session]) -> Vec<Option<HeldWork>> {
    let mut by_repo: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, session) in sessions.iter().enumerate() {
        if !session.is_main_repo && Path::new(&session.repo_path).exists() {
            by_repo
                .entry(session.repo_path.as_str())
                .or_default()
                .push(index);
        }
    }
    let inspect = |(repo_path, indexes): (&str, Vec<usize>)| -> Vec<(usize, HeldWork)> {
        let Ok(repo) = git::open(Path::new(repo_path)) else {
            return Vec::new();
        };
        indexes
            .into_iter()
            .map(|index| {
                let session = &sessions[index];
                (
                    index,
                    git::held_work(&repo, Path::new(&session.worktree_path), &session.base()),
                )
            })
            .collect()
    };
    let groups: Vec<(&str, Vec<usize>)> = by_repo.into_iter().collect();
    let found: Vec<(usize, HeldWork)> = if groups.len() > 1 {
        groups.into_par_iter().flat_map_iter(inspect).collect()
    } else {
        groups.into_iter().flat_map(inspect).collect()
    };
    let mut held = vec![None; sessions.len()];
    for (index, work) in found {
        held[index] = Some(work);
    }
    held
}

/// The branch named by a checkout's HEAD file, read without opening the
/// repository.
fn read_head_branch(repo_path: &Path) -> Option<String> {
    let head = std::fs::read_to_string(repo_path.join(".git").join("HEAD")).ok()?;
    head.trim()
        .strip_prefix("ref: refs/heads/")
        .map(str::to_owned)
}

/// A row of `kept_worktrees`.
struct KeptRecord {
    kept: KeptWorktree,
    base_branch: Option<String>,
    base_commit: Option<String>,
}

fn kept_worktrees(conn: &Connection, repo_key: Option<&str>) -> Result<Vec<KeptRecord>> {
    let sql = "SELECT worktree_path, worktree_name, branch, repo_path, session_id, reason, base_branch, base_commit
               FROM kept_worktrees WHERE ?1 IS NULL OR repo_path = ?1 ORDER BY kept_at, worktree_path";
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([repo_key], |row| {
        Ok(KeptRecord {
            kept: KeptWorktree {
                worktree_path: row.get(0)?,
                worktree_name: row.get(1)?,
                branch: row.get(2)?,
                repo_path: row.get(3)?,
                session_id: row.get(4)?,
                reason: row.get(5)?,
                uncommitted_files: 0,
                unmerged_commits: 0,
            },
            base_branch: row.get(6)?,
            base_commit: row.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Looks at a kept worktree again: its held work now, with the counts and
/// reason brought up to date (`None` when its repository is gone).
fn inspect_kept(record: &KeptRecord) -> (KeptWorktree, Option<HeldWork>) {
    let base = WorktreeBase {
        branch: record.kept.branch.as_deref(),
        base_branch: record.base_branch.as_deref(),
        base_commit: record.base_commit.as_deref(),
    };
    let held = git::open(Path::new(&record.kept.repo_path))
        .ok()
        .map(|repo| git::held_work(&repo, Path::new(&record.kept.worktree_path), &base));
    let mut kept = record.kept.clone();
    if let Some(held) = &held {
        kept.uncommitted_files = held.uncommitted_files;
        kept.unmerged_commits = held.unmerged_commits;
        if let Some(reason) = held.reason(record.base_branch.as_deref()) {
            kept.reason = reason;
        }
    }
    (kept, held)
}

// ---------------------------------------------------------------- cleanup

/// What `cleanup` did, or would do with `dry_run`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupReport {
    pub dry_run: bool,
    pub force: bool,
    pub removed_sessions: Vec<CleanedSession>,
    pub removed_worktrees: Vec<String>,
    pub kept: Vec<KeptWorktree>,
}

/// A stale session that was (or would be) removed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanedSession {
    pub session_id: String,
    pub pid: i64,
    pub repo_path: String,
    pub worktree_path: String,
    pub is_main_repo: bool,
}

/// Removes stale sessions and their clean worktrees, looks again at kept
/// worktrees, and reports what stays and why. `force` removes held work too;
/// `dry_run` changes nothing.
pub fn cleanup(
    data_dir: &Path,
    repo: Option<&Path>,
    dry_run: bool,
    force: bool,
) -> Result<CleanupReport> {
    let repo_key = match repo {
        Some(path) => Some(paths::to_db_string(&git::resolve_repository(path)?)?),
        None => None,
    };
    let mut report = CleanupReport {
        dry_run,
        force,
        ..CleanupReport::default()
    };
    let Some(mut db) = Database::open_existing_current(data_dir)? else {
        return Ok(report);
    };
    let mut repos: Vec<String> = {
        let mut stmt = db.conn().prepare(
            "SELECT repo_path FROM sessions UNION SELECT repo_path FROM kept_worktrees ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if let Some(key) = &repo_key {
        repos.retain(|r| r == key);
    }
    for repo_path in repos {
        let repo_dir = PathBuf::from(&repo_path);
        let repo_lock = lock::lock_repository(data_dir, &repo_dir)?;
        let mut removals = Vec::new();
        for session in sessions_where(db.conn(), "WHERE repo_path = ?1", [&repo_path])? {
            if session.is_alive() {
                continue;
            }
            report.removed_sessions.push(CleanedSession {
                session_id: session.id.clone(),
                pid: session.pid,
                repo_path: session.repo_path.clone(),
                worktree_path: session.worktree_path.clone(),
                is_main_repo: session.is_main_repo,
            });
            if dry_run {
                if !session.is_main_repo {
                    let inspected =
                        git::open(&repo_dir).map(|repo| inspect_session(&repo, &session));
                    let (branch, held) = inspected.unwrap_or_default();
                    if held.holds_work() && !force {
                        report.kept.push(kept_from_session(&session, &held, branch));
                    } else {
                        report.removed_worktrees.push(session.worktree_path.clone());
                    }
                }
                continue;
            }
            let outcome = release_locked(&mut db, &session, force)?;
            if let Some(removal) = outcome.removal {
                if removal.worktree_removed {
                    report.removed_worktrees.push(session.worktree_path.clone());
                }
                removals.push(removal);
            }
            report.kept.extend(outcome.kept);
        }
        for record in kept_worktrees(db.conn(), Some(&repo_path))? {
            if report
                .kept
                .iter()
                .any(|k| k.worktree_path == record.kept.worktree_path)
            {
                continue;
            }
            let (kept, held) = inspect_kept(&record);
            if held.as_ref().is_some_and(HeldWork::holds_work) && !force {
                report.kept.push(kept);
                continue;
            }
            let repo = git::open(&repo_dir).ok();
            report.removed_worktrees.push(kept.worktree_path.clone());
            if dry_run {
                continue;
            }
            if let Some(repo) = &repo {
                removals.push(worktree::remove(
                    repo,
                    Path::new(&kept.worktree_path),
                    kept.worktree_name.as_deref(),
                    kept.branch.as_deref(),
                )?);
            }
            db.conn().execute(
                "DELETE FROM kept_worktrees WHERE worktree_path = ?1",
                [&kept.worktree_path],
            )?;
        }
        drop(repo_lock);
        finish_removals(data_dir, &repo_dir, &removals)?;
    }
    Ok(report)
}
