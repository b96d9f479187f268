//! `--multi`: several tasks, each in its own sandbox, at most N at once, on
//! rayon threads. The workspace is packed once for all of them. Tasks start
//! in order; with fail-fast the first failure cancels the queued tasks and
//! stops the running ones. Each task's log, result and patch are copied to
//! `<output dir>/task-N/`, and `summary-report.md` sums the batch up.
//!
//! A task may name its agent: `codex: fix the parser` gives the task to
//! the agent `codex` when that is a known profile's name (any other text
//! before a colon is part of the prompt); the others run the batch's
//! agent (`--agent`, else the template's, else Claude Code). Each agent
//! gets a plan of its own, checked before anything starts.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use super::pack;
use super::run::{self, Cancel, Plan, Progress, RunResult, Task, WorkspaceSource};
use super::runs::{self, RunStatus};
use crate::db::Database;
use crate::UserError;

/// How a batch is run.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub max_concurrent: usize,
    pub fail_fast: bool,
    pub output_dir: PathBuf,
}

/// The outcome of a batch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    pub batch_id: String,
    pub tasks: Vec<RunResult>,
    pub total: usize,
    pub completed: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub max_concurrent: usize,
    pub wall_seconds: f64,
    /// The time the tasks would have taken one after another.
    pub sequential_seconds: f64,
    pub time_saved_seconds: f64,
    pub total_cost: f64,
    pub output_dir: String,
    pub report: String,
}

/// A task of a batch: what the agent is asked, and the agent the task
/// names, if it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTask {
    pub prompt: String,
    pub agent: Option<String>,
}

/// Reads a task as `--task` and task files give it: `NAME: prompt` when
/// NAME is one of `agents`, else the whole text is the prompt.
pub fn parse_task(text: &str, agents: &[String]) -> BatchTask {
    if let Some((name, rest)) = text.split_once(':') {
        let name = name.trim();
        if agents.iter().any(|a| a == name) {
            return BatchTask {
                prompt: rest.trim().to_owned(),
                agent: Some(name.to_owned()),
            };
        }
    }
    BatchTask {
        prompt: text.to_owned(),
        agent: None,
    }
}

/// [`parse_task`] for each text, with the agents `config` knows.
pub fn parse_tasks(config: &crate::config::Config, texts: &[String]) -> Result<Vec<BatchTask>> {
    let names: Vec<String> = crate::agents::all(config)?
        .into_iter()
        .map(|p| p.name)
        .collect();
    Ok(texts.iter().map(|t| parse_task(t, &names)).collect())
}

/// Reads a task file: one task per line, `NAME: ` first to name its agent
/// (see [`parse_task`]); blank lines and lines starting with `#` are
/// skipped.
pub fn read_task_file(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|err| {
        UserError::new(format!("cannot read task file {}: {err}", path.display()))
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| UserError::new(format!("task file {} is not UTF-8 text", path.display())))?;
    if text.contains('\0') {
        return Err(UserError::new(format!(
            "task file {} is not a text file (it contains NUL bytes)",
            path.display()
        ))
        .into());
    }
    let tasks: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if tasks.is_empty() {
        return Err(UserError::new(format!(
            "task file {} holds no tasks (one per line; # starts a comment)",
            path.display()
        ))
        .into());
    }
    Ok(tasks)
}

