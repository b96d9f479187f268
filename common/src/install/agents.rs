//! The hooks and MCP entries of the agents other than Claude Code, under
//! the rules of `install` (atomic writes, backups, only our entries taken
//! out, what we created recorded):
//! - Codex CLI: hooks in `$CODEX_HOME/hooks.json` (default `~/.codex`),
//!   in Claude Code's shape; the MCP server as a `[mcp_servers.parallel-cc]`
//!   table in `config.toml`, between marker comments of ours (the rest of
//!   that TOML file is never parsed nor rewritten);
//! - Gemini CLI: hooks and `mcpServers` in `~/.gemini/settings.json`;
//! - OpenCode: the MCP server in `~/.config/opencode/opencode.json`
//!   (`mcp`); it has no command hooks: a plugin file of ours,
//!   `~/.config/opencode/plugins/parallel-cc.js`, runs our hook commands
//!   on its events instead.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{json, Map, Value};

use super::{
    hook_events_in, read_json_object, with_hooks, without_our_hooks, write_file,
    write_json_if_changed, Direction, FileChange, MCP_SERVER_NAME,
};
use crate::agents::{AgentProfile, Hooks, McpConfig};
use crate::{paths, UserError};

/// The Codex CLI's hooks: its events carry Claude Code's payloads.
pub const CODEX_HOOK_EVENTS: HookTable = &[
    ("SessionStart", "hook session-start --agent codex", None),
    ("PreToolUse", "hook pre-tool-use --agent codex", None),
    ("PostToolUse", "heartbeat --hook", None),
    (
        "UserPromptSubmit",
        "hook user-prompt-submit --agent codex",
        None,
    ),
    (
        "PermissionRequest",
        "hook permission-request --agent codex",
        None,
    ),
    ("Stop", "hook stop --agent codex", None),
    ("PreCompact", "hook pre-compact --agent codex", None),
    ("PostCompact", "hook post-compact --agent codex", None),
];

/// The Gemini CLI's hooks, each run as the Claude Code event it matches.
pub const GEMINI_HOOK_EVENTS: HookTable = &[
    ("SessionStart", "hook session-start --agent gemini", None),
    ("SessionEnd", "hook session-end --agent gemini", None),
    ("BeforeTool", "hook pre-tool-use --agent gemini", None),
    ("AfterTool", "heartbeat --hook", None),
    (
        "BeforeAgent",
        "hook user-prompt-submit --agent gemini",
        None,
    ),
    ("AfterAgent", "hook stop --agent gemini", None),
    ("Notification", "hook notification --agent gemini", None),
    ("PreCompress", "hook pre-compact --agent gemini", None),
];

/// OpenCode's events our plugin reports, as it names them.
pub const OPENCODE_PLUGIN_EVENTS: &[&str] = &[
    "tool.execute.before",
    "tool.execute.after",
    "session.status",
    "permission.asked",
    "permission.replied",
    "question.asked",
    "session.idle",
    "session.error",
    "session.compacted",
];

/// The plugin's source; `__GIT_PCC__` stands for our binary's path.
const OPENCODE_PLUGIN: &str = include_str!("opencode_plugin.js");

/// How our plugin's first line begins: a file there without it is not ours.
const OPENCODE_PLUGIN_MARK: &str = "// parallel-cc: reports this OpenCode session's state";

/// `~/.config/opencode/plugins/parallel-cc.js`.
fn opencode_plugin_path() -> Result<PathBuf> {
    Ok(paths::home_dir()?
        .join(".config")
        .join("opencode")
        .join("plugins")
        .join("parallel-cc.js"))
}

/// The plugin calling `git_pcc`.
fn opencode_plugin(git_pcc: &Path) -> String {
    let path = serde_json::to_string(&git_pcc.to_string_lossy()).unwrap_or_default();
    OPENCODE_PLUGIN.replace("__GIT_PCC__", &path)
}

/// Whether the file at `path` is our plugin.
fn is_our_plugin(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text.starts_with(OPENCODE_PLUGIN_MARK))
}

fn install_opencode_plugin(profile: &AgentProfile, git_pcc: &Path) -> Result<FileChange> {
    let path = opencode_plugin_path()?;
    let text = opencode_plugin(git_pcc);
    let component = component(profile, "hooks");
    if std::fs::read_to_string(&path).is_ok_and(|t| t == text) {
        return Ok(unchanged(&component, &path));
    }
    if path.exists() && !is_our_plugin(&path) {
        return Err(UserError::with_hint(
            format!("{} exists and is not parallel-cc's plugin", path.display()),
            "move it away, then install again",
        )
        .into());
    }
    let backup_path = write_file(&path, text.as_bytes(), false, Direction::Install)?;
    Ok(FileChange {
        component,
        path: path.display().to_string(),
        changed: true,
        backup_path,
    })
}

