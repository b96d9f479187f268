//! The data of one frame of `git pcc top`: a [`Snapshot`] gathered once per
//! refresh. Sessions come grouped by repository, those waiting for their
//! user first; each live session's checkout is scanned once (see
//! [`conflicts::capture_checkouts`]) and that one scan gives both its row's
//! changed files and its side in the repository's conflict matrix, so a
//! refresh costs less than `status` and `conflicts --predict` run apart.
//! Beside them: the claims held, recent merges and the sandbox runs going
//! on. Between refreshes a [`Memory`] keeps each pair's conflicts by the
//! states merged, so only pairs with a side that changed are merged again.
//! Nothing here writes to a worktree; the only database writes are the
//! ones reading claims and runs already make (retiring expired claims,
//! settling runs whose process is gone).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result};
use git2::{DiffFormat, DiffOptions, Repository};
use rayon::prelude::*;
use serde::Serialize;

use crate::claims::{self, Claim, ClaimFilter};
use crate::config::Config;
use crate::conflicts::{self, MatrixMemory, PairConflicts, Participant};
use crate::db::Database;
use crate::held_work::{self, WorktreeBase};
use crate::merge::{self, MergeEvent};
use crate::sandbox::runs;
use crate::session::{self, Session};
use crate::{git, paths, time};

/// How many merge events a frame shows at most.
pub const RECENT_MERGES: i64 = 10;

/// One frame's data.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The repository shown, or `all`.
    pub repo_path: String,
    /// When it was gathered (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub taken_at: String,
    pub repositories: Vec<RepositoryView>,
    pub total_sessions: usize,
    pub waiting_sessions: usize,
    /// Active claims, newest first.
    pub claims: Vec<ClaimView>,
    /// Merge events, newest first.
    pub merges: Vec<MergeEvent>,
    /// Sandbox runs that have not ended, newest first.
    pub sandbox_runs: Vec<RunView>,
}

/// One repository's sessions and their conflict matrix.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryView {
    pub repo_path: String,
    /// Waiting sessions first, then the others oldest first.
    pub sessions: Vec<SessionRow>,
    /// Every pair of live sessions.
    pub pairs: Vec<PairConflicts>,
    /// Each live worktree session against the branch it will merge into.
    pub against_target: Vec<PairConflicts>,
    /// Why the matrix could not be computed, when it could not.
    pub error: Option<String>,
}

/// One session's row.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    pub session_id: String,
    /// The agent profile it runs (`claude`, `codex`, ...).
    pub agent: String,
    pub pid: i64,
    pub repo_path: String,
    pub worktree_path: String,
    pub worktree_name: Option<String>,
    pub branch: Option<String>,
    /// The branch (or commit) its work is compared with.
    pub base: Option<String>,
    pub is_main_repo: bool,
    pub is_alive: bool,
    /// As `status` shows it: `working`, `waiting`, `idle`, `compacting`,
    /// `ended`, `idle?`, or `null` before the first hook.
    pub state: Option<String>,
    pub state_since: Option<String>,
    /// Whole minutes in the state.
    pub state_minutes: Option<i64>,
    pub waiting_for: Option<String>,
    pub last_message: Option<String>,
    /// Whole minutes since it registered.
    pub age_minutes: i64,
    pub ahead: Option<usize>,
    pub behind: Option<usize>,
    /// Files `git status` shows in its checkout (live sessions).
    pub changed_files: Option<usize>,
    /// Conflicting files with the other live sessions, from this frame's
    /// matrix (live sessions).
    pub conflicts: Option<usize>,
}

impl SessionRow {
    /// Whether the session waits for its user.
    pub fn is_waiting(&self) -> bool {
        self.state.as_deref() == Some("waiting")
    }
}

/// A claim as a frame shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimView {
    pub claim_id: String,
    pub session_id: String,
    pub repo_path: String,
    pub file_path: String,
    pub mode: String,
    pub expires_at: String,
}

/// A sandbox run going on.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub session_id: String,
    pub repo_path: String,
    pub backend: String,
    pub status: String,
    /// The task's number in a `--multi` batch.
    pub task_index: Option<i64>,
    /// The first line of its prompt.
    pub prompt: String,
    /// Whole minutes since it started (or was created, while queued).
    pub elapsed_minutes: i64,
    /// The agent's last step.
    pub last_activity: Option<String>,
    pub agent_cost: Option<f64>,
}

/// What one refresh keeps for the next, per repository: the conflict
/// checks of pairs of states, so the live view merges again only the pairs
/// where a side changed.
#[derive(Debug, Default)]
pub struct Memory {
    matrices: HashMap<String, MatrixMemory>,
}

