//! `statusline`: the one short line Claude Code shows under its prompt for
//! a session, from the JSON it gives a `statusLine` command on stdin: where
//! the session works (the main checkout or its worktree, and the branch),
//! the other live sessions of the repository by state, the conflicts the
//! last prediction found with it, the claims it holds and a merge notice
//! waiting for it.
//!
//! Claude Code runs the command every few seconds in every session, so it
//! reads only what is recorded: two SQLite statements (the session with
//! its claims and notice, then the other sessions), the conflict count the
//! last prediction stored (`conflicts --predict`, MCP `predict_conflicts`)
//! and the file naming those conflicts (see
//! [`crate::session::record_conflict_files`]). It never merges trees.
//!
//! The session is found as the hooks find it: `$PARALLEL_CC_SESSION_ID`,
//! the nearest ancestor process that is a session's, then the directory
//! Claude Code works in.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::db::Database;
use crate::session::{self, state, ConflictFile, HeartbeatTarget};

/// The fields of Claude Code's status line JSON that we read.
#[derive(Debug, Default, Deserialize)]
pub struct StatusLineInput {
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub workspace: Option<Workspace>,
}

/// `workspace` of the status line JSON.
#[derive(Debug, Default, Deserialize)]
pub struct Workspace {
    #[serde(default)]
    pub current_dir: Option<String>,
}

impl StatusLineInput {
    /// The input in `bytes`; an empty one when it is not JSON.
    pub fn parse(bytes: &[u8]) -> StatusLineInput {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// The directory the agent works in: `workspace.current_dir`, else
    /// `cwd`.
    pub fn directory(&self) -> Option<PathBuf> {
        self.workspace
            .as_ref()
            .and_then(|w| w.current_dir.as_deref())
            .or(self.cwd.as_deref())
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
    }
}

/// How many other live sessions are in one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateCount {
    pub state: String,
    pub count: usize,
}

/// A merge notice the session has not been given yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeNotice {
    pub branch: String,
    pub target_branch: String,
}

/// What the status line shows for one session.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusLine {
    pub session_id: String,
    pub repo_path: String,
    pub worktree_path: String,
    pub worktree_name: Option<String>,
    pub is_main_repo: bool,
    pub branch: Option<String>,
    /// The other live sessions of the repository, by state.
    pub others: Vec<StateCount>,
    /// Conflicting files with other sessions at the last prediction
    /// (`null` before one ran).
    pub conflicts: Option<i64>,
    /// Those files and the session each conflicts with, when recorded.
    pub conflict_files: Vec<ConflictFile>,
    /// Active claims the session holds.
    pub claims: i64,
    pub merge_notice: Option<MergeNotice>,
}

/// The order in which the others' states are listed: what needs someone
/// first.
const STATE_ORDER: &[&str] = &["waiting", "working", "compacting", "idle?", "idle", "new"];

/// The status line of the session `target` points at; `None` when there
/// is none (or no database yet).
pub fn statusline(data_dir: &Path, target: &HeartbeatTarget) -> Result<Option<StatusLine>> {
    let Some(db) = Database::open_existing(data_dir)? else {
        return Ok(None);
    };
    let conn = db.conn();
    conn.busy_timeout(session::HOOK_WAIT)?;
    let mut found = match &target.env_session_id {
        Some(id) => own_row(conn, id)?,
        None => None,
    };
    if found.is_none() {
        let rest = HeartbeatTarget {
            ancestors: target.ancestors,
            cwd: target.cwd.clone(),
            ..HeartbeatTarget::default()
        };
        if let Some((id, _)) = session::locate(conn, &rest)? {
            found = own_row(conn, &id)?;
        }
    }
    let Some(mut line) = found else {
        return Ok(None);
    };
    if line.is_main_repo {
        line.branch = session::read_head_branch(Path::new(&line.repo_path)).or(line.branch);
    }
    let config = Config::load(data_dir).unwrap_or_else(|_| Config::defaults(data_dir));
    line.others = others(conn, &line, config.idle_after_minutes())?;
    if line.conflicts.is_some_and(|count| count > 0) {
        let files = session::conflict_files(data_dir, &line.session_id);
        // Only a record of the same prediction as the count.
        if files.len() as i64 == line.conflicts.unwrap_or(0) {
            line.conflict_files = files;
        }
    }
    Ok(Some(line))
}

