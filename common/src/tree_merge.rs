//! A merge of two trees as git's `merge-ort` makes it, in memory, for the
//! conflicts it finds: each side's changes against the base with renames
//! followed (similarity 50%, as git's default), every path both sides
//! change decided as git decides it — content merged line by line
//! ([`crate::merge3`], histogram diff), modify/delete, rename/delete,
//! rename/rename, add/add, binary — and, when the two sides have several
//! merge bases, the base git uses: the merge bases merged with each other
//! into a virtual one, recursively, conflicts left in it with markers.
//!
//! Not followed as git does: directory renames, file/directory collisions
//! and `.gitattributes` merge drivers.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use git2::{Delta, DiffFindOptions, DiffOptions, Index, IndexEntry, IndexTime, Oid, Repository};

use crate::merge3::{self, Markers};

/// What git calls a conflict, as `git merge-tree --messages` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Content,
    AddAdd,
    ModifyDelete,
    RenameDelete,
    RenameRename,
    Binary,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Content => "content",
            Kind::AddAdd => "add/add",
            Kind::ModifyDelete => "modify/delete",
            Kind::RenameDelete => "rename/delete",
            Kind::RenameRename => "rename/rename",
            Kind::Binary => "binary",
        }
    }
}

/// A file as one version has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub path: String,
    pub id: Oid,
    pub mode: u32,
}

/// One conflicted path of the merge, with the versions git stages for it.
#[derive(Debug, Clone)]
pub struct Conflict {
    pub path: String,
    pub kind: Kind,
    pub ancestor: Option<Version>,
    pub ours: Option<Version>,
    pub theirs: Option<Version>,
}

/// What one side did to a base path.
#[derive(Debug, Clone)]
enum Change {
    Modified(Version),
    Deleted,
    Renamed(Version),
}

/// One side's changes against the base: by base path, and the paths it
/// adds (not as the target of a rename).
#[derive(Debug, Default)]
struct SideChanges {
    changed: HashMap<String, Change>,
    added: BTreeMap<String, Version>,
}

/// Git's default `merge.renameLimit`.
const RENAME_LIMIT: usize = 7000;

fn side_changes(repo: &Repository, base: &git2::Tree, side: &git2::Tree) -> Result<SideChanges> {
    let mut changed = HashMap::new();
    if modifications_only(repo, base, side, "", &mut changed)? {
        return Ok(SideChanges {
            changed,
            added: BTreeMap::new(),
        });
    }
    diff_changes(repo, base, side)
}

/// A side's changes from libgit2's tree diff, renames found.
fn diff_changes(repo: &Repository, base: &git2::Tree, side: &git2::Tree) -> Result<SideChanges> {
    let mut options = DiffOptions::new();
    options.ignore_submodules(false);
    let mut diff = repo.diff_tree_to_tree(Some(base), Some(side), Some(&mut options))?;
    let mut find = DiffFindOptions::new();
    find.renames(true)
        .rename_threshold(50)
        .rename_limit(RENAME_LIMIT);
    diff.find_similar(Some(&mut find))?;
    let mut changes = SideChanges::default();
    let path = |file: &git2::DiffFile| file.path().map(|p| p.to_string_lossy().into_owned());
    for delta in diff.deltas() {
        let (old, new) = (delta.old_file(), delta.new_file());
        let version = || -> Option<Version> {
            Some(Version {
                path: path(&new)?,
                id: new.id(),
                mode: u32::from(new.mode()),
            })
        };
        match delta.status() {
            Delta::Added => {
                if let Some(version) = version() {
                    changes.added.insert(version.path.clone(), version);
                }
            }
            Delta::Deleted => {
                if let Some(old) = path(&old) {
                    changes.changed.insert(old, Change::Deleted);
                }
            }
            Delta::Renamed => {
                if let (Some(old), Some(version)) = (path(&old), version()) {
                    changes.changed.insert(old, Change::Renamed(version));
                }
            }
            Delta::Modified | Delta::Typechange => {
                if let Some(version) = version() {
                    changes
                        .changed
                        .insert(version.path.clone(), Change::Modified(version));
                }
            }
            _ => {}
        }
    }
    Ok(changes)
}

