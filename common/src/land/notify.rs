//! Everyone hears about a land, through the merge notices each session's
//! next hook prints: a landed item is recorded as a merge event (the
//! branch's own session, its subscribers and every other live session of
//! the repository get the merge notice), and an item that stopped tells
//! its own session why.

use anyhow::Result;
use rusqlite::{params, Connection};

use super::Item;
use crate::merge::{self, MergeEvent};

/// The ids of the live sessions of a repository other than `except`.
fn other_live_sessions(tx: &Connection, repo: &str, except: Option<&str>) -> Result<Vec<String>> {
    let mut stmt = tx.prepare(
        "SELECT id, pid, process_start, agent_pid, agent_start FROM sessions WHERE repo_path = ?1",
    )?;
    type Row = (String, i64, Option<i64>, Option<i64>, Option<i64>);
    let rows: Vec<Row> = stmt
        .query_map([repo], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows
        .into_iter()
        .filter(|(id, ..)| Some(id.as_str()) != except)
        .filter(|(_, pid, start, agent, agent_start)| {
            crate::session::is_alive(
                *pid,
                start.map(|s| s as u64),
                *agent,
                agent_start.map(|s| s as u64),
            )
        })
        .map(|(id, ..)| id)
        .collect())
}

/// Records a landed item as a merge event of its branch into its target.
pub fn landed(
    tx: &Connection,
    item: &Item,
    source: &str,
    landed_commit: &str,
) -> Result<Option<MergeEvent>> {
    let others = other_live_sessions(tx, &item.repo_path, item.session_id.as_deref())?;
    merge::record_landed(
        tx,
        &item.repo_path,
        &item.branch,
        source,
        &item.target_branch,
        landed_commit,
        &others,
    )
}

/// Tells the item's session why its land stopped.
pub fn stopped(tx: &Connection, item: &Item, why: &str) -> Result<()> {
    let Some(session) = &item.session_id else {
        return Ok(());
    };
    let message = format!(
        "parallel-cc: your land of {} onto {} stopped: {why} (git pcc land --status shows the queue; \
         land again once it is fixed)",
        item.branch, item.target_branch
    );
    tx.execute(
        "INSERT OR IGNORE INTO merge_notices (id, event_id, session_id, message) VALUES (?1, ?2, ?3, ?4)",
        params![
            uuid::Uuid::new_v4().to_string(),
            format!("land:{}:{}", item.id, item.attempts),
            session,
            message
        ],
    )?;
    Ok(())
}
