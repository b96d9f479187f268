//! The `local` backend: a sandbox is a directory of its own under
//! `<data dir>/sandboxes/<run id>/` (workspace, home, tmp), outside the
//! user's checkout. Commands run in their own process group with only the
//! run's environment; ending a command ends its whole group. Where `bwrap`
//! (bubblewrap) works, commands are also confined: the system read-only,
//! the user's home and the data directory hidden, only the sandbox's own
//! directory writable, and every process ends with the sandbox.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use super::{
    pack, Backend, CommandSpec, Exit, Flow, OutputStream, ProcessHandle, RunEvent, Sandbox,
    SandboxInfo, KILL_GRACE,
};
use crate::{process, UserError};

/// How local commands are confined.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Confinement {
    /// bwrap at this path works here.
    Bwrap { path: PathBuf },
    /// No confinement, and why.
    None { reason: String },
}

impl Confinement {
    /// Finds out whether bwrap is installed and works (it needs user
    /// namespaces, which some containers do not allow). `setting` is config
    /// `sandbox.confinement`.
    pub fn detect(setting: &str) -> Confinement {
        if setting == "off" {
            return Confinement::None {
                reason: "turned off (config sandbox.confinement)".to_owned(),
            };
        }
        let Ok(path) = which::which("bwrap") else {
            return Confinement::None {
                reason: "bwrap (bubblewrap) is not installed".to_owned(),
            };
        };
        let probe = Command::new(&path)
            .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
            .args(["--unshare-pid", "--die-with-parent", "--", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match probe {
            Ok(output) if output.status.success() => Confinement::Bwrap { path },
            Ok(output) => Confinement::None {
                reason: format!(
                    "bwrap is installed but cannot run here: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            },
            Err(err) => Confinement::None {
                reason: format!("bwrap is installed but cannot run: {err}"),
            },
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Confinement::Bwrap { .. } => "bwrap".to_owned(),
            Confinement::None { .. } => "none".to_owned(),
        }
    }
}

/// Sandboxes on this machine.
pub struct LocalBackend {
    data_dir: PathBuf,
    confinement: Confinement,
}

impl LocalBackend {
    pub fn new(data_dir: &Path, confinement: Confinement) -> LocalBackend {
        LocalBackend {
            data_dir: data_dir.to_owned(),
            confinement,
        }
    }

    pub fn confinement(&self) -> &Confinement {
        &self.confinement
    }
}

/// The directory of a run's sandbox and artifacts.
pub fn run_dir(data_dir: &Path, run_id: &str) -> PathBuf {
    data_dir.join("sandboxes").join(run_id)
}

impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    fn create(&self, run_id: &str) -> Result<Box<dyn Sandbox>> {
        let dir = run_dir(&self.data_dir, run_id);
        let sandbox = LocalSandbox {
            id: run_id.to_owned(),
            workspace: dir.join("workspace"),
            home: dir.join("home"),
            tmp: dir.join("tmp"),
            dir,
            data_dir: self.data_dir.clone(),
            confinement: self.confinement.clone(),
        };
        for path in [&sandbox.workspace, &sandbox.home, &sandbox.tmp] {
            std::fs::create_dir_all(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
        }
        Ok(Box::new(sandbox))
    }

    fn kill(&self, _sandbox_id: &str, process: Option<ProcessHandle>) -> Result<bool> {
        let Some(handle) = process else {
            return Ok(false);
        };
        Ok(kill_group(handle, None))
    }

    fn is_running(&self, _sandbox_id: &str, process: Option<ProcessHandle>) -> bool {
        process.is_some_and(group_alive)
    }
}

struct LocalSandbox {
    id: String,
    dir: PathBuf,
    workspace: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
    data_dir: PathBuf,
    confinement: Confinement,
}

impl LocalSandbox {
    /// The command line that starts `argv` (its program already resolved),
    /// wrapped in bwrap when confined.
    fn command(&self, program: &Path, args: &[String], search_path: &str) -> Command {
        match &self.confinement {
            Confinement::None { .. } => {
                let mut command = Command::new(program);
                command.args(args);
                command
            }
            Confinement::Bwrap { path } => {
                let mut command = Command::new(path);
                command.args(["--die-with-parent", "--unshare-pid"]);
                command.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]);
                // Hide the user's home and every other run and database;
                // give back only this sandbox's directory, writable.
                let mut hidden: Vec<PathBuf> = Vec::new();
                if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
                    if home.is_dir() && home != Path::new("/") {
                        hidden.push(home);
                    }
                }
                if !hidden.iter().any(|h| self.data_dir.starts_with(h)) {
                    hidden.push(self.data_dir.clone());
                }
                for path in &hidden {
                    command.arg("--tmpfs").arg(path);
                }
                // Programs installed in the home (~/.local/bin, nvm, npm's
                // prefix) stay reachable, read-only: the PATH directories
                // and the agent's own installation.
                for path in visible_in_hidden(program, search_path, &hidden) {
                    command.arg("--ro-bind-try").arg(&path).arg(&path);
                }
                command.arg("--bind").arg(&self.dir).arg(&self.dir);
                command.arg("--chdir").arg(&self.workspace);
                command.arg("--").arg(program).args(args);
                command
            }
        }
    }
}

impl Sandbox for LocalSandbox {
    fn info(&self) -> SandboxInfo {
        SandboxInfo {
            backend: "local".to_owned(),
            sandbox_id: self.id.clone(),
            workspace: self.workspace.display().to_string(),
            confinement: self.confinement.describe(),
        }
    }

