//! Conflict prediction: merging two lines of work in memory, as git's
//! merge-ort would (see `tree_merge`), to find the files (and line ranges)
//! where they collide — without a checkout and without touching any working
//! tree, index or HEAD.
//!
//! A side is a commit, or a checkout's current state: its HEAD plus its
//! uncommitted changes, captured by rewriting HEAD's tree along the changed
//! paths (the new blobs and trees go into the object database, where `git
//! gc` reclaims them; the checkout's own index is never written).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use git2::{Oid, Repository};
use rayon::prelude::*;
use serde::Serialize;

use crate::{paths, UserError};

/// One line of work to merge.
#[derive(Debug, Clone)]
pub enum Side {
    /// A branch or any revision, as committed.
    Revision(String),
    /// A checkout's HEAD plus its uncommitted changes.
    Checkout(std::path::PathBuf),
}

/// A range of lines in the common base that both sides change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineRange {
    pub start: u32,
    pub end: u32,
}

/// One file both sides change incompatibly.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileConflict {
    pub path: String,
    /// What git calls the conflict: `content` (both edit lines), `add/add`,
    /// `modify/delete`, `rename/delete`, `rename/rename` or `binary`.
    pub kind: String,
    pub base_lines: Vec<LineRange>,
}

/// The result of merging two sides.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictCheck {
    pub ours: String,
    pub theirs: String,
    pub base_commit: String,
    pub has_conflicts: bool,
    pub conflicts: Vec<FileConflict>,
}

/// The tree of a side, and the commit it stands on.
fn side_tree(repo: &Repository, side: &Side) -> Result<(Oid, Oid)> {
    match side {
        Side::Revision(spec) => {
            let commit = repo
                .revparse_single(spec)
                .map_err(|_| UserError::new(format!("no branch or revision named {spec}")))?
                .peel_to_commit()?;
            Ok((commit.tree_id(), commit.id()))
        }
        Side::Checkout(path) => {
            let captured = capture_checkout(path)?;
            Ok((captured.tree, captured.commit))
        }
    }
}

/// A checkout captured once: the tree of its state (HEAD plus uncommitted
/// changes), the commit it stands on and the files `git status` would show
/// as changed. One scan of the working tree gives all three, so a caller
/// that needs both the changed files and conflicts reads the checkout once.
#[derive(Debug, Clone)]
pub struct CheckoutState {
    pub tree: Oid,
    pub commit: Oid,
    /// Staged, modified, deleted and untracked (not ignored) files, sorted.
    pub changed_files: Vec<String>,
}

/// Captures a checkout's state (see [`CheckoutState`]): its staged
/// changes from comparing HEAD's tree with the index (ids only, no file
/// read), its unstaged ones from one scan of the working tree, and the
/// state's tree written by editing HEAD's tree along the changed paths
/// alone, so unchanged directories cost neither a write nor a lookup.
pub fn capture_checkout(path: &Path) -> Result<CheckoutState> {
    capture_checkout_with(path, &HeadFiles::default())
}

/// Captures many checkouts of one repository (see [`capture_checkout`])
/// in parallel, reading each HEAD tree they stand on once for all.
pub fn capture_checkouts(paths: &[&Path]) -> Vec<Result<CheckoutState>> {
    crate::tree_merge::fast_reads();
    let heads = HeadFiles::default();
    paths
        .par_iter()
        .map(|path| capture_checkout_with(path, &heads))
        .collect()
}

fn capture_checkout_with(path: &Path, heads: &HeadFiles) -> Result<CheckoutState> {
    let checkout =
        Repository::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let head = checkout.head()?.peel_to_commit()?;
    let head_tree = head.tree()?;
    let workdir = checkout
        .workdir()
        .context("the checkout has no working tree")?
        .to_path_buf();
    let mut index = checkout.index()?;
    if index.has_conflicts() {
        // A tree cannot be made of unmerged paths; this names the error.
        index.write_tree_to(&checkout)?;
    }
    let entries: Vec<git2::IndexEntry> = index.iter().collect();
    let mut edits: BTreeMap<String, Edit> = BTreeMap::new();
    let mut changed_files = Vec::new();
    for (name, edit) in staged_changes(&checkout, &head_tree, &index, &entries, heads)? {
        changed_files.push(name.clone());
        edits.insert(name, edit);
    }
    for name in worktree::changed_paths(&checkout, &index, &entries, &workdir)? {
        if let Some(edit) = worktree_edit(&checkout, &workdir, &name)? {
            edits.insert(name.clone(), edit);
        }
        changed_files.push(name);
    }
    changed_files.sort();
    changed_files.dedup();
    let tree = if edits.is_empty() {
        head_tree.id()
    } else {
        let edits: Vec<(&[u8], Edit)> = edits.iter().map(|(p, e)| (p.as_bytes(), *e)).collect();
        match edit_tree(&checkout, Some(&head_tree), edits)? {
            Some(tree) => tree,
            None => checkout.treebuilder(None)?.write()?,
        }
    };
    Ok(CheckoutState {
        tree,
        commit: head.id(),
        changed_files,
    })
}

