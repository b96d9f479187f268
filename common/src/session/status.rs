//! `status`: who works where, with liveness and held work, what each agent
//! is doing (its state, see `state`) and, for a worktree session, its
//! commits ahead of and behind its base, its uncommitted files and the
//! conflicts the last prediction found with other sessions; what was kept;
//! the worktrees sandbox runs brought their work back into; and what no
//! record accounts for (worktrees of ours git knows but no
//! session, kept record or journal entry names, and steps a dead process
//! left that the next command will finish).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Result;
use rayon::prelude::*;
use rusqlite::Connection;
use serde::Serialize;

use super::release::{kept_worktrees, revisit_kept, KeptWorktree};
use super::{sessions_where, state, Session};
use crate::config::Config;
use crate::db::Database;
use crate::held_work::{self, HeldWork};
use crate::worktree::{self, JournalEntry, Unaccounted};
use crate::{git, paths, process, time};

/// One session as `status` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    pub session_id: String,
    /// The agent profile it runs: `claude`, `codex`, `gemini`, `aider`,
    /// `opencode` or one from config.
    pub agent: String,
    pub pid: i64,
    /// The agent's own process, when the wrapper recorded it.
    pub agent_pid: Option<i64>,
    pub repo_path: String,
    pub worktree_path: String,
    pub worktree_name: Option<String>,
    pub branch: Option<String>,
    pub is_main_repo: bool,
    /// False for a worktree the user made, which release never removes.
    pub owns_worktree: bool,
    pub is_alive: bool,
    pub holds_work: bool,
    pub held_work: Option<String>,
    pub created_at: String,
    pub last_heartbeat: String,
    pub duration_minutes: i64,
    pub heartbeat_age_minutes: i64,
    /// `working`, `waiting`, `idle`, `compacting`, `ended`, or `idle?` for
    /// a session working without a hook for `session.idleAfterMinutes`;
    /// `null` before its agent's first hook.
    pub state: Option<String>,
    /// When the state began (for `idle?`: the time of the last hook).
    pub state_since: Option<String>,
    /// What a waiting session waits for: `permission: Bash`, a question, a
    /// notification's message.
    pub waiting_for: Option<String>,
    /// The first line of the agent's last message when it stopped.
    pub last_message: Option<String>,
    /// Commits of a worktree session's branch that its base lacks.
    pub ahead: Option<usize>,
    /// Commits of its base that its branch lacks.
    pub behind: Option<usize>,
    /// Files `git status` shows in its worktree.
    pub changed_files: Option<usize>,
    /// Conflicting files with other live sessions at the last prediction
    /// (`git pcc conflicts --predict`, MCP `predict_conflicts`).
    pub conflicts: Option<i64>,
    pub conflicts_predicted_at: Option<String>,
    /// Bytes its worktree takes on disk, with `status --disk` (not for
    /// the main checkout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_bytes: Option<u64>,
}

/// What `status` measures beyond the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusOptions {
    /// The disk each worktree uses (walks every file: slow on big trees).
    pub disk: bool,
}

/// What `status` finds in a worktree session's checkout.
#[derive(Debug)]
pub(super) struct Inspection {
    pub held: HeldWork,
    pub ahead_behind: Option<(usize, usize)>,
}

impl Inspection {
    /// Looks at the worktree of `session` (a session with a worktree of
    /// ours) in `repo`.
    pub fn of(repo: &git2::Repository, session: &Session) -> Inspection {
        let located = worktree::locate(
            repo,
            Path::new(&session.worktree_path),
            session.worktree_name.as_deref(),
        );
        Inspection {
            held: held_work::held_work(repo, &located.path, &session.base()),
            ahead_behind: held_work::ahead_behind(repo, &session.base()),
        }
    }
}

/// A worktree creation or removal begun and not finished.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Interrupted {
    pub repo_path: String,
    pub operation: String,
    pub worktree_path: String,
    pub pid: i64,
    pub started_at: String,
    /// Whether the process doing it still runs (then it is in progress).
    pub in_progress: bool,
}

/// A worktree a sandbox run brought its work back into, as uncommitted
/// changes, while it is there (`sandbox run` without `--branch`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxWorktree {
    pub run_id: String,
    pub repo_path: String,
    pub worktree_path: String,
    pub branch: Option<String>,
    /// How the run ended.
    pub status: String,
    pub created_at: String,
}

