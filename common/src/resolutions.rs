//! Conflicts between two branches, the fixes suggested for them and the
//! fixes applied: detection over a whole merge (recorded in
//! `conflict_resolutions`), suggestions for one file (recorded in
//! `auto_fix_suggestions`), applying and rolling back a fix, and history.
//!
//! Invariants: applying a fix happens under the repository's file lock,
//! only when the file is byte for byte what it was when the suggestion was
//! made, and only when the result has no conflict marker and (for a parsed
//! language) parses; the file is replaced atomically, the previous version
//! kept as a backup, and the database records it in one transaction — if
//! that fails, the file is put back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::{ObjectType, Oid, Repository};
use rayon::prelude::*;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};

use crate::analysis::{self, ConflictType, FileAnalysis};
use crate::autofix::{self, Strategy, Suggestion};
use crate::db::Database;
use crate::merge3::{self, Versions};
use crate::merge_names::MergeNames;
use crate::repo_paths::Resolver;
use crate::syntax::{self, Language};
use crate::tree_merge::{self, Kind};
use crate::{conflicts, lock, paths, UserError};

/// Every conflict of merging `target` into `current`, classified.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    pub current_branch: String,
    pub target_branch: String,
    pub base_commit: String,
    pub source_commit: String,
    pub target_commit: String,
    pub has_conflicts: bool,
    pub total_conflicts: usize,
    pub conflicts: Vec<DetectedFile>,
    /// Files per class.
    pub summary: BTreeMap<&'static str, usize>,
}

/// One conflicting file of a detection: what git calls its conflict
/// (`kind`: content, add/add, modify/delete, rename/delete, rename/rename
/// or binary, as `git merge-tree --messages` names them) and its analysis.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectedFile {
    #[serde(flatten)]
    pub analysis: FileAnalysis,
    pub kind: &'static str,
}

impl std::ops::Deref for DetectedFile {
    type Target = FileAnalysis;

    fn deref(&self) -> &FileAnalysis {
        &self.analysis
    }
}

/// Two revisions of a repository and their merge base.
struct Sides<'r> {
    base: git2::Commit<'r>,
    ours: git2::Commit<'r>,
    theirs: git2::Commit<'r>,
}

fn resolve_sides<'r>(repo: &'r Repository, current: &str, target: &str) -> Result<Sides<'r>> {
    let commit = |spec: &str| -> Result<git2::Commit<'r>> {
        repo.revparse_single(spec)
            .map_err(|_| UserError::new(format!("no branch or revision named {spec}")))?
            .peel_to_commit()
            .with_context(|| format!("{spec} is not a commit"))
    };
    let (ours, theirs) = (commit(current)?, commit(target)?);
    let base = tree_merge::merge_base(repo, ours.id(), theirs.id())?
        .ok_or_else(|| UserError::new(format!("{current} and {target} share no history")))?;
    Ok(Sides {
        base: repo.find_commit(base)?,
        ours,
        theirs,
    })
}

fn blob_text(repo: &Repository, id: Option<Oid>) -> Result<Option<String>> {
    let Some(id) = id else { return Ok(None) };
    let blob = repo.find_blob(id)?;
    if blob.is_binary() {
        return Ok(None);
    }
    Ok(std::str::from_utf8(blob.content()).ok().map(str::to_owned))
}

/// Analyses one conflicting path of a merge.
fn analyze_entry(
    repo: &Repository,
    conflict: &tree_merge::Conflict,
    semantics: bool,
) -> Result<Option<(FileAnalysis, String, Kind)>> {
    let why = match conflict.kind {
        Kind::ModifyDelete => Some("one side deletes the file the other changes"),
        Kind::RenameDelete => Some("one side renames the file the other deletes"),
        Kind::RenameRename => Some("the sides rename the file to different names"),
        Kind::Binary => Some("a binary file"),
        Kind::Content | Kind::AddAdd => None,
    };
    let unknown = |why: &str, kind: Kind| {
        Ok(Some((
            FileAnalysis::unknown(&conflict.path, why),
            String::new(),
            kind,
        )))
    };
    if let Some(why) = why {
        return unknown(why, conflict.kind);
    }
    // Each version is read once, here, and merged once, by the analysis.
    let blob = |version: &Option<tree_merge::Version>| -> Result<Option<git2::Blob>> {
        version
            .as_ref()
            .map(|v| repo.find_blob(v.id))
            .transpose()
            .map_err(Into::into)
    };
    let (base, ours, theirs) = (
        blob(&conflict.ancestor)?,
        blob(&conflict.ours)?,
        blob(&conflict.theirs)?,
    );
    fn bytes<'b>(blob: &'b Option<git2::Blob>) -> &'b [u8] {
        blob.as_ref().map_or(&[][..], |b| b.content())
    }
    let (base, ours, theirs) = (bytes(&base), bytes(&ours), bytes(&theirs));
    if tree_merge::is_binary(base) || tree_merge::is_binary(ours) || tree_merge::is_binary(theirs) {
        return unknown("a binary file", Kind::Binary);
    }
    let text = |bytes| std::str::from_utf8(bytes).ok();
    let (Some(base_text), Some(ours_text), Some(theirs_text)) =
        (text(base), text(ours), text(theirs))
    else {
        return match tree_merge::verify(conflict.kind, base, ours, theirs) {
            Some(kind) => unknown("a file that is not UTF-8 text", kind),
            None => Ok(None),
        };
    };
    let (analysis, merge) =
        analysis::analyze(&conflict.path, base_text, ours_text, theirs_text, semantics)?;
    if analysis.hunks.is_empty() {
        return Ok(None);
    }
    let versions = Versions::new(base_text, ours_text, theirs_text);
    let markers = merge3::render_conflicts(&merge.regions, &versions);
    Ok(Some((analysis, markers, conflict.kind)))
}

