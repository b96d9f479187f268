//! Sessions: one agent working in one repository. This module owns their
//! lifecycle — register, heartbeat, release, cleanup — and the status
//! report; each stage has a file of its own.
//!
//! Invariants, each kept by deciding under the repository's lock (a
//! [`RepoGuard`], which first repairs what a dead process left) and writing
//! in short `BEGIN IMMEDIATE` transactions:
//! - a session lives while the process that registered it (the wrapper) or
//!   its agent's process lives; only a session whose processes are all gone
//!   is stale;
//! - at most one live session works in each checkout: the main checkout, a
//!   worktree we made, or a worktree the user made and a session adopted;
//! - a worktree or branch holding work (see `held_work`) is never removed
//!   unless forced, and a worktree the user made or locked never is; either
//!   is recorded in `kept_worktrees` with the reason, for `cleanup` to look
//!   at again;
//! - one worktree that cannot be handled is reported and never stops the
//!   others from being handled.

mod heartbeat;
mod register;
mod release;
mod resume;
pub mod state;
mod status;
mod strays;
mod touch;

pub(crate) use heartbeat::locate;
pub use heartbeat::{
    find_session, heartbeat, record_agent, record_conversation, Heartbeat, HeartbeatTarget,
    StateChange,
};
pub use register::{register, register_from, register_with, Placement, Registration, Request};
pub use release::{
    cleanup, cleanup_with, release, CleanedSession, CleanupFailure, CleanupReport, CleanupScope,
    KeptWorktree, ReleaseReport, SessionSelector,
};
pub use resume::{resume_target, RemovedWorktree, Resume, ResumeTarget};
pub(crate) use status::read_head_branch;
pub use status::{status, status_with, SessionStatus, StatusOptions, StatusReport};

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, Row};

use crate::config::Config;
use crate::db::Database;
use crate::held_work::WorktreeBase;
use crate::worktree::{self, RepoGuard};
use crate::{git, paths, process};

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
    /// The agent's own process, when it is not the one that registered.
    pub agent_pid: Option<i64>,
    pub agent_start: Option<u64>,
    /// Whether we made the worktree (and may remove it); false for a
    /// worktree the user made that a session adopted.
    pub owns_worktree: bool,
    /// What the agent is doing, from its hooks (see [`state`]).
    pub state: Option<String>,
    pub state_since: Option<String>,
    /// Milliseconds since the epoch of the hook that set the state last.
    pub state_at: Option<i64>,
    pub waiting_for: Option<String>,
    pub last_message: Option<String>,
    /// Conflicts with other live sessions when they were last predicted.
    pub predicted_conflicts: Option<i64>,
    pub predicted_at: Option<String>,
    /// The agent profile the session runs (`claude`, `codex`, ...); `None`
    /// for a session recorded before agents were.
    pub agent: Option<String>,
}

const SESSION_COLUMNS: &str = "id, pid, repo_path, worktree_path, worktree_name, is_main_repo, \
     created_at, last_heartbeat, branch, base_branch, base_commit, process_start, agent_pid, \
     agent_start, owns_worktree, state, state_since, state_at, waiting_for, last_message, \
     predicted_conflicts, predicted_at, agent";

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
            agent_pid: row.get(12)?,
            agent_start: row.get::<_, Option<i64>>(13)?.map(|v| v as u64),
            owns_worktree: row.get::<_, Option<i64>>(14)?.unwrap_or(1) != 0,
            state: row.get(15)?,
            state_since: row.get(16)?,
            state_at: row.get(17)?,
            waiting_for: row.get(18)?,
            last_message: row.get(19)?,
            predicted_conflicts: row.get(20)?,
            predicted_at: row.get(21)?,
            agent: row.get(22)?,
        })
    }

    /// Whether the session's wrapper or its agent is still running.
    pub fn is_alive(&self) -> bool {
        is_alive(
            self.pid,
            self.process_start,
            self.agent_pid,
            self.agent_start,
        )
    }

    /// Whether removing this session may remove its worktree.
    fn has_own_worktree(&self) -> bool {
        !self.is_main_repo && self.owns_worktree
    }

    fn base(&self) -> WorktreeBase<'_> {
        WorktreeBase {
            branch: self.branch.as_deref(),
            base_branch: self.base_branch.as_deref(),
            base_commit: self.base_commit.as_deref(),
        }
    }
}

