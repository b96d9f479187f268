//! `git pcc merge status`: merges detected, and who waits for which.

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
        return Ok(Output::new(
            &serde_json::json!({"subscriptions": found, "total": found.len()}),
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
    Ok(Output::new(
        &serde_json::json!({"events": found, "total": found.len()}),
        human,
    ))
}