/// Classifies every conflict of merging `target` into `current` in the
/// repository at `repo_path`, in memory, and records each conflicting file
/// (once per merge) in `conflict_resolutions`.
pub fn detect(
    data_dir: &Path,
    repo_path: &Path,
    current: &str,
    target: &str,
    semantics: bool,
    session_id: Option<&str>,
) -> Result<Detection> {
    let repo = crate::git::open(repo_path)?;
    let sides = resolve_sides(&repo, current, target)?;
    let trees = (sides.base.tree()?, sides.ours.tree()?, sides.theirs.tree()?);
    let found = tree_merge::merge_trees_unverified(&repo, &trees.0, &trees.1, &trees.2)?;
    let git_dir = repo.path().to_path_buf();
    let analysed: Vec<Result<Option<(FileAnalysis, String, Kind)>>> = found
        .par_iter()
        .map_init(
            || Repository::open(&git_dir),
            |local, conflict| {
                let local = local
                    .as_ref()
                    .map_err(|e| anyhow::anyhow!("cannot open repository: {e}"))?;
                analyze_entry(local, conflict, semantics)
            },
        )
        .collect();
    // Files both sides change that still merge cleanly are no conflict.
    let mut kept = Vec::new();
    for result in analysed {
        if let Some((analysis, markers, kind)) = result? {
            let kind = kind.as_str();
            kept.push((DetectedFile { analysis, kind }, markers));
        }
    }
    let analysed = kept;
    let mut summary = BTreeMap::new();
    for (analysis, _) in &analysed {
        *summary.entry(analysis.conflict_type.as_str()).or_insert(0) += 1;
    }
    let detection = Detection {
        current_branch: current.to_owned(),
        target_branch: target.to_owned(),
        base_commit: sides.base.id().to_string(),
        source_commit: sides.ours.id().to_string(),
        target_commit: sides.theirs.id().to_string(),
        has_conflicts: !analysed.is_empty(),
        total_conflicts: analysed.len(),
        summary,
        conflicts: Vec::new(),
    };
    if !analysed.is_empty() {
        record_detection(data_dir, repo_path, &detection, &analysed, session_id)?;
    }
    Ok(Detection {
        conflicts: analysed.into_iter().map(|(a, _)| a).collect(),
        ..detection
    })
}

fn record_detection(
    data_dir: &Path,
    repo_path: &Path,
    detection: &Detection,
    analysed: &[(DetectedFile, String)],
    session_id: Option<&str>,
) -> Result<()> {
    let repo_key = paths::to_db_string(repo_path)?;
    let mut db = Database::open(data_dir)?;
    db.immediate(|tx| {
        for (analysis, markers) in analysed {
            let hunks = serde_json::to_string(&analysis.hunks)?;
            let updated = tx.execute(
                "UPDATE conflict_resolutions SET conflict_type = ?1, conflict_markers = ?2, metadata = ?3
                 WHERE repo_path = ?4 AND file_path = ?5 AND base_commit = ?6 AND source_commit = ?7
                   AND target_commit = ?8 AND resolved_at IS NULL AND deleted_at IS NULL",
                params![
                    analysis.conflict_type.as_str(),
                    markers,
                    hunks,
                    repo_key,
                    analysis.file_path,
                    detection.base_commit,
                    detection.source_commit,
                    detection.target_commit
                ],
            )?;
            if updated == 0 {
                tx.execute(
                    "INSERT INTO conflict_resolutions (id, session_id, repo_path, file_path, conflict_type,
                        base_commit, source_commit, target_commit, resolution_strategy, conflict_markers, metadata)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'MANUAL', ?9, ?10)",
                    params![
                        uuid::Uuid::new_v4().to_string(),
                        session_id,
                        repo_key,
                        analysis.file_path,
                        analysis.conflict_type.as_str(),
                        detection.base_commit,
                        detection.source_commit,
                        detection.target_commit,
                        markers,
                        hunks
                    ],
                )?;
            }
        }
        Ok(())
    })
}

/// A stored suggestion, as tools show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSuggestion {
    pub id: String,
    #[serde(flatten)]
    pub suggestion: Suggestion,
}

/// The suggestions for one file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuggestionList {
    pub file_path: String,
    pub current_branch: String,
    pub target_branch: String,
    pub has_conflict: bool,
    pub suggestions: Vec<StoredSuggestion>,
    /// Why there is no safe fix, when there is none.
    pub explanation: Option<String>,
}

