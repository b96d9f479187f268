//! One sandbox run from start to end: everything is checked first (nothing
//! starts on bad input), then the run is recorded, the workspace packed and
//! uploaded, the baseline committed, the template's setup run, the agent
//! run with its output logged (secrets masked) and parsed, the timeout and
//! budget enforced, and the work brought back.

mod baseline;
mod bring_back;
mod cancel;
mod check;
mod publish;
mod record;
mod slots;
mod step;
mod upload;

use std::fs::File;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use git2::Oid;
use serde::Serialize;

use super::pack::PackManifest;
use super::results::{Collected, Imported};
use super::runs::{self, Ending, RunStatus};
use super::stream::StreamState;
use super::{CommandSpec, Exit, Flow, OutputStream, RunEvent, Sandbox, SandboxInfo};
use crate::db::Database;
use crate::{budget, UserError};
use baseline::commit_baseline;
use bring_back::bring_back;
pub use cancel::{Cancel, INTERRUPTED};
pub use check::{
    check_prompt, plan, read_prompt_file, AuthChoice, BackendKind, BranchChoice, GitLive, Plan,
    RunOptions,
};
use publish::publish;
pub use record::{artifacts, cancel_pending, record_pending};
use record::{end_unstarted, insert_run, write_result, Log};
use slots::Turn;
pub use slots::{AgentSlots, Slot};
use step::run_step;
use upload::upload;

/// One run to make.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub prompt: String,
    /// The batch and the task's number in it (1-based), for `--multi`.
    pub batch: Option<(String, usize)>,
}

impl Task {
    pub fn new(prompt: String) -> Task {
        Task {
            id: uuid::Uuid::new_v4().to_string(),
            prompt,
            batch: None,
        }
    }

    /// The first 8 characters of the id, as branches and worktrees use it.
    pub fn short_id(&self) -> &str {
        &self.id[..8]
    }
}

/// Where the workspace comes from.
pub enum WorkspaceSource<'a> {
    /// Pack the repository now, streaming into the upload.
    Pack,
    /// An archive packed earlier (shared by the tasks of a batch).
    Archive(&'a Path, &'a PackManifest),
}

/// What a run reports while it goes on.
#[derive(Debug, Clone)]
pub enum Progress {
    Status(RunStatus),
    Activity(String),
    Warning(String),
}

/// How a run ended, as `result.json` and `--json` give it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    pub session_id: String,
    pub status: RunStatus,
    pub prompt: String,
    pub task_index: Option<usize>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub worktree: Option<String>,
    pub pull_request: Option<String>,
    pub files_changed: Vec<String>,
    pub commits: Vec<String>,
    /// Files that were uncommitted in the user's checkout when the run
    /// started; the branch begins with a commit of them (see
    /// [`Imported::started_from_uncommitted`]).
    pub started_from_uncommitted: usize,
    /// Work the branch could not carry (changes inside submodules), one
    /// line each; also among the warnings.
    pub not_brought_back: Vec<String>,
    pub duration_seconds: f64,
    pub agent_cost: Option<f64>,
    pub sandbox_cost: f64,
    pub total_cost: f64,
    pub budget_limit: Option<f64>,
    pub last_activity: Option<String>,
    pub turns: Option<u64>,
    pub tool_calls: u64,
    pub result: Option<String>,
    pub dry_run: bool,
    pub uploaded_files: usize,
    pub sandbox: Option<SandboxInfo>,
    pub output_log: String,
    pub patch: Option<String>,
    pub result_file: String,
    pub warnings: Vec<String>,
}

/// Why the agent was stopped.
#[derive(Debug, Clone, PartialEq)]
enum StopReason {
    Killed,
    Cancelled,
    Timeout,
    Budget(f64),
}

