//! `register`: a new session takes the checkout its path is in when no live
//! session works there (the main checkout, a worktree the user made, or one
//! of ours that a dead session or a release left), else a new worktree of
//! its own. Stale sessions of the repository are released first; one that
//! cannot be is reported and the registration goes on.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rusqlite::{params, Connection};
use serde::Serialize;

use super::release::{self, CleanupFailure};
use super::resume::{self, RemovedWorktree};
use super::{count_sessions, finish_removals, guard_repository, sessions_where, Patience, Session};
use crate::config::Config;
use crate::db::Database;
use crate::worktree::base::{self, BaseSpec};
use crate::worktree::{self, NewWorktree, Repair, RepoGuard, Start};
use crate::{failpoint, git, paths, process, UserError};

/// The result of `register`, with the seed's JSON field names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    pub session_id: String,
    pub worktree_path: String,
    pub worktree_name: Option<String>,
    pub is_new: bool,
    pub is_main_repo: bool,
    pub parallel_sessions: i64,
    pub repo_path: String,
    pub branch: Option<String>,
    pub copied_files: Vec<String>,
    /// Ignored directories linked from the main checkout
    /// (`worktree.symlink`).
    pub linked_directories: Vec<String>,
    pub setup_failures: Vec<worktree::SetupFailure>,
    pub cleaned_sessions: Vec<String>,
    /// Stale sessions whose worktree could not be handled (the rest were).
    pub cleanup_failures: Vec<CleanupFailure>,
    /// What a dead process had left half done, now finished or undone.
    pub repaired: Repair,
    /// The base a new worktree started from (`origin/main`, a ref), when
    /// not the main checkout's HEAD.
    pub base: Option<String>,
    /// Things the user should know that did not stop the registration (a
    /// fetch for a `fresh` base that failed).
    pub warnings: Vec<String>,
    /// The conversation whose worktree the session re-entered
    /// (`register --resume`, `--continue`).
    pub resumed: Option<String>,
    /// Whether that worktree was made again: it held nothing and went when
    /// the conversation's session ended.
    pub recreated: bool,
    /// The agent profile the session runs, when the caller named one.
    pub agent: Option<String>,
}

/// Where a new session should work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The checkout the path is in when it is free, else a new worktree.
    Auto,
    /// Always a new worktree, named after `name` when it is free.
    Worktree { name: Option<String> },
    /// The checkout the path is in (the main checkout or a linked
    /// worktree); an error when another live session works there.
    CurrentCheckoutOnly,
    /// The worktree of a resumed conversation, made again where it was.
    Recreate(RemovedWorktree),
}

/// Registers the process `pid` as a session in the repository containing
/// `repo`. Registering a PID again returns its existing session.
pub fn register(data_dir: &Path, repo: &Path, pid: i64) -> Result<Registration> {
    register_with(data_dir, repo, pid, &Placement::Auto, Patience::Command)
}

/// [`register`] with a choice of where the session works and how long to
/// wait for a repository another process is changing.
pub fn register_with(
    data_dir: &Path,
    repo: &Path,
    pid: i64,
    placement: &Placement,
    patience: Patience,
) -> Result<Registration> {
    let request = Request {
        placement,
        patience,
        base: None,
        agent: None,
        config: None,
    };
    register_from(data_dir, repo, pid, &request)
}

/// How a session asks to be registered.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub placement: &'a Placement,
    pub patience: Patience,
    /// The base a new worktree starts from (`head`, `fresh` or a ref;
    /// `None`: `$PARALLEL_CC_BASE`, else config `worktree.base`).
    pub base: Option<&'a str>,
    /// The agent profile the session runs, written with the session's row.
    pub agent: Option<&'a str>,
    /// The settings, when the caller read them already (`None`: read here).
    pub config: Option<&'a Config>,
}

