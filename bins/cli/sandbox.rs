//! `git-pcc-sandbox`: unattended agent runs in sandboxes, one or many in
//! parallel, and the commands that follow them from other processes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use pcc::db::Database;
use pcc::sandbox::e2b::{E2bBackend, E2bSettings};
use pcc::sandbox::local::{self, Confinement, LocalBackend};
use pcc::sandbox::multi::{self, BatchOptions, BatchResult};
use pcc::sandbox::run::{
    self as sandbox_run, AuthChoice, BackendKind, BranchChoice, Cancel, Progress, RunOptions,
    RunResult, Task, WorkspaceSource,
};
use pcc::sandbox::runs::{self, RunRecord, RunStatus};
use pcc::sandbox::{stream, Backend, Sandbox};
use pcc::UserError;
use serde_json::json;

use crate::{render, sandbox_pack, templates, Output, EXIT_FAILURE};

/// Run coding agents unattended in sandboxes and bring their work back as branches.
#[derive(Debug, Parser)]
#[command(name = "git-pcc-sandbox", bin_name = "git pcc sandbox", version)]
pub struct SandboxArgs {
    /// Print results as JSON (JSON lines of progress events for --multi)
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Run an agent on a prompt (or several prompts with --multi) in sandboxes
    Run(Box<RunArgs>),
    /// Show a run's output log
    Logs(LogsArgs),
    /// Copy a run's results (log, result.json, patch) to a directory
    Download(DownloadArgs),
    /// Stop a run and every process it started
    Kill(KillArgs),
    /// List sandbox runs
    List(ListArgs),
    /// Show one run, or the runs still going on
    Status(StatusArgs),
    /// Write the workspace a run would upload (tar.gz) or list its files
    Pack(sandbox_pack::PackArgs),
    /// Sandbox templates
    Templates(templates::TemplatesArgs),
}

/// Where sandboxes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendName {
    /// This machine: a workspace of its own, its own process group, bwrap when installed
    Local,
    /// E2B cloud VMs
    E2b,
}

