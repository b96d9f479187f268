//! `git-pcc-sandbox`: unattended agent runs in sandboxes, one or many in
//! parallel, and the commands that follow them from other processes.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{sandbox_pack, templates, Output};

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
    /// A task for --multi (repeatable)
    #[arg(long, value_name = "TEXT", requires = "multi")]
    pub task: Vec<String>,
    /// A file with one task per line for --multi (blank lines and # comments skipped)
    #[arg(long, value_name = "FILE", requires = "multi")]
    pub task_file: Option<PathBuf>,
    /// At most this many sandboxes at once with --multi
    #[arg(long, value_name = "N", default_value_t = 3, requires = "multi")]
    pub max_concurrent: usize,
    /// With --multi: at the first failure, cancel queued tasks and kill running ones
    #[arg(long, requires = "multi")]
    pub fail_fast: bool,
    /// With --multi: where task-N/ and summary-report.md go
    #[arg(
        long,
        value_name = "DIR",
        default_value = "parallel-results",
        requires = "multi"
    )]
    pub output_dir: PathBuf,
    /// Where the sandbox runs
    #[arg(long, value_enum, default_value = "local")]
    pub backend: BackendName,
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
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// Stop the run after this many minutes (default: config sandbox.timeoutMinutes)
    #[arg(long, value_name = "MINUTES")]
    pub timeout: Option<f64>,
    /// Pack files matching this pattern even if they are secrets or excluded (repeatable)
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run (its id or a unique prefix)
    #[arg(long, value_name = "ID")]
    pub session_id: String,
    /// Keep printing output as it is produced until the run ends
    #[arg(long, short)]
    pub follow: bool,
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
    match args.command {
        SandboxCommand::Pack(sub) => sandbox_pack::run(sub),
        SandboxCommand::Templates(sub) => templates::run(sub),
        _ => anyhow::bail!("not built yet"),
    }
}