/// How many fixes of a strategy were applied, and how many of those were
/// kept (not rolled back).
fn track_record(db: &Database, strategy: Strategy) -> (u32, u32) {
    db.conn()
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN r.deleted_at IS NULL THEN 1 ELSE 0 END), 0)
             FROM conflict_resolutions r JOIN auto_fix_suggestions s ON s.id = r.auto_fix_suggestion_id
             WHERE r.resolution_strategy = 'AUTO_FIX' AND s.strategy_used = ?1",
            [strategy.as_str()],
            |row| Ok((row.get::<_, u32>(0)?, row.get::<_, u32>(1)?)),
        )
        .unwrap_or((0, 0))
}

/// What a file holds now: its git blob id, or `absent`.
fn file_fingerprint(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => Oid::hash_object(ObjectType::Blob, &bytes)
            .map(|id| id.to_string())
            .unwrap_or_default(),
        Err(_) => "absent".to_owned(),
    }
}

/// Suggests fixes for `file_path` when merging `target` into `current`,
/// and records them. `checkout` is where the file would be fixed.
pub fn suggest(
    data_dir: &Path,
    checkout: &Path,
    file_path: &str,
    current: &str,
    target: &str,
    min_confidence: f64,
    max_suggestions: usize,
) -> Result<SuggestionList> {
    let common = crate::git::resolve_repository(checkout)?;
    let repo = Repository::discover(paths::canonicalize_existing(checkout)?)?;
    let repo = &repo;
    let workdir = repo
        .workdir()
        .context("the repository has no working tree")?
        .to_path_buf();
    let file_path = crate::claims::repository_relative(&common, &workdir, file_path)?;
    let sides = resolve_sides(repo, current, target)?;
    let blob = |commit: &git2::Commit| -> Result<Option<Oid>> {
        Ok(commit
            .tree()?
            .get_path(Path::new(&file_path))
            .ok()
            .map(|e| e.id()))
    };
    let entry = conflicts::ConflictEntry {
        path: file_path.clone(),
        ancestor: blob(&sides.base)?,
        ours: blob(&sides.ours)?,
        theirs: blob(&sides.theirs)?,
    };
    let mut list = SuggestionList {
        file_path: file_path.clone(),
        current_branch: current.to_owned(),
        target_branch: target.to_owned(),
        has_conflict: false,
        suggestions: Vec::new(),
        explanation: None,
    };
    if entry.ours.is_none() && entry.theirs.is_none() {
        return Err(
            UserError::new(format!("{file_path} is in neither {current} nor {target}")).into(),
        );
    }
    let (base, ours, theirs) = (
        entry
            .ancestor
            .map_or(Ok(Some(String::new())), |id| blob_text(repo, Some(id)))?,
        blob_text(repo, entry.ours)?,
        blob_text(repo, entry.theirs)?,
    );
    let (Some(base), Some(ours), Some(theirs)) = (base, ours, theirs) else {
        list.has_conflict = entry.ours != entry.theirs;
        list.explanation =
            Some("a side deletes the file or it is binary: no automatic fix".to_owned());
        return Ok(list);
    };
    let (analysis, merge) = analysis::analyze(&file_path, &base, &ours, &theirs, true)?;
    if analysis.hunks.is_empty() {
        list.explanation = Some(format!("{file_path} merges without conflict"));
        return Ok(list);
    }
    list.has_conflict = true;
    let versions = Versions::new(&base, &ours, &theirs);
    let mut db = Database::open(data_dir)?;
    let records = [
        Strategy::TrivialMerge,
        Strategy::StructuralMerge,
        Strategy::ConcurrentEdit,
    ]
    .map(|strategy| (strategy, track_record(&db, strategy)));
    let record_of = move |strategy: Strategy| {
        records
            .iter()
            .find(|(s, _)| *s == strategy)
            .map_or((0, 0), |(_, record)| *record)
    };
    let names = MergeNames::of_trees(
        repo,
        &sides.base.tree()?,
        &sides.ours.tree()?,
        &sides.theirs.tree()?,
    )?;
    let suggestion = autofix::suggest(&analysis, &merge, &versions, &names, &record_of);
    let fingerprint = file_fingerprint(&workdir.join(&file_path));
    let id = uuid::Uuid::new_v4().to_string();
    let metadata = json!({
        "checkoutPath": paths::to_db_string(&workdir)?,
        "fileFingerprint": fingerprint,
        "autoApplicable": suggestion.auto_applicable,
        "confidenceFactors": suggestion.confidence_factors,
        "risks": suggestion.risks,
        "preview": suggestion.preview,
        "currentBranch": current,
        "targetBranch": target,
        "baseCommit": sides.base.id().to_string(),
        "sourceCommit": sides.ours.id().to_string(),
        "targetCommit": sides.theirs.id().to_string(),
        "language": analysis.language,
    });
    let repo_key = paths::to_db_string(&common)?;
    db.immediate(|tx| {
        tx.execute(
            "INSERT INTO auto_fix_suggestions (id, repo_path, file_path, conflict_type, suggested_resolution,
                confidence_score, explanation, strategy_used, base_content, source_content, target_content, metadata)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                id,
                repo_key,
                file_path,
                suggestion.conflict_type.as_str(),
                suggestion.resolved,
                suggestion.confidence,
                suggestion.explanation,
                suggestion.strategy.as_str(),
                base,
                ours,
                theirs,
                metadata.to_string()
            ],
        )?;
        Ok(())
    })?;
    if !suggestion.auto_applicable {
        list.explanation = Some(suggestion.explanation.clone());
    }
    if suggestion.confidence >= min_confidence && max_suggestions > 0 {
        list.suggestions.push(StoredSuggestion { id, suggestion });
    } else if list.explanation.is_none() {
        list.explanation = Some(format!(
            "the only fix has confidence {} (below {min_confidence})",
            suggestion.confidence
        ));
    }
    Ok(list)
}