/// How the agent authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMethod {
    /// ANTHROPIC_API_KEY from the environment
    ApiKey,
    /// Claude subscription credentials (CLAUDE_CODE_OAUTH_TOKEN or ~/.claude/.credentials.json)
    Oauth,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The repository whose workspace the agent gets (default: the current directory)
    #[arg(long, value_name = "PATH", default_value = ".")]
    pub repo: PathBuf,
    /// What the agent is asked to do
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["prompt_file", "multi"])]
    pub prompt: Option<String>,
    /// Read the prompt from a file
    #[arg(long, value_name = "FILE", conflicts_with = "multi")]
    pub prompt_file: Option<PathBuf>,
    /// Run several tasks in parallel, each in its own sandbox
    #[arg(long)]
    pub multi: bool,
    /// A task for --multi (repeatable); 'NAME: TEXT' gives it to the agent NAME
    /// when that is a known agent (e.g. 'codex: fix the parser')
    #[arg(long, value_name = "TEXT", requires = "multi")]
    pub task: Vec<String>,
    /// A file with one task per line for --multi, 'NAME: ' first to name its agent
    /// (blank lines and # comments skipped)
    #[arg(long, value_name = "FILE", requires = "multi")]
    pub task_file: Option<PathBuf>,
    /// At most this many agents at once with --multi (the local backend prepares the next sandboxes meanwhile) [default: 3]
    #[arg(long, value_name = "N", requires = "multi")]
    pub max_concurrent: Option<usize>,
    /// With --multi: at the first failure, cancel queued tasks and kill running ones
    #[arg(long, requires = "multi")]
    pub fail_fast: bool,
    /// With --multi: where task-N/ and summary-report.md go [default: parallel-results]
    #[arg(long, value_name = "DIR", requires = "multi")]
    pub output_dir: Option<PathBuf>,
    /// Where the sandbox runs (default: config sandbox.backend, else local)
    #[arg(long, value_enum)]
    pub backend: Option<BackendName>,
    /// A template whose setup commands and environment prepare the sandbox
    #[arg(long, visible_alias = "template", value_name = "NAME")]
    pub use_template: Option<String>,
    /// How the agent authenticates (default: whatever credentials are present)
    #[arg(long, value_enum)]
    pub auth_method: Option<AuthMethod>,
    /// Pack and upload the workspace, start nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Bring the work back on a branch: 'auto' (parallel/sandbox-<id>) or a name;
    /// without it the work comes back as uncommitted changes in a new worktree
    #[arg(long, value_name = "auto|NAME")]
    pub branch: Option<String>,
    /// Author name of the agent's commits (default: PARALLEL_CC_GIT_USER, then git config)
    #[arg(long, value_name = "NAME")]
    pub git_user: Option<String>,
    /// Author email of the agent's commits (default: PARALLEL_CC_GIT_EMAIL, then git config)
    #[arg(long, value_name = "EMAIL")]
    pub git_email: Option<String>,
    /// Stop the run when it has cost this many USD (default: config budget.perSessionDefault)
    #[arg(long, value_name = "USD", allow_negative_numbers = true)]
    pub budget: Option<f64>,
    /// Stop the run after this many minutes (default: config sandbox.timeoutMinutes)
    #[arg(long, value_name = "MINUTES", allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// Pack files matching this pattern even if they are secrets or excluded (repeatable)
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,
    /// Push the branch to the remote and open a pull request (GITHUB_TOKEN; GITHUB_API_URL for Enterprise)
    #[arg(long)]
    pub git_live: bool,
    /// The branch the pull request of --git-live targets (default: the current branch)
    #[arg(long, value_name = "BRANCH", requires = "git_live")]
    pub target_branch: Option<String>,
    /// A private SSH key the agent may use for git (copied into the sandbox with mode 600, removed at the end)
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// Do not warn about copying --ssh-key into the sandbox
    #[arg(long, requires = "ssh_key")]
    pub confirm_ssh_key: bool,
    /// An npm token, written only to the sandbox's ~/.npmrc (mode 600)
    #[arg(long, value_name = "TOKEN")]
    pub npm_token: Option<String>,
    /// The npm registry the token is for (default: https://registry.npmjs.org/)
    #[arg(long, value_name = "URL", requires = "npm_token")]
    pub npm_registry: Option<String>,
    /// The agent to run: claude (default, by config sandbox.agentCommand, unless
    /// the template names one), codex, gemini, aider, opencode or one from config
    /// (agents.<name>); only its credentials reach the sandbox
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// Pass this variable of your environment into the sandbox (repeatable;
    /// its value is masked in what the run reports when its name looks like a secret's)
    #[arg(long, value_name = "NAME")]
    pub env: Vec<String>,
    /// Print the environment each agent would get (secrets masked) and start nothing;
    /// refuses --env naming a secret of parallel-cc's own (an agent's key, E2B_API_KEY, GITHUB_TOKEN, ...)
    #[arg(long)]
    pub print_env: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run (its id or a unique prefix)
    #[arg(long, value_name = "ID")]
    pub session_id: String,
    /// Keep printing output as it is produced until the run ends
    #[arg(long, short)]
    pub follow: bool,
    /// Print the log as written (the agent's stream-json lines) instead of readable lines
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The run (its id or a unique prefix)
    #[arg(long, value_name = "ID")]
    pub session_id: String,
    /// Directory to write into (default: ./sandbox-<id>)
    #[arg(long, short, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// The run (its id or a unique prefix)
    #[arg(long, value_name = "ID")]
    pub session_id: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only runs of the repository containing this path
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Only runs still going on
    #[arg(long)]
    pub active: bool,
    /// At most this many runs, newest first
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run (its id or a unique prefix); without it, the runs still going on
    #[arg(long, value_name = "ID")]
    pub session_id: Option<String>,
}

pub fn run(args: SandboxArgs) -> anyhow::Result<Output> {
    let json = args.json;
    match args.command {
        SandboxCommand::Run(sub) => run_agent(*sub, json),
        SandboxCommand::Logs(sub) => logs(sub, json),
        SandboxCommand::Download(sub) => download(sub),
        SandboxCommand::Kill(sub) => kill(sub),
        SandboxCommand::List(sub) => list(sub),
        SandboxCommand::Status(sub) => status(sub),
        SandboxCommand::Pack(sub) => sandbox_pack::run(sub),
        SandboxCommand::Templates(sub) => templates::run(sub),
    }
}

/// Ends every run of this process on Ctrl-C, SIGTERM or a hangup.
fn install_signal_handlers() {
    extern "C" fn on_signal(_: libc::c_int) {
        sandbox_run::INTERRUPTED.store(true, Ordering::SeqCst);
    }
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
}

