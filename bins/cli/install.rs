//! `git pcc install`: wire parallel-cc into Claude Code, the other agents
//! (`--agent NAME`) and the shell.

use std::path::PathBuf;

use clap::Args;
use pcc::install::{self, FileChange, HookScope};
use serde::Serialize;

use crate::render;
use crate::Output;

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Hooks (global), alias, MCP server, and the database schema; the same
    /// for every other agent found on PATH
    #[arg(long)]
    pub all: bool,
    /// The agent to wire in (repeatable): claude, codex, gemini, aider,
    /// opencode or one from config; --hooks, --mcp and --alias then apply
    /// to it (all three when none is given)
    #[arg(long, value_name = "NAME")]
    pub agent: Vec<String>,
    /// Claude Code hooks: heartbeat, session start/end, worktree create/remove
    #[arg(long)]
    pub hooks: bool,
    /// Hooks go into ~/.claude/settings.json (the default)
    #[arg(long, conflicts_with = "local")]
    pub global: bool,
    /// Hooks go into <repo>/.claude/settings.json
    #[arg(long)]
    pub local: bool,
    /// Repository for --local (default: the current one)
    #[arg(long, value_name = "PATH", requires = "local")]
    pub repo: Option<PathBuf>,
    /// With --local: add .claude/ to the repository's .gitignore
    #[arg(long, requires = "local")]
    pub gitignore: bool,
    /// alias claude=claude-parallel in the shell's rc file, with the
    /// install directory put on PATH there when a new shell lacks it
    #[arg(long)]
    pub alias: bool,
    /// Register pcc-mcp as the parallel-cc MCP server in ~/.claude.json
    #[arg(long)]
    pub mcp: bool,
    /// Claude Code's status line: 'git pcc statusline', refreshed every few
    /// seconds (only when there is no status line of your own; with --local,
    /// in the repository's settings)
    #[arg(long)]
    pub statusline: bool,
    /// Show what is installed
    #[arg(long)]
    pub status: bool,
    /// Remove what the other flags name (all of it when none is given)
    #[arg(long)]
    pub uninstall: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InstallReport {
    success: bool,
    changes: Vec<FileChange>,
    /// The user's own status line, kept (with --statusline).
    #[serde(skip_serializing_if = "Option::is_none")]
    kept_status_line: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InstallStatus {
    global_hooks: Vec<String>,
    global_settings: String,
    local_hooks: Option<Vec<String>>,
    local_settings: Option<String>,
    mcp_command: Option<String>,
    /// The status line command in the global settings.
    status_line: Option<String>,
    status_line_is_ours: bool,
    alias_installed: bool,
    alias_file: String,
}

/// The absolute path of a sibling executable (`git-pcc`, `pcc-mcp`).
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    Ok(exe
        .parent()
        .map(|dir| dir.join(name))
        .unwrap_or_else(|| PathBuf::from(name)))
}

/// The directories a new shell needs on PATH for the alias to resolve:
/// where `claude-parallel` is (beside us, as scripts/install.sh puts it,
/// else on PATH) and where our executables are. An error when there is
/// no `claude-parallel` to point the alias at.
fn alias_path_dirs() -> anyhow::Result<Vec<PathBuf>> {
    let git_pcc = sibling("git-pcc")?;
    let beside = sibling("claude-parallel")?;
    let wrapper = if beside.is_file() {
        beside
    } else {
        which::which("claude-parallel").map_err(|_| {
            pcc::UserError::with_hint(
                format!(
                    "claude-parallel is neither beside {} nor on PATH, so 'alias claude=claude-parallel' would not resolve; the alias was not added",
                    git_pcc.display()
                ),
                "install it with scripts/install.sh (it goes beside git-pcc), then run 'git pcc install --alias'",
            )
        })?
    };
    Ok([wrapper.parent(), git_pcc.parent()]
        .into_iter()
        .flatten()
        .map(std::path::Path::to_path_buf)
        .collect())
}

fn local_scope(args: &InstallArgs) -> anyhow::Result<HookScope> {
    let start = match &args.repo {
        Some(path) => path.clone(),
        None => std::env::current_dir()?,
    };
    Ok(HookScope::Local(pcc::git::resolve_repository(&start)?))
}

