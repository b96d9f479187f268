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
//!
//! What installing adds to the home directory that was not there (files it
//! creates, directories it makes for them, its backups) is recorded in
//! `<data dir>/installed.json`; uninstalling takes it away again: a file
//! we created that holds nothing but our entries is removed rather than
//! left empty, our backups go (they would name executables that are gone),
//! and so do the directories we made once they are empty. A file that was
//! there before keeps everything but our entries.
//!
//! The other agents' hooks and MCP entries (Codex CLI, Gemini CLI,
//! OpenCode) are in `agents`, written under the same rules.

pub mod agents;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::{link_target, write_atomically};
use crate::{paths, UserError};

/// The hook events we install, with the `git-pcc` arguments each runs and
/// the matcher of the events that take one (tools; notification types).
pub const HOOK_EVENTS: &[(&str, &str, Option<&str>)] = &[
    ("PostToolUse", "heartbeat --hook", Some("*")),
    ("PreToolUse", "hook pre-tool-use", Some("*")),
    ("SessionStart", "hook session-start", None),
    ("SessionEnd", "hook session-end", None),
    ("WorktreeCreate", "hook worktree-create", None),
    ("WorktreeRemove", "hook worktree-remove", None),
    ("UserPromptSubmit", "hook user-prompt-submit", None),
    ("PermissionRequest", "hook permission-request", Some("*")),
    (
        "Notification",
        "hook notification",
        Some("permission_prompt|elicitation_dialog|idle_prompt"),
    ),
    ("Stop", "hook stop", None),
    ("StopFailure", "hook stop-failure", None),
    ("PreCompact", "hook pre-compact", None),
    ("PostCompact", "hook post-compact", None),
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
    let arguments = without_agent(arguments);
    name.as_deref() == Some("git-pcc") && HOOK_EVENTS.iter().any(|(_, args, _)| arguments == *args)
}

/// Hook arguments without the `--agent NAME` the other agents' hooks end in.
fn without_agent(arguments: &str) -> &str {
    match arguments.rsplit_once(" --agent ") {
        Some((before, name)) if crate::agents::is_valid_name(name) => before,
        _ => arguments,
    }
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
    direction: Direction,
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
    let empty = after.is_empty();
    let text = serde_json::to_string_pretty(&Value::Object(after))? + "\n";
    change.backup_path = write_file(path, text.as_bytes(), empty, direction)?;
    change.changed = true;
    Ok(change)
}

/// Which way a write goes: adding our entries, or taking them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Install,
    Uninstall,
}

/// What installing added to the home directory that was not there before,
/// by real path (for a link, the file it points to).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Added {
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    dirs: Vec<String>,
    #[serde(default)]
    backups: Vec<String>,
}

impl Added {
    fn path() -> Result<PathBuf> {
        Ok(paths::data_dir()?.join("installed.json"))
    }

    /// The record, empty when there is none (or it cannot be read: then
    /// nothing is taken away that was not recorded).
    fn load() -> Added {
        Added::path()
            .ok()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save(&self) -> Result<()> {
        let path = Added::path()?;
        if self.files.is_empty() && self.dirs.is_empty() && self.backups.is_empty() {
            match std::fs::remove_file(&path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(anyhow::Error::new(err)
                        .context(format!("cannot remove {}", path.display())))
                }
                _ => return Ok(()),
            }
        }
        if let Some(dir) = path.parent() {
            paths::ensure_data_dir(dir)?;
        }
        let text = serde_json::to_string_pretty(self)? + "\n";
        write_atomically(&path, text.as_bytes())
    }

    fn note(list: &mut Vec<String>, path: &Path) {
        let text = path.display().to_string();
        if !list.contains(&text) {
            list.push(text);
        }
    }

    /// Takes `path` out of `list`, saying whether it was there.
    fn take(list: &mut Vec<String>, path: &Path) -> bool {
        let text = path.display().to_string();
        let before = list.len();
        list.retain(|entry| entry != &text);
        list.len() != before
    }

    /// Makes `dir` and the directories above it that are missing,
    /// recording each one made.
    fn make_dirs(&mut self, dir: &Path) -> Result<()> {
        let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for made in missing {
            Added::note(&mut self.dirs, made);
        }
        Ok(())
    }

    /// Removes the directories we made that are empty now, deepest first.
    fn remove_empty_dirs(&mut self) {
        let mut dirs = self.dirs.clone();
        dirs.sort_by_key(|dir| std::cmp::Reverse(dir.len()));
        for dir in dirs {
            let path = Path::new(&dir);
            if !path.exists() || std::fs::remove_dir(path).is_ok() {
                Added::take(&mut self.dirs, path);
            }
        }
    }
}

