//! `git pcc config`: read and change settings in `<data dir>/config.json`,
//! and the one place that tells people about stored values a setting
//! cannot use ([`warn_about`]). Keys the file holds that are not ours are
//! shown as what they are: kept, not used.

use std::path::Path;

use clap::{Args, Subcommand};
use pcc::config::{Config, Problem, Unknown};
use pcc::UserError;
use serde_json::{json, Value};

use crate::render;
use crate::Output;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Set a key (lists as JSON arrays or comma-separated)
    Set {
        key: String,
        /// The value (a negative number or a text starting with '-' too)
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Print a key's value
    Get { key: String },
    /// List every key with its value
    List,
}

pub fn run(args: ConfigArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    if let ConfigAction::Set { key, value } = &args.action {
        let key = &pcc::config::canonical_key(key);
        // Validate before touching a broken file.
        pcc::config::find_setting(key)?;
        let (mut config, backup) = Config::load_for_update(&data_dir)?;
        if let Some(backup) = &backup {
            eprintln!(
                "warning: config.json was not valid JSON; kept it as {} and started a new one",
                backup.display()
            );
        }
        let stored = config.set(key, value)?;
        return Ok(Output::new(
            &json!({"success": true, "key": key, "value": stored, "brokenConfigBackup": backup}),
            format!("{key} = {}\n", show(&stored)),
        ));
    }
    let config = match Config::load(&data_dir) {
        Ok(config) => config,
        // The keys and their defaults are worth seeing while the file is
        // being repaired.
        Err(err)
            if matches!(args.action, ConfigAction::List) && pcc::config::is_broken_file(&err) =>
        {
            let message = err
                .downcast_ref::<UserError>()
                .map_or_else(|| format!("{err:#}"), |user| user.message.clone());
            eprintln!(
                "warning: {message}; registering sessions, sandbox runs and budget status refuse to run until it is fixed or moved away; these are the defaults"
            );
            Config::defaults(&data_dir)
        }
        Err(err) => return Err(err),
    };
    match args.action {
        ConfigAction::Set { .. } => unreachable!("handled above"),
        ConfigAction::Get { key } => {
            let key = pcc::config::canonical_key(&key);
            if pcc::config::find_setting(&key).is_err() {
                return get_unknown(&config, &key);
            }
            let value = config.get(&key)?;
            if let Some(problem) = config.problem(&key) {
                return Err(UserError::with_hint(
                    format!("{} (the default is used)", describe(&config, problem)),
                    format!("fix it with '{}'", fix_command(problem)),
                )
                .into());
            }
            Ok(Output::new(
                &json!({"key": key, "value": value}),
                format!("{}\n", show(&value)),
            ))
        }
        ConfigAction::List => {
            let entries = config.list();
            let pairs: Vec<(String, String)> = entries
                .iter()
                .map(|e| {
                    let note = match (&e.invalid, &e.default_used) {
                        _ if e.unknown => "(not ours: kept, not used)".to_owned(),
                        (Some(invalid), Some(default)) => {
                            format!(
                                "INVALID: {invalid}; using the default {}",
                                show_list(default)
                            )
                        }
                        (Some(invalid), None) => format!("INVALID: {invalid}"),
                        (None, _) if e.is_default => "(default)".to_owned(),
                        (None, _) => pcc::config::find_setting(&e.key).map_or_else(
                            |_| String::new(),
                            |setting| format!("(default: {})", show_list(&setting.default_value())),
                        ),
                    };
                    (e.key.clone(), format!("{}  {note}", show_list(&e.value)))
                })
                .collect();
            // The TypeScript tool printed the settings themselves, as one
            // object; our list of entries goes beside them.
            let mut value = config.effective();
            value.insert("settings".to_owned(), json!(entries));
            Ok(Output::new(
                &value,
                render::wrapped_fields(&pairs, render::terminal_width()),
            ))
        }
    }
}

/// `config get` of a key that is not a setting: a section of ours shows
/// the values in effect in it; a key the file holds (another version's, or
/// the TypeScript tool's) shows its value, with a warning that we do not
/// use it; anything else is unknown.
fn get_unknown(config: &Config, key: &str) -> anyhow::Result<Output> {
    match config.get_unknown(key) {
        Unknown::Section(value) => Ok(Output::new(
            &json!({"key": key, "value": value}),
            format!("{}\n", show(&value)),
        )),
        Unknown::Kept(value) => {
            eprintln!(
                "warning: {key} in {} is not a setting of parallel-cc: it is kept as it is and not used",
                render::quoted(&config.path().display().to_string())
            );
            Ok(Output::new(
                &json!({"key": key, "value": value, "unknown": true}),
                format!("{}\n", show(value)),
            ))
        }
        Unknown::Missing => Err(pcc::config::find_setting(key)
            .err()
            .unwrap_or_else(|| anyhow::anyhow!("unknown config key '{key}'"))),
    }
}

/// [`show`], with a space after each comma of a list so that a long one
/// can be broken into lines (`["claude", "-p", "{prompt}"]`).
fn show_list(value: &Value) -> String {
    match value {
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => show(other),
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".to_owned(),
        other => other.to_string(),
    }
}

/// `worktree.root in /home/me/.parallel-cc/config.json: expected a text or
/// null, found 5`.
fn describe(config: &Config, problem: &Problem) -> String {
    format!(
        "{} in {}: {}",
        problem.key,
        render::quoted(&config.path().display().to_string()),
        problem.message()
    )
}

/// The command that repairs a problem by storing the default.
pub fn fix_command(problem: &Problem) -> String {
    let (key, value) = problem.fix();
    format!(
        "git pcc config set {key} {}",
        pcc::install::shell_word(&value)
    )
}

/// One line per problem: where it is, what it holds, the default used
/// instead and the command that fixes it.
fn problem_line(config: &Config, problem: &Problem) -> String {
    let used = if problem.is_section() {
        format!("using the defaults of {}.*", problem.key)
    } else {
        format!("using the default {}", problem.default)
    };
    format!(
        "{}; {used} (fix: {})",
        describe(config, problem),
        fix_command(problem)
    )
}

/// Prints a `warning:` line on stderr for each stored value in `config`
/// that a setting cannot use. Commands that read settings call this (or
/// [`warn_about_settings`]); hooks never do, they stay silent.
pub fn warn_about(config: &Config) {
    for problem in config.problems() {
        eprintln!("warning: {}", problem_line(config, problem));
    }
}

/// [`warn_about`] for commands whose library call loads the settings
/// itself. A file that cannot be read at all is left for that call to
/// report.
pub fn warn_about_settings(data_dir: &Path) {
    if let Ok(config) = Config::load(data_dir) {
        warn_about(&config);
    }
}