/// The files of a tree, every level flattened: path -> (id, mode).
type FileList = HashMap<Vec<u8>, (Oid, u32)>;

/// HEAD trees flattened once for many checkouts standing on them (the
/// sessions of a repository mostly share a few commits), so comparing an
/// index with its HEAD reads no tree again.
#[derive(Default)]
struct HeadFiles {
    trees: Mutex<HashMap<Oid, Arc<FilesSlot>>>,
}

/// One tree's files, once read; its lock is held while they are read.
type FilesSlot = Mutex<Option<Arc<FileList>>>;

impl HeadFiles {
    fn of(&self, tree: &git2::Tree) -> Result<Arc<FileList>> {
        let slot = {
            let mut trees = self.trees.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(trees.entry(tree.id()).or_default())
        };
        // Held while the tree is read: a second checkout on the same tree
        // waits for it rather than reading it too.
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(files) = slot.as_ref() {
            return Ok(Arc::clone(files));
        }
        let mut files = FileList::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
            if entry.kind() == Some(git2::ObjectType::Tree) {
                return git2::TreeWalkResult::Ok;
            }
            let path = [root.as_bytes(), entry.name_bytes()].concat();
            files.insert(path, (entry.id(), entry.filemode() as u32));
            git2::TreeWalkResult::Ok
        })?;
        let files = Arc::new(files);
        *slot = Some(Arc::clone(&files));
        Ok(files)
    }
}

/// The index's changes against HEAD's tree, by path: the staged blob (id,
/// mode), or `None` for a deletion. Entries are compared by id and mode
/// with HEAD's files listed once (see [`HeadFiles`]); an index holding
/// submodules or entries flagged intent-to-add or skip-worktree is left to
/// libgit2's tree-to-index diff, which knows their rules.
fn staged_changes(
    checkout: &Repository,
    head_tree: &git2::Tree,
    index: &git2::Index,
    entries: &[git2::IndexEntry],
    heads: &HeadFiles,
) -> Result<Vec<(String, Edit)>> {
    const GITLINK: u32 = 0o160000;
    const SPECIAL: u16 = (1 << 13) | (1 << 14);
    let plain = entries
        .iter()
        .all(|e| e.mode != GITLINK && e.flags_extended & SPECIAL == 0);
    let files = if plain {
        Some(heads.of(head_tree)?)
    } else {
        None
    };
    let Some(files) = files.filter(|files| files.values().all(|(_, mode)| *mode != GITLINK)) else {
        return libgit2_staged_changes(checkout, head_tree, index);
    };
    let mut changes = Vec::new();
    let mut matched = 0;
    for entry in entries {
        let name = match std::str::from_utf8(&entry.path) {
            Ok(name) => name,
            Err(_) => continue,
        };
        match files.get(&entry.path) {
            Some(&(id, mode)) => {
                matched += 1;
                if id != entry.id || mode != entry.mode {
                    changes.push((name.to_owned(), Some((entry.id, entry.mode as i32))));
                }
            }
            None => changes.push((name.to_owned(), Some((entry.id, entry.mode as i32)))),
        }
    }
    if matched < files.len() {
        let indexed: std::collections::HashSet<&[u8]> =
            entries.iter().map(|e| e.path.as_slice()).collect();
        for path in files.keys().filter(|p| !indexed.contains(p.as_slice())) {
            if let Ok(name) = std::str::from_utf8(path) {
                changes.push((name.to_owned(), None));
            }
        }
    }
    Ok(changes)
}

/// [`staged_changes`] as libgit2's tree-to-index diff finds them.
fn libgit2_staged_changes(
    checkout: &Repository,
    head_tree: &git2::Tree,
    index: &git2::Index,
) -> Result<Vec<(String, Edit)>> {
    let staged = checkout.diff_tree_to_index(Some(head_tree), Some(index), None)?;
    let mut changes = Vec::new();
    for delta in staged.deltas() {
        let file = if delta.status() == git2::Delta::Deleted {
            delta.old_file()
        } else {
            delta.new_file()
        };
        let Some(name) = file.path().and_then(Path::to_str) else {
            continue;
        };
        let edit =
            (delta.status() != git2::Delta::Deleted).then(|| (file.id(), i32::from(file.mode())));
        changes.push((name.to_owned(), edit));
    }
    Ok(changes)
}

/// What becomes of a path in a tree: a blob or tree (id, mode), or nothing.
type Edit = Option<(Oid, i32)>;

