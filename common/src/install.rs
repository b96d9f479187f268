//! Wiring parallel-cc into the tools people already use: hook entries in
//! Claude Code's `settings.json` (global `~/.claude/settings.json` or a
//! repository's `.claude/settings.json`), the MCP server entry in
//! `~/.claude.json`, and the `claude` alias in the user's shell rc file.
//!
//! Invariants: a file that is not valid JSON is never written; every write
//! is atomic (temporary file, rename) and keeps the previous version as
//! `<file>.pcc-backup`; a file that is a symbolic link (dotfiles kept in a
//! repository) is written through: the file it points to is replaced, its
//! backup beside it, and the link stays a link; keys and hooks that are not
//! ours are kept as they are; installing twice changes nothing (the file is
//! not even rewritten); uninstalling removes only our entries.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::config::{link_target, write_atomically};
use crate::{paths, UserError};

/// The hook events we install, with the `git-pcc` arguments each runs and
/// the tool matcher of the events that take one.
pub const HOOK_EVENTS: &[(&str, &str, Option<&str>)] = &[
    ("PostToolUse", "heartbeat --hook", Some("*")),
    (
        "PreToolUse",
        "hook pre-tool-use",
        Some("Edit|Write|MultiEdit|NotebookEdit"),
    ),
    ("SessionStart", "hook session-start", None),
    ("SessionEnd", "hook session-end", None),
    ("WorktreeCreate", "hook worktree-create", None),
    ("WorktreeRemove", "hook worktree-remove", None),
];

/// Name of our server in `mcpServers`.
pub const MCP_SERVER_NAME: &str = "parallel-cc";

/// Where hooks go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookScope {
    /// `~/.claude/settings.json`
    Global,
    /// `<repo>/.claude/settings.json`
    Local(PathBuf),
}

impl HookScope {
    pub fn settings_path(&self) -> Result<PathBuf> {
        Ok(match self {
            HookScope::Global => paths::home_dir()?.join(".claude").join("settings.json"),
            HookScope::Local(repo) => repo.join(".claude").join("settings.json"),
        })
    }
}

/// What one install or uninstall step did to one file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileChange {
    pub component: String,
    pub path: String,
    pub changed: bool,
    pub backup_path: Option<String>,
}

/// Quotes a path for a hook command line when it needs quoting.
pub fn shell_word(text: &str) -> String {
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c));
    if plain && !text.is_empty() {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The command line of one of our hooks.
pub fn hook_command(git_pcc: &Path, arguments: &str) -> String {
    format!("{} {arguments}", shell_word(&git_pcc.to_string_lossy()))
}

/// Whether a hook command is one of ours (whatever path it was installed
/// from).
pub fn is_our_hook_command(command: &str) -> bool {
    let Some((program, arguments)) = split_program(command) else {
        return false;
    };
    let name = Path::new(&program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    name.as_deref() == Some("git-pcc") && HOOK_EVENTS.iter().any(|(_, args, _)| arguments == *args)
}

fn split_program(command: &str) -> Option<(String, &str)> {
    let command = command.trim();
    if let Some(rest) = command.strip_prefix('\'') {
        let end = rest.find('\'')?;
        return Some((rest[..end].to_owned(), rest[end + 1..].trim()));
    }
    let (program, arguments) = command.split_once(' ')?;
    Some((program.to_owned(), arguments.trim()))
}

/// Reads a JSON object file: `None` when missing; an error (and nothing
/// written) when it is not a JSON object.
fn read_json_object(path: &Path) -> Result<Option<Map<String, Value>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(UserError::new(format!("cannot read {}: {err}", path.display())).into())
        }
    };
    if text.trim().is_empty() {
        return Ok(Some(Map::new()));
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(UserError::with_hint(
            format!(
                "{} does not hold a JSON object; left unchanged",
                path.display()
            ),
            "fix the file by hand, then run the install again",
        )
        .into()),
        Err(err) => Err(UserError::with_hint(
            format!(
                "{} is not valid JSON ({err}); left unchanged",
                path.display()
            ),
            "fix the file by hand, then run the install again",
        )
        .into()),
    }
}

