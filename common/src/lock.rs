//! Cross-process locks on files (fs2 advisory locks). A decision that spans
//! the database and the filesystem (which session takes the main checkout,
//! creating or removing a worktree) runs under the lock of its repository, so
//! racing processes take turns instead of failing. The operating system
//! releases a lock when its holder dies, so a crash never leaves one behind;
//! a holder that lives but does not move (stopped, hung) is named after a
//! bounded wait, never overruled.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fs2::FileExt;

use crate::UserError;

/// How often a bounded wait tries the lock again.
const RETRY_INTERVAL: Duration = Duration::from_millis(10);

/// An exclusive lock held until dropped.
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Blocks until the lock file at `path` is exclusively ours, creating it
    /// (and its directory) when missing.
    pub fn acquire(path: &Path) -> Result<FileLock> {
        let file = open_lock_file(path)?;
        file.lock_exclusive()
            .with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(FileLock { file })
    }

    /// Takes the lock at `path`, waiting at most `wait` for its holder.
    /// After that the error names the holder's PID (`what` says what the
    /// lock guards); a holder that lives is never overruled.
    pub fn acquire_within(path: &Path, wait: Duration, what: &str) -> Result<FileLock> {
        let file = open_lock_file(path)?;
        let started = Instant::now();
        loop {
            match file.try_lock_exclusive() {
                Ok(()) => return Ok(FileLock { file }),
                Err(err) if err.raw_os_error() != fs2::lock_contended_error().raw_os_error() => {
                    return Err(
                        anyhow::Error::new(err).context(format!("cannot lock {}", path.display()))
                    );
                }
                Err(_) if started.elapsed() >= wait => return Err(busy_error(&file, wait, what)),
                Err(_) => std::thread::sleep(RETRY_INTERVAL),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create lock directory {}", parent.display()))?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open lock file {}", path.display()))
}

fn busy_error(file: &File, wait: Duration, what: &str) -> anyhow::Error {
    let seconds = wait.as_secs_f64();
    match lock_holder(file) {
        Some(pid) => {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|n| format!(" ({})", n.trim()))
                .unwrap_or_default();
            UserError::with_hint(
                format!("{what} is locked by process {pid}{name}; gave up after {seconds:.1} s"),
                format!(
                    "if that process is stopped, resume it (kill -CONT {pid}) or end it; its lock goes with it"
                ),
            )
            .into()
        }
        None => UserError::with_hint(
            format!("{what} is locked by another process; gave up after {seconds:.1} s"),
            "end the parallel-cc command that holds it, or try again",
        )
        .into(),
    }
}

/// The PID holding a `flock` on `file`, from `/proc/locks` (Linux).
fn lock_holder(file: &File) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    let inode = meta.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; a waiter's line
    // carries "->" and is not the holder.
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") || fields.contains(&"->") {
            return None;
        }
        let device_inode = fields.get(5)?;
        let holder_inode: u64 = device_inode.rsplit(':').next()?.parse().ok()?;
        (holder_inode == inode).then(|| fields.get(4)?.parse().ok())?
    })
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

/// Takes the lock of one repository, waiting at most `wait` for it.
pub fn lock_repository(data_dir: &Path, repo_path: &Path, wait: Duration) -> Result<FileLock> {
    FileLock::acquire_within(
        &repository_lock_path(data_dir, repo_path),
        wait,
        &format!("repository {}", repo_path.display()),
    )
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_wait_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let _held = FileLock::acquire(&path).unwrap();
        let started = Instant::now();
        let err = FileLock::acquire_within(&path, Duration::from_millis(100), "thing")
            .err()
            .expect("the lock is held");
        assert!(started.elapsed() >= Duration::from_millis(100));
        let user = err.downcast_ref::<UserError>().expect("a user error");
        let me = std::process::id();
        assert!(
            user.message
                .starts_with(&format!("thing is locked by process {me} (")),
            "{}",
            user.message
        );
    }
}