/// How a working-tree change edits the state: a regular file's content
/// as a new blob, a missing file removed; `None` (no edit, the index's
/// entry stays) for anything else, such as a symbolic link.
fn worktree_edit(checkout: &Repository, workdir: &Path, name: &str) -> Result<Option<Edit>> {
    let file = workdir.join(name);
    match std::fs::symlink_metadata(&file) {
        Ok(meta) if meta.is_file() => {
            let content =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let blob = checkout.blob(&content)?;
            let executable =
                std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
            let mode = if executable { 0o100755 } else { 0o100644 };
            Ok(Some(Some((blob, mode))))
        }
        Ok(_) => Ok(None),
        Err(_) => Ok(Some(None)),
    }
}

/// Writes `base` (`None`: an empty tree) with `edits` (paths relative to
/// it) applied, rewriting only the subtrees on an edited path; `None` when
/// nothing is left in it (git keeps no empty directories).
fn edit_tree(
    repo: &Repository,
    base: Option<&git2::Tree>,
    edits: Vec<(&[u8], Edit)>,
) -> Result<Option<Oid>> {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let mut builder = repo.treebuilder(base)?;
    let mut deeper: BTreeMap<&[u8], Vec<(&[u8], Edit)>> = BTreeMap::new();
    for (path, edit) in edits {
        if let Some(at) = path.iter().position(|b| *b == b'/') {
            let (dir, rest) = (&path[..at], &path[at + 1..]);
            deeper.entry(dir).or_default().push((rest, edit));
            continue;
        }
        let name = OsStr::from_bytes(path);
        match edit {
            Some((id, mode)) => {
                builder.insert(name, id, mode)?;
            }
            None if builder.get(name)?.is_some() => builder.remove(name)?,
            None => {}
        }
    }
    for (dir, edits) in deeper {
        let name = OsStr::from_bytes(dir);
        let current = builder
            .get(name)?
            .filter(|entry| entry.kind() == Some(git2::ObjectType::Tree))
            .map(|entry| entry.id());
        if current.is_none() && edits.iter().all(|(_, edit)| edit.is_none()) {
            continue;
        }
        let subtree = current.map(|id| repo.find_tree(id)).transpose()?;
        match edit_tree(repo, subtree.as_ref(), edits)? {
            Some(id) => {
                builder.insert(name, id, i32::from(git2::FileMode::Tree))?;
            }
            None if builder.get(name)?.is_some() => builder.remove(name)?,
            None => {}
        }
    }
    if builder.is_empty() {
        return Ok(None);
    }
    Ok(Some(builder.write()?))
}

/// Finding a checkout's uncommitted changes quickly: `stat` every tracked
/// file relative to its directory (one path lookup instead of the whole
/// path), compare with the index, hash only what looks changed, and list
/// untracked files that are not ignored.
mod worktree {
    use std::collections::{HashMap, HashSet};
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use anyhow::Result;
    use git2::{Index, IndexEntry, ObjectType, Oid, Repository};

    struct Tracked {
        name: Vec<u8>,
        size: u32,
        mtime: (i32, u32),
        ino: u32,
        id: Oid,
    }

