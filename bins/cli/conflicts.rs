//! `git pcc conflicts`: conflict history, the classified conflicts of a
//! merge (`--detect`), and the conflict matrix of live sessions
//! (`--predict`).

use std::path::PathBuf;

use clap::Args;
use pcc::conflicts;
use pcc::resolutions::{self, HistoryFilter};

use crate::render;
use crate::scope::Scope;
use crate::Output;

#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// Predict conflicts between the live sessions (and each against its target)
    #[arg(long, conflicts_with = "detect")]
    pub predict: bool,
    /// Classify every conflict of merging --target-branch into --current-branch
    #[arg(long, requires = "target_branch")]
    pub detect: bool,
    /// With --detect: the branch being merged into (default: HEAD)
    #[arg(long, value_name = "BRANCH", default_value = "HEAD")]
    pub current_branch: String,
    /// With --detect: the branch being merged
    #[arg(long, value_name = "BRANCH")]
    pub target_branch: Option<String>,
    /// With --detect: skip the search for changed definitions used by the other side
    #[arg(long)]
    pub no_semantics: bool,
    /// The repository (default: the current one)
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// History: only this repository-relative file
    #[arg(long, value_name = "FILE")]
    pub file: Option<String>,
    /// History: only this class (TRIVIAL, CONCURRENT_EDIT, STRUCTURAL, SEMANTIC, UNKNOWN)
    #[arg(long = "type", value_name = "TYPE")]
    pub conflict_type: Option<String>,
    /// History: only resolved conflicts
    #[arg(long, conflicts_with = "unresolved")]
    pub resolved: bool,
    /// History: only conflicts not resolved yet
    #[arg(long)]
    pub unresolved: bool,
    /// History: at most this many records
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub limit: u32,
}

pub fn run(args: ConflictsArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    if !args.predict && args.target_branch.is_none() {
        return history(&data_dir, &args);
    }
    let start = match &args.repo {
        Some(path) => path.clone(),
        None => std::env::current_dir()?,
    };
    let repo = pcc::git::resolve_repository(&start)?;
    if args.predict {
        return predict(&data_dir, &repo);
    }
    if let Some(target) = &args.target_branch {
        let detection = resolutions::detect(
            &data_dir,
            &repo,
            &args.current_branch,
            target,
            !args.no_semantics,
            None,
        )?;
        let mut rows = vec![["FILE", "TYPE", "SEVERITY", "HUNKS", "SYMBOLS"]
            .map(String::from)
            .to_vec()];
        for file in &detection.conflicts {
            rows.push(vec![
                file.file_path.clone(),
                file.conflict_type.as_str().to_owned(),
                format!("{:?}", file.severity).to_uppercase(),
                file.hunks.len().to_string(),
                file.symbols.join(", "),
            ]);
        }
        let human = if detection.conflicts.is_empty() {
            format!(
                "{target} merges into {} without conflicts\n",
                args.current_branch
            )
        } else {
            render::table(&rows)
        };
        return Ok(Output::new(&detection, human));
    }
    history(&data_dir, &args)
}

/// Conflict history of the repository around the working directory (or
/// `--repo`); outside every repository, of all of them.
fn history(data_dir: &std::path::Path, args: &ConflictsArgs) -> anyhow::Result<Output> {
    let repo = match Scope::resolve(args.repo.as_deref(), false, None)?.repository() {
        Some(path) => Some(pcc::paths::to_db_string(&pcc::git::resolve_repository(
            path,
        )?)?),
        None => None,
    };
    let filter = HistoryFilter {
        repo_path: repo,
        file_path: args.file.clone(),
        conflict_type: args.conflict_type.clone(),
        resolution_strategy: None,
        resolved: if args.resolved {
            Some(true)
        } else if args.unresolved {
            Some(false)
        } else {
            None
        },
        limit: args.limit as usize,
        offset: 0,
    };
    let history = resolutions::history(data_dir, &filter)?;
    let human = if history.records.is_empty() {
        "no conflicts recorded\n".to_owned()
    } else {
        let mut rows = vec![["ID", "FILE", "TYPE", "RESOLUTION", "DETECTED", "RESOLVED"]
            .map(String::from)
            .to_vec()];
        for record in &history.records {
            rows.push(vec![
                render::short_id(&record.id),
                record.file_path.clone(),
                record.conflict_type.clone(),
                if record.rolled_back {
                    format!("{} (rolled back)", record.resolution_strategy)
                } else {
                    record.resolution_strategy.clone()
                },
                record.detected_at.clone(),
                record.resolved_at.clone().unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        render::table(&rows)
    };
    // The TypeScript tool's `conflicts --json`: the rows listed, and how many.
    let rows: Vec<_> = history.records.iter().map(|r| r.as_row()).collect();
    Ok(Output::new(
        &serde_json::json!({"resolutions": rows, "total": rows.len()}),
        human,
    ))
}

fn predict(data_dir: &std::path::Path, repo: &std::path::Path) -> anyhow::Result<Output> {
    let prediction = conflicts::predict(data_dir, repo)?;
    let mut rows = vec![["SESSION", "WITH", "CONFLICTS"].map(String::from).to_vec()];
    for pair in prediction.pairs.iter().chain(&prediction.against_target) {
        let files = if pair.conflicts.is_empty() {
            "none".to_owned()
        } else {
            pair.conflicts
                .iter()
                .map(|c| {
                    let lines: Vec<String> = c
                        .base_lines
                        .iter()
                        .map(|r| format!("{}-{}", r.start, r.end))
                        .collect();
                    if lines.is_empty() {
                        format!("{} ({})", c.path, c.kind)
                    } else {
                        format!("{}:{}", c.path, lines.join(","))
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let with = if pair.b_path.is_empty() {
            pair.b.clone()
        } else {
            render::short_id(&pair.b)
        };
        rows.push(vec![render::short_id(&pair.a), with, files]);
    }
    let human = if rows.len() == 1 {
        "fewer than two live sessions and no worktree sessions: nothing to compare\n".to_owned()
    } else {
        render::table(&rows)
    };
    Ok(Output::new(&prediction, human))
}
