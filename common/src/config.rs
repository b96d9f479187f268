//! User settings in `<data dir>/config.json`, addressed by dot keys
//! (`worktree.branchPrefix` is `{"worktree": {"branchPrefix": ...}}`). Every
//! setting the product reads is declared once in [`SETTINGS`] with its type
//! and default; `config set` refuses unknown keys and wrong types. Keys in
//! the file that we do not know (written by another version, or by the
//! TypeScript tool, such as its `ui.color`) are kept as they are, listed
//! and readable as what they are: kept, not used.
//!
//! A value in the file that its setting cannot use (a wrong JSON type, a
//! number out of range, a section that is not an object) is never used and
//! never silently dropped: [`Config::load`] finds every such value once,
//! [`Config::problems`] lists them for the commands to report, and the
//! setting's default is used in its place until the value is fixed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{paths, UserError};

/// The type of a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// A whole number within bounds.
    Integer { min: i64, max: i64 },
    /// A text value.
    Text,
    /// A text value or nothing (`null`).
    OptionalText,
    /// A list of text values.
    TextList,
    /// A program and its arguments, one word per item: given as a JSON
    /// list, or as text split into words the way a shell splits them.
    CommandLine,
    /// A number (not necessarily whole) within bounds.
    Number { min: f64, max: f64 },
    /// A number within bounds, or nothing (`null`).
    OptionalNumber { min: f64, max: f64 },
    /// A list of numbers within bounds, in increasing order.
    NumberList { min: f64, max: f64 },
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// `true` or `false`.
    Bool,
    /// A [`Kind::CommandLine`], or nothing (`null`).
    OptionalCommandLine,
}

/// One declared setting.
pub struct Setting {
    pub key: &'static str,
    pub kind: Kind,
    pub description: &'static str,
    default: fn() -> Value,
}

impl Setting {
    pub fn default_value(&self) -> Value {
        (self.default)()
    }
}

/// Every setting the product reads.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "session.staleMinutes",
        kind: Kind::Integer { min: 1, max: 10_080 },
        description: "minutes without a heartbeat after which a session whose process is gone is stale",
        default: || Value::from(10),
    },
    Setting {
        key: "session.idleAfterMinutes",
        kind: Kind::Integer { min: 1, max: 10_080 },
        description: "minutes a working session may go without a hook before status shows it as idle? (an interrupt sends no hook)",
        default: || Value::from(5),
    },
    Setting {
        key: "session.lockTimeoutSeconds",
        kind: Kind::Integer { min: 1, max: 3_600 },
        description: "seconds a command waits for a repository another parallel-cc process is changing before it names that process and gives up",
        default: || Value::from(30),
    },
    Setting {
        key: "worktree.root",
        kind: Kind::OptionalText,
        description: "directory for new worktrees (default: <repo parent>/<repo>-worktrees; relative to the repository)",
        default: || Value::Null,
    },
    Setting {
        key: "worktree.branchPrefix",
        kind: Kind::Text,
        description: "prefix of the branch each worktree session gets",
        default: || Value::from("parallel/"),
    },
    Setting {
        key: "worktree.copy",
        kind: Kind::TextList,
        description: "gitignore-style patterns of untracked files copied from the main checkout into new worktrees",
        default: || Value::from(vec![".env", ".env.*"]),
    },
    Setting {
        key: "worktree.setup",
        kind: Kind::TextList,
        description: "shell commands run inside each new worktree (output to the session log)",
        default: || Value::Array(Vec::new()),
    },
    Setting {
        key: "land.strategy",
        kind: Kind::Choice(&["rebase", "merge", "squash"]),
        description: "how git pcc land puts a branch on its target when --strategy is not given",
        default: || Value::from("rebase"),
    },
    Setting {
        key: "land.check",
        kind: Kind::OptionalText,
        description: "shell command git pcc land runs on each candidate in a scratch worktree (for example cargo test); null: no check",
        default: || Value::Null,
    },
    Setting {
        key: "land.checkTimeoutMinutes",
        kind: Kind::Integer { min: 1, max: 1_440 },
        description: "minutes a land check may run before it is stopped and counted as failed",
        default: || Value::from(30),
    },
    Setting {
        key: "land.jobs",
        kind: Kind::Integer { min: 1, max: 64 },
        description: "checks git pcc land runs at once on stacked candidates when --jobs is not given",
        default: || Value::from(1),
    },
    Setting {
        key: "land.remote",
        kind: Kind::Text,
        description: "the remote git pcc land --push pushes the target to and --pr pushes branches to",
        default: || Value::from("origin"),
    },
    Setting {
        key: "worktree.base",
        kind: Kind::Text,
        description: "what new worktrees start from: head (the main checkout's HEAD), fresh (fetch, then the remote's default branch) or any ref; per repository too",
        default: || Value::from("head"),
    },
    Setting {
        key: "worktree.sparsePaths",
        kind: Kind::TextList,
        description: "cone-mode directories a new worktree checks out (git sparse-checkout set --cone); empty: everything; per repository too",
        default: || Value::Array(Vec::new()),
    },
    Setting {
        key: "worktree.symlink",
        kind: Kind::TextList,
        description: "gitignore-style patterns of ignored directories of the main checkout linked (not copied) into new worktrees, e.g. node_modules; per repository too",
        default: || Value::Array(Vec::new()),
    },
    Setting {
        key: "sandbox.agentCommand",
        kind: Kind::CommandLine,
        description: "the agent a sandbox run starts: a JSON list of words, or a command line split as a shell would (quotes kept together); {prompt} is replaced by the prompt (never run through a shell)",
        default: || {
            Value::from(vec![
                "claude",
                "-p",
                "{prompt}",
                "--dangerously-skip-permissions",
                "--output-format",
                "stream-json",
                "--verbose",
            ])
        },
    },
    Setting {
        key: "sandbox.backend",
        kind: Kind::Choice(&["local", "e2b"]),
        description: "where sandbox runs go when --backend is not given",
        default: || Value::from("local"),
    },
    Setting {
        key: "sandbox.e2bTemplate",
        kind: Kind::Text,
        description: "the E2B template sandboxes are created from when the run's template names none",
        default: || Value::from("base"),
    },
    Setting {
        key: "sandbox.e2bMaxMinutes",
        kind: Kind::Integer { min: 1, max: 1_440 },
        description: "the longest an E2B sandbox may live (your plan's maximum; a template's metadata.maxMinutes lowers it)",
        default: || Value::from(60),
    },
    Setting {
        key: "sandbox.gitRemote",
        kind: Kind::Text,
        description: "the remote --git-live pushes to",
        default: || Value::from("origin"),
    },
    Setting {
        key: "sandbox.exclude",
        kind: Kind::TextList,
        description: "gitignore-style patterns of files never packed into a sandbox, besides .env files and keys (--include overrides)",
        default: || Value::Array(Vec::new()),
    },
    Setting {
        key: "sandbox.timeoutMinutes",
        kind: Kind::Integer { min: 1, max: 10_080 },
        description: "minutes after which a sandbox run is stopped (--timeout overrides)",
        default: || Value::from(60),
    },
    Setting {
        key: "sandbox.confinement",
        kind: Kind::Choice(&["auto", "off"]),
        description: "local runs: 'auto' confines the agent to its workspace with bwrap when installed, 'off' never does",
        default: || Value::from("auto"),
    },
    Setting {
        key: "budget.monthlyLimit",
        kind: Kind::OptionalNumber { min: 0.0, max: 1e9 },
        description: "USD all sandbox runs may spend per calendar month (null: no limit)",
        default: || Value::Null,
    },
    Setting {
        key: "budget.perSessionDefault",
        kind: Kind::OptionalNumber { min: 0.0, max: 1e9 },
        description: "USD one sandbox run may spend when --budget is not given (null: no limit)",
        default: || Value::Null,
    },
    Setting {
        key: "budget.warningThresholds",
        kind: Kind::NumberList { min: 0.0, max: 1.0 },
        description: "fractions of a limit at which a warning is given",
        default: || Value::from(vec![0.5, 0.8]),
    },
    Setting {
        key: "budget.e2bHourlyRate",
        kind: Kind::Number { min: 0.0, max: 1e6 },
        description: "USD per hour of an E2B sandbox, added to the agent's own cost",
        default: || Value::from(0.10),
    },
    Setting {
        key: "budget.localHourlyRate",
        kind: Kind::Number { min: 0.0, max: 1e6 },
        description: "USD per hour of a local sandbox, added to the agent's own cost",
        default: || Value::from(0.0),
    },
    Setting {
        key: "notify.enabled",
        kind: Kind::Bool,
        description: "run notify.command (and notify-send with notify.desktop) when a session starts waiting for its user, or turns idle after working for notify.idleAfterWorkingMinutes",
        default: || Value::from(false),
    },
    Setting {
        key: "notify.command",
        kind: Kind::OptionalCommandLine,
        description: "the program run for a notification: a JSON list of words, or a command line split as a shell would; it gets PARALLEL_CC_NOTIFY_REPO, _SESSION, _BRANCH, _WORKTREE, _STATE and _MESSAGE in its environment (never run through a shell)",
        default: || Value::Null,
    },
    Setting {
        key: "notify.desktop",
        kind: Kind::Bool,
        description: "also show a desktop notification with notify-send, when it is on PATH",
        default: || Value::from(false),
    },
    Setting {
        key: "notify.idleAfterWorkingMinutes",
        kind: Kind::Integer { min: 0, max: 10_080 },
        description: "a session that turns idle notifies when it had been working at least this many minutes",
        default: || Value::from(2),
    },
];