/// [`register_with`] with every choice of a [`Request`].
pub fn register_from(
    data_dir: &Path,
    repo: &Path,
    pid: i64,
    request: &Request<'_>,
) -> Result<Registration> {
    let Request {
        placement,
        patience,
        base,
        agent,
        config,
    } = *request;
    ensure_running(pid)?;
    let checkout = git::resolve_checkout(repo)?;
    let mut db = Database::open(data_dir)?;
    patience.apply(&db)?;
    let config = match config {
        Some(config) => config.for_repository(&checkout.repo_path),
        None => Config::load(data_dir)?.for_repository(&checkout.repo_path),
    };
    let base = BaseSpec::choose(base, &config);
    let guard = guard_repository(data_dir, &mut db, &checkout.repo_path, &config, patience)?;
    // One agent may ask for several worktrees (one per subagent).
    if !matches!(placement, Placement::Worktree { .. }) {
        if let Some(existing) = live_session_of_pid(db.conn(), pid)? {
            return already_registered(&db, existing, guard.repaired.clone());
        }
    }
    let stale = release_stale(&mut db, &guard, &checkout)?;
    let place = choose_place(&db, &guard, &checkout, placement, stale.taken_over.as_ref())?;
    let arrival = arrive(&db, &guard, &config, place, &base)?;
    let session_id = uuid::Uuid::new_v4().to_string();
    let row = SessionRow {
        id: &session_id,
        pid,
        repo_key: guard.repo_key(),
        agent,
    };
    let parallel = match record(&mut db, &row, &arrival) {
        Ok(count) => count,
        Err(err) => {
            if let Some(created) = arrival.created {
                created.abandon(&db, &guard);
            }
            return Err(err.context("cannot record the session"));
        }
    };
    failpoint::hit("register:after-session");
    let repaired = guard.repaired.clone();
    let repo_key = guard.repo_key().to_owned();
    drop(guard);
    finish_removals(&db, &stale.removals);

    let mut registration = Registration {
        session_id: session_id.clone(),
        worktree_path: paths::to_db_string(&arrival.path)?,
        worktree_name: arrival.name.clone(),
        is_new: true,
        is_main_repo: arrival.is_main,
        parallel_sessions: parallel,
        repo_path: repo_key,
        branch: arrival.branch.clone(),
        copied_files: Vec::new(),
        linked_directories: Vec::new(),
        setup_failures: Vec::new(),
        cleaned_sessions: stale.cleaned,
        cleanup_failures: stale.failures,
        repaired,
        base: arrival.base_name.clone(),
        warnings: arrival.warning.clone().into_iter().collect(),
        resumed: None,
        recreated: arrival.recreated_for.is_some(),
        agent: agent.map(str::to_owned),
    };
    if let Some(created) = &arrival.created {
        registration.copied_files =
            worktree::copy_included_files(&checkout.repo_path, &created.path, &config)?;
        registration.linked_directories =
            worktree::link_shared_directories(&checkout.repo_path, &created.path, &config)?;
        let log_path = paths::logs_dir(data_dir).join(format!("session-{session_id}.log"));
        registration.setup_failures =
            worktree::run_setup(&created.path, &config.setup_commands(), &log_path);
    }
    Ok(registration)
}

fn ensure_running(pid: i64) -> Result<()> {
    if process::is_alive(pid) {
        return Ok(());
    }
    Err(UserError::with_hint(
        format!("process {pid} is not running"),
        "pass the PID of the agent's process (the wrapper uses its own, $$)",
    )
    .into())
}

fn live_session_of_pid(conn: &Connection, pid: i64) -> Result<Option<Session>> {
    Ok(sessions_where(
        conn,
        "WHERE pid = ?1 OR agent_pid = ?1 ORDER BY created_at",
        [pid],
    )?
    .into_iter()
    .find(Session::is_alive))
}

fn already_registered(db: &Database, existing: Session, repaired: Repair) -> Result<Registration> {
    let parallel = count_sessions(db.conn(), &existing.repo_path)?;
    Ok(Registration {
        session_id: existing.id,
        worktree_path: existing.worktree_path,
        worktree_name: existing.worktree_name,
        is_new: false,
        is_main_repo: existing.is_main_repo,
        parallel_sessions: parallel,
        repo_path: existing.repo_path,
        branch: existing.branch,
        copied_files: Vec::new(),
        linked_directories: Vec::new(),
        setup_failures: Vec::new(),
        cleaned_sessions: Vec::new(),
        cleanup_failures: Vec::new(),
        repaired,
        base: None,
        warnings: Vec::new(),
        resumed: None,
        recreated: false,
        agent: existing.agent,
    })
}

/// What releasing the repository's stale sessions did.
struct Stale {
    cleaned: Vec<String>,
    removals: Vec<worktree::Removal>,
    failures: Vec<CleanupFailure>,
    /// A dead session whose worktree the new session is about to work in:
    /// its row went, its worktree stays for the newcomer.
    taken_over: Option<Session>,
}