/// What applying a suggestion did (or, with `dryRun`, would do).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    pub success: bool,
    pub applied: bool,
    pub dry_run: bool,
    pub suggestion_id: String,
    pub file_path: String,
    pub absolute_path: String,
    pub resolution_id: Option<String>,
    pub backup_path: Option<String>,
    pub rollback_command: Option<String>,
    pub verification: Verification,
    pub preview: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub unchanged_since_suggestion: bool,
    pub no_conflict_markers: bool,
    /// `null` for a language that is not parsed.
    pub parses: Option<bool>,
}

struct SuggestionRow {
    repo_path: String,
    file_path: String,
    conflict_type: String,
    resolution: String,
    confidence: f64,
    applied_at: Option<String>,
    metadata: Value,
}

fn load_suggestion(db: &Database, id: &str) -> Result<SuggestionRow> {
    db.conn()
        .query_row(
            "SELECT repo_path, file_path, conflict_type, suggested_resolution, confidence_score, applied_at,
                    COALESCE(metadata, '{}')
             FROM auto_fix_suggestions WHERE id = ?1 AND deleted_at IS NULL",
            [id],
            |row| {
                Ok(SuggestionRow {
                    repo_path: row.get(0)?,
                    file_path: row.get(1)?,
                    conflict_type: row.get(2)?,
                    resolution: row.get(3)?,
                    confidence: row.get(4)?,
                    applied_at: row.get(5)?,
                    metadata: serde_json::from_str(&row.get::<_, String>(6)?).unwrap_or(Value::Null),
                })
            },
        )
        .optional()?
        .ok_or_else(|| UserError::with_hint(format!("no suggestion {id}"), "ask for suggestions first").into())
}

