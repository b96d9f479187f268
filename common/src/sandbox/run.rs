//! One sandbox run from start to end: everything is checked first (nothing
//! starts on bad input), then the run is recorded, the workspace packed and
//! uploaded, the baseline committed, the template's setup run, the agent
//! run with its output logged (secrets masked) and parsed, the timeout and
//! budget enforced, and the work brought back.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use git2::Oid;
use serde::Serialize;

use super::local::{self, Confinement, LocalBackend};
use super::pack::{self, PackManifest, PackOptions};
use super::results::{self, Collected, Imported};
use super::runs::{self, Ending, NewRun, RunStatus};
use super::stream::StreamState;
use super::{Backend, CommandSpec, Exit, Flow, OutputStream, RunEvent, Sandbox, SandboxInfo};
use crate::config::Config;
use crate::db::Database;
use crate::redact::Redactor;
use crate::templates::{self, Template};
use crate::{budget, git, paths, UserError};

/// Set by the signal handler of the running command: end every run.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Where the work comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchChoice {
    /// Uncommitted changes in a new worktree.
    Worktree,
    /// A new branch `parallel/sandbox-<id>`.
    Auto,
    /// A new branch of this name.
    Named(String),
}

/// How the agent authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthChoice {
    /// Whatever credentials are present.
    Auto,
    ApiKey,
    Oauth,
}

/// What the user asked for (besides the prompt).
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub repo: PathBuf,
    pub template: Option<String>,
    pub auth: AuthChoice,
    pub dry_run: bool,
    pub branch: BranchChoice,
    pub git_user: Option<String>,
    pub git_email: Option<String>,
    pub budget: Option<f64>,
    pub timeout_minutes: Option<f64>,
    pub include: Vec<String>,
    /// Where the sandbox runs (default: config `sandbox.backend`).
    pub backend: Option<BackendKind>,
    /// A private key the agent may use for git over SSH.
    pub ssh_key: Option<PathBuf>,
    pub confirm_ssh_key: bool,
    pub npm_token: Option<String>,
    pub npm_registry: Option<String>,
    /// Push the branch and open a pull request against this branch.
    pub git_live: bool,
    pub target_branch: Option<String>,
}

/// The kinds of sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Local,
    E2b,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::E2b => "e2b",
        }
    }
}

/// Where `--git-live` publishes.
#[derive(Debug, Clone)]
pub struct GitLive {
    pub remote: String,
    pub owner: String,
    pub name: String,
    pub token: String,
    pub target_branch: String,
}

/// A checked request: everything a run needs, shared by the tasks of a batch.
pub struct Plan {
    pub data_dir: PathBuf,
    pub config: Config,
    pub repo_path: PathBuf,
    pub base_commit: Oid,
    pub template: Option<Template>,
    pub auth: Option<&'static str>,
    /// Files written into the sandbox's home (mode 600) for the run and
    /// removed at its end: OAuth credentials, an SSH key, npm's config.
    private_files: Vec<(String, Vec<u8>)>,
    pub backend_kind: BackendKind,
    e2b: Option<super::e2b::E2bSettings>,
    pub git_live: Option<GitLive>,
    pub ssh_key_provided: bool,
    /// Things the user should know before the run starts.
    pub notices: Vec<String>,
    env: Vec<(String, String)>,
    pub redactor: Redactor,
    pub git_user: String,
    pub git_email: String,
    pub agent_command: Vec<String>,
    pub timeout: Duration,
    pub budget_limit: Option<f64>,
    pub hourly_rate: f64,
    pub dry_run: bool,
    pub branch: BranchChoice,
    pub pack_options: PackOptions,
    pub confinement: Confinement,
}

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

/// Checks a prompt: something to do, and text a process can take.
pub fn check_prompt(prompt: &str, origin: &str) -> Result<()> {
    if prompt.trim().is_empty() {
        return Err(UserError::new(format!("{origin} is empty")).into());
    }
    if prompt.contains('\0') {
        return Err(UserError::new(format!("{origin} contains a NUL byte")).into());
    }
    Ok(())
}

/// Reads a prompt file with a clear error.
pub fn read_prompt_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        UserError::new(format!("cannot read prompt file {}: {err}", path.display()))
    })?;
    check_prompt(&text, &format!("prompt file {}", path.display()))?;
    Ok(text)
}

/// The variables of this process's environment a run passes on.
fn passed_on(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        "USER",
        "LOGNAME",
        "IS_SANDBOX",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "NODE_EXTRA_CA_CERTS",
        "SSL_CERT_FILE",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "NPM_TOKEN",
    ];
    const PREFIXES: &[&str] = &["ANTHROPIC_", "CLAUDE_CODE_", "DISABLE_"];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Checks a request and works out everything the runs need. Nothing is
