use std::io;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// Name of the hook run before a session's worktree is merged back.
pub const PRE_MERGE_HOOK: &str = "pcc-pre-merge";

/// Runs one of the repository's git hooks if it exists.
///
/// A missing hook counts as success.
pub fn run_hook(repo: &Path, hook: &str) -> io::Result<ExitStatus> {
    let script = repo.join(".git").join("hooks").join(hook);
    if !script.is_file() {
        return Ok(ExitStatus::default());
    }
    Command::new(&script)
        .current_dir(repo)
        .stdin(Stdio::null())
        .status()
}

/// True when the repository has the given hook installed.
pub fn has_hook(repo: &Path, hook: &str) -> bool {
    repo.join(".git").join("hooks").join(hook).is_file()
}
