//! The check of a candidate: the check command (`land.check`, `--check`)
//! run through `sh -c` in a scratch worktree of the candidate's own under
//! `<data dir>/land/scratch/<item id>`, never in an agent's worktree or the
//! user's checkout, its output to `<data dir>/logs/land/<item id>.log`,
//! stopped (its whole process group) when it runs past its timeout or is
//! cancelled. Each run of an item's check is appended to its log, under a
//! header naming the commit, so a log keeps the speculative runs that were
//! superseded beside the one that counted.
//!
//! [`spawn`] runs a check on a thread of its own ([`Running`]): the
//! speculative checks of stacked candidates run at once, one thread and one
//! scratch worktree each, and a check whose candidate no longer stands is
//! cancelled.
//!
//! Scratch worktrees are made and removed with the git CLI with the
//! repository's hooks turned off (they are ours, not an operation of the
//! user's); one left by a runner that died is removed by the next check of
//! the same item or by [`remove_stale`] when the next runner starts.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::failpoint;

/// How many lines of a failed check's log are shown.
const TAIL_LINES: usize = 12;

/// What a check gave.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckOutcome {
    pub passed: bool,
    pub timed_out: bool,
    /// Stopped because its candidate no longer stood (not a verdict).
    #[serde(skip)]
    pub cancelled: bool,
    pub exit_code: Option<i32>,
    pub log_path: String,
    /// The log's last lines.
    pub tail: Vec<String>,
    pub seconds: f64,
}

/// The directory of scratch worktrees.
pub fn scratch_root(data_dir: &Path) -> PathBuf {
    data_dir.join("land").join("scratch")
}

/// The log of an item's check.
pub fn log_path(data_dir: &Path, item_id: &str) -> PathBuf {
    crate::paths::logs_dir(data_dir)
        .join("land")
        .join(format!("{item_id}.log"))
}

fn git(repo_path: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(repo_path)
        .args(["-c", "core.hooksPath=/dev/null"])
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null());
    command
}

/// Scratch worktrees are made, removed and pruned one at a time: a prune
/// would take the administrative files of a worktree another thread is
/// making, and concurrent ones were seen to fail under load.
static WORKTREES: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    WORKTREES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn prune(repo_path: &Path) {
    let _alone = one_at_a_time();
    let _ = git(repo_path)
        .args(["worktree", "prune"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Removes a scratch worktree, wherever it got to (its directory and its
/// administrative files; a prune only when git could not remove it).
pub fn remove_scratch(repo_path: &Path, path: &Path) {
    if !path.exists() {
        return;
    }
    let removed = {
        let _alone = one_at_a_time();
        git(repo_path)
            .args(["worktree", "remove", "--force", "--force"])
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let _ = std::fs::remove_dir_all(path);
    if !removed {
        prune(repo_path);
    }
}

/// Removes the scratch worktrees of `repo_path`'s items that no live runner
/// is checking (`in_use` says which item ids are), and what git still
/// records of scratch worktrees that are gone.
pub fn remove_stale(data_dir: &Path, repo_path: &Path, ours: &[String], in_use: &[String]) {
    for id in ours {
        if in_use.contains(id) {
            continue;
        }
        remove_scratch(repo_path, &scratch_root(data_dir).join(id));
    }
    prune(repo_path);
}

/// What to check, owned, so a thread can take it.
#[derive(Debug, Clone)]
pub struct CheckJob {
    pub data_dir: PathBuf,
    pub repo_path: PathBuf,
    pub item_id: String,
    pub commit: String,
    pub command: String,
    pub timeout: Duration,
}

/// A check running on a thread of its own. Dropping it cancels the check
/// and waits for its scratch worktree to be removed.
pub struct Running {
    cancel: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<CheckOutcome>>>,
}

impl Running {
    /// Waits for the check's outcome.
    pub fn wait(mut self) -> Result<CheckOutcome> {
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(outcome)) => outcome,
            _ => anyhow::bail!("the check's thread stopped unexpectedly"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Starts `job` on a thread of its own.
pub fn spawn(job: CheckJob) -> Running {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    let handle = std::thread::spawn(move || run(&job, &flag));
    Running {
        cancel,
        handle: Some(handle),
    }
}

/// Checks `job.commit` of the repository at `job.repo_path` with
/// `job.command`; `cancel` stops it early.
pub fn run(job: &CheckJob, cancel: &AtomicBool) -> Result<CheckOutcome> {
    let CheckJob {
        data_dir,
        repo_path,
        item_id,
        commit,
        ..
    } = job;
    let (data_dir, repo_path) = (data_dir.as_path(), repo_path.as_path());
    let scratch = scratch_root(data_dir).join(item_id);
    remove_scratch(repo_path, &scratch);
    std::fs::create_dir_all(scratch_root(data_dir))
        .with_context(|| format!("cannot create {}", scratch_root(data_dir).display()))?;
    let added = {
        let _alone = one_at_a_time();
        git(repo_path)
            .args(["worktree", "add", "--detach", "--force", "--quiet"])
            .arg(&scratch)
            .arg(commit.as_str())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("cannot run git worktree add")?
    };
    if !added.status.success() {
        anyhow::bail!(
            "cannot make a scratch worktree for the check: {}",
            String::from_utf8_lossy(&added.stderr).trim()
        );
    }
    let outcome = run_in(job, &scratch, cancel);
    remove_scratch(repo_path, &scratch);
    outcome
}

fn run_in(job: &CheckJob, scratch: &Path, cancel: &AtomicBool) -> Result<CheckOutcome> {
    let log = log_path(&job.data_dir, &job.item_id);
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("cannot write {}", log.display()))?;
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    writeln!(
        file,
        "$ {}   (in {}, at {}, started at {started_at:.3} s of the Unix epoch)",
        job.command,
        scratch.display(),
        job.commit
    )?;
    let started = Instant::now();
    let mut child = spawn_command(scratch, &file, job)?;
    failpoint::hit("land:during-check");
    let (mut timed_out, mut cancelled) = (false, false);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        timed_out = started.elapsed() >= job.timeout;
        cancelled = cancel.load(Ordering::SeqCst);
        if timed_out || cancelled {
            // SAFETY: signalling the check's own process group.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let seconds = started.elapsed().as_secs_f64();
    if cancelled {
        writeln!(
            file,
            "parallel-cc: cancelled, the candidate it checked no longer stands"
        )?;
    } else if timed_out {
        writeln!(
            file,
            "parallel-cc: the check ran past its timeout of {} s and was stopped",
            job.timeout.as_secs()
        )?;
    }
    drop(file);
    let exit_code = status.and_then(|s| s.code());
    Ok(CheckOutcome {
        passed: !timed_out && !cancelled && status.is_some_and(|s| s.success()),
        timed_out,
        cancelled,
        exit_code,
        log_path: log.to_string_lossy().into_owned(),
        tail: tail(&log),
        seconds: (seconds * 1000.0).round() / 1000.0,
    })
}

fn spawn_command(
    scratch: &Path,
    log: &std::fs::File,
    job: &CheckJob,
) -> Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    Command::new("sh")
        .arg("-c")
        .arg(&job.command)
        .current_dir(scratch)
        .env("PARALLEL_CC_LAND_ITEM", &job.item_id)
        .env("PARALLEL_CC_LAND_COMMIT", &job.commit)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot run the check {}", job.command))
}

fn tail(log: &Path) -> Vec<String> {
    let Ok(file) = std::fs::File::open(log) else {
        return Vec::new();
    };
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .map_while(std::result::Result::ok)
        .collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].to_vec()
}
