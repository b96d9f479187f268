//! The check of a candidate: the check command (`land.check`, `--check`)
//! run through `sh -c` in a scratch worktree of the candidate's own under
//! `<data dir>/land/scratch/<item id>`, never in an agent's worktree or the
//! user's checkout, its output to `<data dir>/logs/land/<item id>.log`,
//! stopped (its whole process group) when it runs past its timeout.
//!
//! Scratch worktrees are made and removed with the git CLI with the
//! repository's hooks turned off (they are ours, not an operation of the
//! user's); one left by a runner that died is removed by the next check of
//! the same item or by [`remove_stale`] when the next runner starts.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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

/// Removes a scratch worktree, wherever it got to.
pub fn remove_scratch(repo_path: &Path, path: &Path) {
    if path.exists() {
        let _ = git(repo_path)
            .args(["worktree", "remove", "--force", "--force"])
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(path);
    }
    let _ = git(repo_path)
        .args(["worktree", "prune"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Removes the scratch worktrees of `repo_path`'s items that no live runner
/// is checking (`in_use` says which item ids are).
pub fn remove_stale(data_dir: &Path, repo_path: &Path, ours: &[String], in_use: &[String]) {
    for id in ours {
        if in_use.contains(id) {
            continue;
        }
        let path = scratch_root(data_dir).join(id);
        if path.exists() {
            remove_scratch(repo_path, &path);
        }
    }
}

/// Checks `commit` of the repository at `repo_path` with `command`.
pub fn run(
    data_dir: &Path,
    repo_path: &Path,
    item_id: &str,
    commit: &str,
    command: &str,
    timeout: Duration,
) -> Result<CheckOutcome> {
    let scratch = scratch_root(data_dir).join(item_id);
    remove_scratch(repo_path, &scratch);
    std::fs::create_dir_all(scratch_root(data_dir))
        .with_context(|| format!("cannot create {}", scratch_root(data_dir).display()))?;
    let added = git(repo_path)
        .args(["worktree", "add", "--detach", "--force", "--quiet"])
        .arg(&scratch)
        .arg(commit)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run git worktree add")?;
    if !added.status.success() {
        anyhow::bail!(
            "cannot make a scratch worktree for the check: {}",
            String::from_utf8_lossy(&added.stderr).trim()
        );
    }
    let outcome = run_in(data_dir, &scratch, item_id, commit, command, timeout);
    remove_scratch(repo_path, &scratch);
    outcome
}

fn run_in(
    data_dir: &Path,
    scratch: &Path,
    item_id: &str,
    commit: &str,
    command: &str,
    timeout: Duration,
) -> Result<CheckOutcome> {
    let log = log_path(data_dir, item_id);
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file =
        std::fs::File::create(&log).with_context(|| format!("cannot write {}", log.display()))?;
    writeln!(
        file,
        "$ {command}   (in {}, at {commit})",
        scratch.display()
    )?;
    let started = Instant::now();
    let mut child = spawn(scratch, command, &file, item_id, commit)?;
    failpoint::hit("land:during-check");
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() >= timeout {
            timed_out = true;
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
    if timed_out {
        writeln!(
            file,
            "parallel-cc: the check ran past its timeout of {} s and was stopped",
            timeout.as_secs()
        )?;
    }
    drop(file);
    let exit_code = status.and_then(|s| s.code());
    Ok(CheckOutcome {
        passed: !timed_out && status.is_some_and(|s| s.success()),
        timed_out,
        exit_code,
        log_path: log.to_string_lossy().into_owned(),
        tail: tail(&log),
        seconds: (seconds * 1000.0).round() / 1000.0,
    })
}

fn spawn(
    scratch: &Path,
    command: &str,
    log: &std::fs::File,
    item_id: &str,
    commit: &str,
) -> Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(scratch)
        .env("PARALLEL_CC_LAND_ITEM", item_id)
        .env("PARALLEL_CC_LAND_COMMIT", commit)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot run the check {command}"))
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
