//! `git pcc doctor`: check that parallel-cc can work on this machine.

use clap::Args;
use pcc::install::{self, HookScope};
use pcc::{db::Database, migrations, paths};
use serde::Serialize;

use crate::render;
use crate::{Output, EXIT_FAILURE};

#[derive(Debug, Args)]
pub struct DoctorArgs {}

/// One check and its outcome.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub essential: bool,
    pub detail: String,
    pub hint: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    pub healthy: bool,
    pub checks: Vec<Check>,
}

pub fn run(_args: DoctorArgs) -> anyhow::Result<Output> {
    let mut checks = vec![
        check_git(),
        check_data_dir(),
        check_database(),
        check_config(),
    ];
    checks.push(check_worktrees());
    checks.extend(check_binaries());
    checks.push(check_dispatch());
    checks.push(check_hooks());
    checks.push(check_mcp());
    checks.push(check_alias());
    checks.push(check_claude());
    checks.extend(check_agents());
    checks.push(check_confinement());
    let healthy = checks.iter().all(|c| c.ok || !c.essential);
    let report = DoctorReport { healthy, checks };
    let human = human(&report);
    let code = if healthy { 0 } else { EXIT_FAILURE };
    Ok(Output::new(&report, human).with_exit_code(code))
}

fn check_git() -> Check {
    let output = std::process::Command::new("git").arg("--version").output();
    match output {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let version = text.trim_start_matches("git version ").to_owned();
            let numbers: Vec<u32> = version
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|p| p.parse().ok())
                .take(2)
                .collect();
            let recent =
                matches!(numbers.as_slice(), [major, minor, ..] if (*major, *minor) >= (2, 17));
            Check {
                name: "git",
                ok: recent,
                essential: true,
                detail: text,
                hint: (!recent).then(|| "install git 2.17 or newer".to_owned()),
            }
        }
        _ => Check {
            name: "git",
            ok: false,
            essential: true,
            detail: "git not found on PATH".to_owned(),
            hint: Some("install git".to_owned()),
        },
    }
}

fn check_data_dir() -> Check {
    let result = (|| -> anyhow::Result<String> {
        let dir = paths::data_dir()?;
        paths::ensure_data_dir(&dir)?;
        let probe = dir.join(format!(".doctor-{}", std::process::id()));
        std::fs::write(&probe, b"ok")?;
        std::fs::remove_file(&probe)?;
        Ok(dir.display().to_string())
    })();
    match result {
        Ok(dir) => Check {
            name: "data directory",
            ok: true,
            essential: true,
            detail: format!("{dir} (writable)"),
            hint: None,
        },
        Err(err) => Check {
            name: "data directory",
            ok: false,
            essential: true,
            detail: format!("{err:#}"),
            hint: Some("make it writable or set PARALLEL_CC_DATA_DIR".to_owned()),
        },
    }
}

fn check_database() -> Check {
    let result = (|| -> anyhow::Result<String> {
        let dir = paths::data_dir()?;
        let db = Database::open_unmigrated(&dir)?;
        let version = migrations::schema_version(db.conn())?;
        let current = migrations::current_version();
        match version.as_deref() {
            Some(v) if v == current => {
                let problems = migrations::schema_problems(db.conn())?;
                if !problems.is_empty() {
                    anyhow::bail!(
                        "schema {v} lacks what this version needs: {}",
                        problems.join(", ")
                    );
                }
                Ok(format!("{} (schema {v})", db.path().display()))
            }
            Some(v) => anyhow::bail!("schema {v} is behind {current}"),
            None => Ok(format!(
                "{} (new; created on first use)",
                db.path().display()
            )),
        }
    })();
    match result {
        Ok(detail) => Check {
            name: "database",
            ok: true,
            essential: true,
            detail,
            hint: None,
        },
        Err(err) => {
            let text = format!("{err:#}");
            let behind = text.contains("is behind") || text.contains("lacks what");
            Check {
                name: "database",
                ok: false,
                essential: true,
                detail: format!("{err:#}"),
                hint: Some(if behind {
                    "run 'git pcc update'".to_owned()
                } else {
                    "move the broken file away or set PARALLEL_CC_DATA_DIR".to_owned()
                }),
            }
        }
    }
}

