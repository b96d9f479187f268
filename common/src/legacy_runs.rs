//! The E2B sessions the TypeScript tool recorded: rows of `sessions` with
//! `execution_mode = 'e2b'`, each one sandbox run with its sandbox id,
//! status and cost. We record our runs in `sandbox_runs`; these rows are
//! only read, so that `status --sandbox-only` and `budget status` list them
//! beside our runs as the TypeScript tool did.

use anyhow::Result;
use rusqlite::Connection;

/// One E2B session row of the TypeScript tool.
#[derive(Debug, Clone)]
pub struct LegacyRun {
    pub id: String,
    pub pid: i64,
    pub repo_path: String,
    pub worktree_path: String,
    pub worktree_name: Option<String>,
    pub is_main_repo: bool,
    pub created_at: String,
    pub last_heartbeat: String,
    pub sandbox_id: Option<String>,
    pub status: Option<String>,
    pub budget_limit: Option<f64>,
    pub cost_estimate: Option<f64>,
}

/// The E2B sessions of one repository (or of all with `None`), newest
/// first.
pub fn list(conn: &Connection, repo_path: Option<&str>) -> Result<Vec<LegacyRun>> {
    let mut stmt = conn.prepare(
        "SELECT id, pid, repo_path, worktree_path, worktree_name, is_main_repo, created_at,
                last_heartbeat, sandbox_id, status, budget_limit, cost_estimate
         FROM sessions WHERE execution_mode = 'e2b' AND (?1 IS NULL OR repo_path = ?1)
         ORDER BY created_at DESC, rowid DESC",
    )?;
    let rows = stmt.query_map([repo_path], |row| {
        Ok(LegacyRun {
            id: row.get(0)?,
            pid: row.get(1)?,
            repo_path: row.get(2)?,
            worktree_path: row.get(3)?,
            worktree_name: row.get(4)?,
            is_main_repo: row.get::<_, i64>(5)? != 0,
            created_at: row.get(6)?,
            last_heartbeat: row.get(7)?,
            sandbox_id: row.get(8)?,
            status: row.get(9)?,
            budget_limit: row.get(10)?,
            cost_estimate: row.get(11)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
