//! `git pcc suggestions`: auto-fix suggestions — list them, make them for
//! a file, apply one, roll an applied one back.

use std::path::PathBuf;

use clap::{ArgGroup, Args};
use pcc::resolutions;

use crate::render;
use crate::scope::Scope;
use crate::Output;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").args(["generate", "apply", "rollback"])))]
pub struct SuggestionsArgs {
    /// Make suggestions for --file when merging --target-branch into --current-branch
    #[arg(long, requires_all = ["file", "target_branch"])]
    pub generate: bool,
    /// Apply the suggestion with this id to its file
    #[arg(long, value_name = "ID")]
    pub apply: Option<String>,
    /// With --apply: check and preview only
    #[arg(long, requires = "apply")]
    pub dry_run: bool,
    /// With --apply: keep no backup (the fix cannot be rolled back)
    #[arg(long, requires = "apply")]
    pub no_backup: bool,
    /// Put back the file an applied fix replaced (the id --apply printed)
    #[arg(long, value_name = "RESOLUTION_ID")]
    pub rollback: Option<String>,
    /// With --rollback: restore even if the file changed since the fix
    #[arg(long, requires = "rollback")]
    pub force: bool,
    /// The repository or checkout (default: the current one)
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Only this repository-relative file (with --generate: the file to fix)
    #[arg(long, value_name = "FILE")]
    pub file: Option<String>,
    /// With --generate: the branch being merged into (default: HEAD)
    #[arg(long, value_name = "BRANCH", default_value = "HEAD")]
    pub current_branch: String,
    /// With --generate: the branch being merged
    #[arg(long, value_name = "BRANCH")]
    pub target_branch: Option<String>,
    /// Only suggestions at least this confident (0 to 1)
    #[arg(long, value_name = "C", default_value_t = 0.0)]
    pub min_confidence: f64,
    /// Only applied suggestions
    #[arg(long, conflicts_with = "pending")]
    pub applied: bool,
    /// Only suggestions not applied yet
    #[arg(long)]
    pub pending: bool,
    /// At most this many
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub limit: u32,
}

pub fn run(args: SuggestionsArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    if !(0.0..=1.0).contains(&args.min_confidence) {
        return Err(pcc::UserError::new("--min-confidence must be between 0 and 1").into());
    }
    if let Some(id) = &args.apply {
        let report = resolutions::apply(&data_dir, id, args.dry_run, !args.no_backup)?;
        let mut pairs = vec![
            ("file", report.absolute_path.clone()),
            (
                "applied",
                if report.applied {
                    "yes".into()
                } else {
                    "no (dry run)".into()
                },
            ),
        ];
        if let Some(command) = &report.rollback_command {
            pairs.push(("rollback", command.clone()));
        }
        return Ok(Output::new(&report, render::fields(&pairs)));
    }
    if let Some(id) = &args.rollback {
        let report = resolutions::rollback(&data_dir, id, args.force)?;
        let human = format!(
            "restored {} from {}\n",
            report.file_path, report.restored_from
        );
        return Ok(Output::new(&report, human));
    }
    let start = match &args.repo {
        Some(path) => path.clone(),
        None => std::env::current_dir()?,
    };
    if args.generate {
        let list = resolutions::suggest(
            &data_dir,
            &start,
            args.file.as_deref().unwrap_or_default(),
            &args.current_branch,
            args.target_branch.as_deref().unwrap_or_default(),
            args.min_confidence,
            args.limit as usize,
        )?;
        let mut human = String::new();
        for suggestion in &list.suggestions {
            human.push_str(&render::fields(&[
                ("id", suggestion.id.clone()),
                (
                    "type",
                    suggestion.suggestion.conflict_type.as_str().to_owned(),
                ),
                (
                    "strategy",
                    suggestion.suggestion.strategy.as_str().to_owned(),
                ),
                (
                    "confidence",
                    format!("{:.2}", suggestion.suggestion.confidence),
                ),
                (
                    "applicable",
                    if suggestion.suggestion.auto_applicable {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                ),
                ("explanation", suggestion.suggestion.explanation.clone()),
            ]));
        }
        if let Some(explanation) = &list.explanation {
            human.push_str(&format!("{explanation}\n"));
        }
        return Ok(Output::new(&list, human));
    }
    // Outside every repository, the suggestions of all of them.
    let repo = match Scope::resolve(args.repo.as_deref(), false, None)?.repository() {
        Some(path) => Some(pcc::paths::to_db_string(&pcc::git::resolve_repository(
            path,
        )?)?),
        None => None,
    };
    let found = resolutions::list_suggestions(
        &data_dir,
        repo.as_deref(),
        args.file.as_deref(),
        args.min_confidence,
        if args.applied {
            Some(true)
        } else if args.pending {
            Some(false)
        } else {
            None
        },
        args.limit as usize,
    )?;
    let human = if found.is_empty() {
        "no suggestions\n".to_owned()
    } else {
        let mut rows = vec![["ID", "FILE", "TYPE", "STRATEGY", "CONFIDENCE", "APPLIED"]
            .map(String::from)
            .to_vec()];
        for s in &found {
            rows.push(vec![
                render::short_id(&s.id),
                s.file_path.clone(),
                s.conflict_type.clone(),
                s.strategy_used.clone(),
                format!("{:.2}", s.confidence_score),
                s.applied_at.clone().unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        render::table(&rows)
    };
    Ok(Output::new(
        &serde_json::json!({"suggestions": found, "total": found.len()}),
        human,
    ))
}