/// Whether `config.json` can be read and every value in it can be used.
/// Values a setting cannot use are a warning (their defaults are used); a
/// file that cannot be read fails, as every command that reads settings
/// does then.
/// Worktrees no record accounts for, and worktree steps a dead process
/// left that the next command could not complete.
fn check_worktrees() -> Check {
    // Only a current schema is looked at: doctor changes nothing.
    let current = paths::data_dir()
        .and_then(|dir| Database::open_existing(&dir))
        .ok()
        .flatten()
        .and_then(|db| migrations::schema_version(db.conn()).ok().flatten());
    if current.as_deref() != Some(migrations::current_version()) {
        return Check {
            name: "worktrees",
            ok: true,
            essential: false,
            detail: "no current database to look at".to_owned(),
            hint: None,
        };
    }
    let report = paths::data_dir().and_then(|dir| pcc::session::status(&dir, None));
    let report = match report {
        Ok(report) => report,
        Err(err) => {
            return Check {
                name: "worktrees",
                ok: false,
                essential: false,
                detail: format!("cannot look at the worktrees: {err:#}"),
                hint: None,
            }
        }
    };
    let mut problems: Vec<String> = report
        .unaccounted_worktrees
        .iter()
        .map(|found| {
            format!(
                "{} (branch {}) is a worktree no session accounts for",
                render::quoted(&found.worktree_path),
                found.branch.as_deref().unwrap_or("-")
            )
        })
        .collect();
    problems.extend(
        report
            .interrupted
            .iter()
            .filter(|step| !step.in_progress)
            .map(|step| {
                format!(
                    "the {} of {} by process {} did not finish",
                    if step.operation == "create" {
                        "creation"
                    } else {
                        "removal"
                    },
                    render::quoted(&step.worktree_path),
                    step.pid
                )
            }),
    );
    if problems.is_empty() {
        return Check {
            name: "worktrees",
            ok: true,
            essential: false,
            detail: format!(
                "{}, {}, nothing unaccounted",
                render::count(report.total_sessions, "session", "sessions"),
                render::count(
                    report.kept_worktrees.len(),
                    "kept worktree",
                    "kept worktrees"
                )
            ),
            hint: None,
        };
    }
    Check {
        name: "worktrees",
        ok: false,
        essential: false,
        detail: problems.join("; "),
        hint: Some(
            "'git pcc cleanup --all' completes unfinished steps; look into an unaccounted worktree, then 'git worktree remove PATH'"
                .to_owned(),
        ),
    }
}

fn check_config() -> Check {
    let loaded = paths::data_dir().and_then(|dir| pcc::config::Config::load(&dir));
    match loaded {
        Ok(config) if config.problems().is_empty() => Check {
            name: "config",
            ok: true,
            essential: false,
            detail: if config.path().exists() {
                format!("{} (every value valid)", config.path().display())
            } else {
                format!("{} (none; defaults)", config.path().display())
            },
            hint: None,
        },
        Ok(config) => {
            let problems = config.problems();
            let listed: Vec<String> = problems
                .iter()
                .map(|p| format!("{} ({})", p.key, p.message()))
                .collect();
            let fixes: Vec<String> = problems.iter().map(crate::config::fix_command).collect();
            Check {
                name: "config",
                ok: false,
                essential: false,
                detail: format!(
                    "{} in {}: {}; their defaults are used",
                    render::count(problems.len(), "invalid value", "invalid values"),
                    config.path().display(),
                    listed.join(", ")
                ),
                hint: Some(fixes.join("; ")),
            }
        }
        Err(err) => {
            let (detail, hint) = match err.downcast_ref::<pcc::UserError>() {
                Some(user) => (user.message.clone(), user.hint.clone()),
                None => (format!("{err:#}"), None),
            };
            Check {
                name: "config",
                ok: false,
                essential: true,
                detail,
                hint,
            }
        }
    }
}