    fn upload(&self, archive: &mut dyn Read) -> Result<u64> {
        pack::unpack(archive, &self.workspace)
    }

    fn run(
        &self,
        spec: &CommandSpec,
        on_event: &mut dyn FnMut(RunEvent<'_>) -> Flow,
    ) -> Result<Exit> {
        let mut env: Vec<(String, String)> = spec
            .env
            .iter()
            .filter(|(k, _)| k != "HOME" && k != "TMPDIR")
            .cloned()
            .collect();
        env.push(("HOME".to_owned(), self.home.display().to_string()));
        env.push(("TMPDIR".to_owned(), self.tmp.display().to_string()));
        let program = resolve_program(&spec.argv, &env, &self.workspace)?;
        let search_path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut command = self.command(&program, &spec.argv[1..], &search_path);
        command
            .env_clear()
            .envs(env)
            .current_dir(&self.workspace)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        own_process_group(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let pid = i64::from(child.id());
        let handle = ProcessHandle {
            pid,
            start: process::start_time(pid),
        };
        let lines = read_lines(&mut child);
        let mut stopped = on_event(RunEvent::Started(handle)) == Flow::Stop;
        let mut exited = None;
        let mut open_streams = 2;
        let mut drain_deadline: Option<Instant> = None;
        while !stopped {
            match lines.recv_timeout(Duration::from_millis(100)) {
                Ok(Some((stream, line))) => {
                    if on_event(RunEvent::Line(stream, &line)) == Flow::Stop {
                        stopped = true;
                    }
                }
                Ok(None) => open_streams -= 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if on_event(RunEvent::Tick) == Flow::Stop {
                        stopped = true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => open_streams = 0,
            }
            if exited.is_none() {
                exited = child.try_wait().context("cannot wait for the command")?;
                if exited.is_some() {
                    // What the command left running in its group ends with it.
                    signal_group(pid, libc::SIGKILL);
                    drain_deadline = Some(Instant::now() + Duration::from_millis(500));
                }
            }
            if exited.is_some()
                && (open_streams == 0 || drain_deadline.is_some_and(|d| Instant::now() > d))
            {
                break;
            }
        }
        if stopped && exited.is_none() {
            kill_group(handle, Some(&mut child));
        }
        let status = match exited {
            Some(status) => status,
            None => child.wait().context("cannot wait for the command")?,
        };
        signal_group(pid, libc::SIGKILL);
        reap_group(pid);
        use std::os::unix::process::ExitStatusExt;
        Ok(Exit {
            code: status.code(),
            signal: status.signal(),
            stopped,
        })
    }

    fn download(&self, path: &str, dest: &Path) -> Result<()> {
        let source = self.workspace.join(path);
        copy_tree(&source, dest)
    }

    fn local_path(&self, path: &str) -> Option<PathBuf> {
        Some(self.workspace.join(path))
    }

    fn commit_baseline(&self, name: &str, email: &str, message: &str) -> Result<Option<git2::Oid>> {
        // The workspace is ours until the agent starts: build its history
        // here, every object in one pack (no git processes, no file per
        // object).
        let mut init = git2::RepositoryInitOptions::new();
        init.initial_head("main")
            .external_template(false)
            .no_reinit(true);
        let repo = git2::Repository::init_opts(&self.workspace, &init)
            .context("cannot make the workspace a git repository")?;
        let odb = repo.odb()?;
        let mempack = odb.add_new_mempack_backend(1000)?;
        let mut index = repo.index()?;
        index.add_all(["*"], git2::IndexAddOption::FORCE, None)?;
        let tree = repo.find_tree(index.write_tree()?)?;
        let signature = git2::Signature::now(name, email)?;
        let commit = repo.commit(
            None,
            &signature,
            &signature,
            &format!("{message}\n"),
            &tree,
            &[],
        )?;
        let mut pack = git2::Buf::new();
        mempack.dump(&repo, &mut pack)?;
        let mut writer = odb.packwriter()?;
        std::io::Write::write_all(&mut writer, &pack)?;
        writer.commit()?;
        mempack.reset()?;
        repo.reference("refs/heads/main", commit, true, "baseline")?;
        index.write()?;
        Ok(Some(commit))
    }

    fn commit_leftovers(&self, name: &str, email: &str, message: &str) -> Result<bool> {
        // libgit2 runs no hooks, filters or fsmonitor of the agent's
        // configuration: nothing of the workspace executes here.
        let repo = git2::Repository::open_ext(
            &self.workspace,
            git2::RepositoryOpenFlags::NO_SEARCH,
            std::iter::empty::<&std::ffi::OsStr>(),
        )
        .context("the workspace is no longer a git repository")?;
        let head = repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .context("the workspace has no HEAD commit")?;
        let mut index = repo.index()?;
        let sparse = unhide_entries(&mut index, &self.workspace)?;
        // Skipped (a positive answer): a skip-worktree file missing from
        // the working tree, which libgit2 would take for a deletion and git
        // does not; and a repository of its own, which libgit2 cannot add:
        // it becomes a gitlink to its HEAD, as `git add -A` makes it, or,
        // with no commit yet, stays out (git refuses it) and the run
        // reports its work.
        let mut gitlinks = Vec::new();
        let mut skip_or_link = |path: &Path, _: &[u8]| {
            if sparse.contains(path) {
                return 1;
            }
            match nested_head(&self.workspace.join(path)) {
                None => 0,
                Some(head) => {
                    gitlinks.extend(head.map(|oid| (path.to_owned(), oid)));
                    1
                }
            }
        };
        index.add_all(
            ["*"],
            git2::IndexAddOption::DEFAULT,
            Some(&mut skip_or_link),
        )?;
        for (path, oid) in gitlinks {
            index.add(&gitlink_entry(&path, oid))?;
        }
        let mut skip = |path: &Path, _: &[u8]| i32::from(sparse.contains(path));
        index.update_all(["*"], Some(&mut skip))?;
        let tree_id = index.write_tree()?;
        index.write()?;
        if tree_id == head.tree_id() {
            return Ok(true);
        }
        let tree = repo.find_tree(tree_id)?;
        let signature = git2::Signature::now(name, email)?;
        repo.commit(
            Some("HEAD"),
            &signature,
            &signature,
            &format!("{message}\n"),
            &tree,
            &[&head],
        )?;
        Ok(true)
    }

    fn write_private_file(&self, path: &str, bytes: &[u8]) -> Result<String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let target = self.home.join(path);
        if !target.starts_with(&self.home) || path.split('/').any(|p| p == "..") {
            anyhow::bail!("{path} is outside the sandbox's home");
        }
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(&target);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)
            .with_context(|| format!("cannot write {}", target.display()))?;
        file.write_all(bytes)?;
        Ok(target.display().to_string())
    }

    fn remove_file(&self, path: &str) -> Result<()> {
        let target = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            self.home.join(path)
        };
        match std::fs::remove_file(&target) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
            _ => Ok(()),
        }
    }