fn run_agent(args: RunArgs, json: bool) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    crate::config::warn_about_settings(&data_dir);
    if !args.multi {
        // clap lets these pass with --prompt (which conflicts with --multi).
        for (given, flag) in [
            (!args.task.is_empty(), "--task"),
            (args.task_file.is_some(), "--task-file"),
            (args.fail_fast, "--fail-fast"),
            (args.max_concurrent.is_some(), "--max-concurrent"),
            (args.output_dir.is_some(), "--output-dir"),
        ] {
            if given {
                return Err(UserError::with_hint(
                    format!("{flag} works only with --multi"),
                    "add --multi, or give the one prompt with --prompt",
                )
                .into());
            }
        }
    }
    let prompts: Vec<String> = if args.multi {
        if args.max_concurrent == Some(0) {
            return Err(UserError::new("--max-concurrent must be at least 1").into());
        }
        let mut tasks = args.task.clone();
        if let Some(file) = &args.task_file {
            tasks.extend(multi::read_task_file(file)?);
        }
        if tasks.is_empty() {
            return Err(UserError::with_hint(
                "--multi needs tasks",
                "give --task TEXT (repeatable) or --task-file FILE",
            )
            .into());
        }
        for (i, task) in tasks.iter().enumerate() {
            sandbox_run::check_prompt(task, &format!("task {}", i + 1))?;
        }
        tasks
    } else {
        let prompt = match (&args.prompt, &args.prompt_file) {
            (Some(prompt), _) => {
                sandbox_run::check_prompt(prompt, "the prompt")?;
                prompt.clone()
            }
            (None, Some(file)) => sandbox_run::read_prompt_file(file)?,
            // The environment does not depend on the prompt.
            (None, None) if args.print_env => String::new(),
            (None, None) => {
                return Err(UserError::with_hint(
                    "no prompt given",
                    "give --prompt TEXT or --prompt-file FILE (or --multi with tasks)",
                )
                .into())
            }
        };
        vec![prompt]
    };
    let branch = match args.branch.as_deref() {
        None => BranchChoice::Worktree,
        Some("auto") => BranchChoice::Auto,
        Some(name) => BranchChoice::Named(name.to_owned()),
    };
    let options = RunOptions {
        repo: args.repo.clone(),
        template: args.use_template.clone(),
        auth: match args.auth_method {
            None => AuthChoice::Auto,
            Some(AuthMethod::ApiKey) => AuthChoice::ApiKey,
            Some(AuthMethod::Oauth) => AuthChoice::Oauth,
        },
        dry_run: args.dry_run,
        branch,
        git_user: args.git_user.clone(),
        git_email: args.git_email.clone(),
        budget: args.budget,
        timeout_minutes: args.timeout,
        include: args.include.clone(),
        backend: args.backend.map(|b| match b {
            BackendName::Local => BackendKind::Local,
            BackendName::E2b => BackendKind::E2b,
        }),
        ssh_key: args.ssh_key.clone(),
        confirm_ssh_key: args.confirm_ssh_key,
        npm_token: args.npm_token.clone(),
        npm_registry: args.npm_registry.clone(),
        git_live: args.git_live,
        target_branch: args.target_branch.clone(),
        agent: args.agent.clone(),
        env_names: args.env.clone(),
        print_env: args.print_env,
    };
    let plan = sandbox_run::plan(&data_dir, &options)
        .map_err(|err| crate::scope::with_repo_hint(err, args.repo != std::path::Path::new(".")))?;
    let tasks = if args.multi {
        multi::parse_tasks(&plan.config, &prompts)?
    } else {
        Vec::new()
    };
    if args.print_env {
        let mut plans = vec![&plan];
        let others = multi::agent_plans(&plan, &tasks)?;
        plans.extend(&others);
        return Ok(environments_output(&plans));
    }
    install_signal_handlers();
    local::become_subreaper();
    let cancel = Cancel::default();
    for notice in &plan.notices {
        eprintln!("{notice}");
    }
    if let (BackendKind::Local, Confinement::None { reason }) =
        (plan.backend_kind, &plan.confinement)
    {
        if !json {
            eprintln!("note: the agent runs unconfined: {reason}");
        }
    }

    if args.multi {
        let options = BatchOptions {
            max_concurrent: args.max_concurrent.unwrap_or(3),
            fail_fast: args.fail_fast,
            output_dir: args
                .output_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("parallel-results")),
        };
        let view = ProgressView::new(prompts.len(), json);
        let batch = multi::run_batch(
            &plan,
            tasks,
            &options,
            &|task, p| view.report(task, p),
            &cancel,
        );
        view.finish();
        let batch = batch?;
        let code = if batch.completed == batch.total {
            0
        } else {
            EXIT_FAILURE
        };
        if json {
            let mut line = serde_json::to_value(&batch)?;
            line["event"] = json!("summary");
            println!("{}", serde_json::to_string(&line)?);
            return Ok(Output::silent().with_exit_code(code));
        }
        return Ok(Output::new(&batch, batch_human(&batch)).with_exit_code(code));
    }

    let task = Task::new(prompts.into_iter().next().unwrap_or_default());
    let started = Instant::now();
    let quiet = json;
    let last_status = Mutex::new(None);
    let report = move |task: &Task, progress: Progress| {
        if quiet {
            return;
        }
        if let Progress::Status(status) = &progress {
            let mut last = last_status.lock().unwrap_or_else(|e| e.into_inner());
            if *last == Some(*status) {
                return;
            }
            *last = Some(*status);
        }
        let elapsed = started.elapsed().as_secs();
        let line = match progress {
            Progress::Status(status) => status.as_str().to_lowercase(),
            Progress::Activity(activity) => activity,
            Progress::Warning(warning) => format!("warning: {warning}"),
        };
        eprintln!(
            "sandbox {}  {:>2}:{:02}  {line}",
            task.short_id(),
            elapsed / 60,
            elapsed % 60
        );
    };
    let result = sandbox_run::execute(
        &plan,
        &task,
        WorkspaceSource::Pack,
        false,
        &cancel,
        None,
        &report,
    )?;
    // A run that failed before it had a sandbox (a rejected key, an
    // unreachable service) is an error of the command, said on stderr.
    if result.status == RunStatus::Failed && result.sandbox.is_none() {
        if let Some(error) = &result.error {
            eprintln!("error: {}", error.replace('\n', " "));
        }
    }
    let code = if result.status == RunStatus::Completed {
        0
    } else {
        EXIT_FAILURE
    };
    Ok(Output::new(&result, result_human(&result)).with_exit_code(code))
}