/// The key as we declare it: the TypeScript tool's kebab-case spellings of
/// the budget settings (`budget.monthly-limit`) name the camelCase ones,
/// as they did there.
pub fn canonical_key(key: &str) -> String {
    key.replace("monthly-limit", "monthlyLimit")
        .replace("per-session-default", "perSessionDefault")
        .replace("warning-thresholds", "warningThresholds")
}

/// Whether `key` names a section holding declared settings (`budget`).
pub fn is_section(key: &str) -> bool {
    SETTINGS.iter().any(|s| {
        s.key
            .strip_prefix(key)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Looks up a declared setting.
pub fn find_setting(key: &str) -> Result<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key).ok_or_else(|| {
        UserError::with_hint(
            format!("unknown config key '{key}'"),
            "run 'git pcc config list' to see the keys",
        )
        .into()
    })
}

/// The settings as loaded from disk.
#[derive(Debug, Clone, Default)]
pub struct Config {
    root: Map<String, Value>,
    path: PathBuf,
    problems: Vec<Problem>,
}

/// A value in `config.json` that a declared setting cannot use. The
/// setting's default is used in its place; the file is left as it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// Where the value is: a declared setting (`worktree.root`), or a
    /// section (`worktree`) that holds something other than an object.
    pub key: String,
    /// What the file holds there.
    pub found: Value,
    /// What belongs there.
    pub expected: String,
    /// What is used instead: the setting's default, or for a section the
    /// defaults of its settings.
    pub default: Value,
    /// The setting whose `config set` repairs this (for a section, its
    /// first setting: setting it replaces the section with an object).
    #[serde(skip)]
    fix_key: &'static str,
}

impl Problem {
    /// `expected a whole number from 1 to 10080, found "ten"`.
    pub fn message(&self) -> String {
        format!(
            "expected {}, found {}",
            self.expected,
            short_json(&self.found)
        )
    }

