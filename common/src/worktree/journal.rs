//! The worktree journal (table `worktree_journal`): each creation and
//! removal of a worktree is written here before the filesystem changes, and
//! settled in the transaction that records its outcome. Creations and
//! removals happen only under the repository's lock, so an entry found by
//! whoever holds that lock was left by a process that died; [`repair`]
//! then finishes or undoes it:
//!
//! - `create`: undone. The worktree never belonged to anyone (the session
//!   row is written in the transaction that settles the entry), so its
//!   directory, registration and branch (while it still points where the
//!   creation started it) go.
//! - `remove`: if the directory was not moved away yet, nothing happened and
//!   the entry is dropped (the owner's row stays, to be decided again);
//!   otherwise the removal is finished: registration, branch, the session
//!   and kept-worktree rows that owned it, then the trash.
//! - `purge`: the outcome is recorded and only the trash is left to delete
//!   (also done outside the lock, by the process that removed it).

use std::path::Path;

use anyhow::Result;
use git2::{Oid, Repository};
use rusqlite::{params, Connection, Transaction};
use serde::Serialize;

use crate::db::Database;

/// What taking a repository's lock repaired.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Repair {
    /// Worktrees whose creation was interrupted and is now undone.
    pub undone: Vec<String>,
    /// Worktrees whose removal was interrupted and is now finished.
    pub finished: Vec<String>,
    /// Worktrees whose creation was interrupted but whose branch someone
    /// committed on since: kept, with that reason, instead of undone.
    pub kept: Vec<String>,
    /// Entries that could not be repaired; they stay for the next try and
    /// `doctor` lists them.
    pub failed: Vec<RepairFailure>,
}

impl Repair {
    pub fn is_empty(&self) -> bool {
        self.undone.is_empty()
            && self.finished.is_empty()
            && self.kept.is_empty()
            && self.failed.is_empty()
    }
}

/// An interrupted step that could not be repaired.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairFailure {
    pub operation: String,
    pub worktree_path: String,
    pub error: String,
}

/// A journal entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub repo_path: String,
    pub operation: String,
    pub worktree_path: String,
    pub worktree_name: Option<String>,
    pub branch: Option<String>,
    pub branch_tip: Option<String>,
    pub trash_path: Option<String>,
    pub session_id: Option<String>,
    pub pid: i64,
    pub started_at: String,
}