/// Whether local sandbox runs can confine the agent (bwrap).
fn check_confinement() -> Check {
    let setting = paths::data_dir()
        .ok()
        .and_then(|dir| pcc::config::Config::load(&dir).ok())
        .and_then(|config| config.text("sandbox.confinement"))
        .unwrap_or_else(|| "auto".to_owned());
    match pcc::sandbox::local::Confinement::detect(&setting) {
        pcc::sandbox::local::Confinement::Bwrap { path } => Check {
            name: "sandbox confinement",
            ok: true,
            essential: false,
            detail: format!(
                "bwrap ({}): local sandbox runs see the system read-only and only their own workspace",
                path.display()
            ),
            hint: None,
        },
        pcc::sandbox::local::Confinement::None { reason } => Check {
            name: "sandbox confinement",
            ok: false,
            essential: false,
            detail: format!("local sandbox runs are not confined: {reason}"),
            hint: Some("install bubblewrap (e.g. 'apt install bubblewrap')".to_owned()),
        },
    }
}

fn found(name: &'static str, essential: bool, what: &str, hint: &str) -> Check {
    match which::which(what) {
        Ok(path) => Check {
            name,
            ok: true,
            essential,
            detail: path.display().to_string(),
            hint: None,
        },
        Err(_) => Check {
            name,
            ok: false,
            essential,
            detail: format!("{what} is not on PATH"),
            hint: Some(hint.to_owned()),
        },
    }
}

fn check_binaries() -> Vec<Check> {
    let hint = "run scripts/install.sh and put its bin directory on PATH";
    vec![
        found("git-pcc", true, "git-pcc", hint),
        found("git-pcc-register", true, "git-pcc-register", hint),
        found("git-pcc-release", true, "git-pcc-release", hint),
        found("git-pcc-watch", false, "git-pcc-watch", hint),
        found("git-pcc-sandbox", false, "git-pcc-sandbox", hint),
        found("pcc-mcp", false, "pcc-mcp", hint),
        found("wrapper", false, "claude-parallel", hint),
    ]
}

fn check_dispatch() -> Check {
    let output = std::process::Command::new("git")
        .args(["pcc", "--version"])
        .output();
    match output {
        Ok(out) if out.status.success() => Check {
            name: "git pcc",
            ok: true,
            essential: false,
            detail: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            hint: None,
        },
        _ => Check {
            name: "git pcc",
            ok: false,
            essential: false,
            detail: "git does not find git-pcc".to_owned(),
            hint: Some("put git-pcc on PATH so 'git pcc' reaches it".to_owned()),
        },
    }
}

/// What a settings file that cannot be read says, for a check.
fn unreadable(name: &'static str, err: &anyhow::Error, fix: &str) -> Check {
    let detail = match err.downcast_ref::<pcc::UserError>() {
        Some(user) => user.message.trim_end_matches("; left unchanged").to_owned(),
        None => format!("{err:#}"),
    };
    Check {
        name,
        ok: false,
        essential: false,
        detail,
        hint: Some(format!(
            "fix the file by hand (the error says where), then run '{fix}'"
        )),
    }
}

fn check_hooks() -> Check {
    let global = install::installed_hook_events(&HookScope::Global);
    let local_scope = std::env::current_dir()
        .ok()
        .and_then(|dir| pcc::git::resolve_repository(&dir).ok())
        .map(HookScope::Local);
    let local = local_scope
        .as_ref()
        .map(install::installed_hook_events)
        .transpose();
    let (global, local) = match (global, local) {
        (Err(err), _) => return unreadable("hooks", &err, "git pcc install --hooks"),
        (_, Err(err)) => return unreadable("hooks", &err, "git pcc install --hooks --local"),
        (Ok(global), Ok(local)) => (global, local.unwrap_or_default()),
    };
    let ok = global.iter().chain(&local).any(|e| e == "PostToolUse");
    let detail = match (global.is_empty(), local.is_empty()) {
        (false, _) => format!("global: {}", global.join(", ")),
        (true, false) => format!("this repository: {}", local.join(", ")),
        (true, true) => "no Claude Code hooks installed".to_owned(),
    };
    Check {
        name: "hooks",
        ok,
        essential: false,
        detail,
        hint: (!ok).then(|| "run 'git pcc install --hooks'".to_owned()),
    }
}