/// Runs a batch. `report` sees every task's progress, from the worker
/// threads. A task that names an agent other than `plan`'s runs with a
/// plan of that agent.
pub fn run_batch(
    plan: &Plan,
    batch_tasks: Vec<BatchTask>,
    options: &BatchOptions,
    report: &(dyn Fn(&Task, Progress) + Sync),
    cancel: &Cancel,
) -> Result<BatchResult> {
    if options.max_concurrent == 0 {
        return Err(UserError::new("--max-concurrent must be at least 1").into());
    }
    if batch_tasks.is_empty() {
        return Err(UserError::with_hint(
            "--multi needs tasks",
            "give --task TEXT (repeatable) or --task-file FILE",
        )
        .into());
    }
    for (i, task) in batch_tasks.iter().enumerate() {
        run::check_prompt(&task.prompt, &format!("task {}", i + 1))?;
    }
    let other_plans = agent_plans(plan, &batch_tasks)?;
    let plan_of = |task: &BatchTask| -> &Plan {
        task.agent
            .as_deref()
            .and_then(|name| other_plans.iter().find(|p| p.agent.name == name))
            .unwrap_or(plan)
    };
    let task_plans: Vec<&Plan> = batch_tasks.iter().map(plan_of).collect();
    if options.output_dir.exists() && !options.output_dir.is_dir() {
        return Err(UserError::new(format!(
            "--output-dir {} is not a directory",
            options.output_dir.display()
        ))
        .into());
    }
    if let super::run::BranchChoice::Named(name) = &plan.branch {
        for index in 1..=batch_tasks.len() {
            super::results::check_branch_free(&plan.repo_path, &format!("{name}-task-{index}"))?;
        }
    }
    let started = Instant::now();
    let batch_id = uuid::Uuid::new_v4().to_string();
    let tasks: Vec<Task> = batch_tasks
        .into_iter()
        .enumerate()
        .map(|(i, task)| Task {
            batch: Some((batch_id.clone(), i + 1)),
            ..Task::new(task.prompt)
        })
        .collect();

    // Pack once for every task.
    let sandboxes = plan.data_dir.join("sandboxes");
    std::fs::create_dir_all(&sandboxes)
        .with_context(|| format!("cannot create {}", sandboxes.display()))?;
    let archive = sandboxes.join(format!("batch-{batch_id}.tar.gz"));
    let manifest = {
        let file = File::create(&archive)
            .with_context(|| format!("cannot write {}", archive.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        let manifest = pack::pack(&plan.repo_path, &plan.pack_options, &mut writer);
        let flushed = std::io::Write::flush(&mut writer);
        match (manifest, flushed) {
            (Ok(m), Ok(())) => m,
            (Err(err), _) => {
                let _ = std::fs::remove_file(&archive);
                return Err(err);
            }
            (_, Err(err)) => {
                let _ = std::fs::remove_file(&archive);
                return Err(err.into());
            }
        }
    };

    {
        let db = Database::open(&plan.data_dir)?;
        for (task, plan) in tasks.iter().zip(&task_plans) {
            run::record_pending(&db, plan, task)?;
        }
    }

    let results: Mutex<Vec<Option<RunResult>>> = Mutex::new(vec![None; tasks.len()]);
    let next = AtomicUsize::new(0);
    // Local sandboxes cost nothing while they wait: the next tasks are
    // prepared while agents work, and only agents are limited. A cloud
    // sandbox costs while it lives: there, tasks are limited whole.
    let ahead = match plan.backend_kind {
        run::BackendKind::Local => options.max_concurrent,
        run::BackendKind::E2b => 0,
    };
    let workers = (options.max_concurrent + ahead).min(tasks.len());
    let slots = (ahead > 0).then(|| run::AgentSlots::new(options.max_concurrent));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("sandbox-worker-{i}"))
        .build()
        .context("cannot start worker threads")?;
    let watch = |task: &Task, progress: Progress| {
        if let Progress::Status(status) = &progress {
            if options.fail_fast && status.is_final() && *status != RunStatus::Completed {
                if let Some((_, index)) = &task.batch {
                    cancel.cancel(&format!("cancelled: task {index} failed (--fail-fast)"));
                }
            }
        }
        report(task, progress);
    };
    pool.scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|_| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(task) = tasks.get(i) else { break };
                let plan = task_plans[i];
                if let Some(slots) = &slots {
                    // A task killed while it waits goes on at once, to be
                    // ended before it starts.
                    let mut db = None;
                    slots.wait_to_prepare(i + 1, options.max_concurrent, cancel, &mut || {
                        if db.is_none() {
                            db = Database::open(&plan.data_dir).ok();
                        }
                        db.as_ref().is_some_and(|db| {
                            runs::kill_requested(db.conn(), &task.id).unwrap_or(false)
                        })
                    });
                }
                let result = if cancel.is_cancelled() {
                    if let Some(slots) = &slots {
                        slots.pass(i + 1);
                    }
                    Database::open(&plan.data_dir)
                        .and_then(|db| run::cancel_pending(&db, plan, task, &cancel.reason()))
                        .inspect(|_| report(task, Progress::Status(RunStatus::Cancelled)))
                } else {
                    run::execute(
                        plan,
                        task,
                        WorkspaceSource::Archive(&archive, &manifest),
                        true,
                        cancel,
                        slots.as_ref(),
                        &watch,
                    )
                };
                let result = result.unwrap_or_else(|err| failed(plan, task, &format!("{err:#}")));
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(result);
                }
            });
        }
    });
    let _ = std::fs::remove_file(&archive);

    let tasks_done: Vec<RunResult> = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .zip(tasks.iter().zip(&task_plans))
        .map(|(r, (task, plan))| r.unwrap_or_else(|| failed(plan, task, "the task did not run")))
        .collect();
    let wall = started.elapsed().as_secs_f64();
    write_outputs(plan, &tasks_done, &options.output_dir)?;
    let sequential: f64 = tasks_done.iter().map(|t| t.duration_seconds).sum();
    let count = |s: RunStatus| tasks_done.iter().filter(|t| t.status == s).count();
    let completed = count(RunStatus::Completed);
    let cancelled = count(RunStatus::Cancelled);
    let mut result = BatchResult {
        batch_id,
        total: tasks_done.len(),
        completed,
        cancelled,
        failed: tasks_done.len() - completed - cancelled,
        max_concurrent: options.max_concurrent,
        wall_seconds: round(wall),
        sequential_seconds: round(sequential),
        time_saved_seconds: round((sequential - wall).max(0.0)),
        total_cost: tasks_done.iter().map(|t| t.total_cost).sum(),
        output_dir: crate::paths::canonicalize_lenient(&options.output_dir)
            .display()
            .to_string(),
        report: String::new(),
        tasks: tasks_done,
    };
    let report_path = options.output_dir.join("summary-report.md");
    crate::config::write_atomically(&report_path, summary_report(&result).as_bytes())?;
    result.report = crate::paths::canonicalize_lenient(&report_path)
        .display()
        .to_string();
    Ok(result)
}

