//! The check stage: the request as the user made it, checked in full
//! before anything starts, and the [`Plan`] every run of it follows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use git2::{Oid, Repository};

use super::super::e2b::{E2bBackend, E2bSettings};
use super::super::local::{self, Confinement, LocalBackend};
use super::super::pack::PackOptions;
use super::super::results;
use super::super::Backend;
use super::Task;
use crate::agents::AgentProfile;
use crate::config::Config;
use crate::db::Database;
use crate::redact::Redactor;
use crate::templates::{self, Template};
use crate::{budget, git, paths, UserError};

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
    /// The agent to run (default: the template's, else Claude Code, by
    /// `sandbox.agentCommand`).
    pub agent: Option<String>,
    /// Further variables of this environment the sandbox gets, by name.
    pub env_names: Vec<String>,
    /// The environment is to be printed ([`Plan::printable_environment`]):
    /// `env_names` may not name a secret of our own.
    pub print_env: bool,
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
    pub(super) private_files: Vec<(String, Vec<u8>)>,
    pub backend_kind: BackendKind,
    pub(super) e2b: Option<E2bSettings>,
    pub git_live: Option<GitLive>,
    pub ssh_key_provided: bool,
    /// Things the user should know before the run starts.
    pub notices: Vec<String>,
    pub(super) env: Vec<(String, String)>,
    pub redactor: Redactor,
    pub git_user: String,
    pub git_email: String,
    pub agent_command: Vec<String>,
    /// The agent the runs start.
    pub agent: AgentProfile,
    pub timeout: Duration,
    pub budget_limit: Option<f64>,
    pub hourly_rate: f64,
    pub dry_run: bool,
    pub branch: BranchChoice,
    pub pack_options: PackOptions,
    pub confinement: Confinement,
    /// What the plan was made from, to make the plan of another agent.
    options: RunOptions,
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

/// A file written into the sandbox's home: its path there and its bytes.
type PrivateFile = (String, Vec<u8>);

/// Checks a request and works out everything the runs need. Nothing is
/// started or written.
pub fn plan(data_dir: &Path, options: &RunOptions) -> Result<Plan> {
    let config = Config::load(data_dir)?;
    let repo_path = git::resolve_repository(&options.repo)?;
    let repo = git::open(&repo_path)?;
    let base_commit = head_commit(&repo)?;
    let template = match &options.template {
        Some(name) => Some(templates::find(data_dir, name)?),
        None => None,
    };
    check_budget(options.budget)?;
    let timeout_minutes = timeout_minutes(options.timeout_minutes, &config)?;

    // The environment: what is passed on, the credentials, the template's.
    let agent_name = options
        .agent
        .as_deref()
        .or(template.as_ref().and_then(|t| t.agent.as_deref()))
        .unwrap_or(crate::agents::DEFAULT_AGENT);
    let agent = crate::agents::find(&config, agent_name)?;
    let claude = agent.name == crate::agents::DEFAULT_AGENT;
    let mut env = passed_on_environment();
    let (auth, oauth_credentials) = if claude {
        choose_auth(options.auth, &mut env)?
    } else {
        (agent_credentials(&agent, &mut env)?, None)
    };
    if options.print_env {
        refuse_printing_own_secrets(&config, &options.env_names)?;
    }
    add_named_environment(&mut env, &options.env_names)?;
    if let Some(template) = &template {
        add_template_environment(&mut env, template);
    }
    let (git_user, git_email) = git_identity(options, &repo)?;
    add_git_identity(&mut env, &git_user, &git_email);
    env.push(("PARALLEL_CC_SANDBOX".to_owned(), "1".to_owned()));
    let mut redactor = Redactor::for_environment(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (name, value) in &env {
        if agent.credentials.contains(name) {
            redactor.add(value);
        }
    }

    let agent_command = if claude {
        agent_command(&config)?
    } else {
        agent.headless.clone()
    };
    let backend_kind = backend_kind(options.backend, &config);
    let e2b = match backend_kind {
        BackendKind::Local => {
            local::resolve_program(&agent_command, &env, &repo_path)?;
            None
        }
        BackendKind::E2b => Some(e2b_settings(&config, template.as_ref(), &mut redactor)?),
    };

    // Files the agent gets in its home, readable by it alone.
    let mut private_files = Vec::new();
    let mut notices = Vec::new();
    if let Some(file) = &oauth_credentials {
        private_files.push(oauth_credentials_file(file, &mut redactor)?);
    }
    if let Some(key) = &options.ssh_key {
        let confirmed = options.confirm_ssh_key;
        private_files.push(ssh_key_file(key, confirmed, &mut env, &mut notices)?);
    }
    if let Some(npmrc) = npm_config_file(options, &mut redactor)? {
        private_files.push(npmrc);
    }
    if let Some(settings) = gemini_settings_file(&agent, &env) {
        private_files.push(settings);
    }

    let git_live = git_live(options, &config, &repo_path, &repo, &mut redactor)?;
    let branch = branch_choice(&options.branch, &repo_path, git_live.is_some())?;
    let budget_limit = budget_limit(data_dir, &config, options.budget)?;
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
        ssh_key_provided: options.ssh_key.is_some(),
        notices,
        env,
        redactor,
        git_user,
        git_email,
        agent_command,
        agent,
        timeout: Duration::from_secs_f64(timeout_minutes * 60.0),
        budget_limit,
        hourly_rate: hourly_rate(&config, backend_kind),
        dry_run: options.dry_run,
        branch,
        pack_options: pack_options(&config, options),
        confinement: Confinement::detect(
            &config
                .text("sandbox.confinement")
                .unwrap_or_else(|| "auto".to_owned()),
        ),
        config,
        options: options.clone(),
    })
}