/// The session `id` with the claims it holds and its newest undelivered
/// merge notice, in one statement.
fn own_row(conn: &rusqlite::Connection, id: &str) -> Result<Option<StatusLine>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.repo_path, s.worktree_path, s.worktree_name, s.is_main_repo, s.branch,
                s.predicted_conflicts,
                (SELECT COUNT(*) FROM file_claims c WHERE c.session_id = s.id AND c.is_active = 1
                   AND datetime(c.expires_at) > datetime('now')),
                (SELECT e.branch_name || char(10) || e.target_branch
                   FROM merge_notices n JOIN merge_events e ON e.id = n.event_id
                   WHERE n.session_id = s.id AND n.delivered_at IS NULL
                   ORDER BY n.created_at DESC LIMIT 1)
         FROM sessions s WHERE s.id = ?1",
    )?;
    let row = stmt
        .query_row([id], |row| {
            let notice: Option<String> = row.get(8)?;
            Ok(StatusLine {
                session_id: row.get(0)?,
                repo_path: row.get(1)?,
                worktree_path: row.get(2)?,
                worktree_name: row.get(3)?,
                is_main_repo: row.get::<_, i64>(4)? != 0,
                branch: row.get(5)?,
                others: Vec::new(),
                conflicts: row.get(6)?,
                conflict_files: Vec::new(),
                claims: row.get(7)?,
                merge_notice: notice.and_then(|text| {
                    let (branch, target) = text.split_once('\n')?;
                    Some(MergeNotice {
                        branch: branch.to_owned(),
                        target_branch: target.to_owned(),
                    })
                }),
            })
        })
        .optional()?;
    Ok(row)
}

