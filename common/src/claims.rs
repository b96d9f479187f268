//! File claims: an agent announces which files it is about to change.
//!
//! Modes: EXCLUSIVE (the file is the holder's alone: while it lasts no other
//! session gets any claim on it), SHARED (others may hold SHARED or INTENT
//! too), INTENT (announces plans and blocks nobody). A session that already
//! holds a claim escalates it INTENT → SHARED → EXCLUSIVE when the other
//! claims allow. Claims end when released, when their TTL (1 to 72 hours)
//! runs out, or when the owning session's process is gone.
//!
//! Invariant: every grant is decided in one `BEGIN IMMEDIATE` transaction
//! that first retires expired and orphaned claims on that file, so racing
//! agents cannot both get an EXCLUSIVE claim. Paths are stored relative to
//! the repository, normalised, and may not leave it (`..`, absolute paths
//! elsewhere, symlinks pointing out).

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::db::Database;
use crate::{paths, UserError};

/// How strongly a file is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClaimMode {
    Intent,
    Shared,
    Exclusive,
}

impl ClaimMode {
    pub fn parse(text: &str) -> Result<ClaimMode> {
        match text.to_ascii_uppercase().as_str() {
            "EXCLUSIVE" => Ok(ClaimMode::Exclusive),
            "SHARED" => Ok(ClaimMode::Shared),
            "INTENT" => Ok(ClaimMode::Intent),
            _ => Err(UserError::new(format!(
                "unknown claim mode '{text}': use EXCLUSIVE, SHARED or INTENT"
            ))
            .into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClaimMode::Exclusive => "EXCLUSIVE",
            ClaimMode::Shared => "SHARED",
            ClaimMode::Intent => "INTENT",
        }
    }

    /// Whether a new claim in `self` may coexist with another session's
    /// active claim in `other`.
    fn compatible_with(self, other: ClaimMode) -> bool {
        !matches!(
            (self, other),
            (_, ClaimMode::Exclusive) | (ClaimMode::Exclusive, ClaimMode::Shared)
        )
    }
}

/// A claim as tools and commands show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    pub claim_id: String,
    pub session_id: String,
    pub repo_path: String,
    pub file_path: String,
    pub mode: ClaimMode,
    pub claimed_at: String,
    pub expires_at: String,
    pub escalated_from: Option<ClaimMode>,
    pub reason: Option<String>,
    pub is_active: bool,
    pub released_at: Option<String>,
    pub ended_because: Option<String>,
    pub last_heartbeat: String,
    /// The stored metadata (`reason` among it).
    pub metadata: Option<serde_json::Value>,
    pub deleted_at: Option<String>,
}

/// A claim as the TypeScript tool's `claims --json` printed it: the row
/// under its column names, without the columns that are null.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimRow<'a> {
    pub id: &'a str,
    pub session_id: &'a str,
    pub repo_path: &'a str,
    pub file_path: &'a str,
    pub claim_mode: ClaimMode,
    pub claimed_at: &'a str,
    pub expires_at: &'a str,
    pub last_heartbeat: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalated_from: Option<ClaimMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<&'a serde_json::Value>,
    pub is_active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<&'a str>,
    /// Why the claim ended (`released`, `expired`, `session ended`, `forced`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_reason: Option<&'a str>,
}

impl Claim {
    /// The claim under the seed's column names.
    pub fn as_row(&self) -> ClaimRow<'_> {
        ClaimRow {
            id: &self.claim_id,
            session_id: &self.session_id,
            repo_path: &self.repo_path,
            file_path: &self.file_path,
            claim_mode: self.mode,
            claimed_at: &self.claimed_at,
            expires_at: &self.expires_at,
            last_heartbeat: &self.last_heartbeat,
            escalated_from: self.escalated_from,
            metadata: self.metadata.as_ref(),
            is_active: self.is_active,
            released_at: self.released_at.as_deref(),
            deleted_at: self.deleted_at.as_deref(),
            deleted_reason: self.ended_because.as_deref(),
        }
    }
}