/// The commit the runs start from: the repository's HEAD.
fn head_commit(repo: &Repository) -> Result<Oid> {
    let commit = repo
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
    Ok(commit)
}

/// Checks `--budget`: a positive number of USD.
fn check_budget(budget: Option<f64>) -> Result<()> {
    if let Some(budget) = budget {
        if !budget.is_finite() || budget <= 0.0 {
            return Err(UserError::new("--budget must be a positive number of USD").into());
        }
    }
    Ok(())
}

/// The timeout in minutes: `--timeout`, else config
/// `sandbox.timeoutMinutes`, else 60.
fn timeout_minutes(requested: Option<f64>, config: &Config) -> Result<f64> {
    match requested {
        Some(m) if !m.is_finite() || m <= 0.0 => {
            Err(UserError::new("--timeout must be a positive number of minutes").into())
        }
        Some(m) => Ok(m),
        None => Ok(config.integer("sandbox.timeoutMinutes").unwrap_or(60) as f64),
    }
}

/// The variables of this process's environment a run passes on, those
/// with a value.
fn passed_on_environment() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, v)| passed_on(k) && !v.is_empty())
        .collect()
}

/// The credentials of an agent other than Claude Code: Claude Code's are
/// taken out of `env` (each agent's reach only its own sandbox) and the
/// agent's own variables present in this environment are put in; an error
/// when none of them is set.
fn agent_credentials(
    agent: &AgentProfile,
    env: &mut Vec<(String, String)>,
) -> Result<Option<&'static str>> {
    env.retain(|(k, _)| !(k.starts_with("ANTHROPIC_") || k.starts_with("CLAUDE_CODE_")));
    let mut found = false;
    for name in &agent.credentials {
        if let Some(value) = std::env::var(name).ok().filter(|v| !v.is_empty()) {
            env.retain(|(k, _)| k != name);
            env.push((name.clone(), value));
            found = true;
        }
    }
    if agent.credentials.is_empty() {
        return Ok(None);
    }
    if !found {
        return Err(UserError::with_hint(
            format!(
                "{} needs {} in the environment",
                agent.title,
                agent.credentials.join(" or ")
            ),
            format!("export {}", agent.credentials[0]),
        )
        .into());
    }
    Ok(Some("api-key"))
}

/// `--env NAME`: each variable of this environment by that name, in place
/// of one the sandbox had; a name that is not set is an error.
fn add_named_environment(env: &mut Vec<(String, String)>, names: &[String]) -> Result<()> {
    for name in names {
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(UserError::with_hint(
                format!("--env {name}: not a variable's name"),
                "give the name alone (letters, digits, _), e.g. --env HTTP_PROXY",
            )
            .into());
        }
        let Some(value) = std::env::var_os(name) else {
            return Err(UserError::with_hint(
                format!("--env {name}: {name} is not set in this environment"),
                format!("export {name} first, or leave --env {name} out"),
            )
            .into());
        };
        env.retain(|(k, _)| k != name);
        env.push((name.clone(), value.to_string_lossy().into_owned()));
    }
    Ok(())
}

