//! `release` and `cleanup`: a session's row goes; its worktree and branch go
//! too unless they hold work, are locked, or are not ours (a worktree the
//! user made), in which case they stay and, when ours, are recorded in
//! `kept_worktrees` with the reason. `cleanup` does this for every stale
//! session of a repository (or of one worktree, or of every repository) and
//! looks again at what was kept.

use std::path::{Path, PathBuf};

use anyhow::Result;
use git2::Repository;
use rusqlite::{params, Connection};
use serde::Serialize;

use super::resume;
use super::{
    finish_removals, guard_repository, session_by_id, sessions_where, strays, Patience, Session,
};
use crate::config::Config;
use crate::db::Database;
use crate::held_work::{self, HeldWork, SubmoduleWork, WorktreeBase};
use crate::worktree::{self, Located, Removal, Repair, RepoGuard};
use crate::{failpoint, git, paths, UserError};

/// How to name the session to release.
#[derive(Debug, Clone)]
pub enum SessionSelector {
    Pid(i64),
    Id(String),
}

/// A worktree kept because it holds work (or must stay where it is).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptWorktree {
    pub worktree_path: String,
    pub worktree_name: Option<String>,
    pub branch: Option<String>,
    pub repo_path: String,
    pub session_id: Option<String>,
    pub reason: String,
    pub uncommitted_files: usize,
    pub unmerged_commits: usize,
    /// Changed files marked assume-unchanged or skip-worktree.
    pub hidden_changes: usize,
    /// Submodules holding work of their own.
    pub submodules: Vec<SubmoduleWork>,
    /// Locked with `git worktree lock`: it stays even when forced.
    pub locked: bool,
    /// Bytes on disk, with `status --disk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_bytes: Option<u64>,
    /// The agent's conversation that worked there (Claude Code's session
    /// id): `claude-parallel --resume ID` re-enters this worktree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

/// The result of `release`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseReport {
    pub success: bool,
    pub session_id: String,
    pub pid: i64,
    pub repo_path: String,
    pub is_main_repo: bool,
    pub worktree_path: String,
    pub worktree_removed: bool,
    pub branch_deleted: bool,
    pub kept: Option<KeptWorktree>,
    /// What a dead process had left half done in the repository.
    pub repaired: Repair,
}

pub(super) struct ReleaseOutcome {
    pub removal: Option<Removal>,
    pub kept: Option<KeptWorktree>,
}

/// Ends a session: its row goes; its worktree and branch go too unless they
/// hold work (or `force` is set) or must stay, in which case they are kept
/// and recorded.
pub fn release(
    data_dir: &Path,
    selector: &SessionSelector,
    force: bool,
    patience: Patience,
) -> Result<ReleaseReport> {
    let Some(mut db) = Database::open_existing_current(data_dir)? else {
        return Err(no_session(selector));
    };
    patience.apply(&db)?;
    let found = find_for_release(db.conn(), selector)?.ok_or_else(|| no_session(selector))?;
    // A broken config file must not keep anyone from ending a session.
    let config = Config::load(data_dir).unwrap_or_default();
    let repo_path = PathBuf::from(&found.repo_path);
    let guard = guard_repository(data_dir, &mut db, &repo_path, &config, patience)?;
    // Decide on the row as it is now that we hold the lock.
    let session = session_by_id(db.conn(), &found.id)?.ok_or_else(|| no_session(selector))?;
    let repo = git::open(&repo_path).ok();
    let outcome = release_locked(&mut db, &guard, repo.as_ref(), &session, force)?;
    let repaired = guard.repaired.clone();
    drop(guard);
    finish_removals(&db, outcome.removal.as_slice());
    let removal = outcome.removal.unwrap_or_default();
    Ok(ReleaseReport {
        success: true,
        session_id: session.id,
        pid: session.pid,
        repo_path: session.repo_path,
        is_main_repo: session.is_main_repo,
        worktree_path: session.worktree_path,
        worktree_removed: removal.worktree_removed,
        branch_deleted: removal.branch_deleted,
        kept: outcome.kept,
        repaired,
    })
}