    fn destroy(&self) -> Result<()> {
        for path in [&self.workspace, &self.home, &self.tmp] {
            make_writable(path);
            match std::fs::remove_dir_all(path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    return Err(anyhow::Error::new(err)
                        .context(format!("cannot remove {}", path.display())))
                }
            }
        }
        Ok(())
    }
}

/// The `assume-unchanged` bit of an index entry's flags, and the
/// `skip-worktree` bit of its extended flags.
const ASSUME_UNCHANGED: u16 = git2::IndexEntryFlag::VALID.bits();
const SKIP_WORKTREE: u16 = git2::IndexEntryExtendedFlag::SKIP_WORKTREE.bits();

/// Clears the bits that hide a file's changes from `git add -A`, so that
/// the leftovers commit keeps what the agent (or a setup command) did to
/// files it marked: edits and deletions of `assume-unchanged` files, edits
/// of `skip-worktree` files. A `skip-worktree` file missing from the
/// working tree keeps its bit: that is what the bit is for (sparse
/// checkouts), not a deletion. Returns those files' paths.
fn unhide_entries(index: &mut git2::Index, workdir: &Path) -> Result<HashSet<PathBuf>> {
    use std::os::unix::ffi::OsStrExt;
    let hidden: Vec<git2::IndexEntry> = index
        .iter()
        .filter(|e| e.flags & ASSUME_UNCHANGED != 0 || e.flags_extended & SKIP_WORKTREE != 0)
        .collect();
    let mut sparse = HashSet::new();
    for mut entry in hidden {
        entry.flags &= !ASSUME_UNCHANGED;
        let rel = Path::new(std::ffi::OsStr::from_bytes(&entry.path));
        if std::fs::symlink_metadata(workdir.join(rel)).is_ok() {
            entry.flags_extended &= !SKIP_WORKTREE;
        } else if entry.flags_extended & SKIP_WORKTREE != 0 {
            sparse.insert(rel.to_owned());
        }
        index.add(&entry)?;
    }
    Ok(sparse)
}

