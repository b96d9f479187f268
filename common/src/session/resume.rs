//! Resuming a conversation: `register --resume ID` / `--continue` (what
//! `claude-parallel --resume` / `--continue` run) find the worktree the
//! agent's conversation worked in. Claude Code keeps a conversation's
//! transcript under the directory it ran in, so the session must work in
//! that same directory again: a kept worktree, the worktree of a session
//! that recorded the conversation, or, when it held nothing and went at
//! release, the same worktree made again at the same path, on the same
//! branch at the same commit (recorded in `removed_conversation_worktrees`).

use std::path::{Path, PathBuf};

use anyhow::Result;
use git2::Repository;
use rusqlite::{params, Connection, OptionalExtension};

use super::Session;
use crate::db::Database;
use crate::worktree::{self, Located};
use crate::{git, paths};

/// Which conversation to resume: one by its id, or the latest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Claude Code's `--resume ID`.
    Conversation(String),
    /// Claude Code's `--continue`: the worktree most recently kept, used or
    /// removed with a conversation.
    Latest,
}

/// Where a resumed conversation works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeTarget {
    /// Its worktree is there (kept, or a session's).
    Worktree { path: PathBuf, conversation: String },
    /// Its worktree held nothing and went; it can be made again.
    Removed(RemovedWorktree),
}

impl ResumeTarget {
    /// The directory the conversation worked in.
    pub fn path(&self) -> &Path {
        match self {
            ResumeTarget::Worktree { path, .. } => path,
            ResumeTarget::Removed(removed) => &removed.worktree_path,
        }
    }

    /// The conversation's id.
    pub fn conversation(&self) -> &str {
        match self {
            ResumeTarget::Worktree { conversation, .. } => conversation,
            ResumeTarget::Removed(removed) => &removed.conversation_id,
        }
    }
}

/// A worktree of a conversation that held nothing at release and was
/// removed, as recorded then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedWorktree {
    pub repo_path: String,
    pub conversation_id: String,
    pub worktree_path: PathBuf,
    pub worktree_name: String,
    pub branch: String,
    /// Where its branch pointed when it went.
    pub tip_commit: String,
    pub base_branch: Option<String>,
    pub base_commit: Option<String>,
}