    /// Whether the problem is a section rather than one setting.
    pub fn is_section(&self) -> bool {
        self.key != self.fix_key
    }

    /// Whether this problem makes the declared setting `key` fall back to
    /// its default.
    pub fn affects(&self, key: &str) -> bool {
        key == self.key
            || key
                .strip_prefix(self.key.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    }

    /// The key and the value, as `git pcc config set KEY VALUE` takes it,
    /// that repair the problem by storing the default.
    pub fn fix(&self) -> (&'static str, String) {
        let value = find_setting(self.fix_key)
            .map(|setting| setting.default_value())
            .unwrap_or(Value::Null);
        let text = match value {
            Value::String(text) => text,
            other => other.to_string(),
        };
        (self.fix_key, text)
    }
}

/// A JSON value in one short line, for messages.
fn short_json(value: &Value) -> String {
    const MOST: usize = 60;
    let text = value.to_string();
    if text.chars().count() <= MOST {
        text
    } else {
        format!("{}...", text.chars().take(MOST - 3).collect::<String>())
    }
}

/// Where a dot key leads in the file.
enum Lookup<'a> {
    Missing,
    Found(&'a Value),
    /// A section on the way (`worktree` of `worktree.root`) is not an
    /// object.
    NotASection(&'a str, &'a Value),
}

fn lookup<'a>(root: &'a Map<String, Value>, key: &'a str) -> Lookup<'a> {
    let mut current = root;
    let mut end = 0;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        end += part.len();
        let Some(value) = current.get(part) else {
            return Lookup::Missing;
        };
        if parts.peek().is_none() {
            return Lookup::Found(value);
        }
        match value.as_object() {
            Some(section) => current = section,
            None => return Lookup::NotASection(&key[..end], value),
        }
        end += 1;
    }
    Lookup::Missing
}

/// Every stored value a declared setting cannot use, in declaration order,
/// one problem per broken section.
fn find_problems(root: &Map<String, Value>) -> Vec<Problem> {
    let mut problems: Vec<Problem> = Vec::new();
    for setting in SETTINGS {
        match lookup(root, setting.key) {
            Lookup::Missing => {}
            Lookup::Found(value) => {
                if validate(setting, value).is_err() {
                    problems.push(Problem {
                        key: setting.key.to_owned(),
                        found: value.clone(),
                        expected: expected_in_file(setting.kind),
                        default: setting.default_value(),
                        fix_key: setting.key,
                    });
                }
            }
            Lookup::NotASection(section, value) => {
                if problems.iter().any(|p| p.key == section) {
                    continue;
                }
                let prefix = format!("{section}.");
                let defaults: Map<String, Value> = SETTINGS
                    .iter()
                    .filter_map(|s| {
                        let name = s.key.strip_prefix(&prefix)?;
                        Some((name.to_owned(), s.default_value()))
                    })
                    .collect();
                problems.push(Problem {
                    key: section.to_owned(),
                    found: value.clone(),
                    expected: format!("an object holding the {section} settings"),
                    default: Value::Object(defaults),
                    fix_key: setting.key,
                });
            }
        }
    }
    problems
}

/// One row of `config list`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigEntry {
    pub key: String,
    /// The value in effect, or, when the stored one cannot be used, the
    /// stored one (see `invalid`).
    pub value: Value,
    /// Whether the default is in effect.
    pub is_default: bool,
    pub description: String,
    /// Why the stored value cannot be used (`expected ..., found ...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
    /// The default used in place of an invalid value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_used: Option<Value>,
    /// A key in the file that is not a setting of ours (another version's,
    /// or the TypeScript tool's): kept as it is, not used.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
}

/// What the file holds at a key that is not a declared setting.
#[derive(Debug, Clone, PartialEq)]
pub enum Unknown<'a> {
    /// A value we do not use, kept as it is.
    Kept(&'a Value),
    /// A section of ours: the values in effect in it.
    Section(Value),
    /// Nothing.
    Missing,
}

/// What to do about a `config.json` that cannot be parsed; every command
/// named works while the file is broken.
const BROKEN_FILE_HINT: &str = "fix it by hand, or move it away to use the defaults; \
    'git pcc config set KEY VALUE' keeps it as config.json.broken-<time> and starts a new one \
    ('git pcc config list' shows the keys)";

/// Whether `err` is [`Config::load`]'s refusal of a file that is not a JSON
/// object (as opposed to one that cannot be read at all).
pub fn is_broken_file(err: &anyhow::Error) -> bool {
    err.downcast_ref::<UserError>()
        .is_some_and(|e| e.hint.as_deref() == Some(BROKEN_FILE_HINT))
}

impl Config {
    /// Every setting at its default, as if `config.json` in `data_dir` did
    /// not exist.
    pub fn defaults(data_dir: &Path) -> Config {
        Config {
            root: Map::new(),
            path: paths::config_path(data_dir),
            problems: Vec::new(),
        }
    }