/// When `dir` is a git repository of its own: its HEAD commit, if it has
/// one yet.
fn nested_head(dir: &Path) -> Option<Option<git2::Oid>> {
    std::fs::symlink_metadata(dir.join(".git")).ok()?;
    let repo = git2::Repository::open(dir).ok()?;
    let head = repo.head().and_then(|h| h.peel_to_commit());
    Some(head.ok().map(|commit| commit.id()))
}

/// The index entry of a gitlink (a submodule's commit) at `path`.
fn gitlink_entry(path: &Path, oid: git2::Oid) -> git2::IndexEntry {
    use std::os::unix::ffi::OsStrExt;
    let path = path.as_os_str().as_bytes();
    let zero = git2::IndexTime::new(0, 0);
    git2::IndexEntry {
        ctime: zero,
        mtime: zero,
        dev: 0,
        ino: 0,
        mode: 0o160000,
        uid: 0,
        gid: 0,
        file_size: 0,
        id: oid,
        flags: 0,
        flags_extended: 0,
        path: path.strip_suffix(b"/").unwrap_or(path).to_vec(),
    }
}

/// The directories under the hidden ones that a confined command still
/// needs to see: each PATH directory there (and where it really is), and the
/// directory the program really lives in (its whole package or virtual
/// environment).
fn visible_in_hidden(program: &Path, search_path: &str, hidden: &[PathBuf]) -> Vec<PathBuf> {
    let under_hidden = |path: &Path| hidden.iter().any(|h| path.starts_with(h));
    let mut found: Vec<PathBuf> = Vec::new();
    let mut add = |path: PathBuf| {
        if under_hidden(&path) && path.is_dir() && !found.contains(&path) {
            found.push(path);
        }
    };
    for dir in std::env::split_paths(search_path) {
        if dir.is_absolute() {
            if let Ok(real) = std::fs::canonicalize(&dir) {
                add(real);
            }
            add(dir);
        }
    }
    if let Ok(real) = std::fs::canonicalize(program) {
        if let Some(parent) = real.parent() {
            add(parent.to_owned());
            // A script run by an interpreter lives in a package: keep the
            // package (e.g. npm's node_modules/<name>) whole, or the Python
            // virtual environment it was installed in (pipx's and `uv
            // tool`'s, where Aider's installers put it) with its libraries.
            if let Some(package) = parent
                .ancestors()
                .find(|a| a.join("package.json").is_file() || a.join("pyvenv.cfg").is_file())
            {
                add(package.to_owned());
            }
        }
    }
    found
}

/// Finds the program of a command on the run's PATH (or relative to the
/// workspace), so that a missing agent is a clear error before anything runs.
pub fn resolve_program(
    argv: &[String],
    env: &[(String, String)],
    workspace: &Path,
) -> Result<PathBuf> {
    let name = argv
        .first()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| UserError::new("the agent command is empty"))?;
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    which::which_in(name, Some(path), workspace).map_err(|_| {
        if name.contains(char::is_whitespace) && argv.len() == 1 {
            // Stored by an older version as one word.
            return UserError::with_hint(
                format!("the agent command is one program named '{name}', spaces and all"),
                format!(
                    "set it again as words: git pcc config set sandbox.agentCommand {}",
                    crate::install::shell_word(name)
                ),
            )
            .into();
        }
        UserError::with_hint(
            format!("cannot find the agent command '{name}' on PATH"),
            "install it, or name it with git pcc config set sandbox.agentCommand '/path/to/agent -p {prompt}'",
        )
        .into()
    })
}

/// Starts the command in a process group of its own, which dies with the
/// thread that started it.
fn own_process_group(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            Ok(())
        });
    }
}