fn find_for_release(conn: &Connection, selector: &SessionSelector) -> Result<Option<Session>> {
    match selector {
        SessionSelector::Id(id) => match super::resolve_session_id(conn, id)? {
            Some(id) => session_by_id(conn, &id),
            None => Ok(None),
        },
        SessionSelector::Pid(pid) => {
            let mut found = sessions_where(
                conn,
                "WHERE pid = ?1 OR agent_pid = ?1 ORDER BY created_at DESC",
                [pid],
            )?;
            // Prefer the session of the process that is running now.
            let index = found.iter().position(Session::is_alive).unwrap_or(0);
            Ok((!found.is_empty()).then(|| found.swap_remove(index)))
        }
    }
}

fn no_session(selector: &SessionSelector) -> anyhow::Error {
    let what = match selector {
        SessionSelector::Pid(pid) => format!("no session is registered for process {pid}"),
        SessionSelector::Id(id) => format!("no session with id {id}"),
    };
    UserError::with_hint(
        what,
        "'git pcc status --all' lists the sessions; give a whole id or its first 4 or more characters",
    )
    .into()
}

/// Releases one session; the caller holds its repository's guard. `repo`
/// is the repository, `None` when it cannot be opened.
pub(super) fn release_locked(
    db: &mut Database,
    guard: &RepoGuard,
    repo: Option<&Repository>,
    session: &Session,
    force: bool,
) -> Result<ReleaseOutcome> {
    let nothing = ReleaseOutcome {
        removal: None,
        kept: None,
    };
    let repository_gone = !Path::new(&session.repo_path).exists();
    if !session.has_own_worktree() || repository_gone {
        db.conn()
            .execute("DELETE FROM sessions WHERE id = ?1", [&session.id])?;
        return Ok(nothing);
    }
    let Some(repo) = repo else {
        anyhow::bail!("cannot open repository {}", session.repo_path);
    };
    let located = worktree::locate(
        repo,
        Path::new(&session.worktree_path),
        session.worktree_name.as_deref(),
    );
    let branch = session
        .branch
        .clone()
        .or_else(|| branch_of_worktree(&located.path));
    let held = held_work::held_work(
        repo,
        &located.path,
        &WorktreeBase {
            branch: branch.as_deref(),
            ..session.base()
        },
    );
    match keep_reason(repo, &located, &held, session.base_branch.as_deref(), force) {
        Some(reason) => {
            let kept = KeptWorktree {
                worktree_path: paths::to_db_string(&located.path)?,
                worktree_name: session.worktree_name.clone(),
                branch,
                repo_path: session.repo_path.clone(),
                session_id: Some(session.id.clone()),
                locked: located.locked.is_some(),
                conversation_id: db
                    .conn()
                    .query_row(
                        "SELECT conversation_id FROM sessions WHERE id = ?1",
                        [&session.id],
                        |row| row.get(0),
                    )
                    .ok()
                    .flatten(),
                ..kept_counts(&held, reason)
            };
            db.immediate(|tx| {
                tx.execute("DELETE FROM sessions WHERE id = ?1", [&session.id])?;
                record_kept(
                    tx,
                    &kept,
                    session.base_branch.as_deref(),
                    session.base_commit.as_deref(),
                )
            })?;
            Ok(ReleaseOutcome {
                removal: None,
                kept: Some(kept),
            })
        }
        None => {
            // Its conversation can be resumed in the same place, made again.
            let resumable = if held.reason(session.base_branch.as_deref()).is_none() {
                resume::before_removal(db.conn(), repo, session, &located, branch.as_deref())?
            } else {
                None
            };
            let removal = worktree::remove(
                db,
                guard,
                repo,
                &located,
                branch.as_deref(),
                Some(&session.id),
            )?;
            if let Some(resumable) = &resumable {
                resume::remember_removed(db.conn(), resumable)?;
            }
            Ok(ReleaseOutcome {
                removal: Some(removal),
                kept: None,
            })
        }
    }
}

/// Why a worktree stays: the work it holds (unless forced), and whatever
/// keeps it in place even when forced (a lock, a directory that is not our
/// worktree any more).
pub(super) fn keep_reason(
    repo: &Repository,
    located: &Located,
    held: &HeldWork,
    base: Option<&str>,
    force: bool,
) -> Option<String> {
    let work = held.reason(base).filter(|_| !force);
    let blocker = worktree::removal_blocker(repo, located);
    match (work, blocker) {
        (Some(work), Some(blocker)) => Some(format!("{work}; {blocker}")),
        (work, blocker) => work.or(blocker),
    }
}