/// One check per other agent wired in (`install --agent NAME`): on PATH,
/// with our hooks and an MCP command that exists.
fn check_agents() -> Vec<Check> {
    let config = crate::data_dir()
        .ok()
        .and_then(|dir| pcc::config::Config::load(&dir).ok())
        .unwrap_or_default();
    let profiles = pcc::agents::all(&config).unwrap_or_else(|_| pcc::agents::built_in());
    let mut checks = Vec::new();
    for profile in profiles
        .iter()
        .filter(|p| p.name != pcc::agents::DEFAULT_AGENT)
    {
        let hooks = install::agents::installed_agent_hooks(profile)
            .ok()
            .flatten()
            .map(|(_, events)| events)
            .unwrap_or_default();
        let mcp = install::agents::installed_agent_mcp(profile).ok().flatten();
        let alias = install::agent_alias_installed(&profile.name).unwrap_or(false);
        if hooks.is_empty() && mcp.is_none() && !alias {
            continue;
        }
        let on_path = pcc::agents::executable_on_path(&profile.command).is_some();
        let mcp_ok = mcp
            .as_deref()
            .is_none_or(|command| std::path::Path::new(command).exists());
        let mut parts = vec![if on_path {
            format!("{} on PATH", profile.command)
        } else {
            format!("{} not on PATH", profile.command)
        }];
        if !hooks.is_empty() {
            parts.push(format!("hooks: {}", hooks.join(", ")));
        }
        if let Some(command) = &mcp {
            parts.push(format!("mcp: {command}"));
        }
        if alias {
            parts.push(format!("alias {}={}", profile.name, profile.wrapper_name()));
        }
        let ok = on_path && mcp_ok;
        checks.push(Check {
            // One name per agent, for as long as the command runs.
            name: Box::leak(format!("agent {}", profile.name).into_boxed_str()),
            ok,
            essential: false,
            detail: parts.join("; "),
            hint: (!ok).then(|| {
                if on_path {
                    format!("run 'git pcc install --agent {} --mcp' again", profile.name)
                } else {
                    format!("install {} or put it on PATH", profile.title)
                }
            }),
        });
    }
    checks
}

fn check_mcp() -> Check {
    let registered = match install::installed_mcp_command() {
        Ok(registered) => registered,
        Err(err) => return unreadable("mcp server", &err, "git pcc install --mcp"),
    };
    match registered {
        Some(command) if std::path::Path::new(&command).exists() => Check {
            name: "mcp server",
            ok: true,
            essential: false,
            detail: command,
            hint: None,
        },
        Some(command) => Check {
            name: "mcp server",
            ok: false,
            essential: false,
            detail: format!("registered command {command} does not exist"),
            hint: Some("run 'git pcc install --mcp' again".to_owned()),
        },
        None => Check {
            name: "mcp server",
            ok: false,
            essential: false,
            detail: "not registered in ~/.claude.json".to_owned(),
            hint: Some("run 'git pcc install --mcp'".to_owned()),
        },
    }
}

fn check_alias() -> Check {
    let installed = install::alias_installed().unwrap_or(false);
    let file = install::alias_target()
        .map(|(p, _)| p.display().to_string())
        .unwrap_or_default();
    // The alias is only as good as the command it names.
    if installed && which::which("claude-parallel").is_err() {
        return Check {
            name: "alias",
            ok: false,
            essential: false,
            detail: format!(
                "claude=claude-parallel in {file}, but claude-parallel is not on PATH here"
            ),
            hint: Some(
                "open a new shell (the rc file puts it on PATH), or run 'git pcc install --alias' again"
                    .to_owned(),
            ),
        };
    }
    Check {
        name: "alias",
        ok: installed,
        essential: false,
        detail: if installed {
            format!("claude=claude-parallel in {file}")
        } else {
            format!("not in {file}")
        },
        hint: (!installed).then(|| "run 'git pcc install --alias'".to_owned()),
    }
}

fn check_claude() -> Check {
    found(
        "claude",
        false,
        "claude",
        "install Claude Code: npm install -g @anthropic-ai/claude-code",
    )
}

fn human(report: &DoctorReport) -> String {
    let mut rows = Vec::new();
    for check in &report.checks {
        let mark = if check.ok {
            "ok"
        } else if check.essential {
            "FAIL"
        } else {
            "warn"
        };
        let mut detail = check.detail.clone();
        if let Some(hint) = &check.hint {
            detail.push_str(&format!(" -> {hint}"));
        }
        rows.push(vec![mark.to_owned(), check.name.to_owned(), detail]);
    }
    let mut out = render::table(&rows);
    out.push_str(if report.healthy {
        "all essential checks passed\n"
    } else {
        "something essential is broken\n"
    });
    out
}
