//! Which repository a stored `repo_path` names. We always store the
//! repository (its main checkout's top level); the TypeScript tool stored
//! the agent's working directory, which for a session in a worktree is the
//! worktree's path. Rows it wrote are migrated (schema 2.5.0), and readers
//! resolve what they find again, so rows it writes after the switch still
//! show up under their repository.
//!
//! A path is resolved from what the database knows first (a session's,
//! kept worktree's or journal entry's worktree path), then from git (a path
//! that still exists), then from our naming of worktrees
//! (`<repo>-worktrees/<name>` beside `<repo>`), then from the recorded
//! checkout it lies inside (the agent's working directory may have been a
//! subdirectory); a path none of these explains is left as it is.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension};

use crate::{git, paths};

/// Resolves stored paths, remembering each answer.
pub struct Resolver<'c> {
    conn: &'c Connection,
    known: HashMap<String, Option<String>>,
}

impl<'c> Resolver<'c> {
    pub fn new(conn: &'c Connection) -> Resolver<'c> {
        Resolver {
            conn,
            known: HashMap::new(),
        }
    }

    /// The repository `stored` names, `None` when nothing explains it.
    pub fn repository_of(&mut self, stored: &str) -> Option<String> {
        if let Some(found) = self.known.get(stored) {
            return found.clone();
        }
        let found = repository_of(self.conn, stored);
        self.known.insert(stored.to_owned(), found.clone());
        found
    }

    /// `stored` as its repository, or unchanged when nothing explains it.
    pub fn display(&mut self, stored: &str) -> String {
        self.repository_of(stored)
            .unwrap_or_else(|| stored.to_owned())
    }

    /// Every `repo_path` stored in `table` that names `repository`, the
    /// repository itself included: what a filter on it must match.
    pub fn aliases(&mut self, table: &str, repository: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT DISTINCT repo_path FROM {table} WHERE repo_path IS NOT NULL"
        ))?;
        let stored: Vec<String> = stmt
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut found = vec![repository.to_owned()];
        for path in stored {
            if path != repository && self.repository_of(&path).as_deref() == Some(repository) {
                found.push(path);
            }
        }
        Ok(found)
    }
}

/// The repository `stored` names, `None` when nothing explains it.
pub fn repository_of(conn: &Connection, stored: &str) -> Option<String> {
    if is_known_repository(conn, stored) {
        return Some(stored.to_owned());
    }
    if let Some(repo) = recorded_worktree(conn, stored) {
        return Some(repo);
    }
    let path = Path::new(stored);
    if path.exists() {
        if let Ok(repo) = git::resolve_repository(path) {
            return paths::to_db_string(&repo).ok();
        }
    }
    beside_worktrees_folder(path).or_else(|| inside_recorded_checkout(conn, stored))
}

/// The repository of the recorded checkout (a session's repository or
/// worktree) that `stored` lies inside: the TypeScript tool stored the
/// agent's working directory, which may be a subdirectory.
fn inside_recorded_checkout(conn: &Connection, stored: &str) -> Option<String> {
    let mut stmt = conn
        .prepare("SELECT repo_path, repo_path FROM sessions UNION SELECT worktree_path, repo_path FROM sessions")
        .ok()?;
    let checkouts: Vec<(String, String)> = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .ok()?
        .filter_map(|row| row.ok())
        .collect();
    checkouts
        .into_iter()
        .filter(|(checkout, _)| {
            stored
                .strip_prefix(checkout.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|(checkout, _)| checkout.len())
        .map(|(_, repo)| repo)
}

/// Whether a session or kept worktree names `stored` as its repository.
fn is_known_repository(conn: &Connection, stored: &str) -> bool {
    let query = |sql: &str| -> bool {
        conn.query_row(sql, [stored], |_| Ok(()))
            .optional()
            .ok()
            .flatten()
            .is_some()
    };
    query("SELECT 1 FROM sessions WHERE repo_path = ?1 LIMIT 1")
        || (table_exists(conn, "kept_worktrees")
            && query("SELECT 1 FROM kept_worktrees WHERE repo_path = ?1 LIMIT 1"))
}

/// The repository of the worktree `stored`, as a session, a kept worktree
/// or the worktree journal recorded it.
fn recorded_worktree(conn: &Connection, stored: &str) -> Option<String> {
    let mut sources = vec!["SELECT repo_path FROM sessions WHERE worktree_path = ?1 LIMIT 1"];
    if table_exists(conn, "kept_worktrees") {
        sources.push("SELECT repo_path FROM kept_worktrees WHERE worktree_path = ?1 LIMIT 1");
    }
    if table_exists(conn, "worktree_journal") {
        sources.push("SELECT repo_path FROM worktree_journal WHERE worktree_path = ?1 LIMIT 1");
    }
    sources.into_iter().find_map(|sql| {
        conn.query_row(sql, [stored], |row| row.get::<_, String>(0))
            .optional()
            .ok()
            .flatten()
    })
}

/// `<dir>/<repo>-worktrees/<name>` names `<dir>/<repo>` when that is a
/// repository (the worktree itself may be gone).
fn beside_worktrees_folder(path: &Path) -> Option<String> {
    let folder = path.parent()?;
    let repo_name = folder.file_name()?.to_str()?.strip_suffix("-worktrees")?;
    let candidate = folder.parent()?.join(repo_name);
    if !candidate.exists() {
        return None;
    }
    let repo = git::resolve_repository(&candidate).ok()?;
    paths::to_db_string(&repo).ok()
}

fn table_exists(conn: &Connection, table: &str) -> bool {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |_| Ok(()),
    )
    .optional()
    .ok()
    .flatten()
    .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE sessions (repo_path TEXT, worktree_path TEXT);
             INSERT INTO sessions VALUES ('/r/app', '/r/app-worktrees/one');",
        )
        .unwrap();
        conn
    }

    #[test]
    fn a_recorded_worktree_names_its_repository() {
        let conn = database();
        assert_eq!(
            repository_of(&conn, "/r/app-worktrees/one").as_deref(),
            Some("/r/app")
        );
        assert_eq!(repository_of(&conn, "/r/app").as_deref(), Some("/r/app"));
        assert_eq!(repository_of(&conn, "/nowhere/else"), None);
        // A working directory inside a checkout that is gone.
        assert_eq!(
            repository_of(&conn, "/r/app-worktrees/one/src").as_deref(),
            Some("/r/app")
        );
        assert_eq!(
            repository_of(&conn, "/r/app/src").as_deref(),
            Some("/r/app")
        );
        assert_eq!(repository_of(&conn, "/r/application"), None);
    }

    #[test]
    fn aliases_hold_the_repository_and_its_worktrees() {
        let conn = database();
        conn.execute_batch(
            "CREATE TABLE notes (repo_path TEXT);
             INSERT INTO notes VALUES ('/r/app'), ('/r/app-worktrees/one'), ('/r/other');",
        )
        .unwrap();
        let mut resolver = Resolver::new(&conn);
        assert_eq!(
            resolver.aliases("notes", "/r/app").unwrap(),
            ["/r/app", "/r/app-worktrees/one"]
        );
        assert_eq!(resolver.display("/r/other"), "/r/other");
    }
}
