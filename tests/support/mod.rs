//! Shared test fixtures: a `TestEnv` that owns a temporary HOME and data
//! directory and runs the freshly built binaries inside it, a repository
//! builder with fixed commit dates, and a guard that keeps a live PID for a
//! session and kills it when dropped.

#![allow(dead_code)]

pub mod agents;
pub mod claude;
pub mod stand_in;
pub mod terminal;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// The directory holding the built executables.
pub fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_git-pcc"))
        .parent()
        .expect("binary has a directory")
        .to_path_buf()
}

/// The path of one built executable.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// The wrapper script, as the checkout has it.
pub fn wrapper() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/claude-parallel")
}

/// `git pcc install --hooks --global` in `env`'s HOME, which must succeed.
pub fn install_hooks(env: &TestEnv) {
    let output = env
        .pcc("git-pcc")
        .args(["install", "--hooks", "--global"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The Python with the MCP SDK: `$PCC_PYTHON` (scripts/test.sh sets it),
/// else the virtual environment scripts/test.sh makes in `target/python`,
/// else `python3` from PATH.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("PCC_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(python);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/python/bin/python3");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// A temporary world: HOME, a data directory, a place for repositories.
pub struct TestEnv {
    pub root: tempfile::TempDir,
    pub home: PathBuf,
    pub data_dir: PathBuf,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let root = tempfile::Builder::new()
            .prefix("pcc-test-")
            .tempdir()
            .expect("temp dir");
        let home = root.path().join("home");
        let data_dir = home.join(".parallel-cc");
        std::fs::create_dir_all(&home).unwrap();
        TestEnv {
            root,
            home,
            data_dir,
        }
    }

    /// The canonical path of the temporary root (no symlinks).
    pub fn path(&self) -> PathBuf {
        std::fs::canonicalize(self.root.path()).unwrap()
    }

    /// The PATH our processes get: the built binaries first.
    pub fn path_var(&self) -> String {
        format!(
            "{}:{}",
            bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// A command for a built executable (or any program) inside this world.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        self.apply_env(&mut command);
        command
    }

    /// A command for one of our binaries by name (`git-pcc`, ...).
    pub fn pcc(&self, name: &str) -> Command {
        self.command(bin(name))
    }

    pub fn apply_env(&self, command: &mut Command) {
        command
            // Outside any repository unless a test says where: commands
            // that act on "the repository around the working directory"
            // must not find the project's own checkout.
            .current_dir(self.root.path())
            .env("HOME", &self.home)
            .env("PARALLEL_CC_DATA_DIR", &self.data_dir)
            .env("PATH", self.path_var())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test Author")
            .env("GIT_AUTHOR_EMAIL", "author@example.com")
            .env("GIT_COMMITTER_NAME", "Test Author")
            .env("GIT_COMMITTER_EMAIL", "author@example.com")
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .env_remove("PARALLEL_CC_SESSION_ID")
            .stdin(Stdio::null());
    }

    /// Runs `git` with `args` in `dir`, panicking on failure; returns stdout.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let output = self
            .command("git")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?} failed in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Creates a repository `name` under the root with `files` (path,
    /// content) committed on `main`.
    pub fn repo_with(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        self.git(&dir, &["init", "-q", "-b", "main"]);
        for (path, content) in files {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, content).unwrap();
        }
        self.git(&dir, &["add", "-A"]);
        self.git(&dir, &["commit", "-q", "-m", "initial"]);
        dir
    }

    /// A repository with one committed README.
    pub fn repo(&self, name: &str) -> PathBuf {
        self.repo_with(name, &[("README.md", "hello\n")])
    }

    /// Runs a command and parses its stdout as JSON.
    pub fn json(&self, command: &mut Command) -> (Output, Value) {
        let output = command.output().expect("run command");
        let value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        (output, value)
    }

    /// Registers `pid` in `repo` and returns the JSON, asserting success.
    pub fn register(&self, repo: &Path, pid: u32) -> Value {
        let (output, value) = self.json(
            self.pcc("git-pcc-register")
                .args(["--repo"])
                .arg(repo)
                .args(["--pid", &pid.to_string(), "--json"]),
        );
        assert!(
            output.status.success(),
            "register failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        value
    }

    /// `git pcc status --json`.
    pub fn status(&self) -> Value {
        let (output, value) = self.json(self.pcc("git-pcc").args(["status", "--json"]));
        assert!(
            output.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        value
    }

    /// Opens the database with SQLite directly.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir.join("coordinator.db")).expect("open database")
    }

    /// Number of rows in `sessions`.
    pub fn session_rows(&self) -> i64 {
        if !self.data_dir.join("coordinator.db").exists() {
            return 0;
        }
        self.db()
            .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
            .unwrap_or(0)
    }
}

/// A process that stays alive until dropped; its PID stands for an agent.
pub struct LiveProcess {
    pub child: Child,
}

impl LiveProcess {
    pub fn spawn() -> LiveProcess {
        let child = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        LiveProcess { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL and reaps it, so its PID is dead.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LiveProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Lists a directory's entry names, sorted (empty when it does not exist).
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A snapshot of every file under `dir` (path and bytes), skipping `.git`.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    fn walk(base: &Path, dir: &Path, files: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            if path.is_dir() {
                walk(base, &path, files);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.push((rel, std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    walk(dir, dir, &mut files);
    files.sort();
    files
}

/// The first element of the JSON array `list` whose `field` equals `value`
/// (a doctor check by name, a setting by key, ...).
pub fn find_by<'a>(list: &'a Value, field: &str, value: impl Into<Value>) -> &'a Value {
    let value = value.into();
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .find(|item| item[field] == value)
        .unwrap_or_else(|| panic!("no element with {field} = {value} in {list}"))
}

/// The tools `pcc-mcp` lists, in its order: the seed's names and ours.
pub const MCP_TOOLS: &[&str] = &[
    "get_parallel_status",
    "get_my_session",
    "claim_file",
    "release_file",
    "list_file_claims",
    "notify_when_merged",
    "check_merge_status",
    "get_merge_events",
    "check_conflicts",
    "predict_conflicts",
    "rebase_assist",
    "detect_advanced_conflicts",
    "get_auto_fix_suggestions",
    "apply_auto_fix",
    "conflict_history",
    "get_sandbox_status",
    "request_land",
    "land_status",
];

/// Starts `pcc-mcp` as the agent of `session_id` and sends, after the
/// handshake, one `tools/call` per `(tool, arguments)`; finish it with
/// [`finish_mcp_calls`]. Several may run at once.
pub fn start_mcp_calls(env: &TestEnv, session_id: Option<&str>, calls: &[(&str, Value)]) -> Child {
    use std::io::Write;
    let mut command = env.pcc("pcc-mcp");
    command
        .current_dir(env.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(id) = session_id {
        command.env("PARALLEL_CC_SESSION_ID", id);
    }
    let mut child = command.spawn().expect("start pcc-mcp");
    let mut stdin = child.stdin.take().unwrap();
    let mut messages = vec![
        serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}),
    ];
    for (index, (tool, arguments)) in calls.iter().enumerate() {
        messages.push(
            serde_json::json!({"jsonrpc": "2.0", "id": index + 1, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}}),
        );
    }
    for message in messages {
        writeln!(stdin, "{message}").unwrap();
    }
    child
}

/// The `result` of each call sent by [`start_mcp_calls`] (null where the
/// server answered with a JSON-RPC error).
pub fn finish_mcp_calls(child: Child) -> Vec<Value> {
    let output = child
        .wait_with_output()
        .expect("pcc-mcp ends when its input does");
    let responses: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    responses
        .into_iter()
        .skip(1)
        .map(|r| r["result"].clone())
        .collect()
}

/// One tool call as the agent of `session_id`: its `result`.
pub fn mcp_call(env: &TestEnv, session_id: &str, tool: &str, arguments: Value) -> Value {
    finish_mcp_calls(start_mcp_calls(env, Some(session_id), &[(tool, arguments)])).remove(0)
}

/// A repository with a main-checkout session and one worktree session.
pub struct Sessions {
    pub env: TestEnv,
    pub repo: PathBuf,
    pub main: LiveProcess,
    pub main_id: String,
    pub agent: LiveProcess,
    pub agent_id: String,
    pub worktree: PathBuf,
    pub name: String,
    pub branch: String,
}

/// Builds repository `repo_name` with `files` and registers two live
/// processes: the first in the main checkout, the second in a worktree.
pub fn main_and_worktree(repo_name: &str, files: &[(&str, &str)]) -> Sessions {
    let env = TestEnv::new();
    let repo = env.repo_with(repo_name, files);
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    let first = env.register(&repo, main.pid());
    assert_eq!(first["isMainRepo"], true);
    let second = env.register(&repo, agent.pid());
    assert_eq!(second["isMainRepo"], false);
    let worktree = PathBuf::from(second["worktreePath"].as_str().unwrap());
    let name = second["worktreeName"].as_str().unwrap().to_owned();
    assert_eq!(
        worktree,
        env.path()
            .join(format!("{repo_name}-worktrees"))
            .join(&name)
    );
    Sessions {
        main_id: first["sessionId"].as_str().unwrap().to_owned(),
        agent_id: second["sessionId"].as_str().unwrap().to_owned(),
        branch: second["branch"].as_str().unwrap().to_owned(),
        env,
        repo,
        main,
        agent,
        worktree,
        name,
    }
}

/// Runs `command` with `input` on its stdin, capturing stdout and stderr.
pub fn with_stdin(mut command: Command, input: &[u8]) -> Output {
    use std::io::Write;
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Makes a directory immutable (`chattr +i`: not even root may create,
/// rename or remove what is in it) until dropped.
pub struct Immutable(PathBuf);

impl Immutable {
    pub fn new(dir: &Path) -> Immutable {
        let status = Command::new("chattr").arg("+i").arg(dir).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "chattr +i {} failed: this test needs a filesystem with immutable attributes (ext4)",
            dir.display()
        );
        Immutable(dir.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}