/// A side's changes when it only modifies files in place, found by
/// descending only into the subtrees that differ (a whole-tree diff reads
/// every tree); `false`, with `changed` partly filled, when it adds or
/// deletes a path, changes a path's type or touches a submodule: renames
/// and type changes are then left to libgit2's diff.
fn modifications_only(
    repo: &Repository,
    base: &git2::Tree,
    side: &git2::Tree,
    prefix: &str,
    changed: &mut HashMap<String, Change>,
) -> Result<bool> {
    const TREE: u32 = 0o040000;
    const KIND: u32 = 0o170000;
    if base.len() != side.len() {
        return Ok(false);
    }
    for (before, after) in base.iter().zip(side.iter()) {
        if before.name_bytes() != after.name_bytes() {
            return Ok(false);
        }
        let (old_mode, new_mode) = (before.filemode_raw() as u32, after.filemode_raw() as u32);
        let canonical = |mode: u32| matches!(mode, TREE | 0o100644 | 0o100755 | 0o120000);
        if !canonical(old_mode) || !canonical(new_mode) {
            return Ok(false);
        }
        if before.id() == after.id() && old_mode == new_mode {
            continue;
        }
        if old_mode & KIND != new_mode & KIND {
            return Ok(false);
        }
        let Ok(name) = std::str::from_utf8(after.name_bytes()) else {
            return Ok(false);
        };
        let path = format!("{prefix}{name}");
        if old_mode & KIND == TREE {
            let (old_tree, new_tree) = (repo.find_tree(before.id())?, repo.find_tree(after.id())?);
            if !modifications_only(repo, &old_tree, &new_tree, &format!("{path}/"), changed)? {
                return Ok(false);
            }
            continue;
        }
        let version = Version {
            path: path.clone(),
            id: after.id(),
            mode: new_mode,
        };
        changed.insert(path, Change::Modified(version));
    }
    Ok(true)
}

/// How deep in the merging of merge bases a merge is (0: the merge asked
/// for): inner merges write their conflicts into the tree they make.
#[derive(Debug, Clone, Copy)]
struct Depth(usize);

/// The outcome of a content merge.
enum Merged {
    Clean(Oid),
    Conflict(Kind, Oid),
}

/// Whether git takes a blob as binary: a NUL in its first 8000 bytes.
pub fn is_binary(content: &[u8]) -> bool {
    content[..content.len().min(8000)].contains(&0)
}

struct Merger<'r> {
    repo: &'r Repository,
    depth: Depth,
    /// Whether merged blobs must be written (only for a virtual base).
    write: bool,
    /// Whether files changed on both sides are left for the caller to
    /// merge (see [`merge_trees_unverified`]).
    defer: bool,
}

impl Merger<'_> {
    fn content(&self, id: Option<Oid>) -> Result<Vec<u8>> {
        match id {
            None => Ok(Vec::new()),
            Some(id) => Ok(self.repo.find_blob(id)?.content().to_vec()),
        }
    }

    /// Merges a file's three versions (`base` `None`: added on both sides).
    fn merge_file(
        &self,
        base: Option<&Version>,
        ours: &Version,
        theirs: &Version,
    ) -> Result<Merged> {
        let base_id = base.map(|b| b.id);
        if ours.id == theirs.id || base_id == Some(theirs.id) {
            return Ok(Merged::Clean(ours.id));
        }
        if base_id == Some(ours.id) {
            return Ok(Merged::Clean(theirs.id));
        }
        let add_add = base.is_none();
        let text_kind = if add_add { Kind::AddAdd } else { Kind::Content };
        let regular = |v: &Version| v.mode & 0o170000 == 0o100000;
        if !regular(ours) || !regular(theirs) || base.is_some_and(|b| !regular(b)) {
            // Symbolic links and submodules changed both ways do not merge.
            return Ok(Merged::Conflict(text_kind, ours.id));
        }
        if self.defer {
            return Ok(Merged::Conflict(text_kind, ours.id));
        }
        let (b, o, t) = (
            self.content(base_id)?,
            self.content(Some(ours.id))?,
            self.content(Some(theirs.id))?,
        );
        if is_binary(&b) || is_binary(&o) || is_binary(&t) {
            let kept = match (self.depth.0, base_id) {
                (0, _) | (_, None) => ours.id,
                (_, Some(base)) => base,
            };
            // Inside a virtual base git keeps the base's version, cleanly.
            return Ok(if self.depth.0 > 0 {
                Merged::Clean(kept)
            } else {
                Merged::Conflict(Kind::Binary, kept)
            });
        }
        if !self.write {
            return Ok(if merge3::conflicts(&b, &o, &t) {
                Merged::Conflict(text_kind, ours.id)
            } else {
                Merged::Clean(ours.id)
            });
        }
        let markers = Markers {
            ours: "Temporary merge branch 1",
            theirs: "Temporary merge branch 2",
            size: 7 + 2 * self.depth.0,
            join_across_punctuation: false,
        };
        let (text, conflicts) = merge3::render_merge_style(&b, &o, &t, &markers);
        let id = self.repo.blob(&text)?;
        Ok(if conflicts > 0 {
            Merged::Conflict(text_kind, id)
        } else {
            Merged::Clean(id)
        })
    }
}