/// The place a conversation worked in, in the repository around `repo`;
/// `None` when none is known (it ran elsewhere, or its worktree cannot be
/// made again because something else took its path, name or branch).
pub fn resume_target(
    data_dir: &Path,
    repo: &Path,
    resume: &Resume,
) -> Result<Option<ResumeTarget>> {
    let repo_path = git::resolve_repository(repo)?;
    let repo_key = paths::to_db_string(&repo_path)?;
    let Some(db) = Database::open_existing_current(data_dir)? else {
        return Ok(None);
    };
    let (condition, id) = match resume {
        Resume::Conversation(id) => ("conversation_id = ?2", id.clone()),
        Resume::Latest => ("conversation_id IS NOT NULL AND ?2 = ?2", String::new()),
    };
    let sql = format!(
        "SELECT worktree_path, conversation_id, removed FROM (
             SELECT worktree_path, conversation_id, kept_at AS at, 0 AS removed
               FROM kept_worktrees WHERE repo_path = ?1 AND {condition}
             UNION ALL
             SELECT worktree_path, conversation_id, last_heartbeat AS at, 0 AS removed
               FROM sessions WHERE repo_path = ?1 AND is_main_repo = 0 AND {condition}
             UNION ALL
             SELECT worktree_path, conversation_id, removed_at AS at, 1 AS removed
               FROM removed_conversation_worktrees WHERE repo_path = ?1 AND {condition})
         ORDER BY at DESC"
    );
    let mut stmt = db.conn().prepare(&sql)?;
    let candidates = stmt
        .query_map(params![repo_key, id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, bool>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let main = git::open(&repo_path)?;
    for (path, conversation, removed) in candidates {
        if Repository::open(&path).is_ok() {
            return Ok(Some(ResumeTarget::Worktree {
                path: PathBuf::from(path),
                conversation,
            }));
        }
        if removed {
            let record = removed_worktree(db.conn(), &repo_key, &conversation)?;
            if let Some(record) = record.filter(|r| can_make_again(&main, r)) {
                return Ok(Some(ResumeTarget::Removed(record)));
            }
        }
    }
    Ok(None)
}

fn can_make_again(repo: &Repository, record: &RemovedWorktree) -> bool {
    worktree::can_recreate(
        repo,
        &record.worktree_path,
        &record.worktree_name,
        &record.branch,
    ) && git2::Oid::from_str(&record.tip_commit).is_ok_and(|tip| repo.find_commit(tip).is_ok())
}

fn removed_worktree(
    conn: &Connection,
    repo_key: &str,
    conversation: &str,
) -> Result<Option<RemovedWorktree>> {
    Ok(conn
        .query_row(
            "SELECT worktree_path, worktree_name, branch, tip_commit, base_branch, base_commit
               FROM removed_conversation_worktrees
              WHERE repo_path = ?1 AND conversation_id = ?2",
            params![repo_key, conversation],
            |row| {
                Ok(RemovedWorktree {
                    repo_path: repo_key.to_owned(),
                    conversation_id: conversation.to_owned(),
                    worktree_path: PathBuf::from(row.get::<_, String>(0)?),
                    worktree_name: row.get(1)?,
                    branch: row.get(2)?,
                    tip_commit: row.get(3)?,
                    base_branch: row.get(4)?,
                    base_commit: row.get(5)?,
                })
            },
        )
        .optional()?)
}

/// What to record of a session's worktree that is about to be removed
/// because it holds nothing, so that its conversation can be resumed in it:
/// `None` when the session recorded no conversation or the worktree has no
/// name or branch of ours.
pub(super) fn before_removal(
    conn: &Connection,
    repo: &Repository,
    session: &Session,
    located: &Located,
    branch: Option<&str>,
) -> Result<Option<RemovedWorktree>> {
    let conversation: Option<String> = conn
        .query_row(
            "SELECT conversation_id FROM sessions WHERE id = ?1",
            [&session.id],
            |row| row.get(0),
        )
        .optional()?
        .flatten();
    let (Some(conversation), Some(name), Some(branch)) = (
        conversation,
        located
            .admin_name
            .clone()
            .or_else(|| session.worktree_name.clone()),
        branch,
    ) else {
        return Ok(None);
    };
    let Some(tip) = repo
        .find_branch(branch, git2::BranchType::Local)
        .ok()
        .and_then(|b| b.get().target())
    else {
        return Ok(None);
    };
    Ok(Some(RemovedWorktree {
        repo_path: session.repo_path.clone(),
        conversation_id: conversation,
        worktree_path: located.path.clone(),
        worktree_name: name,
        branch: branch.to_owned(),
        tip_commit: tip.to_string(),
        base_branch: session.base_branch.clone(),
        base_commit: session.base_commit.clone(),
    }))
}

/// How long a removed worktree of a conversation is remembered: as long as
/// Claude Code keeps a transcript by default (`cleanupPeriodDays`).
const REMEMBERED_DAYS: u32 = 30;

/// Records a removed worktree of a conversation (replacing an earlier one
/// of the same conversation), and forgets those removed longer ago than
/// [`REMEMBERED_DAYS`].
pub(super) fn remember_removed(conn: &Connection, removed: &RemovedWorktree) -> Result<()> {
    conn.execute(
        "DELETE FROM removed_conversation_worktrees WHERE removed_at < datetime('now', ?1)",
        [format!("-{REMEMBERED_DAYS} days")],
    )?;
    conn.execute(
        "INSERT OR REPLACE INTO removed_conversation_worktrees
             (repo_path, conversation_id, worktree_path, worktree_name, branch, tip_commit,
              base_branch, base_commit)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            removed.repo_path,
            removed.conversation_id,
            paths::to_db_string(&removed.worktree_path)?,
            removed.worktree_name,
            removed.branch,
            removed.tip_commit,
            removed.base_branch,
            removed.base_commit,
        ],
    )?;
    Ok(())
}

/// Forgets a removed worktree that was made again.
pub(super) fn forget_removed(conn: &Connection, repo_key: &str, conversation: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM removed_conversation_worktrees WHERE repo_path = ?1 AND conversation_id = ?2",
        params![repo_key, conversation],
    )?;
    Ok(())
}
