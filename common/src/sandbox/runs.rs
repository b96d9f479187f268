//! Sandbox runs as the database records them (`sandbox_runs`), so that
//! `list`, `status`, `logs`, `download` and `kill` work from any process
//! while a run goes on. A run whose process ended without recording an end
//! (killed outright, machine reset) is marked failed when next looked at.

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::ProcessHandle;
use crate::{process, UserError};

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Waiting for a free slot (`--multi`).
    Pending,
    /// Creating the sandbox, uploading, running setup commands.
    Initializing,
    /// The agent works.
    Running,
    Completed,
    Failed,
    Timeout,
    /// Ended by `kill`, an interrupt, or `--fail-fast`.
    Killed,
    /// Never started (`--fail-fast`).
    Cancelled,
    /// Stopped when it reached its budget.
    BudgetExceeded,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "PENDING",
            RunStatus::Initializing => "INITIALIZING",
            RunStatus::Running => "RUNNING",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Failed => "FAILED",
            RunStatus::Timeout => "TIMEOUT",
            RunStatus::Killed => "KILLED",
            RunStatus::Cancelled => "CANCELLED",
            RunStatus::BudgetExceeded => "BUDGET_EXCEEDED",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        [
            RunStatus::Pending,
            RunStatus::Initializing,
            RunStatus::Running,
            RunStatus::Completed,
            RunStatus::Failed,
            RunStatus::Timeout,
            RunStatus::Killed,
            RunStatus::Cancelled,
            RunStatus::BudgetExceeded,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether the run is over.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RunStatus::Pending | RunStatus::Initializing | RunStatus::Running
        )
    }
}

/// One run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    #[serde(rename = "sessionId")]
    pub id: String,
    pub repo_path: String,
    pub backend: String,
    pub sandbox_id: Option<String>,
    pub batch_id: Option<String>,
    pub task_index: Option<i64>,
    pub prompt: String,
    pub template_name: Option<String>,
    pub auth_method: Option<String>,
    pub status: RunStatus,
    #[serde(skip)]
    pub runner: Option<ProcessHandle>,
    #[serde(skip)]
    pub agent: Option<ProcessHandle>,
    pub workspace_path: Option<String>,
    pub output_log: Option<String>,
    pub base_commit: Option<String>,
    pub branch: Option<String>,
    pub result_commit: Option<String>,
    pub result_worktree: Option<String>,
    pub pull_request_url: Option<String>,
    pub files_changed: Option<i64>,
    pub git_user: Option<String>,
    pub git_email: Option<String>,
    pub ssh_key_provided: bool,
    pub budget_limit: Option<f64>,
    pub agent_cost: Option<f64>,
    pub actual_cost: Option<f64>,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub last_activity: Option<String>,
    pub kill_requested: bool,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub updated_at: String,
}

const COLUMNS: &str = "id, repo_path, backend, sandbox_id, batch_id, task_index, prompt, template_name,
    auth_method, status, runner_pid, runner_start, agent_pid, agent_start, workspace_path, output_log,
    base_commit, branch, result_commit, result_worktree, files_changed, git_user, git_email,
    budget_limit, agent_cost, actual_cost, exit_code, error, last_activity, kill_requested,
    created_at, started_at, ended_at, updated_at, pull_request_url, ssh_key_provided";

fn handle(pid: Option<i64>, start: Option<i64>) -> Option<ProcessHandle> {
    pid.map(|pid| ProcessHandle {
        pid,
        start: start.map(|s| s as u64),
    })
}

fn from_row(row: &Row) -> rusqlite::Result<RunRecord> {
    let status: String = row.get(9)?;
    Ok(RunRecord {
        id: row.get(0)?,
        repo_path: row.get(1)?,
        backend: row.get(2)?,
        sandbox_id: row.get(3)?,
        batch_id: row.get(4)?,
        task_index: row.get(5)?,
        prompt: row.get(6)?,
        template_name: row.get(7)?,
        auth_method: row.get(8)?,
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
        runner: handle(row.get(10)?, row.get(11)?),
        agent: handle(row.get(12)?, row.get(13)?),
        workspace_path: row.get(14)?,
        output_log: row.get(15)?,
        base_commit: row.get(16)?,
        branch: row.get(17)?,
        result_commit: row.get(18)?,
        result_worktree: row.get(19)?,
        files_changed: row.get(20)?,
        git_user: row.get(21)?,
        git_email: row.get(22)?,
        budget_limit: row.get(23)?,
        agent_cost: row.get(24)?,
        actual_cost: row.get(25)?,
        exit_code: row.get(26)?,
        error: row.get(27)?,
        last_activity: row.get(28)?,
        kill_requested: row.get::<_, i64>(29)? != 0,
        created_at: row.get(30)?,
        started_at: row.get(31)?,
        ended_at: row.get(32)?,
        updated_at: row.get(33)?,
        pull_request_url: row.get(34)?,
        ssh_key_provided: row.get::<_, i64>(35)? != 0,
    })
}

