//! `git pcc merge status`: merges detected, and who waits for which;
//! `--json` prints each under its columns' names, as the TypeScript tool
//! did.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use pcc::merge;

use crate::render;
use crate::Output;

#[derive(Debug, Args)]
pub struct MergeArgs {
    #[command(subcommand)]
    pub action: MergeAction,
}

#[derive(Debug, Subcommand)]
pub enum MergeAction {
    /// List merge events (or subscriptions)
    Status {
        /// Only the repository containing this path
        #[arg(long, value_name = "PATH")]
        repo: Option<PathBuf>,
        /// Only this branch
        #[arg(long)]
        branch: Option<String>,
        /// At most this many
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// List subscriptions instead of events
        #[arg(long)]
        subscriptions: bool,
    },
}

pub fn run(args: MergeArgs) -> anyhow::Result<Output> {
    let MergeAction::Status {
        repo,
        branch,
        limit,
        subscriptions,
    } = args.action;
    let data_dir = crate::data_dir()?;
    let repo = match repo {
        Some(path) => Some(pcc::paths::to_db_string(&pcc::git::resolve_repository(
            &path,
        )?)?),
        None => None,
    };
    if subscriptions {
        let found = merge::subscriptions(&data_dir, repo.as_deref(), limit)?;
        let mut rows = vec![["BRANCH", "TARGET", "SESSION", "STATE", "CREATED"]
            .map(String::from)
            .to_vec()];
        for s in &found {
            let state = if s.is_active {
                "waiting".to_owned()
            } else {
                format!("notified {}", s.notified_at.clone().unwrap_or_default())
            };
            rows.push(vec![
                s.branch_name.clone(),
                s.target_branch.clone(),
                render::short_id(&s.session_id),
                state,
                s.created_at.clone(),
            ]);
        }
        let human = if found.is_empty() {
            "no subscriptions\n".to_owned()
        } else {
            render::table(&rows)
        };
        let rows = column_names(serde_json::to_value(&found)?);
        return Ok(Output::new(
            &serde_json::json!({"subscriptions": rows, "total": found.len()}),
            human,
        ));
    }
    let found = merge::events(&data_dir, repo.as_deref(), branch.as_deref(), limit)?;
    let mut rows = vec![["BRANCH", "TARGET", "SOURCE", "TARGET COMMIT", "DETECTED"]
        .map(String::from)
        .to_vec()];
    for e in &found {
        rows.push(vec![
            e.branch_name.clone(),
            e.target_branch.clone(),
            e.source_commit.chars().take(7).collect(),
            e.target_commit.chars().take(7).collect(),
            e.detected_at.clone(),
        ]);
    }
    let human = if found.is_empty() {
        "no merges detected\n".to_owned()
    } else {
        render::table(&rows)
    };
    let rows = column_names(serde_json::to_value(&found)?);
    Ok(Output::new(
        &serde_json::json!({"events": rows, "total": found.len()}),
        human,
    ))
}

/// Rows as the TypeScript tool's `merge status --json` printed them: each
/// field under its column's name (`branchName` as `branch_name`).
fn column_names(rows: serde_json::Value) -> serde_json::Value {
    let serde_json::Value::Array(rows) = rows else {
        return rows;
    };
    let rename = |key: &str| -> String {
        let mut column = String::with_capacity(key.len() + 4);
        for c in key.chars() {
            if c.is_ascii_uppercase() {
                column.push('_');
                column.push(c.to_ascii_lowercase());
            } else {
                column.push(c);
            }
        }
        column
    };
    rows.into_iter()
        .map(|row| match row {
            serde_json::Value::Object(fields) => serde_json::Value::Object(
                fields.into_iter().map(|(k, v)| (rename(&k), v)).collect(),
            ),
            other => other,
        })
        .collect()
}
