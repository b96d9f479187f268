//! One sandbox run from start to end, as a sequence of stages, each in a
//! module of its own:
//!
//! 1. check ([`plan`], `check.rs`): everything is checked first, nothing
//!    starts on bad input;
//! 2. record (`record.rs`): the run is recorded, its log opened;
//! 3. pack and upload (`upload.rs`): the workspace goes into a new sandbox;
//! 4. baseline (`baseline.rs`): it is committed there;
//! 5. setup (`setup.rs`): the private files and the template's setup
//!    commands;
//! 6. agent (`agent.rs`): the agent runs with its output logged (secrets
//!    masked) and parsed, the timeout and budget enforced;
//! 7. bring back (`bring_back.rs`): the work comes back into the user's
//!    repository;
//! 8. publish (`publish.rs`): with `--git-live`, its branch is pushed and a
//!    pull request opened;
//!
//! then the sandbox is removed and the run's end recorded (`record.rs`).
//! The stages meet the backends only through [`Backend`] and [`Sandbox`].

mod agent;
mod baseline;
mod bring_back;
mod cancel;
mod check;
mod publish;
mod record;
mod setup;
mod slots;
mod step;
mod upload;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use git2::Oid;
use serde::Serialize;

use super::pack::PackManifest;
use super::runs::{self, RunStatus};
use super::stream::StreamState;
use super::{Backend, Exit, Sandbox, SandboxInfo};
use crate::db::Database;
use crate::UserError;
use bring_back::Work;
pub use cancel::{Cancel, INTERRUPTED};
pub use check::{
    check_prompt, plan, read_prompt_file, AuthChoice, BackendKind, BranchChoice, GitLive, Plan,
    RunOptions,
};
pub use record::{artifacts, cancel_pending, record_pending};
use record::{Log, Start};
use slots::Turn;
pub use slots::{AgentSlots, Slot};

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
    /// The agent profile that ran.
    pub agent: String,
    /// Tokens the agent reported.
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Where `agentCost` comes from: `reported` (by the agent, in USD),
    /// `estimated` (its tokens at config `agents.prices`), or `tokens`
    /// (no price for its model: only the tokens are known).
    pub cost_source: Option<&'static str>,
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
    let mut turn = Turn {
        slots,
        index: task.batch.as_ref().map_or(1, |b| b.1),
        taken: false,
    };
    let db = Database::open(&plan.data_dir)?;
    let budget_limit = match record::start(&db, plan, task, pending)? {
        Start::Started { budget_limit } => budget_limit,
        Start::Ended(result) => {
            report(task, Progress::Status(result.status));
            return Ok(*result);
        }
    };
    report(task, Progress::Status(RunStatus::Initializing));
    let mut run = Run::new(plan, task, cancel, report, db, started, budget_limit)?;

    let backend = plan.backend();
    // The sandbox lives outside the stages so that it is cleaned up (and,
    // in the cloud, removed) also when a stage fails.
    let mut live: Option<Box<dyn Sandbox>> = None;
    let mut outcome = match run.in_sandbox(&*backend, &mut live, &source, &mut turn) {
        Ok(outcome) => outcome,
        Err(err) => run.failure(&err),
    };

    // Known now, before the work is brought back: `--fail-fast` acts on it.
    run.report(Progress::Status(outcome.status));
    if let Some(sandbox) = live.as_deref() {
        run.remove_private_files(sandbox);
    }
    let work = match (live.as_deref(), outcome.baseline) {
        (Some(sandbox), Some(baseline)) if !plan.dry_run => {
            let mut work = run.bring_back(sandbox, baseline, &mut outcome);
            run.publish(&mut work, &mut outcome);
            run.save_patch(&mut work)?;
            run.report_not_brought_back(sandbox, &work, &mut outcome);
            work
        }
        _ => Work::default(),
    };
    if let Some(sandbox) = live.as_deref() {
        run.remove_sandbox(sandbox, &outcome);
    }
    run.finish(outcome, work)
}

/// What the stages of one run share.
struct Run<'a> {
    plan: &'a Plan,
    task: &'a Task,
    cancel: &'a Cancel,
    on_progress: &'a (dyn Fn(&Task, Progress) + Sync),
    db: Database,
    log: Log,
    started: Instant,
    /// When the run is stopped; moved on by the time spent waiting for an
    /// agent slot.
    deadline: Instant,
    /// Time spent waiting for an agent slot (--multi): not work, so not in
    /// the run's duration, its cost or its timeout.
    waited: Duration,
    /// The run's budget, within what is left of the month's.
    budget_limit: Option<f64>,
    /// What the agent's output says.
    state: StreamState,
    uploaded_files: usize,
    sandbox_info: Option<SandboxInfo>,
    warnings: Vec<String>,
}