/// Applies a stored suggestion to the file in the checkout it was made
/// for.
pub fn apply(
    data_dir: &Path,
    suggestion_id: &str,
    dry_run: bool,
    create_backup: bool,
) -> Result<ApplyReport> {
    let mut db = Database::open(data_dir)?;
    let suggestion_id = &crate::ids::resolve(
        db.conn(),
        "SELECT id, file_path FROM auto_fix_suggestions
         WHERE (id = ?1 OR id LIKE ?2 ESCAPE '\\') AND deleted_at IS NULL ORDER BY generated_at, id",
        suggestion_id,
        "suggestion",
    )?
    .unwrap_or_else(|| suggestion_id.to_owned());
    let row = load_suggestion(&db, suggestion_id)?;
    if let Some(when) = &row.applied_at {
        return Err(UserError::new(format!(
            "suggestion {suggestion_id} was applied already ({when} UTC)"
        ))
        .into());
    }
    let text = |key: &str| {
        row.metadata
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    // Rows the TypeScript tool wrote in the main checkout name no checkout.
    let checkout = match text("checkoutPath") {
        path if path.is_empty() => PathBuf::from(&row.repo_path),
        path => PathBuf::from(path),
    };
    let target = checkout.join(&row.file_path);
    let repository = crate::repo_paths::repository_of(db.conn(), &row.repo_path)
        .unwrap_or_else(|| row.repo_path.clone());
    let wait = crate::config::Config::load(data_dir)
        .unwrap_or_default()
        .lock_wait();
    let _lock = lock::lock_repository(data_dir, Path::new(&repository), wait)?;
    let unchanged = file_fingerprint(&target) == text("fileFingerprint");
    let no_markers = !merge3::has_conflict_markers(&row.resolution);
    let parses =
        Language::of_path(&row.file_path).map(|l| syntax::parses_cleanly(l, &row.resolution));
    let verification = Verification {
        unchanged_since_suggestion: unchanged,
        no_conflict_markers: no_markers,
        parses,
    };
    if text("fileFingerprint").is_empty() {
        // The TypeScript tool kept no record of the file a suggestion was
        // made for, so nothing tells that it is still the same.
        return Err(UserError::with_hint(
            format!(
                "suggestion {suggestion_id} records no fingerprint of {} (the TypeScript tool made it), so it cannot be checked against the file; nothing was written",
                row.file_path
            ),
            "make a new one with 'git pcc suggestions --generate'",
        )
        .into());
    }
    if !unchanged {
        return Err(UserError::with_hint(
            format!(
                "{} changed since the suggestion was made; nothing was written",
                row.file_path
            ),
            "ask for a new suggestion",
        )
        .into());
    }
    let auto_applicable = row
        .metadata
        .get("autoApplicable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !no_markers || parses == Some(false) || !auto_applicable {
        return Err(UserError::new(format!(
            "suggestion {suggestion_id} is not safe to apply (conflict markers left or the result does not parse); nothing was written"
        ))
        .into());
    }
    let mut report = ApplyReport {
        success: true,
        applied: false,
        dry_run,
        suggestion_id: suggestion_id.to_owned(),
        file_path: row.file_path.clone(),
        absolute_path: target.display().to_string(),
        resolution_id: None,
        backup_path: None,
        rollback_command: None,
        verification,
        preview: row.metadata.get("preview").cloned().unwrap_or(Value::Null),
    };
    if dry_run {
        return Ok(report);
    }
    let previous = std::fs::read(&target).ok();
    let backup = match (&previous, create_backup) {
        (Some(bytes), true) => {
            let dir = data_dir.join("backups").join(suggestion_id);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let name = Path::new(&row.file_path)
                .file_name()
                .context("file has no name")?;
            let path = dir.join(name);
            crate::config::write_atomically(&path, bytes)?;
            Some(path)
        }
        _ => None,
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    crate::config::write_atomically(&target, row.resolution.as_bytes())?;
    let metadata = json!({
        "backupPath": backup.as_ref().map(|p| p.display().to_string()),
        "checkoutPath": paths::to_db_string(&checkout)?,
        "appliedFingerprint": file_fingerprint(&target),
    });
    let recorded = db.immediate(|tx| {
        let detected: Option<String> = tx
            .query_row(
                "SELECT id FROM conflict_resolutions WHERE repo_path = ?1 AND file_path = ?2
                   AND base_commit = ?3 AND source_commit = ?4 AND target_commit = ?5
                   AND resolved_at IS NULL AND deleted_at IS NULL LIMIT 1",
                params![
                    repository,
                    row.file_path,
                    text("baseCommit"),
                    text("sourceCommit"),
                    text("targetCommit")
                ],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = &detected {
            tx.execute(
                "UPDATE conflict_resolutions SET resolution_strategy = 'AUTO_FIX', confidence_score = ?1,
                    resolved_content = ?2, resolved_at = datetime('now'), auto_fix_suggestion_id = ?3, metadata = ?4
                 WHERE id = ?5",
                params![row.confidence, row.resolution, suggestion_id, metadata.to_string(), id],
            )?;
        }
        let was_detected = detected.is_some();
        let resolution_id = detected.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if !was_detected {
            tx.execute(
                "INSERT INTO conflict_resolutions (id, repo_path, file_path, conflict_type, base_commit, source_commit,
                    target_commit, resolution_strategy, confidence_score, conflict_markers, resolved_content,
                    resolved_at, auto_fix_suggestion_id, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'AUTO_FIX', ?8, ?9, ?10, datetime('now'), ?11, ?12)",
                params![
                    resolution_id,
                    repository,
                    row.file_path,
                    row.conflict_type,
                    text("baseCommit"),
                    text("sourceCommit"),
                    text("targetCommit"),
                    row.confidence,
                    row.metadata.get("preview").and_then(|p| p.get("before")).and_then(Value::as_str).unwrap_or(""),
                    row.resolution,
                    suggestion_id,
                    metadata.to_string()
                ],
            )?;
        }
        tx.execute(
            "UPDATE auto_fix_suggestions SET applied_at = datetime('now'), conflict_resolution_id = ?1 WHERE id = ?2",
            params![resolution_id, suggestion_id],
        )?;
        Ok(resolution_id)
    });
    let resolution_id = match recorded {
        Ok(id) => id,
        Err(err) => {
            // Put the file back: a fix the database does not know of must not stay.
            match &previous {
                Some(bytes) => crate::config::write_atomically(&target, bytes)?,
                None => std::fs::remove_file(&target)?,
            }
            return Err(err.context("cannot record the fix; the file was restored"));
        }
    };
    report.applied = true;
    report.rollback_command = backup
        .as_ref()
        .map(|_| format!("git pcc suggestions --rollback {resolution_id}"));
    report.backup_path = backup.map(|p| p.display().to_string());
    report.resolution_id = Some(resolution_id);
    Ok(report)
}

/// What a rollback did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackReport {
    pub success: bool,
    pub resolution_id: String,
    pub file_path: String,
    pub restored_from: String,
}

/// Puts back the file an applied fix replaced.
pub fn rollback(data_dir: &Path, resolution_id: &str, force: bool) -> Result<RollbackReport> {
    let mut db = Database::open(data_dir)?;
    let resolution_id = &crate::ids::resolve(
        db.conn(),
        "SELECT id, file_path FROM conflict_resolutions
         WHERE (id = ?1 OR id LIKE ?2 ESCAPE '\\') AND resolution_strategy = 'AUTO_FIX'
               AND deleted_at IS NULL ORDER BY detected_at, id",
        resolution_id,
        "applied fix",
    )?
    .unwrap_or_else(|| resolution_id.to_owned());
    let found: Option<(String, String, String)> = db
        .conn()
        .query_row(
            "SELECT repo_path, file_path, COALESCE(metadata, '{}') FROM conflict_resolutions
             WHERE id = ?1 AND resolution_strategy = 'AUTO_FIX' AND deleted_at IS NULL",
            [resolution_id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    let Some((repo_path, file_path, metadata)) = found else {
        return Err(UserError::new(format!("no applied fix {resolution_id} to roll back")).into());
    };
    let metadata: Value = serde_json::from_str(&metadata).unwrap_or(Value::Null);
    let text = |key: &str| metadata.get(key).and_then(Value::as_str).map(str::to_owned);
    let backup = text("backupPath").ok_or_else(|| {
        UserError::new("this fix was applied without a backup; it cannot be rolled back")
    })?;
    let target =
        PathBuf::from(text("checkoutPath").unwrap_or_else(|| repo_path.clone())).join(&file_path);
    let wait = crate::config::Config::load(data_dir)
        .unwrap_or_default()
        .lock_wait();
    let _lock = lock::lock_repository(data_dir, Path::new(&repo_path), wait)?;
    if !force && Some(file_fingerprint(&target)) != text("appliedFingerprint") {
        return Err(UserError::with_hint(
            format!("{file_path} changed since the fix was applied; nothing was restored"),
            "use --force to restore the backup anyway",
        )
        .into());
    }
    let bytes =
        std::fs::read(&backup).with_context(|| format!("cannot read the backup {backup}"))?;
    crate::config::write_atomically(&target, &bytes)?;
    db.immediate(|tx| {
        tx.execute(
            "UPDATE conflict_resolutions SET deleted_at = datetime('now'), deleted_reason = 'rolled back' WHERE id = ?1",
            [resolution_id],
        )?;
        Ok(())
    })?;
    Ok(RollbackReport {
        success: true,
        resolution_id: resolution_id.to_owned(),
        file_path,
        restored_from: backup,
    })
}

/// Filters for conflict history.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub repo_path: Option<String>,
    pub file_path: Option<String>,
    pub conflict_type: Option<String>,
    pub resolution_strategy: Option<String>,
    pub resolved: Option<bool>,
    pub limit: usize,
    pub offset: usize,
}

/// One recorded conflict: its row.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictRecord {
    pub id: String,
    pub session_id: Option<String>,
    /// The repository (a path the TypeScript tool stored for a worktree is
    /// shown as the worktree's repository).
    pub repo_path: String,
    pub file_path: String,
    pub conflict_type: String,
    pub resolution_strategy: String,
    pub confidence_score: Option<f64>,
    pub base_commit: String,
    pub source_commit: String,
    pub target_commit: String,
    pub conflict_markers: String,
    pub resolved_content: Option<String>,
    pub detected_at: String,
    pub resolved_at: Option<String>,
    pub auto_fix_suggestion_id: Option<String>,
    pub metadata: Option<Value>,
    pub deleted_at: Option<String>,
    pub deleted_reason: Option<String>,
    pub rolled_back: bool,
    /// The strategy and explanation of the fix that resolved it, if any.
    pub auto_fix_strategy: Option<String>,
    pub auto_fix_explanation: Option<String>,
}

/// A recorded conflict as the TypeScript tool's `conflicts --json` printed
/// it: the row under its column names, without the columns that are null;
/// `rolled_back` is ours.
#[derive(Debug, Clone, Serialize)]
pub struct ResolutionRow<'a> {
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<&'a str>,
    pub repo_path: &'a str,
    pub file_path: &'a str,
    pub conflict_type: &'a str,
    pub base_commit: &'a str,
    pub source_commit: &'a str,
    pub target_commit: &'a str,
    pub resolution_strategy: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence_score: Option<f64>,
    pub conflict_markers: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_content: Option<&'a str>,
    pub detected_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_fix_suggestion_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_reason: Option<&'a str>,
    pub rolled_back: bool,
}