/// started or written.
pub fn plan(data_dir: &Path, options: &RunOptions) -> Result<Plan> {
    let config = Config::load(data_dir)?;
    let repo_path = git::resolve_repository(&options.repo)?;
    let repo = git::open(&repo_path)?;
    let base_commit = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .map(|c| c.id())
        .ok_or_else(|| {
            UserError::with_hint(
                "the repository has no commits yet",
                "make a first commit, then run the sandbox",
            )
        })?;
    let template = match &options.template {
        Some(name) => Some(templates::find(data_dir, name)?),
        None => None,
    };
    if let Some(budget) = options.budget {
        if !budget.is_finite() || budget <= 0.0 {
            return Err(UserError::new("--budget must be a positive number of USD").into());
        }
    }
    let timeout_minutes = match options.timeout_minutes {
        Some(m) if !m.is_finite() || m <= 0.0 => {
            return Err(UserError::new("--timeout must be a positive number of minutes").into())
        }
        Some(m) => m,
        None => config.integer("sandbox.timeoutMinutes").unwrap_or(60) as f64,
    };

    // The environment: what is passed on, the credentials, the template's.
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, v)| passed_on(k) && !v.is_empty())
        .collect();
    let has = |env: &[(String, String)], key: &str| env.iter().any(|(k, _)| k == key);
    let credentials_file = paths::home_dir()
        .ok()
        .map(|h| h.join(".claude").join(".credentials.json"))
        .filter(|p| p.is_file());
    let (auth, oauth_credentials) = match options.auth {
        AuthChoice::ApiKey => {
            if !has(&env, "ANTHROPIC_API_KEY") {
                return Err(UserError::with_hint(
                    "--auth-method api-key needs ANTHROPIC_API_KEY in the environment",
                    "export ANTHROPIC_API_KEY, or use --auth-method oauth",
                )
                .into());
            }
            env.retain(|(k, _)| k != "CLAUDE_CODE_OAUTH_TOKEN");
            (Some("api-key"), None)
        }
        AuthChoice::Oauth => {
            if !has(&env, "CLAUDE_CODE_OAUTH_TOKEN") && credentials_file.is_none() {
                return Err(UserError::with_hint(
                    "--auth-method oauth needs CLAUDE_CODE_OAUTH_TOKEN or ~/.claude/.credentials.json",
                    "run 'claude setup-token' or log in with 'claude', or use --auth-method api-key",
                )
                .into());
            }
            env.retain(|(k, _)| k != "ANTHROPIC_API_KEY");
            let file = (!has(&env, "CLAUDE_CODE_OAUTH_TOKEN"))
                .then_some(credentials_file)
                .flatten();
            (Some("oauth"), file)
        }
        AuthChoice::Auto => {
            if has(&env, "ANTHROPIC_API_KEY") || has(&env, "ANTHROPIC_AUTH_TOKEN") {
                (Some("api-key"), None)
            } else if has(&env, "CLAUDE_CODE_OAUTH_TOKEN") {
                (Some("oauth"), None)
            } else if credentials_file.is_some() {
                (Some("oauth"), credentials_file)
            } else {
                (None, None)
            }
        }
    };
    if let Some(template) = &template {
        for (key, value) in &template.environment {
            env.retain(|(k, _)| k != key);
            env.push((key.clone(), value.clone()));
        }
    }

    let git_user = options
        .git_user
        .clone()
        .or_else(|| std::env::var("PARALLEL_CC_GIT_USER").ok())
        .or_else(|| repo.config().ok()?.get_string("user.name").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "parallel-cc sandbox".to_owned());
    let git_email = options
        .git_email
        .clone()
        .or_else(|| std::env::var("PARALLEL_CC_GIT_EMAIL").ok())
        .or_else(|| repo.config().ok()?.get_string("user.email").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "sandbox@parallel-cc.invalid".to_owned());
    for (what, value) in [("--git-user", &git_user), ("--git-email", &git_email)] {
        if value.contains(['\n', '\0', '<', '>']) {
            return Err(UserError::new(format!("{what} may not contain newlines or <>")).into());
        }
    }
    for (key, value) in [
        ("GIT_AUTHOR_NAME", &git_user),
        ("GIT_COMMITTER_NAME", &git_user),
        ("GIT_AUTHOR_EMAIL", &git_email),
        ("GIT_COMMITTER_EMAIL", &git_email),
    ] {
        env.push((key.to_owned(), value.clone()));
    }
    env.push(("PARALLEL_CC_SANDBOX".to_owned(), "1".to_owned()));

    let redactor = Redactor::for_environment(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));

    let agent_command = config.text_list("sandbox.agentCommand");
    if agent_command.is_empty() || agent_command[0].trim().is_empty() {
        return Err(UserError::with_hint(
            "config sandbox.agentCommand is empty",
            "set it, e.g. git pcc config set sandbox.agentCommand 'claude -p {prompt} --dangerously-skip-permissions'",
        )
        .into());
    }
    let backend_kind = options
        .backend
        .unwrap_or(match config.text("sandbox.backend").as_deref() {
            Some("e2b") => BackendKind::E2b,
            _ => BackendKind::Local,
        });
    let mut redactor = redactor;
    let mut notices = Vec::new();
    let e2b = match backend_kind {
        BackendKind::Local => {
            local::resolve_program(&agent_command, &env, &repo_path)?;
            None
        }
        BackendKind::E2b => {
            let template_id = template
                .as_ref()
                .and_then(|t| t.e2b_template.clone())
                .filter(|t| !t.trim().is_empty())
                .or_else(|| config.text("sandbox.e2bTemplate"))
                .unwrap_or_else(|| "base".to_owned());
            let mut max_minutes = config.integer("sandbox.e2bMaxMinutes").unwrap_or(60);
            if let Some(limit) = template
                .as_ref()
                .and_then(|t| t.metadata.get("maxMinutes"))
                .and_then(serde_json::Value::as_i64)
                .filter(|m| *m > 0)
            {
                max_minutes = max_minutes.min(limit);
            }
            let settings = super::e2b::E2bSettings::from_env(
                &template_id,
                Duration::from_secs(max_minutes as u64 * 60),
            )?;
            if let Some(key) = &settings.api_key {
                redactor.add(key);
            }
            Some(settings)
        }
    };

    // Files the agent gets in its home, readable by it alone.
    let mut private_files: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(file) = &oauth_credentials {
        let bytes = std::fs::read(file)
            .map_err(|err| UserError::new(format!("cannot read {}: {err}", file.display())))?;
        for token in ["accessToken", "refreshToken"] {
            if let Some(value) = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.pointer(&format!("/claudeAiOauth/{token}")).cloned())
                .and_then(|v| v.as_str().map(str::to_owned))
            {
                redactor.add(&value);
            }
        }
        private_files.push((".claude/.credentials.json".to_owned(), bytes));
    }
    let mut ssh_key_provided = false;
    if let Some(key) = &options.ssh_key {
        let bytes = std::fs::read(key).map_err(|err| {
            UserError::new(format!("cannot read SSH key {}: {err}", key.display()))
        })?;
        let text = String::from_utf8_lossy(&bytes);
        if !text.contains("PRIVATE KEY-----") {
            return Err(UserError::new(format!(
                "{} is not a private key (PEM or OpenSSH format)",
                key.display()
            ))
            .into());
        }
        if !options.confirm_ssh_key {
            notices.push(format!(
                "warning: the private key {} is copied into every sandbox of this run (pass --confirm-ssh-key to silence this)",
                key.display()
            ));
        }
        let name = key
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .unwrap_or_else(|| "id_sandbox".to_owned());
        let path = format!(".ssh/{name}");
        env.push((
            "GIT_SSH_COMMAND".to_owned(),
            format!("ssh -i ~/{path} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new"),
        ));
        private_files.push((path, bytes));
        ssh_key_provided = true;
    }
    if options.npm_registry.is_some() && options.npm_token.is_none() {
        return Err(UserError::new("--npm-registry needs --npm-token").into());
    }
    if let Some(token) = &options.npm_token {
        if token.trim().is_empty() || token.contains(['\n', '\r']) {
            return Err(UserError::new("--npm-token must be one non-empty line").into());
        }
        redactor.add(token);
        let registry = options
            .npm_registry
            .clone()
            .unwrap_or_else(|| "https://registry.npmjs.org/".to_owned());
        let Some(rest) = registry
            .strip_prefix("https://")
            .or_else(|| registry.strip_prefix("http://"))
        else {
            return Err(UserError::new(format!(
                "--npm-registry must be an http(s) URL, not '{registry}'"
            ))
            .into());
        };
        let rest = if rest.ends_with('/') {
            rest.to_owned()
        } else {
            format!("{rest}/")
        };
        private_files.push((
            ".npmrc".to_owned(),
            format!("registry={registry}\n//{rest}:_authToken={token}\n").into_bytes(),
        ));
    }

    let git_live = if options.git_live {
        let token = std::env::var("GITHUB_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                UserError::with_hint(
                    "--git-live needs GITHUB_TOKEN in the environment",
                    "create a token that may push and open pull requests, and export GITHUB_TOKEN",
                )
            })?;
        redactor.add(&token);
        let remote = config
            .text("sandbox.gitRemote")
            .unwrap_or_else(|| "origin".to_owned());
        let url = crate::github::remote_url(&repo_path, &remote)?;
        let (owner, name) = crate::github::owner_and_name(&url).ok_or_else(|| {
            UserError::new(format!(
                "cannot tell the GitHub repository from remote '{remote}' ({url})"
            ))
        })?;
        let target_branch = options
            .target_branch
            .clone()
            .or_else(|| git::current_branch(&repo))
            .unwrap_or_else(|| "main".to_owned());
        Some(GitLive {
            remote,
            owner,
            name,
            token,
            target_branch,
        })
    } else {
        if options.target_branch.is_some() {
            return Err(UserError::new("--target-branch goes with --git-live").into());
        }
        None
    };

    let branch = match &options.branch {
        BranchChoice::Named(name) => {
            results::check_branch_free(&repo_path, name)?;
            BranchChoice::Named(name.clone())
        }
        // A pull request needs a branch.
        BranchChoice::Worktree if git_live.is_some() => BranchChoice::Auto,
        other => other.clone(),
    };

    let monthly_left = match Database::open_existing_current(data_dir)? {
        Some(db) => budget::monthly_remaining(db.conn(), &config)?,
        None => config.number("budget.monthlyLimit"),
    };
    let per_run = options
        .budget
        .or_else(|| config.number("budget.perSessionDefault"));
    let budget_limit = match (per_run, monthly_left) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };

    let mut exclude = config.text_list("sandbox.exclude");
    exclude.retain(|p| !p.trim().is_empty());
    Ok(Plan {
        data_dir: data_dir.to_owned(),
        repo_path,
        base_commit,
        template,
        auth,
        private_files,
        backend_kind,
        e2b,
        git_live,
        ssh_key_provided,
        notices,
        env,
        redactor,
        git_user,
        git_email,
        agent_command,
        timeout: Duration::from_secs_f64(timeout_minutes * 60.0),
        budget_limit,
        hourly_rate: match backend_kind {
            BackendKind::Local => config.number("budget.localHourlyRate").unwrap_or(0.0),
            BackendKind::E2b => config.number("budget.e2bHourlyRate").unwrap_or(0.10),
        },
        dry_run: options.dry_run,
        branch,
        pack_options: PackOptions {
            exclude,
            include: options.include.clone(),
        },
        confinement: Confinement::detect(
            &config
                .text("sandbox.confinement")
                .unwrap_or_else(|| "auto".to_owned()),
        ),
        config,
    })
}

