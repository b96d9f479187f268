//! Tools for file claims: `claim_file`, `release_file`, `list_file_claims`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{json, Value};

use super::tools::{object_schema, text, Registry, Tool};
use crate::claims::{self, ClaimFilter, ClaimMode, Claimant};
use crate::session;

/// The calling agent's session as a claimant.
fn caller(data_dir: &Path) -> Result<Claimant> {
    let found = session::find_session(data_dir, &super::session_tools::caller())?.ok_or_else(|| {
        anyhow::anyhow!("no parallel-cc session found for this agent; claims belong to sessions (start it with claude-parallel)")
    })?;
    Ok(Claimant {
        session_id: found.session_id,
        repo_path: PathBuf::from(found.repo_path),
        worktree_path: PathBuf::from(found.worktree_path),
    })
}

fn claim_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "claimId": {"type": "string"},
            "sessionId": {"type": "string"},
            "repoPath": {"type": "string"},
            "filePath": {"type": "string"},
            "mode": {"type": "string", "enum": ["EXCLUSIVE", "SHARED", "INTENT"]},
            "claimedAt": {"type": "string"},
            "expiresAt": {"type": "string"},
            "isActive": {"type": "boolean"}
        },
        "required": ["claimId", "sessionId", "filePath", "mode", "expiresAt", "isActive"]
    })
}

/// A claim as `list_file_claims` lists it: the TypeScript tool's fields
/// (`claimMode` for the mode) and ours.
fn listed_claim_schema() -> Value {
    let mut schema = claim_schema();
    schema["properties"]
        .as_object_mut()
        .map(|p| p.remove("mode"));
    for (name, kind) in [
        (
            "claimMode",
            json!({"type": "string", "enum": ["EXCLUSIVE", "SHARED", "INTENT"]}),
        ),
        ("sessionPid", json!({"type": "integer"})),
        ("worktreeName", json!({"type": ["string", "null"]})),
        ("minutesUntilExpiry", json!({"type": "integer"})),
    ] {
        schema["properties"][name] = kind;
    }
    schema["required"] = json!([
        "claimId",
        "sessionId",
        "filePath",
        "claimMode",
        "expiresAt",
        "isActive"
    ]);
    schema
}

