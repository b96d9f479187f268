//! What `git pcc land NAME...` and the MCP tool `request_land` ask for:
//! each name is a session (its id or a unique prefix) or a branch; no name
//! means the session of the worktree the command runs in. Each becomes a
//! [`NewItem`] with its target (the session's base branch unless given),
//! strategy and check (from the flags, else the config).

use std::path::Path;

use anyhow::Result;
use git2::{BranchType, Repository};
use rusqlite::{Connection, OptionalExtension};

use super::{NewItem, Publish, Strategy};
use crate::config::Config;
use crate::db::Database;
use crate::{paths, UserError};

/// What the caller chose; `None` falls back to the config.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    pub target: Option<String>,
    pub strategy: Option<Strategy>,
    pub check: Option<String>,
    pub auto_fix: bool,
    pub message: Option<String>,
    pub requested_by: String,
    /// `--push` or `--pr`.
    pub publish: Option<Publish>,
}

struct Found {
    session_id: Option<String>,
    branch: String,
    base_branch: Option<String>,
}

/// The items `names` (in the repository at `repo_path`) ask for.
pub fn new_items(
    data_dir: &Path,
    repo_path: &Path,
    names: &[String],
    cwd: &Path,
    choices: &Choices,
) -> Result<Vec<NewItem>> {
    let repo_key = paths::to_db_string(repo_path)?;
    let db = Database::open(data_dir)?;
    let repo = Repository::open(repo_path)?;
    let mut found = Vec::new();
    if names.is_empty() {
        let top = crate::git::resolve_checkout(cwd)?.top;
        let Some(id) = crate::session::session_at_worktree(data_dir, &top)? else {
            return Err(UserError::with_hint(
                format!("{} is not the worktree of a session", top.display()),
                "name the sessions or branches to land: git pcc land SESSION|BRANCH ...",
            )
            .into());
        };
        found.push(session_branch(db.conn(), &id, &repo_key)?);
    }
    for name in names {
        found.push(find(db.conn(), &repo, &repo_key, name)?);
    }
    let config = Config::load(data_dir)?;
    if let Some(publish) = choices.publish {
        super::publish::preflight(repo_path, &config, publish == Publish::PullRequest)?;
    }
    let strategy = match choices.strategy {
        Some(strategy) => strategy,
        None => Strategy::parse(&config.land_strategy()).unwrap_or(Strategy::Rebase),
    };
    let check = choices.check.clone().or_else(|| config.land_check());
    let fallback_target = crate::git::current_branch(&repo).unwrap_or_else(|| "main".to_owned());
    let mut items = Vec::new();
    for f in found {
        let target = choices
            .target
            .clone()
            .or(f.base_branch)
            .unwrap_or_else(|| fallback_target.clone());
        if repo.find_branch(&target, BranchType::Local).is_err() {
            return Err(UserError::with_hint(
                format!("there is no target branch named {target}"),
                "name one with --target BRANCH",
            )
            .into());
        }
        if target == f.branch {
            return Err(UserError::with_hint(
                format!("{} cannot land onto itself", f.branch),
                "name another target with --target BRANCH",
            )
            .into());
        }
        let tip = repo
            .find_branch(&f.branch, BranchType::Local)
            .ok()
            .and_then(|b| b.get().target())
            .map(|oid| oid.to_string());
        items.push(NewItem {
            repo_path: repo_key.clone(),
            session_id: f.session_id,
            branch: f.branch,
            target_branch: target,
            strategy,
            check_command: check.clone().filter(|c| !c.trim().is_empty()),
            check_timeout_minutes: config.land_check_timeout_minutes(),
            auto_fix: choices.auto_fix,
            message: choices.message.clone(),
            requested_by: choices.requested_by.clone(),
            tip,
            publish: choices.publish,
        });
    }
    Ok(items)
}

fn session_branch(conn: &Connection, id: &str, repo_key: &str) -> Result<Found> {
    let row: Option<(String, Option<String>, Option<String>, bool)> = conn
        .query_row(
            "SELECT repo_path, branch, base_branch, is_main_repo FROM sessions WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? != 0)),
        )
        .optional()?;
    let Some((repo, branch, base_branch, is_main)) = row else {
        return Err(UserError::new(format!("no session {id}")).into());
    };
    if repo != repo_key {
        return Err(UserError::with_hint(
            format!("session {} works in {repo}, not in {repo_key}", &id[..8]),
            "run git pcc land in that repository, or pass --repo",
        )
        .into());
    }
    let Some(branch) = branch.filter(|_| !is_main) else {
        return Err(UserError::with_hint(
            format!(
                "session {} works in the main checkout: it has no branch of its own to land",
                &id[..8]
            ),
            "land a worktree session's branch, or name a branch",
        )
        .into());
    };
    Ok(Found {
        session_id: Some(id.to_owned()),
        branch,
        base_branch,
    })
}

fn find(conn: &Connection, repo: &Repository, repo_key: &str, name: &str) -> Result<Found> {
    if repo.find_branch(name, BranchType::Local).is_ok() {
        let session: Option<(String, Option<String>)> = conn
            .query_row(
                "SELECT id, base_branch FROM sessions WHERE repo_path = ?1 AND branch = ?2
                 ORDER BY created_at DESC LIMIT 1",
                [repo_key, name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        return Ok(Found {
            session_id: session.as_ref().map(|s| s.0.clone()),
            branch: name.to_owned(),
            base_branch: session.and_then(|s| s.1),
        });
    }
    if let Some(id) = crate::session::resolve_session_id(conn, name)? {
        return session_branch(conn, &id, repo_key);
    }
    Err(UserError::with_hint(
        format!("no session or branch named {name}"),
        "git pcc status lists the sessions; git branch lists the branches",
    )
    .into())
}