/// The merge of three trees: its conflicts, and (with `write`) the tree
/// of its result, conflicts written in with markers as git writes a
/// virtual base.
struct Outcome {
    conflicts: Vec<Conflict>,
    tree: Option<Oid>,
}

/// Where a path of the result comes from, for the result tree.
enum Placed {
    Put(Version),
    Remove(String),
}

fn merge_at(
    repo: &Repository,
    base: &git2::Tree,
    ours: &git2::Tree,
    theirs: &git2::Tree,
    depth: Depth,
    write: bool,
    defer: bool,
) -> Result<Outcome> {
    let merger = Merger {
        repo,
        depth,
        write,
        defer,
    };
    let (mine, yours) = (
        side_changes(repo, base, ours)?,
        side_changes(repo, base, theirs)?,
    );
    let mut conflicts = Vec::new();
    let mut placed = Vec::new();
    let base_version = |path: &str| -> Result<Option<Version>> {
        match base.get_path(std::path::Path::new(path)) {
            Ok(entry) => Ok(Some(Version {
                path: path.to_owned(),
                id: entry.id(),
                mode: entry.filemode() as u32,
            })),
            Err(_) => Ok(None),
        }
    };
    // What lands at each path from a rename, to find collisions with adds.
    let mut renamed_to: HashMap<String, (Option<Version>, Oid, bool)> = HashMap::new();
    let mut paths: Vec<&String> = mine.changed.keys().chain(yours.changed.keys()).collect();
    paths.sort();
    paths.dedup();
    for path in paths {
        let ancestor = base_version(path)?.context("a changed path is not in the base")?;
        let (o, t) = (mine.changed.get(path), yours.changed.get(path));
        let version_of = |change: Option<&Change>| match change {
            Some(Change::Modified(v)) | Some(Change::Renamed(v)) => Some(v.clone()),
            Some(Change::Deleted) => None,
            None => Some(ancestor.clone()),
        };
        let conflict =
            |kind: Kind, at: &str, ours: Option<Version>, theirs: Option<Version>| Conflict {
                path: at.to_owned(),
                kind,
                ancestor: Some(ancestor.clone()),
                ours,
                theirs,
            };
        match (o, t) {
            (None, None) | (Some(Change::Deleted), Some(Change::Deleted)) => {
                if o.is_some() && write {
                    placed.push(Placed::Remove(path.clone()));
                }
            }
            (Some(change), None) | (None, Some(change)) => {
                let ours_side = o.is_some();
                if let Change::Renamed(to) = change {
                    renamed_to.insert(to.path.clone(), (None, to.id, ours_side));
                }
                if write && !ours_side {
                    match change {
                        Change::Modified(v) => placed.push(Placed::Put(v.clone())),
                        Change::Deleted => placed.push(Placed::Remove(path.clone())),
                        Change::Renamed(v) => {
                            placed.push(Placed::Remove(path.clone()));
                            placed.push(Placed::Put(v.clone()));
                        }
                    }
                }
            }
            (Some(Change::Deleted), Some(_)) | (Some(_), Some(Change::Deleted)) => {
                let (ours_v, theirs_v) = (version_of(o), version_of(t));
                let survivor = ours_v
                    .clone()
                    .or(theirs_v.clone())
                    .expect("one side keeps it");
                let renamed =
                    matches!(o, Some(Change::Renamed(_))) || matches!(t, Some(Change::Renamed(_)));
                let kind = if renamed {
                    Kind::RenameDelete
                } else {
                    Kind::ModifyDelete
                };
                conflicts.push(conflict(kind, &survivor.path, ours_v, theirs_v));
                if write {
                    if renamed {
                        placed.push(Placed::Remove(path.clone()));
                        placed.push(Placed::Put(survivor));
                    } else {
                        // Inside a virtual base git keeps the base's version.
                        placed.push(Placed::Put(ancestor.clone()));
                    }
                }
            }
            (Some(_), Some(_)) => {
                let (ours_v, theirs_v) = (version_of(o).unwrap(), version_of(t).unwrap());
                if ours_v.path != path.as_str()
                    && theirs_v.path != path.as_str()
                    && ours_v.path != theirs_v.path
                {
                    for at in [path.as_str(), &ours_v.path, &theirs_v.path] {
                        conflicts.push(conflict(
                            Kind::RenameRename,
                            at,
                            Some(ours_v.clone()),
                            Some(theirs_v.clone()),
                        ));
                    }
                    if write {
                        placed.push(Placed::Remove(path.clone()));
                        placed.push(Placed::Put(ours_v.clone()));
                        placed.push(Placed::Put(theirs_v.clone()));
                    }
                    continue;
                }
                // Renamed on one side (or to one name on both): merged there.
                let at = if ours_v.path != path.as_str() {
                    &ours_v.path
                } else {
                    &theirs_v.path
                }
                .clone();
                let merged = merger.merge_file(Some(&ancestor), &ours_v, &theirs_v)?;
                let id = match merged {
                    Merged::Clean(id) => id,
                    Merged::Conflict(kind, id) => {
                        conflicts.push(conflict(
                            kind,
                            &at,
                            Some(ours_v.clone()),
                            Some(theirs_v.clone()),
                        ));
                        id
                    }
                };
                if at != path.as_str() {
                    renamed_to.insert(at.clone(), (Some(ancestor.clone()), id, ours_v.path == at));
                    if write {
                        placed.push(Placed::Remove(path.clone()));
                    }
                }
                if write {
                    placed.push(Placed::Put(Version {
                        path: at,
                        id,
                        mode: ours_v.mode,
                    }));
                }
            }
        }
    }
    // Paths both sides add, or one adds where the other renames a file to.
    let mut added: Vec<&String> = mine.added.keys().chain(yours.added.keys()).collect();
    added.sort();
    added.dedup();
    for path in added {
        let (o, t) = (mine.added.get(path), yours.added.get(path));
        let (ours_v, theirs_v) = match (o, t) {
            (Some(o), Some(t)) => (o.clone(), t.clone()),
            (Some(v), None) | (None, Some(v)) => match renamed_to.get(path) {
                Some((_, id, renamed_by_ours)) if *renamed_by_ours != o.is_some() => {
                    let landed = Version {
                        path: path.clone(),
                        id: *id,
                        mode: v.mode,
                    };
                    if o.is_some() {
                        (v.clone(), landed)
                    } else {
                        (landed, v.clone())
                    }
                }
                _ => {
                    if write && t.is_some() {
                        placed.push(Placed::Put(v.clone()));
                    }
                    continue;
                }
            },
            (None, None) => continue,
        };
        let merged = merger.merge_file(None, &ours_v, &theirs_v)?;
        let id = match merged {
            Merged::Clean(id) => id,
            Merged::Conflict(kind, id) => {
                let kind = if kind == Kind::Content {
                    Kind::AddAdd
                } else {
                    kind
                };
                conflicts.push(Conflict {
                    path: path.clone(),
                    kind,
                    ancestor: None,
                    ours: Some(ours_v.clone()),
                    theirs: Some(theirs_v.clone()),
                });
                id
            }
        };
        if write {
            placed.push(Placed::Put(Version { id, ..ours_v }));
        }
    }
    conflicts.sort_by(|a, b| a.path.cmp(&b.path));
    let tree = if write {
        Some(result_tree(repo, ours, &placed)?)
    } else {
        None
    };
    Ok(Outcome { conflicts, tree })
}