    /// Loads `config.json` from the data directory; a missing file means
    /// all defaults, a broken one is an error that names the file.
    pub fn load(data_dir: &Path) -> Result<Config> {
        let path = paths::config_path(data_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config {
                    root: Map::new(),
                    path,
                    problems: Vec::new(),
                })
            }
            Err(err) => {
                return Err(UserError::new(format!("cannot read {}: {err}", path.display())).into())
            }
        };
        let root = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(UserError::with_hint(
                    format!("{} does not hold a JSON object", path.display()),
                    BROKEN_FILE_HINT,
                )
                .into())
            }
            Err(err) => {
                return Err(UserError::with_hint(
                    format!("{} is not valid JSON: {err}", path.display()),
                    BROKEN_FILE_HINT,
                )
                .into())
            }
        };
        let problems = find_problems(&root);
        Ok(Config {
            root,
            path,
            problems,
        })
    }

    /// The file the settings come from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every stored value a setting cannot use (found once, when loading).
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The problem that makes the declared setting `key` use its default,
    /// if any.
    pub fn problem(&self, key: &str) -> Option<&Problem> {
        self.problems.iter().find(|p| p.affects(key))
    }

    /// For `config set`: like [`Config::load`], but a file that is not a
    /// JSON object is first copied to `config.json.broken-<time>` and then
    /// treated as empty, so setting a key repairs it without losing what
    /// was there. Returns the backup's path when one was made.
    pub fn load_for_update(data_dir: &Path) -> Result<(Config, Option<PathBuf>)> {
        match Config::load(data_dir) {
            Ok(config) => Ok((config, None)),
            Err(err) if is_broken_file(&err) => {
                let path = paths::config_path(data_dir);
                let stamp = crate::time::format_sqlite_datetime(crate::time::unix_now())
                    .replace([' ', ':'], "-");
                let backup = path.with_file_name(format!("config.json.broken-{stamp}"));
                std::fs::copy(&path, &backup)
                    .with_context(|| format!("cannot back up the broken {}", path.display()))?;
                Ok((
                    Config {
                        root: Map::new(),
                        path,
                        problems: Vec::new(),
                    },
                    Some(backup),
                ))
            }
            Err(err) => Err(err),
        }
    }

    /// The value of a declared key, or its default (also when the stored
    /// value cannot be used: see [`Config::problem`]).
    pub fn get(&self, key: &str) -> Result<Value> {
        let setting = find_setting(key)?;
        Ok(self
            .stored(key)
            .cloned()
            .unwrap_or_else(|| setting.default_value()))
    }

    fn stored<'a>(&'a self, key: &'a str) -> Option<&'a Value> {
        match lookup(&self.root, key) {
            Lookup::Found(value) => Some(value),
            Lookup::Missing | Lookup::NotASection(..) => None,
        }
    }

    /// Every declared setting with its value; a stored value that cannot be
    /// used is shown as it is, marked invalid.
    pub fn list(&self) -> Vec<ConfigEntry> {
        SETTINGS
            .iter()
            .map(|setting| {
                let default = setting.default_value();
                let mut entry = ConfigEntry {
                    key: setting.key.to_owned(),
                    value: default.clone(),
                    is_default: true,
                    description: setting.description.to_owned(),
                    invalid: None,
                    default_used: None,
                    unknown: false,
                };
                match self.problem(setting.key) {
                    Some(problem) if problem.is_section() => {
                        entry.invalid = Some(format!("{}: {}", problem.key, problem.message()));
                        entry.default_used = Some(default);
                    }
                    Some(problem) => {
                        entry.value = problem.found.clone();
                        entry.is_default = false;
                        entry.invalid = Some(problem.message());
                        entry.default_used = Some(default);
                    }
                    None => {
                        if let Some(stored) = self.stored(setting.key) {
                            entry.value = stored.clone();
                            entry.is_default = false;
                        }
                    }
                }
                entry
            })
            .chain(
                self.unknown_keys()
                    .into_iter()
                    .map(|(key, value)| ConfigEntry {
                        key,
                        value,
                        is_default: false,
                        description: "not a setting of parallel-cc: kept in the file, not used"
                            .to_owned(),
                        invalid: None,
                        default_used: None,
                        unknown: true,
                    }),
            )
            .collect()
    }

    /// Every value in the file at a key that is neither a declared setting
    /// nor a section of them, by dot key, in the file's order.
    pub fn unknown_keys(&self) -> Vec<(String, Value)> {
        fn walk(prefix: &str, map: &Map<String, Value>, found: &mut Vec<(String, Value)>) {
            for (name, value) in map {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                if find_setting(&key).is_ok() {
                    continue;
                }
                match value.as_object() {
                    Some(section) if !section.is_empty() => walk(&key, section, found),
                    // A section of ours that is not an object is a problem, not a key.
                    None if is_section(&key) => {}
                    _ => found.push((key, value.clone())),
                }
            }
        }
        let mut found = Vec::new();
        walk("", &self.root, &mut found);
        found
    }

    /// What the file holds at `key`, a key that is not a declared setting.
    pub fn get_unknown<'a>(&'a self, key: &'a str) -> Unknown<'a> {
        if is_section(key) {
            return match lookup(&self.effective(), key) {
                Lookup::Found(value) => Unknown::Section(value.clone()),
                _ => Unknown::Missing,
            };
        }
        match lookup(&self.root, key) {
            Lookup::Found(value) => Unknown::Kept(value),
            Lookup::Missing | Lookup::NotASection(..) => Unknown::Missing,
        }
    }

    /// The settings as one JSON object, as the TypeScript tool's `config
    /// list --json` printed them: the file's values (every key we do not
    /// know kept), and the default of each declared setting the file does
    /// not hold, leaving out defaults that are nothing (`null`).
    pub fn effective(&self) -> Map<String, Value> {
        let mut tree = self.root.clone();
        for setting in SETTINGS {
            let default = setting.default_value();
            if default.is_null() || !matches!(lookup(&tree, setting.key), Lookup::Missing) {
                continue;
            }
            let parts: Vec<&str> = setting.key.split('.').collect();
            insert_at(&mut tree, &parts, default);
        }
        tree
    }

    /// Parses `raw` for `key`, stores it and writes the file atomically
    /// (temporary file, then rename), keeping the previous file as `.bak`
    /// (see [`write_atomically`] for a `config.json` that is a link).
    pub fn set(&mut self, key: &str, raw: &str) -> Result<Value> {
        let setting = find_setting(key)?;
        let value = parse_value(setting, raw)?;
        let mut parts: Vec<&str> = key.split('.').collect();
        let leaf = parts.pop().context("empty config key")?;
        let mut current = &mut self.root;
        for part in parts {
            let entry = current
                .entry(part.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            current = entry
                .as_object_mut()
                .context("config section is not an object")?;
        }
        current.insert(leaf.to_owned(), value.clone());
        self.problems = find_problems(&self.root);
        self.save()?;
        Ok(value)
    }

    fn save(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(&Value::Object(self.root.clone()))? + "\n";
        if let Some(dir) = self.path.parent() {
            paths::ensure_data_dir(dir)?;
        }
        // The backup goes beside the file the write changes, which for a
        // link is the file it points to.
        let target = link_target(&self.path)?;
        if target.exists() {
            let mut backup = target.clone().into_os_string();
            backup.push(".bak");
            std::fs::copy(&target, &backup)
                .with_context(|| format!("cannot back up {}", target.display()))?;
        }
        write_atomically(&self.path, text.as_bytes())
    }

    /// Minutes after which a dead session is stale.
    pub fn stale_minutes(&self) -> i64 {
        self.typed("session.staleMinutes", Value::as_i64)
            .unwrap_or(10)
    }

    /// Minutes without a hook after which a working session shows as
    /// `idle?`.
    pub fn idle_after_minutes(&self) -> i64 {
        self.typed("session.idleAfterMinutes", Value::as_i64)
            .unwrap_or(5)
    }

    /// How long a command waits for a repository's lock.
    pub fn lock_wait(&self) -> std::time::Duration {
        let seconds = self
            .typed("session.lockTimeoutSeconds", Value::as_u64)
            .unwrap_or(30);
        std::time::Duration::from_secs(seconds)
    }

    /// The configured worktree root, if any.
    pub fn worktree_root(&self) -> Option<String> {
        self.typed("worktree.root", |v| v.as_str().map(str::to_owned))
            .filter(|s| !s.is_empty())
    }

    /// The branch prefix of worktree sessions.
    pub fn branch_prefix(&self) -> String {
        self.typed("worktree.branchPrefix", |v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "parallel/".to_owned())
    }

    /// Patterns of untracked files copied into new worktrees.
    pub fn copy_patterns(&self) -> Vec<String> {
        self.typed("worktree.copy", string_list).unwrap_or_default()
    }

    /// What new worktrees start from: `head`, `fresh` or a ref.
    pub fn worktree_base(&self) -> String {
        self.typed("worktree.base", |v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "head".to_owned())
    }

    /// Cone-mode directories new worktrees check out; empty for all.
    pub fn sparse_paths(&self) -> Vec<String> {
        self.typed("worktree.sparsePaths", string_list)
            .unwrap_or_default()
    }

    /// Patterns of ignored directories linked into new worktrees.
    pub fn symlink_patterns(&self) -> Vec<String> {
        self.typed("worktree.symlink", string_list)
            .unwrap_or_default()
    }

    /// These settings with a repository's own values of
    /// [`REPOSITORY_KEYS`] over them: its git config (`git config
    /// pcc.worktree.base fresh`, `git config --add pcc.worktree.sparsePaths
    /// src`) first, then `.parallel-cc.json` at its top level (`{"worktree":
    /// {"sparsePaths": ["src"]}}`). Values that are not valid for their key
    /// are ignored. Only keys that cannot run anything are read from a
    /// repository, since its files come from whoever committed them.
    pub fn for_repository(&self, repo_path: &Path) -> Config {
        let mut config = self.clone();
        let file = repo_path.join(REPOSITORY_FILE);
        let from_file = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok());
        let from_git = git2::Repository::open(repo_path)
            .ok()
            .and_then(|repo| repo.config().ok());
        for key in REPOSITORY_KEYS {
            let Ok(setting) = find_setting(key) else {
                continue;
            };
            let git_value = from_git.as_ref().and_then(|c| git_config_value(c, setting));
            let file_value = from_file.as_ref().and_then(|root| match root {
                Value::Object(map) => match lookup(map, key) {
                    Lookup::Found(value) => Some(value.clone()),
                    _ => None,
                },
                _ => None,
            });
            if let Some(value) = git_value
                .or(file_value)
                .filter(|v| validate(setting, v).is_ok())
            {
                let parts: Vec<&str> = key.split('.').collect();
                insert_at(&mut config.root, &parts, value);
            }
        }
        config
    }

    /// Commands run in each new worktree.
    pub fn setup_commands(&self) -> Vec<String> {
        self.typed("worktree.setup", string_list)
            .unwrap_or_default()
    }

    /// A declared text list.
    pub fn text_list(&self, key: &str) -> Vec<String> {
        self.typed(key, string_list).unwrap_or_default()
    }

    /// A declared text or choice.
    pub fn text(&self, key: &str) -> Option<String> {
        self.typed(key, |v| v.as_str().map(str::to_owned))
    }

    /// A declared integer.
    pub fn integer(&self, key: &str) -> Option<i64> {
        self.typed(key, Value::as_i64)
    }

    /// A declared number (`None` also for a null optional number).
    pub fn number(&self, key: &str) -> Option<f64> {
        self.typed(key, Value::as_f64)
    }

    /// A declared true-or-false setting.
    pub fn flag(&self, key: &str) -> bool {
        self.typed(key, Value::as_bool).unwrap_or(false)
    }

    /// A declared command line (`None` also for a null optional one).
    pub fn command_line(&self, key: &str) -> Option<Vec<String>> {
        self.typed(key, string_list)
    }

    /// A declared list of numbers.
    pub fn number_list(&self, key: &str) -> Vec<f64> {
        self.typed(key, number_list).unwrap_or_default()
    }

    /// The land strategy when none is given.
    pub fn land_strategy(&self) -> String {
        self.typed("land.strategy", |v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "rebase".to_owned())
    }

    /// The land check command, if one is set.
    pub fn land_check(&self) -> Option<String> {
        self.typed("land.check", |v| v.as_str().map(str::to_owned))
            .filter(|s| !s.trim().is_empty())
    }

    /// Minutes a land check may run.
    pub fn land_check_timeout_minutes(&self) -> i64 {
        self.typed("land.checkTimeoutMinutes", Value::as_i64)
            .unwrap_or(30)
    }

    /// Checks a land runs at once.
    pub fn land_jobs(&self) -> i64 {
        self.typed("land.jobs", Value::as_i64).unwrap_or(1)
    }

    fn typed<T>(&self, key: &str, convert: impl Fn(&Value) -> Option<T>) -> Option<T> {
        let setting = find_setting(key).ok()?;
        match self.stored(key) {
            Some(value) if validate(setting, value).is_ok() => convert(value),
            _ => convert(&setting.default_value()),
        }
    }
}