/// The result of `status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The repository shown, or `all`.
    pub repo_path: String,
    pub sessions: Vec<SessionStatus>,
    pub total_sessions: usize,
    pub kept_worktrees: Vec<KeptWorktree>,
    pub unaccounted_worktrees: Vec<Unaccounted>,
    pub interrupted: Vec<Interrupted>,
    pub sandbox_worktrees: Vec<SandboxWorktree>,
}

/// Lists sessions (of one repository, or of all with `None`), with
/// liveness and held work.
pub fn status(data_dir: &Path, repo: Option<&Path>) -> Result<StatusReport> {
    status_with(data_dir, repo, StatusOptions::default())
}

/// [`status`], measuring what `options` asks for too.
pub fn status_with(
    data_dir: &Path,
    repo: Option<&Path>,
    options: StatusOptions,
) -> Result<StatusReport> {
    let mut report = gather(data_dir, repo)?;
    if options.disk {
        measure_disk(&mut report);
    }
    Ok(report)
}

/// Sizes every worktree in the report (sessions' own, kept, unaccounted),
/// several at once.
fn measure_disk(report: &mut StatusReport) {
    let size = |path: &str| Some(worktree::disk::usage(Path::new(path)));
    report
        .sessions
        .par_iter_mut()
        .filter(|s| !s.is_main_repo)
        .for_each(|s| s.disk_bytes = size(&s.worktree_path));
    report
        .kept_worktrees
        .par_iter_mut()
        .for_each(|k| k.disk_bytes = size(&k.worktree_path));
    report
        .unaccounted_worktrees
        .par_iter_mut()
        .for_each(|u| u.disk_bytes = size(&u.worktree_path));
}

fn gather(data_dir: &Path, repo: Option<&Path>) -> Result<StatusReport> {
    let repo_key = match repo {
        Some(path) => Some(paths::to_db_string(&git::resolve_repository(path)?)?),
        None => None,
    };
    let mut report = StatusReport {
        repo_path: repo_key.clone().unwrap_or_else(|| "all".to_owned()),
        sessions: Vec::new(),
        total_sessions: 0,
        kept_worktrees: Vec::new(),
        unaccounted_worktrees: Vec::new(),
        interrupted: Vec::new(),
        sandbox_worktrees: Vec::new(),
    };
    let Some(db) = Database::open_existing_current(data_dir)? else {
        if let Some(key) = &repo_key {
            report.unaccounted_worktrees = claude_worktrees_only(key);
        }
        return Ok(report);
    };
    let (condition, args): (&str, Vec<String>) = match &repo_key {
        Some(key) => (
            "WHERE repo_path = ?1 ORDER BY created_at, rowid",
            vec![key.clone()],
        ),
        None => ("ORDER BY repo_path, created_at, rowid", Vec::new()),
    };
    let sessions = sessions_where(
        db.conn(),
        condition,
        rusqlite::params_from_iter(args.iter()),
    )?;
    let kept_records = kept_worktrees(db.conn(), repo_key.as_deref())?;
    let journal = worktree::journal_entries(db.conn(), repo_key.as_deref())?;
    let config = Config::load(data_dir).unwrap_or_default();
    let now = time::unix_now();
    let inspections = inspect_worktrees(&sessions);
    let mut alive = Liveness::default();
    report.sessions = sessions
        .iter()
        .zip(inspections)
        .map(|(session, found)| describe(session, alive.of(session), found, now, &config))
        .collect();
    report.total_sessions = report.sessions.len();
    report.kept_worktrees = kept_records
        .iter()
        .map(|record| {
            let repo = git::open(Path::new(&record.kept.repo_path)).ok();
            revisit_kept(record, repo.as_ref(), false).kept
        })
        .collect();
    report.interrupted = journal.iter().map(interrupted).collect();
    report.unaccounted_worktrees =
        unaccounted(db.conn(), &config, repo_key.as_deref(), &sessions, &journal)?;
    report.sandbox_worktrees = sandbox_worktrees(db.conn(), repo_key.as_deref())?;
    Ok(report)
}

