//! Writing a commit's tree into a new, empty worktree directory: every blob
//! becomes a file (executable bit and symlinks kept), written by several
//! threads at once, and the index is built from the files' own stat data so
//! git sees a clean worktree without rehashing anything.
//!
//! Only for trees that need no content filters (no gitattributes anywhere,
//! no `core.autocrlf`): there the bytes on disk are exactly the blobs.
//! Everything else goes through libgit2's checkout, which applies filters.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};
use git2::{FileMode, IndexEntry, IndexTime, Oid, Repository, Tree, TreeWalkMode, TreeWalkResult};
use rayon::prelude::*;

use crate::worktree::sparse::Cone;

/// One entry of the tree to write.
struct Item {
    path: String,
    id: Oid,
    mode: i32,
}

/// Whether the bytes of this tree's blobs can be written as they are: no
/// attributes file in the tree, the repository or the user's config, and no
/// line-ending conversion configured.
pub fn needs_no_filters(repo: &Repository, tree: &Tree) -> bool {
    let config = match repo.config() {
        Ok(config) => config,
        Err(_) => return false,
    };
    if config
        .get_string("core.autocrlf")
        .is_ok_and(|v| v != "false")
        || config.get_string("core.eol").is_ok()
        || config.get_string("core.attributesFile").is_ok()
    {
        return false;
    }
    if repo.path().join("info").join("attributes").exists() {
        return false;
    }
    let user_attributes = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".config")))
        .map(|dir| dir.join("git").join("attributes"));
    if user_attributes.is_some_and(|file| file.exists()) {
        return false;
    }
    let mut has_attributes = false;
    let _ = tree.walk(TreeWalkMode::PreOrder, |_, entry| {
        if entry.name_bytes() == b".gitattributes" {
            has_attributes = true;
            return TreeWalkResult::Abort;
        }
        TreeWalkResult::Ok
    });
    !has_attributes
}

/// Writes `tree` into the empty directory `workdir` of the worktree
/// repository `worktree`, then writes its index.
pub fn write_tree(worktree: &Repository, workdir: &Path, tree: &Tree) -> Result<()> {
    write_tree_within(worktree, workdir, tree, None)
}

/// [`write_tree`] writing only the files `cone` includes; the others are
/// indexed skip-worktree, as a sparse checkout leaves them.
pub fn write_tree_within(
    worktree: &Repository,
    workdir: &Path,
    tree: &Tree,
    cone: Option<&Cone>,
) -> Result<()> {
    let mut items = Vec::new();
    let mut directories = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
        let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
        let path = format!("{parent}{name}");
        match entry.filemode() {
            mode if mode == i32::from(FileMode::Tree) => directories.push(path),
            mode => items.push(Item {
                path,
                id: entry.id(),
                mode,
            }),
        }
        TreeWalkResult::Ok
    })
    .context("cannot read the tree")?;
    let (items, skipped): (Vec<Item>, Vec<Item>) = match cone {
        Some(cone) => items
            .into_iter()
            .partition(|item| cone.includes(&item.path)),
        None => (items, Vec::new()),
    };
    if let Some(cone) = cone {
        // A directory is needed when its own files are in the cone: that
        // covers the directories on the way to each one too.
        directories.retain(|directory| cone.includes(&format!("{directory}/x")));
    }

    for directory in &directories {
        std::fs::create_dir_all(workdir.join(directory))
            .with_context(|| format!("cannot create {directory}"))?;
    }
    let repo_path = worktree.path().to_path_buf();
    items
        .par_iter()
        .map_init(
            || Repository::open(&repo_path),
            |repo, item| -> Result<()> {
                let repo = repo
                    .as_ref()
                    .map_err(|e| anyhow::anyhow!("cannot open repository: {e}"))?;
                write_item(repo, workdir, item)?;
                crate::failpoint::hit("create:during-checkout");
                Ok(())
            },
        )
        .collect::<Result<Vec<()>>>()?;

    let mut index = worktree.index().context("cannot open the worktree index")?;
    index.clear()?;
    for item in &items {
        let meta = std::fs::symlink_metadata(workdir.join(&item.path))
            .with_context(|| format!("cannot stat {}", item.path))?;
        let entry = IndexEntry {
            ctime: IndexTime::new(meta.ctime() as i32, meta.ctime_nsec() as u32),
            mtime: IndexTime::new(meta.mtime() as i32, meta.mtime_nsec() as u32),
            dev: meta.dev() as u32,
            ino: meta.ino() as u32,
            mode: item.mode as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            file_size: meta.size() as u32,
            id: item.id,
            flags: item.path.len().min(0xfff) as u16,
            flags_extended: 0,
            path: item.path.clone().into_bytes(),
        };
        index
            .add(&entry)
            .with_context(|| format!("cannot index {}", item.path))?;
    }
    for item in &skipped {
        let entry = IndexEntry {
            ctime: IndexTime::new(0, 0),
            mtime: IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: item.mode as u32,
            uid: 0,
            gid: 0,
            file_size: 0,
            id: item.id,
            flags: item.path.len().min(0xfff) as u16 | EXTENDED,
            flags_extended: SKIP_WORKTREE,
            path: item.path.clone().into_bytes(),
        };
        index
            .add(&entry)
            .with_context(|| format!("cannot index {}", item.path))?;
    }
    index.write().context("cannot write the worktree index")?;
    Ok(())
}

/// An index entry's flag saying it has extended flags.
const EXTENDED: u16 = 0x4000;
/// `skip-worktree` in an index entry's extended flags.
const SKIP_WORKTREE: u16 = 0x4000;

fn write_item(repo: &Repository, workdir: &Path, item: &Item) -> Result<()> {
    let target = workdir.join(&item.path);
    if item.mode == i32::from(FileMode::Commit) {
        // A submodule: git leaves an empty directory until it is initialised.
        std::fs::create_dir_all(&target)?;
        return Ok(());
    }
    let blob = repo
        .find_blob(item.id)
        .with_context(|| format!("cannot read {}", item.path))?;
    if item.mode == i32::from(FileMode::Link) {
        let link = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(blob.content());
        std::os::unix::fs::symlink(link, &target)
            .with_context(|| format!("cannot create symlink {}", item.path))?;
        return Ok(());
    }
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&target)?;
        std::io::Write::write_all(&mut file, blob.content())?;
        // Dated a moment before the index is written, the entry is not
        // "racily clean": otherwise every status (ours and git's) would
        // rehash each file until the index happened to be rewritten.
        file.set_modified(std::time::SystemTime::now() - RACY_MARGIN)?;
        if item.mode == i32::from(FileMode::BlobExecutable) {
            file.set_permissions(std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(())
    };
    write().with_context(|| format!("cannot write {}", item.path))
}

/// How far before the index a fresh file's modification time is set.
const RACY_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);