const CLAIM_COLUMNS: &str =
    "id, session_id, repo_path, file_path, claim_mode, claimed_at, expires_at, \
     escalated_from, metadata, is_active, released_at, deleted_reason, last_heartbeat, deleted_at";

fn claim_from_row(row: &Row) -> rusqlite::Result<Claim> {
    let mode: String = row.get(4)?;
    let escalated: Option<String> = row.get(7)?;
    let metadata: Option<serde_json::Value> = row
        .get::<_, Option<String>>(8)?
        .map(|m| serde_json::from_str(&m).unwrap_or(serde_json::Value::String(m)));
    Ok(Claim {
        claim_id: row.get(0)?,
        session_id: row.get(1)?,
        repo_path: row.get(2)?,
        file_path: row.get(3)?,
        mode: ClaimMode::parse(&mode).unwrap_or(ClaimMode::Intent),
        claimed_at: row.get(5)?,
        expires_at: row.get(6)?,
        escalated_from: escalated.and_then(|m| ClaimMode::parse(&m).ok()),
        reason: metadata
            .as_ref()
            .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_owned)),
        is_active: row.get::<_, i64>(9)? != 0,
        released_at: row.get(10)?,
        ended_because: row.get(11)?,
        last_heartbeat: row.get(12)?,
        metadata,
        deleted_at: row.get(13)?,
    })
}

/// The session making a claim: its id, repository and checkout.
#[derive(Debug, Clone)]
pub struct Claimant {
    pub session_id: String,
    pub repo_path: PathBuf,
    pub worktree_path: PathBuf,
}

/// Normalises `file` (absolute, or relative to the claimant's checkout) to a
/// repository-relative path with `/` separators; refuses paths outside.
pub fn normalize(claimant: &Claimant, file: &str) -> Result<String> {
    repository_relative(&claimant.repo_path, &claimant.worktree_path, file)
}

/// Normalises `file` (absolute, or relative to `checkout`, a checkout of
/// the repository at `repo_path`) to a repository-relative path with `/`
/// separators; refuses paths that leave the repository, symlinks included.
pub fn repository_relative(repo_path: &Path, checkout: &Path, file: &str) -> Result<String> {
    let outside = || -> anyhow::Error {
        UserError::new(format!(
            "{file} is outside the repository; give a file inside it"
        ))
        .into()
    };
    if file.trim().is_empty() {
        return Err(UserError::new("the file path is empty").into());
    }
    let given = Path::new(file);
    let (root, relative) = if given.is_absolute() {
        let lexical = lexically_normal(given).ok_or_else(outside)?;
        let canonical = paths::canonicalize_lenient(&lexical);
        if let Ok(rest) = canonical.strip_prefix(checkout) {
            (checkout.to_path_buf(), rest.to_path_buf())
        } else if let Ok(rest) = canonical.strip_prefix(repo_path) {
            (repo_path.to_path_buf(), rest.to_path_buf())
        } else {
            return Err(outside());
        }
    } else {
        let relative = lexically_normal(given).ok_or_else(outside)?;
        (checkout.to_path_buf(), relative)
    };
    // A symlink inside the checkout may still point out of it.
    let resolved = paths::canonicalize_lenient(&root.join(&relative));
    let inside = resolved.strip_prefix(&root).map_err(|_| outside())?;
    let text: Vec<String> = inside
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if text.is_empty() || text.iter().any(|part| part == ".git") {
        return Err(
            UserError::new(format!("{file} does not name a file in the repository")).into(),
        );
    }
    Ok(text.join("/"))
}