pub(super) fn kept_counts(held: &HeldWork, reason: String) -> KeptWorktree {
    KeptWorktree {
        worktree_path: String::new(),
        worktree_name: None,
        branch: None,
        repo_path: String::new(),
        session_id: None,
        reason,
        uncommitted_files: held.uncommitted_files,
        unmerged_commits: held.unmerged_commits,
        hidden_changes: held.hidden_changes,
        submodules: held.submodules.clone(),
        locked: false,
        disk_bytes: None,
        conversation_id: None,
    }
}

fn branch_of_worktree(path: &Path) -> Option<String> {
    git::open(path)
        .ok()
        .and_then(|repo| git::current_branch(&repo))
}

fn record_kept(
    conn: &Connection,
    kept: &KeptWorktree,
    base_branch: Option<&str>,
    base_commit: Option<&str>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO kept_worktrees (worktree_path, repo_path, worktree_name, branch, base_branch,
                                     base_commit, session_id, reason, conversation_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(worktree_path) DO UPDATE SET reason = excluded.reason, kept_at = datetime('now'),
             conversation_id = COALESCE(excluded.conversation_id, conversation_id)",
        params![
            kept.worktree_path,
            kept.repo_path,
            kept.worktree_name,
            kept.branch,
            base_branch,
            base_commit,
            kept.session_id,
            kept.reason,
            kept.conversation_id,
        ],
    )?;
    Ok(())
}

/// A row of `kept_worktrees`.
pub(super) struct KeptRecord {
    pub kept: KeptWorktree,
    pub base_branch: Option<String>,
    pub base_commit: Option<String>,
}