/// `--print-env`: the environment of each agent's runs, masked.
fn environments_output(plans: &[&sandbox_run::Plan]) -> Output {
    let mut human = String::new();
    let mut environments = Vec::new();
    for plan in plans {
        let env = plan.printable_environment();
        if plans.len() > 1 {
            human.push_str(&format!("# {}\n", plan.agent.name));
        }
        for (name, value) in &env {
            human.push_str(&format!("{name}={value}\n"));
        }
        let map: serde_json::Map<String, serde_json::Value> =
            env.into_iter().map(|(k, v)| (k, json!(v))).collect();
        environments.push(json!({"agent": plan.agent.name, "environment": map}));
    }
    Output::new(&json!({ "environments": environments }), human)
}

fn result_human(result: &RunResult) -> String {
    let mut pairs: Vec<(&str, String)> = vec![
        ("run", result.session_id.clone()),
        ("status", result.status.as_str().to_owned()),
    ];
    if let Some(error) = &result.error {
        pairs.push(("error", error.clone()));
    }
    if result.dry_run {
        pairs.push((
            "uploaded",
            render::count(result.uploaded_files, "file", "files"),
        ));
        if let Some(sandbox) = &result.sandbox {
            pairs.push(("workspace", sandbox.workspace.clone()));
        }
    }
    if let Some(branch) = &result.branch {
        pairs.push(("branch", branch.clone()));
    }
    if let Some(worktree) = &result.worktree {
        pairs.push(("worktree", worktree.clone()));
    }
    if let Some(url) = &result.pull_request {
        pairs.push(("pull request", url.clone()));
    }
    if !result.dry_run {
        pairs.push((
            "changed",
            render::count(result.files_changed.len(), "file", "files"),
        ));
    }
    if result.started_from_uncommitted > 0 {
        let files = render::count(result.started_from_uncommitted, "file", "files");
        pairs.push((
            "started from",
            if result.worktree.is_some() {
                format!("{files} uncommitted in your checkout, uncommitted in the worktree too")
            } else {
                format!("{files} uncommitted in your checkout, committed first on the branch")
            },
        ));
    }
    pairs.push(("duration", format!("{:.1} s", result.duration_seconds)));
    pairs.push(("cost", format!("${:.4}", result.total_cost)));
    pairs.push(("log", result.output_log.clone()));
    if let Some(patch) = &result.patch {
        pairs.push(("patch", patch.clone()));
    }
    render::fields(&pairs)
}