/// `<file>.pcc-backup` beside the file a write to `path` changes.
fn backup_path(path: &Path) -> Result<PathBuf> {
    let mut name = link_target(path)?.into_os_string();
    name.push(".pcc-backup");
    Ok(PathBuf::from(name))
}

/// Writes `text` to `path` atomically. Installing keeps the previous
/// content as a backup and records what it adds to the home directory;
/// uninstalling takes that away again: a file we created is removed when
/// `empty` (nothing but our entries was in it), and our backup goes instead
/// of a new one being made. Returns the backup made, if any.
fn write_file(
    path: &Path,
    text: &[u8],
    empty: bool,
    direction: Direction,
) -> Result<Option<String>> {
    let target = link_target(path)?;
    let backup_file = backup_path(path)?;
    let mut added = Added::load();
    let made = match direction {
        Direction::Install => {
            if !target.exists() {
                Added::note(&mut added.files, &target);
            }
            // The directory of the name given, as always: a link into a
            // directory that is missing stays refused.
            if let Some(parent) = path.parent() {
                added.make_dirs(parent)?;
            }
            let had_backup = backup_file.exists();
            let made = backup(path)?;
            if made.is_some() && !had_backup {
                Added::note(&mut added.backups, &backup_file);
            }
            write_atomically(path, text)?;
            made
        }
        Direction::Uninstall => {
            let created = Added::take(&mut added.files, &target);
            let our_backup = Added::take(&mut added.backups, &backup_file);
            let made = if created && empty {
                std::fs::remove_file(&target)
                    .with_context(|| format!("cannot remove {}", target.display()))?;
                None
            } else {
                let made = if our_backup { None } else { backup(path)? };
                write_atomically(path, text)?;
                made
            };
            if our_backup {
                let _ = std::fs::remove_file(&backup_file);
            }
            added.remove_empty_dirs();
            made
        }
    };
    added.save()?;
    Ok(made)
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
    with_hooks(settings, git_pcc, HOOK_EVENTS)
}