    /// Repository-relative paths of files that differ from the index.
    pub fn changed_paths(
        repo: &Repository,
        index: &Index,
        entries: &[IndexEntry],
        workdir: &Path,
    ) -> Result<Vec<String>> {
        let mut dirs: HashMap<Vec<u8>, Vec<Tracked>> = HashMap::new();
        let mut tracked_dirs: HashSet<Vec<u8>> = HashSet::new();
        for entry in entries {
            if entry.mode == 0o160000 {
                continue;
            }
            let path = entry.path.as_slice();
            let (dir, name) = match path.iter().rposition(|b| *b == b'/') {
                Some(at) => (&path[..at], &path[at + 1..]),
                None => (&path[..0], path),
            };
            // A directory already known has its parents known too.
            if !tracked_dirs.contains(dir) {
                let mut parent = dir.to_vec();
                while !tracked_dirs.contains(&parent) {
                    tracked_dirs.insert(parent.clone());
                    match parent.iter().rposition(|b| *b == b'/') {
                        Some(at) => parent.truncate(at),
                        None if !parent.is_empty() => parent.clear(),
                        None => break,
                    }
                }
            }
            let tracked = Tracked {
                name: name.to_vec(),
                size: entry.file_size,
                mtime: (entry.mtime.seconds(), entry.mtime.nanoseconds()),
                ino: entry.ino,
                id: entry.id,
            };
            match dirs.get_mut(dir) {
                Some(files) => files.push(tracked),
                None => {
                    dirs.insert(dir.to_vec(), vec![tracked]);
                }
            }
        }
        // Entries not older than the index file are "racily clean": their
        // stat data cannot prove them unchanged (nanoseconds compared).
        let index_mtime = index
            .path()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| {
                use std::os::unix::fs::MetadataExt;
                (m.mtime(), m.mtime_nsec())
            })
            .unwrap_or((i64::MAX, 0));
        let mut changed = Vec::new();
        let join = |dir: &[u8], name: &[u8]| -> Vec<u8> {
            if dir.is_empty() {
                name.to_vec()
            } else {
                [dir, b"/", name].concat()
            }
        };
        let mut listing = Vec::new();
        for dir in &tracked_dirs {
            let full = workdir.join(std::ffi::OsStr::from_bytes(dir));
            let files = dirs.get(dir).map(Vec::as_slice).unwrap_or(&[]);
            let known: HashSet<&[u8]> = files.iter().map(|t| t.name.as_slice()).collect();
            let Ok(c_dir) = CString::new(full.as_os_str().as_bytes()) else {
                continue;
            };
            // SAFETY: a plain open of a directory path; the fd is closed below.
            let fd = unsafe {
                libc::open(
                    c_dir.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            };
            for file in files {
                let stat = if fd < 0 {
                    None
                } else {
                    stat_at(fd, &file.name)
                };
                let same = stat.is_some_and(|st| {
                    st.st_size as u32 == file.size
                        && st.st_mtime as i32 == file.mtime.0
                        && st.st_mtime_nsec as u32 == file.mtime.1
                        && st.st_ino as u32 == file.ino
                        && (st.st_mtime, st.st_mtime_nsec) < index_mtime
                });
                if !same {
                    let relative = join(dir, &file.name);
                    let path = workdir.join(std::ffi::OsStr::from_bytes(&relative));
                    let unchanged = stat.is_some()
                        && Oid::hash_file(ObjectType::Blob, &path).is_ok_and(|id| id == file.id);
                    if !unchanged {
                        changed.push(String::from_utf8_lossy(&relative).into_owned());
                    }
                }
            }
            // Untracked entries of this directory, listed from the open
            // descriptor where the system allows.
            let names = read_names(fd, &mut listing).or_else(|| {
                let entries = std::fs::read_dir(&full).ok()?;
                Some(
                    entries
                        .flatten()
                        .map(|entry| entry.file_name().as_bytes().to_vec())
                        .collect(),
                )
            });
            if fd >= 0 {
                // SAFETY: fd came from open above.
                unsafe { libc::close(fd) };
            }
            let Some(names) = names else {
                continue;
            };
            for name in names {
                if (dir.is_empty() && name == b".git") || known.contains(name.as_slice()) {
                    continue;
                }
                let relative = join(dir, &name);
                if tracked_dirs.contains(&relative) {
                    continue;
                }
                untracked(repo, workdir, &relative, &mut changed);
            }
        }
        changed.sort();
        changed.dedup();
        Ok(changed)
    }

    /// Adds an untracked path (a file, or every file of a directory) unless
    /// it is ignored.
    fn untracked(repo: &Repository, workdir: &Path, relative: &[u8], changed: &mut Vec<String>) {
        let text = String::from_utf8_lossy(relative).into_owned();
        let full = workdir.join(&text);
        let Ok(meta) = std::fs::symlink_metadata(&full) else {
            return;
        };
        let probe = if meta.is_dir() {
            format!("{text}/")
        } else {
            text.clone()
        };
        if repo.is_path_ignored(&probe).unwrap_or(false) {
            return;
        }
        if meta.is_dir() {
            if full.join(".git").exists() {
                return;
            }
            let Ok(entries) = std::fs::read_dir(&full) else {
                return;
            };
            for entry in entries.flatten() {
                let child = [relative, b"/", entry.file_name().as_bytes()].concat();
                untracked(repo, workdir, &child, changed);
            }
        } else {
            changed.push(text);
        }
    }