/// Forwards the child's output, line by line, from two reader threads.
/// `None` marks the end of one stream.
fn read_lines(child: &mut Child) -> mpsc::Receiver<Option<(OutputStream, String)>> {
    let (sender, receiver) = mpsc::channel();
    fn forward(
        stream: OutputStream,
        source: impl Read + Send + 'static,
        sender: mpsc::Sender<Option<(OutputStream, String)>>,
    ) {
        std::thread::spawn(move || {
            let mut reader = BufReader::with_capacity(64 * 1024, source);
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                match reader.read_until(b'\n', &mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&buffer);
                        let line = text.trim_end_matches(['\n', '\r']).to_owned();
                        if sender.send(Some((stream, line))).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = sender.send(None);
        });
    }
    if let Some(stdout) = child.stdout.take() {
        forward(OutputStream::Stdout, stdout, sender.clone());
    }
    if let Some(stderr) = child.stderr.take() {
        forward(OutputStream::Stderr, stderr, sender);
    }
    receiver
}

/// Sends a signal to a whole process group.
fn signal_group(pgid: i64, signal: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: kill has no memory effects; a negative id names the group.
    unsafe { libc::kill(-(pgid as libc::pid_t), signal) == 0 }
}

/// Whether any process of a group is left (zombies included until reaped).
fn group_exists(pgid: i64) -> bool {
    signal_group(pgid, 0)
}

/// Whether a recorded command still runs: its leader is the same process,
/// or members of its group are left.
fn group_alive(handle: ProcessHandle) -> bool {
    process::is_same_process_alive(handle.pid, handle.start) || group_has_live_members(handle.pid)
}

/// Whether a group has members that are not zombies.
fn group_has_live_members(pgid: i64) -> bool {
    if !group_exists(pgid) {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return true;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i64>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            let fields: Vec<&str> = after.split_whitespace().collect();
            // After the name: state, ppid, pgrp.
            if fields.get(2).and_then(|g| g.parse::<i64>().ok()) == Some(pgid)
                && fields.first() != Some(&"Z")
            {
                return true;
            }
        }
        false
    }
    #[cfg(not(target_os = "linux"))]
    true
}

/// Ends a process group: SIGTERM, a grace period, then SIGKILL. With the
/// child at hand (same process), it is also waited for. Returns whether
/// anything was running.
pub fn kill_group(handle: ProcessHandle, mut child: Option<&mut Child>) -> bool {
    let pgid = handle.pid;
    let leader_is_ours = process::is_same_process_alive(pgid, handle.start);
    if !leader_is_ours && !group_has_live_members(pgid) {
        return false;
    }
    signal_group(pgid, libc::SIGTERM);
    let deadline = Instant::now() + KILL_GRACE;
    while Instant::now() < deadline {
        if let Some(child) = child.as_deref_mut() {
            let _ = child.try_wait();
        }
        if !group_has_live_members(pgid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_group(pgid, libc::SIGKILL);
    if let Some(child) = child {
        let _ = child.wait();
    }
    true
}

/// Reaps members of a group that were handed to this process (it is their
/// subreaper) after their parent ended.
fn reap_group(pgid: i64) {
    loop {
        let mut status = 0;
        // SAFETY: waitpid on a group we own; WNOHANG never blocks.
        let reaped = unsafe { libc::waitpid(-(pgid as libc::pid_t), &mut status, libc::WNOHANG) };
        if reaped <= 0 {
            break;
        }
    }
}

/// Makes this process the reaper of orphans among its descendants, so an
/// agent's leftover processes cannot escape to init unseen.
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: a process attribute; no memory is touched.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Copies a directory tree (files, symlinks, modes).
fn copy_tree(source: &Path, dest: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(source)
        .with_context(|| format!("cannot read {}", source.display()))?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(source)?;
        std::os::unix::fs::symlink(target, dest)
            .with_context(|| format!("cannot write {}", dest.display()))?;
    } else if meta.is_dir() {
        std::fs::create_dir_all(dest)
            .with_context(|| format!("cannot create {}", dest.display()))?;
        for entry in std::fs::read_dir(source)? {
            let entry = entry?;
            copy_tree(&entry.path(), &dest.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(source, dest).with_context(|| format!("cannot write {}", dest.display()))?;
    }
    Ok(())
}

/// Agents (and package managers) leave read-only directories behind; give
/// the owner write access back so the tree can be removed.
fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        let mode = meta.permissions().mode();
        if mode & 0o700 != 0o700 {
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o700));
        }
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                make_writable(&entry.path());
            }
        }
    }
}