/// The hooks of `events` (event, `git-pcc` arguments, matcher) added to a
/// settings object of hooks in Claude Code's shape (after removing any of
/// ours).
fn with_hooks(
    settings: Map<String, Value>,
    git_pcc: &Path,
    events: &[(&str, &str, Option<&str>)],
) -> Map<String, Value> {
    let mut settings = without_our_hooks(settings);
    let hooks = settings
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    if !hooks.is_object() {
        *hooks = Value::Object(Map::new());
    }
    let hooks = hooks.as_object_mut().expect("hooks is an object");
    for (event, arguments, matcher) in events {
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
    write_json_if_changed("hooks", &path, before.as_ref(), after, Direction::Install)
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
    write_json_if_changed("hooks", &path, Some(&before), after, Direction::Uninstall)
}

/// Which of our hook events are present in the settings file of `scope`.
pub fn installed_hook_events(scope: &HookScope) -> Result<Vec<String>> {
    hook_events_in(&scope.settings_path()?)
}

/// Which events have a hook of ours in the settings file at `path`.
fn hook_events_in(path: &Path) -> Result<Vec<String>> {
    let Some(settings) = read_json_object(path)? else {
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

/// How often, in seconds, Claude Code runs our status line command when
/// nothing else makes it (so it stays current while the session is idle).
pub const STATUSLINE_REFRESH_SECONDS: u64 = 5;

/// The `statusLine` setting that runs `git-pcc statusline`.
pub fn statusline_setting(git_pcc: &Path) -> Value {
    json!({
        "type": "command",
        "command": hook_command(git_pcc, "statusline"),
        "refreshInterval": STATUSLINE_REFRESH_SECONDS,
    })
}

/// Whether a `statusLine` setting runs our command (from any path).
pub fn is_our_statusline(setting: &Value) -> bool {
    setting
        .get("command")
        .and_then(Value::as_str)
        .and_then(split_program)
        .is_some_and(|(program, arguments)| {
            Path::new(&program).file_name().and_then(|n| n.to_str()) == Some("git-pcc")
                && arguments == "statusline"
        })
}

/// What installing the status line did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusLineChange {
    #[serde(flatten)]
    pub change: FileChange,
    /// The user's own status line command, left as it is.
    pub kept_theirs: Option<String>,
}

/// Sets our status line in the settings file of `scope` when the user has
/// none of their own; one of theirs is kept as it is and named in the
/// result. Ours from another path or with another refresh is brought up
/// to date.
pub fn install_statusline(scope: &HookScope, git_pcc: &Path) -> Result<StatusLineChange> {
    let path = scope.settings_path()?;
    let before = read_json_object(&path)?;
    let mut after = before.clone().unwrap_or_default();
    if let Some(theirs) = after.get("statusLine").filter(|s| !is_our_statusline(s)) {
        let command = theirs
            .get("command")
            .and_then(Value::as_str)
            .map_or_else(|| theirs.to_string(), str::to_owned);
        return Ok(StatusLineChange {
            change: FileChange {
                component: "statusline".into(),
                path: path.display().to_string(),
                changed: false,
                backup_path: None,
            },
            kept_theirs: Some(command),
        });
    }
    after.insert("statusLine".to_owned(), statusline_setting(git_pcc));
    let change = write_json_if_changed(
        "statusline",
        &path,
        before.as_ref(),
        after,
        Direction::Install,
    )?;
    Ok(StatusLineChange {
        change,
        kept_theirs: None,
    })
}

/// Removes our status line from the settings file of `scope` (a status
/// line of the user's own stays).
pub fn uninstall_statusline(scope: &HookScope) -> Result<FileChange> {
    let path = scope.settings_path()?;
    let unchanged = FileChange {
        component: "statusline".into(),
        path: path.display().to_string(),
        changed: false,
        backup_path: None,
    };
    let Some(before) = read_json_object(&path)? else {
        return Ok(unchanged);
    };
    if !before.get("statusLine").is_some_and(is_our_statusline) {
        return Ok(unchanged);
    }
    let mut after = before.clone();
    after.remove("statusLine");
    write_json_if_changed(
        "statusline",
        &path,
        Some(&before),
        after,
        Direction::Uninstall,
    )
}

/// The status line command in the settings file of `scope`, and whether
/// it is ours.
pub fn installed_statusline(scope: &HookScope) -> Result<Option<(String, bool)>> {
    let Some(settings) = read_json_object(&scope.settings_path()?)? else {
        return Ok(None);
    };
    Ok(settings.get("statusLine").map(|setting| {
        let command = setting
            .get("command")
            .and_then(Value::as_str)
            .map_or_else(|| setting.to_string(), str::to_owned);
        (command, is_our_statusline(setting))
    }))
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
    write_json_if_changed("mcp", &path, before.as_ref(), after, Direction::Install)
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
    write_json_if_changed("mcp", &path, Some(&before), after, Direction::Uninstall)
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

/// The shells whose rc files we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    /// The user's shell, from `$SHELL` (bash when it is none we know).
    pub fn of_user() -> Shell {
        let shell = std::env::var("SHELL").unwrap_or_default();
        match Path::new(&shell).file_name().and_then(|n| n.to_str()) {
            Some("zsh") => Shell::Zsh,
            Some("fish") => Shell::Fish,
            _ => Shell::Bash,
        }
    }

    /// The alias line in this shell's syntax.
    fn alias_line(self) -> &'static str {
        match self {
            Shell::Fish => "alias claude claude-parallel",
            Shell::Bash | Shell::Zsh => "alias claude=claude-parallel",
        }
    }

    /// The alias line of another agent (`alias codex=codex-parallel`).
    fn agent_alias_line(self, agent: &str) -> String {
        match self {
            Shell::Fish => format!("alias {agent} {agent}-parallel"),
            Shell::Bash | Shell::Zsh => format!("alias {agent}={agent}-parallel"),
        }
    }

    /// A line that puts `dir` in front of PATH when PATH does not hold it,
    /// so sourcing the rc file twice adds it once.
    fn path_line(self, dir: &Path) -> String {
        let dir = shell_word(&dir.to_string_lossy());
        match self {
            Shell::Fish => format!("contains -- {dir} $PATH; or set -gx PATH {dir} $PATH"),
            Shell::Bash | Shell::Zsh => {
                format!("case \":$PATH:\" in *:{dir}:*) ;; *) export PATH={dir}:\"$PATH\" ;; esac")
            }
        }
    }
}

/// Whether a line of an rc file below our marker is one we wrote.
fn is_our_rc_line(line: &str) -> bool {
    let line = line.trim();
    line.contains("claude-parallel")
        || (line.starts_with("alias ") && line.ends_with("-parallel"))
        || (line.starts_with("case \":$PATH:\" in ") && line.ends_with("esac"))
        || (line.starts_with("contains -- ") && line.contains("set -gx PATH"))
}

/// The user's shell rc file and the alias line for that shell.
pub fn alias_target() -> Result<(PathBuf, String)> {
    let home = paths::home_dir()?;
    let shell = Shell::of_user();
    let file = match shell {
        Shell::Zsh => home.join(".zshrc"),
        Shell::Fish => home.join(".config/fish/config.fish"),
        Shell::Bash => home.join(".bashrc"),
    };
    Ok((file, shell.alias_line().to_owned()))
}

/// The marker above the alias block of `agent`.
fn alias_marker(agent: &str) -> String {
    if agent == crate::agents::DEFAULT_AGENT {
        ALIAS_MARKER.to_owned()
    } else {
        format!("# parallel-cc: start {agent} through {agent}-parallel")
    }
}

/// Our block for the user's shell: the marker, one PATH line per
/// directory in `path_dirs`, the alias of `agent`.
fn agent_alias_block(agent: &str, path_dirs: &[PathBuf]) -> Vec<String> {
    let shell = Shell::of_user();
    let mut block = vec![alias_marker(agent)];
    let mut seen: Vec<&PathBuf> = Vec::new();
    for dir in path_dirs {
        if !seen.contains(&dir) {
            seen.push(dir);
            block.push(shell.path_line(dir));
        }
    }
    block.push(if agent == crate::agents::DEFAULT_AGENT {
        shell.alias_line().to_owned()
    } else {
        shell.agent_alias_line(agent)
    });
    block
}

/// Where the block of `agent` is in the lines of an rc file: from the
/// marker to the last line of ours after it.
fn find_agent_block(lines: &[&str], agent: &str) -> Option<std::ops::Range<usize>> {
    let marker = alias_marker(agent);
    let start = lines.iter().position(|l| l.trim() == marker)?;
    let mut end = start + 1;
    while end < lines.len() && is_our_rc_line(lines[end]) {
        end += 1;
    }
    Some(start..end)
}

fn read_rc(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(err) => Err(UserError::new(format!("cannot read {}: {err}", path.display())).into()),
    }
}