/// The settings a repository may set for itself (see
/// [`Config::for_repository`]).
pub const REPOSITORY_KEYS: &[&str] = &["worktree.base", "worktree.sparsePaths", "worktree.symlink"];

/// The file at a repository's top level that holds its own settings.
pub const REPOSITORY_FILE: &str = ".parallel-cc.json";

/// A setting's value in git config under `pcc.<key>`: every value of a
/// list key, the last one of a text key.
fn git_config_value(config: &git2::Config, setting: &Setting) -> Option<Value> {
    let name = format!("pcc.{}", setting.key);
    match setting.kind {
        Kind::TextList => {
            let mut values = Vec::new();
            let entries = config.multivar(&name, None).ok()?;
            let _ = entries.for_each(|entry| {
                if let Some(value) = entry.value() {
                    values.push(Value::from(value));
                }
            });
            (!values.is_empty()).then_some(Value::Array(values))
        }
        _ => config.get_string(&name).ok().map(Value::from),
    }
}

/// Puts `value` at the dot-key `parts` of `map`, making the sections on
/// the way; nothing when one on the way is not an object.
fn insert_at(map: &mut Map<String, Value>, parts: &[&str], value: Value) {
    match parts {
        [] => {}
        [leaf] => {
            map.insert((*leaf).to_owned(), value);
        }
        [first, rest @ ..] => {
            let entry = map
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(section) = entry.as_object_mut() {
                insert_at(section, rest, value);
            }
        }
    }
}