/// The other live sessions of the repository of `line`, counted by the
/// state `status` would show.
fn others(
    conn: &rusqlite::Connection,
    line: &StatusLine,
    idle_after_minutes: i64,
) -> Result<Vec<StateCount>> {
    let mut stmt = conn.prepare_cached(
        "SELECT pid, process_start, agent_pid, agent_start, state, state_at FROM sessions
         WHERE repo_path = ?1 AND id <> ?2",
    )?;
    type Other = (
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<Other> = stmt
        .query_map([&line.repo_path, &line.session_id], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let now = state::now_millis();
    let mut counts: Vec<StateCount> = Vec::new();
    for (pid, start, agent, agent_start, state, state_at) in rows {
        let start = start.map(|t| t as u64);
        let agent_start = agent_start.map(|t| t as u64);
        if !session::is_alive(pid, start, agent, agent_start) {
            continue;
        }
        let shown = state::shown(state.as_deref(), None, state_at, now, idle_after_minutes)
            .map_or_else(|| "new".to_owned(), |(state, _)| state);
        if shown == "ended" {
            continue;
        }
        match counts.iter_mut().find(|c| c.state == shown) {
            Some(count) => count.count += 1,
            None => counts.push(StateCount {
                state: shown,
                count: 1,
            }),
        }
    }
    counts.sort_by_key(|c| {
        STATE_ORDER
            .iter()
            .position(|s| *s == c.state)
            .unwrap_or(STATE_ORDER.len())
    });
    Ok(counts)
}

/// `1 conflict`, `2 conflicts`.
fn counted(count: i64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The first characters of a session id, as a reader tells sessions apart.
fn short_id(id: &str) -> String {
    let short: String = id.chars().take(4).collect();
    if short.len() < id.len() {
        format!("{short}…")
    } else {
        short
    }
}

impl StatusLine {
    /// The line: `worktree parallel-1a2b on parallel/parallel-1a2b · 2
    /// others: 1 waiting, 1 working · ⚠ 1 conflict: src/app.py with 3f2a… ·
    /// 1 claim · ⤵ feature merged into main: rebase`.
    pub fn render(&self) -> String {
        let mut parts = Vec::new();
        let place = if self.is_main_repo {
            "main checkout".to_owned()
        } else {
            match &self.worktree_name {
                Some(name) => format!("worktree {name}"),
                None => "worktree".to_owned(),
            }
        };
        parts.push(match &self.branch {
            Some(branch) => format!("{place} on {branch}"),
            None => place,
        });
        let total: usize = self.others.iter().map(|c| c.count).sum();
        if total > 0 {
            let states: Vec<String> = self
                .others
                .iter()
                .map(|c| format!("{} {}", c.count, c.state))
                .collect();
            parts.push(format!(
                "{}: {}",
                counted(total as i64, "other", "others"),
                states.join(", ")
            ));
        }
        if let Some(count) = self.conflicts.filter(|count| *count > 0) {
            let mut text = format!("⚠ {}", counted(count, "conflict", "conflicts"));
            if let Some(first) = self.conflict_files.first() {
                text.push_str(&format!(": {} with {}", first.path, short_id(&first.with)));
                if count > 1 {
                    text.push_str(&format!(" +{}", count - 1));
                }
            }
            parts.push(text);
        }
        if self.claims > 0 {
            parts.push(counted(self.claims, "claim", "claims"));
        }
        if let Some(notice) = &self.merge_notice {
            parts.push(format!(
                "⤵ {} merged into {}: rebase",
                notice.branch, notice.target_branch
            ));
        }
        parts.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> StatusLine {
        StatusLine {
            session_id: "1a2b3c4d-0000".into(),
            repo_path: "/r".into(),
            worktree_path: "/r-worktrees/w".into(),
            worktree_name: Some("parallel-1a2b3c4d".into()),
            is_main_repo: false,
            branch: Some("parallel/parallel-1a2b3c4d".into()),
            others: Vec::new(),
            conflicts: None,
            conflict_files: Vec::new(),
            claims: 0,
            merge_notice: None,
        }
    }

    #[test]
    fn a_lone_session_shows_where_it_works() {
        assert_eq!(
            line().render(),
            "worktree parallel-1a2b3c4d on parallel/parallel-1a2b3c4d"
        );
        let main = StatusLine {
            is_main_repo: true,
            worktree_name: None,
            branch: Some("main".into()),
            ..line()
        };
        assert_eq!(main.render(), "main checkout on main");
        let detached = StatusLine {
            branch: None,
            ..main
        };
        assert_eq!(detached.render(), "main checkout");
    }

    #[test]
    fn everything_at_once() {
        let full = StatusLine {
            others: vec![
                StateCount {
                    state: "waiting".into(),
                    count: 1,
                },
                StateCount {
                    state: "working".into(),
                    count: 1,
                },
            ],
            conflicts: Some(2),
            conflict_files: vec![
                ConflictFile {
                    path: "src/app.py".into(),
                    with: "3f2a9b00-1111".into(),
                },
                ConflictFile {
                    path: "src/db.py".into(),
                    with: "3f2a9b00-1111".into(),
                },
            ],
            claims: 1,
            merge_notice: Some(MergeNotice {
                branch: "feature".into(),
                target_branch: "main".into(),
            }),
            ..line()
        };
        assert_eq!(
            full.render(),
            "worktree parallel-1a2b3c4d on parallel/parallel-1a2b3c4d · 2 others: 1 waiting, 1 working · \
             ⚠ 2 conflicts: src/app.py with 3f2a… +1 · 1 claim · ⤵ feature merged into main: rebase"
        );
        let counted_only = StatusLine {
            conflict_files: Vec::new(),
            conflicts: Some(1),
            claims: 0,
            merge_notice: None,
            others: vec![StateCount {
                state: "idle".into(),
                count: 1,
            }],
            ..line()
        };
        assert_eq!(
            counted_only.render(),
            "worktree parallel-1a2b3c4d on parallel/parallel-1a2b3c4d · 1 other: 1 idle · ⚠ 1 conflict"
        );
    }

    #[test]
    fn the_directory_comes_from_the_workspace_first() {
        let input = StatusLineInput::parse(
            br#"{"session_id":"x","cwd":"/a","workspace":{"current_dir":"/b","project_dir":"/c"},"model":{"id":"m"}}"#,
        );
        assert_eq!(input.directory(), Some(PathBuf::from("/b")));
        let input = StatusLineInput::parse(br#"{"cwd":"/a"}"#);
        assert_eq!(input.directory(), Some(PathBuf::from("/a")));
        assert_eq!(StatusLineInput::parse(b"not json").directory(), None);
    }
}