impl Plan {
    /// The branch a task's work comes back on.
    pub fn branch_for(&self, task: &Task) -> Option<String> {
        match &self.branch {
            BranchChoice::Worktree => None,
            BranchChoice::Auto => Some(format!("parallel/sandbox-{}", task.short_id())),
            BranchChoice::Named(name) => Some(match &task.batch {
                Some((_, index)) => format!("{name}-task-{index}"),
                None => name.clone(),
            }),
        }
    }

    /// The agent's command line for a prompt: `{prompt}` is replaced in
    /// place (as one word, never through a shell), or the prompt is added
    /// at the end when the command has no `{prompt}`.
    pub fn agent_argv(&self, prompt: &str) -> Vec<String> {
        let mut argv: Vec<String> = self
            .agent_command
            .iter()
            .map(|word| word.replace("{prompt}", prompt))
            .collect();
        if !self.agent_command.iter().any(|w| w.contains("{prompt}")) {
            argv.push(prompt.to_owned());
        }
        argv
    }

    fn backend(&self) -> Box<dyn Backend> {
        match &self.e2b {
            Some(settings) => Box::new(super::e2b::E2bBackend::new(settings.clone())),
            None => Box::new(LocalBackend::new(&self.data_dir, self.confinement.clone())),
        }
    }
}