pub(super) fn kept_worktrees(conn: &Connection, repo_key: Option<&str>) -> Result<Vec<KeptRecord>> {
    let sql = "SELECT worktree_path, worktree_name, branch, repo_path, session_id, reason, base_branch, base_commit,
                      conversation_id
               FROM kept_worktrees WHERE ?1 IS NULL OR repo_path = ?1 ORDER BY kept_at, worktree_path";
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([repo_key], |row| {
        Ok(KeptRecord {
            kept: KeptWorktree {
                worktree_path: row.get(0)?,
                worktree_name: row.get(1)?,
                branch: row.get(2)?,
                repo_path: row.get(3)?,
                session_id: row.get(4)?,
                reason: row.get(5)?,
                uncommitted_files: 0,
                unmerged_commits: 0,
                hidden_changes: 0,
                submodules: Vec::new(),
                locked: false,
                disk_bytes: None,
                conversation_id: row.get(8)?,
            },
            base_branch: row.get(6)?,
            base_commit: row.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// A kept worktree looked at again: where it is, and why it stays now
/// (`None` when nothing keeps it, unless `force` is unset and it holds
/// work). Its counts and reason are brought up to date.
pub(super) struct Revisited {
    pub kept: KeptWorktree,
    pub located: Option<Located>,
    pub reason: Option<String>,
}

pub(super) fn revisit_kept(
    record: &KeptRecord,
    repo: Option<&Repository>,
    force: bool,
) -> Revisited {
    let mut kept = record.kept.clone();
    let Some(repo) = repo else {
        let reason = format!("its repository {} cannot be opened", kept.repo_path);
        kept.reason = reason.clone();
        return Revisited {
            kept,
            located: None,
            reason: Some(reason),
        };
    };
    let located = worktree::locate(
        repo,
        Path::new(&kept.worktree_path),
        kept.worktree_name.as_deref(),
    );
    let held = held_work::held_work(
        repo,
        &located.path,
        &WorktreeBase {
            branch: record.kept.branch.as_deref(),
            base_branch: record.base_branch.as_deref(),
            base_commit: record.base_commit.as_deref(),
        },
    );
    let reason = keep_reason(repo, &located, &held, record.base_branch.as_deref(), force);
    let counts = kept_counts(&held, reason.clone().unwrap_or_default());
    kept = KeptWorktree {
        worktree_path: kept.worktree_path,
        worktree_name: kept.worktree_name,
        branch: kept.branch,
        repo_path: kept.repo_path,
        session_id: kept.session_id,
        reason: reason.clone().unwrap_or(kept.reason),
        locked: located.locked.is_some(),
        conversation_id: kept.conversation_id,
        ..counts
    };
    Revisited {
        kept,
        located: Some(located),
        reason,
    }
}

// ---------------------------------------------------------------- cleanup

/// What `cleanup` looks at.
#[derive(Debug, Clone)]
pub enum CleanupScope {
    /// The repository containing this path.
    Repository(PathBuf),
    /// One kept worktree, or the worktree of one stale session.
    Worktree(PathBuf),
    /// Every repository in the database.
    All,
}

/// What `cleanup` did, or would do with `dry_run`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupReport {
    /// The repository cleaned up, or `all`.
    pub repo_path: String,
    pub dry_run: bool,
    pub force: bool,
    pub removed_sessions: Vec<CleanedSession>,
    pub removed_worktrees: Vec<String>,
    pub kept: Vec<KeptWorktree>,
    /// Worktrees that could not be handled; the rest were.
    pub failures: Vec<CleanupFailure>,
    /// What dead processes had left half done, now finished or undone (with
    /// `dry_run`: what would be).
    pub repaired: Repair,
}

/// A stale session that was (or would be) removed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanedSession {
    pub session_id: String,
    pub pid: i64,
    pub repo_path: String,
    pub worktree_path: String,
    pub is_main_repo: bool,
}

/// A worktree that could not be handled, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupFailure {
    pub worktree_path: String,
    pub session_id: Option<String>,
    pub error: String,
}

impl CleanupFailure {
    pub(super) fn of(session: &Session, err: &anyhow::Error) -> CleanupFailure {
        CleanupFailure {
            worktree_path: session.worktree_path.clone(),
            session_id: Some(session.id.clone()),
            error: format!("{err:#}"),
        }
    }
}

/// Removes stale sessions and their clean worktrees, looks again at kept
/// worktrees, and reports what stays and why. `force` removes held work too;
/// `dry_run` changes nothing.
pub fn cleanup(
    data_dir: &Path,
    scope: &CleanupScope,
    dry_run: bool,
    force: bool,
) -> Result<CleanupReport> {
    cleanup_with(data_dir, scope, dry_run, force, None)
}

/// [`cleanup`], also removing clean worktrees no record accounts for once
/// unused for `older_than` seconds (see `strays`); Claude Code's own
/// worktrees go when they are clean and unused, whatever their age,
/// without it.
pub fn cleanup_with(
    data_dir: &Path,
    scope: &CleanupScope,
    dry_run: bool,
    force: bool,
    older_than: Option<i64>,
) -> Result<CleanupReport> {
    let mut report = CleanupReport {
        repo_path: "all".to_owned(),
        dry_run,
        force,
        ..CleanupReport::default()
    };
    let existing = Database::open_existing_current(data_dir)?;
    let existing = match (existing, scope) {
        // Claude Code's own worktrees need no session to be cleaned up.
        (None, CleanupScope::Repository(path)) if has_claude_worktrees(path) => {
            Some(Database::open(data_dir)?)
        }
        (existing, _) => existing,
    };
    let Some(mut db) = existing else {
        if let CleanupScope::Repository(path) = scope {
            report.repo_path = paths::to_db_string(&git::resolve_repository(path)?)?;
        }
        return Ok(report);
    };
    let (repos, only) = scoped_repositories(db.conn(), scope)?;
    if !matches!(scope, CleanupScope::All) {
        report.repo_path = repos.first().cloned().unwrap_or_default();
    }
    let config = Config::load(data_dir).unwrap_or_default();
    for repo_key in repos {
        let target = Target {
            repo_key: &repo_key,
            only: only.as_deref(),
            force,
            older_than,
        };
        if dry_run {
            preview_repository(&db, &config, &target, &mut report)?;
        } else {
            clean_repository(data_dir, &mut db, &config, &target, &mut report)?;
        }
    }
    Ok(report)
}

/// One repository to clean up, possibly only one of its worktrees.
struct Target<'a> {
    repo_key: &'a str,
    only: Option<&'a str>,
    force: bool,
    /// Also stray worktrees of ours unused for this many seconds.
    older_than: Option<i64>,
}

fn has_claude_worktrees(path: &Path) -> bool {
    git::resolve_repository(path)
        .ok()
        .and_then(|repo| std::fs::read_dir(worktree::claude_worktrees_root(&repo)).ok())
        .is_some_and(|mut entries| entries.next().is_some())
}

impl Target<'_> {
    fn includes(&self, worktree_path: &str) -> bool {
        self.only.is_none_or(|only| only == worktree_path)
    }
}

