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
//! scratch worktree each, their commands `jobs` at a time ([`Lanes`], in
//! the order they were started), and a check whose candidate no longer
//! stands is cancelled. Its outcome is given as soon as its command ended;
//! its scratch worktree is removed after that, while the item lands.
//!
//! Scratch worktrees are made and removed with the git CLI with the
//! repository's hooks turned off (they are ours, not an operation of the
//! user's); one left by a runner that died is removed by the next check of
//! the same item or by [`remove_stale`] when the next runner starts.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};
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
/// making, and `git worktree add` reads every worktree's administrative
/// files, so two at once fail now and then (`failed to read
/// .git/worktrees/<name>/commondir`: 13 of 240 adds, 8 at a time, under
/// load). Checks hardly wait for this: a candidate's worktree is made
/// while the checks before it run.
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

/// The check commands of one runner that may run at once (`--jobs`). A
/// check takes its place in line when it is started, makes its scratch
/// worktree, then waits for a lane; lanes go to the checks in the order
/// they were started, so a candidate prepared ahead starts its command as
/// soon as one before it ends.
pub struct Lanes {
    limit: usize,
    state: Mutex<LaneState>,
    freed: Condvar,
}

#[derive(Default)]
struct LaneState {
    running: usize,
    next_ticket: u64,
    waiting: BTreeSet<u64>,
}

impl Lanes {
    pub fn new(limit: usize) -> Arc<Lanes> {
        Arc::new(Lanes {
            limit: limit.max(1),
            state: Mutex::new(LaneState::default()),
            freed: Condvar::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place in line, taken in the order checks are started.
    fn line_up(self: &Arc<Lanes>) -> Ticket {
        let mut state = self.state();
        let number = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.insert(number);
        Ticket {
            lanes: Arc::clone(self),
            number,
        }
    }
}

/// A check's place in line; leaving it (dropped) lets the next one go.
struct Ticket {
    lanes: Arc<Lanes>,
    number: u64,
}

impl Ticket {
    /// Waits until a lane is free and no check started earlier waits for
    /// one; `None` when `cancel` is set meanwhile.
    fn enter(self, cancel: &AtomicBool) -> Option<Lane> {
        let lanes = Arc::clone(&self.lanes);
        let mut state = lanes.state();
        loop {
            if cancel.load(Ordering::SeqCst) {
                return None;
            }
            let first = state.waiting.first() == Some(&self.number);
            if first && state.running < lanes.limit {
                state.waiting.remove(&self.number);
                state.running += 1;
                // The ticket, dropped on return, finds itself out of line.
                drop(state);
                return Some(Lane { lanes });
            }
            state = lanes
                .freed
                .wait_timeout(state, Duration::from_millis(20))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.lanes.state().waiting.remove(&self.number);
        self.lanes.freed.notify_all();
    }
}

/// A lane taken: its check's command runs.
struct Lane {
    lanes: Arc<Lanes>,
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.lanes.state().running -= 1;
        self.lanes.freed.notify_all();
    }
}

/// A check running on a thread of its own. Its outcome is there as soon as
/// its command ended; dropping it cancels the check if it still runs and
/// waits for its scratch worktree to be removed.
pub struct Running {
    cancel: Arc<AtomicBool>,
    outcome: mpsc::Receiver<Result<CheckOutcome>>,
    handle: Option<JoinHandle<()>>,
}

impl Running {
    /// Waits for the check's outcome (not for its scratch worktree to go).
    pub fn wait(&mut self) -> Result<CheckOutcome> {
        match self.outcome.recv() {
            Ok(outcome) => outcome,
            Err(_) => anyhow::bail!("the check's thread stopped unexpectedly"),
        }
    }

    /// Whether its thread is done, scratch worktree removed.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
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

/// Starts `job` on a thread of its own, its command in one of `lanes`.
pub fn spawn(job: CheckJob, lanes: &Arc<Lanes>) -> Running {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    let ticket = lanes.line_up();
    let (sender, outcome) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let scratch = scratch_root(&job.data_dir).join(&job.item_id);
        let result = make_scratch(&job, &scratch).and_then(|()| match ticket.enter(&flag) {
            // The lane is held until the command ended.
            Some(_lane) => run_in(&job, &scratch, &flag),
            None => anyhow::bail!("cancelled before it started"),
        });
        let _ = sender.send(result);
        remove_scratch(&job.repo_path, &scratch);
    });
    Running {
        cancel,
        outcome,
        handle: Some(handle),
    }
}

/// Checks `job.commit` of the repository at `job.repo_path` with
/// `job.command`; `cancel` stops it early.
pub fn run(job: &CheckJob, cancel: &AtomicBool) -> Result<CheckOutcome> {
    let scratch = scratch_root(&job.data_dir).join(&job.item_id);
    let outcome = make_scratch(job, &scratch).and_then(|()| run_in(job, &scratch, cancel));
    remove_scratch(&job.repo_path, &scratch);
    outcome
}

/// A scratch worktree at `scratch`, detached at `job.commit` (one left by
/// a runner that died removed first).
fn make_scratch(job: &CheckJob, scratch: &Path) -> Result<()> {
    let (data_dir, repo_path) = (job.data_dir.as_path(), job.repo_path.as_path());
    remove_scratch(repo_path, scratch);
    std::fs::create_dir_all(scratch_root(data_dir))
        .with_context(|| format!("cannot create {}", scratch_root(data_dir).display()))?;
    // Forced twice: a runner killed during its `git worktree add` leaves
    // this path registered as missing but locked (git locks a worktree
    // while it makes it), and the path is ours alone.
    let added = {
        let _alone = one_at_a_time();
        git(repo_path)
            .args([
                "worktree", "add", "--detach", "--force", "--force", "--quiet",
            ])
            .arg(scratch)
            .arg(job.commit.as_str())
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
    Ok(())
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
