//! The run's record: its row in the database and the files it leaves in
//! its directory (`output.log`, `result.json`, `changes.patch`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::super::local;
use super::super::runs::{self, Ending, NewRun, RunStatus};
use super::{Plan, RunResult, Task};
use crate::db::Database;
use crate::redact::Redactor;

/// The run's log: every line with secrets masked, flushed at once so that
/// `logs --follow` sees it.
pub(super) struct Log {
    pub(super) file: File,
    pub(super) redactor: Redactor,
}

impl Log {
    pub(super) fn line(&mut self, prefix: &str, text: &str) {
        let text = self.redactor.redact(text);
        let _ = writeln!(self.file, "{prefix}{text}");
    }
}

/// The files a run leaves in its directory.
pub fn artifacts(data_dir: &Path, run_id: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = local::run_dir(data_dir, run_id);
    (
        dir.join("output.log"),
        dir.join("result.json"),
        dir.join("changes.patch"),
    )
}

/// Records a task as waiting (`--multi` records all tasks before starting).
pub fn record_pending(db: &Database, plan: &Plan, task: &Task) -> Result<()> {
    insert_run(db, plan, task, RunStatus::Pending)
}

pub(super) fn insert_run(db: &Database, plan: &Plan, task: &Task, status: RunStatus) -> Result<()> {
    let (log_path, _, _) = artifacts(&plan.data_dir, &task.id);
    let prompt = plan.redactor.redact(&task.prompt);
    runs::insert(
        db.conn(),
        &NewRun {
            id: &task.id,
            repo_path: &plan.repo_path.display().to_string(),
            backend: plan.backend_kind.as_str(),
            batch: task.batch.as_ref().map(|(b, i)| (b.as_str(), *i)),
            prompt: &prompt,
            template_name: plan.template.as_ref().map(|t| t.name.as_str()),
            auth_method: plan.auth,
            status,
            output_log: &log_path.display().to_string(),
            base_commit: &plan.base_commit.to_string(),
            git_user: &plan.git_user,
            git_email: &plan.git_email,
            ssh_key_provided: plan.ssh_key_provided,
            budget_limit: plan.budget_limit,
        },
    )
}

/// Marks a queued task cancelled without starting it.
pub fn cancel_pending(db: &Database, plan: &Plan, task: &Task, reason: &str) -> Result<RunResult> {
    end_unstarted(db, plan, task, RunStatus::Cancelled, reason)
}

/// Ends a recorded run that never started.
pub(super) fn end_unstarted(
    db: &Database,
    plan: &Plan,
    task: &Task,
    status: RunStatus,
    reason: &str,
) -> Result<RunResult> {
    let (_, result_path, _) = artifacts(&plan.data_dir, &task.id);
    runs::finish(
        db.conn(),
        &task.id,
        status,
        &Ending {
            error: Some(reason.to_owned()),
            ..Ending::default()
        },
    )?;
    let result = RunResult::unstarted(plan, task, status, reason);
    write_result(&result_path, &result)?;
    Ok(result)
}

impl RunResult {
    /// The result of a task that never started (`reason` says why).
    pub fn unstarted(plan: &Plan, task: &Task, status: RunStatus, reason: &str) -> RunResult {
        let (log, result_file, _) = artifacts(&plan.data_dir, &task.id);
        RunResult {
            session_id: task.id.clone(),
            status,
            prompt: plan.redactor.redact(&task.prompt).into_owned(),
            task_index: task.batch.as_ref().map(|b| b.1),
            exit_code: None,
            error: Some(plan.redactor.redact(reason).into_owned()),
            branch: None,
            commit: None,
            worktree: None,
            pull_request: None,
            files_changed: Vec::new(),
            commits: Vec::new(),
            started_from_uncommitted: 0,
            not_brought_back: Vec::new(),
            duration_seconds: 0.0,
            agent_cost: None,
            sandbox_cost: 0.0,
            total_cost: 0.0,
            budget_limit: plan.budget_limit,
            last_activity: None,
            turns: None,
            tool_calls: 0,
            result: None,
            dry_run: plan.dry_run,
            uploaded_files: 0,
            sandbox: None,
            output_log: log.display().to_string(),
            patch: None,
            result_file: result_file.display().to_string(),
            warnings: Vec::new(),
        }
    }
}

pub(super) fn write_result(path: &Path, result: &RunResult) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(result)? + "\n";
    crate::config::write_atomically(path, text.as_bytes())
}
