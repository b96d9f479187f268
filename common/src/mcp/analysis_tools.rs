//! Tools for conflicts that have happened: `detect_advanced_conflicts`,
//! `get_auto_fix_suggestions`, `apply_auto_fix`, `conflict_history`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{json, Map, Value};

use super::tools::{object_schema, text, Registry, Tool};
use crate::resolutions::{self, HistoryFilter};
use crate::session::{self, SessionStatus};
use crate::UserError;

/// The caller's session, if it has one.
fn me(data_dir: &Path) -> Option<SessionStatus> {
    session::find_session(data_dir, &super::session_tools::caller())
        .ok()
        .flatten()
}

/// Where the caller works: its session's checkout, else the working
/// directory's repository.
fn checkout(caller: Option<&SessionStatus>) -> Result<PathBuf> {
    match caller {
        Some(session) => Ok(PathBuf::from(&session.worktree_path)),
        None => crate::git::resolve_repository(&std::env::current_dir()?),
    }
}

fn required(arguments: &Map<String, Value>, key: &str) -> Result<String> {
    text(arguments, key)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| UserError::new(format!("{key} is required")).into())
}

fn number(arguments: &Map<String, Value>, key: &str, default: f64) -> f64 {
    arguments
        .get(key)
        .and_then(Value::as_f64)
        .unwrap_or(default)
}

fn flag(arguments: &Map<String, Value>, key: &str, default: bool) -> bool {
    arguments
        .get(key)
        .and_then(Value::as_bool)
        .unwrap_or(default)
}