pub fn run(args: InstallArgs) -> anyhow::Result<Output> {
    if args.status {
        return status(&args);
    }
    if !args.agent.is_empty() {
        return run_for_agents(&args);
    }
    let nothing_named = !(args.all
        || args.hooks
        || args.alias
        || args.mcp
        || args.statusline
        || args.local
        || args.global);
    if nothing_named && !args.uninstall {
        return Err(pcc::UserError::with_hint(
            "nothing to install",
            "pass --all, --hooks, --alias, --mcp or --statusline (or --status)",
        )
        .into());
    }
    let everything = args.all || (args.uninstall && nothing_named);
    let scope = if args.local {
        local_scope(&args)?
    } else {
        HookScope::Global
    };
    let mut changes = Vec::new();
    // --local and --global name where --statusline goes; alone, the hooks.
    let scope_only = (args.local || args.global) && !args.statusline;
    if everything || args.hooks || scope_only {
        changes.push(if args.uninstall {
            install::uninstall_hooks(&scope)?
        } else {
            install::install_hooks(&scope, &sibling("git-pcc")?)?
        });
        if let (HookScope::Local(repo), true, false) = (&scope, args.gitignore, args.uninstall) {
            changes.push(install::ignore_claude_dir(repo)?);
        }
    }
    if everything || args.mcp {
        changes.push(if args.uninstall {
            install::uninstall_mcp()?
        } else {
            install::install_mcp(&sibling("pcc-mcp")?)?
        });
    }
    if everything || args.alias {
        if args.uninstall {
            changes.push(install::uninstall_alias()?);
        } else {
            match alias_path_dirs() {
                Ok(dirs) => changes.push(install::install_alias(&dirs)?),
                // With --all the rest is still worth installing.
                Err(err) if !args.alias => {
                    let message = err
                        .downcast_ref::<pcc::UserError>()
                        .map_or_else(|| format!("{err:#}"), |user| user.message.clone());
                    eprintln!("warning: {message}");
                }
                Err(err) => return Err(err),
            }
        }
    }
    let mut kept_status_line = None;
    if args.statusline || (args.uninstall && nothing_named) {
        if args.uninstall {
            changes.push(install::uninstall_statusline(&scope)?);
        } else {
            let installed = install::install_statusline(&scope, &sibling("git-pcc")?)?;
            kept_status_line = installed.kept_theirs;
            changes.push(installed.change);
        }
    }
    if args.all && !args.uninstall {
        let data_dir = crate::data_dir()?;
        pcc::db::Database::open(&data_dir)?;
        let config = pcc::config::Config::load(&data_dir)?;
        let others: Vec<_> = pcc::agents::found_on_path(&pcc::agents::all(&config)?)
            .into_iter()
            .filter(|p| p.name != pcc::agents::DEFAULT_AGENT)
            .collect();
        for profile in others {
            changes.extend(wire_agent(&profile, &Wanted::everything(), false)?);
        }
    }
    render_changes(changes, kept_status_line, args.uninstall)
}

/// What to install for an agent.
struct Wanted {
    hooks: bool,
    mcp: bool,
    alias: bool,
    /// Whether a part the agent lacks is an error (it was asked for by name).
    strict: bool,
}

impl Wanted {
    fn everything() -> Wanted {
        Wanted {
            hooks: true,
            mcp: true,
            alias: true,
            strict: false,
        }
    }
}

/// `install --agent NAME...`.
fn run_for_agents(args: &InstallArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    let config = pcc::config::Config::load(&data_dir)?;
    let named = args.hooks || args.mcp || args.alias;
    let wanted = Wanted {
        hooks: args.hooks || !named,
        mcp: args.mcp || !named,
        alias: args.alias || !named,
        strict: named,
    };
    if !args.uninstall {
        pcc::db::Database::open(&data_dir)?;
    }
    let mut changes = Vec::new();
    for name in &args.agent {
        let profile = pcc::agents::find(&config, name)?;
        changes.extend(wire_agent(&profile, &wanted, args.uninstall)?);
    }
    render_changes(changes, None, args.uninstall)
}

