//! `git pcc status`: who works where.

use std::path::PathBuf;

use clap::Args;
use pcc::session::{self, SessionStatus, StatusReport};

use crate::render;
use crate::scope::Scope;
use crate::Output;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The repository containing this path (default: the one around the
    /// working directory; every repository outside one)
    #[arg(long, value_name = "PATH", conflicts_with = "all")]
    pub repo: Option<PathBuf>,
    /// Every repository parallel-cc knows
    #[arg(long)]
    pub all: bool,
    /// Only sandbox runs: those going on and the most recent ones
    #[arg(long)]
    pub sandbox_only: bool,
    /// Also the disk each worktree uses (measured now: slower on big trees)
    #[arg(long, conflicts_with = "sandbox_only")]
    pub disk: bool,
}

pub fn run(args: StatusArgs) -> anyhow::Result<Output> {
    let data_dir = crate::data_dir()?;
    if args.sandbox_only {
        return sandbox_runs(&data_dir, args.repo.as_deref());
    }
    let scope = Scope::resolve(args.repo.as_deref(), args.all, None)?;
    let options = session::StatusOptions { disk: args.disk };
    let report = session::status_with(&data_dir, scope.repository(), options)
        .map_err(|err| crate::scope::with_repo_hint(err, args.repo.is_some()))?;
    let mut text = human(&report);
    if scope == (Scope::All { asked: false }) && !report.sessions.is_empty() {
        text.insert_str(0, "not inside a repository: every repository\n");
    }
    Ok(Output::new(&report, text))
}

fn human(report: &StatusReport) -> String {
    if report.sessions.is_empty()
        && report.kept_worktrees.is_empty()
        && report.unaccounted_worktrees.is_empty()
        && report.interrupted.is_empty()
        && report.sandbox_worktrees.is_empty()
    {
        return "no sessions\n".to_owned();
    }
    let mut out = String::new();
    let mut current_repo: Option<&str> = None;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let flush = |out: &mut String, rows: &mut Vec<Vec<String>>| {
        if rows.len() > 1 {
            out.push_str(&render::table(rows));
        }
        rows.clear();
    };
    for s in &report.sessions {
        if current_repo != Some(s.repo_path.as_str()) {
            flush(&mut out, &mut rows);
            if current_repo.is_some() {
                out.push('\n');
            }
            out.push_str(&format!("{}\n", render::quoted(&s.repo_path)));
            current_repo = Some(&s.repo_path);
            rows.push(
                [
                    "PID", "SESSION", "AGENT", "WHERE", "BRANCH", "AGE", "BEAT", "STATE", "DOING",
                    "WORK",
                ]
                .map(String::from)
                .to_vec(),
            );
        }
        let place = if s.is_main_repo {
            "main checkout".to_owned()
        } else if !s.owns_worktree {
            format!("{} (yours)", render::quoted(&s.worktree_path))
        } else {
            render::quoted(&s.worktree_path).into_owned()
        };
        let mut state = if s.is_alive {
            "alive".to_owned()
        } else {
            "stale".to_owned()
        };
        if let Some(held) = &s.held_work {
            state.push_str(&format!(", holds work: {held}"));
        }
        rows.push(vec![
            s.pid.to_string(),
            render::short_id(&s.session_id),
            s.agent.clone(),
            place,
            s.branch.clone().unwrap_or_else(|| "-".to_owned()),
            render::minutes(s.duration_minutes),
            format!("{} ago", render::minutes(s.heartbeat_age_minutes)),
            state,
            doing(s),
            with_disk(work(s), s.disk_bytes),
        ]);
    }
    flush(&mut out, &mut rows);
    if !report.kept_worktrees.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("kept worktrees (released; each stays for its reason)\n");
        let mut kept_rows = vec![["PATH", "BRANCH", "CONVERSATION", "REASON"]
            .map(String::from)
            .to_vec()];
        for kept in &report.kept_worktrees {
            kept_rows.push(vec![
                render::quoted(&kept.worktree_path).into_owned(),
                kept.branch.clone().unwrap_or_else(|| "-".to_owned()),
                kept.conversation_id
                    .clone()
                    .unwrap_or_else(|| "-".to_owned()),
                with_disk(kept.reason.clone(), kept.disk_bytes),
            ]);
        }
        out.push_str(&render::table(&kept_rows));
    }
    push_sandbox_worktrees(&mut out, report);
    push_unaccounted(&mut out, report);
    push_interrupted(&mut out, report);
    out.push_str(&format!(
        "{}\n",
        render::count(report.total_sessions, "session", "sessions")
    ));
    out
}

