//! Candidates: a branch put on the target's current tip, in memory, as a
//! commit that no ref points at yet. `rebase` replays the branch's commits
//! one by one (commits whose changes the target already has are dropped,
//! as `git rebase` drops them), `merge` makes a merge commit, `squash` one
//! commit with all the branch's changes. No working tree, index or ref is
//! touched.
//!
//! A conflict stops the candidate with every conflicting file classified
//! (the conflict classifier of `analysis`). With `auto_fix`, a conflict is
//! resolved only when every conflicting file has a fix that is
//! auto-applicable (no conflict marker left, still parses); the resolved
//! candidate is then checked like any other.

use anyhow::{Context, Result};
use git2::{Commit, Index, IndexEntry, Oid, Repository, Signature, Sort};
use serde::Serialize;

use super::Strategy;
use crate::analysis::{self, FileAnalysis};
use crate::autofix;
use crate::merge3::{self, Versions};
use crate::merge_names::MergeNames;

/// A candidate ready to be checked.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub commit: String,
    /// The target tip it stands on.
    pub tip: String,
    /// Commits made for it (0 for a fast-forward).
    pub commits_made: usize,
    /// Whether the target already has everything the branch has.
    pub already_in: bool,
    /// The fixes applied to conflicts (`path: strategy`), with `auto_fix`.
    pub fixes: Vec<String>,
}

/// What building a candidate gave.
#[derive(Debug, Clone)]
pub enum Built {
    Ready(Candidate),
    /// The conflicting files, classified.
    Conflict(Vec<FileAnalysis>),
}

/// What to build.
pub struct Request<'a> {
    pub source: Oid,
    pub tip: Oid,
    pub strategy: Strategy,
    pub auto_fix: bool,
    pub message: Option<&'a str>,
    pub branch: &'a str,
    pub target: &'a str,
}

/// Puts `request.source` on `request.tip` in memory.
pub fn build(repo: &Repository, request: &Request) -> Result<Built> {
    let (source, tip) = (request.source, request.tip);
    let ready = |commit: Oid, commits_made: usize, already_in: bool, fixes: Vec<String>| {
        Built::Ready(Candidate {
            commit: commit.to_string(),
            tip: tip.to_string(),
            commits_made,
            already_in,
            fixes,
        })
    };
    if source == tip || repo.graph_descendant_of(tip, source)? {
        return Ok(ready(tip, 0, true, Vec::new()));
    }
    let signature = repo
        .signature()
        .or_else(|_| Signature::now("parallel-cc", "parallel-cc@localhost"))?;
    let tip_commit = repo.find_commit(tip)?;
    let source_commit = repo.find_commit(source)?;
    match request.strategy {
        Strategy::Rebase => {
            if repo.graph_descendant_of(source, tip)? {
                return Ok(ready(source, 0, false, Vec::new()));
            }
            replay(
                repo,
                &source_commit,
                &tip_commit,
                request.auto_fix,
                &signature,
            )
            .map(|outcome| match outcome {
                Replayed::Done(commit, made, fixes) => ready(commit, made, commit == tip, fixes),
                Replayed::Conflict(files) => Built::Conflict(files),
            })
        }
        Strategy::Merge | Strategy::Squash => {
            let mut index = repo.merge_commits(&tip_commit, &source_commit, None)?;
            let base = repo.find_commit(repo.merge_base(tip, source)?)?;
            let names = names_of(
                repo,
                request.auto_fix && index.has_conflicts(),
                &base,
                &tip_commit,
                &source_commit,
            )?;
            let fixes = match resolve(repo, &mut index, request.auto_fix, &names)? {
                Ok(fixes) => fixes,
                Err(files) => return Ok(Built::Conflict(files)),
            };
            let tree = repo.find_tree(index.write_tree_to(repo)?)?;
            if tree.id() == tip_commit.tree_id() {
                return Ok(ready(tip, 0, true, fixes));
            }
            let commit = if request.strategy == Strategy::Merge {
                let message = request.message.map(str::to_owned).unwrap_or_else(|| {
                    format!("Merge branch '{}' into {}", request.branch, request.target)
                });
                repo.commit(
                    None,
                    &signature,
                    &signature,
                    &message,
                    &tree,
                    &[&tip_commit, &source_commit],
                )?
            } else {
                let message = match request.message {
                    Some(message) => message.to_owned(),
                    None => squash_message(repo, request.branch, source, tip)?,
                };
                let author = source_commit.author();
                repo.commit(None, &author, &signature, &message, &tree, &[&tip_commit])?
            };
            Ok(ready(commit, 1, false, fixes))
        }
    }
}

enum Replayed {
    Done(Oid, usize, Vec<String>),
    Conflict(Vec<FileAnalysis>),
}

