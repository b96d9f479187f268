//! Tools about sessions: who works where (`get_parallel_status`) and which
//! session the calling agent is (`get_my_session`). Results carry the same
//! fields as `git pcc status --json`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{json, Value};

use super::tools::{object_schema, Registry, Tool};
use crate::session::{self, HeartbeatTarget};

fn session_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "sessionId": {"type": "string"},
            "agent": {"type": "string", "description": "The agent it runs: claude, codex, gemini, aider, opencode or one from config"},
            "pid": {"type": "integer"},
            "repoPath": {"type": "string"},
            "worktreePath": {"type": "string"},
            "worktreeName": {"type": ["string", "null"]},
            "branch": {"type": ["string", "null"]},
            "isMainRepo": {"type": "boolean"},
            "isAlive": {"type": "boolean"},
            "holdsWork": {"type": "boolean"},
            "heldWork": {"type": ["string", "null"]},
            "createdAt": {"type": "string"},
            "lastHeartbeat": {"type": "string"},
            "durationMinutes": {"type": "integer"},
            "heartbeatAgeMinutes": {"type": "integer"},
            "state": {"type": ["string", "null"], "enum": ["working", "waiting", "idle", "idle?", "compacting", "ended", null]},
            "stateSince": {"type": ["string", "null"]},
            "waitingFor": {"type": ["string", "null"]},
            "lastMessage": {"type": ["string", "null"]},
            "ahead": {"type": ["integer", "null"]},
            "behind": {"type": ["integer", "null"]},
            "changedFiles": {"type": ["integer", "null"]},
            "conflicts": {"type": ["integer", "null"]},
            "conflictsPredictedAt": {"type": ["string", "null"]}
        },
        "required": ["sessionId", "pid", "repoPath", "worktreePath", "isMainRepo", "isAlive"]
    })
}

/// Where the server looks for the calling agent's session.
pub(crate) fn caller() -> HeartbeatTarget {
    HeartbeatTarget {
        env_session_id: std::env::var("PARALLEL_CC_SESSION_ID")
            .ok()
            .filter(|s| !s.is_empty()),
        ancestors: true,
        cwd: std::env::current_dir().ok(),
        ..HeartbeatTarget::default()
    }
}

/// Adds the session tools.
pub fn register(registry: &mut Registry, data_dir: PathBuf) {
    let dir = data_dir.clone();
    registry.add(Tool {
        name: "get_parallel_status",
        title: "Parallel sessions",
        description: "List the agent sessions working in a repository (default: the one you are in, else all): \
            each with its agent (claude, codex, gemini, ...), its PID, whether it is alive, main checkout or worktree, branch, age and held work; what \
            its agent is doing (state working, waiting for its user with waitingFor, idle with its lastMessage, \
            compacting) and, for a worktree, commits ahead/behind its base, changed files and predicted \
            conflicts. Check it before large edits to see who else is working and where.",
        input_schema: object_schema(
            json!({"repo_path": {"type": "string", "description": "A path inside the repository; omit for your own repository"}}),
            &[],
        ),
        output_schema: Some(json!({
            "type": "object",
            "properties": {
                "sessions": {"type": "array", "items": session_schema()},
                "totalSessions": {"type": "integer"},
                "keptWorktrees": {"type": "array"}
            },
            "required": ["sessions", "totalSessions"]
        })),
        read_only: true,
        handler: Box::new(move |arguments| get_parallel_status(&dir, arguments.get("repo_path"))),
    });
    registry.add(Tool {
        name: "get_my_session",
        title: "My session",
        description: "Describe your own parallel-cc session: its id, whether you work in the main checkout or a \
            worktree, your branch and path, and how many sessions share the repository.",
        input_schema: object_schema(json!({}), &[]),
        output_schema: Some({
            let mut schema = session_schema();
            schema["properties"]["parallelSessions"] = json!({"type": "integer"});
            schema["properties"]["startedAt"] = json!({"type": "string"});
            schema
        }),
        read_only: true,
        handler: Box::new(move |_| get_my_session(&data_dir)),
    });
}

fn get_parallel_status(data_dir: &Path, repo_path: Option<&Value>) -> Result<Value> {
    let repo = match repo_path.and_then(Value::as_str) {
        Some(path) => Some(PathBuf::from(path)),
        None => session::find_session(data_dir, &caller())?.map(|s| PathBuf::from(s.repo_path)),
    };
    let report = session::status(data_dir, repo.as_deref())?;
    Ok(serde_json::to_value(report)?)
}

fn get_my_session(data_dir: &Path) -> Result<Value> {
    let Some(found) = session::find_session(data_dir, &caller())? else {
        anyhow::bail!(
            "no parallel-cc session found for this agent: PARALLEL_CC_SESSION_ID is not set and neither \
             this process's ancestors nor its working directory belong to a registered session; start the \
             agent with claude-parallel"
        );
    };
    let parallel = session::status(data_dir, Some(Path::new(&found.repo_path)))?.total_sessions;
    let mut value = serde_json::to_value(found)?;
    value["parallelSessions"] = json!(parallel);
    // When the session began, under the TypeScript tool's name.
    if let Some(created) = value.as_object_mut().and_then(|v| v.remove("createdAt")) {
        value["startedAt"] = created;
    }
    Ok(value)
}