/// Installs (or removes) what `wanted` names for one agent.
fn wire_agent(
    profile: &pcc::agents::AgentProfile,
    wanted: &Wanted,
    uninstall: bool,
) -> anyhow::Result<Vec<FileChange>> {
    use pcc::install::agents as wiring;
    let claude = profile.name == pcc::agents::DEFAULT_AGENT;
    let mut changes = Vec::new();
    if wanted.hooks {
        let has_hooks = !matches!(profile.hooks, pcc::agents::Hooks::None);
        match (claude, uninstall, has_hooks) {
            (true, false, _) => changes.push(install::install_hooks(
                &HookScope::Global,
                &sibling("git-pcc")?,
            )?),
            (true, true, _) => changes.push(install::uninstall_hooks(&HookScope::Global)?),
            (false, false, true) => {
                changes.push(wiring::install_agent_hooks(profile, &sibling("git-pcc")?)?)
            }
            (false, true, true) => changes.extend(wiring::uninstall_agent_hooks(profile)?),
            (false, false, false) if wanted.strict => {
                return Err(wiring::install_agent_hooks(profile, &sibling("git-pcc")?).unwrap_err())
            }
            _ => {}
        }
    }
    if wanted.mcp {
        let has_mcp = !matches!(profile.mcp, pcc::agents::McpConfig::None);
        match (uninstall, has_mcp) {
            (false, true) => {
                changes.push(wiring::install_agent_mcp(profile, &sibling("pcc-mcp")?)?)
            }
            (true, _) => changes.extend(wiring::uninstall_agent_mcp(profile)?),
            (false, false) if wanted.strict => {
                return Err(wiring::install_agent_mcp(profile, &sibling("pcc-mcp")?).unwrap_err())
            }
            _ => {}
        }
    }
    if wanted.alias {
        if uninstall {
            changes.push(install::uninstall_agent_alias(&profile.name)?);
            if !claude {
                changes.extend(remove_wrapper_link(profile)?);
            }
        } else {
            let dirs = alias_path_dirs()?;
            if !claude {
                changes.push(wrapper_link(profile)?);
            }
            changes.push(install::install_agent_alias(&profile.name, &dirs)?);
        }
    }
    Ok(changes)
}

/// Where `claude-parallel` is: beside us, else on PATH.
fn wrapper_path() -> anyhow::Result<PathBuf> {
    let beside = sibling("claude-parallel")?;
    if beside.is_file() {
        return Ok(beside);
    }
    which::which("claude-parallel").map_err(|_| {
        pcc::UserError::with_hint(
            "claude-parallel is neither beside git-pcc nor on PATH",
            "install it with scripts/install.sh (it goes beside git-pcc)",
        )
        .into()
    })
}

/// `NAME-parallel`, a link to `claude-parallel` beside it: the wrapper
/// runs the agent it is called as.
fn wrapper_link(profile: &pcc::agents::AgentProfile) -> anyhow::Result<FileChange> {
    let wrapper = wrapper_path()?;
    let link = wrapper.with_file_name(profile.wrapper_name());
    let mut change = FileChange {
        component: format!("{}-wrapper", profile.name),
        path: link.display().to_string(),
        changed: false,
        backup_path: None,
    };
    match std::fs::read_link(&link) {
        Ok(target) if target == std::path::Path::new("claude-parallel") || target == wrapper => {
            return Ok(change)
        }
        Ok(_) | Err(_) if link.symlink_metadata().is_ok() => {
            return Err(pcc::UserError::with_hint(
                format!(
                    "{} exists and is not our link to claude-parallel; left unchanged",
                    link.display()
                ),
                "remove it, or start that agent with claude-parallel --agent NAME",
            )
            .into())
        }
        _ => {}
    }
    std::os::unix::fs::symlink("claude-parallel", &link)
        .map_err(|err| anyhow::anyhow!("cannot create {}: {err}", link.display()))?;
    change.changed = true;
    Ok(change)
}

/// Removes our `NAME-parallel` link, when it is ours.
fn remove_wrapper_link(profile: &pcc::agents::AgentProfile) -> anyhow::Result<Option<FileChange>> {
    let Ok(wrapper) = wrapper_path() else {
        return Ok(None);
    };
    let link = wrapper.with_file_name(profile.wrapper_name());
    let ours = std::fs::read_link(&link)
        .is_ok_and(|target| target == std::path::Path::new("claude-parallel") || target == wrapper);
    if !ours {
        return Ok(None);
    }
    std::fs::remove_file(&link)
        .map_err(|err| anyhow::anyhow!("cannot remove {}: {err}", link.display()))?;
    Ok(Some(FileChange {
        component: format!("{}-wrapper", profile.name),
        path: link.display().to_string(),
        changed: true,
        backup_path: None,
    }))
}

