//! Tools for conflicts before they happen: `check_conflicts`,
//! `predict_conflicts`, `rebase_assist`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{json, Value};

use super::tools::{object_schema, text, Registry, Tool};
use crate::conflicts::{self, Side};
use crate::session::{self, SessionStatus};

fn me(data_dir: &Path) -> Result<SessionStatus> {
    session::find_session(data_dir, &super::session_tools::caller())?.ok_or_else(|| {
        anyhow::anyhow!(
            "no parallel-cc session found for this agent (start it with claude-parallel)"
        )
    })
}

/// A branch name as a side: the caller's own branch means its checkout,
/// uncommitted changes included.
fn side_for(me: Option<&SessionStatus>, branch: &str) -> Side {
    match me {
        Some(session) if session.branch.as_deref() == Some(branch) => {
            Side::Checkout(PathBuf::from(&session.worktree_path))
        }
        _ => Side::Revision(branch.to_owned()),
    }
}

/// Adds the conflict tools.
pub fn register(registry: &mut Registry, data_dir: PathBuf) {
    let dir = data_dir.clone();
    registry.add(Tool {
        name: "check_conflicts",
        title: "Check two branches for conflicts",
        description: "Merge two branches in memory (nothing is checked out or changed) and list the files and \
            base line ranges where they conflict. Your own branch includes your uncommitted changes.",
        input_schema: object_schema(
            json!({"currentBranch": {"type": "string"}, "targetBranch": {"type": "string"}}),
            &["currentBranch", "targetBranch"],
        ),
        output_schema: Some(json!({"type": "object", "properties": {"hasConflicts": {"type": "boolean"},
            "conflicts": {"type": "array"}}, "required": ["hasConflicts", "conflicts"]})),
        read_only: true,
        handler: Box::new(move |arguments| {
            let caller = me(&dir).ok();
            let repo_path = match &caller {
                Some(session) => PathBuf::from(&session.repo_path),
                None => crate::git::resolve_repository(&std::env::current_dir()?)?,
            };
            let repo = crate::git::open(&repo_path)?;
            let ours = side_for(caller.as_ref(), &text(arguments, "currentBranch").unwrap_or_default());
            let theirs = side_for(caller.as_ref(), &text(arguments, "targetBranch").unwrap_or_default());
            let check = conflicts::check(&repo, &ours, &theirs)?;
            let mut value = serde_json::to_value(&check)?;
            let files: Vec<&str> = check.conflicts.iter().map(|c| c.path.as_str()).collect();
            value["conflictingFiles"] = json!(files);
            value["summary"] = json!(conflict_summary(&files));
            Ok(value)
        }),
    });
    let dir = data_dir.clone();
    registry.add(Tool {
        name: "predict_conflicts",
        title: "Conflict matrix of all sessions",
        description: "For every pair of live sessions in the repository (uncommitted changes included), and for \
            each session against its target branch, list the files where their work would conflict.",
        input_schema: object_schema(json!({"repo_path": {"type": "string"}}), &[]),
        output_schema: Some(json!({"type": "object", "properties": {"pairs": {"type": "array"},
            "againstTarget": {"type": "array"}, "totalConflicts": {"type": "integer"}},
            "required": ["pairs", "againstTarget", "totalConflicts"]})),
        read_only: true,
        handler: Box::new(move |arguments| {
            let repo_path = match text(arguments, "repo_path") {
                Some(path) => crate::git::resolve_repository(Path::new(&path))?,
                None => PathBuf::from(me(&dir)?.repo_path),
            };
            Ok(serde_json::to_value(conflicts::predict(&dir, &repo_path)?)?)
        }),
    });
    registry.add(Tool {
        name: "rebase_assist",
        title: "Rebase my branch",
        description: "Rebase your session's branch onto targetBranch in your worktree. checkOnly=true only \
            reports the conflicts a rebase would meet. A rebase that would conflict changes nothing.",
        input_schema: object_schema(
            json!({"targetBranch": {"type": "string"}, "checkOnly": {"type": "boolean", "default": false}}),
            &["targetBranch"],
        ),
        output_schema: Some(json!({"type": "object", "properties": {"success": {"type": "boolean"},
            "rebased": {"type": "boolean"}, "hasConflicts": {"type": "boolean"}},
            "required": ["success", "rebased", "hasConflicts"]})),
        read_only: false,
        handler: Box::new(move |arguments| {
            let session = me(&data_dir)?;
            let check_only = arguments.get("checkOnly").and_then(Value::as_bool).unwrap_or(false);
            let target = text(arguments, "targetBranch").unwrap_or_default();
            let report = crate::rebase::assist(Path::new(&session.worktree_path), &target, check_only)?;
            let mut value = serde_json::to_value(&report)?;
            let files: Vec<&str> = report.conflicts.iter().map(|c| c.path.as_str()).collect();
            // The message, under the TypeScript tool's name.
            if let Some(fields) = value.as_object_mut() {
                fields.remove("message");
            }
            value["output"] = json!(report.message);
            value["conflictingFiles"] = json!(files);
            value["conflictSummary"] = json!(conflict_summary(&files));
            Ok(value)
        }),
    });
}

/// The TypeScript tool's one-line summary of conflicting files.
fn conflict_summary(files: &[&str]) -> String {
    match files.len() {
        0 => "No conflicts".to_owned(),
        1 => format!("1 file conflicts: {}", files[0]),
        n => format!("{n} files conflict: {}", files.join(", ")),
    }
}
