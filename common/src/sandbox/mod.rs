//! Sandboxes: an agent run without a person at the keyboard, isolated from
//! the user's checkout, its work brought back as a branch.
//!
//! A [`Backend`] makes [`Sandbox`]es; a sandbox takes the packed workspace,
//! runs commands in it with their output streamed line by line, gives files
//! back, and can be killed, also from another process through what the run
//! recorded in the database. [`local`] is the backend of this machine.

mod agent_streams;
pub mod e2b;
pub mod local;
pub mod multi;
pub mod pack;
pub mod results;
pub mod run;
pub mod runs;
pub mod stream;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

/// A command to run inside a sandbox: the words (never through a shell)
/// and the whole environment it gets, nothing inherited.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// What a running command reports to whoever runs it.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The command started; the process (group) that another process can kill.
    Started(ProcessHandle),
    /// One line of output.
    Line(OutputStream, &'a str),
    /// Time passes with no output (about ten times a second).
    Tick,
}

/// Whether to let a command go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// End the command and everything it started.
    Stop,
}

/// A started command, as recorded so that another process can end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessHandle {
    /// The process id, also the id of its process group.
    pub pid: i64,
    /// Its start time, to tell it from a later process with the same id.
    pub start: Option<u64>,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// Its exit code, when it exited by itself.
    pub code: Option<i32>,
    /// The signal that ended it, otherwise.
    pub signal: Option<i32>,
    /// Whether it was stopped because the caller said [`Flow::Stop`].
    pub stopped: bool,
}

impl Exit {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.stopped
    }
}

/// What the caller learns about a sandbox.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxInfo {
    pub backend: String,
    pub sandbox_id: String,
    /// Where the workspace is inside the sandbox.
    pub workspace: String,
    /// Whether the agent is confined (local: bwrap), and how.
    pub confinement: String,
}

/// A place where an agent runs.
pub trait Sandbox: Send + Sync {
    fn info(&self) -> SandboxInfo;

    /// Unpacks a workspace archive (tar.gz from [`pack::pack`]) into the
    /// workspace. Returns the number of entries.
    fn upload(&self, archive: &mut dyn Read) -> Result<u64>;

    /// Runs a command in the workspace, reporting its output line by line
    /// and ticks; ends it (and all it started) when `on_event` says stop.
    fn run(
        &self,
        command: &CommandSpec,
        on_event: &mut dyn FnMut(RunEvent<'_>) -> Flow,
    ) -> Result<Exit>;

    /// Copies a directory of the sandbox (relative to the workspace) to a
    /// local directory.
    fn download(&self, path: &str, dest: &Path) -> Result<()>;

    /// Where a path of the workspace is on this machine, when it is.
    fn local_path(&self, path: &str) -> Option<PathBuf>;

    /// Writes a file only the sandbox's user may read (mode 600), at a path
    /// relative to the sandbox's home. Returns its path inside the sandbox.
    fn write_private_file(&self, path: &str, bytes: &[u8]) -> Result<String>;

    /// Removes a file written by [`Sandbox::write_private_file`].
    fn remove_file(&self, path: &str) -> Result<()>;

    /// Makes the freshly uploaded workspace a git repository whose one
    /// commit (the baseline) holds every file, where the backend can do it
    /// itself; `None` means: run git in the sandbox instead.
    fn commit_baseline(
        &self,
        _name: &str,
        _email: &str,
        _message: &str,
    ) -> Result<Option<git2::Oid>> {
        Ok(None)
    }

    /// Commits what the agent left uncommitted (`git add -A`: ignored
    /// files stay out; edits that `assume-unchanged` or `skip-worktree`
    /// hide from it are taken too), where the backend can do it itself.
    /// `false` means: run git in the sandbox instead.
    fn commit_leftovers(&self, _name: &str, _email: &str, _message: &str) -> Result<bool> {
        Ok(false)
    }

    /// Removes the sandbox and its workspace.
    fn destroy(&self) -> Result<()>;
}

/// A kind of sandbox.
pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;

    /// Creates a sandbox for a run.
    fn create(&self, run_id: &str) -> Result<Box<dyn Sandbox>>;

    /// Ends a run's command from any process, given what the run recorded.
    /// Returns whether something was still running.
    fn kill(&self, sandbox_id: &str, process: Option<ProcessHandle>) -> Result<bool>;

    /// Whether a run's command is still running, from any process.
    fn is_running(&self, sandbox_id: &str, process: Option<ProcessHandle>) -> bool;
}

/// How long a killed command gets to end before it is killed outright.
pub const KILL_GRACE: Duration = Duration::from_secs(3);