/// Adds the claim tools.
pub fn register(registry: &mut Registry, data_dir: PathBuf) {
    let dir = data_dir.clone();
    registry.add(Tool {
        name: "claim_file",
        title: "Claim a file",
        description: "Claim a file before editing it so other sessions know. EXCLUSIVE: nobody else may claim \
            (or, through the edit hook, edit) it; SHARED: others may share; INTENT: announce plans, block nobody. \
            Claiming again with a stronger mode escalates your claim when the others allow. The claim ends after \
            ttlHours (1-72), when you release it, or when your session ends. Paths are relative to your checkout.",
        input_schema: object_schema(
            json!({
                "filePath": {"type": "string", "description": "File to claim, relative to your checkout"},
                "mode": {"type": "string", "enum": ["EXCLUSIVE", "SHARED", "INTENT"], "default": "EXCLUSIVE"},
                "reason": {"type": "string", "description": "What you are about to do"},
                "ttlHours": {"type": "integer", "minimum": 1, "maximum": 72, "default": 24}
            }),
            &["filePath"],
        ),
        output_schema: Some(json!({
            "type": "object",
            "properties": {"success": {"type": "boolean"}, "claimId": {"type": "string"},
                           "message": {"type": "string"}, "claim": claim_schema(),
                           "escalated": {"type": "boolean"}, "alreadyHeld": {"type": "boolean"}},
            "required": ["success", "claimId", "message", "claim"]
        })),
        read_only: false,
        handler: Box::new(move |arguments| {
            let claimant = caller(&dir)?;
            let mode = ClaimMode::parse(&text(arguments, "mode").unwrap_or_else(|| "EXCLUSIVE".into()))?;
            let ttl = arguments.get("ttlHours").and_then(Value::as_i64).unwrap_or(24);
            let file = text(arguments, "filePath").unwrap_or_default();
            let grant = claims::claim(&dir, &claimant, &file, mode, text(arguments, "reason").as_deref(), ttl)?;
            let mut value = serde_json::to_value(&grant)?;
            // The TypeScript tool's fields beside ours.
            value["claimId"] = json!(grant.claim.claim_id);
            value["message"] = json!(format!(
                "Holding a {} claim on {} (expires at {})",
                grant.claim.mode.as_str(),
                grant.claim.file_path,
                grant.claim.expires_at
            ));
            Ok(value)
        }),
    });
    let dir = data_dir.clone();
    registry.add(Tool {
        name: "release_file",
        title: "Release a file claim",
        description:
            "Release one of your file claims by its claimId (from claim_file or list_file_claims). \
            force=true releases another session's claim; use it only when that session is stuck.",
        input_schema: object_schema(
            json!({"claimId": {"type": "string"}, "force": {"type": "boolean", "default": false}}),
            &["claimId"],
        ),
        output_schema: Some(json!({
            "type": "object",
            "properties": {"success": {"type": "boolean"}, "message": {"type": "string"},
                           "releasedAt": {"type": ["string", "null"]}, "claim": claim_schema()},
            "required": ["success", "message", "claim"]
        })),
        read_only: false,
        handler: Box::new(move |arguments| {
            let me = caller(&dir).ok().map(|c| c.session_id);
            let force = arguments
                .get("force")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let claim = claims::release(
                &dir,
                me.as_deref(),
                &text(arguments, "claimId").unwrap_or_default(),
                force,
            )?;
            let message = format!("Released claim {}", claim.claim_id);
            Ok(json!({"success": true, "message": message, "releasedAt": claim.released_at, "claim": claim}))
        }),
    });
    registry.add(Tool {
        name: "list_file_claims",
        title: "List file claims",
        description: "List the active file claims in your repository (all repositories when you have no \
            session), optionally only for some files or one session; includeExpired adds ended claims.",
        input_schema: object_schema(
            json!({
                "filePaths": {"type": "array", "items": {"type": "string"}},
                "sessionId": {"type": "string"},
                "includeExpired": {"type": "boolean", "default": false}
            }),
            &[],
        ),
        output_schema: Some(json!({
            "type": "object",
            "properties": {"claims": {"type": "array", "items": listed_claim_schema()},
                           "totalClaims": {"type": "integer"}},
            "required": ["claims", "totalClaims"]
        })),
        read_only: true,
        handler: Box::new(move |arguments| {
            let me = caller(&data_dir).ok();
            let mut filter = ClaimFilter {
                repo_path: me.as_ref().map(|c| c.repo_path.to_string_lossy().into_owned()),
                session_id: text(arguments, "sessionId"),
                include_ended: arguments.get("includeExpired").and_then(Value::as_bool).unwrap_or(false),
                ..ClaimFilter::default()
            };
            for file in arguments.get("filePaths").and_then(Value::as_array).into_iter().flatten() {
                let file = file.as_str().unwrap_or_default();
                filter.file_paths.push(match &me {
                    Some(claimant) => claims::normalize(claimant, file)?,
                    None => file.to_owned(),
                });
            }
            let found = claims::list(&data_dir, &filter)?;
            let owners = claims::owners(&data_dir, &found)?;
            let now = crate::time::unix_now();
            let mut listed = Vec::with_capacity(found.len());
            for claim in &found {
                let mut value = serde_json::to_value(claim)?;
                // The TypeScript tool's fields beside ours.
                let owner = owners.get(&claim.session_id);
                if let Some(fields) = value.as_object_mut() {
                    // Printed under the TypeScript tool's name, claimMode.
                    fields.remove("mode");
                }
                value["claimMode"] = json!(claim.mode);
                value["sessionPid"] = json!(owner.map_or(0, |o| o.0));
                value["worktreeName"] = json!(owner.and_then(|o| o.1.clone()));
                value["minutesUntilExpiry"] = json!(crate::time::parse_sqlite_datetime(&claim.expires_at)
                    .map_or(0, |end| (end - now).max(0) / 60));
                listed.push(value);
            }
            Ok(json!({"totalClaims": found.len(), "claims": listed}))
        }),
    });
}