/// What a new run starts with.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub id: &'a str,
    pub repo_path: &'a str,
    pub backend: &'a str,
    pub batch: Option<(&'a str, usize)>,
    pub prompt: &'a str,
    pub template_name: Option<&'a str>,
    pub auth_method: Option<&'a str>,
    pub agent: &'a str,
    pub status: RunStatus,
    pub output_log: &'a str,
    pub base_commit: &'a str,
    pub git_user: &'a str,
    pub git_email: &'a str,
    pub ssh_key_provided: bool,
    pub budget_limit: Option<f64>,
}

/// Records a new run, owned by this process.
pub fn insert(conn: &Connection, run: &NewRun) -> Result<()> {
    let pid = i64::from(std::process::id());
    conn.execute(
        "INSERT INTO sandbox_runs (id, repo_path, backend, batch_id, task_index, prompt,
            template_name, auth_method, status, runner_pid, runner_start, output_log, base_commit,
            git_user, git_email, budget_limit, ssh_key_provided, agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        params![
            run.id,
            run.repo_path,
            run.backend,
            run.batch.map(|b| b.0),
            run.batch.map(|b| b.1 as i64),
            run.prompt,
            run.template_name,
            run.auth_method,
            run.status.as_str(),
            pid,
            process::start_time(pid).map(|s| s as i64),
            run.output_log,
            run.base_commit,
            run.git_user,
            run.git_email,
            run.budget_limit,
            run.ssh_key_provided,
            run.agent,
        ],
    )
    .context("cannot record the sandbox run")?;
    Ok(())
}

/// Moves a run to a new status.
pub fn set_status(conn: &Connection, id: &str, status: RunStatus) -> Result<()> {
    conn.execute(
        "UPDATE sandbox_runs SET status = ?2, updated_at = datetime('now') WHERE id = ?1",
        params![id, status.as_str()],
    )?;
    Ok(())
}

/// Records the sandbox a run got.
pub fn set_sandbox(conn: &Connection, id: &str, sandbox_id: &str, workspace: &str) -> Result<()> {
    conn.execute(
        "UPDATE sandbox_runs SET sandbox_id = ?2, workspace_path = ?3, updated_at = datetime('now')
         WHERE id = ?1",
        params![id, sandbox_id, workspace],
    )?;
    Ok(())
}

/// Records the agent's process: the run is running. Returns whether a kill
/// was asked for meanwhile (the caller then ends the agent at once).
pub fn set_agent(conn: &Connection, id: &str, agent: ProcessHandle) -> Result<bool> {
    let kill: i64 = conn.query_row(
        "UPDATE sandbox_runs SET status = 'RUNNING', agent_pid = ?2, agent_start = ?3,
            started_at = datetime('now'), updated_at = datetime('now')
         WHERE id = ?1 RETURNING kill_requested",
        params![id, agent.pid, agent.start.map(|s| s as i64)],
        |row| row.get(0),
    )?;
    Ok(kill != 0)
}

/// Records the agent's last step and cost so far.
pub fn set_progress(
    conn: &Connection,
    id: &str,
    activity: Option<&str>,
    agent_cost: Option<f64>,
) -> Result<()> {
    conn.execute(
        "UPDATE sandbox_runs SET last_activity = COALESCE(?2, last_activity),
            agent_cost = COALESCE(?3, agent_cost), updated_at = datetime('now')
         WHERE id = ?1",
        params![id, activity, agent_cost],
    )?;
    Ok(())
}