fn render_changes(
    changes: Vec<FileChange>,
    kept_status_line: Option<String>,
    uninstall: bool,
) -> anyhow::Result<Output> {
    let mut rows = Vec::new();
    for change in &changes {
        let theirs = change.component == "statusline" && kept_status_line.is_some();
        let state = match (change.changed, uninstall) {
            (false, _) if theirs => "kept yours",
            (false, _) => "unchanged",
            (true, false) => "installed",
            (true, true) => "removed",
        };
        rows.push(vec![
            change.component.clone(),
            state.to_owned(),
            change.path.clone(),
        ]);
    }
    let mut human = render::table(&rows);
    if let Some(theirs) = &kept_status_line {
        human.push_str(&theirs_hint(theirs, &sibling("git-pcc")?));
    }
    let report = InstallReport {
        success: true,
        changes,
        kept_status_line,
    };
    Ok(Output::new(&report, human))
}

/// What to tell a user who has a status line of their own: it stays, and
/// how to add ours to it.
fn theirs_hint(theirs: &str, git_pcc: &std::path::Path) -> String {
    let ours = install::hook_command(git_pcc, "statusline");
    format!(
        "\nYour status line ({theirs}) is kept. To add parallel-cc's to it, pass it the same \
         input, e.g. in its script:\n  input=$(cat)\n  ours=$(printf '%s' \"$input\" | {ours})\n  \
         echo \"<your line> · $ours\"\nand set \"refreshInterval\": {} in its statusLine entry \
         so it stays current while the session is idle.\n",
        install::STATUSLINE_REFRESH_SECONDS
    )
}

fn status(args: &InstallArgs) -> anyhow::Result<Output> {
    let (alias_file, _) = install::alias_target()?;
    let local = if args.local || args.repo.is_some() {
        let scope = local_scope(args)?;
        Some((
            install::installed_hook_events(&scope)?,
            scope.settings_path()?.display().to_string(),
        ))
    } else {
        None
    };
    let status_line = install::installed_statusline(&HookScope::Global)?;
    let report = InstallStatus {
        global_hooks: install::installed_hook_events(&HookScope::Global)?,
        global_settings: HookScope::Global.settings_path()?.display().to_string(),
        local_hooks: local.as_ref().map(|(events, _)| events.clone()),
        local_settings: local.map(|(_, path)| path),
        mcp_command: install::installed_mcp_command()?,
        status_line: status_line.as_ref().map(|(command, _)| command.clone()),
        status_line_is_ours: status_line.as_ref().is_some_and(|(_, ours)| *ours),
        alias_installed: install::alias_installed()?,
        alias_file: alias_file.display().to_string(),
    };
    let listed = |events: &[String]| {
        if events.is_empty() {
            "not installed".to_owned()
        } else {
            events.join(", ")
        }
    };
    let mut rows = vec![vec![
        "hooks (global)".to_owned(),
        listed(&report.global_hooks),
        report.global_settings.clone(),
    ]];
    if let (Some(events), Some(path)) = (&report.local_hooks, &report.local_settings) {
        rows.push(vec![
            "hooks (local)".to_owned(),
            listed(events),
            path.clone(),
        ]);
    }
    rows.push(vec![
        "mcp".to_owned(),
        report
            .mcp_command
            .clone()
            .unwrap_or_else(|| "not installed".to_owned()),
        install::claude_json_path()?.display().to_string(),
    ]);
    rows.push(vec![
        "statusline".to_owned(),
        match (&report.status_line, report.status_line_is_ours) {
            (None, _) => "not installed".to_owned(),
            (Some(_), true) => "installed".to_owned(),
            (Some(command), false) => format!("yours: {command}"),
        },
        report.global_settings.clone(),
    ]);
    rows.push(vec![
        "alias".to_owned(),
        if report.alias_installed {
            "installed"
        } else {
            "not installed"
        }
        .to_owned(),
        report.alias_file.clone(),
    ]);
    Ok(Output::new(&report, render::table(&rows)))
}