/// Gathers one frame for the repository around `repo` (`None`: every
/// repository).
pub fn snapshot(data_dir: &Path, repo: Option<&Path>) -> Result<Snapshot> {
    snapshot_remembering(data_dir, repo, &mut Memory::default())
}

/// [`snapshot`], reusing and updating what earlier refreshes found.
pub fn snapshot_remembering(
    data_dir: &Path,
    repo: Option<&Path>,
    memory: &mut Memory,
) -> Result<Snapshot> {
    let repo_key = match repo {
        Some(path) => Some(paths::to_db_string(&git::resolve_repository(path)?)?),
        None => None,
    };
    let now = time::unix_now();
    let mut frame = Snapshot {
        repo_path: repo_key.clone().unwrap_or_else(|| "all".to_owned()),
        taken_at: time::format_sqlite_datetime(now),
        ..Snapshot::default()
    };
    let Some(db) = Database::open_existing_current(data_dir)? else {
        return Ok(frame);
    };
    let config = Config::load(data_dir).unwrap_or_default();
    let sessions = session::sessions_in(db.conn(), repo_key.as_deref())?;
    let mut by_repo: BTreeMap<String, Vec<Session>> = BTreeMap::new();
    for session in sessions {
        by_repo
            .entry(session.repo_path.clone())
            .or_default()
            .push(session);
    }
    let groups: Vec<(String, Vec<Session>, MatrixMemory)> = by_repo
        .into_iter()
        .map(|(repo_path, sessions)| {
            let remembered = memory.matrices.remove(&repo_path).unwrap_or_default();
            (repo_path, sessions, remembered)
        })
        .collect();
    let views: Vec<(RepositoryView, MatrixMemory)> = groups
        .into_par_iter()
        .map(|(repo_path, sessions, mut remembered)| {
            let view = repository_view(repo_path, &sessions, now, &config, &mut remembered);
            (view, remembered)
        })
        .collect();
    // Only the repositories still shown are remembered.
    memory.matrices.clear();
    for (view, remembered) in views {
        memory.matrices.insert(view.repo_path.clone(), remembered);
        frame.repositories.push(view);
    }
    frame.total_sessions = frame.repositories.iter().map(|r| r.sessions.len()).sum();
    frame.waiting_sessions = frame
        .repositories
        .iter()
        .flat_map(|r| &r.sessions)
        .filter(|s| s.is_waiting())
        .count();
    frame.sandbox_runs = runs::list(db.conn(), repo_key.as_deref(), true, 50)?
        .into_iter()
        .map(|run| {
            let since = run.started_at.as_deref().unwrap_or(&run.created_at);
            RunView {
                elapsed_minutes: minutes_since(since, now),
                session_id: run.id,
                repo_path: run.repo_path,
                backend: run.backend,
                status: run.status.as_str().to_owned(),
                task_index: run.task_index,
                prompt: run.prompt.lines().next().unwrap_or("").to_owned(),
                last_activity: run.last_activity,
                agent_cost: run.agent_cost,
            }
        })
        .collect();
    drop(db);
    let filter = ClaimFilter {
        repo_path: repo_key.clone(),
        ..ClaimFilter::default()
    };
    frame.claims = claims::list(data_dir, &filter)?
        .iter()
        .map(claim_view)
        .collect();
    frame.merges = merge::events(data_dir, repo_key.as_deref(), None, RECENT_MERGES)?;
    Ok(frame)
}

fn claim_view(claim: &Claim) -> ClaimView {
    ClaimView {
        claim_id: claim.claim_id.clone(),
        session_id: claim.session_id.clone(),
        repo_path: claim.repo_path.clone(),
        file_path: claim.file_path.clone(),
        mode: claim.mode.as_str().to_owned(),
        expires_at: claim.expires_at.clone(),
    }
}

fn minutes_since(stamp: &str, now: i64) -> i64 {
    time::parse_sqlite_datetime(stamp).map_or(0, |then| (now - then).max(0) / 60)
}

