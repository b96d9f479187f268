//! `get_sandbox_status`: unattended sandbox runs, as `git pcc sandbox
//! status` and `list` show them.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::tools::{object_schema, text, Registry, Tool};
use crate::db::Database;
use crate::sandbox::local::{Confinement, LocalBackend};
use crate::sandbox::runs;
use crate::sandbox::Backend;

/// Adds the sandbox tool.
pub fn register(registry: &mut Registry, data_dir: PathBuf) {
    registry.add(Tool {
        name: "get_sandbox_status",
        title: "Sandbox run status",
        description: "Status of unattended sandbox runs (git pcc sandbox run). With sessionId (a run id or a \
            prefix of at least 4 characters): that run, with its status, last activity, cost, branch and error. \
            Without: the runs still going on and the 20 most recent runs of this repository.",
        input_schema: object_schema(
            json!({
                "sessionId": {"type": "string", "description": "The sandbox run id (or a unique prefix)"}
            }),
            &[],
        ),
        output_schema: Some(json!({
            "type": "object",
            "properties": {
                "run": {"type": "object"},
                "runs": {"type": "array", "items": {"type": "object"}},
                "active": {"type": "integer"},
                "total": {"type": "integer"}
            }
        })),
        read_only: true,
        handler: Box::new(move |arguments| {
            let Some(db) = Database::open_existing_current(&data_dir)? else {
                return Ok(json!({"runs": [], "active": 0, "total": 0}));
            };
            if let Some(id) = text(arguments, "sessionId").filter(|s| !s.trim().is_empty()) {
                let record = runs::find(db.conn(), &id)?;
                let backend = LocalBackend::new(
                    &data_dir,
                    Confinement::None {
                        reason: String::new(),
                    },
                );
                let alive = !record.status.is_final()
                    && record.backend == "local"
                    && backend.is_running(record.sandbox_id.as_deref().unwrap_or(""), record.agent);
                let mut run = serde_json::to_value(&record)?;
                run["agentAlive"] = Value::Bool(alive);
                return Ok(json!({ "run": run }));
            }
            let repo = std::env::current_dir()
                .ok()
                .and_then(|cwd| crate::git::resolve_repository(&cwd).ok())
                .map(|p| p.display().to_string());
            let mut found = runs::list(db.conn(), None, true, 1000)?;
            let active = found.len();
            for run in runs::list(db.conn(), repo.as_deref(), false, 20)? {
                if run.status.is_final() {
                    found.push(run);
                }
            }
            Ok(json!({"runs": found, "active": active, "total": found.len()}))
        }),
    });
}
