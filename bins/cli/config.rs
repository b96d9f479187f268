//! `git pcc config`: read and change settings in `<data dir>/config.json`.

use clap::{Args, Subcommand};
use pcc::config::Config;
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
                    let source = if e.is_default { "(default)" } else { "" };
                    vec![e.key.clone(), show(&e.value), source.to_owned()]
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