/// Resolves `.` and `..` without touching the filesystem; `None` when a
/// relative path climbs above its start.
fn lexically_normal(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    let mut depth = 0usize;
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return None;
                }
                out.pop();
                depth -= 1;
            }
            Component::Normal(part) => {
                out.push(part);
                depth += 1;
            }
            Component::RootDir | Component::Prefix(_) => out.push(component.as_os_str()),
        }
    }
    Some(out)
}

/// Marks claims on one file (or all of a repository's) as ended when their
/// TTL passed or their session is gone.
fn retire_stale(conn: &Connection, repo_path: &str, file_path: Option<&str>) -> Result<()> {
    conn.execute(
        "UPDATE file_claims SET is_active = 0, released_at = datetime('now'), deleted_reason = 'expired'
         WHERE is_active = 1 AND repo_path = ?1 AND (?2 IS NULL OR file_path = ?2)
           AND datetime(expires_at) <= datetime('now')",
        params![repo_path, file_path],
    )?;
    let mut stmt = conn.prepare(
        "SELECT c.id, s.pid, s.process_start, s.agent_pid, s.agent_start
         FROM file_claims c LEFT JOIN sessions s ON s.id = c.session_id
         WHERE c.is_active = 1 AND c.repo_path = ?1 AND (?2 IS NULL OR c.file_path = ?2)",
    )?;
    type Owner = (String, Option<i64>, Option<i64>, Option<i64>, Option<i64>);
    let owners: Vec<Owner> = stmt
        .query_map(params![repo_path, file_path], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (id, pid, start, agent, agent_start) in owners {
        let alive = pid.is_some_and(|pid| {
            crate::session::is_alive(
                pid,
                start.map(|s| s as u64),
                agent,
                agent_start.map(|s| s as u64),
            )
        });
        if !alive {
            conn.execute(
                "UPDATE file_claims SET is_active = 0, released_at = datetime('now'),
                        deleted_reason = 'session ended' WHERE id = ?1",
                [&id],
            )?;
        }
    }
    Ok(())
}

fn active_on_file(conn: &Connection, repo_path: &str, file_path: &str) -> Result<Vec<Claim>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {CLAIM_COLUMNS} FROM file_claims WHERE is_active = 1 AND repo_path = ?1 AND file_path = ?2
         ORDER BY claimed_at, rowid"
    ))?;
    let claims = stmt.query_map(params![repo_path, file_path], claim_from_row)?;
    Ok(claims.collect::<rusqlite::Result<_>>()?)
}

fn claim_by_id(conn: &Connection, id: &str) -> Result<Option<Claim>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {CLAIM_COLUMNS} FROM file_claims WHERE id = ?1"
    ))?;
    Ok(stmt.query_row([id], claim_from_row).optional()?)
}

/// The result of a claim request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimGrant {
    pub success: bool,
    pub claim: Claim,
    pub escalated: bool,
    pub already_held: bool,
}