/// How the stages in the sandbox ended.
struct Outcome {
    status: RunStatus,
    exit: Option<Exit>,
    error: Option<String>,
    baseline: Option<Oid>,
    /// Keep the sandbox's workspace (dry runs, work that could not come back).
    keep: bool,
}

impl<'a> Run<'a> {
    /// Opens the run's log: the run begins.
    fn new(
        plan: &'a Plan,
        task: &'a Task,
        cancel: &'a Cancel,
        on_progress: &'a (dyn Fn(&Task, Progress) + Sync),
        db: Database,
        started: Instant,
        budget_limit: Option<f64>,
    ) -> Result<Run<'a>> {
        let (log_path, _, _) = artifacts(&plan.data_dir, &task.id);
        std::fs::create_dir_all(log_path.parent().context("run directory")?)?;
        Ok(Run {
            plan,
            task,
            cancel,
            on_progress,
            db,
            log: Log::open(&log_path, plan.redactor.clone())?,
            started,
            deadline: started + plan.timeout,
            waited: Duration::ZERO,
            budget_limit,
            state: StreamState::for_output(plan.agent.output),
            uploaded_files: 0,
            sandbox_info: None,
            warnings: Vec::new(),
        })
    }

    fn report(&self, progress: Progress) {
        (self.on_progress)(self.task, progress);
    }

    /// The stages in a new sandbox (kept in `live`), up to the agent's end:
    /// pack and upload, baseline, setup, agent.
    fn in_sandbox(
        &mut self,
        backend: &dyn Backend,
        live: &mut Option<Box<dyn Sandbox>>,
        source: &WorkspaceSource,
        turn: &mut Turn,
    ) -> Result<Outcome> {
        let sandbox: &dyn Sandbox = &**live.insert(backend.create(&self.task.id)?);
        self.record_sandbox(sandbox)?;
        self.pack_and_upload(sandbox, source)?;
        let baseline = match self.baseline(sandbox) {
            Ok(baseline) => baseline,
            // The preparation was stopped by the deadline: a timeout.
            Err(_) if Instant::now() >= self.deadline => {
                return Ok(Outcome {
                    status: RunStatus::Timeout,
                    exit: None,
                    error: Some(timeout_error(self.plan)),
                    baseline: None,
                    keep: false,
                })
            }
            Err(err) => return Err(err),
        };
        if self.plan.dry_run {
            return Ok(Outcome {
                status: RunStatus::Completed,
                exit: None,
                error: None,
                baseline: Some(baseline),
                keep: true,
            });
        }
        if let Some(outcome) = self.setup(sandbox, baseline)? {
            return Ok(outcome);
        }
        self.agent(sandbox, baseline, turn)
    }

    /// The outcome of a stage that failed: the error logged, the
    /// workspace kept.
    fn failure(&mut self, err: &anyhow::Error) -> Outcome {
        let mut message = format!("{err:#}");
        if let Some(hint) = err
            .downcast_ref::<UserError>()
            .and_then(|e| e.hint.as_ref())
        {
            message.push_str(&format!(" (hint: {hint})"));
        }
        let message = self.plan.redactor.redact(&message).into_owned();
        self.log.line("[sandbox] error: ", &message);
        // Killed from another process: the sandbox went away under
        // the run, which is how the kill shows here.
        let kill_requested = runs::kill_requested(self.db.conn(), &self.task.id).unwrap_or(false);
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
            keep: true,
        }
    }

    /// Removes the sandbox, unless its workspace is to be kept.
    fn remove_sandbox(&mut self, sandbox: &dyn Sandbox, outcome: &Outcome) {
        // A cloud sandbox costs money while it lives: it always goes.
        if !outcome.keep || self.plan.backend_kind == BackendKind::E2b {
            if let Err(err) = sandbox.destroy() {
                self.warnings
                    .push(format!("cannot remove the sandbox: {err:#}"));
            }
        }
    }

    /// The time the run has worked so far, in seconds.
    fn working_seconds(&self) -> f64 {
        self.started
            .elapsed()
            .saturating_sub(self.waited)
            .as_secs_f64()
    }

    /// What the run has cost after working `seconds`.
    fn cost(&self, seconds: f64) -> f64 {
        let agent_cost = self
            .state
            .cost_so_far(&self.plan.config, self.plan.agent.model.as_deref());
        crate::budget::run_cost(agent_cost, seconds, self.plan.hourly_rate)
    }
}

/// The error of a run stopped at its timeout.
fn timeout_error(plan: &Plan) -> String {
    // Whole minutes as such, fractions (--timeout 0.5) kept.
    let minutes = format!("{:.6}", plan.timeout.as_secs_f64() / 60.0);
    let minutes = minutes.trim_end_matches('0').trim_end_matches('.');
    format!("stopped after the timeout of {minutes} minutes")
}