fn release_stale(db: &mut Database, guard: &RepoGuard, checkout: &git::Checkout) -> Result<Stale> {
    let mut stale = Stale {
        cleaned: Vec::new(),
        removals: Vec::new(),
        failures: Vec::new(),
        taken_over: None,
    };
    let sessions = sessions_where(db.conn(), "WHERE repo_path = ?1", [guard.repo_key()])?;
    let repo = git::open(guard.repo_path()).ok();
    for session in sessions.into_iter().filter(|s| !s.is_alive()) {
        if checkout.is_linked()
            && !session.is_main_repo
            && Path::new(&session.worktree_path) == checkout.top
        {
            db.conn()
                .execute("DELETE FROM sessions WHERE id = ?1", [&session.id])?;
            stale.cleaned.push(session.id.clone());
            stale.taken_over = Some(session);
            continue;
        }
        match release::release_locked(db, guard, repo.as_ref(), &session, false) {
            Ok(outcome) => {
                stale.removals.extend(outcome.removal);
                stale.cleaned.push(session.id);
            }
            Err(err) => stale.failures.push(CleanupFailure::of(&session, &err)),
        }
    }
    Ok(stale)
}

/// Where the new session will work.
enum Place {
    Main,
    Existing(Existing),
    New { name: Option<String> },
    Recreate(RemovedWorktree),
}

/// A linked worktree that already exists.
struct Existing {
    path: PathBuf,
    name: Option<String>,
    branch: Option<String>,
    base_branch: Option<String>,
    base_commit: Option<String>,
    /// Ours to remove when it is released (we made it).
    owned: bool,
    /// Its kept-worktree record, which the session replaces.
    was_kept: bool,
}

fn choose_place(
    db: &Database,
    guard: &RepoGuard,
    checkout: &git::Checkout,
    placement: &Placement,
    taken_over: Option<&Session>,
) -> Result<Place> {
    match placement {
        Placement::Worktree { name } => return Ok(Place::New { name: name.clone() }),
        Placement::Recreate(removed) => return Ok(Place::Recreate(removed.clone())),
        _ => {}
    }
    let live: Vec<Session> = sessions_where(db.conn(), "WHERE repo_path = ?1", [guard.repo_key()])?
        .into_iter()
        .filter(Session::is_alive)
        .collect();
    let holder = live.iter().find(|s| {
        if checkout.is_linked() {
            !s.is_main_repo && Path::new(&s.worktree_path) == checkout.top
        } else {
            s.is_main_repo
        }
    });
    match (holder, placement) {
        (Some(holder), Placement::CurrentCheckoutOnly) => {
            let place = if checkout.is_linked() {
                format!("the worktree {}", checkout.top.display())
            } else {
                format!("the main checkout of {}", guard.repo_key())
            };
            Err(UserError::new(format!(
                "another session (pid {}) works in {place}",
                holder.pid
            ))
            .into())
        }
        (Some(_), _) => Ok(Place::New { name: None }),
        (None, _) if checkout.is_linked() => Ok(Place::Existing(existing_worktree(
            db.conn(),
            guard,
            checkout,
            taken_over,
        )?)),
        (None, _) => Ok(Place::Main),
    }
}

/// What is known of a linked worktree a session is about to work in: ours
/// when a kept record or a dead session had it, else the user's.
fn existing_worktree(
    conn: &Connection,
    guard: &RepoGuard,
    checkout: &git::Checkout,
    taken_over: Option<&Session>,
) -> Result<Existing> {
    let path_key = paths::to_db_string(&checkout.top)?;
    let kept = conn
        .query_row(
            "SELECT worktree_name, branch, base_branch, base_commit FROM kept_worktrees
             WHERE worktree_path = ?1",
            [&path_key],
            |row| {
                Ok(Existing {
                    path: checkout.top.clone(),
                    name: row.get(0)?,
                    branch: row.get(1)?,
                    base_branch: row.get(2)?,
                    base_commit: row.get(3)?,
                    owned: true,
                    was_kept: true,
                })
            },
        )
        .ok();
    if let Some(kept) = kept {
        return Ok(kept);
    }
    if let Some(dead) = taken_over {
        return Ok(Existing {
            path: checkout.top.clone(),
            name: dead.worktree_name.clone(),
            branch: dead.branch.clone(),
            base_branch: dead.base_branch.clone(),
            base_commit: dead.base_commit.clone(),
            owned: dead.owns_worktree,
            was_kept: false,
        });
    }
    let main = git::open(guard.repo_path())?;
    let here = git::open(&checkout.top)?;
    let base_commit = match (
        here.head().ok().and_then(|h| h.target()),
        main.head().ok().and_then(|h| h.target()),
    ) {
        (Some(ours), Some(theirs)) => main.merge_base(ours, theirs).ok().map(|c| c.to_string()),
        _ => None,
    };
    Ok(Existing {
        path: checkout.top.clone(),
        name: checkout.linked_name.clone(),
        branch: git::current_branch(&here),
        base_branch: git::current_branch(&main),
        base_commit,
        owned: false,
        was_kept: false,
    })
}