/// Our tree with the merge's other results laid over it.
fn result_tree(repo: &Repository, ours: &git2::Tree, placed: &[Placed]) -> Result<Oid> {
    let mut index = Index::new()?;
    index.read_tree(ours)?;
    for place in placed {
        match place {
            Placed::Remove(path) => {
                let _ = index.remove_path(std::path::Path::new(path));
            }
            Placed::Put(version) => index.add(&IndexEntry {
                ctime: IndexTime::new(0, 0),
                mtime: IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: version.mode,
                uid: 0,
                gid: 0,
                file_size: 0,
                id: version.id,
                flags: version.path.len().min(0xfff) as u16,
                flags_extended: 0,
                path: version.path.as_bytes().to_vec(),
            })?,
        }
    }
    Ok(index.write_tree_to(repo)?)
}

/// The conflicts of merging `ours` and `theirs` over `base`.
pub fn merge_trees(
    repo: &Repository,
    base: &git2::Tree,
    ours: &git2::Tree,
    theirs: &git2::Tree,
) -> Result<Vec<Conflict>> {
    merge_top(repo, [base, ours, theirs], false)
}

/// [`merge_trees`], except that a file both sides change (in place or
/// after a rename) is listed as a `content` (or `add/add`) conflict without
/// merging its lines: the caller, which reads the file's versions anyway,
/// merges them with [`verify`] and drops those that merge cleanly.
pub fn merge_trees_unverified(
    repo: &Repository,
    base: &git2::Tree,
    ours: &git2::Tree,
    theirs: &git2::Tree,
) -> Result<Vec<Conflict>> {
    merge_top(repo, [base, ours, theirs], true)
}