/// Claims `file` for the claimant, or escalates its existing claim.
pub fn claim(
    data_dir: &Path,
    claimant: &Claimant,
    file: &str,
    mode: ClaimMode,
    reason: Option<&str>,
    ttl_hours: i64,
) -> Result<ClaimGrant> {
    if !(1..=72).contains(&ttl_hours) {
        return Err(
            UserError::new(format!("ttlHours must be from 1 to 72, not {ttl_hours}")).into(),
        );
    }
    let file_path = normalize(claimant, file)?;
    let repo_key = paths::to_db_string(&claimant.repo_path)?;
    let mut db = Database::open(data_dir)?;
    db.immediate(|tx| {
        retire_stale(tx, &repo_key, Some(&file_path))?;
        let active = active_on_file(tx, &repo_key, &file_path)?;
        let (own, others): (Vec<&Claim>, Vec<&Claim>) =
            active.iter().partition(|c| c.session_id == claimant.session_id);
        if let Some(blocker) = others.iter().find(|other| !mode.compatible_with(other.mode)) {
            return Err(UserError::with_hint(
                format!(
                    "{file_path} is claimed {} by session {} until {}",
                    blocker.mode.as_str(),
                    blocker.session_id,
                    blocker.expires_at
                ),
                "ask its owner, claim it as INTENT, or wait for the claim to end",
            )
            .into());
        }
        let metadata = reason.map(|r| serde_json::json!({"reason": r}).to_string());
        if let Some(existing) = own.first() {
            if existing.mode >= mode {
                return Ok(ClaimGrant { success: true, claim: (*existing).clone(), escalated: false, already_held: true });
            }
            tx.execute(
                "UPDATE file_claims SET claim_mode = ?1, escalated_from = ?2,
                        expires_at = datetime('now', ?3), last_heartbeat = datetime('now'),
                        metadata = COALESCE(?4, metadata)
                 WHERE id = ?5",
                params![mode.as_str(), existing.mode.as_str(), format!("+{ttl_hours} hours"), metadata, existing.claim_id],
            )?;
            let claim = claim_by_id(tx, &existing.claim_id)?.context("escalated claim vanished")?;
            return Ok(ClaimGrant { success: true, claim, escalated: true, already_held: false });
        }
        let id = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "INSERT INTO file_claims (id, session_id, repo_path, file_path, claim_mode, expires_at, metadata)
             VALUES (?1, ?2, ?3, ?4, ?5, datetime('now', ?6), ?7)",
            params![id, claimant.session_id, repo_key, file_path, mode.as_str(), format!("+{ttl_hours} hours"), metadata],
        )?;
        let claim = claim_by_id(tx, &id)?.context("new claim vanished")?;
        Ok(ClaimGrant { success: true, claim, escalated: false, already_held: false })
    })
}