fn uninstall_opencode_plugin(profile: &AgentProfile) -> Result<FileChange> {
    let path = opencode_plugin_path()?;
    let component = component(profile, "hooks");
    if !is_our_plugin(&path) {
        return Ok(unchanged(&component, &path));
    }
    let backup_path = write_file(&path, b"", true, Direction::Uninstall)?;
    Ok(FileChange {
        component,
        path: path.display().to_string(),
        changed: true,
        backup_path,
    })
}

/// `$CODEX_HOME`, else `~/.codex`.
fn codex_home() -> Result<PathBuf> {
    match std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(paths::home_dir()?.join(".codex")),
    }
}

/// Hook events as we install them: the agent's event, the `git-pcc`
/// arguments it runs, its matcher.
pub type HookTable = &'static [(&'static str, &'static str, Option<&'static str>)];

/// The file that holds an agent's hooks, and the events we put there.
fn hooks_file(profile: &AgentProfile) -> Result<Option<(PathBuf, HookTable)>> {
    Ok(match profile.hooks {
        Hooks::Codex => Some((codex_home()?.join("hooks.json"), CODEX_HOOK_EVENTS)),
        Hooks::Gemini => Some((
            paths::home_dir()?.join(".gemini").join("settings.json"),
            GEMINI_HOOK_EVENTS,
        )),
        Hooks::Claude | Hooks::OpencodePlugin | Hooks::None => None,
    })
}

/// The file that holds an agent's MCP servers.
pub fn mcp_file(profile: &AgentProfile) -> Result<Option<PathBuf>> {
    Ok(match profile.mcp {
        McpConfig::ClaudeJson => Some(super::claude_json_path()?),
        McpConfig::CodexToml => Some(codex_home()?.join("config.toml")),
        McpConfig::GeminiSettings => Some(paths::home_dir()?.join(".gemini").join("settings.json")),
        McpConfig::OpencodeJson => Some(
            paths::home_dir()?
                .join(".config")
                .join("opencode")
                .join("opencode.json"),
        ),
        McpConfig::None => None,
    })
}

fn no_hooks(profile: &AgentProfile) -> anyhow::Error {
    UserError::with_hint(
        format!(
            "{} has no hooks parallel-cc can install; its sessions live while its process does, and claims are advisory for it",
            profile.title
        ),
        format!("install its MCP server or alias instead: git pcc install --agent {} --mcp --alias", profile.name),
    )
    .into()
}

fn component(profile: &AgentProfile, what: &str) -> String {
    format!("{}-{what}", profile.name)
}

/// Installs the hooks of `profile` (not Claude Code's: see
/// `install_hooks`).
pub fn install_agent_hooks(profile: &AgentProfile, git_pcc: &Path) -> Result<FileChange> {
    if profile.hooks == Hooks::OpencodePlugin {
        return install_opencode_plugin(profile, git_pcc);
    }
    let Some((path, events)) = hooks_file(profile)? else {
        return Err(no_hooks(profile));
    };
    let before = read_json_object(&path)?;
    let after = with_hooks(before.clone().unwrap_or_default(), git_pcc, events);
    write_json_if_changed(
        &component(profile, "hooks"),
        &path,
        before.as_ref(),
        after,
        Direction::Install,
    )
}

/// Removes the hooks of `profile`, only ours.
pub fn uninstall_agent_hooks(profile: &AgentProfile) -> Result<Option<FileChange>> {
    if profile.hooks == Hooks::OpencodePlugin {
        return uninstall_opencode_plugin(profile).map(Some);
    }
    let Some((path, _)) = hooks_file(profile)? else {
        return Ok(None);
    };
    let Some(before) = read_json_object(&path)? else {
        return Ok(Some(unchanged(&component(profile, "hooks"), &path)));
    };
    let after = without_our_hooks(before.clone());
    write_json_if_changed(
        &component(profile, "hooks"),
        &path,
        Some(&before),
        after,
        Direction::Uninstall,
    )
    .map(Some)
}