/// Makes one run. `pending` says the task was recorded already.
pub fn execute(
    plan: &Plan,
    task: &Task,
    source: WorkspaceSource<'_>,
    pending: bool,
    cancel: &Cancel,
    slots: Option<&AgentSlots>,
    report: &(dyn Fn(&Task, Progress) + Sync),
) -> Result<RunResult> {
    let started = Instant::now();
    let mut deadline = started + plan.timeout;
    // Time spent waiting for an agent slot (--multi): not work, so not in
    // the run's duration, its cost or its timeout.
    let mut waited = Duration::ZERO;
    let mut turn = Turn {
        slots,
        index: task.batch.as_ref().map_or(1, |b| b.1),
        taken: false,
    };
    let mut db = Database::open(&plan.data_dir)?;
    if pending {
        if !runs::start_pending(db.conn(), &task.id)? {
            let result = end_unstarted(
                &db,
                plan,
                task,
                RunStatus::Killed,
                "killed before it started",
            )?;
            report(task, Progress::Status(RunStatus::Killed));
            return Ok(result);
        }
    } else {
        insert_run(&db, plan, task, RunStatus::Initializing)?;
    }
    // What is left of the month's budget now, not when the batch began.
    let budget_limit = match budget::monthly_remaining(db.conn(), &plan.config) {
        Ok(Some(left)) => Some(plan.budget_limit.map_or(left, |l| l.min(left))),
        Ok(None) => plan.budget_limit,
        Err(err) => {
            let message = format!("{err:#}");
            let result = end_unstarted(&db, plan, task, RunStatus::BudgetExceeded, &message)?;
            report(task, Progress::Status(RunStatus::BudgetExceeded));
            return Ok(result);
        }
    };
    report(task, Progress::Status(RunStatus::Initializing));
    let (log_path, result_path, patch_path) = artifacts(&plan.data_dir, &task.id);
    std::fs::create_dir_all(log_path.parent().context("run directory")?)?;
    let mut log = Log {
        file: File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot write {}", log_path.display()))?,
        redactor: plan.redactor.clone(),
    };
    let mut warnings = Vec::new();
    let mut state = StreamState::default();
    let mut uploaded_files = 0;
    let mut sandbox_info = None;

    let backend = plan.backend();
    // The sandbox lives outside the steps so that it is cleaned up (and,
    // in the cloud, removed) also when a step fails.
    let mut live: Option<Box<dyn Sandbox>> = None;
    let outcome = (|| -> Result<Outcome> {
        let sandbox: &dyn Sandbox = &**live.insert(backend.create(&task.id)?);
        let info = sandbox.info();
        runs::set_sandbox(db.conn(), &task.id, &info.sandbox_id, &info.workspace)?;
        log.line(
            "[sandbox] ",
            &format!(
                "{} sandbox {} (confinement: {})",
                info.backend, info.sandbox_id, info.confinement
            ),
        );
        sandbox_info = Some(info);
        let manifest = upload(plan, sandbox, &source)?;
        uploaded_files = manifest.files;
        log.line(
            "[sandbox] ",
            &format!(
                "uploaded {} files ({} bytes); left out: {}",
                manifest.files,
                manifest.bytes,
                if manifest.excluded.is_empty() {
                    "nothing".to_owned()
                } else {
                    manifest.excluded.join(", ")
                }
            ),
        );
        let baseline = match commit_baseline(plan, sandbox, &mut log, deadline) {
            Ok(baseline) => baseline,
            // The preparation was stopped by the deadline: a timeout.
            Err(_) if Instant::now() >= deadline => {
                return Ok(Outcome {
                    status: RunStatus::Timeout,
                    exit: None,
                    error: Some(timeout_error(plan)),
                    baseline: None,
                    sandbox: None,
                    keep: false,
                })
            }
            Err(err) => return Err(err),
        };
        if plan.dry_run {
            return Ok(Outcome {
                status: RunStatus::Completed,
                exit: None,
                error: None,
                baseline: Some(baseline),
                sandbox: None,
                keep: true,
            });
        }
        for (path, bytes) in &plan.private_files {
            sandbox.write_private_file(path, bytes)?;
            log.line("[sandbox] ", &format!("wrote ~/{path} (mode 600)"));
        }
        if let Some(template) = &plan.template {
            for command in &template.setup_commands {
                log.line("[setup] $ ", command);
                let exit = run_step(
                    plan,
                    sandbox,
                    &["sh".to_owned(), "-c".to_owned(), command.clone()],
                    &mut log,
                    "[setup] ",
                    deadline,
                    cancel,
                    &mut Vec::new(),
                )?;
                if !exit.success() {
                    let timed_out = exit.stopped && Instant::now() >= deadline;
                    let cancelled = exit.stopped && !timed_out && cancel.is_cancelled();
                    return Ok(Outcome {
                        status: if timed_out {
                            RunStatus::Timeout
                        } else if cancelled {
                            RunStatus::Killed
                        } else {
                            RunStatus::Failed
                        },
                        exit: Some(exit),
                        error: Some(if timed_out {
                            format!("{} (in setup command: {command})", timeout_error(plan))
                        } else if cancelled {
                            cancel.reason()
                        } else {
                            format!("setup command failed: {command}")
                        }),
                        baseline: Some(baseline),
                        sandbox: None,
                        keep: false,
                    });
                }
            }
        }
        // With --multi, the agent waits for a free slot; the wait does not
        // count against its timeout.
        let waiting = Instant::now();
        turn.taken = true;
        let mut pending = false;
        let slot = slots.and_then(|s| {
            s.acquire(turn.index, cancel, &mut || {
                // Prepared, waiting for a free slot: say so once; a kill
                // from another process ends the wait.
                if !pending {
                    pending = true;
                    let _ = runs::set_status(db.conn(), &task.id, RunStatus::Pending);
                    report(task, Progress::Status(RunStatus::Pending));
                }
                runs::kill_requested(db.conn(), &task.id).unwrap_or(false)
            })
        });
        waited = waiting.elapsed();
        deadline += waited;
        let killed = runs::kill_requested(db.conn(), &task.id)?;
        if cancel.is_cancelled() || killed {
            return Ok(Outcome {
                status: if killed {
                    RunStatus::Killed
                } else {
                    RunStatus::Cancelled
                },
                exit: None,
                error: Some(if killed {
                    "killed".to_owned()
                } else {
                    cancel.reason()
                }),
                baseline: Some(baseline),
                sandbox: None,
                keep: false,
            });
        }

        // The agent.
        let argv = plan.agent_argv(&task.prompt);
        let mut env = plan.env.clone();
        env.push(("PARALLEL_CC_SANDBOX_ID".to_owned(), task.id.clone()));
        let spec = CommandSpec { argv, env };
        let mut stop: Option<StopReason> = None;
        let mut last_write = Instant::now();
        let mut warned = 0.0_f64;
        let mut last_kill_check = Instant::now();
        let thresholds = plan.config.number_list("budget.warningThresholds");
        let exit = sandbox.run(&spec, &mut |event| {
            match event {
                RunEvent::Started(handle) => {
                    report(task, Progress::Status(RunStatus::Running));
                    match runs::set_agent(db.conn(), &task.id, handle) {
                        Ok(true) => stop = Some(StopReason::Killed),
                        Ok(false) => {}
                        Err(err) => {
                            log.line("[sandbox] ", &format!("cannot record the agent: {err:#}"))
                        }
                    }
                }
                RunEvent::Line(stream, line) => {
                    let prefix = if stream == OutputStream::Stderr {
                        "[stderr] "
                    } else {
                        ""
                    };
                    log.line(prefix, line);
                    if stream == OutputStream::Stdout {
                        let clean = plan.redactor.redact(line);
                        if let Some(activity) = state.observe(&clean) {
                            report(task, Progress::Activity(activity));
                        }
                    }
                }
                RunEvent::Tick => {}
            }
            if stop.is_none() {
                if cancel.is_cancelled() {
                    stop = Some(StopReason::Cancelled);
                } else if Instant::now() >= deadline {
                    stop = Some(StopReason::Timeout);
                } else if last_kill_check.elapsed() >= Duration::from_millis(500) {
                    last_kill_check = Instant::now();
                    if runs::kill_requested(db.conn(), &task.id).unwrap_or(false) {
                        stop = Some(StopReason::Killed);
                    }
                }
            }
            let cost = budget::run_cost(
                state.agent_cost,
                started.elapsed().saturating_sub(waited).as_secs_f64(),
                plan.hourly_rate,
            );
            if let Some(limit) = budget_limit.filter(|l| *l > 0.0) {
                let used = cost / limit;
                if let Some(t) = thresholds
                    .iter()
                    .copied()
                    .filter(|t| used >= *t && *t > warned)
                    .reduce(f64::max)
                {
                    warned = t;
                    let message = format!(
                        "run budget: {:.0}% of ${limit:.2} used (${cost:.4})",
                        t * 100.0
                    );
                    log.line("[budget] ", &message);
                    report(task, Progress::Warning(message));
                }
                if stop.is_none() && cost >= limit {
                    stop = Some(StopReason::Budget(limit));
                }
            }
            if last_write.elapsed() >= Duration::from_millis(500) {
                last_write = Instant::now();
                let _ = runs::set_progress(
                    db.conn(),
                    &task.id,
                    state.last_activity.as_deref(),
                    state.agent_cost,
                );
            }
            if stop.is_some() {
                Flow::Stop
            } else {
                Flow::Continue
            }
        })?;
        let killed_elsewhere = runs::kill_requested(db.conn(), &task.id)?;
        let (status, error) = match (&stop, killed_elsewhere) {
            (Some(StopReason::Killed), _) | (_, true) => {
                (RunStatus::Killed, Some("killed".to_owned()))
            }
            (Some(StopReason::Cancelled), _) => (RunStatus::Killed, Some(cancel.reason())),
            (Some(StopReason::Timeout), _) => (RunStatus::Timeout, Some(timeout_error(plan))),
            (Some(StopReason::Budget(limit)), _) => (
                RunStatus::BudgetExceeded,
                Some(format!("stopped at its budget of ${limit:.2}")),
            ),
            (None, false) if exit.code == Some(0) && state.is_error != Some(true) => {
                (RunStatus::Completed, None)
            }
            (None, false) if exit.code == Some(0) => (
                RunStatus::Failed,
                Some(format!(
                    "the agent reported an error: {}",
                    state.result.as_deref().map(one_line).unwrap_or_default()
                )),
            ),
            (None, false) => (
                RunStatus::Failed,
                Some(match (exit.code, exit.signal) {
                    (Some(code), _) => format!("the agent exited with code {code}"),
                    (None, Some(signal)) => format!("the agent was ended by signal {signal}"),
                    _ => "the agent ended abnormally".to_owned(),
                }),
            ),
        };
        // Said before the slot is free, so that --fail-fast stops the next
        // task before its agent can start.
        report(task, Progress::Status(status));
        drop(slot);
        Ok(Outcome {
            status,
            exit: Some(exit),
            error,
            baseline: Some(baseline),
            sandbox: None,
            keep: false,
        })
    })();

    let mut outcome = match outcome {
        Ok(outcome) => outcome,
        Err(err) => {
            let mut message = format!("{err:#}");
            if let Some(hint) = err
                .downcast_ref::<UserError>()
                .and_then(|e| e.hint.as_ref())
            {
                message.push_str(&format!(" (hint: {hint})"));
            }
            let message = plan.redactor.redact(&message).into_owned();
            log.line("[sandbox] error: ", &message);
            // Killed from another process: the sandbox went away under
            // the run, which is how the kill shows here.
            let kill_requested = runs::kill_requested(db.conn(), &task.id).unwrap_or(false);
            Outcome {
                status: if kill_requested || INTERRUPTED.load(Ordering::SeqCst) {
                    RunStatus::Killed
                } else {
                    RunStatus::Failed
                },
                exit: None,
                error: Some(if kill_requested {
                    "killed".to_owned()
                } else {
                    message
                }),
                baseline: None,
                sandbox: None,
                keep: true,
            }
        }
    };

    outcome.sandbox = live;

    // Known now, before the work is brought back: `--fail-fast` acts on it.
    report(task, Progress::Status(outcome.status));
    // Credentials and keys go as soon as the agent is done.
    if let Some(sandbox) = &outcome.sandbox {
        for (path, _) in &plan.private_files {
            if let Err(err) = sandbox.remove_file(path) {
                warnings.push(format!("cannot remove ~/{path} from the sandbox: {err:#}"));
            }
        }
    }

    // Bring the work back.
    let mut collected = Collected::default();
    let mut imported = Imported::default();
    let mut patch = None;
    if let (Some(sandbox), Some(baseline)) = (&outcome.sandbox, outcome.baseline) {
        if !plan.dry_run {
            match bring_back(plan, task, sandbox.as_ref(), baseline, &outcome, &mut log) {
                Ok((c, i)) => {
                    collected = c;
                    imported = i;
                }
                Err(err) => {
                    let message = plan.redactor.redact(&format!("{err:#}")).into_owned();
                    log.line("[sandbox] cannot bring the work back: ", &message);
                    // A run that ended otherwise keeps its own status (a
                    // killed cloud sandbox has nothing left to bring back).
                    if outcome.status == RunStatus::Completed {
                        outcome.status = RunStatus::Failed;
                        outcome.error = Some(format!("cannot bring the work back: {message}"));
                    }
                    outcome.keep = true;
                }
            }
            if let (Some(live), Some(branch)) = (
                &plan.git_live,
                imported.commit.as_ref().and(imported.branch.clone()),
            ) {
                match publish(plan, live, task, &branch, &collected) {
                    Ok(url) => {
                        log.line("[git-live] pull request: ", &url);
                        imported.pull_request = Some(url);
                    }
                    Err(err) => {
                        let message = plan.redactor.redact(&format!("{err:#}")).into_owned();
                        log.line("[git-live] ", &message);
                        outcome.status = RunStatus::Failed;
                        outcome.error = Some(format!(
                            "the work is on branch {branch}, but publishing it failed: {message}"
                        ));
                    }
                }
            }
            if !collected.patch.is_empty() {
                // Masked as it was read, as every path of the work is.
                crate::config::write_atomically(&patch_path, collected.patch.as_bytes())?;
                patch = Some(patch_path.display().to_string());
            }
            if !collected.not_brought_back.is_empty() {
                for line in &collected.not_brought_back {
                    log.line("[results] warning: not brought back: ", line);
                    warnings.push(format!("not brought back: {line}"));
                }
                // The one copy of that work stays where it is (a cloud
                // sandbox has no local workspace to keep).
                if sandbox.local_path("").is_some() {
                    outcome.keep = true;
                    let kept = format!(
                        "the sandbox's workspace is kept: {}",
                        sandbox.info().workspace
                    );
                    log.line("[results] ", &kept);
                    warnings.push(kept);
                }
            }
        }
    }
    if let Some(sandbox) = &outcome.sandbox {
        // A cloud sandbox costs money while it lives: it always goes.
        if !outcome.keep || plan.backend_kind == BackendKind::E2b {
            if let Err(err) = sandbox.destroy() {
                warnings.push(format!("cannot remove the sandbox: {err:#}"));
            }
        }
    }

    let seconds = started.elapsed().saturating_sub(waited).as_secs_f64();
    let cost = budget::run_cost(state.agent_cost, seconds, plan.hourly_rate);
    match budget::record(db.conn(), &plan.config, cost) {
        Ok(w) => warnings.extend(w),
        Err(err) => warnings.push(format!("cannot record spending: {err:#}")),
    }
    // What failed may name the agent's files, and so its secrets.
    let warnings: Vec<String> = warnings
        .iter()
        .map(|w| plan.redactor.redact(w).into_owned())
        .collect();
    outcome.error = outcome.error.map(|e| plan.redactor.redact(&e).into_owned());
    for warning in &warnings {
        report(task, Progress::Warning(warning.clone()));
    }
    let ending = Ending {
        exit_code: outcome.exit.and_then(|e| e.code).map(i64::from),
        error: outcome.error.clone(),
        branch: imported.branch.clone(),
        result_commit: imported.commit.clone(),
        result_worktree: imported.worktree.clone(),
        pull_request_url: imported.pull_request.clone(),
        files_changed: Some(collected.files.len() as i64),
        agent_cost: state.agent_cost,
        actual_cost: Some(cost),
        last_activity: state.last_activity.clone(),
    };
    log.line(
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

    let result = RunResult {
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
        sandbox_cost: cost - state.agent_cost.unwrap_or(0.0),
        total_cost: cost,
        budget_limit,
        last_activity: state.last_activity.clone(),
        turns: state.turns,
        tool_calls: state.tool_calls,
        result: state
            .result
            .as_deref()
            .map(|r| plan.redactor.redact(r).into_owned()),
        dry_run: plan.dry_run,
        uploaded_files,
        sandbox: sandbox_info,
        output_log: log_path.display().to_string(),
        patch,
        result_file: result_path.display().to_string(),
        warnings,
    };
    // The run is recorded as ended only once its log, patch and result
    // are all written: whoever sees it ended (logs --follow, kill,
    // download) finds them complete.
    let written = write_result(&result_path, &result);
    db.immediate(|tx| runs::finish(tx, &task.id, result.status, &ending))?;
    report(task, Progress::Status(result.status));
    written?;
    Ok(result)
}

struct Outcome {
    status: RunStatus,
    exit: Option<Exit>,
    error: Option<String>,
    baseline: Option<Oid>,
    sandbox: Option<Box<dyn Sandbox>>,
    /// Keep the sandbox's workspace (dry runs, work that could not come back).
    keep: bool,
}

/// The error of a run stopped at its timeout.
fn timeout_error(plan: &Plan) -> String {
    // Whole minutes as such, fractions (--timeout 0.5) kept.
    let minutes = format!("{:.6}", plan.timeout.as_secs_f64() / 60.0);
    let minutes = minutes.trim_end_matches('0').trim_end_matches('.');
    format!("stopped after the timeout of {minutes} minutes")
}

fn one_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}