/// Ends a claim. Only its owner may, unless `force`.
pub fn release(
    data_dir: &Path,
    caller_session: Option<&str>,
    claim_id: &str,
    force: bool,
) -> Result<Claim> {
    let mut db = Database::open(data_dir)?;
    db.immediate(|tx| {
        let claim = claim_by_id(tx, claim_id)?
            .ok_or_else(|| UserError::new(format!("no claim with id {claim_id}")))?;
        if !claim.is_active {
            return Err(UserError::new(format!("claim {claim_id} has already ended")).into());
        }
        if caller_session != Some(claim.session_id.as_str()) && !force {
            return Err(UserError::with_hint(
                format!("claim {claim_id} belongs to session {}", claim.session_id),
                "only its owner releases it; force=true overrides",
            )
            .into());
        }
        tx.execute(
            "UPDATE file_claims SET is_active = 0, released_at = datetime('now'), deleted_reason = ?2 WHERE id = ?1",
            params![claim_id, if force && caller_session != Some(claim.session_id.as_str()) { "forced" } else { "released" }],
        )?;
        claim_by_id(tx, claim_id)?.context("released claim vanished")
    })
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ClaimFilter {
    pub repo_path: Option<String>,
    pub file_paths: Vec<String>,
    pub session_id: Option<String>,
    pub include_ended: bool,
}

/// Lists claims, retiring stale ones first.
pub fn list(data_dir: &Path, filter: &ClaimFilter) -> Result<Vec<Claim>> {
    let Some(mut db) = Database::open_existing_current(data_dir)? else {
        return Ok(Vec::new());
    };
    let aliases = match &filter.repo_path {
        Some(repo) => {
            Some(crate::repo_paths::Resolver::new(db.conn()).aliases("file_claims", repo)?)
        }
        None => None,
    };
    let repos: Vec<String> = match &aliases {
        Some(aliases) => aliases.clone(),
        None => {
            let mut stmt = db
                .conn()
                .prepare("SELECT DISTINCT repo_path FROM file_claims WHERE is_active = 1")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        }
    };
    db.immediate(|tx| {
        for repo in &repos {
            retire_stale(tx, repo, None)?;
        }
        Ok(())
    })?;
    // A session's claims outlive its row, so a prefix is looked up among
    // the sessions that have claims.
    let session_id = match &filter.session_id {
        Some(given) => Some(
            crate::ids::resolve(
                db.conn(),
                "SELECT DISTINCT session_id, '' FROM file_claims
                 WHERE (session_id = ?1 OR session_id LIKE ?2 ESCAPE '\\') AND deleted_at IS NULL
                 ORDER BY session_id",
                given,
                "session",
            )?
            .unwrap_or_else(|| given.clone()),
        ),
        None => None,
    };
    let mut stmt = db.conn().prepare(&format!(
        "SELECT {CLAIM_COLUMNS} FROM file_claims
         WHERE (?1 IS NULL OR session_id = ?1) AND (?2 OR is_active = 1) AND deleted_at IS NULL
         ORDER BY claimed_at, rowid"
    ))?;
    let claims = stmt.query_map(params![session_id, filter.include_ended], claim_from_row)?;
    let mut claims: Vec<Claim> = claims.collect::<rusqlite::Result<_>>()?;
    if let Some(aliases) = &aliases {
        claims.retain(|c| aliases.contains(&c.repo_path));
    }
    if !filter.file_paths.is_empty() {
        claims.retain(|c| filter.file_paths.iter().any(|f| f == &c.file_path));
    }
    let mut resolver = crate::repo_paths::Resolver::new(db.conn());
    for claim in &mut claims {
        claim.repo_path = resolver.display(&claim.repo_path);
    }
    Ok(claims)
}

/// The PID and worktree name of the session owning each claim, by session
/// id (sessions that are gone are left out).
pub fn owners(
    data_dir: &Path,
    claims: &[Claim],
) -> Result<std::collections::HashMap<String, (i64, Option<String>)>> {
    let mut found = std::collections::HashMap::new();
    let Some(db) = Database::open_existing(data_dir)? else {
        return Ok(found);
    };
    let mut stmt = db
        .conn()
        .prepare("SELECT pid, worktree_name FROM sessions WHERE id = ?1")?;
    for claim in claims {
        if found.contains_key(&claim.session_id) {
            continue;
        }
        let owner: Option<(i64, Option<String>)> = stmt
            .query_row([&claim.session_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        if let Some(owner) = owner {
            found.insert(claim.session_id.clone(), owner);
        }
    }
    Ok(found)
}

/// The active EXCLUSIVE claim of another live session on `file`, if any:
/// what stops an edit.
pub fn exclusive_blocker(
    data_dir: &Path,
    claimant: &Claimant,
    file: &str,
) -> Result<Option<Claim>> {
    let Ok(file_path) = normalize(claimant, file) else {
        return Ok(None);
    };
    let repo_key = paths::to_db_string(&claimant.repo_path)?;
    let Some(mut db) = Database::open_existing(data_dir)? else {
        return Ok(None);
    };
    let active = db.immediate(|tx| {
        retire_stale(tx, &repo_key, Some(&file_path))?;
        active_on_file(tx, &repo_key, &file_path)
    })?;
    Ok(active
        .into_iter()
        .find(|c| c.mode == ClaimMode::Exclusive && c.session_id != claimant.session_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_follows_the_modes() {
        use ClaimMode::*;
        assert!(!Exclusive.compatible_with(Shared));
        assert!(Exclusive.compatible_with(Intent));
        assert!(!Shared.compatible_with(Exclusive));
        assert!(Shared.compatible_with(Shared));
        assert!(!Intent.compatible_with(Exclusive));
        assert!(Intent.compatible_with(Shared));
    }

    #[test]
    fn lexical_normalisation_refuses_climbing_out() {
        assert_eq!(
            lexically_normal(Path::new("a/./b/../c")),
            Some(PathBuf::from("a/c"))
        );
        assert_eq!(lexically_normal(Path::new("../../etc/passwd")), None);
        assert_eq!(lexically_normal(Path::new("a/../../b")), None);
    }
}