/// The events with a hook of ours for `profile`, and the file they are in.
pub fn installed_agent_hooks(profile: &AgentProfile) -> Result<Option<(PathBuf, Vec<String>)>> {
    if profile.hooks == Hooks::OpencodePlugin {
        let path = opencode_plugin_path()?;
        let events = if is_our_plugin(&path) {
            OPENCODE_PLUGIN_EVENTS
                .iter()
                .map(|e| (*e).to_owned())
                .collect()
        } else {
            Vec::new()
        };
        return Ok(Some((path, events)));
    }
    let Some((path, _)) = hooks_file(profile)? else {
        return Ok(None);
    };
    let events = hook_events_in(&path)?;
    Ok(Some((path, events)))
}

fn unchanged(component: &str, path: &Path) -> FileChange {
    FileChange {
        component: component.to_owned(),
        path: path.display().to_string(),
        changed: false,
        backup_path: None,
    }
}

/// Registers `pcc-mcp` as the `parallel-cc` MCP server of `profile` (not
/// Claude Code: see `install_mcp`).
pub fn install_agent_mcp(profile: &AgentProfile, pcc_mcp: &Path) -> Result<FileChange> {
    let command = pcc_mcp.to_string_lossy().into_owned();
    match profile.mcp {
        McpConfig::CodexToml => install_codex_mcp(profile, &command),
        McpConfig::GeminiSettings => json_server(
            profile,
            |servers| {
                servers.insert(
                    MCP_SERVER_NAME.into(),
                    json!({"command": command, "args": []}),
                );
            },
            "mcpServers",
        ),
        McpConfig::OpencodeJson => json_server(
            profile,
            |servers| {
                servers.insert(
                    MCP_SERVER_NAME.into(),
                    json!({"type": "local", "command": [command], "enabled": true}),
                );
            },
            "mcp",
        ),
        McpConfig::ClaudeJson => super::install_mcp(pcc_mcp),
        McpConfig::None => Err(UserError::with_hint(
            format!(
                "{} has no MCP client to register parallel-cc's tools with",
                profile.title
            ),
            format!(
                "install its hooks or alias instead: git pcc install --agent {} --alias",
                profile.name
            ),
        )
        .into()),
    }
}

/// Adds our server to the JSON object at `key` of the agent's file.
fn json_server(
    profile: &AgentProfile,
    add: impl FnOnce(&mut Map<String, Value>),
    key: &str,
) -> Result<FileChange> {
    let path = mcp_file(profile)?.expect("a JSON MCP file");
    let before = read_json_object(&path)?;
    let mut after = before.clone().unwrap_or_default();
    let servers = after.entry(key).or_insert_with(|| json!({}));
    let Some(servers) = servers.as_object_mut() else {
        return Err(UserError::new(format!(
            "{key} in {} is not an object; left unchanged",
            path.display()
        ))
        .into());
    };
    add(servers);
    write_json_if_changed(
        &component(profile, "mcp"),
        &path,
        before.as_ref(),
        after,
        Direction::Install,
    )
}

/// Removes our MCP server entry of `profile`.
pub fn uninstall_agent_mcp(profile: &AgentProfile) -> Result<Option<FileChange>> {
    let key = match profile.mcp {
        McpConfig::CodexToml => return uninstall_codex_mcp(profile).map(Some),
        McpConfig::GeminiSettings => "mcpServers",
        McpConfig::OpencodeJson => "mcp",
        McpConfig::ClaudeJson => return super::uninstall_mcp().map(Some),
        McpConfig::None => return Ok(None),
    };
    let path = mcp_file(profile)?.expect("a JSON MCP file");
    let Some(before) = read_json_object(&path)? else {
        return Ok(Some(unchanged(&component(profile, "mcp"), &path)));
    };
    let mut after = before.clone();
    if let Some(Value::Object(servers)) = after.get_mut(key) {
        if servers.remove(MCP_SERVER_NAME).is_some() && servers.is_empty() {
            after.remove(key);
        }
    }
    write_json_if_changed(
        &component(profile, "mcp"),
        &path,
        Some(&before),
        after,
        Direction::Uninstall,
    )
    .map(Some)
}

/// The command of our MCP server registered for `profile`, if any.
pub fn installed_agent_mcp(profile: &AgentProfile) -> Result<Option<String>> {
    let Some(path) = mcp_file(profile)? else {
        return Ok(None);
    };
    match profile.mcp {
        McpConfig::CodexToml => {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            Ok(codex_block(&text).and_then(|range| {
                text.lines().collect::<Vec<_>>()[range]
                    .iter()
                    .find_map(|line| line.strip_prefix("command = "))
                    .and_then(|quoted| serde_json::from_str::<String>(quoted).ok())
            }))
        }
        McpConfig::GeminiSettings | McpConfig::OpencodeJson => {
            let key = if profile.mcp == McpConfig::OpencodeJson {
                "mcp"
            } else {
                "mcpServers"
            };
            let Some(settings) = read_json_object(&path)? else {
                return Ok(None);
            };
            let server = settings.get(key).and_then(|s| s.get(MCP_SERVER_NAME));
            Ok(server.and_then(|s| match s.get("command") {
                Some(Value::String(command)) => Some(command.clone()),
                Some(Value::Array(words)) => {
                    words.first().and_then(Value::as_str).map(str::to_owned)
                }
                _ => None,
            }))
        }
        McpConfig::ClaudeJson => super::installed_mcp_command(),
        McpConfig::None => Ok(None),
    }
}