/// Whether a session with these processes is alive: the one that
/// registered, or the agent's own.
pub fn is_alive(
    pid: i64,
    process_start: Option<u64>,
    agent_pid: Option<i64>,
    agent_start: Option<u64>,
) -> bool {
    process::is_same_process_alive(pid, process_start)
        || agent_pid.is_some_and(|agent| process::is_same_process_alive(agent, agent_start))
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

/// The whole id of the session `given` names: the id itself, or a prefix
/// of at least [`crate::ids::MIN_PREFIX`] characters that only it starts
/// with (an ambiguous prefix is an error that lists the sessions).
pub fn resolve_session_id(conn: &Connection, given: &str) -> Result<Option<String>> {
    crate::ids::resolve(
        conn,
        "SELECT id, 'pid ' || pid || ', ' || CASE WHEN is_main_repo THEN 'main checkout of ' ELSE '' END
                || worktree_path
         FROM sessions WHERE id = ?1 OR id LIKE ?2 ESCAPE '\\' ORDER BY created_at, id",
        given,
        "session",
    )
}

fn session_by_id(conn: &Connection, id: &str) -> Result<Option<Session>> {
    Ok(sessions_where(conn, "WHERE id = ?1", [id])?
        .into_iter()
        .next())
}

fn count_sessions(conn: &Connection, repo_key: &str) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM sessions WHERE repo_path = ?1",
        [repo_key],
        |row| row.get(0),
    )?)
}

/// How long a command may wait for a repository another process is
/// changing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// A command someone runs: config `session.lockTimeoutSeconds`.
    Command,
    /// A hook inside the agent's step: a fraction of a second, then the
    /// hook gives up (it never stalls the agent).
    Hook,
}

/// How long a hook waits for the repository lock or the database.
pub const HOOK_WAIT: Duration = Duration::from_millis(250);

impl Patience {
    fn lock_wait(self, config: &Config) -> Duration {
        match self {
            Patience::Command => config.lock_wait(),
            Patience::Hook => HOOK_WAIT,
        }
    }

    /// Applies the database wait of this patience to a connection.
    fn apply(self, db: &Database) -> Result<()> {
        if self == Patience::Hook {
            db.conn().busy_timeout(HOOK_WAIT)?;
        }
        Ok(())
    }
}

/// Takes a repository's guard, then brings the stored paths of worktrees
/// moved with `git worktree move` up to date.
fn guard_repository(
    data_dir: &Path,
    db: &mut Database,
    repo_path: &Path,
    config: &Config,
    patience: Patience,
) -> Result<RepoGuard> {
    let guard = RepoGuard::acquire(data_dir, db, repo_path, patience.lock_wait(config))?;
    follow_moved_worktrees(db, &guard)?;
    Ok(guard)
}

/// Rewrites the stored path of each worktree (of a session or kept) that
/// git's registration says was moved.
fn follow_moved_worktrees(db: &mut Database, guard: &RepoGuard) -> Result<()> {
    let key = guard.repo_key();
    let mut stmt = db.conn().prepare_cached(
        "SELECT worktree_path, worktree_name FROM sessions WHERE repo_path = ?1 AND is_main_repo = 0
         UNION SELECT worktree_path, worktree_name FROM kept_worktrees WHERE repo_path = ?1",
    )?;
    let rows: Vec<(String, Option<String>)> = stmt
        .query_map([key], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    drop(stmt);
    let missing: Vec<_> = rows
        .into_iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let Ok(repo) = git::open(guard.repo_path()) else {
        return Ok(());
    };
    for (stored, name) in missing {
        let located = worktree::locate(&repo, Path::new(&stored), name.as_deref());
        if !located.moved_from(Path::new(&stored)) {
            continue;
        }
        let now = paths::to_db_string(&located.path)?;
        db.immediate(|tx| {
            tx.execute(
                "UPDATE sessions SET worktree_path = ?1 WHERE worktree_path = ?2 AND repo_path = ?3",
                [&now, &stored, key],
            )?;
            tx.execute(
                "UPDATE OR IGNORE kept_worktrees SET worktree_path = ?1 WHERE worktree_path = ?2",
                [&now, &stored],
            )?;
            Ok(())
        })?;
    }
    Ok(())
}

/// Deletes the files of removed worktrees (outside the repository lock),
/// then any trash an earlier version left and worktree roots that are now
/// empty.
fn finish_removals(db: &Database, removals: &[worktree::Removal]) {
    let mut roots: Vec<PathBuf> = Vec::new();
    for removal in removals {
        removal.finish(db.conn());
        if let Some(root) = removal.trash_root() {
            if !roots.iter().any(|r| r == root) {
                roots.push(root.to_path_buf());
            }
        }
    }
    for root in roots {
        worktree::purge_trash(&root);
        worktree::remove_root_if_empty(&root);
    }
}

/// Every session of one repository (`None`: of all), live or not, by
/// repository and then oldest first.
pub fn sessions_in(conn: &Connection, repo_key: Option<&str>) -> Result<Vec<Session>> {
    sessions_where(
        conn,
        "WHERE ?1 IS NULL OR repo_path = ?1 ORDER BY repo_path, created_at, rowid",
        [repo_key],
    )
}

/// A session as `status` shows it, without looking into its worktree:
/// held work, ahead, behind and changed files are left for the caller.
pub fn describe_session(
    session: &Session,
    is_alive: bool,
    now: i64,
    config: &Config,
) -> SessionStatus {
    status::describe(session, is_alive, None, now, config)
}

/// The live sessions of a repository, oldest first.
pub fn live_sessions(data_dir: &Path, repo_key: &str) -> Result<Vec<Session>> {
    let Some(db) = Database::open_existing_current(data_dir)? else {
        return Ok(Vec::new());
    };
    let all = sessions_where(
        db.conn(),
        "WHERE repo_path = ?1 ORDER BY created_at, rowid",
        [repo_key],
    )?;
    Ok(all.into_iter().filter(Session::is_alive).collect())
}

/// Records, for each session, how many conflicting files the prediction
/// just made found between it and other live sessions (what `status`
/// shows as `conflicts`, with the time).
pub fn record_predicted_conflicts(data_dir: &Path, counts: &[(String, i64)]) -> Result<()> {
    let Some(mut db) = Database::open_existing_current(data_dir)? else {
        return Ok(());
    };
    db.immediate(|tx| {
        let mut stmt = tx.prepare_cached(
            "UPDATE sessions SET predicted_conflicts = ?2, predicted_at = datetime('now') WHERE id = ?1",
        )?;
        for (id, count) in counts {
            stmt.execute(rusqlite::params![id, count])?;
        }
        Ok(())
    })
}

/// One conflicting file of a session at the last prediction, and the
/// other session it conflicts with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConflictFile {
    pub path: String,
    pub with: String,
}

