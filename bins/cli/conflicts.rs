//! `git pcc conflicts --predict`: the conflict matrix of live sessions.

use std::path::PathBuf;

use clap::Args;
use pcc::conflicts;

use crate::render;
use crate::Output;

#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// Predict conflicts between the live sessions (and each against its target)
    #[arg(long, required = true)]
    pub predict: bool,
    /// The repository (default: the current one)
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
}

pub fn run(args: ConflictsArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    let start = match args.repo {
        Some(path) => path,
        None => std::env::current_dir()?,
    };
    let repo = pcc::git::resolve_repository(&start)?;
    let prediction = conflicts::predict(&data_dir, &repo)?;
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