const CODEX_BLOCK_START: &str = "# parallel-cc: MCP server (git pcc install --agent codex --mcp)";
const CODEX_BLOCK_END: &str = "# parallel-cc: end";
const CODEX_TABLE: &str = "[mcp_servers.parallel-cc]";

/// The lines of our block in a `config.toml`, markers included.
fn codex_block(text: &str) -> Option<std::ops::Range<usize>> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim() == CODEX_BLOCK_START)?;
    let end = lines[start..]
        .iter()
        .position(|l| l.trim() == CODEX_BLOCK_END)?
        + start;
    Some(start..end + 1)
}

fn codex_lines(command: &str) -> Vec<String> {
    // A JSON string is a TOML basic string for every path we can be given.
    let quoted = serde_json::to_string(command).expect("a string");
    vec![
        CODEX_BLOCK_START.to_owned(),
        CODEX_TABLE.to_owned(),
        format!("command = {quoted}"),
        "args = []".to_owned(),
        CODEX_BLOCK_END.to_owned(),
    ]
}

fn install_codex_mcp(profile: &AgentProfile, command: &str) -> Result<FileChange> {
    let path = mcp_file(profile)?.expect("config.toml");
    let before = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => {
            return Err(UserError::new(format!("cannot read {}: {err}", path.display())).into())
        }
    };
    let block = codex_lines(command);
    let lines: Vec<&str> = before.lines().collect();
    let mut after: Vec<String> = match codex_block(&before) {
        Some(range)
            if lines[range.clone()] == block.iter().map(String::as_str).collect::<Vec<_>>()[..] =>
        {
            return Ok(unchanged(&component(profile, "mcp"), &path));
        }
        Some(range) => {
            let mut kept: Vec<String> = lines[..range.start]
                .iter()
                .map(|l| (*l).to_owned())
                .collect();
            kept.extend(block);
            kept.extend(lines[range.end..].iter().map(|l| (*l).to_owned()));
            kept
        }
        None => {
            if lines.iter().any(|l| l.trim() == CODEX_TABLE) {
                return Err(UserError::with_hint(
                    format!(
                        "{} already defines {CODEX_TABLE}; left unchanged",
                        path.display()
                    ),
                    "remove that table (or point it at pcc-mcp yourself)",
                )
                .into());
            }
            // A table at the end of the file: keys above it stay where they were.
            let mut all: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            if all.last().is_some_and(|l| !l.trim().is_empty()) {
                all.push(String::new());
            }
            all.extend(block);
            all
        }
    };
    after.push(String::new());
    let mut change = unchanged(&component(profile, "mcp"), &path);
    change.backup_path = write_file(
        &path,
        after.join("\n").as_bytes(),
        false,
        Direction::Install,
    )?;
    change.changed = true;
    Ok(change)
}

fn uninstall_codex_mcp(profile: &AgentProfile) -> Result<FileChange> {
    let path = mcp_file(profile)?.expect("config.toml");
    let mut change = unchanged(&component(profile, "mcp"), &path);
    let Ok(before) = std::fs::read_to_string(&path) else {
        return Ok(change);
    };
    let Some(range) = codex_block(&before) else {
        return Ok(change);
    };
    let lines: Vec<&str> = before.lines().collect();
    // The blank line we put above our block goes with it.
    let after = super::text_without(&lines, range, true);
    let empty = after.trim().is_empty();
    change.backup_path = write_file(&path, after.as_bytes(), empty, Direction::Uninstall)?;
    change.changed = true;
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codex_block_is_found_between_its_markers() {
        let text = format!(
            "model = \"o3\"\n\n{}\n",
            codex_lines("/usr/bin/pcc-mcp").join("\n")
        );
        let range = codex_block(&text).unwrap();
        assert_eq!(range, 2..7);
        assert!(text.lines().nth(4).unwrap() == "command = \"/usr/bin/pcc-mcp\"");
    }
}