/// The repositories a scope names, and the one worktree path it is limited
/// to.
fn scoped_repositories(
    conn: &Connection,
    scope: &CleanupScope,
) -> Result<(Vec<String>, Option<String>)> {
    match scope {
        CleanupScope::All => {
            let mut stmt = conn.prepare(
                "SELECT repo_path FROM sessions UNION SELECT repo_path FROM kept_worktrees
                 UNION SELECT repo_path FROM worktree_journal ORDER BY 1",
            )?;
            let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
            Ok((rows.collect::<rusqlite::Result<_>>()?, None))
        }
        CleanupScope::Repository(path) => Ok((
            vec![paths::to_db_string(&git::resolve_repository(path)?)?],
            None,
        )),
        CleanupScope::Worktree(path) => {
            let key = paths::to_db_string(&paths::canonicalize_lenient(path))?;
            let owner: Option<String> = conn
                .query_row(
                    "SELECT repo_path FROM kept_worktrees WHERE worktree_path = ?1
                     UNION SELECT repo_path FROM sessions WHERE worktree_path = ?1 AND is_main_repo = 0",
                    [&key],
                    |row| row.get(0),
                )
                .ok();
            match owner {
                Some(repo) => Ok((vec![repo], Some(key))),
                None => Err(UserError::with_hint(
                    format!("no kept worktree or session worktree at {key}"),
                    "'git pcc status' lists the kept worktrees",
                )
                .into()),
            }
        }
    }
}

fn clean_repository(
    data_dir: &Path,
    db: &mut Database,
    config: &Config,
    target: &Target,
    report: &mut CleanupReport,
) -> Result<()> {
    let repo_dir = PathBuf::from(target.repo_key);
    let guard = guard_repository(data_dir, db, &repo_dir, config, Patience::Command)?;
    merge_repair(&mut report.repaired, &guard.repaired);
    let repo = git::open(&repo_dir).ok();
    let mut removals = Vec::new();
    let sessions = sessions_where(db.conn(), "WHERE repo_path = ?1", [target.repo_key])?;
    for session in sessions {
        if !target.includes(&session.worktree_path) {
            continue;
        }
        if session.is_alive() {
            if target.only.is_some() {
                report.failures.push(CleanupFailure {
                    worktree_path: session.worktree_path.clone(),
                    session_id: Some(session.id.clone()),
                    error: format!(
                        "session {} (pid {}) is alive and works there; release it first",
                        session.id, session.pid
                    ),
                });
            }
            continue;
        }
        match release_locked(db, &guard, repo.as_ref(), &session, target.force) {
            Ok(outcome) => {
                report.removed_sessions.push(cleaned(&session));
                if let Some(removal) = outcome.removal {
                    if removal.worktree_removed {
                        report.removed_worktrees.push(session.worktree_path.clone());
                    }
                    removals.push(removal);
                }
                report.kept.extend(outcome.kept);
            }
            Err(err) => report.failures.push(CleanupFailure::of(&session, &err)),
        }
        failpoint::hit("cleanup:between-sessions");
    }
    for record in kept_worktrees(db.conn(), Some(target.repo_key))? {
        let path = record.kept.worktree_path.clone();
        if !target.includes(&path) || report.kept.iter().any(|k| k.worktree_path == path) {
            continue;
        }
        match revisit_and_remove(db, &guard, repo.as_ref(), &record, target.force) {
            Ok((_, Some(removal))) => {
                report.removed_worktrees.push(path);
                removals.push(removal);
            }
            Ok((kept, None)) => report.kept.push(kept),
            Err(err) => report.failures.push(CleanupFailure {
                worktree_path: path,
                session_id: record.kept.session_id.clone(),
                error: format!("{err:#}"),
            }),
        }
    }
    if target.only.is_none() {
        for (stray, verdict) in
            strays::strays(db, config, target.repo_key, target.older_than, target.force)?
        {
            match verdict {
                strays::Verdict::Remove(located) => {
                    match strays::remove(db, &guard, &stray, &located) {
                        Ok(removal) => {
                            report.removed_worktrees.push(stray.worktree_path.clone());
                            removals.push(removal);
                        }
                        Err(err) => report.failures.push(CleanupFailure {
                            worktree_path: stray.worktree_path.clone(),
                            session_id: None,
                            error: format!("{err:#}"),
                        }),
                    }
                }
                strays::Verdict::Keep(kept) => report.kept.push(kept),
                strays::Verdict::Skip => {}
            }
        }
    }
    drop(guard);
    finish_removals(db, &removals);
    Ok(())
}