/// Where the files behind a session's predicted conflict count are kept:
/// `<data dir>/predictions/<session id>.json`, beside the count in its row,
/// so that the status line can name them without merging anything.
pub fn conflict_files_path(data_dir: &Path, session_id: &str) -> PathBuf {
    data_dir
        .join("predictions")
        .join(format!("{session_id}.json"))
}

/// Records the files behind each session's predicted conflict count (file
/// names masked as secrets are); a session with none has no file.
pub fn record_conflict_files(data_dir: &Path, files: &[(String, Vec<ConflictFile>)]) -> Result<()> {
    let redactor = crate::redact::Redactor::default();
    for (session_id, list) in files {
        let path = conflict_files_path(data_dir, session_id);
        if list.is_empty() {
            match std::fs::remove_file(&path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(anyhow::Error::new(err)
                        .context(format!("cannot remove {}", path.display())))
                }
                _ => continue,
            }
        }
        let masked: Vec<ConflictFile> = list
            .iter()
            .map(|file| ConflictFile {
                path: redactor.redact(&file.path).into_owned(),
                with: file.with.clone(),
            })
            .collect();
        if let Some(dir) = path.parent() {
            paths::ensure_data_dir(dir)?;
        }
        let text = serde_json::to_string(&serde_json::json!({ "files": masked }))? + "\n";
        crate::config::write_atomically(&path, text.as_bytes())?;
    }
    Ok(())
}

/// The files recorded by [`record_conflict_files`] for a session; empty
/// when there are none or the record cannot be read.
pub fn conflict_files(data_dir: &Path, session_id: &str) -> Vec<ConflictFile> {
    #[derive(serde::Deserialize)]
    struct Record {
        files: Vec<ConflictFile>,
    }
    std::fs::read(conflict_files_path(data_dir, session_id))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
        .map(|record| record.files)
        .unwrap_or_default()
}

/// Sessions (live or not) registered with `pid` or whose agent it is.
pub fn sessions_of_pid(data_dir: &Path, pid: i64) -> Result<Vec<String>> {
    let Some(db) = Database::open_existing_current(data_dir)? else {
        return Ok(Vec::new());
    };
    Ok(
        sessions_where(db.conn(), "WHERE pid = ?1 OR agent_pid = ?1", [pid])?
            .into_iter()
            .map(|s| s.id)
            .collect(),
    )
}

/// The session working in exactly this worktree path, if any.
pub fn session_at_worktree(data_dir: &Path, worktree_path: &Path) -> Result<Option<String>> {
    let Some(db) = Database::open_existing_current(data_dir)? else {
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