/// At most N agents at once (`--multi`): a task prepares its sandbox
/// first and holds a slot only while its agent runs. Agents start in task
/// order: a task's turn comes after every earlier task has started its
/// agent or given up its turn.
#[derive(Debug)]
pub struct AgentSlots {
    state: std::sync::Mutex<SlotState>,
    changed: std::sync::Condvar,
}

#[derive(Debug)]
struct SlotState {
    free: usize,
    /// The task (1-based) whose agent starts next.
    next: usize,
    /// Tasks that will not start an agent.
    passed: std::collections::BTreeSet<usize>,
}

impl SlotState {
    /// Moves the turn past the tasks that will not start an agent.
    fn skip_passed(&mut self) {
        while self.passed.remove(&self.next) {
            self.next += 1;
        }
    }
}

/// A taken slot, given back when dropped.
pub struct Slot<'a>(&'a AgentSlots);

impl AgentSlots {
    pub fn new(count: usize) -> AgentSlots {
        AgentSlots {
            state: std::sync::Mutex::new(SlotState {
                free: count.max(1),
                next: 1,
                passed: std::collections::BTreeSet::new(),
            }),
            changed: std::sync::Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for task `index`'s turn and a free slot; `None` (and the turn
    /// passed on) when the runs are cancelled meanwhile or `give_up` says
    /// so: it is asked only while the task waits, about ten times a
    /// second, and never with the slots locked.
    pub fn acquire(
        &self,
        index: usize,
        cancel: &Cancel,
        give_up: &mut dyn FnMut() -> bool,
    ) -> Option<Slot<'_>> {
        let granted = self.wait_for(
            |state| {
                if cancel.is_cancelled() {
                    return Some(false);
                }
                if state.next == index && state.free > 0 {
                    state.free -= 1;
                    state.next += 1;
                    self.changed.notify_all();
                    return Some(true);
                }
                None
            },
            give_up,
        );
        if granted == Some(true) {
            Some(Slot(self))
        } else {
            self.pass(index);
            None
        }
    }

    /// Waits until task `index` may begin preparing its sandbox: when the
    /// task a whole wave before it has started its agent (or given up), so
    /// that the first tasks get the machine to themselves. Returns early
    /// when `give_up` says so.
    pub fn wait_to_prepare(
        &self,
        index: usize,
        wave: usize,
        cancel: &Cancel,
        give_up: &mut dyn FnMut() -> bool,
    ) {
        self.wait_for(
            |state| {
                (cancel.is_cancelled() || index <= wave || state.next + wave > index).then_some(())
            },
            give_up,
        );
    }

    /// Waits until `ready` gives a value, asking it again whenever the
    /// slots change (and ten times a second). `None` when `give_up` says
    /// so: it is asked only once the task has waited, about ten times a
    /// second, and never with the slots locked.
    fn wait_for<T>(
        &self,
        mut ready: impl FnMut(&mut SlotState) -> Option<T>,
        give_up: &mut dyn FnMut() -> bool,
    ) -> Option<T> {
        let mut state = self.lock();
        let mut waited = false;
        loop {
            state.skip_passed();
            if let Some(value) = ready(&mut state) {
                return Some(value);
            }
            if waited {
                drop(state);
                if give_up() {
                    return None;
                }
                state = self.lock();
            }
            waited = true;
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Task `index` will not start an agent: later tasks need not wait for it.
    pub fn pass(&self, index: usize) {
        let mut state = self.lock();
        if index >= state.next {
            state.passed.insert(index);
        }
        self.changed.notify_all();
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.lock().free += 1;
        self.0.changed.notify_all();
    }
}

/// Gives up a task's turn when it ends without having taken a slot.
struct Turn<'a> {
    slots: Option<&'a AgentSlots>,
    index: usize,
    taken: bool,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let (false, Some(slots)) = (self.taken, self.slots) {
            slots.pass(self.index);
        }
    }
}

/// Asks for every run of this process to end (fail-fast, interrupt).
#[derive(Debug, Default)]
pub struct Cancel {
    flag: AtomicBool,
    reason: std::sync::Mutex<Option<String>>,
}

impl Cancel {
    pub fn cancel(&self, reason: &str) {
        let mut guard = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        guard.get_or_insert_with(|| reason.to_owned());
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst) || INTERRUPTED.load(Ordering::SeqCst)
    }