/// Looks at a kept worktree again and removes it when nothing keeps it.
fn revisit_and_remove(
    db: &mut Database,
    guard: &RepoGuard,
    repo: Option<&Repository>,
    record: &KeptRecord,
    force: bool,
) -> Result<(KeptWorktree, Option<Removal>)> {
    let revisited = revisit_kept(record, repo, force);
    let (Some(repo), Some(located), None) = (repo, &revisited.located, &revisited.reason) else {
        db.conn().execute(
            "UPDATE kept_worktrees SET reason = ?1 WHERE worktree_path = ?2",
            [&revisited.kept.reason, &record.kept.worktree_path],
        )?;
        return Ok((revisited.kept, None));
    };
    let removal = worktree::remove(
        db,
        guard,
        repo,
        located,
        record.kept.branch.as_deref(),
        None,
    )?;
    // A kept record is keyed by its stored path; the worktree may have moved.
    db.conn().execute(
        "DELETE FROM kept_worktrees WHERE worktree_path = ?1",
        [&record.kept.worktree_path],
    )?;
    Ok((revisited.kept, Some(removal)))
}

/// What cleaning up would do, changing nothing.
fn preview_repository(
    db: &Database,
    config: &Config,
    target: &Target,
    report: &mut CleanupReport,
) -> Result<()> {
    let conn = db.conn();
    let repo = git::open(Path::new(target.repo_key)).ok();
    for entry in worktree::journal_entries(conn, Some(target.repo_key))? {
        match entry.operation.as_str() {
            "create" => report.repaired.undone.push(entry.worktree_path),
            _ => report.repaired.finished.push(entry.worktree_path),
        }
    }
    for session in sessions_where(conn, "WHERE repo_path = ?1", [target.repo_key])? {
        if !target.includes(&session.worktree_path) || session.is_alive() {
            continue;
        }
        report.removed_sessions.push(cleaned(&session));
        if !session.has_own_worktree() {
            continue;
        }
        let Some(repo) = &repo else {
            continue;
        };
        let located = worktree::locate(
            repo,
            Path::new(&session.worktree_path),
            session.worktree_name.as_deref(),
        );
        let held = held_work::held_work(repo, &located.path, &session.base());
        match keep_reason(
            repo,
            &located,
            &held,
            session.base_branch.as_deref(),
            target.force,
        ) {
            Some(reason) => report.kept.push(KeptWorktree {
                worktree_path: session.worktree_path.clone(),
                worktree_name: session.worktree_name.clone(),
                branch: session.branch.clone(),
                repo_path: session.repo_path.clone(),
                session_id: Some(session.id.clone()),
                locked: located.locked.is_some(),
                ..kept_counts(&held, reason)
            }),
            None => report.removed_worktrees.push(session.worktree_path.clone()),
        }
    }
    for record in kept_worktrees(conn, Some(target.repo_key))? {
        if !target.includes(&record.kept.worktree_path) {
            continue;
        }
        let revisited = revisit_kept(&record, repo.as_ref(), target.force);
        match revisited.reason {
            Some(_) => report.kept.push(revisited.kept),
            None => report.removed_worktrees.push(record.kept.worktree_path),
        }
    }
    if target.only.is_none() {
        for (stray, verdict) in
            strays::strays(db, config, target.repo_key, target.older_than, target.force)?
        {
            match verdict {
                strays::Verdict::Remove(_) => report.removed_worktrees.push(stray.worktree_path),
                strays::Verdict::Keep(kept) => report.kept.push(kept),
                strays::Verdict::Skip => {}
            }
        }
    }
    Ok(())
}

fn cleaned(session: &Session) -> CleanedSession {
    CleanedSession {
        session_id: session.id.clone(),
        pid: session.pid,
        repo_path: session.repo_path.clone(),
        worktree_path: session.worktree_path.clone(),
        is_main_repo: session.is_main_repo,
    }
}

fn merge_repair(into: &mut Repair, from: &Repair) {
    into.undone.extend(from.undone.iter().cloned());
    into.finished.extend(from.finished.iter().cloned());
    into.kept.extend(from.kept.iter().cloned());
    into.failed.extend(from.failed.iter().cloned());
}
