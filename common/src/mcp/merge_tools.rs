//! Tools for merges: `notify_when_merged`, `check_merge_status`,
//! `get_merge_events`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::tools::{object_schema, text, Registry, Tool};
use crate::{merge, session};

fn event_schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "string"}, "repoPath": {"type": "string"}, "branchName": {"type": "string"},
        "sourceCommit": {"type": "string"}, "targetBranch": {"type": "string"}, "targetCommit": {"type": "string"},
        "mergedAt": {"type": "string"}, "detectedAt": {"type": "string"}
    }, "required": ["branchName", "targetBranch", "sourceCommit", "targetCommit", "mergedAt", "detectedAt"]})
}

/// Adds the merge tools.
pub fn register(registry: &mut Registry, data_dir: PathBuf) {
    let dir = data_dir.clone();
    registry.add(Tool {
        name: "notify_when_merged",
        title: "Notify me when a branch is merged",
        description: "Subscribe your session to the merge of a branch into a target (default main). When \
            git-pcc-watch sees it merged (fast-forward, merge commit, squash or rebase), your next tool call \
            brings a notice telling you to rebase.",
        input_schema: object_schema(
            json!({"branch": {"type": "string"}, "targetBranch": {"type": "string", "default": "main"}}),
            &["branch"],
        ),
        output_schema: Some(json!({"type": "object", "properties": {
            "subscribed": {"type": "boolean"}, "message": {"type": "string"},
            "subscription": {"type": "object"}}, "required": ["subscribed", "message", "subscription"]})),
        read_only: false,
        handler: Box::new(move |arguments| {
            let me = session::find_session(&dir, &super::session_tools::caller())?
                .ok_or_else(|| anyhow::anyhow!("no parallel-cc session found for this agent; subscriptions belong to sessions"))?;
            let target = text(arguments, "targetBranch").unwrap_or_else(|| "main".to_owned());
            let branch = text(arguments, "branch").unwrap_or_default();
            let subscription = merge::subscribe(&dir, &me.session_id, Path::new(&me.repo_path), &branch, &target)?;
            let message = format!(
                "Subscribed to the merge of '{branch}' into '{target}'; your next tool call after git-pcc-watch sees it brings a notice."
            );
            Ok(json!({"subscribed": true, "message": message, "subscription": subscription}))
        }),
    });
    let dir = data_dir.clone();
    registry.add(Tool {
        name: "check_merge_status",
        title: "Has a branch been merged?",
        description:
            "Tell whether a branch's merge has been detected, with the merge event when it has.",
        input_schema: object_schema(json!({"branch": {"type": "string"}}), &["branch"]),
        output_schema: Some(
            json!({"type": "object", "properties": {"branch": {"type": "string"},
            "isMerged": {"type": "boolean"}, "mergeEvent": {"type": ["object", "null"]},
            "message": {"type": "string"}},
            "required": ["branch", "isMerged", "message"]}),
        ),
        read_only: true,
        handler: Box::new(move |arguments| {
            let branch = text(arguments, "branch").unwrap_or_default();
            let repo =
                session::find_session(&dir, &super::session_tools::caller())?.map(|s| s.repo_path);
            let event = merge::events(&dir, repo.as_deref(), Some(&branch), 1)?
                .into_iter()
                .next();
            let message = match &event {
                Some(e) => format!("Branch '{branch}' was merged into '{}' at {}", e.target_branch, e.merged_at),
                None => format!(
                    "Branch '{branch}' has not been seen merged; git-pcc-watch detects merges."
                ),
            };
            Ok(json!({"branch": branch, "isMerged": event.is_some(), "mergeEvent": event, "message": message}))
        }),
    });
    registry.add(Tool {
        name: "get_merge_events",
        title: "Merge events",
        description: "List detected merges, newest first, for a repository (default: yours); total counts \
            them all.",
        input_schema: object_schema(
            json!({"repo_path": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}}),
            &[],
        ),
        output_schema: Some(json!({"type": "object", "properties": {
            "events": {"type": "array", "items": event_schema()}, "total": {"type": "integer"}},
            "required": ["events", "total"]})),
        read_only: true,
        handler: Box::new(move |arguments| {
            let repo = match text(arguments, "repo_path") {
                Some(path) => Some(crate::paths::to_db_string(&crate::git::resolve_repository(Path::new(&path))?)?),
                None => session::find_session(&data_dir, &super::session_tools::caller())?.map(|s| s.repo_path),
            };
            let limit = arguments.get("limit").and_then(Value::as_i64).unwrap_or(50);
            let mut found = merge::events(&data_dir, repo.as_deref(), None, i64::MAX)?;
            // As the TypeScript tool counted: every event, not only those shown.
            let total = found.len();
            found.truncate(limit.max(0) as usize);
            Ok(json!({"total": total, "events": found}))
        }),
    });
}