fn batch_human(batch: &BatchResult) -> String {
    let mut rows = vec![["TASK", "AGENT", "STATUS", "TIME", "COST", "RESULT"]
        .map(String::from)
        .to_vec()];
    for (i, task) in batch.tasks.iter().enumerate() {
        rows.push(vec![
            format!("task-{}", i + 1),
            task.agent.clone(),
            task.status.as_str().to_owned(),
            format!("{:.1}s", task.duration_seconds),
            format!("${:.4}", task.total_cost),
            task.branch
                .clone()
                .or_else(|| task.worktree.clone())
                .or_else(|| task.error.clone())
                .unwrap_or_else(|| "no changes".to_owned()),
        ]);
    }
    format!(
        "{}\n{} of {} completed in {:.1} s ({:.1} s saved); results in {}\n",
        render::table(&rows),
        batch.completed,
        batch.total,
        batch.wall_seconds,
        batch.time_saved_seconds,
        batch.output_dir
    )
}

/// The progress of a batch: JSON lines with `--json`, a redrawn table on
/// a terminal, otherwise a line per change of state.
struct ProgressView {
    rows: Mutex<Vec<ProgressRow>>,
    json: bool,
    live: bool,
    drawn: Mutex<usize>,
    started: Instant,
}

#[derive(Clone)]
struct ProgressRow {
    status: RunStatus,
    since: Option<Instant>,
    ended: Option<Instant>,
    activity: String,
}

impl ProgressView {
    fn new(tasks: usize, json: bool) -> ProgressView {
        ProgressView {
            rows: Mutex::new(vec![
                ProgressRow {
                    status: RunStatus::Pending,
                    since: None,
                    ended: None,
                    activity: String::new(),
                };
                tasks
            ]),
            json,
            live: !json && std::io::stderr().is_terminal(),
            drawn: Mutex::new(0),
            started: Instant::now(),
        }
    }