/// Replays the commits of `source` that `onto` lacks, oldest first.
fn replay(
    repo: &Repository,
    source: &Commit,
    onto: &Commit,
    auto_fix: bool,
    signature: &Signature,
) -> Result<Replayed> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    walk.push(source.id())?;
    walk.hide(onto.id())?;
    let mut current = onto.clone();
    let mut made = 0;
    let mut fixes = Vec::new();
    for oid in walk {
        let commit = repo.find_commit(oid?)?;
        let mainline = if commit.parent_count() > 1 { 1 } else { 0 };
        let mut index = repo
            .cherrypick_commit(&commit, &current, mainline, None)
            .with_context(|| format!("cannot replay commit {}", commit.id()))?;
        let names = match commit.parent((mainline as usize).saturating_sub(1)) {
            Ok(parent) => names_of(
                repo,
                auto_fix && index.has_conflicts(),
                &parent,
                &current,
                &commit,
            )?,
            Err(_) => MergeNames::none(),
        };
        match resolve(repo, &mut index, auto_fix, &names)? {
            Ok(applied) => fixes.extend(applied),
            Err(files) => return Ok(Replayed::Conflict(files)),
        }
        let tree = repo.find_tree(index.write_tree_to(repo)?)?;
        // Changes the target already has: nothing to replay.
        if tree.id() == current.tree_id() {
            continue;
        }
        let message = String::from_utf8_lossy(commit.message_raw_bytes()).into_owned();
        let id = repo.commit(
            None,
            &commit.author(),
            signature,
            &message,
            &tree,
            &[&current],
        )?;
        current = repo.find_commit(id)?;
        made += 1;
    }
    Ok(Replayed::Done(current.id(), made, fixes))
}

fn squash_message(repo: &Repository, branch: &str, source: Oid, tip: Oid) -> Result<String> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    walk.push(source)?;
    walk.hide(tip)?;
    let mut message = format!("Squashed branch '{branch}'\n\n");
    for oid in walk {
        let commit = repo.find_commit(oid?)?;
        message.push_str(&format!("* {}\n", commit.summary().unwrap_or_default()));
    }
    Ok(message)
}

fn copy_entry(entry: &IndexEntry) -> IndexEntry {
    IndexEntry {
        ctime: entry.ctime,
        mtime: entry.mtime,
        dev: entry.dev,
        ino: entry.ino,
        mode: entry.mode,
        uid: entry.uid,
        gid: entry.gid,
        file_size: entry.file_size,
        id: entry.id,
        flags: entry.flags,
        flags_extended: entry.flags_extended,
        path: entry.path.clone(),
    }
}

fn blob_text(repo: &Repository, id: Option<Oid>) -> Result<Option<String>> {
    let Some(id) = id else { return Ok(None) };
    let blob = repo.find_blob(id)?;
    if blob.is_binary() {
        return Ok(None);
    }
    Ok(std::str::from_utf8(blob.content()).ok().map(str::to_owned))
}

/// Classifies the conflicts of a merged index; with `auto_fix`, resolves
/// them in the index when every one has an auto-applicable fix. `Ok` with
/// the fixes applied (none when there was no conflict), `Err` with every
/// conflicting file.
/// What each side renames, removes or re-signs, when fixes are to be made.
fn names_of(
    repo: &Repository,
    needed: bool,
    base: &Commit,
    ours: &Commit,
    theirs: &Commit,
) -> Result<MergeNames> {
    if !needed {
        return Ok(MergeNames::none());
    }
    MergeNames::of_trees(repo, &base.tree()?, &ours.tree()?, &theirs.tree()?)
}

fn resolve(
    repo: &Repository,
    index: &mut Index,
    auto_fix: bool,
    names: &MergeNames,
) -> Result<std::result::Result<Vec<String>, Vec<FileAnalysis>>> {
    if !index.has_conflicts() {
        return Ok(Ok(Vec::new()));
    }
    let mut files = Vec::new();
    // (entry to stage, resolved text, strategy) per file.
    let mut resolved: Vec<(IndexEntry, String, String)> = Vec::new();
    for conflict in index.conflicts()? {
        let conflict = conflict?;
        let Some(any) = conflict
            .our
            .as_ref()
            .or(conflict.their.as_ref())
            .or(conflict.ancestor.as_ref())
        else {
            continue;
        };
        let path = String::from_utf8_lossy(&any.path).into_owned();
        let (Some(our), Some(their)) = (conflict.our.as_ref(), conflict.their.as_ref()) else {
            files.push(FileAnalysis::unknown(
                &path,
                "one side deletes the file the other changes",
            ));
            continue;
        };
        let base = match conflict.ancestor.as_ref() {
            Some(entry) => blob_text(repo, Some(entry.id))?,
            None => Some(String::new()),
        };
        let (Some(base), Some(ours), Some(theirs)) = (
            base,
            blob_text(repo, Some(our.id))?,
            blob_text(repo, Some(their.id))?,
        ) else {
            files.push(FileAnalysis::unknown(&path, "a binary file"));
            continue;
        };
        let (analysis, merge) = analysis::analyze(&path, &base, &ours, &theirs, true)?;
        if auto_fix {
            let versions = Versions::new(&base, &ours, &theirs);
            let suggestion = autofix::suggest(&analysis, &merge, &versions, names, &|_| (0, 0));
            if suggestion.auto_applicable && !merge3::has_conflict_markers(&suggestion.resolved) {
                resolved.push((
                    copy_entry(our),
                    suggestion.resolved.clone(),
                    suggestion.strategy.as_str().to_owned(),
                ));
            }
        }
        files.push(analysis);
    }
    files.sort_by(|a, b| a.file_path.cmp(&b.file_path));
    if !auto_fix || resolved.len() != files.len() {
        return Ok(Err(files));
    }
    let mut fixes = Vec::new();
    for (mut entry, text, strategy) in resolved {
        let path = String::from_utf8_lossy(&entry.path).into_owned();
        entry.id = repo.blob(text.as_bytes())?;
        entry.file_size = text.len() as u32;
        // Stage 0: the resolved entry.
        entry.flags &= !0x3000;
        index.conflict_remove(std::path::Path::new(&path))?;
        index.add(&entry)?;
        fixes.push(format!("{path}: {strategy}"));
    }
    if index.has_conflicts() {
        anyhow::bail!("the fixed index still has conflicts");
    }
    Ok(Ok(fixes))
}