/// The top-level merge of [`merge_trees`] and [`merge_trees_unverified`]:
/// nothing to merge when a side is the base or both sides are equal.
fn merge_top(
    repo: &Repository,
    trees: [&git2::Tree; 3],
    unverified: bool,
) -> Result<Vec<Conflict>> {
    let [base, ours, theirs] = trees;
    if ours.id() == theirs.id() || base.id() == ours.id() || base.id() == theirs.id() {
        return Ok(Vec::new());
    }
    fast_reads();
    Ok(merge_at(repo, base, ours, theirs, Depth(0), false, unverified)?.conflicts)
}

/// What a content conflict of [`merge_trees_unverified`] is, from its three
/// versions' bytes: `None` when it merges cleanly, `binary` when a version
/// is binary, else its kind as listed.
pub fn verify(kind: Kind, base: &[u8], ours: &[u8], theirs: &[u8]) -> Option<Kind> {
    if !matches!(kind, Kind::Content | Kind::AddAdd) {
        return Some(kind);
    }
    if is_binary(base) || is_binary(ours) || is_binary(theirs) {
        return Some(Kind::Binary);
    }
    merge3::conflicts(base, ours, theirs).then_some(kind)
}

/// Objects are read without hashing them again to check their ids, as git
/// reads them (libgit2 checks by default, which costs more than the merge).
pub(crate) fn fast_reads() {
    git2::opts::strict_hash_verification(false);
}

/// The merge base of two commits as git's merge uses it: their merge base
/// when they have one, and when they have several, those merged with
/// each other (oldest first, each merge over its own base, recursively)
/// into a virtual one. The commit is written to the object database when
/// it is virtual. `None` when the two share no history.
pub fn merge_base(repo: &Repository, ours: Oid, theirs: Oid) -> Result<Option<Oid>> {
    merge_base_at(repo, ours, theirs, Depth(0))
}