/// Writes `value` to `path` when it differs from what is there, atomically
/// and with a backup of the previous content.
fn write_json_if_changed(
    component: &str,
    path: &Path,
    before: Option<&Map<String, Value>>,
    after: Map<String, Value>,
) -> Result<FileChange> {
    let mut change = FileChange {
        component: component.to_owned(),
        path: path.display().to_string(),
        changed: false,
        backup_path: None,
    };
    let unchanged = match before {
        Some(before) => before == &after,
        None => after.is_empty(),
    };
    if unchanged {
        return Ok(change);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    change.backup_path = backup(path)?;
    let text = serde_json::to_string_pretty(&Value::Object(after))? + "\n";
    write_atomically(path, text.as_bytes())?;
    change.changed = true;
    Ok(change)
}

/// Copies the file a write to `path` changes (for a link, the file it points
/// to) to `<that file>.pcc-backup`, when it exists. Beside the file, not the
/// link: moving the backup back over the file then restores it and keeps
/// the link.
fn backup(path: &Path) -> Result<Option<String>> {
    let target = link_target(path)?;
    if !target.exists() {
        return Ok(None);
    }
    let mut name = target.as_os_str().to_owned();
    name.push(".pcc-backup");
    let backup = PathBuf::from(name);
    std::fs::copy(&target, &backup)
        .with_context(|| format!("cannot back up {}", target.display()))?;
    Ok(Some(backup.display().to_string()))
}

/// Removes our hook entries from a settings object, dropping groups, event
/// lists and the `hooks` key that become empty through that.
fn without_our_hooks(mut settings: Map<String, Value>) -> Map<String, Value> {
    let Some(Value::Object(hooks)) = settings.get_mut("hooks") else {
        return settings;
    };
    let mut removed_any = false;
    for (_, groups) in hooks.iter_mut() {
        let Value::Array(groups) = groups else {
            continue;
        };
        for group in groups.iter_mut() {
            if let Some(Value::Array(list)) = group.get_mut("hooks") {
                let before = list.len();
                list.retain(|hook| {
                    !hook
                        .get("command")
                        .and_then(Value::as_str)
                        .is_some_and(is_our_hook_command)
                });
                if list.len() != before {
                    removed_any = true;
                }
            }
        }
        if removed_any {
            groups.retain(|group| {
                group
                    .get("hooks")
                    .and_then(Value::as_array)
                    .is_none_or(|list| !list.is_empty())
            });
        }
    }
    if removed_any {
        hooks.retain(|_, groups| groups.as_array().is_none_or(|g| !g.is_empty()));
        if hooks.is_empty() {
            settings.remove("hooks");
        }
    }
    settings
}

/// Our hook entries added to a settings object (after removing any old ones).
fn with_our_hooks(settings: Map<String, Value>, git_pcc: &Path) -> Map<String, Value> {
    let mut settings = without_our_hooks(settings);
    let hooks = settings
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    if !hooks.is_object() {
        *hooks = Value::Object(Map::new());
    }
    let hooks = hooks.as_object_mut().expect("hooks is an object");
    for (event, arguments, matcher) in HOOK_EVENTS {
        let mut group = Map::new();
        if let Some(matcher) = matcher {
            group.insert("matcher".to_owned(), json!(matcher));
        }
        group.insert(
            "hooks".to_owned(),
            json!([{"type": "command", "command": hook_command(git_pcc, arguments)}]),
        );
        let list = hooks.entry(event.to_string()).or_insert_with(|| json!([]));
        if !list.is_array() {
            *list = json!([]);
        }
        list.as_array_mut()
            .expect("event list")
            .push(Value::Object(group));
    }
    settings
}

/// Installs our hooks into the settings file of `scope`.
pub fn install_hooks(scope: &HookScope, git_pcc: &Path) -> Result<FileChange> {
    let path = scope.settings_path()?;
    let before = read_json_object(&path)?;
    let after = with_our_hooks(before.clone().unwrap_or_default(), git_pcc);
    write_json_if_changed("hooks", &path, before.as_ref(), after)
}

/// Removes our hooks from the settings file of `scope`.
pub fn uninstall_hooks(scope: &HookScope) -> Result<FileChange> {
    let path = scope.settings_path()?;
    let Some(before) = read_json_object(&path)? else {
        return Ok(FileChange {
            component: "hooks".into(),
            path: path.display().to_string(),
            changed: false,
            backup_path: None,
        });
    };
    let after = without_our_hooks(before.clone());
    write_json_if_changed("hooks", &path, Some(&before), after)
}

/// Which of our hook events are present in the settings file of `scope`.
pub fn installed_hook_events(scope: &HookScope) -> Result<Vec<String>> {
    let path = scope.settings_path()?;
    let Some(settings) = read_json_object(&path)? else {
        return Ok(Vec::new());
    };
    let mut events = Vec::new();
    if let Some(Value::Object(hooks)) = settings.get("hooks") {
        for (event, groups) in hooks {
            let ours = groups.as_array().into_iter().flatten().any(|group| {
                group
                    .get("hooks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|hook| {
                        hook.get("command")
                            .and_then(Value::as_str)
                            .is_some_and(is_our_hook_command)
                    })
            });
            if ours {
                events.push(event.clone());
            }
        }
    }
    Ok(events)
}

