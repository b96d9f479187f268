//! `git pcc claims`: the file claims agents hold. `--json` prints each
//! claim's row under its column names, newest first, as the TypeScript
//! tool did.

use std::path::PathBuf;

use clap::Args;
use pcc::claims::{self, ClaimFilter};

use crate::render;
use crate::Output;

#[derive(Debug, Args)]
pub struct ClaimsArgs {
    /// Only claims in the repository containing this path
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// Only claims of this session
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Only claims on this repository-relative file (repeatable)
    #[arg(long, value_name = "FILE")]
    pub file: Vec<String>,
    /// Include claims that have ended
    #[arg(long)]
    pub all: bool,
}

pub fn run(args: ClaimsArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    let repo_path = match &args.repo {
        Some(path) => Some(pcc::paths::to_db_string(&pcc::git::resolve_repository(
            path,
        )?)?),
        None => None,
    };
    let filter = ClaimFilter {
        repo_path,
        file_paths: args.file.clone(),
        session_id: args.session.clone(),
        include_ended: args.all,
    };
    let mut found = claims::list(&data_dir, &filter)?;
    // Newest first, as the TypeScript tool listed them (a stable sort keeps
    // claims made in the same second in the order they were made).
    found.sort_by(|a, b| b.claimed_at.cmp(&a.claimed_at));
    let human = if found.is_empty() {
        "no claims\n".to_owned()
    } else {
        let mut rows = vec![["FILE", "MODE", "SESSION", "EXPIRES", "STATE", "REASON"]
            .map(String::from)
            .to_vec()];
        for claim in &found {
            rows.push(vec![
                render::quoted(&claim.file_path).into_owned(),
                claim.mode.as_str().to_owned(),
                render::short_id(&claim.session_id),
                claim.expires_at.clone(),
                if claim.is_active {
                    "active".to_owned()
                } else {
                    claim.ended_because.clone().unwrap_or_default()
                },
                claim.reason.clone().unwrap_or_default(),
            ]);
        }
        render::table(&rows)
    };
    let rows: Vec<_> = found.iter().map(|claim| claim.as_row()).collect();
    Ok(Output::new(
        &serde_json::json!({"claims": rows, "total": rows.len()}),
        human,
    ))
}