    /// The names in the directory open as `fd` (`.` and `..` left out),
    /// read with `getdents64` into `buffer`; `None` when it cannot be.
    #[cfg(target_os = "linux")]
    fn read_names(fd: libc::c_int, buffer: &mut Vec<u8>) -> Option<Vec<Vec<u8>>> {
        if fd < 0 {
            return None;
        }
        buffer.resize(32 * 1024, 0);
        let mut names = Vec::new();
        loop {
            // SAFETY: the kernel writes at most buffer.len() bytes of
            // whole dirent64 records into the buffer.
            let read = unsafe {
                libc::syscall(libc::SYS_getdents64, fd, buffer.as_mut_ptr(), buffer.len())
            };
            if read < 0 {
                return None;
            }
            if read == 0 {
                return Some(names);
            }
            // Each record: inode (8 bytes), offset (8), its length (2),
            // type (1), then the name ending in NUL.
            let records = &buffer[..read as usize];
            let mut at = 0;
            while at < records.len() {
                let length = usize::from(u16::from_ne_bytes([
                    *records.get(at + 16)?,
                    *records.get(at + 17)?,
                ]));
                let record = records.get(at..at + length).filter(|_| length > 19)?;
                let name = &record[19..];
                let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
                if name != b"." && name != b".." {
                    names.push(name.to_vec());
                }
                at += length;
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn read_names(_fd: libc::c_int, _buffer: &mut Vec<u8>) -> Option<Vec<Vec<u8>>> {
        None
    }

    fn stat_at(dir_fd: libc::c_int, name: &[u8]) -> Option<libc::stat> {
        // Most names fit a buffer on the stack: no allocation per file.
        let mut buffer = [0u8; 256];
        let owned;
        let name = if name.len() < buffer.len() && !name.contains(&0) {
            buffer[..name.len()].copy_from_slice(name);
            std::ffi::CStr::from_bytes_until_nul(&buffer).ok()?
        } else {
            owned = CString::new(name).ok()?;
            owned.as_c_str()
        };
        // SAFETY: stat is plain data; fstatat fills it or fails.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let result =
            unsafe { libc::fstatat(dir_fd, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        (result == 0).then_some(st)
    }
}

/// Merges two sides in memory and reports where they conflict.
pub fn check(repo: &Repository, ours: &Side, theirs: &Side) -> Result<ConflictCheck> {
    let our_state = side_tree(repo, ours)?;
    let their_state = side_tree(repo, theirs)?;
    check_states(
        repo,
        (describe(ours), our_state),
        (describe(theirs), their_state),
    )
}

/// Merges two captured states (label, (tree, commit)) in memory.
fn check_states(
    repo: &Repository,
    ours: (String, (Oid, Oid)),
    theirs: (String, (Oid, Oid)),
) -> Result<ConflictCheck> {
    let (our_label, (our_tree, our_commit)) = ours;
    let (their_label, (their_tree, their_commit)) = theirs;
    let base = crate::tree_merge::merge_base(repo, our_commit, their_commit)?
        .context("the two sides share no history")?;
    let base_tree = repo.find_commit(base)?.tree()?;
    let our_tree = repo.find_tree(our_tree)?;
    let their_tree = repo.find_tree(their_tree)?;
    let mut conflicts = Vec::new();
    // Sides that change no common path cannot conflict; finding that out
    // walks only the subtrees that differ, much cheaper than a tree merge.
    let trivial = our_tree.id() == their_tree.id()
        || our_tree.id() == base_tree.id()
        || their_tree.id() == base_tree.id()
        || !paths_overlap(
            &changed_paths(repo, &base_tree, &our_tree, "")?,
            &changed_paths(repo, &base_tree, &their_tree, "")?,
        );
    if !trivial {
        for conflict in crate::tree_merge::merge_trees(repo, &base_tree, &our_tree, &their_tree)? {
            let base_lines = match (
                &conflict.kind,
                &conflict.ancestor,
                &conflict.ours,
                &conflict.theirs,
            ) {
                (crate::tree_merge::Kind::Content, Some(a), Some(o), Some(t)) => {
                    overlapping_lines(repo, a.id, o.id, t.id)?
                }
                _ => Vec::new(),
            };
            conflicts.push(FileConflict {
                path: conflict.path,
                kind: conflict.kind.as_str().to_owned(),
                base_lines,
            });
        }
    }
    conflicts.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ConflictCheck {
        ours: our_label,
        theirs: their_label,
        base_commit: base.to_string(),
        has_conflicts: !conflicts.is_empty(),
        conflicts,
    })
}

/// One conflicting path of a tree merge: its blob in the base and on each
/// side (`None` where the side has no such file).
#[derive(Debug, Clone)]
pub struct ConflictEntry {
    pub path: String,
    pub ancestor: Option<Oid>,
    pub ours: Option<Oid>,
    pub theirs: Option<Oid>,
}

/// The paths (files, and directories that appear or vanish whole) where
/// `tree` differs from `base`, descending only into subtrees that differ.
fn changed_paths(
    repo: &Repository,
    base: &git2::Tree,
    tree: &git2::Tree,
    prefix: &str,
) -> Result<Vec<String>> {
    type Entries = std::collections::BTreeMap<Vec<u8>, (Oid, i32)>;
    let entries = |t: &git2::Tree| -> Entries {
        t.iter()
            .map(|e| (e.name_bytes().to_vec(), (e.id(), e.filemode())))
            .collect()
    };
    let (before, after) = (entries(base), entries(tree));
    let tree_mode = i32::from(git2::FileMode::Tree);
    let mut changed = Vec::new();
    for name in before
        .keys()
        .chain(after.keys().filter(|k| !before.contains_key(*k)))
    {
        let path = format!("{prefix}{}", String::from_utf8_lossy(name));
        match (before.get(name), after.get(name)) {
            (Some(b), Some(a)) if b == a => {}
            (Some((b, bm)), Some((a, am))) if *bm == tree_mode && *am == tree_mode => {
                let (b, a) = (repo.find_tree(*b)?, repo.find_tree(*a)?);
                changed.extend(changed_paths(repo, &b, &a, &format!("{path}/"))?);
            }
            _ => changed.push(path),
        }
    }
    Ok(changed)
}

/// A side's label and its (tree, commit).
type Label = (String, (Oid, Oid));

/// Decides cheaply whether two states may conflict, caching merge bases
/// and changed-path sets across many pairs.
struct Screen<'r> {
    repo: &'r Repository,
    bases: HashMap<(Oid, Oid), Oid>,
    changed: HashMap<(Oid, Oid), Vec<String>>,
}

impl<'r> Screen<'r> {
    fn new(repo: &'r Repository) -> Screen<'r> {
        Screen {
            repo,
            bases: HashMap::new(),
            changed: HashMap::new(),
        }
    }

    fn changed(&mut self, base_tree: Oid, tree: Oid) -> Result<Vec<String>> {
        if let Some(found) = self.changed.get(&(base_tree, tree)) {
            return Ok(found.clone());
        }
        let found = changed_paths(
            self.repo,
            &self.repo.find_tree(base_tree)?,
            &self.repo.find_tree(tree)?,
            "",
        )?;
        self.changed.insert((base_tree, tree), found.clone());
        Ok(found)
    }

    fn may_conflict(
        &mut self,
        (our_tree, our_commit): (Oid, Oid),
        (their_tree, their_commit): (Oid, Oid),
    ) -> Result<bool> {
        let key = if our_commit < their_commit {
            (our_commit, their_commit)
        } else {
            (their_commit, our_commit)
        };
        let base = match self.bases.get(&key) {
            Some(base) => *base,
            None => {
                let base = crate::tree_merge::merge_base(self.repo, our_commit, their_commit)?
                    .context("the two sides share no history")?;
                self.bases.insert(key, base);
                base
            }
        };
        let base_tree = self.repo.find_commit(base)?.tree_id();
        if our_tree == their_tree || our_tree == base_tree || their_tree == base_tree {
            return Ok(false);
        }
        let ours = self.changed(base_tree, our_tree)?;
        let theirs = self.changed(base_tree, their_tree)?;
        Ok(paths_overlap(&ours, &theirs))
    }
}

/// Whether two sets of changed paths touch a common path, or one touches a
/// directory the other changes inside.
fn paths_overlap(a: &[String], b: &[String]) -> bool {
    let within = |outer: &str, inner: &str| {
        inner.len() > outer.len()
            && inner.starts_with(outer)
            && inner.as_bytes()[outer.len()] == b'/'
    };
    a.iter()
        .any(|x| b.iter().any(|y| x == y || within(x, y) || within(y, x)))
}

fn describe(side: &Side) -> String {
    match side {
        Side::Revision(spec) => spec.clone(),
        Side::Checkout(path) => path.display().to_string(),
    }
}

/// The base lines (1-based, inclusive) of each conflict hunk of a file's
/// merge; an insertion between two lines names the line before it.
fn overlapping_lines(
    repo: &Repository,
    base: Oid,
    ours: Oid,
    theirs: Oid,
) -> Result<Vec<LineRange>> {
    let (base, ours, theirs) = (
        repo.find_blob(base)?,
        repo.find_blob(ours)?,
        repo.find_blob(theirs)?,
    );
    let split = crate::merge3::split_byte_lines;
    let merge = crate::merge3::merge_lines(
        &split(base.content()),
        &split(ours.content()),
        &split(theirs.content()),
    );
    Ok(crate::merge3::hunks(&merge.regions)
        .iter()
        .map(|hunk| {
            let start = if hunk.base.is_empty() {
                hunk.base.start.max(1)
            } else {
                hunk.base.start + 1
            } as u32;
            LineRange {
                start,
                end: (hunk.base.end as u32).max(start),
            }
        })
        .collect())
}

/// One pair in the conflict matrix.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairConflicts {
    pub a: String,
    pub b: String,
    pub a_path: String,
    pub b_path: String,
    pub has_conflicts: bool,
    pub conflicts: Vec<FileConflict>,
}

/// Every pair of live sessions, and each against its target branch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prediction {
    pub repo_path: String,
    pub sessions: usize,
    pub pairs: Vec<PairConflicts>,
    pub against_target: Vec<PairConflicts>,
    pub total_conflicts: usize,
}

/// One live session taking part in a conflict matrix: its id, checkout,
/// the branch it will merge into (`None` for the main checkout) and its
/// captured state (tree, commit).
#[derive(Debug, Clone)]
pub struct Participant {
    pub id: String,
    pub checkout: String,
    pub target: Option<String>,
    pub state: (Oid, Oid),
}

/// Predicts conflicts between all live sessions of a repository.
pub fn predict(data_dir: &Path, repo_path: &Path) -> Result<Prediction> {
    let repo_key = paths::to_db_string(repo_path)?;
    let sessions = crate::session::live_sessions(data_dir, &repo_key)?;
    // Each session's state once (HEAD plus uncommitted changes), in parallel.
    let checkouts: Vec<&Path> = sessions
        .iter()
        .map(|session| Path::new(&session.worktree_path))
        .collect();
    let states = capture_checkouts(&checkouts);
    let mut participants = Vec::with_capacity(sessions.len());
    for (session, state) in sessions.into_iter().zip(states) {
        let state = state?;
        participants.push(Participant {
            target: (!session.is_main_repo).then(|| {
                session
                    .base_branch
                    .clone()
                    .unwrap_or_else(|| "main".to_owned())
            }),
            id: session.id,
            checkout: session.worktree_path,
            state: (state.tree, state.commit),
        });
    }
    let (pairs, against_target) = matrix(repo_path, &participants)?;
    let prediction = Prediction {
        repo_path: repo_key,
        sessions: participants.len(),
        total_conflicts: pairs
            .iter()
            .chain(&against_target)
            .map(|pair| pair.conflicts.len())
            .sum(),
        pairs,
        against_target,
    };
    // What `status` shows of it: each session's conflicting files with the
    // others, and their count. A prediction stands even when this cannot
    // be recorded.
    let files = files_by_session(&participants, &prediction.pairs);
    let counts: Vec<(String, i64)> = files
        .iter()
        .map(|(id, files)| (id.clone(), files.len() as i64))
        .collect();
    let _ = crate::session::record_predicted_conflicts(data_dir, &counts);
    let _ = crate::session::record_conflict_files(data_dir, &files);
    Ok(prediction)
}

/// Each session's conflicting files with the others (the other session
/// named), in one pass over the pairs of a matrix.
fn files_by_session(
    sessions: &[Participant],
    pairs: &[PairConflicts],
) -> Vec<(String, Vec<crate::session::ConflictFile>)> {
    let position: HashMap<&str, usize> = sessions
        .iter()
        .enumerate()
        .map(|(at, session)| (session.id.as_str(), at))
        .collect();
    let mut files: Vec<(String, Vec<crate::session::ConflictFile>)> = sessions
        .iter()
        .map(|session| (session.id.clone(), Vec::new()))
        .collect();
    for pair in pairs {
        for (id, with) in [(&pair.a, &pair.b), (&pair.b, &pair.a)] {
            let Some(at) = position.get(id.as_str()) else {
                continue;
            };
            files[*at]
                .1
                .extend(pair.conflicts.iter().map(|c| crate::session::ConflictFile {
                    path: c.path.clone(),
                    with: with.clone(),
                }));
        }
    }
    files
}

/// How many conflicting files the session `id` has with the others, over
/// the pairs of a matrix.
pub fn conflicting_files(pairs: &[PairConflicts], id: &str) -> usize {
    pairs
        .iter()
        .filter(|pair| pair.a == id || pair.b == id)
        .map(|pair| pair.conflicts.len())
        .sum()
}

/// The conflict matrix of captured sessions: every pair of them, and each
/// with a target against that target branch (resolved once per branch).
/// Pairs that change no common path are screened out cheaply, with shared
/// caches; only the rest are merged, in parallel.
pub fn matrix(
    repo_path: &Path,
    sessions: &[Participant],
) -> Result<(Vec<PairConflicts>, Vec<PairConflicts>)> {
    matrix_remembering(repo_path, sessions, &mut MatrixMemory::default())
}

/// The conflicts of two states, (tree, commit) each, as merged before.
type Merged = HashMap<((Oid, Oid), (Oid, Oid)), Vec<FileConflict>>;

/// What [`matrix_remembering`] keeps from one matrix for the next: the
/// outcome of each pair of states, so a pair neither side of which
/// changed is not merged again. Only the last matrix's pairs are kept.
#[derive(Debug, Default)]
pub struct MatrixMemory {
    merged: Merged,
}

/// [`matrix`], taking the pairs whose states `memory` holds from it.
pub fn matrix_remembering(
    repo_path: &Path,
    sessions: &[Participant],
    memory: &mut MatrixMemory,
) -> Result<(Vec<PairConflicts>, Vec<PairConflicts>)> {
    let mut jobs: Vec<(usize, Option<usize>)> = Vec::new();
    for i in 0..sessions.len() {
        for j in i + 1..sessions.len() {
            jobs.push((i, Some(j)));
        }
        if sessions[i].target.is_some() {
            jobs.push((i, None));
        }
    }
    let repo = Repository::open(repo_path)?;
    let mut target_states: HashMap<String, (Oid, Oid)> = HashMap::new();
    let mut sides: Vec<(Label, Label)> = Vec::new();
    for (i, j) in &jobs {
        let ours = (sessions[*i].checkout.clone(), sessions[*i].state);
        let theirs = match j {
            Some(j) => (sessions[*j].checkout.clone(), sessions[*j].state),
            None => {
                let target = sessions[*i].target.clone().unwrap_or_default();
                let state = match target_states.get(&target) {
                    Some(state) => *state,
                    None => {
                        let state = side_tree(&repo, &Side::Revision(target.clone()))?;
                        target_states.insert(target.clone(), state);
                        state
                    }
                };
                (target, state)
            }
        };
        sides.push((ours, theirs));
    }
    let mut screen = Screen::new(&repo);
    let mut needs_merge = Vec::new();
    for (ours, theirs) in &sides {
        let known = memory.merged.contains_key(&(ours.1, theirs.1));
        needs_merge.push(!known && screen.may_conflict(ours.1, theirs.1)?);
    }
    let previous = std::mem::take(&mut memory.merged);
    let results: Vec<Result<(usize, Option<usize>, ConflictCheck)>> = jobs
        .par_iter()
        .zip(sides.par_iter())
        .zip(needs_merge.par_iter())
        .map_init(
            || Repository::open(repo_path),
            |repo, (((i, j), (ours, theirs)), needed)| {
                let repo = repo
                    .as_ref()
                    .map_err(|e| anyhow::anyhow!("cannot open repository: {e}"))?;
                let check = if *needed {
                    check_states(repo, ours.clone(), theirs.clone())?
                } else {
                    let conflicts = previous
                        .get(&(ours.1, theirs.1))
                        .cloned()
                        .unwrap_or_default();
                    ConflictCheck {
                        ours: ours.0.clone(),
                        theirs: theirs.0.clone(),
                        base_commit: String::new(),
                        has_conflicts: !conflicts.is_empty(),
                        conflicts,
                    }
                };
                Ok((*i, *j, check))
            },
        )
        .collect();
    let mut pairs = Vec::new();
    let mut against_target = Vec::new();
    for (result, (ours, theirs)) in results.into_iter().zip(&sides) {
        let (i, j, check) = result?;
        memory
            .merged
            .insert((ours.1, theirs.1), check.conflicts.clone());
        let pair = PairConflicts {
            a: sessions[i].id.clone(),
            a_path: sessions[i].checkout.clone(),
            b: j.map(|j| sessions[j].id.clone())
                .unwrap_or_else(|| sessions[i].target.clone().unwrap_or_default()),
            b_path: j.map(|j| sessions[j].checkout.clone()).unwrap_or_default(),
            has_conflicts: check.has_conflicts,
            conflicts: check.conflicts,
        };
        if j.is_some() {
            pairs.push(pair);
        } else {
            against_target.push(pair);
        }
    }
    Ok((pairs, against_target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str], index: Option<&Path>) -> String {
        let mut command = Command::new("git");
        command
            .current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@example.com");
        if let Some(index) = index {
            command.env("GIT_INDEX_FILE", index);
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "git {args:?}: {:?}", out);
        String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
    }

    fn write(dir: &Path, path: &str, text: &str) {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }

    /// The state tree is what `git add -A` then `git write-tree` would
    /// make of a copy of the index, and the changed files what `git
    /// status` lists.
    #[test]
    fn the_state_tree_is_the_index_with_every_change_added() {
        let temp = tempfile::tempdir().unwrap();
        let repo = temp.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"], None);
        for path in [
            "a.txt",
            "gone/only.txt",
            "d/keep.txt",
            "d/e/f.txt",
            "d/e/g.txt",
            "x/y.txt",
        ] {
            write(&repo, path, &format!("{path}\n"));
        }
        write(&repo, ".gitignore", "*.log\n");
        git(&repo, &["add", "-A"], None);
        git(&repo, &["commit", "-q", "-m", "base"], None);
        // Staged: a modification, a deletion, a new file in a new directory.
        write(&repo, "d/e/f.txt", "staged\n");
        git(&repo, &["rm", "-q", "x/y.txt"], None);
        write(&repo, "n/m/new.txt", "staged new\n");
        git(&repo, &["add", "d/e/f.txt", "n/m/new.txt"], None);
        // Unstaged: over a staged file, a whole directory deleted, an
        // executable, untracked files (one ignored).
        write(&repo, "d/e/f.txt", "staged, then edited\n");
        std::fs::remove_dir_all(repo.join("gone")).unwrap();
        write(&repo, "a.txt", "edited\n");
        std::fs::set_permissions(
            repo.join("a.txt"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        write(&repo, "u/v/w.txt", "untracked\n");
        write(&repo, "build.log", "ignored\n");

        let state = capture_checkout(&repo).unwrap();
        let copy = temp.path().join("index-copy");
        std::fs::copy(repo.join(".git/index"), &copy).unwrap();
        git(&repo, &["add", "-A"], Some(&copy));
        let expected = git(&repo, &["write-tree"], Some(&copy));
        assert_eq!(state.tree.to_string(), expected);
        let head = git(&repo, &["rev-parse", "HEAD"], None);
        assert_eq!(state.commit.to_string(), head);
        let listed = git(&repo, &["status", "--porcelain", "-uall"], None);
        let mut shown: Vec<String> = listed.lines().map(|l| l[3..].to_owned()).collect();
        shown.sort();
        assert_eq!(state.changed_files, shown);
        // Nothing changed: the state is HEAD's tree.
        git(&repo, &["add", "-A"], None);
        git(&repo, &["commit", "-q", "-m", "all"], None);
        let clean = capture_checkout(&repo).unwrap();
        let head_tree = git(&repo, &["rev-parse", "HEAD^{tree}"], None);
        assert_eq!(clean.tree.to_string(), head_tree);
        assert!(clean.changed_files.is_empty());
    }
}