    fn report(&self, task: &Task, progress: Progress) {
        let index = task.batch.as_ref().map(|b| b.1).unwrap_or(1);
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut changed_status = None;
        if let Ok(mut rows) = self.rows.lock() {
            if let Some(row) = rows.get_mut(index - 1) {
                match &progress {
                    Progress::Status(status) => {
                        if row.status != *status {
                            changed_status = Some(*status);
                        }
                        if *status == RunStatus::Initializing && row.since.is_none() {
                            row.since = Some(Instant::now());
                        }
                        if status.is_final() && row.ended.is_none() {
                            row.ended = Some(Instant::now());
                        }
                        row.status = *status;
                    }
                    Progress::Activity(activity) => row.activity = activity.clone(),
                    Progress::Warning(warning) => row.activity = format!("warning: {warning}"),
                }
            }
        }
        if self.json {
            if matches!(progress, Progress::Status(_)) && changed_status.is_none() {
                return;
            }
            let event = match &progress {
                Progress::Status(status) => json!({"event": "status", "task": index,
                    "sessionId": task.id, "status": status.as_str(), "elapsedSeconds": elapsed}),
                Progress::Activity(activity) => json!({"event": "activity", "task": index,
                    "sessionId": task.id, "activity": activity, "elapsedSeconds": elapsed}),
                Progress::Warning(warning) => json!({"event": "warning", "task": index,
                    "sessionId": task.id, "warning": warning, "elapsedSeconds": elapsed}),
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{event}");
            let _ = out.flush();
        } else if self.live {
            self.draw();
        } else if let Some(status) = changed_status {
            eprintln!("task-{index}  {:<15} {:>6.1}s", status.as_str(), elapsed);
        }
    }

    fn draw(&self) {
        let Ok(rows) = self.rows.lock() else { return };
        let Ok(mut drawn) = self.drawn.lock() else {
            return;
        };
        let mut out = String::new();
        if *drawn > 0 {
            out.push_str(&format!("\x1b[{}A", *drawn));
        }
        for (i, row) in rows.iter().enumerate() {
            let elapsed = match (row.since, row.ended) {
                (Some(since), Some(ended)) => ended.duration_since(since).as_secs(),
                (Some(since), None) => since.elapsed().as_secs(),
                _ => 0,
            };
            let activity: String = row.activity.chars().take(60).collect();
            out.push_str(&format!(
                "\x1b[2Ktask-{:<3} {:<15} {:>3}:{:02}  {activity}\n",
                i + 1,
                row.status.as_str(),
                elapsed / 60,
                elapsed % 60
            ));
        }
        *drawn = rows.len();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.live {
            self.draw();
        }
    }
}

/// Opens the database for commands that read runs.
fn open_db() -> anyhow::Result<Database> {
    let data_dir = crate::data_dir()?;
    match Database::open_existing_current(&data_dir)? {
        Some(db) => Ok(db),
        None => Err(UserError::with_hint(
            "there are no sandbox runs yet",
            "start one with 'git pcc sandbox run --prompt TEXT'",
        )
        .into()),
    }
}

fn backend_for(record: &RunRecord) -> anyhow::Result<Box<dyn Backend>> {
    let data_dir = crate::data_dir()?;
    match record.backend.as_str() {
        "local" => Ok(Box::new(LocalBackend::new(
            &data_dir,
            Confinement::None {
                reason: String::new(),
            },
        ))),
        "e2b" => Ok(Box::new(e2b_backend()?)),
        other => Err(UserError::new(format!(
            "run {} uses the {other} backend, which this build does not have",
            render::short_id(&record.id)
        ))
        .into()),
    }
}

/// The E2B backend as the environment configures it, for commands that
/// reach a run's sandbox from another process.
fn e2b_backend() -> anyhow::Result<E2bBackend> {
    let config = pcc::config::Config::load(&crate::data_dir()?)?;
    let minutes = config.integer("sandbox.e2bMaxMinutes").unwrap_or(60) as u64;
    let template = config
        .text("sandbox.e2bTemplate")
        .unwrap_or_else(|| "base".to_owned());
    Ok(E2bBackend::new(E2bSettings::from_env(
        &template,
        Duration::from_secs(minutes * 60),
    )?))
}

/// A log line made readable: the agent's stream-json events as text.
fn readable(line: &str) -> Option<String> {
    let trimmed = line.trim();
    if !trimmed.starts_with('{') {
        return Some(line.to_owned());
    }
    let Ok(event) = serde_json::from_str::<serde_json::Value>(trimmed) else {
        return Some(line.to_owned());
    };
    let mut state = stream::StreamState::default();
    match event.get("type").and_then(|t| t.as_str()) {
        Some("assistant") => {
            let mut parts = Vec::new();
            for block in event
                .pointer("/message/content")
                .and_then(|c| c.as_array())
                .into_iter()
                .flatten()
            {
                match block.get("type").and_then(|t| t.as_str()) {
                    Some("text") => {
                        if let Some(text) = block.get("text").and_then(|t| t.as_str()) {
                            parts.push(text.trim_end().to_owned());
                        }
                    }
                    Some("tool_use") => {
                        let single = json!({"type": "assistant", "message": {"content": [block]}});
                        if let Some(activity) = state.observe(&single.to_string()) {
                            parts.push(format!("> {activity}"));
                        }
                    }
                    _ => {}
                }
            }
            (!parts.is_empty()).then(|| parts.join("\n"))
        }
        Some("result") => {
            state.observe(trimmed);
            let cost = state
                .agent_cost
                .map(|c| format!(" (${c:.4})"))
                .unwrap_or_default();
            Some(format!(
                "= {}{cost}: {}",
                state.last_activity.unwrap_or_default(),
                state.result.unwrap_or_default().trim()
            ))
        }
        Some("system") | Some("user") => None,
        _ => Some(line.to_owned()),
    }
}

fn print_log_text(text: &str, raw: bool, json: bool) {
    let mut out = std::io::stdout().lock();
    for line in text.lines() {
        if json {
            let _ = writeln!(out, "{}", json!({ "line": line }));
        } else if raw {
            let _ = writeln!(out, "{line}");
        } else if let Some(shown) = readable(line) {
            let _ = writeln!(out, "{shown}");
        }
    }
    let _ = out.flush();
}

fn logs(args: LogsArgs, json: bool) -> anyhow::Result<Output> {
    let db = open_db()?;
    let record = runs::find(db.conn(), &args.session_id)?;
    let path = PathBuf::from(record.output_log.clone().unwrap_or_default());
    if !args.follow {
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => {
                return Err(
                    anyhow::Error::new(err).context(format!("cannot read {}", path.display()))
                )
            }
        };
        if json {
            let lines: Vec<&str> = text.lines().collect();
            return Ok(Output::new(
                &json!({"sessionId": record.id, "status": record.status, "log": path, "lines": lines}),
                String::new(),
            ));
        }
        print_log_text(&text, args.raw, false);
        return Ok(Output::silent());
    }
    // Follow: print what is there, then what comes, until the run ends.
    let mut offset: u64 = 0;
    let mut pending = String::new();
    let mut last_check = Instant::now() - Duration::from_secs(1);
    loop {
        let mut finished = false;
        if last_check.elapsed() >= Duration::from_millis(300) {
            last_check = Instant::now();
            finished = runs::find(db.conn(), &record.id)?.status.is_final();
        }
        if let Ok(mut file) = std::fs::File::open(&path) {
            use std::io::{Read, Seek, SeekFrom};
            file.seek(SeekFrom::Start(offset))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            offset += bytes.len() as u64;
            pending.push_str(&String::from_utf8_lossy(&bytes));
            if let Some(end) = pending.rfind('\n') {
                let complete: String = pending.drain(..=end).collect();
                print_log_text(&complete, args.raw, json);
            }
        }
        if finished {
            if !pending.is_empty() {
                print_log_text(&pending, args.raw, json);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Output::silent())
}

fn download(args: DownloadArgs) -> anyhow::Result<Output> {
    let db = open_db()?;
    let record = runs::find(db.conn(), &args.session_id)?;
    let data_dir = crate::data_dir()?;
    let dest = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("sandbox-{}", render::short_id(&record.id))));
    if dest.exists() && !dest.is_dir() {
        return Err(UserError::new(format!("{} is not a directory", dest.display())).into());
    }
    std::fs::create_dir_all(&dest)
        .map_err(|err| UserError::new(format!("cannot create {}: {err}", dest.display())))?;
    let (log, result, patch) = sandbox_run::artifacts(&data_dir, &record.id);
    let mut files = Vec::new();
    for (from, name) in [
        (log, "output.log"),
        (result, "result.json"),
        (patch, "changes.patch"),
    ] {
        if from.is_file() {
            let to = dest.join(name);
            std::fs::copy(&from, &to)
                .map_err(|err| UserError::new(format!("cannot write {}: {err}", to.display())))?;
            files.push(to.display().to_string());
        }
    }
    // A cloud run still going on: fetch its workspace as it is now.
    if !record.status.is_final() && record.backend == "e2b" {
        if let Some(sandbox_id) = &record.sandbox_id {
            let sandbox = e2b_backend()?.attach(sandbox_id)?;
            let to = dest.join("workspace");
            sandbox.download("", &to)?;
            files.push(to.display().to_string());
        }
    }
    let dest = pcc::paths::canonicalize_lenient(&dest);
    let value =
        json!({"sessionId": record.id, "status": record.status, "outputDir": dest, "files": files});
    let human = format!(
        "{} of run {} ({}) in {}\n",
        render::count(files.len(), "file", "files"),
        render::short_id(&record.id),
        record.status.as_str(),
        dest.display()
    );
    Ok(Output::new(&value, human))
}

