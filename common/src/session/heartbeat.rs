//! `heartbeat`: a session says it is alive. Claude Code runs it after every
//! tool call, so finding the session and touching it is one statement; the
//! lookups in order are the session id, `$PARALLEL_CC_SESSION_ID`, a PID
//! (the wrapper's or the agent's), the nearest ancestor process that is a
//! session's, and the agent's working directory. A hook that reports a
//! state change (see `state`) makes it in that same statement; one that
//! asks for it ([`HeartbeatTarget::observe_change`], for notifications)
//! learns there too what the state was before, through a function the
//! statement calls with the row's old values.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::session_by_id;
use super::state::StateUpdate;
use super::status::{describe, Inspection, SessionStatus};
use super::touch::{Touch, BEAT_COLUMNS};
use crate::db::Database;
use crate::{paths, process, time};

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
    /// The state the hook reports, written by the heartbeat's statement.
    pub state: Option<StateUpdate>,
    /// Also learn, in that statement, what the state was before it
    /// ([`Heartbeat::change`]).
    pub observe_change: bool,
}

/// What a state update changed, as its statement saw it: the state before
/// and the session as it is now.
#[derive(Debug, Clone, Default)]
pub struct StateChange {
    pub previous_state: Option<String>,
    pub previous_since: Option<String>,
    pub repo_path: String,
    pub worktree_path: String,
    pub is_main_repo: bool,
    pub branch: Option<String>,
    pub waiting_for: Option<String>,
    pub last_message: Option<String>,
}

/// The old state and its start, as the statement's function received them.
type Observed = std::sync::Arc<std::sync::Mutex<Option<(Option<String>, Option<String>)>>>;

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
    /// With [`HeartbeatTarget::observe_change`]: the change, when the
    /// update applied (a late hook's does not).
    #[serde(skip)]
    pub change: Option<StateChange>,
}

