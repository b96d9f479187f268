//! `git pcc config`: read and change settings in `<data dir>/config.json`,
//! and the one place that tells people about stored values a setting
//! cannot use ([`warn_about`]).

use std::path::Path;

use clap::{Args, Subcommand};
use pcc::config::{Config, Problem};
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
    Set { key: String, value: String },
    /// Print a key's value
    Get { key: String },
    /// List every key with its value
    List,
}

pub fn run(args: ConfigArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    if let ConfigAction::Set { key, value } = &args.action {
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
            &json!({"key": key, "value": stored, "brokenConfigBackup": backup}),
            format!("{key} = {}\n", show(&stored)),
        ));
    }
    let config = Config::load(&data_dir)?;
    match args.action {
        ConfigAction::Set { .. } => unreachable!("handled above"),
        ConfigAction::Get { key } => {
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
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    let source = match (&e.invalid, &e.default_used) {
                        (Some(invalid), Some(default)) => {
                            format!("INVALID: {invalid}; using the default {default}")
                        }
                        (Some(invalid), None) => format!("INVALID: {invalid}"),
                        (None, _) if e.is_default => "(default)".to_owned(),
                        (None, _) => String::new(),
                    };
                    vec![e.key.clone(), show(&e.value), source]
                })
                .collect();
            Ok(Output::new(
                &json!({"settings": entries}),
                render::table(&rows),
            ))
        }
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