/// The variables holding secrets of parallel-cc's own: every agent's
/// credentials, the E2B key, the GitHub and npm tokens.
pub fn own_secret_names(config: &Config) -> Result<Vec<String>> {
    let mut names: Vec<String> = [
        "E2B_API_KEY",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "NPM_TOKEN",
        "ANTHROPIC_AUTH_TOKEN",
    ]
    .map(String::from)
    .to_vec();
    for profile in crate::agents::all(config)? {
        for name in profile.credentials {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// `--env NAME` for one of our own secrets passes it, but never prints it:
/// with the environment to be printed, it is refused.
fn refuse_printing_own_secrets(config: &Config, names: &[String]) -> Result<()> {
    let own = own_secret_names(config)?;
    if let Some(name) = names.iter().find(|n| own.contains(n)) {
        return Err(UserError::with_hint(
            format!("--env {name}: {name} holds a secret of parallel-cc's own, which --print-env does not print"),
            format!("leave out --print-env to pass it to the sandbox, or leave out --env {name} to print the rest"),
        )
        .into());
    }
    Ok(())
}

fn has(env: &[(String, String)], key: &str) -> bool {
    env.iter().any(|(k, _)| k == key)
}

/// How the agent authenticates, and the OAuth credentials file to copy
/// into its home when it logs in with that. A method asked for drops the
/// other method's variable from `env`.
fn choose_auth(
    choice: AuthChoice,
    env: &mut Vec<(String, String)>,
) -> Result<(Option<&'static str>, Option<PathBuf>)> {
    let credentials_file = paths::home_dir()
        .ok()
        .map(|h| h.join(".claude").join(".credentials.json"))
        .filter(|p| p.is_file());
    match choice {
        AuthChoice::ApiKey => {
            if !has(env, "ANTHROPIC_API_KEY") {
                return Err(UserError::with_hint(
                    "--auth-method api-key needs ANTHROPIC_API_KEY in the environment",
                    "export ANTHROPIC_API_KEY, or use --auth-method oauth",
                )
                .into());
            }
            env.retain(|(k, _)| k != "CLAUDE_CODE_OAUTH_TOKEN");
            Ok((Some("api-key"), None))
        }
        AuthChoice::Oauth => {
            if !has(env, "CLAUDE_CODE_OAUTH_TOKEN") && credentials_file.is_none() {
                return Err(UserError::with_hint(
                    "--auth-method oauth needs CLAUDE_CODE_OAUTH_TOKEN or ~/.claude/.credentials.json",
                    "run 'claude setup-token' or log in with 'claude', or use --auth-method api-key",
                )
                .into());
            }
            env.retain(|(k, _)| k != "ANTHROPIC_API_KEY");
            let file = (!has(env, "CLAUDE_CODE_OAUTH_TOKEN"))
                .then_some(credentials_file)
                .flatten();
            Ok((Some("oauth"), file))
        }
        AuthChoice::Auto => Ok(
            if has(env, "ANTHROPIC_API_KEY") || has(env, "ANTHROPIC_AUTH_TOKEN") {
                (Some("api-key"), None)
            } else if has(env, "CLAUDE_CODE_OAUTH_TOKEN") {
                (Some("oauth"), None)
            } else if credentials_file.is_some() {
                (Some("oauth"), credentials_file)
            } else {
                (None, None)
            },
        ),
    }
}

/// The template's variables, each in place of one of the same name.
fn add_template_environment(env: &mut Vec<(String, String)>, template: &Template) {
    for (key, value) in &template.environment {
        env.retain(|(k, _)| k != key);
        env.push((key.clone(), value.clone()));
    }
}

/// The author of the sandbox's commits: the options, else
/// `PARALLEL_CC_GIT_USER` and `PARALLEL_CC_GIT_EMAIL`, else the
/// repository's git config, else a stand-in.
fn git_identity(options: &RunOptions, repo: &Repository) -> Result<(String, String)> {
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
    Ok((git_user, git_email))
}

/// The variables that make git in the sandbox commit as that author.
fn add_git_identity(env: &mut Vec<(String, String)>, git_user: &str, git_email: &str) {
    for (key, value) in [
        ("GIT_AUTHOR_NAME", git_user),
        ("GIT_COMMITTER_NAME", git_user),
        ("GIT_AUTHOR_EMAIL", git_email),
        ("GIT_COMMITTER_EMAIL", git_email),
    ] {
        env.push((key.to_owned(), value.to_owned()));
    }
}

/// The agent's command line, config `sandbox.agentCommand`: never empty.
fn agent_command(config: &Config) -> Result<Vec<String>> {
    let agent_command = config.text_list("sandbox.agentCommand");
    if agent_command.is_empty() || agent_command[0].trim().is_empty() {
        return Err(UserError::with_hint(
            "config sandbox.agentCommand is empty",
            "set it, e.g. git pcc config set sandbox.agentCommand 'claude -p {prompt} --dangerously-skip-permissions'",
        )
        .into());
    }
    Ok(agent_command)
}

/// `--backend`, else config `sandbox.backend`, else the local backend.
fn backend_kind(requested: Option<BackendKind>, config: &Config) -> BackendKind {
    requested.unwrap_or(match config.text("sandbox.backend").as_deref() {
        Some("e2b") => BackendKind::E2b,
        _ => BackendKind::Local,
    })
}

/// The E2B template and lifetime of the runs' cloud sandboxes; the API
/// key is masked in what the runs report.
fn e2b_settings(
    config: &Config,
    template: Option<&Template>,
    redactor: &mut Redactor,
) -> Result<E2bSettings> {
    let template_id = template
        .and_then(|t| t.e2b_template.clone())
        .filter(|t| !t.trim().is_empty())
        .or_else(|| config.text("sandbox.e2bTemplate"))
        .unwrap_or_else(|| "base".to_owned());
    let mut max_minutes = config.integer("sandbox.e2bMaxMinutes").unwrap_or(60);
    if let Some(limit) = template
        .and_then(|t| t.metadata.get("maxMinutes"))
        .and_then(serde_json::Value::as_i64)
        .filter(|m| *m > 0)
    {
        max_minutes = max_minutes.min(limit);
    }
    let settings =
        E2bSettings::from_env(&template_id, Duration::from_secs(max_minutes as u64 * 60))?;
    if let Some(key) = &settings.api_key {
        redactor.add(key);
    }
    Ok(settings)
}

/// The user's Claude OAuth credentials for the agent's home; their tokens
/// are masked in what the runs report.
fn oauth_credentials_file(file: &Path, redactor: &mut Redactor) -> Result<PrivateFile> {
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
    Ok((".claude/.credentials.json".to_owned(), bytes))
}

/// The Gemini CLI's settings for its sandbox's home: its API key chosen as
/// its way in (its base URL would otherwise make it expect a gateway's)
/// and the workspace trusted (in an untrusted folder it turns `--yolo`
/// back into asking, which nobody answers); `None` for other agents, or
/// without `GEMINI_API_KEY`.
fn gemini_settings_file(agent: &AgentProfile, env: &[(String, String)]) -> Option<PrivateFile> {
    if agent.output != crate::agents::Output::GeminiStreamJson || !has(env, "GEMINI_API_KEY") {
        return None;
    }
    let settings = serde_json::json!({
        "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
        "privacy": {"usageStatisticsEnabled": false}
    });
    Some((
        ".gemini/settings.json".to_owned(),
        format!("{settings}\n").into_bytes(),
    ))
}

/// `--ssh-key`: a private key for the agent's `~/.ssh`, and the
/// `GIT_SSH_COMMAND` that uses it. Unless `confirmed`, a notice says the
/// key is copied.
fn ssh_key_file(
    key: &Path,
    confirmed: bool,
    env: &mut Vec<(String, String)>,
    notices: &mut Vec<String>,
) -> Result<PrivateFile> {
    let bytes = std::fs::read(key)
        .map_err(|err| UserError::new(format!("cannot read SSH key {}: {err}", key.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("PRIVATE KEY-----") {
        return Err(UserError::new(format!(
            "{} is not a private key (PEM or OpenSSH format)",
            key.display()
        ))
        .into());
    }
    if !confirmed {
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
    Ok((path, bytes))
}

/// `--npm-token` (and `--npm-registry`): npm's config for the agent's
/// home; the token is masked in what the runs report.
fn npm_config_file(options: &RunOptions, redactor: &mut Redactor) -> Result<Option<PrivateFile>> {
    if options.npm_registry.is_some() && options.npm_token.is_none() {
        return Err(UserError::new("--npm-registry needs --npm-token").into());
    }
    let Some(token) = &options.npm_token else {
        return Ok(None);
    };
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
    Ok(Some((
        ".npmrc".to_owned(),
        format!("registry={registry}\n//{rest}:_authToken={token}\n").into_bytes(),
    )))
}

/// `--git-live`: the GitHub repository, token and target branch the runs
/// publish to; the token is masked in what the runs report.
fn git_live(
    options: &RunOptions,
    config: &Config,
    repo_path: &Path,
    repo: &Repository,
    redactor: &mut Redactor,
) -> Result<Option<GitLive>> {
    if !options.git_live {
        if options.target_branch.is_some() {
            return Err(UserError::new("--target-branch goes with --git-live").into());
        }
        return Ok(None);
    }
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
    let url = crate::github::remote_url(repo_path, &remote)?;
    let (owner, name) = crate::github::owner_and_name(&url).ok_or_else(|| {
        UserError::new(format!(
            "cannot tell the GitHub repository from remote '{remote}' ({url})"
        ))
    })?;
    let target_branch = options
        .target_branch
        .clone()
        .or_else(|| git::current_branch(repo))
        .unwrap_or_else(|| "main".to_owned());
    Ok(Some(GitLive {
        remote,
        owner,
        name,
        token,
        target_branch,
    }))
}

/// Where the work comes back: a named branch must be free, and a pull
/// request (`git_live`) needs a branch.
fn branch_choice(
    requested: &BranchChoice,
    repo_path: &Path,
    git_live: bool,
) -> Result<BranchChoice> {
    Ok(match requested {
        BranchChoice::Named(name) => {
            results::check_branch_free(repo_path, name)?;
            BranchChoice::Named(name.clone())
        }
        BranchChoice::Worktree if git_live => BranchChoice::Auto,
        other => other.clone(),
    })
}

/// A run's budget: the lower of `--budget` (else config
/// `budget.perSessionDefault`) and what is left of the month's.
fn budget_limit(data_dir: &Path, config: &Config, requested: Option<f64>) -> Result<Option<f64>> {
    let monthly_left = match Database::open_existing_current(data_dir)? {
        Some(db) => budget::monthly_remaining(db.conn(), config)?,
        None => config.number("budget.monthlyLimit"),
    };
    let per_run = requested.or_else(|| config.number("budget.perSessionDefault"));
    Ok(match (per_run, monthly_left) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// What a sandbox costs an hour on this backend (config
/// `budget.localHourlyRate`, `budget.e2bHourlyRate`).
fn hourly_rate(config: &Config, backend_kind: BackendKind) -> f64 {
    match backend_kind {
        BackendKind::Local => config.number("budget.localHourlyRate").unwrap_or(0.0),
        BackendKind::E2b => config.number("budget.e2bHourlyRate").unwrap_or(0.10),
    }
}

/// What is packed: config `sandbox.exclude` stays out, `--include` goes in.
fn pack_options(config: &Config, options: &RunOptions) -> PackOptions {
    let mut exclude = config.text_list("sandbox.exclude");
    exclude.retain(|p| !p.trim().is_empty());
    PackOptions {
        exclude,
        include: options.include.clone(),
    }
}

impl Plan {
    /// The same request with another agent: its own credentials, command
    /// and output, checked in full like the first.
    pub fn for_agent(&self, name: &str) -> Result<Plan> {
        let options = RunOptions {
            agent: Some(name.to_owned()),
            ..self.options.clone()
        };
        plan(&self.data_dir, &options)
    }

    /// The environment the run gives its agent (besides its run's id and
    /// what the sandbox itself sets), sorted by name, for people to read:
    /// a variable whose name is a secret's shows as masked, and so does
    /// every secret the run knows wherever it appears in a value.
    pub fn printable_environment(&self) -> Vec<(String, String)> {
        let own = own_secret_names(&self.config).unwrap_or_default();
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .map(|(k, v)| {
                let value = if own.contains(k) || crate::redact::is_secret_name(k) {
                    crate::redact::MASK.to_owned()
                } else {
                    self.redactor.redact(v).into_owned()
                };
                (k.clone(), value)
            })
            .collect();
        env.sort();
        env
    }

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

    pub(super) fn backend(&self) -> Box<dyn Backend> {
        match &self.e2b {
            Some(settings) => Box::new(E2bBackend::new(settings.clone())),
            None => Box::new(LocalBackend::new(&self.data_dir, self.confinement.clone())),
        }
    }
}