/// Records that a session is alive. `Ok(None)` when no session matches (or
/// there is no database yet); hooks treat that as nothing to do.
pub fn heartbeat(data_dir: &Path, target: &HeartbeatTarget) -> Result<Option<Heartbeat>> {
    let Some(db) = Database::open_existing(data_dir)? else {
        return Ok(None);
    };
    let conn = db.conn();
    // It is only a heartbeat: when another process holds the database's
    // write lock, skip this beat rather than stall the agent.
    conn.busy_timeout(super::HOOK_WAIT)?;
    let observed: Option<Observed> = match (&target.state, target.observe_change) {
        (Some(_), true) => Some(observe_previous_state(conn)?),
        _ => None,
    };
    let state_params = target.state.as_ref().map(StateUpdate::params);
    // One statement per lookup: this runs after every tool call.
    let touch = |condition: &str,
                 key: &dyn rusqlite::ToSql,
                 matched_by: &'static str|
     -> Result<Option<Heartbeat>> {
        let touch = Touch {
            state: state_params.is_some(),
            observe: observed.is_some(),
        };
        let mut params: Vec<&dyn rusqlite::ToSql> = vec![key];
        let mut stmt = match conn.prepare_cached(&touch.sql(condition)) {
            Ok(stmt) => {
                if let Some(state) = &state_params {
                    params.extend(state.iter().map(|p| p.as_ref()));
                }
                stmt
            }
            // A database from before session states (the next command
            // that is not a hook migrates it): the beat alone.
            Err(_) if touch.state => conn.prepare_cached(&touch.beat_only().sql(condition))?,
            Err(err) => return Err(err.into()),
        };
        let mut rows = stmt.query(params.as_slice())?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        let change = match observed.as_ref().and_then(|o| o.lock().ok()?.take()) {
            Some((previous_state, previous_since))
                if row.as_ref().column_count() > BEAT_COLUMNS =>
            {
                Some(StateChange {
                    previous_state,
                    previous_since,
                    repo_path: row.get(3)?,
                    worktree_path: row.get(4)?,
                    is_main_repo: row.get::<_, i64>(5)? != 0,
                    branch: row.get(6)?,
                    waiting_for: row.get(7)?,
                    last_message: row.get(8)?,
                })
            }
            _ => None,
        };
        Ok(Some(Heartbeat {
            session_id: row.get(0)?,
            pid: row.get(1)?,
            last_heartbeat: row.get(2)?,
            matched_by,
            notices: Vec::new(),
            change,
        }))
    };
    let beat = if let Some(id) = &target.session_id {
        match touch("id = ?1", id, "session-id")? {
            Some(beat) => Some(beat),
            // Not a whole id: a prefix as `status` shows it (never the
            // hook's case, which passes whole ids).
            None => match super::resolve_session_id(conn, id)? {
                Some(full) => touch("id = ?1", &full, "session-id")?,
                None => None,
            },
        }
    } else if let Some(beat) = match &target.env_session_id {
        Some(id) => touch("id = ?1", id, "environment")?,
        None => None,
    } {
        Some(beat)
    } else if let Some(pid) = target.pid {
        touch("pid = ?1 OR agent_pid = ?1", &pid, "pid")?
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

/// Defines, on this connection, the function [`OBSERVED_STATE_AT`] calls
/// with a row's old state and its start when an update applies; returns
/// where it puts them. Defining a function runs no statement.
fn observe_previous_state(conn: &Connection) -> Result<Observed> {
    let observed: Observed = Default::default();
    let cell = observed.clone();
    conn.create_scalar_function(
        "pcc_previous_state",
        3,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8,
        move |ctx| {
            let previous: (Option<String>, Option<String>) = (ctx.get(0)?, ctx.get(1)?);
            if let Ok(mut cell) = cell.lock() {
                cell.get_or_insert(previous);
            }
            ctx.get::<i64>(2)
        },
    )?;
    Ok(observed)
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
    let found = if session.has_own_worktree() {
        crate::git::open(Path::new(&session.repo_path))
            .ok()
            .map(|repo| Inspection::of(&repo, &session))
    } else {
        None
    };
    let alive = session.is_alive();
    let config = crate::config::Config::load(data_dir).unwrap_or_default();
    Ok(Some(describe(
        &session,
        alive,
        found,
        time::unix_now(),
        &config,
    )))
}

/// Finds the id of the session a target points at, and how it was found.
pub(crate) fn locate(
    conn: &Connection,
    target: &HeartbeatTarget,
) -> Result<Option<(String, &'static str)>> {
    let by_id = |id: &str| -> Result<Option<String>> {
        let mut stmt = conn.prepare_cached("SELECT id FROM sessions WHERE id = ?1")?;
        Ok(stmt.query_row([id], |row| row.get(0)).optional()?)
    };
    if let Some(id) = &target.session_id {
        return Ok(super::resolve_session_id(conn, id)?.map(|id| (id, "session-id")));
    }
    if let Some(id) = &target.env_session_id {
        if let Some(id) = by_id(id)? {
            return Ok(Some((id, "environment")));
        }
    }
    if let Some(pid) = target.pid {
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM sessions WHERE pid = ?1 OR agent_pid = ?1 ORDER BY created_at DESC, rowid DESC",
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
                "SELECT id, pid, agent_pid FROM sessions WHERE pid IN ({list}) OR agent_pid IN ({list})"
            ))?;
            let found: Vec<(String, i64, Option<i64>)> = stmt
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let nearest = chain.iter().find_map(|pid| {
                found
                    .iter()
                    .find(|(_, p, agent)| p == pid || agent == &Some(*pid))
                    .map(|(id, _, _)| id.clone())
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

/// Records the agent's own process for a session (the wrapper does it as
/// soon as the agent starts), so the session lives as long as the agent
/// even when the wrapper is killed. `session_id` may be a unique prefix;
/// the start time tells a reused PID from the agent.
pub fn record_agent(data_dir: &Path, session_id: &str, agent_pid: i64) -> Result<bool> {
    let Some(db) = Database::open_existing_current(data_dir)? else {
        return Ok(false);
    };
    let Some(session_id) = super::resolve_session_id(db.conn(), session_id)? else {
        return Ok(false);
    };
    let start = process::start_time(agent_pid).map(|t| t as i64);
    let changed = db.conn().execute(
        "UPDATE sessions SET agent_pid = ?1, agent_start = ?2, last_heartbeat = datetime('now')
         WHERE id = ?3",
        rusqlite::params![agent_pid, start, session_id],
    )?;
    Ok(changed > 0)
}

/// Records the agent's own conversation id (Claude Code's `session_id`) for
/// a session, so `register --resume` finds the worktree it works in.
pub fn record_conversation(data_dir: &Path, session_id: &str, conversation: &str) -> Result<bool> {
    let Some(db) = Database::open_existing_current(data_dir)? else {
        return Ok(false);
    };
    let changed = db.conn().execute(
        "UPDATE sessions SET conversation_id = ?1 WHERE id = ?2 AND conversation_id IS NOT ?1",
        rusqlite::params![conversation, session_id],
    )?;
    Ok(changed > 0)
}