fn merge_base_at(repo: &Repository, ours: Oid, theirs: Oid, depth: Depth) -> Result<Option<Oid>> {
    fast_reads();
    let bases = match repo.merge_bases(ours, theirs) {
        Ok(bases) => bases.iter().copied().collect::<Vec<Oid>>(),
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if bases.len() <= 1 {
        return Ok(bases.first().copied());
    }
    let mut dated = bases
        .iter()
        .map(|id| Ok((repo.find_commit(*id)?.time().seconds(), *id)))
        .collect::<Result<Vec<_>>>()?;
    dated.sort();
    let mut merged = dated[0].1;
    for (_, next) in &dated[1..] {
        let inner = Depth(depth.0 + 1);
        let base = match merge_base_at(repo, merged, *next, inner)? {
            Some(base) => repo.find_commit(base)?.tree()?,
            None => repo.find_tree(repo.treebuilder(None)?.write()?)?,
        };
        let (a, b) = (repo.find_commit(merged)?, repo.find_commit(*next)?);
        let outcome = merge_at(repo, &base, &a.tree()?, &b.tree()?, inner, true, false)?;
        let tree = repo.find_tree(outcome.tree.expect("written"))?;
        let signature =
            git2::Signature::new("merged common ancestors", "none", &git2::Time::new(0, 0))?;
        merged = repo.commit(
            None,
            &signature,
            &signature,
            "merged tree",
            &tree,
            &[&a, &b],
        )?;
    }
    Ok(Some(merged))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(repo: &Repository, files: &[(&str, &str, i32)]) -> Oid {
        let mut index = Index::new().unwrap();
        for (path, text, mode) in files {
            let id = repo.blob(text.as_bytes()).unwrap();
            index
                .add(&IndexEntry {
                    ctime: IndexTime::new(0, 0),
                    mtime: IndexTime::new(0, 0),
                    dev: 0,
                    ino: 0,
                    mode: *mode as u32,
                    uid: 0,
                    gid: 0,
                    file_size: 0,
                    id,
                    flags: path.len() as u16,
                    flags_extended: 0,
                    path: path.as_bytes().to_vec(),
                })
                .unwrap();
        }
        index.write_tree_to(repo).unwrap()
    }

    fn listed(changes: &SideChanges) -> Vec<String> {
        let mut listed: Vec<String> = changes
            .changed
            .iter()
            .map(|(path, change)| format!("{path} {change:?}"))
            .collect();
        listed.extend(changes.added.keys().map(|path| format!("+{path}")));
        listed.sort();
        listed
    }

    /// A side that only modifies files in place is read along the
    /// subtrees that differ, and gives what the whole-tree diff gives; a
    /// side that adds, deletes or changes a type goes to the diff.
    #[test]
    fn in_place_changes_are_those_of_the_tree_diff() {
        let temp = tempfile::tempdir().unwrap();
        let repo = Repository::init(temp.path()).unwrap();
        let find = |id| repo.find_tree(id).unwrap();
        let base = find(tree(
            &repo,
            &[
                ("a.txt", "a\n", 0o100644),
                ("d/e/f.txt", "f\n", 0o100644),
                ("d/e/g.txt", "g\n", 0o100644),
                ("d/h.sh", "h\n", 0o100644),
                ("x/y.txt", "y\n", 0o100644),
            ],
        ));
        let modified = find(tree(
            &repo,
            &[
                ("a.txt", "a\n", 0o100644),
                ("d/e/f.txt", "f, edited\n", 0o100644),
                ("d/e/g.txt", "g\n", 0o100644),
                ("d/h.sh", "h\n", 0o100755),
                ("x/y.txt", "y, edited\n", 0o100644),
            ],
        ));
        let mut changed = HashMap::new();
        assert!(modifications_only(&repo, &base, &modified, "", &mut changed).unwrap());
        let fast = side_changes(&repo, &base, &modified).unwrap();
        assert_eq!(
            listed(&fast),
            listed(&diff_changes(&repo, &base, &modified).unwrap())
        );
        assert_eq!(fast.changed.len(), 3);
        for other in [
            vec![
                ("a.txt", "a\n", 0o100644),
                ("d/e/f.txt", "f, edited\n", 0o100644),
                ("d/e/g.txt", "g\n", 0o100644),
                ("d/e/new.txt", "new\n", 0o100644),
                ("d/h.sh", "h\n", 0o100644),
                ("x/y.txt", "y\n", 0o100644),
            ],
            vec![
                ("a.txt", "a\n", 0o100644),
                ("d/e/f.txt", "f\n", 0o100644),
                ("d/e/moved.txt", "g\n", 0o100644),
                ("d/h.sh", "h\n", 0o100644),
                ("x/y.txt", "y\n", 0o100644),
            ],
            vec![
                ("a.txt", "a.txt\n", 0o120000),
                ("d/e/f.txt", "f\n", 0o100644),
                ("d/e/g.txt", "g\n", 0o100644),
                ("d/h.sh", "h\n", 0o100644),
                ("x/y.txt", "y\n", 0o100644),
            ],
        ] {
            let side = find(tree(&repo, &other));
            let mut changed = HashMap::new();
            assert!(!modifications_only(&repo, &base, &side, "", &mut changed).unwrap());
            assert_eq!(
                listed(&side_changes(&repo, &base, &side).unwrap()),
                listed(&diff_changes(&repo, &base, &side).unwrap())
            );
        }
    }
}