/// `~/.claude.json`, where Claude Code keeps user-level MCP servers.
pub fn claude_json_path() -> Result<PathBuf> {
    Ok(paths::home_dir()?.join(".claude.json"))
}

/// Registers `pcc-mcp` as the `parallel-cc` MCP server.
pub fn install_mcp(pcc_mcp: &Path) -> Result<FileChange> {
    let path = claude_json_path()?;
    let before = read_json_object(&path)?;
    let mut after = before.clone().unwrap_or_default();
    let servers = after.entry("mcpServers").or_insert_with(|| json!({}));
    if !servers.is_object() {
        return Err(UserError::new(format!(
            "mcpServers in {} is not an object; left unchanged",
            path.display()
        ))
        .into());
    }
    servers.as_object_mut().expect("object").insert(
        MCP_SERVER_NAME.to_owned(),
        json!({"type": "stdio", "command": pcc_mcp.to_string_lossy(), "args": [], "env": {}}),
    );
    write_json_if_changed("mcp", &path, before.as_ref(), after)
}

/// Removes the `parallel-cc` MCP server entry.
pub fn uninstall_mcp() -> Result<FileChange> {
    let path = claude_json_path()?;
    let Some(before) = read_json_object(&path)? else {
        return Ok(FileChange {
            component: "mcp".into(),
            path: path.display().to_string(),
            changed: false,
            backup_path: None,
        });
    };
    let mut after = before.clone();
    if let Some(Value::Object(servers)) = after.get_mut("mcpServers") {
        if servers.remove(MCP_SERVER_NAME).is_some() && servers.is_empty() {
            after.remove("mcpServers");
        }
    }
    write_json_if_changed("mcp", &path, Some(&before), after)
}

/// The command registered for our MCP server, if any.
pub fn installed_mcp_command() -> Result<Option<String>> {
    let Some(settings) = read_json_object(&claude_json_path()?)? else {
        return Ok(None);
    };
    Ok(settings
        .get("mcpServers")
        .and_then(|s| s.get(MCP_SERVER_NAME))
        .and_then(|s| s.get("command"))
        .and_then(Value::as_str)
        .map(str::to_owned))
}

/// The marker line above our alias in a shell rc file.
const ALIAS_MARKER: &str = "# parallel-cc: start Claude Code through claude-parallel";

/// The user's shell rc file and the alias line for that shell.
pub fn alias_target() -> Result<(PathBuf, String)> {
    let home = paths::home_dir()?;
    let shell = std::env::var("SHELL").unwrap_or_default();
    let shell_name = Path::new(&shell)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(match shell_name.as_str() {
        "zsh" => (
            home.join(".zshrc"),
            "alias claude=claude-parallel".to_owned(),
        ),
        "fish" => (
            home.join(".config/fish/config.fish"),
            "alias claude claude-parallel".to_owned(),
        ),
        _ => (
            home.join(".bashrc"),
            "alias claude=claude-parallel".to_owned(),
        ),
    })
}