fn kill(args: KillArgs) -> anyhow::Result<Output> {
    let db = open_db()?;
    let record = runs::find(db.conn(), &args.session_id)?;
    if record.status.is_final() {
        return Err(UserError::new(format!(
            "run {} has already ended ({})",
            render::short_id(&record.id),
            record.status.as_str()
        ))
        .into());
    }
    runs::request_kill(db.conn(), &record.id)?;
    if runs::kill_if_queued(db.conn(), &record.id)? {
        let value = json!({"sessionId": record.id, "killed": true, "agentWasRunning": false,
            "status": RunStatus::Killed});
        let human = format!(
            "killed run {} before it started\n",
            render::short_id(&record.id)
        );
        return Ok(Output::new(&value, human));
    }
    // Read the agent again: it may have started since the flag was read.
    let record = runs::find(db.conn(), &record.id)?;
    let backend = backend_for(&record)?;
    let was_running = backend.kill(record.sandbox_id.as_deref().unwrap_or(""), record.agent)?;
    // The run's own process records the end; wait a little for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = runs::find(db.conn(), &record.id)?;
    while !now.status.is_final() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        now = runs::find(db.conn(), &record.id)?;
    }
    if !now.status.is_final() {
        runs::mark_killed(db.conn(), &record.id)?;
        now = runs::find(db.conn(), &record.id)?;
    }
    let value = json!({"sessionId": record.id, "killed": true, "agentWasRunning": was_running,
        "status": now.status});
    Ok(Output::new(
        &value,
        format!(
            "killed run {} ({})\n",
            render::short_id(&record.id),
            now.status.as_str()
        ),
    ))
}