/// Whether another process asked for this run to end.
pub fn kill_requested(conn: &Connection, id: &str) -> Result<bool> {
    let kill: Option<i64> = conn
        .query_row(
            "SELECT kill_requested FROM sandbox_runs WHERE id = ?1",
            [id],
            |row| row.get(0),
        )
        .optional()?;
    Ok(kill.unwrap_or(0) != 0)
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct Ending {
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub branch: Option<String>,
    pub result_commit: Option<String>,
    pub result_worktree: Option<String>,
    pub pull_request_url: Option<String>,
    pub files_changed: Option<i64>,
    pub agent_cost: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_source: Option<&'static str>,
    pub actual_cost: Option<f64>,
    pub last_activity: Option<String>,
}

/// Records the end of a run.
pub fn finish(conn: &Connection, id: &str, status: RunStatus, ending: &Ending) -> Result<()> {
    conn.execute(
        "UPDATE sandbox_runs SET status = ?2, exit_code = ?3, error = ?4, branch = ?5,
            result_commit = ?6, result_worktree = ?7, files_changed = ?8,
            agent_cost = COALESCE(?9, agent_cost), actual_cost = ?10,
            last_activity = COALESCE(?11, last_activity), pull_request_url = ?12,
            input_tokens = ?13, output_tokens = ?14, cost_source = ?15,
            ended_at = datetime('now'), updated_at = datetime('now')
         WHERE id = ?1",
        params![
            id,
            status.as_str(),
            ending.exit_code,
            ending.error,
            ending.branch,
            ending.result_commit,
            ending.result_worktree,
            ending.files_changed,
            ending.agent_cost,
            ending.actual_cost,
            ending.last_activity,
            ending.pull_request_url,
            ending.input_tokens.map(|t| t as i64),
            ending.output_tokens.map(|t| t as i64),
            ending.cost_source,
        ],
    )
    .context("cannot record the end of the sandbox run")?;
    Ok(())
}

/// Asks for a run to end: the flag its own process reads before starting
/// the agent. Returns the run as it is now.
pub fn request_kill(conn: &Connection, id: &str) -> Result<()> {
    conn.execute(
        "UPDATE sandbox_runs SET kill_requested = 1, updated_at = datetime('now') WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

/// Finds a run by its id or a unique prefix of at least 4 characters; an
/// ambiguous prefix is refused with the runs it names.
pub fn find(conn: &Connection, id: &str) -> Result<RunRecord> {
    let id = id.trim();
    if id.len() < crate::ids::MIN_PREFIX || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(UserError::with_hint(
            format!("'{id}' is not a sandbox run id"),
            "give the id or at least its first 4 characters; 'git pcc sandbox list' shows them",
        )
        .into());
    }
    let Some(full) = crate::ids::resolve(
        conn,
        "SELECT id, status || ', created ' || created_at FROM sandbox_runs
         WHERE id = ?1 OR id LIKE ?2 ESCAPE '\\' ORDER BY created_at, id",
        id,
        "sandbox run",
    )?
    else {
        return Err(UserError::with_hint(
            format!("no sandbox run '{id}'"),
            "'git pcc sandbox list' shows the runs",
        )
        .into());
    };
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM sandbox_runs WHERE id = ?1"))?;
    let record = stmt.query_row(params![full], from_row).optional()?;
    let record = record.context("run vanished")?;
    settle(conn, record)
}

/// Runs, newest first.
pub fn list(
    conn: &Connection,
    repo_path: Option<&str>,
    active_only: bool,
    limit: usize,
) -> Result<Vec<RunRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM sandbox_runs WHERE (?1 IS NULL OR repo_path = ?1)
         ORDER BY created_at DESC, rowid DESC LIMIT ?2"
    ))?;
    let rows: Vec<RunRecord> = stmt
        .query_map(params![repo_path, limit as i64], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let row = settle(conn, row)?;
        if !active_only || !row.status.is_final() {
            out.push(row);
        }
    }
    Ok(out)
}

/// The runs of one `--multi` batch, in task order.
pub fn batch(conn: &Connection, batch_id: &str) -> Result<Vec<RunRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM sandbox_runs WHERE batch_id = ?1 ORDER BY task_index"
    ))?;
    let rows = stmt
        .query_map([batch_id], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// A run that claims to go on while the process that owns it is gone
/// ended without saying so: record that.
fn settle(conn: &Connection, mut record: RunRecord) -> Result<RunRecord> {
    if record.status.is_final() {
        return Ok(record);
    }
    let owner_alive = record
        .runner
        .is_some_and(|r| process::is_same_process_alive(r.pid, r.start));
    if owner_alive {
        return Ok(record);
    }
    // Whatever the agent left running ends with the run.
    if record.backend == "local" {
        if let Some(agent) = record.agent {
            super::local::kill_group(agent, None);
        }
    }
    let message = "the process running it ended before it finished";
    conn.execute(
        "UPDATE sandbox_runs SET status = 'FAILED', error = COALESCE(error, ?2),
            ended_at = datetime('now'), updated_at = datetime('now')
         WHERE id = ?1 AND status IN ('PENDING', 'INITIALIZING', 'RUNNING')",
        params![record.id, message],
    )?;
    record.status = RunStatus::Failed;
    record.error.get_or_insert_with(|| message.to_owned());
    Ok(record)
}

/// Starts a queued run (`PENDING` to `INITIALIZING`) unless a kill was
/// asked for first. Returns whether it may go on.
pub fn start_pending(conn: &Connection, id: &str) -> Result<bool> {
    let changed = conn.execute(
        "UPDATE sandbox_runs SET status = 'INITIALIZING', updated_at = datetime('now')
         WHERE id = ?1 AND status = 'PENDING' AND kill_requested = 0",
        [id],
    )?;
    Ok(changed == 1)
}

/// Ends a run that is still queued (no sandbox yet) as killed. Returns
/// whether it was queued; [`start_pending`] will not start it then.
pub fn kill_if_queued(conn: &Connection, id: &str) -> Result<bool> {
    let changed = conn.execute(
        "UPDATE sandbox_runs SET status = 'KILLED', error = COALESCE(error, 'killed before it started'),
            ended_at = COALESCE(ended_at, datetime('now')), updated_at = datetime('now')
         WHERE id = ?1 AND status = 'PENDING' AND sandbox_id IS NULL",
        [id],
    )?;
    Ok(changed == 1)
}

/// Marks a run killed (when its own process is gone and cannot say so).
pub fn mark_killed(conn: &Connection, id: &str) -> Result<()> {
    conn.execute(
        "UPDATE sandbox_runs SET status = 'KILLED', error = COALESCE(error, 'killed'),
            ended_at = COALESCE(ended_at, datetime('now')), updated_at = datetime('now')
         WHERE id = ?1",
        [id],
    )?;
    Ok(())
}