/// The worktrees sandbox runs brought their work into that are still there.
fn sandbox_worktrees(conn: &Connection, repo_key: Option<&str>) -> Result<Vec<SandboxWorktree>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, repo_path, result_worktree, branch, status, created_at FROM sandbox_runs
         WHERE result_worktree IS NOT NULL AND (?1 IS NULL OR repo_path = ?1)
         ORDER BY repo_path, created_at, id",
    )?;
    let rows = stmt.query_map([repo_key], |row| {
        Ok(SandboxWorktree {
            run_id: row.get(0)?,
            repo_path: row.get(1)?,
            worktree_path: row.get(2)?,
            branch: row.get(3)?,
            status: row.get(4)?,
            created_at: row.get(5)?,
        })
    })?;
    let mut found = Vec::new();
    for row in rows {
        let worktree = row?;
        if Path::new(&worktree.worktree_path).exists() {
            found.push(worktree);
        }
    }
    Ok(found)
}

/// One session as `status` shows it.
pub(super) fn describe(
    session: &Session,
    is_alive: bool,
    found: Option<Inspection>,
    now: i64,
    config: &Config,
) -> SessionStatus {
    let held = found.as_ref().map(|found| &found.held);
    let ahead_behind = found.as_ref().and_then(|found| found.ahead_behind);
    let (state, state_since) = state::shown(
        session.state.as_deref(),
        session.state_since.as_deref(),
        session.state_at,
        now * 1000,
        config.idle_after_minutes(),
    )
    .unzip();
    let waiting = state.as_deref() == Some("waiting");
    let minutes_since = |stamp: &str| {
        time::parse_sqlite_datetime(stamp).map_or(0, |then| ((now - then).max(0)) / 60)
    };
    let branch = if session.is_main_repo {
        read_head_branch(Path::new(&session.repo_path)).or_else(|| session.branch.clone())
    } else {
        session.branch.clone()
    };
    SessionStatus {
        session_id: session.id.clone(),
        agent: session
            .agent
            .clone()
            .unwrap_or_else(|| crate::agents::DEFAULT_AGENT.to_owned()),
        pid: session.pid,
        agent_pid: session.agent_pid,
        repo_path: session.repo_path.clone(),
        worktree_path: session.worktree_path.clone(),
        worktree_name: session.worktree_name.clone(),
        branch,
        is_main_repo: session.is_main_repo,
        owns_worktree: session.is_main_repo || session.owns_worktree,
        is_alive,
        holds_work: held.is_some_and(HeldWork::holds_work),
        held_work: held.and_then(|h| h.reason(session.base_branch.as_deref())),
        created_at: session.created_at.clone(),
        last_heartbeat: session.last_heartbeat.clone(),
        duration_minutes: minutes_since(&session.created_at),
        heartbeat_age_minutes: minutes_since(&session.last_heartbeat),
        state,
        state_since: state_since.flatten(),
        waiting_for: session.waiting_for.clone().filter(|_| waiting),
        last_message: session.last_message.clone(),
        ahead: ahead_behind.map(|(ahead, _)| ahead),
        behind: ahead_behind.map(|(_, behind)| behind),
        changed_files: held.map(|h| h.uncommitted_files),
        conflicts: session.predicted_conflicts,
        conflicts_predicted_at: session.predicted_at.clone(),
        disk_bytes: None,
    }
}

/// Whether sessions are alive, each distinct set of processes looked at
/// once (many sessions may share an agent process).
#[derive(Default)]
struct Liveness(HashMap<Processes, bool>);

/// A session's wrapper and agent processes, with their start times.
type Processes = (i64, Option<u64>, Option<i64>, Option<u64>);

impl Liveness {
    fn of(&mut self, session: &Session) -> bool {
        let key = (
            session.pid,
            session.process_start,
            session.agent_pid,
            session.agent_start,
        );
        *self.0.entry(key).or_insert_with(|| session.is_alive())
    }
}