/// Records that a worktree is about to be created.
pub(super) fn record_create(
    conn: &Connection,
    repo_key: &str,
    path: &Path,
    name: &str,
    branch: &str,
    tip: Oid,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO worktree_journal (repo_path, operation, worktree_path, worktree_name, branch,
                                       branch_tip, pid)
         VALUES (?1, 'create', ?2, ?3, ?4, ?5, ?6)",
        params![
            repo_key,
            path.to_string_lossy(),
            name,
            branch,
            tip.to_string(),
            i64::from(std::process::id())
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// A removal about to begin.
pub(super) struct Removing<'a> {
    pub path: &'a Path,
    pub name: Option<&'a str>,
    /// The branch to delete, if it may be deleted, and the tip it must
    /// still have then.
    pub branch: Option<&'a str>,
    pub branch_tip: Option<Oid>,
    pub trash: Option<&'a Path>,
    pub session_id: Option<&'a str>,
}

/// Records that a worktree is about to be removed.
pub(super) fn record_remove(conn: &Connection, repo_key: &str, removing: &Removing) -> Result<i64> {
    conn.execute(
        "INSERT INTO worktree_journal (repo_path, operation, worktree_path, worktree_name, branch,
                                       branch_tip, trash_path, session_id, pid)
         VALUES (?1, 'remove', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            repo_key,
            removing.path.to_string_lossy(),
            removing.name,
            removing.branch,
            removing.branch_tip.map(|t| t.to_string()),
            removing.trash.map(|t| t.to_string_lossy().into_owned()),
            removing.session_id,
            i64::from(std::process::id())
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Ends the rows that owned a removed worktree and leaves only its trash to
/// delete.
pub(super) fn conclude_removal(
    tx: &Transaction,
    id: i64,
    path: &Path,
    session_id: Option<&str>,
) -> Result<()> {
    if let Some(session_id) = session_id {
        tx.execute("DELETE FROM sessions WHERE id = ?1", [session_id])?;
    }
    tx.execute(
        "DELETE FROM kept_worktrees WHERE worktree_path = ?1",
        [path.to_string_lossy()],
    )?;
    tx.execute(
        "UPDATE worktree_journal SET operation = 'purge' WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

/// Deletes a finished entry.
pub(super) fn settle(conn: &Connection, id: i64) -> Result<()> {
    conn.execute("DELETE FROM worktree_journal WHERE id = ?1", [id])?;
    Ok(())
}

/// The entries of one repository (every repository: `None`), oldest first.
pub fn entries(conn: &Connection, repo_key: Option<&str>) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, repo_path, operation, worktree_path, worktree_name, branch, branch_tip, trash_path,
                session_id, pid, started_at
         FROM worktree_journal WHERE ?1 IS NULL OR repo_path = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([repo_key], |row| {
        Ok(Entry {
            id: row.get(0)?,
            repo_path: row.get(1)?,
            operation: row.get(2)?,
            worktree_path: row.get(3)?,
            worktree_name: row.get(4)?,
            branch: row.get(5)?,
            branch_tip: row.get(6)?,
            trash_path: row.get(7)?,
            session_id: row.get(8)?,
            pid: row.get(9)?,
            started_at: row.get(10)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Finishes or undoes every entry of the repository; the caller holds its
/// lock. Entries that cannot be repaired are reported and kept.
pub(super) fn repair(db: &mut Database, repo_path: &Path, repo_key: &str) -> Result<Repair> {
    let mut report = Repair::default();
    let pending = entries(db.conn(), Some(repo_key))?;
    if pending.is_empty() {
        return Ok(report);
    }
    let repo = Repository::open(repo_path).ok();
    for entry in pending {
        let outcome = match entry.operation.as_str() {
            "create" => undo_create(db, repo.as_ref(), &entry),
            "remove" => finish_remove(db, repo.as_ref(), &entry).map(|()| Repaired::Finished),
            _ => purge(db.conn(), &entry).map(|()| Repaired::Finished),
        };
        let path = entry.worktree_path.clone();
        match outcome {
            Ok(Repaired::Undone) => report.undone.push(path),
            Ok(Repaired::Finished) => report.finished.push(path),
            Ok(Repaired::Kept) => report.kept.push(path),
            Err(err) => report.failed.push(RepairFailure {
                operation: entry.operation.clone(),
                worktree_path: path,
                error: format!("{err:#}"),
            }),
        }
    }
    Ok(report)
}

/// How one entry was repaired.
enum Repaired {
    Undone,
    Finished,
    Kept,
}

fn undo_create(db: &Database, repo: Option<&Repository>, entry: &Entry) -> Result<Repaired> {
    let tip = entry
        .branch_tip
        .as_deref()
        .and_then(|t| Oid::from_str(t).ok());
    let undone = super::undo_creation(
        repo,
        Path::new(&entry.worktree_path),
        entry.worktree_name.as_deref().unwrap_or_default(),
        entry.branch.as_deref().unwrap_or_default(),
        tip,
    )?;
    if undone == super::Undone::BranchMoved {
        db.conn().execute(
            "INSERT INTO kept_worktrees (worktree_path, repo_path, worktree_name, branch, base_commit, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, 'its creation was interrupted, and its branch has commits since')
             ON CONFLICT(worktree_path) DO NOTHING",
            params![
                entry.worktree_path,
                entry.repo_path,
                entry.worktree_name,
                entry.branch,
                entry.branch_tip
            ],
        )?;
    }
    settle(db.conn(), entry.id)?;
    Ok(match undone {
        super::Undone::Removed => Repaired::Undone,
        super::Undone::BranchMoved => Repaired::Kept,
    })
}

fn finish_remove(db: &mut Database, repo: Option<&Repository>, entry: &Entry) -> Result<()> {
    let path = Path::new(&entry.worktree_path);
    let trash = entry.trash_path.as_deref().map(Path::new);
    let moved_away = trash.is_some_and(|t| t.exists()) || std::fs::symlink_metadata(path).is_err();
    if !moved_away {
        // Killed before anything changed: the owner's row decides again.
        return settle(db.conn(), entry.id);
    }
    if let Some(repo) = repo {
        if let Some(name) = &entry.worktree_name {
            super::unregister(repo, name, path)?;
        }
        let tip = entry
            .branch_tip
            .as_deref()
            .and_then(|t| Oid::from_str(t).ok());
        if let (Some(branch), Some(tip)) = (&entry.branch, tip) {
            super::delete_branch_at(repo, branch, tip)?;
        }
    }
    db.immediate(|tx| conclude_removal(tx, entry.id, path, entry.session_id.as_deref()))?;
    purge(db.conn(), entry)
}

fn purge(conn: &Connection, entry: &Entry) -> Result<()> {
    if let Some(trash) = &entry.trash_path {
        let trash = Path::new(trash);
        if std::fs::symlink_metadata(trash).is_ok() {
            std::fs::remove_dir_all(trash)?;
        }
    }
    settle(conn, entry.id)
}