impl ConflictRecord {
    /// The record under the seed's column names.
    pub fn as_row(&self) -> ResolutionRow<'_> {
        ResolutionRow {
            id: &self.id,
            session_id: self.session_id.as_deref(),
            repo_path: &self.repo_path,
            file_path: &self.file_path,
            conflict_type: &self.conflict_type,
            base_commit: &self.base_commit,
            source_commit: &self.source_commit,
            target_commit: &self.target_commit,
            resolution_strategy: &self.resolution_strategy,
            // The seed left out a confidence of 0 as it did a missing one.
            confidence_score: self.confidence_score.filter(|c| *c != 0.0),
            conflict_markers: &self.conflict_markers,
            resolved_content: self.resolved_content.as_deref(),
            detected_at: &self.detected_at,
            resolved_at: self.resolved_at.as_deref(),
            auto_fix_suggestion_id: self.auto_fix_suggestion_id.as_deref(),
            metadata: self.metadata.as_ref(),
            deleted_at: self.deleted_at.as_deref(),
            deleted_reason: self.deleted_reason.as_deref(),
            rolled_back: self.rolled_back,
        }
    }
}

/// Counts over every record a filter matches (not only one page).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryStatistics {
    pub total_resolutions: usize,
    /// The fraction resolved by an applied fix.
    pub auto_fix_rate: f64,
    /// The mean confidence of the records that have one (0 when none has).
    pub average_confidence: f64,
    pub by_type: BTreeMap<String, usize>,
    pub by_strategy: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// How many records the filter matches, on every page.
    pub total: usize,
    pub records: Vec<ConflictRecord>,
    pub statistics: HistoryStatistics,
}

