//! Agent profiles: what parallel-cc knows about each coding agent's CLI.
//! Built in for `claude` (Claude Code), `codex` (OpenAI Codex CLI),
//! `gemini` (Gemini CLI), `aider` and `opencode`; more, or changes to a
//! built-in one, come from config (`agents.<name>.command`, `.headless`,
//! `.output`, `.credentials`, `.prices`).
//!
//! A profile says how to start the agent interactively and headless (the
//! prompt as one argument), how to read its headless output ([`Output`],
//! parsed by `sandbox::stream`), how it reports its state to us ([`Hooks`]: which
//! hook events it has and their names, whether it has a hook before an
//! edit, so a claim can deny one), where its MCP servers are configured
//! ([`McpConfig`]) and which credentials its sandbox needs.
//!
//! Invariant: a profile's name is a short lower-case word (letters, digits,
//! `-`), so it can be part of a command name (`codex-parallel`) and a
//! hook's arguments.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use crate::config::{Config, Unknown};
use crate::{paths, UserError};

/// The agent of a session recorded before agents were recorded, and of
/// every command that names none.
pub const DEFAULT_AGENT: &str = "claude";

/// How the agent's headless output is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    /// Claude Code's `--output-format stream-json`.
    ClaudeStreamJson,
    /// `codex exec --json`.
    CodexJson,
    /// Gemini CLI's `--output-format stream-json`.
    GeminiStreamJson,
    /// `opencode run --format json`.
    OpencodeJson,
    /// Plain text (Aider): activity only, tokens from its summary lines.
    Text,
}

impl Output {
    pub fn parse(text: &str) -> Option<Output> {
        Some(match text {
            "claude-stream-json" => Output::ClaudeStreamJson,
            "codex-json" => Output::CodexJson,
            "gemini-stream-json" => Output::GeminiStreamJson,
            "opencode-json" => Output::OpencodeJson,
            "text" => Output::Text,
            _ => return None,
        })
    }

    pub const NAMES: &'static str =
        "claude-stream-json, codex-json, gemini-stream-json, opencode-json, text";
}

/// How the agent tells us what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hooks {
    /// Claude Code's hooks in `settings.json`.
    Claude,
    /// Codex CLI's `~/.codex/hooks.json` (Claude Code's payloads and
    /// answers; Codex runs a hook only once its user trusted it).
    Codex,
    /// Gemini CLI's hooks in `~/.gemini/settings.json` (`BeforeTool`, ...).
    Gemini,
    /// A plugin of ours in OpenCode's global plugin directory that runs our
    /// hook commands on its events (`tool.execute.before`, `session.idle`,
    /// `permission.asked`, ...), and stops an edit our pre-tool hook denies.
    OpencodePlugin,
    /// None we install: the session's processes keep it alive, its state is
    /// not reported and a claim is advisory for it (Aider, whose wrapped
    /// sessions report idle through its `--notifications-command`).
    None,
}

/// Where the agent's MCP servers are configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum McpConfig {
    /// `~/.claude.json`, `mcpServers`.
    ClaudeJson,
    /// `~/.codex/config.toml`, `[mcp_servers.NAME]`.
    CodexToml,
    /// `~/.gemini/settings.json`, `mcpServers`.
    GeminiSettings,
    /// `~/.config/opencode/opencode.json`, `mcp`.
    OpencodeJson,
    /// The agent has no MCP client (Aider).
    None,
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentProfile {
    pub name: String,
    /// What the agent is, for people.
    pub title: String,
    /// The executable run interactively (looked up on PATH).
    pub command: String,
    /// The headless command line; `{prompt}` is the prompt, as one argument.
    pub headless: Vec<String>,
    pub output: Output,
    pub hooks: Hooks,
    pub mcp: McpConfig,
    /// Environment variables holding the credentials its sandbox needs
    /// (any one of them is enough).
    pub credentials: Vec<String>,
    /// Whether it reports its cost in USD (else it is estimated from its
    /// tokens and the price table).
    pub reports_cost: bool,
    /// The model whose price estimates its cost when its output does not
    /// name one (config `agents.<name>.model`).
    pub model: Option<String>,
}

impl AgentProfile {
    /// Whether a hook runs before each edit, so a claim can deny it.
    pub fn has_pre_edit_hook(&self) -> bool {
        matches!(self.hooks, Hooks::Claude | Hooks::Codex | Hooks::Gemini)
    }

    /// The wrapper's name for this agent (`codex-parallel`).
    pub fn wrapper_name(&self) -> String {
        format!("{}-parallel", self.name)
    }

    /// The headless command line for `prompt`.
    pub fn headless_command(&self, prompt: &str) -> Vec<String> {
        self.headless
            .iter()
            .map(|arg| arg.replace("{prompt}", prompt))
            .collect()
    }
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| (*w).to_owned()).collect()
}