/// The checkout a new session works in, made ready.
struct Arrival {
    path: PathBuf,
    name: Option<String>,
    is_main: bool,
    branch: Option<String>,
    base_branch: Option<String>,
    base_commit: Option<String>,
    owns_worktree: bool,
    replaces_kept: bool,
    created: Option<NewWorktree>,
    /// The base a new worktree started from, when not HEAD.
    base_name: Option<String>,
    warning: Option<String>,
    /// The conversation whose removed worktree was made again.
    recreated_for: Option<String>,
}

fn arrive(
    db: &Database,
    guard: &RepoGuard,
    config: &Config,
    place: Place,
    base: &BaseSpec,
) -> Result<Arrival> {
    Ok(match place {
        Place::Main => Arrival {
            path: guard.repo_path().to_path_buf(),
            name: None,
            is_main: true,
            branch: git::open(guard.repo_path())
                .ok()
                .and_then(|r| git::head_branch_name(&r)),
            base_branch: None,
            base_commit: None,
            owns_worktree: true,
            replaces_kept: false,
            created: None,
            base_name: None,
            warning: None,
            recreated_for: None,
        },
        Place::Existing(existing) => Arrival {
            path: existing.path,
            name: existing.name,
            is_main: false,
            branch: existing.branch,
            base_branch: existing.base_branch,
            base_commit: existing.base_commit,
            owns_worktree: existing.owned,
            replaces_kept: existing.was_kept,
            created: None,
            base_name: None,
            warning: None,
            recreated_for: None,
        },
        Place::New { name } => {
            let resolved = base::resolve(guard.repo_path(), base)?;
            let start = resolved
                .as_ref()
                .map_or(Start::Head, |b| Start::Commit(b.commit));
            let mut created = worktree::create(db, guard, config, name.as_deref(), start)?;
            if let Some(resolved) = &resolved {
                created.base_branch = resolved.branch.clone();
            }
            Arrival {
                path: created.path.clone(),
                name: Some(created.name.clone()),
                is_main: false,
                branch: Some(created.branch.clone()),
                base_branch: created.base_branch.clone(),
                base_commit: Some(created.base_commit.clone()),
                owns_worktree: true,
                replaces_kept: false,
                created: Some(created),
                base_name: resolved.as_ref().and_then(|b| b.branch.clone()),
                warning: resolved.and_then(|b| b.warning),
                recreated_for: None,
            }
        }
        Place::Recreate(removed) => {
            let tip = git2::Oid::from_str(&removed.tip_commit)?;
            let created = worktree::recreate(
                db,
                guard,
                config,
                &removed.worktree_path,
                &removed.worktree_name,
                &removed.branch,
                tip,
            )?;
            Arrival {
                path: created.path.clone(),
                name: Some(created.name.clone()),
                is_main: false,
                branch: Some(created.branch.clone()),
                base_branch: removed.base_branch.or(created.base_branch.clone()),
                base_commit: removed.base_commit.or(Some(created.base_commit.clone())),
                owns_worktree: true,
                replaces_kept: false,
                created: Some(created),
                base_name: None,
                warning: None,
                recreated_for: Some(removed.conversation_id),
            }
        }
    })
}

/// Writes the session row, settling the worktree's creation (or replacing
/// its kept record) in the same transaction; returns the number of sessions
/// of the repository.
/// Who a new session's row is for.
struct SessionRow<'a> {
    id: &'a str,
    pid: i64,
    repo_key: &'a str,
    agent: Option<&'a str>,
}

fn record(db: &mut Database, row: &SessionRow<'_>, arrival: &Arrival) -> Result<i64> {
    let process_start = process::start_time(row.pid).map(|t| t as i64);
    let path = paths::to_db_string(&arrival.path)?;
    let repo_key = row.repo_key;
    db.immediate(|tx| {
        tx.execute(
            "INSERT INTO sessions (id, pid, repo_path, worktree_path, worktree_name, is_main_repo,
                                   branch, base_branch, base_commit, process_start, owns_worktree,
                                   agent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                row.id,
                row.pid,
                repo_key,
                path,
                arrival.name,
                arrival.is_main,
                arrival.branch,
                arrival.base_branch,
                arrival.base_commit,
                process_start,
                arrival.owns_worktree,
                row.agent,
            ],
        )?;
        if let Some(created) = &arrival.created {
            created.settle(tx)?;
        }
        if let Some(conversation) = &arrival.recreated_for {
            resume::forget_removed(tx, repo_key, conversation)?;
        }
        if arrival.replaces_kept {
            tx.execute(
                "DELETE FROM kept_worktrees WHERE worktree_path = ?1",
                [&path],
            )?;
        }
        count_sessions(tx, repo_key)
    })
}