/// What the agent is doing: `working`, `waiting 2m: permission Bash`,
/// `idle 5m`; `-` before its first hook.
fn doing(s: &SessionStatus) -> String {
    let Some(state) = &s.state else {
        return "-".to_owned();
    };
    if state == "working" {
        return state.clone();
    }
    let mut text = state.clone();
    if let Some(since) = s
        .state_since
        .as_deref()
        .and_then(pcc::time::parse_sqlite_datetime)
    {
        let minutes = (pcc::time::unix_now() - since).max(0) / 60;
        text.push_str(&format!(" {}", render::minutes(minutes)));
    }
    if let Some(what) = &s.waiting_for {
        // `permission: Bash` reads `permission Bash` after the colon.
        let what = what
            .strip_prefix("permission: ")
            .map_or_else(|| what.clone(), |tool| format!("permission {tool}"));
        text.push_str(&format!(": {what}"));
    }
    text
}

/// A worktree session's work: commits ahead of and behind its base,
/// uncommitted files, predicted conflicts with other sessions.
fn work(s: &SessionStatus) -> String {
    let mut parts = Vec::new();
    if let (Some(ahead), Some(behind)) = (s.ahead, s.behind) {
        parts.push(format!("{ahead} ahead, {behind} behind"));
    }
    if let Some(files) = s.changed_files {
        parts.push(format!("{files} changed"));
    }
    if let Some(conflicts) = s.conflicts.filter(|n| *n > 0) {
        parts.push(render::count(conflicts as usize, "conflict", "conflicts"));
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Worktrees sandbox runs brought their work back into, uncommitted.
fn push_sandbox_worktrees(out: &mut String, report: &StatusReport) {
    if report.sandbox_worktrees.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str("sandbox worktrees (a run's work, uncommitted)\n");
    let mut rows = vec![["PATH", "BRANCH", "RUN", "STATUS"]
        .map(String::from)
        .to_vec()];
    for worktree in &report.sandbox_worktrees {
        rows.push(vec![
            render::quoted(&worktree.worktree_path).into_owned(),
            worktree.branch.clone().unwrap_or_else(|| "-".to_owned()),
            render::short_id(&worktree.run_id),
            worktree.status.clone(),
        ]);
    }
    out.push_str(&render::table(&rows));
}

/// Worktrees of ours no record accounts for (left by an older version, or
/// by hand), with what to do about them.
fn push_unaccounted(out: &mut String, report: &StatusReport) {
    if report.unaccounted_worktrees.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str("worktrees no session accounts for (look, then 'git worktree remove PATH')\n");
    let mut rows = vec![["PATH", "BRANCH", "MADE BY"].map(String::from).to_vec()];
    for found in &report.unaccounted_worktrees {
        let mut made_by = found.made_by.to_owned();
        if found.made_by == pcc::worktree::MADE_BY_CLAUDE {
            made_by.push_str(&match &found.held_work {
                Some(held) => format!(", holds work: {held}"),
                None => ", clean: cleanup removes it".to_owned(),
            });
        }
        rows.push(vec![
            found.worktree_path.clone(),
            found.branch.clone().unwrap_or_else(|| "-".to_owned()),
            with_disk(made_by, found.disk_bytes),
        ]);
    }
    out.push_str(&render::table(&rows));
}

/// Worktree creations and removals begun and not finished.
fn push_interrupted(out: &mut String, report: &StatusReport) {
    if report.interrupted.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(
        "unfinished worktree steps (the next register, release or cleanup completes them)\n",
    );
    let mut rows = vec![["STEP", "PATH", "PID", "SINCE"].map(String::from).to_vec()];
    for step in &report.interrupted {
        let what = match (step.operation.as_str(), step.in_progress) {
            ("create", true) => "creating",
            ("create", false) => "interrupted creation",
            (_, true) => "removing",
            (_, false) => "interrupted removal",
        };
        rows.push(vec![
            what.to_owned(),
            step.worktree_path.clone(),
            step.pid.to_string(),
            step.started_at.clone(),
        ]);
    }
    out.push_str(&render::table(&rows));
}

/// `status --sandbox-only`: sandbox runs going on, then the 20 most recent;
/// with the TypeScript tool's fields (`repoPath`, `totalSessions` and
/// `sessions`, in its session shape) listing its E2B sessions and our runs.
fn sandbox_runs(
    data_dir: &std::path::Path,
    repo: Option<&std::path::Path>,
) -> anyhow::Result<Output> {
    use pcc::sandbox::runs;
    let repo = match repo {
        Some(path) => Some(pcc::git::resolve_repository(path)?.display().to_string()),
        None => None,
    };
    let (found, legacy) = match pcc::db::Database::open_existing_current(data_dir)? {
        Some(db) => (
            runs::list(db.conn(), repo.as_deref(), false, 20)?,
            pcc::legacy_runs::list(db.conn(), repo.as_deref())?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let active = found.iter().filter(|r| !r.status.is_final()).count();
    let mut rows = vec![["RUN", "STATUS", "STARTED", "ACTIVITY"]
        .map(String::from)
        .to_vec()];
    for run in &found {
        rows.push(vec![
            render::short_id(&run.id),
            run.status.as_str().to_owned(),
            run.created_at.clone(),
            run.last_activity.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    for run in &legacy {
        rows.push(vec![
            render::short_id(&run.id),
            run.status.clone().unwrap_or_else(|| "-".to_owned()),
            run.created_at.clone(),
            "-".to_owned(),
        ]);
    }
    let human = if rows.len() == 1 {
        "no sandbox runs\n".to_owned()
    } else {
        render::table(&rows)
    };
    let sessions = seed_sessions(&found, &legacy);
    Ok(Output::new(
        &serde_json::json!({
            "repoPath": repo.as_deref().unwrap_or("all"),
            "totalSessions": sessions.len(),
            "sessions": sessions,
            "sandboxRuns": found,
            "active": active,
            "total": found.len(),
        }),
        human,
    ))
}

/// The runs in the TypeScript tool's session shape, newest first.
fn seed_sessions(
    found: &[pcc::sandbox::runs::RunRecord],
    legacy: &[pcc::legacy_runs::LegacyRun],
) -> Vec<serde_json::Value> {
    let now = pcc::time::unix_now();
    let minutes = |from: &str, to: Option<&str>| -> i64 {
        let end = to.and_then(pcc::time::parse_sqlite_datetime).unwrap_or(now);
        pcc::time::parse_sqlite_datetime(from).map_or(0, |start| (end - start).max(0) / 60)
    };
    let mut sessions: Vec<(String, serde_json::Value)> = Vec::new();
    for run in legacy {
        sessions.push((
            run.created_at.clone(),
            serde_json::json!({
                "sessionId": run.id,
                "pid": run.pid,
                "worktreePath": run.worktree_path,
                "worktreeName": run.worktree_name,
                "isMainRepo": run.is_main_repo,
                "createdAt": run.created_at,
                "lastHeartbeat": run.last_heartbeat,
                "isAlive": pcc::session::is_alive(run.pid, None, None, None),
                "durationMinutes": minutes(&run.created_at, None),
            }),
        ));
    }
    for run in found {
        let place = run
            .result_worktree
            .clone()
            .or_else(|| run.workspace_path.clone())
            .unwrap_or_else(|| run.repo_path.clone());
        let name = std::path::Path::new(&place)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let pid = run
            .runner
            .as_ref()
            .or(run.agent.as_ref())
            .map_or(0, |p| p.pid);
        sessions.push((
            run.created_at.clone(),
            serde_json::json!({
                "sessionId": run.id,
                "pid": pid,
                "worktreePath": place,
                "worktreeName": name,
                "isMainRepo": false,
                "createdAt": run.created_at,
                "lastHeartbeat": run.last_activity.clone().unwrap_or_else(|| run.updated_at.clone()),
                "isAlive": !run.status.is_final(),
                "durationMinutes": minutes(&run.created_at, run.ended_at.as_deref()),
            }),
        ));
    }
    sessions.sort_by(|a, b| b.0.cmp(&a.0));
    sessions.into_iter().map(|(_, session)| session).collect()
}

/// `text`, followed by the disk a worktree uses when it was measured.
fn with_disk(text: String, bytes: Option<u64>) -> String {
    match bytes {
        Some(bytes) if text == "-" => render::bytes(bytes),
        Some(bytes) => format!("{text}; {}", render::bytes(bytes)),
        None => text,
    }
}