fn list(args: ListArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    let Some(db) = Database::open_existing_current(&data_dir)? else {
        return Ok(Output::new(
            &json!({"runs": [], "total": 0}),
            "no sandbox runs\n".to_owned(),
        ));
    };
    let repo = match &args.repo {
        Some(path) => Some(pcc::git::resolve_repository(path)?.display().to_string()),
        None => None,
    };
    let found = runs::list(db.conn(), repo.as_deref(), args.active, args.limit)?;
    let human = runs_table(&found);
    Ok(Output::new(
        &json!({"runs": found, "total": found.len()}),
        human,
    ))
}

fn runs_table(found: &[RunRecord]) -> String {
    if found.is_empty() {
        return "no sandbox runs\n".to_owned();
    }
    let mut rows = vec![["RUN", "STATUS", "STARTED", "COST", "RESULT", "PROMPT"]
        .map(String::from)
        .to_vec()];
    for run in found {
        let prompt: String = run
            .prompt
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(40)
            .collect();
        rows.push(vec![
            render::short_id(&run.id),
            run.status.as_str().to_owned(),
            run.created_at.clone(),
            run.actual_cost
                .map(|c| format!("${c:.4}"))
                .unwrap_or_else(|| "-".to_owned()),
            run.branch
                .clone()
                .or_else(|| run.result_worktree.clone())
                .or_else(|| run.last_activity.clone())
                .unwrap_or_else(|| "-".to_owned()),
            prompt,
        ]);
    }
    render::table(&rows)
}

fn status(args: StatusArgs) -> anyhow::Result<Output> {
    let Some(id) = args.session_id else {
        let data_dir = crate::data_dir()?;
        let found = match Database::open_existing_current(&data_dir)? {
            Some(db) => runs::list(db.conn(), None, true, 1000)?,
            None => Vec::new(),
        };
        let human = if found.is_empty() {
            "no sandbox runs going on\n".to_owned()
        } else {
            runs_table(&found)
        };
        return Ok(Output::new(
            &json!({"runs": found, "total": found.len()}),
            human,
        ));
    };
    let db = open_db()?;
    let record = runs::find(db.conn(), &id)?;
    let mut alive = false;
    if !record.status.is_final() {
        if let Ok(backend) = backend_for(&record) {
            alive = backend.is_running(record.sandbox_id.as_deref().unwrap_or(""), record.agent);
        }
    }
    let mut value = serde_json::to_value(&record)?;
    value["agentAlive"] = json!(alive);
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let human = render::fields(&[
        ("run", record.id.clone()),
        ("status", record.status.as_str().to_owned()),
        ("repository", record.repo_path.clone()),
        (
            "prompt",
            record.prompt.lines().next().unwrap_or("").to_owned(),
        ),
        ("activity", opt(&record.last_activity)),
        ("started", opt(&record.started_at)),
        ("ended", opt(&record.ended_at)),
        (
            "branch",
            opt(&record.branch.clone().or(record.result_worktree.clone())),
        ),
        (
            "cost",
            record
                .actual_cost
                .or(record.agent_cost)
                .map(|c| format!("${c:.4}"))
                .unwrap_or_else(|| "-".to_owned()),
        ),
        ("error", opt(&record.error)),
        ("log", opt(&record.output_log)),
    ]);
    Ok(Output::new(&value, human))
}
