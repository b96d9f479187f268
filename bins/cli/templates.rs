//! `git pcc templates`: sandbox templates, the built-ins and the user's own
//! in `<data dir>/templates/`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use pcc::templates::{self, Template, TemplateEntry, TemplateSource};
use pcc::UserError;
use serde_json::{json, Value};

use crate::render;
use crate::Output;

#[derive(Debug, Args)]
pub struct TemplatesArgs {
    #[command(subcommand)]
    pub command: TemplatesCommand,
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// List built-in and user templates
    List,
    /// Show one template: its fields, environment and setup commands
    Show {
        /// The template's name
        name: String,
    },
    /// Create a user template (with --force, replace one or override a built-in)
    Create(CreateArgs),
    /// Delete a user template (a built-in it replaced comes back)
    Delete {
        /// The template's name
        name: String,
    },
    /// Print a template as JSON, or write it to a file
    Export {
        /// The template's name
        name: String,
        /// Write the JSON to this file instead of standard output
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Add a user template from a JSON file as 'templates export' writes it
    Import {
        /// The JSON file ('-' for standard input)
        file: PathBuf,
        /// Replace a user template of the same name, or override a built-in
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The template's name (letters, digits, '.', '_', '-')
    pub name: String,
    /// What the template is for
    #[arg(long, value_name = "TEXT", required_unless_present = "from_file")]
    pub description: Option<String>,
    /// The E2B sandbox template it starts from
    #[arg(long, value_name = "NAME")]
    pub e2b_template: Option<String>,
    /// The agent its runs start unless --agent or a task names another (claude, codex, gemini, aider, opencode or one from config)
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// A shell command run to prepare the sandbox (repeatable, run in order)
    #[arg(long, value_name = "CMD")]
    pub setup: Vec<String>,
    /// An environment variable of the sandbox (repeatable; no secrets)
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// A metadata entry (repeatable; VALUE is read as JSON when it is JSON, else as text)
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// Start from this template file; the other options replace or add to it
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// Replace a user template of the same name, or override a built-in
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: TemplatesArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    match args.command {
        TemplatesCommand::List => list(&data_dir),
        TemplatesCommand::Show { name } => show(&data_dir, &name),
        TemplatesCommand::Create(create) => create_template(&data_dir, create),
        TemplatesCommand::Delete { name } => delete(&data_dir, &name),
        TemplatesCommand::Export { name, output } => export(&data_dir, &name, output),
        TemplatesCommand::Import { file, force } => import(&data_dir, &file, force),
    }
}

fn list(data_dir: &std::path::Path) -> anyhow::Result<Output> {
    let entries = templates::list(data_dir)?;
    let mut rows = vec![["NAME", "SOURCE", "DESCRIPTION"].map(String::from).to_vec()];
    for entry in &entries {
        let description = match (&entry.template, &entry.error) {
            (Some(template), _) => template.description.clone(),
            (None, Some(error)) => format!("error: {error}"),
            (None, None) => String::new(),
        };
        rows.push(vec![entry.name.clone(), source_label(entry), description]);
    }
    Ok(Output::new(
        &json!({"templates": entries, "total": entries.len()}),
        render::table(&rows),
    ))
}

fn source_label(entry: &TemplateEntry) -> String {
    match (entry.source, entry.overrides) {
        (TemplateSource::User, true) => "user (overrides builtin)".to_owned(),
        (source, _) => source.as_str().to_owned(),
    }
}

fn show(data_dir: &std::path::Path, name: &str) -> anyhow::Result<Output> {
    let entry = templates::lookup(data_dir, name)?;
    let template = entry
        .template
        .as_ref()
        .context("the template could not be read")?;
    let none = || "(none)".to_owned();
    let mut rows: Vec<Vec<String>> = vec![
        vec!["name".into(), template.name.clone()],
        vec!["source".into(), source_label(&entry)],
    ];
    if let Some(path) = &entry.path {
        rows.push(vec!["path".into(), path.display().to_string()]);
    }
    rows.push(vec!["description".into(), template.description.clone()]);
    rows.push(vec![
        "e2b template".into(),
        template.e2b_template.clone().unwrap_or_else(none),
    ]);
    rows.push(vec![
        "agent".into(),
        template
            .agent
            .clone()
            .unwrap_or_else(|| format!("(none: {})", pcc::agents::DEFAULT_AGENT)),
    ]);
    push_block(
        &mut rows,
        "environment",
        template
            .environment
            .iter()
            .map(|(key, value)| format!("{key}={value}")),
    );
    push_block(
        &mut rows,
        "metadata",
        template
            .metadata
            .iter()
            .map(|(key, value)| format!("{key}={}", plain(value))),
    );
    let mut human = render::table(&rows);
    if template.setup_commands.is_empty() {
        human.push_str("setup commands: (none)\n");
    } else {
        human.push_str("setup commands:\n");
        for (index, command) in template.setup_commands.iter().enumerate() {
            human.push_str(&format!("  {}. {command}\n", index + 1));
        }
    }
    Ok(Output::new(&entry, human))
}

/// Rows for a list of values under one label ("(none)" when empty).
fn push_block(rows: &mut Vec<Vec<String>>, label: &str, values: impl Iterator<Item = String>) {
    let mut first = true;
    for value in values {
        let key = if first {
            label.to_owned()
        } else {
            String::new()
        };
        rows.push(vec![key, value]);
        first = false;
    }
    if first {
        rows.push(vec![label.to_owned(), "(none)".to_owned()]);
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn create_template(data_dir: &std::path::Path, args: CreateArgs) -> anyhow::Result<Output> {
    let mut template = match &args.from_file {
        Some(file) => templates::read(file)?,
        None => Template {
            name: String::new(),
            description: String::new(),
            e2b_template: None,
            setup_commands: Vec::new(),
            environment: Default::default(),
            metadata: Default::default(),
            agent: None,
        },
    };
    template.name = args.name.clone();
    if let Some(description) = args.description {
        template.description = description;
    }
    if let Some(e2b) = args.e2b_template {
        template.e2b_template = Some(e2b);
    }
    if let Some(agent) = args.agent {
        template.agent = Some(agent);
    }
    template.setup_commands.extend(args.setup);
    for pair in &args.env {
        let (key, value) = key_value("--env", pair)?;
        template.environment.insert(key, value);
    }
    for pair in &args.metadata {
        let (key, value) = key_value("--metadata", pair)?;
        let value = serde_json::from_str(&value).unwrap_or(Value::String(value));
        template.metadata.insert(key, value);
    }
    let path = templates::create(data_dir, template.clone(), args.force)?;
    Ok(written("created", "in", &template, &path))
}

/// Splits `KEY=VALUE`.
fn key_value(flag: &str, pair: &str) -> anyhow::Result<(String, String)> {
    match pair.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(UserError::new(format!("{flag} expects KEY=VALUE, got '{pair}'")).into()),
    }
}

fn delete(data_dir: &std::path::Path, name: &str) -> anyhow::Result<Output> {
    let path = templates::delete(data_dir, name)?;
    let restored = templates::is_builtin(name);
    let mut human = format!("deleted template '{name}' ({})\n", path.display());
    if restored {
        human.push_str(&format!("the built-in '{name}' is in effect again\n"));
    }
    Ok(Output::new(
        &json!({"name": name, "path": path, "deleted": true, "builtinRestored": restored}),
        human,
    ))
}

fn export(
    data_dir: &std::path::Path,
    name: &str,
    output: Option<PathBuf>,
) -> anyhow::Result<Output> {
    let template = templates::find(data_dir, name)?;
    let text = templates::to_json(&template);
    match output {
        None => Ok(Output::new(&template, text)),
        Some(file) => {
            std::fs::write(&file, &text)
                .map_err(|err| UserError::new(format!("cannot write {}: {err}", file.display())))?;
            Ok(Output::new(
                &json!({"name": name, "output": file}),
                format!("wrote template '{name}' to {}\n", file.display()),
            ))
        }
    }
}

fn import(
    data_dir: &std::path::Path,
    file: &std::path::Path,
    force: bool,
) -> anyhow::Result<Output> {
    let (template, path) = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| UserError::new(format!("cannot read standard input: {err}")))?;
        templates::import(data_dir, &text, "standard input", force)?
    } else {
        templates::import_file(data_dir, file, force)?
    };
    Ok(written("imported", "to", &template, &path))
}

/// The output of a command that wrote a user template.
fn written(verb: &str, preposition: &str, template: &Template, path: &Path) -> Output {
    let overrides = templates::is_builtin(&template.name);
    let mut human = format!(
        "{verb} template '{}' {preposition} {}\n",
        template.name,
        path.display()
    );
    if overrides {
        human.push_str(&format!(
            "it takes the place of the built-in '{}'\n",
            template.name
        ));
    }
    Output::new(
        &json!({
            "name": template.name,
            "path": path,
            "overrides": overrides,
            "template": template,
        }),
        human,
    )
}