    pub fn reason(&self) -> String {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return "interrupted".to_owned();
        }
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "cancelled".to_owned())
    }
}

/// The run's log: every line with secrets masked, flushed at once so that
/// `logs --follow` sees it.
struct Log {
    file: File,
    redactor: Redactor,
}

impl Log {
    fn line(&mut self, prefix: &str, text: &str) {
        let text = self.redactor.redact(text);
        let _ = writeln!(self.file, "{prefix}{text}");
    }
}

/// Why the agent was stopped.
#[derive(Debug, Clone, PartialEq)]
enum StopReason {
    Killed,
    Cancelled,
    Timeout,
    Budget(f64),
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

/// Packs (or reads) the workspace and uploads it.
fn upload(plan: &Plan, sandbox: &dyn Sandbox, source: &WorkspaceSource) -> Result<PackManifest> {
    match source {
        WorkspaceSource::Archive(path, manifest) => {
            let mut file = File::open(path)
                .with_context(|| format!("cannot read the packed workspace {}", path.display()))?;
            sandbox.upload(&mut file)?;
            Ok((*manifest).clone())
        }
        WorkspaceSource::Pack => {
            let (writer, mut reader) = pipe();
            let repo = plan.repo_path.clone();
            let options = plan.pack_options.clone();
            let packer = std::thread::spawn(move || pack::pack(&repo, &options, writer));
            let uploaded = sandbox.upload(&mut reader);
            drop(reader);
            let manifest = packer
                .join()
                .map_err(|_| anyhow::anyhow!("packing the workspace failed"))??;
            uploaded?;
            Ok(manifest)
        }
    }
}

/// Runs one preparation step in the sandbox, logging its output.
#[allow(clippy::too_many_arguments)]
fn run_step(
    plan: &Plan,
    sandbox: &dyn Sandbox,
    argv: &[String],
    log: &mut Log,
    prefix: &str,
    deadline: Instant,
    cancel: &Cancel,
    stdout: &mut Vec<String>,
) -> Result<Exit> {
    let spec = CommandSpec {
        argv: argv.to_vec(),
        env: plan.env.clone(),
    };
    sandbox.run(&spec, &mut |event| {
        if let RunEvent::Line(stream, line) = event {
            log.line(prefix, line);
            if stream == OutputStream::Stdout {
                stdout.push(line.to_owned());
            }
        }
        if cancel.is_cancelled() || Instant::now() >= deadline {
            Flow::Stop
        } else {
            Flow::Continue
        }
    })
}

/// Makes the workspace a git repository whose first commit is everything
/// packed (`-f`: tracked files the workspace's ignore rules would skip),
/// and prints that commit. Hooks never run; `core.bigFileThreshold=1`
/// writes the contents as one pack instead of a file per object.
/// The commit message is `$1`.
const BASELINE_SCRIPT: &str = "git -c core.hooksPath=/dev/null init -q -b main \
    && git -c core.hooksPath=/dev/null -c core.bigFileThreshold=1 add -A -f \
    && git -c core.hooksPath=/dev/null commit -q --no-verify --allow-empty -m \"$1\" \
    && git rev-parse HEAD";

/// The message of the baseline commit.
const BASELINE_MESSAGE: &str = "Workspace as packed by parallel-cc";

/// Commits whatever the agent left uncommitted (ignored files stay out),
/// with git in the sandbox. The commit message is `$1`. First the bits
/// that hide changes from `git add -A` are cleared, as the libgit2 path
/// clears them: `assume-unchanged` on every file (`ls-files -v` tags it
/// `h`, or `s` when also `skip-worktree`), `skip-worktree` on files present
/// in the working tree (tag `S` or `s`). Repositories of their own with no
/// commit yet (not ignored, not inside another one) are left out of
/// `git add`, which would refuse them, and with them everything: the run
/// reports their work instead.
const LEFTOVER_SCRIPT: &str = "git ls-files -z -v \
    | xargs -0 sh -c 'for e; do case $e in h\\ *|s\\ *) printf \"%s\\0\" \"${e#??}\";; esac; done' sh \
    | git update-index -z --no-assume-unchanged --stdin \
    && git ls-files -z -v \
    | xargs -0 sh -c 'for e; do case $e in [Ss]\\ *) p=${e#??}; \
        if [ -e \"$p\" ] || [ -L \"$p\" ]; then printf \"%s\\0\" \"$p\"; fi;; esac; done' sh \
    | git update-index -z --no-skip-worktree --stdin \
    && find . -path ./.git -prune -o -name .git -prune -print | while IFS= read -r dotgit; do \
        dir=${dotgit%/.git}; dir=${dir#./}; up=$dir; \
        while [ \"${up%/*}\" != \"$up\" ]; do up=${up%/*}; [ -e \"$up/.git\" ] && continue 2; done; \
        git check-ignore -q -- \"$dir\" || git -C \"$dir\" rev-parse -q --verify HEAD >/dev/null \
            || printf ':(exclude)%s\\0' \"$dir\"; \
    done \
    | git -c core.hooksPath=/dev/null -c core.bigFileThreshold=1 -c advice.addEmbeddedRepo=false add -A \
        --pathspec-from-file=- --pathspec-file-nul \
    && { git diff --cached --quiet \
    || git -c core.hooksPath=/dev/null commit -q --no-verify -m \"$1\"; }";

/// The message of the commit of what the agent left uncommitted.
const LEFTOVER_MESSAGE: &str = "Uncommitted changes left by the agent";

/// A fixed script of ours (never user text) for the sandbox's shell, with
/// its positional arguments.
fn sh(script: &str, args: &[&str]) -> Vec<String> {
    ["sh", "-c", script, "sh"]
        .iter()
        .chain(args)
        .map(|word| (*word).to_owned())
        .collect()
}

/// Makes the workspace a git repository whose first commit is the packed
/// workspace. Returns that commit.
fn commit_baseline(
    plan: &Plan,
    sandbox: &dyn Sandbox,
    log: &mut Log,
    deadline: Instant,
) -> Result<Oid> {
    if let Some(commit) =
        sandbox.commit_baseline(&plan.git_user, &plan.git_email, BASELINE_MESSAGE)?
    {
        log.line("[baseline] ", &commit.to_string());
        return Ok(commit);
    }
    let never = Cancel::default();
    let mut stdout = Vec::new();
    let exit = run_step(
        plan,
        sandbox,
        &sh(BASELINE_SCRIPT, &[BASELINE_MESSAGE]),
        log,
        "[baseline] ",
        deadline,
        &never,
        &mut stdout,
    )?;
    if !exit.success() {
        anyhow::bail!("cannot prepare the sandbox workspace: git failed");
    }
    let head = stdout.last().map(|s| s.trim()).unwrap_or_default();
    Oid::from_str(head).context("cannot read the sandbox's baseline commit")
}

/// Pushes a run's branch and opens a pull request. Returns its URL.
fn publish(
    plan: &Plan,
    live: &GitLive,
    task: &Task,
    branch: &str,
    collected: &Collected,
) -> Result<String> {
    crate::github::push(&plan.repo_path, &live.remote, branch)?;
    let title = format!(
        "Sandbox run {}: {}",
        task.short_id(),
        plan.redactor
            .redact(task.prompt.lines().next().unwrap_or(""))
            .chars()
            .take(60)
            .collect::<String>()
    );
    let mut body = format!(
        "Made by an unattended sandbox run ({}).\n\n**Prompt**\n\n{}\n\n**Files changed**\n\n",
        task.id,
        plan.redactor.redact(&task.prompt)
    );
    for file in &collected.files {
        body.push_str(&format!("- `{file}`\n"));
    }
    let pr = crate::github::open_pull_request(
        &live.token,
        &live.owner,
        &live.name,
        branch,
        &live.target_branch,
        &title,
        &body,
    )?;
    Ok(pr.url)
}

/// Commits what the agent left uncommitted, reads the work and brings it
/// into the user's repository when the run completed.
fn bring_back(
    plan: &Plan,
    task: &Task,
    sandbox: &dyn Sandbox,
    baseline: Oid,
    outcome: &Outcome,
    log: &mut Log,
) -> Result<(Collected, Imported)> {
    let committed = sandbox
        .commit_leftovers(&plan.git_user, &plan.git_email, LEFTOVER_MESSAGE)
        .unwrap_or_else(|err| {
            // git in the sandbox may still manage (a repository state
            // libgit2 refuses): let it try.
            log.line("[results] ", &format!("{err:#}; trying git"));
            false
        });
    if !committed {
        let never = Cancel::default();
        let deadline = Instant::now() + Duration::from_secs(300);
        let exit = run_step(
            plan,
            sandbox,
            &sh(LEFTOVER_SCRIPT, &[LEFTOVER_MESSAGE]),
            log,
            "[results] ",
            deadline,
            &never,
            &mut Vec::new(),
        )?;
        if !exit.success() {
            anyhow::bail!("cannot commit what the agent left uncommitted");
        }
    }
    let nested = nested_work(plan, sandbox, log).unwrap_or_else(|err| {
        vec![plan
            .redactor
            .redact(&format!(
                "cannot tell whether repositories inside the workspace hold work: {err:#}"
            ))
            .into_owned()]
    });
    let local = match sandbox.local_path("") {
        Some(path) => path,
        None => {
            let dest = local::run_dir(&plan.data_dir, &task.id).join("result");
            if dest.exists() {
                std::fs::remove_dir_all(&dest)?;
            }
            sandbox.download(".git", &dest.join(".git"))?;
            dest
        }
    };
    let mut collected = results::collect(&local, baseline, &plan.redactor)?;
    collected.not_brought_back = nested;
    if outcome.status != RunStatus::Completed || collected.files.is_empty() {
        return Ok((collected, Imported::default()));
    }
    let imported = match plan.branch_for(task) {
        Some(branch) => results::import_branch(
            &plan.repo_path,
            &local,
            baseline,
            plan.base_commit,
            &branch,
            task.short_id(),
        )?,
        None => results::import_worktree(
            &plan.data_dir,
            &plan.repo_path,
            &plan.config,
            &local,
            baseline,
            plan.base_commit,
            &format!("sandbox-{}", task.short_id()),
            task.short_id(),
        )?,
    };
    Ok((collected, imported))
}

/// Finds the repositories of their own inside the workspace (submodules,
/// clones) that hold work, each as the line a run reports: in-process
/// where the workspace is on this machine, with git in the sandbox
/// otherwise.
fn nested_work(plan: &Plan, sandbox: &dyn Sandbox, log: &mut Log) -> Result<Vec<String>> {
    let found = match sandbox.local_path("") {
        Some(workspace) => results::nested_work(&workspace, &plan.repo_path, plan.base_commit)?,
        None => {
            let recorded = results::recorded_submodules(&plan.repo_path, plan.base_commit)?;
            let mut args = Vec::with_capacity(recorded.len() * 2);
            for (path, oid) in &recorded {
                args.push(path.clone());
                args.push(oid.to_string());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut stdout = Vec::new();
            let exit = run_step(
                plan,
                sandbox,
                &sh(NESTED_SCRIPT, &args),
                log,
                "[results] ",
                Instant::now() + Duration::from_secs(300),
                &Cancel::default(),
                &mut stdout,
            )?;
            if !exit.success() {
                anyhow::bail!("git failed");
            }
            stdout
                .iter()
                .filter_map(|line| parse_nested(line))
                .collect()
        }
    };
    Ok(found
        .iter()
        .map(|work| plan.redactor.redact(&work.describe()).into_owned())
        .collect())
}

/// Lists, with git in the sandbox, the repositories inside the workspace
/// that it does not ignore, as `NESTED <uncommitted> <commits> <path>`,
/// counted as [`results::nested_work`] counts them. The arguments are
/// pairs of a path and the commit the user's repository records there.
const NESTED_SCRIPT: &str = "recorded() { want=$1; shift; \
    while [ $# -ge 2 ]; do [ \"$1\" = \"$want\" ] && { printf %s \"$2\"; return; }; shift 2; done; }; \
    find . -path ./.git -prune -o -name .git -prune -print | while IFS= read -r dotgit; do \
        dir=${dotgit%/.git}; dir=${dir#./}; \
        git check-ignore -q -- \"$dir\" && continue; \
        files=$(( $(git -C \"$dir\" -c status.renames=false status --porcelain -z \
            --untracked-files=all --ignore-submodules=all 2>/dev/null | tr -cd '\\000' | wc -c) + 0 )); \
        commits=0; \
        if git -C \"$dir\" rev-parse -q --verify HEAD >/dev/null; then \
            base=$(recorded \"$dir\" \"$@\"); \
            if [ -n \"$base\" ] && git -C \"$dir\" cat-file -e \"$base^{commit}\" 2>/dev/null; then \
                commits=$(( $(git -C \"$dir\" rev-list --count HEAD --not --remotes \"$base\") + 0 )); \
            else \
                commits=$(( $(git -C \"$dir\" rev-list --count HEAD --not --remotes) + 0 )); \
            fi; \
        fi; \
        if [ \"$files\" -gt 0 ] || [ \"$commits\" -gt 0 ]; then \
            printf 'NESTED %s %s %s\\n' \"$files\" \"$commits\" \"$dir\"; \
        fi; \
    done";

/// One line of [`NESTED_SCRIPT`]'s output.
fn parse_nested(line: &str) -> Option<crate::held_work::SubmoduleWork> {
    let mut fields = line.strip_prefix("NESTED ")?.splitn(3, ' ');
    Some(crate::held_work::SubmoduleWork {
        uncommitted_files: fields.next()?.parse().ok()?,
        unrecorded_commits: fields.next()?.parse().ok()?,
        path: fields.next()?.to_owned(),
    })
}

/// An in-process pipe: what is written on one end is read on the other,
/// in chunks, so the workspace streams from the packer into the upload.
fn pipe() -> (PipeWriter, PipeReader) {
    let (sender, receiver) = mpsc::sync_channel(16);
    (
        PipeWriter { sender },
        PipeReader {
            receiver,
            chunk: Vec::new(),
            at: 0,
        },
    )
}

struct PipeWriter {
    sender: mpsc::SyncSender<Vec<u8>>,
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.sender
            .send(buf.to_vec())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "upload ended"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct PipeReader {
    receiver: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.chunk.len() {
            match self.receiver.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
