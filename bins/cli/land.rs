//! `git pcc land`: add branches to the repository's land queue and process
//! it; `--status` lists the queue, `--dry-run` says what would happen.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use pcc::land::{self, request::Choices, Item, Publish, State, Strategy};

use crate::render;
use crate::Output;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    Rebase,
    Merge,
    Squash,
}

#[derive(Debug, Args)]
pub struct LandArgs {
    /// Sessions (ids or short ids) or branches to land (default: the
    /// session of the worktree you are in)
    #[arg(value_name = "SESSION|BRANCH")]
    pub names: Vec<String>,
    /// The repository containing this path (default: the one around the
    /// working directory)
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Branch to land onto (default: each session's base branch)
    #[arg(long, value_name = "BRANCH")]
    pub target: Option<String>,
    /// How to put each branch on the target (default: config land.strategy, rebase)
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Shell command that checks each candidate in a scratch worktree
    /// (default: config land.check; timeout: land.checkTimeoutMinutes)
    #[arg(long, value_name = "CMD")]
    pub check: Option<String>,
    /// Apply auto-applicable fixes to conflicts, then check the result
    #[arg(long)]
    pub auto_fix: bool,
    /// Message of the merge or squash commit
    #[arg(long, short = 'm')]
    pub message: Option<String>,
    /// Say what landing would do; change nothing (no check is run)
    #[arg(long, conflicts_with = "status")]
    pub dry_run: bool,
    /// List the queue with each item's state and reason
    #[arg(long)]
    pub status: bool,
    /// Items checked at once, each on the candidate of the one before it
    /// (default: config land.jobs, 1)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: Option<u32>,
    /// Push the target to the remote (land.remote, origin) as each item
    /// lands; a refused push stops the item and moves nothing here
    #[arg(long, conflicts_with_all = ["pr", "dry_run", "status"])]
    pub push: bool,
    /// Open one pull request per item (GITHUB_TOKEN) instead of landing it,
    /// with its conflict prediction and check result
    #[arg(long, conflicts_with_all = ["dry_run", "status"])]
    pub pr: bool,
    /// Only process the queue, adding nothing
    #[arg(long, hide = true, conflicts_with_all = ["names", "status", "dry_run"])]
    pub process_only: bool,
}

pub fn run(args: LandArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    let cwd = std::env::current_dir()?;
    let repo_path = pcc::git::resolve_repository(args.repo.as_deref().unwrap_or(&cwd))
        .map_err(|err| crate::scope::with_repo_hint(err, args.repo.is_some()))?;
    let repo_key = pcc::paths::to_db_string(&repo_path)?;
    if args.status {
        let db = pcc::db::Database::open(&data_dir)?;
        let items = land::queue::items(db.conn(), Some(&repo_key))?;
        let human = status_table(&items);
        return Ok(Output::new(
            &serde_json::json!({"repoPath": repo_key, "items": items, "total": items.len()}),
            human,
        ));
    }
    let jobs = match args.jobs {
        Some(jobs) => jobs as usize,
        None => pcc::config::Config::load(&data_dir)?.land_jobs().max(1) as usize,
    };
    let options = land::RunOptions { jobs };
    if args.process_only {
        let outcome = land::process(&data_dir, &repo_path, &options)?;
        let human = status_table(&outcome.processed);
        return Ok(Output::new(&outcome, human));
    }
    let choices = Choices {
        target: args.target.clone(),
        strategy: args.strategy.map(|s| match s {
            StrategyArg::Rebase => Strategy::Rebase,
            StrategyArg::Merge => Strategy::Merge,
            StrategyArg::Squash => Strategy::Squash,
        }),
        check: args.check.clone(),
        auto_fix: args.auto_fix,
        message: args.message.clone(),
        requested_by: "cli".to_owned(),
        publish: if args.pr {
            Some(Publish::PullRequest)
        } else if args.push {
            Some(Publish::Push)
        } else {
            None
        },
    };
    let new = land::request::new_items(&data_dir, &repo_path, &args.names, &cwd, &choices)?;
    if args.dry_run {
        let planned = land::dry_run(&repo_path, &new)?;
        let mut human = String::new();
        for p in &planned {
            human.push_str(&format!(
                "{}: {} onto {}",
                p.outcome, p.branch, p.target_branch
            ));
            if !p.conflicts.is_empty() {
                let files: Vec<String> = p
                    .conflicts
                    .iter()
                    .map(|f| format!("{} ({})", f.file_path, f.conflict_type.as_str()))
                    .collect();
                human.push_str(&format!(": {}", files.join(", ")));
            }
            human.push('\n');
        }
        return Ok(Output::new(
            &serde_json::json!({"repoPath": repo_key, "dryRun": true, "items": planned}),
            human,
        ));
    }
    let mut db = pcc::db::Database::open(&data_dir)?;
    let queued = land::queue::enqueue_all(&mut db, &new)?;
    drop(db);
    let outcome = land::process(&data_dir, &repo_path, &options)?;
    let db = pcc::db::Database::open(&data_dir)?;
    let mut items = Vec::new();
    for item in &queued {
        if let Some(now) = land::queue::item(db.conn(), &item.id)? {
            items.push(now);
        }
    }
    let wanted = if args.pr {
        State::Proposed
    } else {
        State::Landed
    };
    let all_landed = items
        .iter()
        .all(|i| i.state == wanted || i.state == State::Landed);
    let human = status_table(&items);
    let output = Output::new(
        &serde_json::json!({
            "repoPath": repo_key,
            "items": items,
            "processed": outcome.processed.len(),
            "requeued": outcome.requeued,
            "success": all_landed,
        }),
        human,
    );
    Ok(if all_landed {
        output
    } else {
        output.with_exit_code(crate::EXIT_FAILURE)
    })
}

fn status_table(items: &[Item]) -> String {
    if items.is_empty() {
        return "the land queue is empty\n".to_owned();
    }
    let mut rows = vec![["ITEM", "STATE", "BRANCH", "TARGET", "COMMIT", "REASON"]
        .map(String::from)
        .to_vec()];
    for item in items {
        let commit = item
            .landed_commit
            .as_deref()
            .or(item.candidate_commit.as_deref())
            .map(|c| c.chars().take(7).collect())
            .unwrap_or_default();
        rows.push(vec![
            render::short_id(&item.id),
            item.state.as_str().to_owned(),
            item.branch.clone(),
            item.target_branch.clone(),
            commit,
            item.reason.clone().unwrap_or_default(),
        ]);
    }
    render::table(&rows)
}
