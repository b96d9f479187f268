//! The record stage, at both ends of a run: its row in the database and
//! the files it leaves in its directory (`output.log`, `result.json`,
//! `changes.patch`). A run is recorded as ended only once those files are
//! written.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::super::local;
use super::super::runs::{self, Ending, NewRun, RunStatus};
use super::super::Sandbox;
use super::bring_back::Work;
use super::{Outcome, Plan, Progress, Run, RunResult, Task};
use crate::db::Database;
use crate::redact::Redactor;

/// The run's log: every line with secrets masked, flushed at once so that
/// `logs --follow` sees it.
pub(super) struct Log {
    file: File,
    redactor: Redactor,
}

impl Log {
    /// Opens the log to append to it.
    pub(super) fn open(path: &Path, redactor: Redactor) -> Result<Log> {
        Ok(Log {
            file: File::options()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
            redactor,
        })
    }

    pub(super) fn line(&mut self, prefix: &str, text: &str) {
        let text = self.redactor.redact(text);
        let _ = writeln!(self.file, "{prefix}{text}");
    }
}

/// How the record stage went.
pub(super) enum Start {
    /// The run goes on, with this budget.
    Started { budget_limit: Option<f64> },
    /// The run ended before it started.
    Ended(Box<RunResult>),
}

/// The record stage at the start: the run recorded as initializing (a
/// task recorded as waiting starts, unless it was killed meanwhile), with
/// its budget within what is left of the month's now, not when the batch
/// began.
pub(super) fn start(db: &Database, plan: &Plan, task: &Task, pending: bool) -> Result<Start> {
    if pending {
        if !runs::start_pending(db.conn(), &task.id)? {
            let result = end_unstarted(
                db,
                plan,
                task,
                RunStatus::Killed,
                "killed before it started",
            )?;
            return Ok(Start::Ended(Box::new(result)));
        }
    } else {
        insert_run(db, plan, task, RunStatus::Initializing)?;
    }
    let budget_limit = match crate::budget::monthly_remaining(db.conn(), &plan.config) {
        Ok(Some(left)) => Some(plan.budget_limit.map_or(left, |l| l.min(left))),
        Ok(None) => plan.budget_limit,
        Err(err) => {
            let message = format!("{err:#}");
            let result = end_unstarted(db, plan, task, RunStatus::BudgetExceeded, &message)?;
            return Ok(Start::Ended(Box::new(result)));
        }
    };
    Ok(Start::Started { budget_limit })
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

fn insert_run(db: &Database, plan: &Plan, task: &Task, status: RunStatus) -> Result<()> {
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
            agent: &plan.agent.name,
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
fn end_unstarted(
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
            agent: plan.agent.name.clone(),
            input_tokens: None,
            output_tokens: None,
            cost_source: None,
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

fn write_result(path: &Path, result: &RunResult) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(result)? + "\n";
    crate::config::write_atomically(path, text.as_bytes())
}

impl Run<'_> {
    /// Records the new sandbox, so that another process can kill the run.
    pub(super) fn record_sandbox(&mut self, sandbox: &dyn Sandbox) -> Result<()> {
        let info = sandbox.info();
        runs::set_sandbox(
            self.db.conn(),
            &self.task.id,
            &info.sandbox_id,
            &info.workspace,
        )?;
        self.log.line(
            "[sandbox] ",
            &format!(
                "{} sandbox {} (confinement: {})",
                info.backend, info.sandbox_id, info.confinement
            ),
        );
        self.sandbox_info = Some(info);
        Ok(())
    }

    /// The record stage at the end: the cost counted against the budget,
    /// the warnings and the error masked and reported, `result.json`
    /// written, then the run recorded as ended.
    pub(super) fn finish(mut self, mut outcome: Outcome, work: Work) -> Result<RunResult> {
        let plan = self.plan;
        let seconds = self.working_seconds();
        self.state
            .settle_cost(&plan.config, plan.agent.model.as_deref());
        let cost = self.cost(seconds);
        match crate::budget::record(self.db.conn(), &plan.config, cost) {
            Ok(w) => self.warnings.extend(w),
            Err(err) => self
                .warnings
                .push(format!("cannot record spending: {err:#}")),
        }
        // What failed may name the agent's files, and so its secrets.
        let warnings: Vec<String> = self
            .warnings
            .iter()
            .map(|w| plan.redactor.redact(w).into_owned())
            .collect();
        outcome.error = outcome.error.map(|e| plan.redactor.redact(&e).into_owned());
        for warning in &warnings {
            self.report(Progress::Warning(warning.clone()));
        }
        let ending = self.ending(&outcome, &work, cost);
        self.log.line(
            "[sandbox] ",
            &format!(
                "{} after {seconds:.1}s{}",
                outcome.status.as_str(),
                outcome
                    .error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        );
        let result = self.result(outcome, work, seconds, cost, warnings);
        // The run is recorded as ended only once its log, patch and result
        // are all written: whoever sees it ended (logs --follow, kill,
        // download) finds them complete.
        let (_, result_path, _) = artifacts(&plan.data_dir, &self.task.id);
        let written = write_result(&result_path, &result);
        self.db
            .immediate(|tx| runs::finish(tx, &self.task.id, result.status, &ending))?;
        self.report(Progress::Status(result.status));
        written?;
        Ok(result)
    }

    /// The run's end as the database records it.
    fn ending(&self, outcome: &Outcome, work: &Work, cost: f64) -> Ending {
        Ending {
            exit_code: outcome.exit.and_then(|e| e.code).map(i64::from),
            error: outcome.error.clone(),
            branch: work.imported.branch.clone(),
            result_commit: work.imported.commit.clone(),
            result_worktree: work.imported.worktree.clone(),
            pull_request_url: work.imported.pull_request.clone(),
            files_changed: Some(work.collected.files.len() as i64),
            agent_cost: self.state.agent_cost,
            input_tokens: self.state.input_tokens,
            output_tokens: self.state.output_tokens,
            cost_source: self.state.cost_source,
            actual_cost: Some(cost),
            last_activity: self.state.last_activity.clone(),
        }
    }

    /// The run's result, as `result.json` and `--json` give it.
    fn result(
        &mut self,
        outcome: Outcome,
        work: Work,
        seconds: f64,
        cost: f64,
        warnings: Vec<String>,
    ) -> RunResult {
        let (plan, task, state) = (self.plan, self.task, &self.state);
        let (log_path, result_path, _) = artifacts(&plan.data_dir, &task.id);
        let Work {
            collected,
            imported,
            patch,
        } = work;
        RunResult {
            session_id: task.id.clone(),
            status: outcome.status,
            prompt: plan.redactor.redact(&task.prompt).into_owned(),
            task_index: task.batch.as_ref().map(|b| b.1),
            exit_code: outcome.exit.and_then(|e| e.code),
            error: outcome.error,
            branch: imported.branch,
            commit: imported.commit,
            worktree: imported.worktree,
            pull_request: imported.pull_request,
            files_changed: collected.files,
            commits: collected.commits,
            started_from_uncommitted: imported.started_from_uncommitted,
            not_brought_back: collected.not_brought_back,
            duration_seconds: (seconds * 1000.0).round() / 1000.0,
            agent_cost: state.agent_cost,
            agent: plan.agent.name.clone(),
            input_tokens: state.input_tokens,
            output_tokens: state.output_tokens,
            cost_source: state.cost_source,
            sandbox_cost: cost - state.agent_cost.unwrap_or(0.0),
            total_cost: cost,
            budget_limit: self.budget_limit,
            last_activity: state.last_activity.clone(),
            turns: state.turns,
            tool_calls: state.tool_calls,
            result: state
                .result
                .as_deref()
                .map(|r| plan.redactor.redact(r).into_owned()),
            dry_run: plan.dry_run,
            uploaded_files: self.uploaded_files,
            sandbox: self.sandbox_info.take(),
            output_log: log_path.display().to_string(),
            patch,
            result_file: result_path.display().to_string(),
            warnings,
        }
    }
}