/// Recorded conflicts, newest first.
pub fn history(data_dir: &Path, filter: &HistoryFilter) -> Result<History> {
    if let Some(kind) = &filter.conflict_type {
        if ConflictType::parse(kind).is_none() {
            return Err(UserError::new(format!(
                "unknown conflict type '{kind}': use TRIVIAL, CONCURRENT_EDIT, STRUCTURAL, SEMANTIC or UNKNOWN"
            ))
            .into());
        }
    }
    if let Some(strategy) = &filter.resolution_strategy {
        if !["AUTO_FIX", "MANUAL", "HYBRID", "ABANDONED"]
            .contains(&strategy.to_ascii_uppercase().as_str())
        {
            return Err(UserError::new(format!(
                "unknown resolution strategy '{strategy}': use AUTO_FIX, MANUAL, HYBRID or ABANDONED"
            ))
            .into());
        }
    }
    let Some(db) = Database::open_existing_current(data_dir)? else {
        return Ok(History {
            total: 0,
            records: Vec::new(),
            statistics: HistoryStatistics::default(),
        });
    };
    let mut resolver = Resolver::new(db.conn());
    let mut conditions = vec!["1 = 1".to_owned()];
    let mut values: Vec<String> = Vec::new();
    if let Some(repo) = &filter.repo_path {
        let aliases = resolver.aliases("conflict_resolutions", repo)?;
        conditions.push(format!(
            "r.repo_path IN ({})",
            placeholders(values.len(), aliases.len())
        ));
        values.extend(aliases);
    }
    let mut add = |condition: &str, value: Option<String>| {
        if let Some(value) = value {
            values.push(value);
            conditions.push(condition.replace('?', &format!("?{}", values.len())));
        }
    };
    add("r.file_path = ?", filter.file_path.clone());
    add(
        "r.conflict_type = ?",
        filter
            .conflict_type
            .as_ref()
            .map(|t| t.to_ascii_uppercase()),
    );
    add(
        "r.resolution_strategy = ?",
        filter
            .resolution_strategy
            .as_ref()
            .map(|t| t.to_ascii_uppercase()),
    );
    match filter.resolved {
        Some(true) => conditions.push("r.resolved_at IS NOT NULL".to_owned()),
        Some(false) => conditions.push("r.resolved_at IS NULL".to_owned()),
        None => {}
    }
    let filter_sql = conditions.join(" AND ");
    let statistics = history_statistics(&db, &filter_sql, &values)?;
    let mut statement = db.conn().prepare(&format!(
        "SELECT r.id, r.session_id, r.repo_path, r.file_path, r.conflict_type, r.resolution_strategy,
                r.confidence_score, r.base_commit, r.source_commit, r.target_commit, r.conflict_markers,
                r.resolved_content, r.detected_at, r.resolved_at, r.auto_fix_suggestion_id, r.metadata,
                r.deleted_at, r.deleted_reason, s.strategy_used, s.explanation
         FROM conflict_resolutions r LEFT JOIN auto_fix_suggestions s ON s.id = r.auto_fix_suggestion_id
         WHERE {filter_sql}
         ORDER BY r.detected_at DESC, r.rowid DESC LIMIT {} OFFSET {}",
        filter.limit, filter.offset
    ))?;
    let mut records = statement
        .query_map(rusqlite::params_from_iter(values.iter()), |row| {
            let metadata: Option<String> = row.get(15)?;
            let deleted_reason: Option<String> = row.get(17)?;
            Ok(ConflictRecord {
                id: row.get(0)?,
                session_id: row.get(1)?,
                repo_path: row.get(2)?,
                file_path: row.get(3)?,
                conflict_type: row.get(4)?,
                resolution_strategy: row.get(5)?,
                confidence_score: row.get(6)?,
                base_commit: row.get(7)?,
                source_commit: row.get(8)?,
                target_commit: row.get(9)?,
                conflict_markers: row.get(10)?,
                resolved_content: row.get(11)?,
                detected_at: row.get(12)?,
                resolved_at: row.get(13)?,
                auto_fix_suggestion_id: row.get(14)?,
                metadata: metadata.map(|text| stored_json(&text)),
                deleted_at: row.get(16)?,
                rolled_back: deleted_reason.is_some(),
                deleted_reason,
                auto_fix_strategy: row.get(18)?,
                auto_fix_explanation: row.get(19)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for record in &mut records {
        record.repo_path = resolver.display(&record.repo_path);
    }
    Ok(History {
        total: statistics.total_resolutions,
        records,
        statistics,
    })
}

fn history_statistics(
    db: &Database,
    filter_sql: &str,
    values: &[String],
) -> Result<HistoryStatistics> {
    let mut statistics = HistoryStatistics::default();
    let mut statement = db.conn().prepare(&format!(
        "SELECT r.conflict_type, r.resolution_strategy, COUNT(*), COUNT(r.confidence_score),
                COALESCE(SUM(r.confidence_score), 0)
         FROM conflict_resolutions r WHERE {filter_sql}
         GROUP BY r.conflict_type, r.resolution_strategy"
    ))?;
    let groups = statement.query_map(rusqlite::params_from_iter(values.iter()), |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, usize>(2)?,
            row.get::<_, usize>(3)?,
            row.get::<_, f64>(4)?,
        ))
    })?;
    let (mut scored, mut score_sum) = (0usize, 0.0f64);
    for group in groups {
        let (kind, strategy, count, with_score, sum) = group?;
        statistics.total_resolutions += count;
        *statistics.by_type.entry(kind).or_insert(0) += count;
        *statistics.by_strategy.entry(strategy).or_insert(0) += count;
        scored += with_score;
        score_sum += sum;
    }
    if statistics.total_resolutions > 0 {
        let fixed = statistics.by_strategy.get("AUTO_FIX").copied().unwrap_or(0);
        statistics.auto_fix_rate = fixed as f64 / statistics.total_resolutions as f64;
    }
    if scored > 0 {
        statistics.average_confidence = score_sum / scored as f64;
    }
    Ok(statistics)
}

/// `?n, ?n+1, ...` for `count` values after the first `taken`.
fn placeholders(taken: usize, count: usize) -> String {
    (taken + 1..=taken + count)
        .map(|n| format!("?{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A JSON column's value: its JSON, or its text when it holds no JSON.
fn stored_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// A stored suggestion, listed: its row under the seed's column names
/// (the TypeScript tool's `suggestions --json`), without the columns that
/// are null; `auto_applicable` is ours.
#[derive(Debug, Clone, Serialize)]
pub struct SuggestionRecord {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict_resolution_id: Option<String>,
    /// The repository (a path the TypeScript tool stored for a worktree is
    /// shown as the worktree's repository).
    pub repo_path: String,
    pub file_path: String,
    pub conflict_type: String,
    pub suggested_resolution: String,
    pub confidence_score: f64,
    pub explanation: String,
    pub strategy_used: String,
    pub base_content: String,
    pub source_content: String,
    pub target_content: String,
    pub generated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    pub was_auto_applied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub auto_applicable: bool,
}

/// Stored suggestions, newest first.
pub fn list_suggestions(
    data_dir: &Path,
    repo_path: Option<&str>,
    file_path: Option<&str>,
    min_confidence: f64,
    applied: Option<bool>,
    limit: usize,
) -> Result<Vec<SuggestionRecord>> {
    let Some(db) = Database::open_existing_current(data_dir)? else {
        return Ok(Vec::new());
    };
    let mut resolver = Resolver::new(db.conn());
    let applied_sql = match applied {
        Some(true) => "AND applied_at IS NOT NULL",
        Some(false) => "AND applied_at IS NULL",
        None => "",
    };
    let mut values: Vec<rusqlite::types::Value> = vec![
        file_path.map(str::to_owned).into(),
        min_confidence.into(),
        (limit as i64).into(),
    ];
    let repo_sql = match repo_path {
        Some(repo) => {
            let aliases = resolver.aliases("auto_fix_suggestions", repo)?;
            let sql = format!(
                "AND repo_path IN ({})",
                placeholders(values.len(), aliases.len())
            );
            values.extend(aliases.into_iter().map(Into::into));
            sql
        }
        None => String::new(),
    };
    let mut statement = db.conn().prepare(&format!(
        "SELECT id, conflict_resolution_id, repo_path, file_path, conflict_type, suggested_resolution,
                confidence_score, explanation, strategy_used, base_content, source_content, target_content,
                generated_at, applied_at, was_auto_applied, metadata
         FROM auto_fix_suggestions
         WHERE deleted_at IS NULL {repo_sql} AND (?1 IS NULL OR file_path = ?1)
           AND confidence_score >= ?2 {applied_sql}
         ORDER BY generated_at DESC, rowid DESC LIMIT ?3"
    ))?;
    let mut rows = statement
        .query_map(rusqlite::params_from_iter(values.iter()), |row| {
            let metadata = row.get::<_, Option<String>>(15)?.map(|m| stored_json(&m));
            Ok(SuggestionRecord {
                id: row.get(0)?,
                conflict_resolution_id: row.get(1)?,
                repo_path: row.get(2)?,
                file_path: row.get(3)?,
                conflict_type: row.get(4)?,
                suggested_resolution: row.get(5)?,
                confidence_score: row.get(6)?,
                explanation: row.get(7)?,
                strategy_used: row.get(8)?,
                base_content: row.get(9)?,
                source_content: row.get(10)?,
                target_content: row.get(11)?,
                generated_at: row.get(12)?,
                applied_at: row.get(13)?,
                was_auto_applied: row.get::<_, i64>(14)? != 0,
                auto_applicable: metadata
                    .as_ref()
                    .and_then(|m| m.get("autoApplicable"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                metadata,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for row in &mut rows {
        row.repo_path = resolver.display(&row.repo_path);
    }
    Ok(rows)
}