/// The profiles parallel-cc knows without any config.
pub fn built_in() -> Vec<AgentProfile> {
    vec![
        AgentProfile {
            name: "claude".into(),
            title: "Claude Code".into(),
            command: "claude".into(),
            headless: words(&[
                "claude",
                "-p",
                "{prompt}",
                "--output-format",
                "stream-json",
                "--verbose",
                "--dangerously-skip-permissions",
            ]),
            output: Output::ClaudeStreamJson,
            hooks: Hooks::Claude,
            mcp: McpConfig::ClaudeJson,
            credentials: words(&["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"]),
            reports_cost: true,
            model: None,
        },
        AgentProfile {
            name: "codex".into(),
            title: "OpenAI Codex CLI".into(),
            command: "codex".into(),
            headless: words(&[
                "codex",
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--dangerously-bypass-approvals-and-sandbox",
                "{prompt}",
            ]),
            output: Output::CodexJson,
            hooks: Hooks::Codex,
            mcp: McpConfig::CodexToml,
            credentials: words(&["OPENAI_API_KEY", "CODEX_API_KEY"]),
            reports_cost: false,
            model: None,
        },
        AgentProfile {
            name: "gemini".into(),
            title: "Gemini CLI".into(),
            command: "gemini".into(),
            headless: words(&[
                "gemini",
                "-p",
                "{prompt}",
                "--output-format",
                "stream-json",
                "--yolo",
            ]),
            output: Output::GeminiStreamJson,
            hooks: Hooks::Gemini,
            mcp: McpConfig::GeminiSettings,
            credentials: words(&["GEMINI_API_KEY", "GOOGLE_API_KEY"]),
            reports_cost: false,
            model: None,
        },
        AgentProfile {
            name: "aider".into(),
            title: "Aider".into(),
            command: "aider".into(),
            headless: words(&[
                "aider",
                "--message",
                "{prompt}",
                "--yes-always",
                "--no-auto-commits",
                "--no-check-update",
                "--no-show-release-notes",
                "--analytics-disable",
                "--no-pretty",
            ]),
            output: Output::Text,
            hooks: Hooks::None,
            mcp: McpConfig::None,
            credentials: words(&["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"]),
            reports_cost: true,
            model: None,
        },
        AgentProfile {
            name: "opencode".into(),
            title: "OpenCode".into(),
            command: "opencode".into(),
            headless: words(&["opencode", "run", "--format", "json", "{prompt}"]),
            output: Output::OpencodeJson,
            hooks: Hooks::OpencodePlugin,
            mcp: McpConfig::OpencodeJson,
            credentials: words(&["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"]),
            reports_cost: true,
            model: None,
        },
    ]
}

/// How the built-in agent `name` speaks to its hooks, without reading any
/// config (hooks run at every step): Claude Code's form for any other name.
pub fn hook_dialect(name: &str) -> Hooks {
    match name {
        "codex" => Hooks::Codex,
        "gemini" => Hooks::Gemini,
        _ => Hooks::Claude,
    }
}

/// Whether `name` can name an agent.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
}

/// Every profile: the built-in ones with what config changes in them, then
/// those config defines, by name.
pub fn all(config: &Config) -> Result<Vec<AgentProfile>> {
    let mut profiles = built_in();
    let Unknown::Kept(Value::Object(defined)) = config.get_unknown("agents") else {
        return Ok(profiles);
    };
    for (name, settings) in defined {
        if name == "prices" {
            continue;
        }
        if !is_valid_name(name) {
            return Err(UserError::with_hint(
                format!(
                    "config agents.{name}: an agent's name is lower-case letters, digits and -"
                ),
                "rename it in config.json",
            )
            .into());
        }
        let base = profiles.iter().position(|p| &p.name == name);
        let profile = configured(name, settings, base.map(|i| &profiles[i]))?;
        match base {
            Some(index) => profiles[index] = profile,
            None => profiles.push(profile),
        }
    }
    Ok(profiles)
}

/// The profile named `name`.
pub fn find(config: &Config, name: &str) -> Result<AgentProfile> {
    let profiles = all(config)?;
    let names: Vec<String> = profiles.iter().map(|p| p.name.clone()).collect();
    profiles
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            UserError::with_hint(
                format!("unknown agent '{name}'"),
                format!(
                    "known agents: {}; define more in config (agents.<name>.command, .headless)",
                    names.join(", ")
                ),
            )
            .into()
        })
}

/// The profile named `name`, with the config of `data_dir`.
pub fn find_in(data_dir: &std::path::Path, name: &str) -> Result<AgentProfile> {
    find(&Config::load(data_dir)?, name)
}

