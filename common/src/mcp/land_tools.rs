//! Tools for the land queue: `request_land` (the calling session's branch
//! joins its repository's queue, which a `git pcc land` started in the
//! background then processes) and `land_status`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::tools::{object_schema, text, Registry, Tool};
use crate::land::{self, request::Choices};
use crate::{db::Database, session};

fn items_schema() -> Value {
    json!({"type": "object", "properties": {
        "items": {"type": "array", "items": {"type": "object"}}, "total": {"type": "integer"}},
        "required": ["items", "total"]})
}

/// Starts `git-pcc land --process-only` for the repository, detached, so
/// the tool answers at once; the queue's lock keeps it one runner.
fn start_runner(repo_path: &Path) {
    use std::os::unix::process::CommandExt;
    let program = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("git-pcc")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("git-pcc"));
    let _ = Command::new(program)
        .args(["land", "--process-only", "--repo"])
        .arg(repo_path)
        .current_dir(repo_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
}

/// Adds the land tools.
pub fn register(registry: &mut Registry, data_dir: PathBuf) {
    let dir = data_dir.clone();
    registry.add(Tool {
        name: "request_land",
        title: "Land my branch",
        description: "Put your session's branch in the repository's land queue: it is replayed onto the \
            target's tip (default: the branch your worktree started from), checked with the configured \
            check in a scratch worktree, and landed if it passes. Returns the item id; land_status tells \
            how it went, and your next tool call brings a notice if it stops.",
        input_schema: object_schema(
            json!({"targetBranch": {"type": "string"}, "message": {"type": "string"}}),
            &[],
        ),
        output_schema: Some(json!({"type": "object", "properties": {
            "itemId": {"type": "string"}, "state": {"type": "string"}, "message": {"type": "string"},
            "item": {"type": "object"}}, "required": ["itemId", "state", "message", "item"]})),
        read_only: false,
        handler: Box::new(move |arguments| {
            let me = session::find_session(&dir, &super::session_tools::caller())?.ok_or_else(|| {
                anyhow::anyhow!("no parallel-cc session found for this agent; only a session's branch can land")
            })?;
            let repo_path = PathBuf::from(&me.repo_path);
            let choices = Choices {
                target: text(arguments, "targetBranch"),
                message: text(arguments, "message"),
                requested_by: "mcp".to_owned(),
                ..Choices::default()
            };
            let new = land::request::new_items(
                &dir,
                &repo_path,
                std::slice::from_ref(&me.session_id),
                &repo_path,
                &choices,
            )?;
            let mut db = Database::open(&dir)?;
            let item = land::queue::enqueue_all(&mut db, &new)?
                .into_iter()
                .next()
                .ok_or_else(|| anyhow::anyhow!("nothing was queued"))?;
            if !item.state.is_final() {
                start_runner(&repo_path);
            }
            let message = format!(
                "{} is in the land queue onto {} as item {} ({}); land_status with this itemId tells how it goes.",
                item.branch,
                item.target_branch,
                item.short_id(),
                item.state.as_str()
            );
            Ok(json!({"itemId": item.id, "state": item.state, "message": message, "item": item}))
        }),
    });
    let dir = data_dir;
    registry.add(Tool {
        name: "land_status",
        title: "Land queue",
        description: "The land queue of your repository, each item with its state (queued, checking, landed, \
            conflict, failed, blocked) and reason; or one item by its id.",
        input_schema: object_schema(json!({"itemId": {"type": "string"}}), &[]),
        output_schema: Some(items_schema()),
        read_only: true,
        handler: Box::new(move |arguments| {
            let db = Database::open(&dir)?;
            let items = match text(arguments, "itemId") {
                Some(given) => {
                    let id = land::queue::resolve_id(db.conn(), &given)?
                        .ok_or_else(|| anyhow::anyhow!("no land item {given}"))?;
                    land::queue::item(db.conn(), &id)?.into_iter().collect()
                }
                None => {
                    let repo = session::find_session(&dir, &super::session_tools::caller())?
                        .map(|s| s.repo_path);
                    land::queue::items(db.conn(), repo.as_deref())?
                }
            };
            Ok(json!({"total": items.len(), "items": items}))
        }),
    });
}