/// One repository's rows and matrix: each live session's checkout is
/// captured once, in parallel, and serves both.
fn repository_view(
    repo_path: String,
    sessions: &[Session],
    now: i64,
    config: &Config,
    memory: &mut MatrixMemory,
) -> RepositoryView {
    let mut view = RepositoryView {
        repo_path: repo_path.clone(),
        ..RepositoryView::default()
    };
    let repo = git::open(Path::new(&repo_path)).ok();
    let alive: Vec<bool> = sessions.iter().map(Session::is_alive).collect();
    let has_repo = repo.is_some();
    let to_capture: Vec<&Path> = sessions
        .iter()
        .zip(&alive)
        .filter(|(_, alive)| **alive && has_repo)
        .map(|(session, _)| Path::new(&session.worktree_path))
        .collect();
    let mut states = conflicts::capture_checkouts(&to_capture).into_iter();
    let captured: Vec<Option<Result<conflicts::CheckoutState>>> = alive
        .iter()
        .map(|alive| (*alive && has_repo).then(|| states.next()).flatten())
        .collect();
    let mut participants = Vec::new();
    let mut rows = Vec::with_capacity(sessions.len());
    for ((session, is_alive), captured) in sessions.iter().zip(&alive).zip(captured) {
        let shown = session::describe_session(session, *is_alive, now, config);
        let base = session
            .base_branch
            .clone()
            .or_else(|| session.base_commit.clone());
        let ahead_behind = match (&repo, session.is_main_repo) {
            (Some(repo), false) => held_work::ahead_behind(
                repo,
                &WorktreeBase {
                    branch: session.branch.as_deref(),
                    base_branch: session.base_branch.as_deref(),
                    base_commit: session.base_commit.as_deref(),
                },
            ),
            _ => None,
        };
        let mut changed_files = None;
        match captured {
            Some(Ok(state)) => {
                changed_files = Some(state.changed_files.len());
                participants.push(Participant {
                    id: session.id.clone(),
                    checkout: session.worktree_path.clone(),
                    target: (!session.is_main_repo).then(|| target_branch(session)),
                    state: (state.tree, state.commit),
                });
            }
            Some(Err(err)) => {
                view.error.get_or_insert_with(|| {
                    format!("cannot read {}: {err:#}", session.worktree_path)
                });
            }
            None => {}
        }
        rows.push(SessionRow {
            session_id: shown.session_id,
            agent: shown.agent,
            pid: shown.pid,
            repo_path: shown.repo_path,
            worktree_path: shown.worktree_path,
            worktree_name: shown.worktree_name,
            branch: shown.branch,
            base,
            is_main_repo: shown.is_main_repo,
            is_alive: shown.is_alive,
            state_minutes: shown.state_since.as_deref().map(|s| minutes_since(s, now)),
            state: shown.state,
            state_since: shown.state_since,
            waiting_for: shown.waiting_for,
            last_message: shown.last_message,
            age_minutes: shown.duration_minutes,
            ahead: ahead_behind.map(|(ahead, _)| ahead),
            behind: ahead_behind.map(|(_, behind)| behind),
            changed_files,
            conflicts: None,
        });
    }
    if repo.is_some() && !participants.is_empty() {
        match conflicts::matrix_remembering(Path::new(&repo_path), &participants, memory) {
            Ok((pairs, against_target)) => {
                for row in rows.iter_mut() {
                    if participants.iter().any(|p| p.id == row.session_id) {
                        row.conflicts = Some(conflicts::conflicting_files(&pairs, &row.session_id));
                    }
                }
                view.pairs = pairs;
                view.against_target = against_target;
            }
            Err(err) => view.error = Some(format!("cannot predict conflicts: {err:#}")),
        }
    }
    // Waiting sessions first; the sort is stable, so the rest stay oldest
    // first.
    rows.sort_by_key(|row| !row.is_waiting());
    view.sessions = rows;
    view
}

/// The branch a worktree session will merge into (as `conflicts
/// --predict` takes it).
fn target_branch(session: &Session) -> String {
    session
        .base_branch
        .clone()
        .unwrap_or_else(|| "main".to_owned())
}

/// The work of a checkout against its base as a patch: committed and
/// uncommitted changes (untracked files included) since the commit where
/// its branch left `base` (a branch or commit; `None` or unknown: since
/// its HEAD, the uncommitted changes alone).
pub fn diff(checkout: &Path, base: Option<&str>) -> Result<String> {
    let repo = Repository::open(checkout)
        .with_context(|| format!("cannot open {}", checkout.display()))?;
    let head = repo.head()?.peel_to_commit()?;
    let from = base
        .and_then(|base| repo.revparse_single(base).ok())
        .and_then(|object| object.peel_to_commit().ok())
        .and_then(|base| repo.merge_base(head.id(), base.id()).ok())
        .unwrap_or(head.id());
    let tree = repo.find_commit(from)?.tree()?;
    let mut options = DiffOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true);
    let diff = repo.diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))?;
    let mut text = String::new();
    diff.print(DiffFormat::Patch, |_, _, line| {
        let content = String::from_utf8_lossy(line.content());
        match line.origin() {
            '+' | '-' | ' ' => text.push(line.origin()),
            _ => {}
        }
        text.push_str(&content);
        true
    })?;
    Ok(text)
}