fn configured(name: &str, settings: &Value, base: Option<&AgentProfile>) -> Result<AgentProfile> {
    let problem = |what: &str| -> anyhow::Error {
        UserError::with_hint(
            format!("config agents.{name}: {what}"),
            "fix it in config.json (git pcc config path shows where it is)",
        )
        .into()
    };
    let Value::Object(settings) = settings else {
        return Err(problem("is not an object"));
    };
    let text = |key: &str| settings.get(key).and_then(Value::as_str).map(str::to_owned);
    let list = |key: &str| -> Result<Option<Vec<String>>> {
        match settings.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| problem(&format!("{key} must list strings")))
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(problem(&format!("{key} must be a list of strings"))),
        }
    };
    let command = text("command").or_else(|| base.map(|b| b.command.clone()));
    let Some(command) = command else {
        return Err(problem("needs a command (the agent's executable)"));
    };
    let headless = match list("headless")? {
        Some(line) => line,
        None => base.map_or_else(
            || vec![command.clone(), "{prompt}".into()],
            |b| b.headless.clone(),
        ),
    };
    if !headless.iter().any(|arg| arg.contains("{prompt}")) {
        return Err(problem(
            "headless must hold {prompt} (the prompt, as one argument)",
        ));
    }
    let output = match text("output") {
        Some(name) => Output::parse(&name)
            .ok_or_else(|| problem(&format!("output must be one of {}", Output::NAMES)))?,
        None => base.map_or(Output::Text, |b| b.output),
    };
    Ok(AgentProfile {
        name: name.to_owned(),
        title: text("title")
            .or_else(|| base.map(|b| b.title.clone()))
            .unwrap_or_else(|| name.to_owned()),
        command,
        headless,
        output,
        hooks: base.map_or(Hooks::None, |b| b.hooks),
        mcp: base.map_or(McpConfig::None, |b| b.mcp),
        credentials: list("credentials")?
            .or_else(|| base.map(|b| b.credentials.clone()))
            .unwrap_or_default(),
        reports_cost: base.is_some_and(|b| b.reports_cost),
        model: text("model").or_else(|| base.and_then(|b| b.model.clone())),
    })
}

/// The price of a model's tokens, in USD per million.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

/// The price of `model` from config `agents.prices.<model>` (`{"input":
/// 1.25, "output": 10}`, USD per million tokens); a key ending in `*`
/// matches every model it starts. `None` when none is set.
pub fn price_of(config: &Config, model: &str) -> Option<Price> {
    let Unknown::Kept(Value::Object(prices)) = config.get_unknown("agents.prices") else {
        return None;
    };
    let exact = prices.get(model);
    let prefixed = || {
        prices
            .iter()
            .filter(|(key, _)| {
                key.strip_suffix('*')
                    .is_some_and(|prefix| model.starts_with(prefix))
            })
            .max_by_key(|(key, _)| key.len())
            .map(|(_, value)| value)
    };
    let entry = exact.or_else(prefixed)?;
    Some(Price {
        input: entry.get("input")?.as_f64()?,
        output: entry.get("output")?.as_f64()?,
    })
}

/// Which agents' executables are on PATH (for `install --all`).
pub fn found_on_path(profiles: &[AgentProfile]) -> Vec<AgentProfile> {
    profiles
        .iter()
        .filter(|p| executable_on_path(&p.command).is_some())
        .cloned()
        .collect()
}

/// The first executable file named `name` on PATH.
pub fn executable_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// The home directory's config file of an agent (for doctor and install).
pub fn home_file(relative: &str) -> Result<PathBuf> {
    Ok(paths::home_dir()?.join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with(agents: Value) -> Config {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::json!({ "agents": agents }).to_string(),
        )
        .unwrap();
        Config::load(dir.path()).unwrap()
    }

    #[test]
    fn built_in_profiles_have_headless_prompts_and_valid_names() {
        for profile in built_in() {
            assert!(is_valid_name(&profile.name), "{}", profile.name);
            let line = profile.headless_command("fix the parser");
            assert_eq!(
                line.iter().filter(|a| *a == "fix the parser").count(),
                1,
                "{}",
                profile.name
            );
        }
    }

    #[test]
    fn config_defines_and_changes_agents() {
        let config = config_with(serde_json::json!({
            "mine": {"command": "my-agent", "headless": ["my-agent", "--run", "{prompt}"], "credentials": ["MY_KEY"]},
            "codex": {"headless": ["codex", "exec", "--json", "-m", "o4", "{prompt}"]},
            "prices": {"gpt-5*": {"input": 1.25, "output": 10}}
        }));
        let mine = find(&config, "mine").unwrap();
        assert_eq!(mine.headless_command("go"), ["my-agent", "--run", "go"]);
        assert_eq!(mine.credentials, ["MY_KEY"]);
        assert_eq!(mine.hooks, Hooks::None);
        let codex = find(&config, "codex").unwrap();
        assert_eq!(codex.output, Output::CodexJson);
        assert_eq!(codex.headless[4], "o4");
        assert!(codex.has_pre_edit_hook());
        assert_eq!(
            price_of(&config, "gpt-5-codex"),
            Some(Price {
                input: 1.25,
                output: 10.0
            })
        );
        assert_eq!(price_of(&config, "o3"), None);
        let err = find(&config, "nobody").unwrap_err();
        assert!(err.to_string().contains("unknown agent"), "{err}");
    }

    #[test]
    fn a_headless_line_without_the_prompt_is_refused() {
        let config = config_with(serde_json::json!({"bad": {"command": "x", "headless": ["x"]}}));
        let err = all(&config).unwrap_err();
        assert!(err.to_string().contains("{prompt}"), "{err}");
    }
}