/// A plan for each agent the tasks name besides `plan`'s, in the order
/// they are first named.
pub fn agent_plans(plan: &Plan, tasks: &[BatchTask]) -> Result<Vec<Plan>> {
    let mut plans: Vec<Plan> = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        let Some(name) = task.agent.as_deref() else {
            continue;
        };
        if name == plan.agent.name || plans.iter().any(|p| p.agent.name == name) {
            continue;
        }
        let origin = format!("task {} ({name})", i + 1);
        let other = plan
            .for_agent(name)
            .map_err(|err| match err.downcast::<UserError>() {
                Ok(user) => UserError {
                    message: format!("{origin}: {}", user.message),
                    hint: user.hint,
                }
                .into(),
                Err(err) => err.context(origin),
            })?;
        plans.push(other);
    }
    Ok(plans)
}

fn round(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// A result for a task that could not even be recorded as failed.
fn failed(plan: &Plan, task: &Task, error: &str) -> RunResult {
    RunResult::unstarted(plan, task, RunStatus::Failed, error)
}

/// Copies each task's log, result and patch to `<dir>/task-N/`.
fn write_outputs(plan: &Plan, tasks: &[RunResult], dir: &Path) -> Result<()> {
    for (i, task) in tasks.iter().enumerate() {
        let task_dir = dir.join(format!("task-{}", i + 1));
        std::fs::create_dir_all(&task_dir)
            .with_context(|| format!("cannot create {}", task_dir.display()))?;
        let (log, result, patch) = run::artifacts(&plan.data_dir, &task.session_id);
        for (from, name) in [
            (log, "output.log"),
            (result, "result.json"),
            (patch, "changes.patch"),
        ] {
            if from.is_file() {
                std::fs::copy(&from, task_dir.join(name))
                    .with_context(|| format!("cannot copy {}", from.display()))?;
            }
        }
    }
    Ok(())
}

/// `summary-report.md`.
pub fn summary_report(batch: &BatchResult) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Sandbox batch {}\n", batch.batch_id);
    let _ = writeln!(
        out,
        "{} tasks, at most {} at once: {} completed, {} failed, {} cancelled.\n",
        batch.total, batch.max_concurrent, batch.completed, batch.failed, batch.cancelled
    );
    let _ = writeln!(
        out,
        "| Task | Agent | Status | Duration | Cost | Branch | Files | Prompt |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for (i, task) in batch.tasks.iter().enumerate() {
        let prompt: String = task
            .prompt
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(60)
            .collect::<String>()
            .replace('|', "\\|");
        let place = task
            .branch
            .clone()
            .or_else(|| task.worktree.clone())
            .unwrap_or_else(|| "-".to_owned());
        // A branch that begins with the checkout's uncommitted files says so.
        let files = match task.started_from_uncommitted {
            0 => task.files_changed.len().to_string(),
            started => format!(
                "{} (+{started} uncommitted at the start)",
                task.files_changed.len()
            ),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} s | ${:.4} | {} | {} | {} |",
            i + 1,
            task.agent,
            task.status.as_str(),
            task.duration_seconds,
            task.total_cost,
            place,
            files,
            prompt
        );
    }
    let _ = writeln!(out, "\n## Totals\n");
    let _ = writeln!(out, "- Wall time: {:.1} s", batch.wall_seconds);
    let _ = writeln!(
        out,
        "- One after another: {:.1} s",
        batch.sequential_seconds
    );
    let _ = writeln!(out, "- Time saved: {:.1} s", batch.time_saved_seconds);
    let _ = writeln!(out, "- Total cost: ${:.4}", batch.total_cost);
    let failures: Vec<&RunResult> = batch.tasks.iter().filter(|t| t.error.is_some()).collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n## Problems\n");
        for task in failures {
            let _ = writeln!(
                out,
                "- Task {}: {}",
                task.task_index.unwrap_or(0),
                task.error.as_deref().unwrap_or("")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents() -> Vec<String> {
        ["claude", "codex", "my-agent"].map(String::from).to_vec()
    }

    fn task(prompt: &str, agent: Option<&str>) -> BatchTask {
        BatchTask {
            prompt: prompt.to_owned(),
            agent: agent.map(str::to_owned),
        }
    }

    #[test]
    fn a_known_agent_before_a_colon_takes_the_task() {
        let known = agents();
        assert_eq!(
            parse_task("codex: fix the parser", &known),
            task("fix the parser", Some("codex"))
        );
        assert_eq!(
            parse_task("my-agent:tidy up: the docs", &known),
            task("tidy up: the docs", Some("my-agent"))
        );
        assert_eq!(parse_task("claude:", &known), task("", Some("claude")));
    }

    #[test]
    fn any_other_text_before_a_colon_is_part_of_the_prompt() {
        let known = agents();
        for text in [
            "fix: the parser",
            "Codex: fix the parser",
            "note: codex: is named later",
            "no colon at all",
            "http://example.com: read it",
        ] {
            assert_eq!(parse_task(text, &known), task(text, None), "{text}");
        }
    }
}