/// What each session with a worktree of ours holds (`None` for the others
/// and sessions whose repository is gone), opening each repository once
/// and inspecting repositories in parallel.
fn inspect_worktrees(sessions: &[Session]) -> Vec<Option<Inspection>> {
    let mut by_repo: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, session) in sessions.iter().enumerate() {
        if session.has_own_worktree() {
            by_repo
                .entry(session.repo_path.as_str())
                .or_default()
                .push(index);
        }
    }
    by_repo.retain(|repo_path, _| Path::new(repo_path).exists());
    let inspect = |(repo_path, indexes): (&str, Vec<usize>)| -> Vec<(usize, Inspection)> {
        let Ok(repo) = git::open(Path::new(repo_path)) else {
            return Vec::new();
        };
        indexes
            .into_iter()
            .map(|index| (index, Inspection::of(&repo, &sessions[index])))
            .collect()
    };
    let groups: Vec<(&str, Vec<usize>)> = by_repo.into_iter().collect();
    let found: Vec<(usize, Inspection)> = if groups.len() > 1 {
        groups.into_par_iter().flat_map_iter(inspect).collect()
    } else {
        groups.into_iter().flat_map(inspect).collect()
    };
    let mut inspections: Vec<Option<Inspection>> = sessions.iter().map(|_| None).collect();
    for (index, work) in found {
        inspections[index] = Some(work);
    }
    inspections
}

/// The branch named by a checkout's HEAD file, read without opening the
/// repository.
pub(crate) fn read_head_branch(repo_path: &Path) -> Option<String> {
    let head = std::fs::read_to_string(repo_path.join(".git").join("HEAD")).ok()?;
    head.trim()
        .strip_prefix("ref: refs/heads/")
        .map(str::to_owned)
}

fn interrupted(entry: &JournalEntry) -> Interrupted {
    Interrupted {
        repo_path: entry.repo_path.clone(),
        operation: entry.operation.clone(),
        worktree_path: entry.worktree_path.clone(),
        pid: entry.pid,
        started_at: entry.started_at.clone(),
        in_progress: process::is_alive(entry.pid),
    }
}

/// Worktrees of ours that git has registered and no row accounts for, in
/// every repository the view covers.
pub(super) fn unaccounted(
    conn: &Connection,
    config: &Config,
    repo_key: Option<&str>,
    sessions: &[Session],
    journal: &[JournalEntry],
) -> Result<Vec<Unaccounted>> {
    let mut known: HashSet<String> = sessions.iter().map(|s| s.worktree_path.clone()).collect();
    known.extend(journal.iter().map(|e| e.worktree_path.clone()));
    let mut repos: Vec<String> = {
        let mut stmt = conn.prepare_cached(
            "SELECT repo_path FROM sessions UNION SELECT repo_path FROM kept_worktrees ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    {
        let mut stmt = conn.prepare_cached(
            "SELECT worktree_path FROM kept_worktrees
             UNION SELECT result_worktree FROM sandbox_runs WHERE result_worktree IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        for row in rows {
            known.insert(row?);
        }
    }
    if let Some(key) = repo_key {
        repos = vec![key.to_owned()];
    }
    let prefix = config.branch_prefix();
    let mut found = Vec::new();
    for repo_path in repos {
        let Ok(repo) = git::open(Path::new(&repo_path)) else {
            continue;
        };
        let Ok(root) = worktree::worktrees_root(Path::new(&repo_path), config) else {
            continue;
        };
        let mut here = worktree::unaccounted(&repo, &repo_path, &root, &prefix, &known);
        describe_claude_worktrees(&repo, &mut here);
        found.extend(here);
    }
    Ok(found)
}

/// Claude Code's own worktrees of a repository no database knows yet.
fn claude_worktrees_only(repo_key: &str) -> Vec<Unaccounted> {
    let Ok(repo) = git::open(Path::new(repo_key)) else {
        return Vec::new();
    };
    let root = worktree::claude_worktrees_root(Path::new(repo_key));
    let mut found: Vec<Unaccounted> =
        worktree::unaccounted(&repo, repo_key, &root, "\0", &HashSet::new())
            .into_iter()
            .filter(|u| u.made_by == worktree::MADE_BY_CLAUDE)
            .collect();
    describe_claude_worktrees(&repo, &mut found);
    found
}

/// Fills in what each of Claude Code's own worktrees holds: `cleanup`
/// removes those that hold nothing.
fn describe_claude_worktrees(repo: &git2::Repository, found: &mut [Unaccounted]) {
    let base_branch = git::current_branch(repo);
    for item in found
        .iter_mut()
        .filter(|u| u.made_by == worktree::MADE_BY_CLAUDE)
    {
        let held = held_work::held_work(
            repo,
            Path::new(&item.worktree_path),
            &held_work::WorktreeBase {
                branch: item.branch.as_deref(),
                base_branch: base_branch.as_deref(),
                base_commit: None,
            },
        );
        item.held_work = held.reason(base_branch.as_deref());
    }
}
