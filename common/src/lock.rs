//! Cross-process locks on files (fs2 advisory locks). A decision that spans
//! the database and the filesystem (which session takes the main checkout,
//! creating or removing a worktree) runs under the lock of its repository, so
//! racing processes take turns instead of failing. The operating system
//! releases a lock when its holder dies, so a crash never leaves one behind.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use fs2::FileExt;

/// An exclusive lock held until dropped.
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Blocks until the lock file at `path` is exclusively ours, creating it
    /// (and its directory) when missing.
    pub fn acquire(path: &Path) -> Result<FileLock> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create lock directory {}", parent.display()))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        file.lock_exclusive()
            .with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(FileLock { file })
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

/// The lock file that serialises decisions about one repository.
pub fn repository_lock_path(data_dir: &Path, repo_path: &Path) -> PathBuf {
    let name = repo_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".to_owned());
    let safe_name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let hash = fnv1a(repo_path.as_os_str().as_encoded_bytes());
    data_dir
        .join("locks")
        .join(format!("{safe_name}-{hash:016x}.lock"))
}

/// Takes the lock of one repository.
pub fn lock_repository(data_dir: &Path, repo_path: &Path) -> Result<FileLock> {
    FileLock::acquire(&repository_lock_path(data_dir, repo_path))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