/// Adds the alias to the shell rc file, with lines that put `path_dirs`
/// (where `claude-parallel` and our executables are) on PATH when a new
/// shell does not have them there, so the alias always resolves. Once: a
/// block of ours that is there already is left as it is, or brought up to
/// date when it differs (an older version's, another install directory).
pub fn install_alias(path_dirs: &[PathBuf]) -> Result<FileChange> {
    install_agent_alias(crate::agents::DEFAULT_AGENT, path_dirs)
}

/// [`install_alias`] for the agent named `agent` (`alias codex=codex-parallel`).
pub fn install_agent_alias(agent: &str, path_dirs: &[PathBuf]) -> Result<FileChange> {
    let (path, _) = alias_target()?;
    let before = read_rc(&path)?;
    let mut change = FileChange {
        component: "alias".into(),
        path: path.display().to_string(),
        changed: false,
        backup_path: None,
    };
    let block = agent_alias_block(agent, path_dirs);
    let lines: Vec<&str> = before.lines().collect();
    let after = match find_agent_block(&lines, agent) {
        Some(range)
            if lines[range.clone()] == block.iter().map(String::as_str).collect::<Vec<_>>()[..] =>
        {
            return Ok(change);
        }
        Some(range) => {
            let mut kept: Vec<&str> = lines[..range.start].to_vec();
            kept.extend(block.iter().map(String::as_str));
            kept.extend_from_slice(&lines[range.end..]);
            kept.join("\n") + "\n"
        }
        None => {
            let mut after = before.clone();
            if !after.is_empty() && !after.ends_with('\n') {
                after.push('\n');
            }
            after.push_str(&(block.join("\n") + "\n"));
            after
        }
    };
    change.backup_path = write_file(&path, after.as_bytes(), false, Direction::Install)?;
    change.changed = true;
    Ok(change)
}

/// Removes our block (the marker, our PATH lines and the alias).
pub fn uninstall_alias() -> Result<FileChange> {
    uninstall_agent_alias(crate::agents::DEFAULT_AGENT)
}

/// [`uninstall_alias`] for the agent named `agent`.
pub fn uninstall_agent_alias(agent: &str) -> Result<FileChange> {
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
    let Some(range) = find_agent_block(&lines, agent) else {
        return Ok(change);
    };
    let after = text_without(&lines, range, false);
    let empty = after.trim().is_empty();
    change.backup_path = write_file(&path, after.as_bytes(), empty, Direction::Uninstall)?;
    change.changed = true;
    Ok(change)
}

/// The text of `lines` without the block at `range` (and, with
/// `blank_above`, the blank line above it, which went in with the block).
fn text_without(lines: &[&str], range: std::ops::Range<usize>, blank_above: bool) -> String {
    let mut kept: Vec<&str> = lines[..range.start].to_vec();
    if blank_above && kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    kept.extend_from_slice(&lines[range.end..]);
    let mut text = kept.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// Whether our alias is in the shell rc file.
pub fn alias_installed() -> Result<bool> {
    agent_alias_installed(crate::agents::DEFAULT_AGENT)
}

/// Whether the alias of `agent` is in the shell rc file.
pub fn agent_alias_installed(agent: &str) -> Result<bool> {
    let (path, _) = alias_target()?;
    let marker = alias_marker(agent);
    Ok(std::fs::read_to_string(path).is_ok_and(|text| text.lines().any(|l| l.trim() == marker)))
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