/// Adds the conflict analysis tools.
pub fn register(registry: &mut Registry, data_dir: PathBuf) {
    let dir = data_dir.clone();
    registry.add(Tool {
        name: "detect_advanced_conflicts",
        title: "Classify the conflicts of a merge",
        description: "Merge targetBranch into currentBranch in memory (nothing is checked out or changed) and \
            classify every conflicting file and hunk: TRIVIAL (formatting only, or both add imports), \
            CONCURRENT_EDIT (both rewrite the same statements), STRUCTURAL (statements, parameters or members \
            added, removed or reordered), SEMANTIC (one side changes a definition the other side's changes use), \
            UNKNOWN; with severity and the enclosing symbols. Parses Rust, TypeScript, JavaScript, Python and Go.",
        input_schema: object_schema(
            json!({
                "currentBranch": {"type": "string"},
                "targetBranch": {"type": "string"},
                "analyzeSemantics": {"type": "boolean", "default": true}
            }),
            &["currentBranch", "targetBranch"],
        ),
        output_schema: Some(json!({"type": "object", "properties": {"hasConflicts": {"type": "boolean"},
            "totalConflicts": {"type": "integer"}, "conflicts": {"type": "array"}, "summary": {"type": "object"}},
            "required": ["hasConflicts", "totalConflicts", "conflicts", "summary"]})),
        read_only: false,
        handler: Box::new(move |arguments| {
            let caller = me(&dir);
            let checkout = checkout(caller.as_ref())?;
            let repo = crate::git::resolve_repository(&checkout)?;
            let detection = resolutions::detect(
                &dir,
                &repo,
                &required(arguments, "currentBranch")?,
                &required(arguments, "targetBranch")?,
                flag(arguments, "analyzeSemantics", true),
                caller.as_ref().map(|s| s.session_id.as_str()),
            )?;
            Ok(serde_json::to_value(detection)?)
        }),
    });
    let dir = data_dir.clone();
    registry.add(Tool {
        name: "get_auto_fix_suggestions",
        title: "Suggest fixes for a conflicting file",
        description: "Suggest how to resolve the conflicts of filePath when merging targetBranch into \
            currentBranch. Each suggestion has a suggestionId (for apply_auto_fix), a strategy, a confidence in 0..1 \
            with its factors, an explanation, a before/after preview and its risks; canAutoApply is true only \
            when every hunk is fixed, no conflict marker is left and the result parses. When nothing is safe, \
            explanation says why.",
        input_schema: object_schema(
            json!({
                "filePath": {"type": "string", "description": "Relative to the repository"},
                "currentBranch": {"type": "string"},
                "targetBranch": {"type": "string"},
                "minConfidence": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                "maxSuggestions": {"type": "integer", "minimum": 1, "default": 3}
            }),
            &["filePath", "currentBranch", "targetBranch"],
        ),
        output_schema: Some(json!({"type": "object", "properties": {"suggestions": {"type": "array"},
            "hasConflict": {"type": "boolean"}}, "required": ["suggestions", "hasConflict"]})),
        read_only: false,
        handler: Box::new(move |arguments| {
            let min_confidence = number(arguments, "minConfidence", 0.5);
            if !(0.0..=1.0).contains(&min_confidence) {
                return Err(UserError::new("minConfidence must be between 0 and 1").into());
            }
            let max = number(arguments, "maxSuggestions", 3.0);
            if max < 1.0 {
                return Err(UserError::new("maxSuggestions must be at least 1").into());
            }
            let caller = me(&dir);
            let list = resolutions::suggest(
                &dir,
                &checkout(caller.as_ref())?,
                &required(arguments, "filePath")?,
                &required(arguments, "currentBranch")?,
                &required(arguments, "targetBranch")?,
                min_confidence,
                max as usize,
            )?;
            let mut value = serde_json::to_value(&list)?;
            // The TypeScript tool's fields beside ours.
            for suggestion in value["suggestions"].as_array_mut().into_iter().flatten() {
                // Printed under the TypeScript tool's names.
                if let Some(fields) = suggestion.as_object_mut() {
                    let id = fields.remove("id").unwrap_or_default();
                    let applicable = fields.remove("autoApplicable").unwrap_or_default();
                    fields.insert("suggestionId".to_owned(), id);
                    fields.insert("canAutoApply".to_owned(), applicable);
                }
                let preview = &mut suggestion["preview"];
                let lines = |text: &Value| -> Vec<String> {
                    text.as_str().unwrap_or_default().lines().map(str::to_owned).collect()
                };
                let (before, after) = (lines(&preview["before"]), lines(&preview["after"]));
                preview["diffStats"] = json!({"linesAdded": after.len(), "linesRemoved": before.len()});
                preview["beforeLines"] = json!(before);
                preview["afterLines"] = json!(after);
            }
            // One suggestion is made per file; those below minConfidence are left out.
            let generated = usize::from(list.has_conflict);
            value["totalGenerated"] = json!(generated);
            value["filteredByConfidence"] = json!(generated.saturating_sub(list.suggestions.len()));
            Ok(value)
        }),
    });
    let dir = data_dir.clone();
    registry.add(Tool {
        name: "apply_auto_fix",
        title: "Apply a suggested fix",
        description: "Write a suggestion's result into the file it was made for: only when the file is \
            unchanged since the suggestion, no conflict marker is left and the result parses. The write is \
            atomic, a backup is kept (createBackup) and the fix is recorded in the conflict history; the answer \
            gives a rollback command. dryRun checks and previews without writing.",
        input_schema: object_schema(
            json!({
                "suggestionId": {"type": "string"},
                "dryRun": {"type": "boolean", "default": false},
                "createBackup": {"type": "boolean", "default": true}
            }),
            &["suggestionId"],
        ),
        output_schema: Some(json!({"type": "object", "properties": {"success": {"type": "boolean"},
            "applied": {"type": "boolean"}, "verification": {"type": "object"}},
            "required": ["success", "applied", "verification"]})),
        read_only: false,
        handler: Box::new(move |arguments| {
            let report = resolutions::apply(
                &dir,
                &required(arguments, "suggestionId")?,
                flag(arguments, "dryRun", false),
                flag(arguments, "createBackup", true),
            )?;
            let mut value = serde_json::to_value(&report)?;
            value["message"] = json!(match (report.applied, report.dry_run) {
                (true, _) => format!("Applied the fix to {}", report.file_path),
                (false, true) => format!("The fix can be applied to {} (dry run: nothing written)", report.file_path),
                (false, false) => format!("Nothing was written to {}", report.file_path),
            });
            Ok(value)
        }),
    });
    registry.add(Tool {
        name: "conflict_history",
        title: "Conflict history",
        description: "Conflicts recorded in this repository (by detect_advanced_conflicts) and how they were \
            resolved (AUTO_FIX by apply_auto_fix, MANUAL while pending), newest first, with statistics over \
            every match.",
        input_schema: object_schema(
            json!({
                "filePath": {"type": "string"},
                "conflictType": {"type": "string", "enum": ["TRIVIAL", "CONCURRENT_EDIT", "STRUCTURAL", "SEMANTIC", "UNKNOWN"]},
                "resolutionStrategy": {"type": "string", "enum": ["AUTO_FIX", "MANUAL", "HYBRID", "ABANDONED"]},
                "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 20},
                "offset": {"type": "integer", "minimum": 0, "default": 0}
            }),
            &[],
        ),
        output_schema: Some(json!({"type": "object", "properties": {
            "records": {"type": "array"}, "history": {"type": "array"}, "statistics": {"type": "object"},
            "pagination": {"type": "object"}},
            "required": ["records", "history", "statistics", "pagination"]})),
        read_only: true,
        handler: Box::new(move |arguments| {
            let caller = me(&data_dir);
            let repo = crate::git::resolve_repository(&checkout(caller.as_ref())?)?;
            let filter = HistoryFilter {
                repo_path: Some(crate::paths::to_db_string(&repo)?),
                file_path: text(arguments, "filePath"),
                conflict_type: text(arguments, "conflictType"),
                resolution_strategy: text(arguments, "resolutionStrategy"),
                resolved: None,
                limit: number(arguments, "limit", 20.0).clamp(1.0, 500.0) as usize,
                offset: number(arguments, "offset", 0.0).max(0.0) as usize,
            };
            let (limit, offset) = (filter.limit, filter.offset);
            let found = resolutions::history(&data_dir, &filter)?;
            let mut value = serde_json::to_value(&found)?;
            if let Some(fields) = value.as_object_mut() {
                // The count, under the TypeScript tool's name: pagination.total.
                fields.remove("total");
            }
            value["history"] = seed_history(&found);
            value["pagination"] = json!({"offset": offset, "limit": limit, "total": found.total});
            Ok(value)
        }),
    });
}

/// The records as the TypeScript tool's `conflict_history` listed them.
fn seed_history(found: &resolutions::History) -> Value {
    let mut entries = Vec::new();
    for record in &found.records {
        let mut entry = json!({
            "resolutionId": record.id,
            "filePath": record.file_path,
            "conflictType": record.conflict_type,
            "resolutionStrategy": record.resolution_strategy,
            "detectedAt": record.detected_at,
            "wasAutoApplied": record.resolution_strategy == "AUTO_FIX",
        });
        let optional = [
            ("confidence", record.confidence_score.map(Value::from)),
            ("resolvedAt", record.resolved_at.clone().map(Value::from)),
            (
                "autoFixStrategy",
                record.auto_fix_strategy.clone().map(Value::from),
            ),
            (
                "explanation",
                record.auto_fix_explanation.clone().map(Value::from),
            ),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                entry[key] = value;
            }
        }
        entries.push(entry);
    }
    Value::Array(entries)
}