fn string_list(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn number_list(value: &Value) -> Option<Vec<f64>> {
    value.as_array()?.iter().map(Value::as_f64).collect()
}

/// Parses a command-line value for a setting.
fn parse_value(setting: &Setting, raw: &str) -> Result<Value> {
    let invalid = |expected: &str| -> anyhow::Error {
        UserError::new(format!(
            "invalid value '{raw}' for {}: expected {expected}",
            setting.key
        ))
        .into()
    };
    let value = match setting.kind {
        Kind::Integer { min, max } => {
            let number: i64 = raw
                .trim()
                .parse()
                .map_err(|_| invalid(&format!("a whole number from {min} to {max}")))?;
            if !(min..=max).contains(&number) {
                return Err(invalid(&format!("a whole number from {min} to {max}")));
            }
            Value::from(number)
        }
        Kind::Text => {
            if raw.is_empty() {
                return Err(invalid("a non-empty text"));
            }
            Value::from(raw)
        }
        Kind::OptionalText => {
            if raw.is_empty() || raw == "null" {
                Value::Null
            } else {
                Value::from(raw)
            }
        }
        Kind::Number { .. } => raw
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| invalid(&expected(setting.kind)))?,
        Kind::OptionalNumber { .. } => {
            if raw.trim().is_empty() || raw.trim() == "null" {
                Value::Null
            } else {
                raw.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| invalid(&expected(setting.kind)))?
            }
        }
        Kind::NumberList { .. } => {
            let text = raw.trim().trim_start_matches('[').trim_end_matches(']');
            let numbers: Option<Vec<Value>> = text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                })
                .collect();
            Value::Array(numbers.ok_or_else(|| invalid(&expected(setting.kind)))?)
        }
        Kind::Choice(_) => Value::from(raw.trim()),
        Kind::Bool => match raw.trim() {
            "true" | "on" | "yes" | "1" => Value::from(true),
            "false" | "off" | "no" | "0" => Value::from(false),
            _ => return Err(invalid(&expected(setting.kind))),
        },
        Kind::OptionalCommandLine if matches!(raw.trim(), "" | "null" | "[]") => Value::Null,
        Kind::CommandLine | Kind::OptionalCommandLine => {
            let words = if raw.trim_start().starts_with('[') {
                let parsed: Value = serde_json::from_str(raw)
                    .map_err(|_| invalid("a JSON list of strings or a command line"))?;
                string_list(&parsed).ok_or_else(|| invalid("a JSON list of strings"))?
            } else {
                split_command_line(raw).map_err(|why| {
                    UserError::with_hint(
                        format!("invalid value '{raw}' for {}: {why}", setting.key),
                        format!(
                            "give the words as a JSON list, e.g. git pcc config set {} '[\"claude\", \"-p\", \"{{prompt}}\"]'",
                            setting.key
                        ),
                    )
                })?
            };
            if words
                .first()
                .is_none_or(|program| program.trim().is_empty())
            {
                return Err(invalid("a command: a program and its arguments"));
            }
            Value::from(words)
        }
        Kind::TextList => {
            if raw.trim_start().starts_with('[') {
                let parsed: Value = serde_json::from_str(raw)
                    .map_err(|_| invalid("a JSON list of strings or comma-separated text"))?;
                if string_list(&parsed).is_none() {
                    return Err(invalid("a JSON list of strings"));
                }
                parsed
            } else if raw.trim().is_empty() {
                Value::Array(Vec::new())
            } else {
                Value::from(
                    raw.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>(),
                )
            }
        }
    };
    validate(setting, &value).map_err(|_| invalid(&expected(setting.kind)))?;
    Ok(value)
}