/// Adds the alias (once) to the shell rc file.
pub fn install_alias() -> Result<FileChange> {
    let (path, line) = alias_target()?;
    let before = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => {
            return Err(UserError::new(format!("cannot read {}: {err}", path.display())).into())
        }
    };
    let mut change = FileChange {
        component: "alias".into(),
        path: path.display().to_string(),
        changed: false,
        backup_path: None,
    };
    if before.lines().any(|l| l.trim() == ALIAS_MARKER) {
        return Ok(change);
    }
    let mut after = before.clone();
    if !after.is_empty() && !after.ends_with('\n') {
        after.push('\n');
    }
    after.push_str(&format!("{ALIAS_MARKER}\n{line}\n"));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    change.backup_path = backup(&path)?;
    write_atomically(&path, after.as_bytes())?;
    change.changed = true;
    Ok(change)
}

/// Removes our alias (the marker and the line after it).
pub fn uninstall_alias() -> Result<FileChange> {
    let (path, _) = alias_target()?;
    let mut change = FileChange {
        component: "alias".into(),
        path: path.display().to_string(),
        changed: false,
        backup_path: None,
    };
    let Ok(before) = std::fs::read_to_string(&path) else {
        return Ok(change);
    };
    let lines: Vec<&str> = before.lines().collect();
    let Some(index) = lines.iter().position(|l| l.trim() == ALIAS_MARKER) else {
        return Ok(change);
    };
    let mut kept: Vec<&str> = lines[..index].to_vec();
    let skip_alias = lines
        .get(index + 1)
        .is_some_and(|l| l.contains("claude-parallel"));
    kept.extend_from_slice(&lines[index + 1 + usize::from(skip_alias)..]);
    let mut after = kept.join("\n");
    if !after.is_empty() {
        after.push('\n');
    }
    change.backup_path = backup(&path)?;
    write_atomically(&path, after.as_bytes())?;
    change.changed = true;
    Ok(change)
}

/// Whether our alias is in the shell rc file.
pub fn alias_installed() -> Result<bool> {
    let (path, _) = alias_target()?;
    Ok(std::fs::read_to_string(path)
        .is_ok_and(|text| text.lines().any(|l| l.trim() == ALIAS_MARKER)))
}

/// Adds `.claude/` to a repository's `.gitignore` once.
pub fn ignore_claude_dir(repo: &Path) -> Result<FileChange> {
    let path = repo.join(".gitignore");
    let before = std::fs::read_to_string(&path).unwrap_or_default();
    let mut change = FileChange {
        component: "gitignore".into(),
        path: path.display().to_string(),
        changed: false,
        backup_path: None,
    };
    if before
        .lines()
        .any(|l| matches!(l.trim(), ".claude/" | ".claude" | "/.claude/" | "/.claude"))
    {
        return Ok(change);
    }
    let mut after = before.clone();
    if !after.is_empty() && !after.ends_with('\n') {
        after.push('\n');
    }
    after.push_str(".claude/\n");
    write_atomically(&path, after.as_bytes())?;
    change.changed = true;
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_our_hook_commands_from_any_path() {
        assert!(is_our_hook_command(
            "/usr/local/bin/git-pcc heartbeat --hook"
        ));
        assert!(is_our_hook_command(
            "'/home/a b/.local/bin/git-pcc' hook worktree-create"
        ));
        assert!(!is_our_hook_command("/usr/bin/git-pcc status"));
        assert!(!is_our_hook_command("echo git-pcc heartbeat --hook"));
        assert_eq!(
            hook_command(Path::new("/a b/git-pcc"), "heartbeat --hook"),
            "'/a b/git-pcc' heartbeat --hook"
        );
    }

    #[test]
    fn install_then_uninstall_restores_other_settings() {
        let original: Map<String, Value> = serde_json::from_value(json!({
            "model": "opus",
            "hooks": {"PostToolUse": [{"matcher": "Edit", "hooks": [{"type": "command", "command": "fmt.sh"}]}]}
        }))
        .unwrap();
        let installed = with_our_hooks(original.clone(), Path::new("/bin/git-pcc"));
        assert_eq!(
            installed["hooks"]["PostToolUse"].as_array().unwrap().len(),
            2
        );
        assert_eq!(
            with_our_hooks(installed.clone(), Path::new("/bin/git-pcc")),
            installed
        );
        assert_eq!(without_our_hooks(installed), original);
    }
}