/// Splits a command line into words as a POSIX shell does, without
/// running anything: blanks separate words; single quotes keep everything
/// up to the next one; double quotes keep everything but `\` before `"`,
/// `\`, `$` and a backquote; a backslash outside quotes keeps the next
/// character. What a shell would expand or treat as an operator (`$`,
/// backquotes, `|`, `&`, `;`, `<`, `>`, parentheses, globs, a leading `~`)
/// is refused unless quoted, since the command is never run by a shell.
pub fn split_command_line(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a single quote is not closed".to_owned()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a double quote is not closed".to_owned()),
                        },
                        Some(c @ ('$' | '`')) => {
                            return Err(format!(
                                "'{c}' inside double quotes would be expanded by a shell; quote it with single quotes"
                            ))
                        }
                        Some(c) => word.push(c),
                        None => return Err("a double quote is not closed".to_owned()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err("the line ends with a backslash".to_owned()),
                }
            }
            '$' | '`' | '|' | '&' | ';' | '<' | '>' | '(' | ')' | '*' | '?' | '[' => {
                return Err(format!(
                    "'{c}' means something to a shell, and the command never runs through one; quote it"
                ))
            }
            '~' if !in_word => {
                return Err(
                    "a leading '~' is expanded by a shell, and the command never runs through one; give the whole path"
                        .to_owned(),
                )
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// What a kind of setting accepts, for error messages.
fn expected(kind: Kind) -> String {
    match kind {
        Kind::Integer { min, max } => format!("a whole number from {min} to {max}"),
        Kind::Text => "a non-empty text".to_owned(),
        Kind::OptionalText => "a text or null".to_owned(),
        Kind::TextList => "a JSON list of strings or comma-separated text".to_owned(),
        Kind::CommandLine => "a command: a JSON list of words, or a command line".to_owned(),
        Kind::Number { min, max } => format!("a number from {min} to {max}"),
        Kind::OptionalNumber { min, max } => format!("a number from {min} to {max}, or null"),
        Kind::NumberList { min, max } => {
            format!("increasing numbers from {min} to {max}, as a JSON list or comma-separated")
        }
        Kind::Choice(words) => format!("one of {}", words.join(", ")),
        Kind::Bool => "true or false".to_owned(),
        Kind::OptionalCommandLine => {
            "a command: a JSON list of words, or a command line; or null".to_owned()
        }
    }
}

/// What a kind of setting accepts in `config.json`, for problems.
fn expected_in_file(kind: Kind) -> String {
    match kind {
        Kind::TextList => "a list of texts".to_owned(),
        Kind::CommandLine => "a list of words, a program first".to_owned(),
        Kind::OptionalCommandLine => "a list of words, a program first, or null".to_owned(),
        Kind::NumberList { min, max } => {
            format!("a list of increasing numbers from {min} to {max}")
        }
        other => expected(other),
    }
}

fn validate(setting: &Setting, value: &Value) -> Result<()> {
    let ok = match setting.kind {
        Kind::Integer { min, max } => value.as_i64().is_some_and(|n| (min..=max).contains(&n)),
        Kind::Text => value.as_str().is_some_and(|s| !s.is_empty()),
        Kind::OptionalText => value.is_null() || value.is_string(),
        Kind::TextList => string_list(value).is_some(),
        Kind::CommandLine => {
            string_list(value).is_some_and(|words| words.first().is_some_and(|w| !w.is_empty()))
        }
        Kind::Number { min, max } => value.as_f64().is_some_and(|n| n >= min && n <= max),
        Kind::OptionalNumber { min, max } => {
            value.is_null() || value.as_f64().is_some_and(|n| n >= min && n <= max)
        }
        Kind::NumberList { min, max } => number_list(value).is_some_and(|list| {
            list.iter().all(|n| *n >= min && *n <= max) && list.windows(2).all(|w| w[0] < w[1])
        }),
        Kind::Choice(words) => value.as_str().is_some_and(|s| words.contains(&s)),
        Kind::Bool => value.is_boolean(),
        Kind::OptionalCommandLine => {
            value.is_null()
                || string_list(value)
                    .is_some_and(|words| words.first().is_some_and(|w| !w.is_empty()))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(UserError::new(format!("invalid value for {}", setting.key)).into())
    }
}

/// How many symbolic links [`link_target`] follows before it calls the
/// chain a loop (Linux's own limit).
const MAX_LINKS: usize = 40;

/// The file a write to `path` changes: `path` itself, or, when `path` is a
/// symbolic link, the file it points to, through any chain of links (a
/// relative link is relative to the directory holding it), named from its
/// real directory. The result need not exist: a dangling link names the
/// file it would create.
pub fn link_target(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let points_to = std::fs::read_link(&current)
                    .with_context(|| format!("cannot read the link {}", current.display()))?;
                current = match current.parent() {
                    Some(dir) => dir.join(points_to),
                    None => points_to,
                };
            }
            _ if current == path => return Ok(current),
            // Followed a link: name its file from the real directory, not
            // through `..` steps of a relative link.
            _ => {
                let real_dir = current.parent().and_then(|dir| dir.canonicalize().ok());
                return Ok(match (real_dir, current.file_name()) {
                    (Some(dir), Some(name)) => dir.join(name),
                    _ => current,
                });
            }
        }
    }
    Err(UserError::new(format!(
        "{} is a symbolic link in a loop (or more than {MAX_LINKS} links deep); left unchanged",
        path.display()
    ))
    .into())
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, so readers see the old content or the new, never a mix.
/// A file that is replaced keeps its permissions. When `path` is a symbolic
/// link, the file it points to is written (the temporary file goes beside
/// that file) and the link stays as it is; a dangling link creates the file
/// it names when that file's directory exists, and is refused otherwise.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let target = link_target(path)?;
    let dir = match target.parent() {
        Some(dir) if dir.as_os_str().is_empty() => Path::new("."),
        Some(dir) => dir,
        None => anyhow::bail!("{} has no parent directory", target.display()),
    };
    if target != path && !dir.is_dir() {
        return Err(UserError::with_hint(
            format!(
                "{} is a symbolic link to {}, in a directory that does not exist; left unchanged",
                path.display(),
                target.display()
            ),
            "create that directory or point the link at an existing one, then try again",
        )
        .into());
    }
    let file_name = target
        .file_name()
        .context("file has no name")?
        .to_string_lossy();
    let temp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut file = std::fs::File::create(&temp)
            .with_context(|| format!("cannot write {}", temp.display()))?;
        file.write_all(bytes)?;
        if let Ok(previous) = std::fs::metadata(&target) {
            file.set_permissions(previous.permissions())?;
        }
        file.sync_all()?;
        std::fs::rename(&temp, &target)
            .with_context(|| format!("cannot replace {}", target.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_keeps_the_mode_of_the_file_it_replaces() {
        let dir = std::env::temp_dir().join(format!("pcc-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.sh");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        super::write_atomically(&path, b"new\n").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(mode, 0o755);
    }

    #[test]
    fn the_fix_of_every_setting_stores_its_default() {
        for setting in super::SETTINGS {
            let problem = super::Problem {
                key: setting.key.to_owned(),
                found: serde_json::json!({"wrong": true}),
                expected: super::expected_in_file(setting.kind),
                default: setting.default_value(),
                fix_key: setting.key,
            };
            let (key, raw) = problem.fix();
            assert_eq!(key, setting.key);
            assert_eq!(
                super::parse_value(setting, &raw).unwrap(),
                setting.default_value(),
                "{key} {raw}"
            );
        }
    }

    #[test]
    fn problems_are_found_once_per_key_and_per_broken_section() {
        let root = serde_json::json!({
            "worktree": {"root": 5, "branchPrefix": "ok/", "copy": [1]},
            "session": {"staleMinutes": 0},
            "budget": "lots",
            "sandbox": {"backend": "local", "futureKey": {"x": 1}},
            "unknownSection": 3
        });
        let problems = super::find_problems(root.as_object().unwrap());
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "session.staleMinutes",
                "worktree.root",
                "worktree.copy",
                "budget"
            ]
        );
        assert_eq!(problems[1].message(), "expected a text or null, found 5");
        assert!(problems[3].is_section());
        assert!(problems[3].affects("budget.monthlyLimit"));
        assert!(!problems[3].affects("budgetary.x"));
        assert_eq!(
            problems[3].default["warningThresholds"],
            serde_json::json!([0.5, 0.8])
        );
    }

    #[test]
    fn atomic_write_goes_through_a_chain_of_links_and_keeps_them() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let dotfiles = dir.path().join("dotfiles");
        std::fs::create_dir_all(&dotfiles).unwrap();
        std::fs::write(dotfiles.join("settings.json"), "old\n").unwrap();
        // settings.json -> middle.json -> dotfiles/settings.json, relative.
        symlink("dotfiles/settings.json", dir.path().join("middle.json")).unwrap();
        symlink("middle.json", dir.path().join("settings.json")).unwrap();
        let link = dir.path().join("settings.json");
        assert_eq!(
            super::link_target(&link).unwrap(),
            dir.path()
                .canonicalize()
                .unwrap()
                .join("dotfiles/settings.json")
        );
        super::write_atomically(&link, b"new\n").unwrap();
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            std::path::Path::new("middle.json")
        );
        assert_eq!(
            std::fs::read_to_string(dotfiles.join("settings.json")).unwrap(),
            "new\n"
        );
        let mut names: Vec<String> = std::fs::read_dir(&dotfiles)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["settings.json"], "no temporary file is left");
    }

    #[test]
    fn a_dangling_link_creates_its_file_only_in_an_existing_directory() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("settings.json");
        symlink("later.json", &link).unwrap();
        super::write_atomically(&link, b"{}\n").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("later.json")).unwrap(),
            "{}\n"
        );

        let nowhere = dir.path().join("gone.json");
        symlink("not-cloned/settings.json", &nowhere).unwrap();
        let err = super::write_atomically(&nowhere, b"{}\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("in a directory that does not exist"),
            "{err}"
        );
        assert!(!dir.path().join("not-cloned").exists());

        let looped = dir.path().join("loop.json");
        symlink("loop.json", &looped).unwrap();
        assert!(super::write_atomically(&looped, b"{}\n").is_err());
        assert!(std::fs::symlink_metadata(&looped)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn command_lines_split_as_a_shell_splits_them() {
        let split = |line: &str| super::split_command_line(line).unwrap();
        assert_eq!(
            split("claude -p {prompt} --dangerously-skip-permissions"),
            ["claude", "-p", "{prompt}", "--dangerously-skip-permissions"]
        );
        assert_eq!(
            split(r#"'/opt/my tools/agent' --say "it's \"done\"" a\ b  "#),
            ["/opt/my tools/agent", "--say", "it's \"done\"", "a b"]
        );
        assert_eq!(split(r#"x '' "" y"#), ["x", "", "", "y"]);
        assert_eq!(split("  "), Vec::<String>::new());
        for refused in [
            "claude 'open",
            "claude \"open",
            "claude -p $PROMPT",
            "claude \"$HOME\"",
            "claude | tee log",
            "claude > out",
            "claude *.md",
            "~/bin/claude",
            "claude \\",
        ] {
            assert!(super::split_command_line(refused).is_err(), "{refused}");
        }
        // Quoted, the same characters are plain text.
        assert_eq!(
            split("claude '$PROMPT' '|' '~/x'"),
            ["claude", "$PROMPT", "|", "~/x"]
        );
    }
}
