//! `git pcc sandbox` end to end, with a stand-in agent.
//!
//! The agent is a small Python script named `claude`, written by each test
//! into `<root>/bin` and put first on PATH. It lives outside HOME because
//! the confinement (bwrap, when it works here) hides HOME from the agent.
//! What it does is chosen by words of its prompt (see [`STAND_IN`]).
//!
//! Times: the stand-in prints `STANDIN start|end|fail <task> <epoch ns>` on
//! its standard output, and the tests read these lines back from each
//! run's `output.log` (the log keeps every line of the agent). A shared
//! file outside the sandbox would not do: under bwrap the agent can write
//! only inside its own run directory, and these tests run with the
//! default confinement so that they check what users get. Only the kill
//! and fail-fast tests also run once with `sandbox.confinement off`, where
//! the run's process group alone must end the agent's processes.
//!
//! Processes: every process the stand-in starts carries the path of the
//! test's `bin` directory on its command line (the script's own path, or
//! an argument naming it), so scanning `/proc` for that path finds every
//! stand-in process of one test and none of another test's.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::{snapshot, TestEnv};

/// The stand-in agent. Words of its prompt (the argument after `-p`):
///
/// - `task=N`: the number it reports its times under (default 0)
/// - `write-prompt`: writes the prompt's bytes to `prompt.bin`
/// - `edit-all`: commits a change to `src/lib.txt`, then leaves
///   uncommitted a change to `README.md`, the deletion of `old.txt` and a
///   new `new/file.txt`
/// - `touch=NAME`: writes `task N` to the file NAME
/// - `leave-odd`: leaves uncommitted, at once (within the second the
///   workspace was made): a same-size rewrite of `same.txt`, a new
///   dotfile `.config/tool.json`, the executable bit on `run.sh`, a
///   symlink `latest` to `run.sh`, and the ignored `debug.log` and
///   `build/out.bin`
/// - `check-setup`: writes to `seen-setup.txt` whether `setup.txt` exists
///   and the value of `TPL_VAR`
/// - `list-files`: writes the workspace's files (without `.git`) to
///   `files.txt`
/// - `secrets`: writes SHA-256 hashes of ANTHROPIC_API_KEY and GITHUB_TOKEN
///   to `proof.txt` and commits it, and shows the raw values on stdout, on
///   stderr, in that commit's message, in an assistant message, in a tool
///   call and in its final result
/// - `hash-env=NAME`: writes the SHA-256 hash of `$NAME` (or `missing`) to
///   `env-NAME.txt`
/// - `secret-names`: leaves uncommitted `dir-$GITHUB_TOKEN/file.txt` and a
///   file named `$ANTHROPIC_API_KEY`
/// - `hide-edits`: marks `au-edit.txt` and `au-gone.txt` assume-unchanged,
///   `sw-edit.txt` and `sw-gone.txt` skip-worktree, `both.txt` both; then
///   appends `agent` to the `-edit` files, `both.txt` and `plain.txt`, and
///   deletes the `-gone` files
/// - `split-index`: turns on git's split index, which libgit2 cannot read
/// - `nested`: leaves repositories of their own in the workspace: `sub`
///   (made with `git init`: one commit, then one file changed), `lib`
///   (cloned from the path `origin=PATH`, one commit on top),
///   `vendor/clean` (cloned, untouched), `scratch/tool` (ignored by the
///   workspace, one file changed)
/// - `child`: starts a child that ignores SIGTERM and sleeps
/// - `follow`: prints `FOLLOW-LINE-ONE`, waits for `$TMPDIR/go`, prints
///   `FOLLOW-LINE-TWO`
/// - `cost=USD`: reports that cost in a `result` event, then goes on
/// - `nap=SECONDS`: sleeps
/// - `exit=CODE`: exits with that code (after printing `STANDIN fail`)
/// - `report-error`: its final `result` event says it failed
///
/// Unless it exits non-zero it ends with a `result` event of $0.01.
const STAND_IN: &str = r#"
import hashlib, json, os, subprocess, sys, time

argv = sys.argv[1:]
prompt = argv[argv.index("-p") + 1] if "-p" in argv else ""
words = prompt.split()
flags = {w for w in words if "=" not in w}
opts = dict(w.split("=", 1) for w in words if "=" in w)
task = opts.get("task", "0")


def say(text, stream=sys.stdout):
    print(text, file=stream, flush=True)


def event(**fields):
    say(json.dumps(fields))


def git(*args):
    subprocess.run(["git", *args], check=True, stdout=subprocess.DEVNULL)


def write(path, text):
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


say(f"STANDIN start {task} {time.time_ns()}")
event(type="system", subtype="init", session_id="stand-in", model="stand-in")

if "write-prompt" in flags:
    with open("prompt.bin", "wb") as f:
        f.write(os.fsencode(prompt))

if "edit-all" in flags:
    with open("src/lib.txt", "a") as f:
        f.write("three\n")
    git("commit", "-q", "-am", "agent: extend lib")
    with open("README.md", "a") as f:
        f.write("from agent\n")
    os.remove("old.txt")
    write("new/file.txt", "brand new\n")

if "leave-odd" in flags:
    write("same.txt", "after\n")
    write(".config/tool.json", "{}\n")
    os.chmod("run.sh", 0o755)
    os.symlink("run.sh", "latest")
    write("debug.log", "noise\n")
    write("build/out.bin", "binary\n")

if "touch" in opts:
    write(opts["touch"], f"task {task}\n")

if "check-setup" in flags:
    seen = "yes" if os.path.exists("setup.txt") else "no"
    write("seen-setup.txt", f"setup.txt={seen} TPL_VAR={os.environ.get('TPL_VAR', '')}\n")

if "list-files" in flags:
    found = []
    for top, dirs, files in os.walk("."):
        dirs[:] = [d for d in dirs if d != ".git"]
        found += [os.path.relpath(os.path.join(top, name)) for name in files]
    write("files.txt", "".join(f"{name}\n" for name in sorted(found)))

if "secret-names" in flags:
    write(f"dir-{os.environ['GITHUB_TOKEN']}/file.txt", "in a directory named after a token\n")
    write(os.environ["ANTHROPIC_API_KEY"], "in a file named after a key\n")

if "hide-edits" in flags:
    git("update-index", "--assume-unchanged", "au-edit.txt", "au-gone.txt", "both.txt")
    git("update-index", "--skip-worktree", "sw-edit.txt", "sw-gone.txt", "both.txt")
    for name in ["au-edit.txt", "sw-edit.txt", "both.txt", "plain.txt"]:
        with open(name, "a") as f:
            f.write("agent\n")
    os.remove("au-gone.txt")
    os.remove("sw-gone.txt")

if "split-index" in flags:
    git("update-index", "--split-index")

if "nested" in flags:
    def commit_all(repo, message):
        git("-C", repo, "add", "-A")
        git("-C", repo, "commit", "-q", "-m", message)
    git("init", "-q", "sub")
    write("sub/a.txt", "one\n")
    commit_all("sub", "sub: first")
    write("sub/a.txt", "one\ntwo\n")
    git("clone", "-q", opts["origin"], "lib")
    write("lib/agent.txt", "agent\n")
    commit_all("lib", "lib: agent's change")
    git("clone", "-q", opts["origin"], "vendor/clean")
    git("init", "-q", "scratch/tool")
    write("scratch/tool/notes.txt", "ignored work\n")
    git("init", "-q", "fresh")
    write("fresh/draft.txt", "draft\n")

result = "done"
if "hash-env" in opts:
    value = os.environ.get(opts["hash-env"])
    digest = hashlib.sha256(value.encode()).hexdigest() if value else "missing"
    write(f"env-{opts['hash-env']}.txt", digest + "\n")

if "secrets" in flags:
    proof = ""
    for name in ["ANTHROPIC_API_KEY", "GITHUB_TOKEN"]:
        value = os.environ.get(name)
        digest = hashlib.sha256(value.encode()).hexdigest() if value else "missing"
        proof += f"{name}={digest}\n"
        say(f"raw {name} {value}")
        say(f"raw {name} on stderr {value}", sys.stderr)
    write("proof.txt", proof)
    key = os.environ.get("ANTHROPIC_API_KEY", "")
    token = os.environ.get("GITHUB_TOKEN", "")
    git("add", "proof.txt")
    git("commit", "-q", "-m", f"proof for {key}")
    event(type="assistant", message={"content": [{"type": "text", "text": f"I was given {key} and {token}"}]})
    event(type="assistant", message={"content": [{"type": "tool_use", "name": "Bash",
          "input": {"command": f"curl -H 'x-api-key: {key}' -H 'token: {token}'"}}]})
    result = f"finished with {key} and {token}"

if "child" in flags:
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(600)",
        sys.argv[0] + "-child"])
    say(f"STANDIN child {child.pid}")

if "follow" in flags:
    say("FOLLOW-LINE-ONE")
    flag = os.path.join(os.environ["TMPDIR"], "go")
    deadline = time.time() + 120
    while not os.path.exists(flag) and time.time() < deadline:
        time.sleep(0.05)
    say("FOLLOW-LINE-TWO")

if "cost" in opts:
    event(type="result", subtype="success", is_error=False, result="so far",
          total_cost_usd=float(opts["cost"]))

if "nap" in opts:
    time.sleep(float(opts["nap"]))

code = int(opts.get("exit", "0"))
if code != 0:
    say(f"STANDIN fail {task} {time.time_ns()}")
    sys.exit(code)
say(f"STANDIN end {task} {time.time_ns()}")
failed = "report-error" in flags
event(type="result", subtype="error_during_execution" if failed else "success", is_error=failed,
      num_turns=1, result=result, total_cost_usd=0.01)
"#;

/// The Python interpreter itself (not a shim that needs HOME).
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let output = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 runs the stand-in agent");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    })
}

/// A number no other test of this run has.
fn unique() -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{}{nanos}{n}", std::process::id())
}

/// A test world: the environment, the stand-in and a repository.
struct Bench {
    env: TestEnv,
    bin: PathBuf,
    repo: PathBuf,
    /// The API key the runs get (shaped like a real one).
    key: String,
}

impl Bench {
    fn new(files: &[(&str, &str)]) -> Bench {
        let env = TestEnv::new();
        let bin = env.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = bin.join("claude");
        std::fs::write(&script, format!("#!{}\n{STAND_IN}", python())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let repo = env.repo_with("repo", files);
        Bench {
            key: format!("sk-ant-api03-test{}", unique()),
            env,
            bin,
            repo,
        }
    }

    /// `git-pcc-sandbox` in the repository, with the stand-in first on PATH.
    fn sandbox(&self) -> Command {
        let mut command = self.env.pcc("git-pcc-sandbox");
        command
            .current_dir(&self.repo)
            .env(
                "PATH",
                format!("{}:{}", self.bin.display(), self.env.path_var()),
            )
            .env("ANTHROPIC_API_KEY", &self.key)
            .env_remove("ANTHROPIC_AUTH_TOKEN")
            .env_remove("CLAUDE_CODE_OAUTH_TOKEN")
            .env_remove("GITHUB_TOKEN")
            .env_remove("GH_TOKEN");
        command
    }

    /// Sets config `sandbox.confinement` to `off`: the agent runs without
    /// bwrap, in its process group only.
    fn unconfine(&self) {
        let output = self
            .env
            .pcc("git-pcc")
            .args(["config", "set", "sandbox.confinement", "off"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    /// Runs `git-pcc-sandbox <args>`.
    fn run(&self, args: &[&str]) -> Output {
        self.sandbox()
            .args(args)
            .output()
            .expect("run git-pcc-sandbox")
    }

    /// Runs `git-pcc-sandbox <args>` and parses its stdout as one JSON value.
    fn json(&self, args: &[&str]) -> (Output, Value) {
        let output = self.run(args);
        let value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
            panic!(
                "{args:?}: stdout is not JSON ({err}): {}\nstderr: {}",
                text(&output.stdout),
                text(&output.stderr)
            )
        });
        (output, value)
    }

    /// Like [`Bench::json`], asserting success.
    fn ok_json(&self, args: &[&str]) -> Value {
        let (output, value) = self.json(args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}\n{value:#}",
            text(&output.stderr)
        );
        value
    }

    /// Starts `git-pcc-sandbox <args>` in the background.
    fn spawn(&self, args: &[&str]) -> Background {
        let mut command = self.sandbox();
        command.args(args);
        Background::spawn(command)
    }

    fn git(&self, args: &[&str]) -> String {
        self.env.git(&self.repo, args)
    }

    /// A file of a branch, as bytes.
    fn show(&self, branch: &str, path: &str) -> Vec<u8> {
        let output = self
            .env
            .command("git")
            .current_dir(&self.repo)
            .args(["show", &format!("{branch}:{path}")])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git show {branch}:{path}: {}",
            text(&output.stderr)
        );
        output.stdout
    }

    fn show_text(&self, branch: &str, path: &str) -> String {
        String::from_utf8(self.show(branch, path)).unwrap()
    }

    fn branches(&self) -> Vec<String> {
        self.git(&["branch", "--list", "--format=%(refname:short)"])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn sandboxes_dir(&self) -> PathBuf {
        self.env.data_dir.join("sandboxes")
    }

    /// The directories of runs (not batch archives).
    fn run_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.sandboxes_dir())
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        dirs
    }

    /// Waits for the one run of a background command to appear; its id.
    fn wait_for_run(&self) -> String {
        wait_for("the run's directory", Duration::from_secs(60), || {
            self.run_dirs().len() == 1
        });
        let dir = self.run_dirs().remove(0);
        dir.file_name().unwrap().to_string_lossy().into_owned()
    }

    fn log_of(&self, id: &str) -> String {
        std::fs::read_to_string(self.sandboxes_dir().join(id).join("output.log"))
            .unwrap_or_default()
    }

    /// Number of rows in `sandbox_runs` (0 when there is no database).
    fn run_rows(&self) -> i64 {
        if !self.env.data_dir.join("coordinator.db").exists() {
            return 0;
        }
        self.env
            .db()
            .query_row("SELECT COUNT(*) FROM sandbox_runs", [], |r| r.get(0))
            .unwrap_or(0)
    }

    /// Live processes started by this test's stand-ins.
    fn stand_in_processes(&self) -> Vec<String> {
        processes_mentioning(&self.bin.display().to_string())
    }

    /// Asserts that no stand-in process of this test is alive (a moment is
    /// given for processes that are being reaped).
    fn assert_no_stand_in_left(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = self.stand_in_processes();
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!("stand-in processes left alive: {left:#?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Bench {
    /// A failed test may leave stand-ins behind: end them, by pid.
    fn drop(&mut self) {
        for process in self.stand_in_processes() {
            if let Some(pid) = process
                .split(' ')
                .next()
                .and_then(|p| p.parse::<i32>().ok())
            {
                // SAFETY: kill has no memory effects.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Polls `ready` until it holds; panics after `timeout`.
fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Live (not zombie) processes whose command line contains `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .unwrap_or("");
        if state == "Z" || state == "X" {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let line = text(&cmdline).replace('\0', " ");
        if line.contains(needle) {
            found.push(format!("{pid} [{state}] {line}"));
        }
    }
    found
}

/// A command running in the background, its stdout read line by line.
struct Background {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Background {
    fn spawn(mut command: Command) -> Background {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start command");
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = Some(std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            bytes
        }));
        Background {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Reads stdout until a line containing `needle`; panics after `timeout`.
    fn wait_for_line(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} within {timeout:?}; saw: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Waits for the command to end by itself: its status, every stdout
    /// line and its stderr.
    fn finish(mut self, timeout: Duration) -> (ExitStatus, Vec<String>, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the command did not end within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(line);
        }
        let stderr = self
            .stderr
            .take()
            .map(|h| text(&h.join().unwrap()))
            .unwrap_or_default();
        (status, std::mem::take(&mut self.seen), stderr)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `STANDIN <kind> <task> <ns>` lines of a log.
fn stand_in_events(log: &str) -> Vec<(String, usize, u128)> {
    log.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "STANDIN" {
                return None;
            }
            let kind = words.next()?.to_owned();
            let task = words.next()?.parse().ok()?;
            let ns = words.next()?.parse().ok()?;
            Some((kind, task, ns))
        })
        .collect()
}

/// The most stand-ins alive at once, from their start and end times.
fn most_at_once(events: &[(String, usize, u128)]) -> usize {
    let mut points: Vec<(u128, i32)> = events
        .iter()
        .filter_map(|(kind, _, ns)| match kind.as_str() {
            "start" => Some((*ns, 1)),
            "end" | "fail" => Some((*ns, -1)),
            _ => None,
        })
        .collect();
    // At the same instant an end comes before a start.
    points.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in points {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

fn lines_of(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn index_bytes(repo: &Path) -> Vec<u8> {
    std::fs::read(repo.join(".git").join("index")).unwrap()
}

/// What the user sees of their checkout, read without git touching the
/// index: its bytes and every file.
fn checkout_state(repo: &Path) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    (index_bytes(repo), snapshot(repo))
}

/// What git says about the checkout: status, staged diff, HEAD and its ref.
fn git_state(bench: &Bench) -> Vec<String> {
    vec![
        bench.git(&["status", "--porcelain", "--untracked-files=all"]),
        bench.git(&["diff", "--cached"]),
        bench.git(&["diff"]),
        bench.git(&["rev-parse", "HEAD"]),
        bench.git(&["symbolic-ref", "HEAD"]),
        bench.git(&["rev-parse", "main"]),
    ]
}

const EDIT_FILES: &[(&str, &str)] = &[
    ("README.md", "hello\n"),
    ("src/lib.txt", "one\ntwo\n"),
    ("old.txt", "old\n"),
    ("keep.txt", "keep\n"),
];

#[test]
fn a_run_brings_back_exactly_the_agents_changes_on_the_named_branch() {
    let bench = Bench::new(EDIT_FILES);
    let repo = &bench.repo;
    // The user's own uncommitted work: an unstaged edit, a staged new file
    // and an untracked file.
    std::fs::write(repo.join("keep.txt"), "keep\nuser edit\n").unwrap();
    std::fs::write(repo.join("notes.txt"), "staged\n").unwrap();
    bench.git(&["add", "notes.txt"]);
    std::fs::write(repo.join("scratch.txt"), "untracked\n").unwrap();
    let git_before = git_state(&bench);
    let branches_before = bench.branches();
    let checkout_before = checkout_state(repo);

    let result = bench.ok_json(&[
        "run",
        "--prompt",
        "edit-all",
        "--branch",
        "feature-x",
        "--git-user",
        "Sandbox Bot",
        "--git-email",
        "bot@example.com",
        "--json",
    ]);

    // The user's checkout, index and HEAD are as they were.
    assert!(
        checkout_state(repo) == checkout_before,
        "the checkout or its index changed"
    );
    assert_eq!(git_state(&bench), git_before);
    let mut expected_branches = branches_before.clone();
    expected_branches.push("feature-x".to_owned());
    expected_branches.sort();
    let mut branches = bench.branches();
    branches.sort();
    assert_eq!(branches, expected_branches);

    assert_eq!(result["status"], "COMPLETED", "{result:#}");
    assert_eq!(result["branch"], "feature-x");
    assert_eq!(result["worktree"], Value::Null);
    let tip = bench.git(&["rev-parse", "feature-x"]);
    assert_eq!(result["commit"], tip.trim());
    // The agent's changes, and nothing else, are reported.
    assert_eq!(
        result["filesChanged"],
        json!(["README.md", "new/file.txt", "old.txt", "src/lib.txt"])
    );
    assert_eq!(
        result["commits"],
        json!(["agent: extend lib", "Uncommitted changes left by the agent"])
    );
    // The branch's first commit holds the user's three uncommitted files,
    // and the result says so.
    assert_eq!(result["startedFromUncommitted"], 3, "{result:#}");

    // On the branch: first what the user had uncommitted (the workspace
    // the agent got), then the agent's commit, then what it left.
    let log = bench.git(&[
        "log",
        "--reverse",
        "--format=%s|%an <%ae>",
        "main..feature-x",
    ]);
    let log: Vec<&str> = log.lines().collect();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(
        log[0].starts_with("Uncommitted changes sandbox run"),
        "{log:?}"
    );
    assert_eq!(log[1], "agent: extend lib|Sandbox Bot <bot@example.com>");
    assert!(
        log[2].starts_with("Uncommitted changes left by the agent|"),
        "{log:?}"
    );
    assert_eq!(
        bench.git(&["diff", "--name-status", "main", "feature-x~2"]),
        "M\tkeep.txt\nA\tnotes.txt\nA\tscratch.txt\n"
    );
    assert_eq!(
        bench.git(&["diff", "--name-status", "feature-x~2", "feature-x"]),
        "M\tREADME.md\nA\tnew/file.txt\nD\told.txt\nM\tsrc/lib.txt\n"
    );
    let stat = bench.git(&["diff", "--stat", "main", "feature-x"]);
    assert!(
        stat.trim_end()
            .ends_with("7 files changed, 6 insertions(+), 1 deletion(-)"),
        "{stat}"
    );
    assert_eq!(
        bench.show_text("feature-x", "README.md"),
        "hello\nfrom agent\n"
    );
    assert_eq!(
        bench.show_text("feature-x", "src/lib.txt"),
        "one\ntwo\nthree\n"
    );
    assert_eq!(bench.show_text("feature-x", "new/file.txt"), "brand new\n");
    assert_eq!(
        bench.show_text("feature-x", "keep.txt"),
        "keep\nuser edit\n"
    );
    assert_eq!(bench.show_text("feature-x", "notes.txt"), "staged\n");
    let files = bench.git(&["ls-tree", "-r", "--name-only", "feature-x"]);
    assert_eq!(
        lines_of(&files),
        [
            "README.md",
            "keep.txt",
            "new/file.txt",
            "notes.txt",
            "scratch.txt",
            "src/lib.txt"
        ]
    );

    // The patch holds the agent's change.
    let patch = std::fs::read_to_string(result["patch"].as_str().unwrap()).unwrap();
    for needle in ["+from agent", "+three", "+brand new", "-old"] {
        assert!(patch.contains(needle), "{needle} missing from {patch}");
    }
    // The sandbox's workspace is gone; its log, result and patch stay.
    let id = result["sessionId"].as_str().unwrap();
    let dir = bench.sandboxes_dir().join(id);
    assert_eq!(
        support::list_dir(&dir),
        ["changes.patch", "output.log", "result.json"]
    );

    // The summary a person reads says where the branch's extra commit
    // comes from.
    let output = bench.run(&["run", "--prompt", "edit-all", "--branch", "feature-y"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let summary = text(&output.stdout);
    assert!(
        summary
            .lines()
            .any(|line| line.starts_with("changed ") && line.ends_with(" 4 files")),
        "{summary}"
    );
    assert!(
        summary.lines().any(|line| line.starts_with("started from ")
            && line
                .ends_with(" 3 files uncommitted in your checkout, committed first on the branch")),
        "{summary}"
    );
}

#[test]
fn without_a_branch_the_work_lands_uncommitted_in_a_new_worktree() {
    let bench = Bench::new(EDIT_FILES);
    let git_before = git_state(&bench);
    let checkout_before = checkout_state(&bench.repo);
    let base = bench.git(&["rev-parse", "HEAD"]);

    let result = bench.ok_json(&["run", "--prompt", "edit-all", "--json"]);

    assert!(checkout_state(&bench.repo) == checkout_before);
    assert_eq!(git_state(&bench), git_before);
    assert_eq!(result["status"], "COMPLETED", "{result:#}");
    assert_eq!(result["commit"], Value::Null);
    let id = result["sessionId"].as_str().unwrap();
    let worktree = PathBuf::from(result["worktree"].as_str().unwrap());
    assert_eq!(
        worktree,
        bench
            .env
            .path()
            .join("repo-worktrees")
            .join(format!("sandbox-{}", &id[..8]))
    );
    // Nothing is committed there: HEAD is where the run started, and the
    // agent's work (its commit included) is all in the working tree.
    let wt = |args: &[&str]| bench.env.git(&worktree, args);
    assert_eq!(wt(&["rev-parse", "HEAD"]), base);
    assert_eq!(
        wt(&["branch", "--show-current"]).trim(),
        result["branch"].as_str().unwrap()
    );
    assert_eq!(
        wt(&["diff", "HEAD", "--name-status"]),
        "M\tREADME.md\nA\tnew/file.txt\nD\told.txt\nM\tsrc/lib.txt\n"
    );
    let status = wt(&["status", "--porcelain", "--untracked-files=all"]);
    let mut paths: Vec<&str> = status.lines().map(|l| &l[3..]).collect();
    paths.sort();
    assert_eq!(
        paths,
        ["README.md", "new/file.txt", "old.txt", "src/lib.txt"],
        "{status}"
    );
    assert_eq!(
        std::fs::read_to_string(worktree.join("README.md")).unwrap(),
        "hello\nfrom agent\n"
    );
    assert_eq!(
        std::fs::read_to_string(worktree.join("src/lib.txt")).unwrap(),
        "one\ntwo\nthree\n"
    );
    assert_eq!(
        std::fs::read_to_string(worktree.join("new/file.txt")).unwrap(),
        "brand new\n"
    );
    assert!(!worktree.join("old.txt").exists());

    // The worktree is one of the repository's in 'git pcc status'.
    let (output, status) = bench.env.json(
        bench
            .env
            .pcc("git-pcc")
            .current_dir(&bench.repo)
            .args(["status", "--json"]),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        status["sandboxWorktrees"].as_array().unwrap().len(),
        1,
        "{status:#}"
    );
    let listed = &status["sandboxWorktrees"][0];
    assert_eq!(listed["runId"], id);
    assert_eq!(listed["worktreePath"], result["worktree"]);
    assert_eq!(listed["branch"], result["branch"]);
    let output = bench
        .env
        .pcc("git-pcc")
        .current_dir(&bench.repo)
        .arg("status")
        .output()
        .unwrap();
    let human = text(&output.stdout);
    assert!(
        human.contains("sandbox worktrees (a run's work, uncommitted)"),
        "{human}"
    );
    assert!(human.contains(&id[..8]), "{human}");
    assert!(human.trim_end().ends_with("no sessions"), "{human}");
}

#[test]
fn what_the_agent_leaves_is_committed_as_git_add_all_would() {
    let bench = Bench::new(&[
        (".gitignore", "*.log\nbuild/\n"),
        ("same.txt", "before\n"),
        ("run.sh", "echo run\n"),
    ]);
    let result = bench.ok_json(&["run", "--prompt", "leave-odd", "--branch", "odd", "--json"]);
    assert_eq!(result["status"], "COMPLETED", "{result:#}");
    assert_eq!(
        result["filesChanged"],
        json!([".config/tool.json", "latest", "run.sh", "same.txt"])
    );
    assert_eq!(
        bench
            .git(&["diff", "--raw", "--no-abbrev", "main", "odd"])
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                format!("{} {} {}", fields[1], fields[4], fields[5])
            })
            .collect::<Vec<_>>(),
        [
            "100644 A .config/tool.json",
            "120000 A latest",
            "100755 M run.sh",
            "100644 M same.txt",
        ]
    );
    assert_eq!(bench.show_text("odd", "same.txt"), "after\n");
    assert_eq!(bench.show_text("odd", "latest"), "run.sh");
    assert_eq!(
        bench.git(&["log", "--format=%s", "main..odd"]),
        "Uncommitted changes left by the agent\n"
    );
}

#[test]
fn six_tasks_run_at_most_two_at_a_time_and_all_come_back() {
    let bench = Bench::new(&[("README.md", "hello\n")]);
    let checkout_before = checkout_state(&bench.repo);
    let out = bench.env.path().join("out");
    let mut args: Vec<String> = [
        "run",
        "--multi",
        "--max-concurrent",
        "2",
        "--branch",
        "auto",
        "--json",
        "--output-dir",
    ]
    .map(String::from)
    .to_vec();
    args.push(out.display().to_string());
    for n in 1..=6 {
        args.push("--task".to_owned());
        args.push(format!("task={n} touch=out-{n}.txt nap=1"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = bench.run(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(checkout_state(&bench.repo) == checkout_before);

    // Progress as JSON lines, then the summary.
    let events: Vec<Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["total"], 6);
    assert_eq!(summary["completed"], 6);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["maxConcurrent"], 2);
    for n in 1..=6 {
        assert!(
            events
                .iter()
                .any(|e| e["event"] == "status" && e["task"] == n && e["status"] == "COMPLETED"),
            "no COMPLETED event for task {n}"
        );
    }

    let mut stand_in = Vec::new();
    let mut total_cost = 0.0;
    for n in 1..=6 {
        let dir = out.join(format!("task-{n}"));
        let result: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap())
                .unwrap();
        assert_eq!(result["status"], "COMPLETED", "task {n}: {result:#}");
        assert_eq!(result["taskIndex"], n);
        let id = result["sessionId"].as_str().unwrap();
        let branch = format!("parallel/sandbox-{}", &id[..8]);
        assert_eq!(result["branch"], branch.as_str());
        assert_eq!(result["filesChanged"], json!([format!("out-{n}.txt")]));
        assert_eq!(
            bench.show_text(&branch, &format!("out-{n}.txt")),
            format!("task {n}\n")
        );
        let tree = bench.git(&["ls-tree", "-r", "--name-only", &branch]);
        assert_eq!(lines_of(&tree), ["README.md", &format!("out-{n}.txt")]);
        let patch = std::fs::read_to_string(dir.join("changes.patch")).unwrap();
        assert!(patch.contains(&format!("+task {n}")), "{patch}");
        total_cost += result["totalCost"].as_f64().unwrap();
        let events = stand_in_events(&std::fs::read_to_string(dir.join("output.log")).unwrap());
        let kinds: Vec<(&str, usize)> = events.iter().map(|(k, t, _)| (k.as_str(), *t)).collect();
        assert_eq!(kinds, [("start", n), ("end", n)]);
        stand_in.extend(events);
    }
    assert!((total_cost - 0.06).abs() < 1e-9, "{total_cost}");
    let sandbox_branches: Vec<String> = bench
        .branches()
        .into_iter()
        .filter(|b| b.starts_with("parallel/sandbox-"))
        .collect();
    assert_eq!(sandbox_branches.len(), 6, "{sandbox_branches:?}");

    // Never more than two stand-ins at once, and two did run together.
    assert_eq!(most_at_once(&stand_in), 2, "{stand_in:?}");

    let report = std::fs::read_to_string(out.join("summary-report.md")).unwrap();
    assert!(
        report.contains("6 tasks, at most 2 at once: 6 completed, 0 failed, 0 cancelled."),
        "{report}"
    );
    for (n, branch) in (1..=6).zip((1..=6).map(|n| {
        let result: Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("task-{n}/result.json"))).unwrap(),
        )
        .unwrap();
        result["branch"].as_str().unwrap().to_owned()
    })) {
        let row = report
            .lines()
            .find(|l| l.starts_with(&format!("| {n} | ")))
            .unwrap_or_else(|| panic!("no row for task {n}: {report}"));
        assert!(row.contains("| COMPLETED |"), "{row}");
        assert!(row.contains(&branch), "{row}");
        assert!(
            row.contains(&format!("task={n} touch=out-{n}.txt")),
            "{row}"
        );
    }
    assert!(report.contains("- Total cost: $0.0600"), "{report}");
    assert!(report.contains("- Wall time: "), "{report}");
    bench.assert_no_stand_in_left();
}

#[test]
fn fail_fast_kills_the_running_cancels_the_queued_and_leaves_no_process() {
    fail_fast(false);
}

#[test]
fn fail_fast_leaves_no_process_of_unconfined_runs_either() {
    fail_fast(true);
}

fn fail_fast(unconfined: bool) {
    let bench = Bench::new(&[("README.md", "hello\n")]);
    if unconfined {
        bench.unconfine();
    }
    let branches_before = bench.branches();
    let out = bench.env.path().join("out");
    let out_arg = out.display().to_string();
    let tasks = [
        "task=1 child nap=120".to_owned(),
        "task=2 nap=5 exit=1".to_owned(),
        "task=3 touch=out-3.txt".to_owned(),
        "task=4 touch=out-4.txt".to_owned(),
        "task=5 touch=out-5.txt".to_owned(),
        "task=6 touch=out-6.txt".to_owned(),
    ];
    let mut args = vec![
        "run",
        "--multi",
        "--fail-fast",
        "--max-concurrent",
        "2",
        "--branch",
        "auto",
        "--json",
        "--output-dir",
        &out_arg,
    ];
    for task in &tasks {
        args.extend(["--task", task.as_str()]);
    }
    let started = Instant::now();
    let (status, stdout, stderr) = bench.spawn(&args).finish(Duration::from_secs(90));
    let took = started.elapsed();
    assert!(!status.success(), "{stderr}");
    // Task 1 would nap for two minutes: it was stopped, not waited for.
    assert!(took < Duration::from_secs(60), "took {took:?}");

    let summary: Value = serde_json::from_str(stdout.last().unwrap()).unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["completed"], 0);
    assert_eq!(summary["failed"], 2);
    assert_eq!(summary["cancelled"], 4);
    let results: Vec<Value> = (1..=6)
        .map(|n| {
            serde_json::from_str(
                &std::fs::read_to_string(out.join(format!("task-{n}/result.json"))).unwrap(),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(results[0]["status"], "KILLED", "{:#}", results[0]);
    assert_eq!(results[1]["status"], "FAILED", "{:#}", results[1]);
    assert_eq!(results[1]["exitCode"], 1);
    assert!(results[1]["error"]
        .as_str()
        .unwrap()
        .contains("exited with code 1"));
    for result in &results[2..] {
        assert_eq!(result["status"], "CANCELLED", "{result:#}");
        assert!(
            result["error"].as_str().unwrap().contains("task 2 failed"),
            "{result:#}"
        );
    }

    // Only tasks 1 and 2 started, both before task 2 failed.
    let mut events = Vec::new();
    for n in 1..=6 {
        if let Ok(log) = std::fs::read_to_string(out.join(format!("task-{n}/output.log"))) {
            events.extend(stand_in_events(&log));
        }
    }
    let failed_at = events
        .iter()
        .find(|(kind, task, _)| kind == "fail" && *task == 2)
        .map(|(_, _, ns)| *ns)
        .expect("task 2 reported its failure");
    let mut starts: Vec<usize> = events
        .iter()
        .filter(|(kind, _, _)| kind == "start")
        .map(|(_, task, _)| *task)
        .collect();
    starts.sort();
    assert_eq!(starts, [1, 2], "{events:?}");
    for (kind, task, ns) in &events {
        if kind == "start" {
            assert!(*ns < failed_at, "task {task} started after the failure");
        }
    }
    assert!(
        !events
            .iter()
            .any(|(kind, task, _)| kind == "end" && *task == 1),
        "task 1 ran to its end: {events:?}"
    );
    // The database agrees: the cancelled tasks never had an agent.
    let db = bench.env.db();
    let mut statement = db
        .prepare("SELECT task_index, status, agent_pid, started_at FROM sandbox_runs ORDER BY task_index")
        .unwrap();
    let rows: Vec<(i64, String, Option<i64>, Option<String>)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 6);
    for (index, status, agent, started) in &rows {
        if *index > 2 {
            assert_eq!(status, "CANCELLED");
            assert_eq!(*agent, None, "task {index} had an agent");
            assert_eq!(*started, None, "task {index} started");
        } else {
            assert!(agent.is_some(), "task {index} had no agent");
        }
    }
    // Nothing came back, and nothing is left running.
    assert_eq!(bench.branches(), branches_before);
    bench.assert_no_stand_in_left();
    let report = std::fs::read_to_string(out.join("summary-report.md")).unwrap();
    assert!(
        report.contains("6 tasks, at most 2 at once: 0 completed, 2 failed, 4 cancelled."),
        "{report}"
    );
}

#[test]
fn kill_from_another_process_ends_the_run_and_every_process_it_started() {
    kill_from_another_process(false);
}

/// Without bwrap nothing ends with the sandbox by itself: the run's
/// process group is all there is to end the agent's processes.
#[test]
fn kill_ends_every_process_of_an_unconfined_run_too() {
    kill_from_another_process(true);
}

fn kill_from_another_process(unconfined: bool) {
    let bench = Bench::new(&[("README.md", "hello\n")]);
    if unconfined {
        bench.unconfine();
    }
    let branches_before = bench.branches();
    let run = bench.spawn(&[
        "run",
        "--prompt",
        "child nap=120",
        "--branch",
        "auto",
        "--json",
    ]);
    let id = bench.wait_for_run();
    wait_for("the stand-in's child", Duration::from_secs(60), || {
        bench.log_of(&id).contains("STANDIN child")
    });
    if unconfined {
        assert!(bench.log_of(&id).contains("(confinement: none)"));
    }
    let alive = bench.stand_in_processes();
    assert!(
        alive.iter().any(|p| p.contains("-child")) && alive.len() >= 2,
        "the stand-in and its child should be seen alive: {alive:#?}"
    );

    let killed = bench.ok_json(&["kill", "--session-id", &id[..8], "--json"]);
    assert_eq!(killed["sessionId"], id.as_str());
    assert_eq!(killed["killed"], true);
    assert_eq!(killed["agentWasRunning"], true);
    assert_eq!(killed["status"], "KILLED");
    // Once the run is recorded as ended, its artifacts are complete.
    let dir = bench.sandboxes_dir().join(&id);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(written["status"], "KILLED");
    assert!(bench.log_of(&id).contains("[sandbox] KILLED after"));
    bench.assert_no_stand_in_left();

    let (status, stdout, stderr) = run.finish(Duration::from_secs(30));
    assert!(!status.success(), "{stderr}");
    let result: Value = serde_json::from_str(&stdout.join("\n")).unwrap();
    assert_eq!(result["status"], "KILLED", "{result:#}");
    assert_eq!(result["branch"], Value::Null);
    bench.assert_no_stand_in_left();

    let shown = bench.ok_json(&["status", "--session-id", &id, "--json"]);
    assert_eq!(shown["status"], "KILLED");
    assert_eq!(shown["agentAlive"], false);
    assert_eq!(bench.branches(), branches_before);
    // Killing it again is refused.
    let again = bench.run(&["kill", "--session-id", &id]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).starts_with("error: "));
}

#[test]
fn killing_waiting_tasks_ends_them_while_the_running_one_goes_on() {
    let bench = Bench::new(&[("README.md", "hello\n")]);
    let out = bench.env.path().join("out");
    let out_arg = out.to_str().unwrap();
    let batch = bench.spawn(&[
        "run",
        "--multi",
        "--task",
        "follow task=1 touch=one.txt",
        "--task",
        "task=2 touch=two.txt",
        "--task",
        "task=3 touch=three.txt",
        "--max-concurrent",
        "1",
        "--branch",
        "auto",
        "--json",
        "--output-dir",
        out_arg,
    ]);
    let run_of = |task: &str| -> Value {
        let listed = bench.ok_json(&["list", "--json"]);
        listed["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["prompt"].as_str().unwrap().starts_with(task))
            .cloned()
            .unwrap_or(Value::Null)
    };
    // Task 1's agent works (and waits for us); task 2's sandbox is
    // prepared and waits for the slot; task 3 is queued.
    wait_for("task 1's agent", Duration::from_secs(60), || {
        run_of("follow")["status"] == "RUNNING"
    });
    let first = run_of("follow")["sessionId"].as_str().unwrap().to_owned();
    wait_for("the first line of task 1", Duration::from_secs(60), || {
        bench.log_of(&first).contains("FOLLOW-LINE-ONE")
    });
    wait_for(
        "task 2 prepared and waiting",
        Duration::from_secs(60),
        || {
            let run = run_of("task=2");
            run["status"] == "PENDING" && !run["sandboxId"].is_null()
        },
    );
    let second = run_of("task=2")["sessionId"].as_str().unwrap().to_owned();
    let third = run_of("task=3")["sessionId"].as_str().unwrap().to_owned();
    assert_eq!(run_of("task=3")["status"], "PENDING");

    let killed = bench.ok_json(&["kill", "--session-id", &third, "--json"]);
    assert_eq!(killed["status"], "KILLED", "{killed:#}");
    assert_eq!(killed["agentWasRunning"], false);
    let killed = bench.ok_json(&["kill", "--session-id", &second, "--json"]);
    assert_eq!(killed["status"], "KILLED", "{killed:#}");
    assert_eq!(killed["agentWasRunning"], false);
    // Task 2 was ended by its own run, artifacts and all, while task 1
    // still works: the kill did not wait for the slot.
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(bench.sandboxes_dir().join(&second).join("result.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(written["status"], "KILLED");
    assert_eq!(run_of("follow")["status"], "RUNNING");
    assert!(!bench.log_of(&first).contains("FOLLOW-LINE-TWO"));
    assert!(!bench
        .sandboxes_dir()
        .join(&second)
        .join("workspace")
        .exists());

    std::fs::write(
        bench.sandboxes_dir().join(&first).join("tmp").join("go"),
        "",
    )
    .unwrap();
    let (status, lines, stderr) = batch.finish(Duration::from_secs(120));
    assert!(!status.success(), "{stderr}");
    let summary: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let statuses: Vec<&str> = summary["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["COMPLETED", "KILLED", "KILLED"], "{summary:#}");
    // Only task 1's agent ever started.
    let started: Vec<usize> = [&first, &second, &third]
        .iter()
        .flat_map(|id| stand_in_events(&bench.log_of(id)))
        .filter(|(kind, _, _)| kind == "start")
        .map(|(_, task, _)| task)
        .collect();
    assert_eq!(started, [1]);
    assert_eq!(
        bench.show_text(summary["tasks"][0]["branch"].as_str().unwrap(), "one.txt"),
        "task 1\n"
    );
}

#[test]
fn logs_follow_prints_output_as_it_is_produced_and_ends_with_the_run() {
    let bench = Bench::new(&[("README.md", "hello\n")]);
    let mut run = bench.spawn(&["run", "--prompt", "follow", "--branch", "auto", "--json"]);
    let id = bench.wait_for_run();
    let mut follower = Background::spawn({
        let mut command = bench.sandbox();
        command.args(["logs", "--session-id", &id, "--follow"]);
        command
    });
    follower.wait_for_line("FOLLOW-LINE-ONE", Duration::from_secs(60));
    // The follower showed line 1 while line 2 is not yet written.
    let log = bench.log_of(&id);
    assert!(log.contains("FOLLOW-LINE-ONE"));
    assert!(!log.contains("FOLLOW-LINE-TWO"), "{log}");
    assert!(run.is_running());
    assert!(follower.is_running());
    std::fs::write(bench.sandboxes_dir().join(&id).join("tmp").join("go"), "").unwrap();
    follower.wait_for_line("FOLLOW-LINE-TWO", Duration::from_secs(60));

    // The follower ends by itself once the run has ended.
    let (run_status, _, run_err) = run.finish(Duration::from_secs(60));
    assert!(run_status.success(), "{run_err}");
    let (status, lines, stderr) = follower.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    let one = lines.iter().position(|l| l == "FOLLOW-LINE-ONE").unwrap();
    let two = lines.iter().position(|l| l == "FOLLOW-LINE-TWO").unwrap();
    assert!(one < two);
    assert_eq!(lines.iter().filter(|l| *l == "FOLLOW-LINE-ONE").count(), 1);
    // It showed the log to its last line.
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("[sandbox] COMPLETED after"),
        "{lines:#?}"
    );
}

/// Every piece of text under `dir`, by path.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(files_under(&path));
        } else if kind.is_file() {
            found.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
        }
    }
    found
}

/// Every text and blob cell of every table of the database, as text.
fn database_cells(env: &TestEnv) -> Vec<String> {
    let db = env.db();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.iter().any(|t| t == "sandbox_runs"), "{tables:?}");
    assert!(tables.iter().any(|t| t == "budget_tracking"), "{tables:?}");
    let mut cells = Vec::new();
    for table in tables {
        let mut statement = db
            .prepare(&format!("SELECT * FROM \"{}\"", table.replace('"', "\"\"")))
            .unwrap();
        let columns = statement.column_count();
        let mut rows = statement.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(bytes)
                    | rusqlite::types::ValueRef::Blob(bytes) => {
                        cells.push(format!("{table}: {}", text(bytes)));
                    }
                    _ => {}
                }
            }
        }
    }
    cells
}

fn sha256(value: &str) -> String {
    let output = Command::new(python())
        .args([
            "-c",
            "import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(value.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    text(&output.stdout).trim().to_owned()
}

#[test]
fn secrets_reach_the_agent_but_no_output_file_or_row_keeps_them() {
    let bench = Bench::new(&[
        ("README.md", "hello\n"),
        ("src/main.txt", "main\n"),
        (".env", "DOTENV_VALUE=dotenv-secret-value\n"),
        (".env.local", "LOCAL_VALUE=local-secret-value\n"),
        ("id_rsa", "not really a key\n"),
    ]);
    // A token with no well-known shape: only knowing the value masks it.
    let token = format!("plain{}value", unique());
    let secrets = [bench.key.clone(), token.clone()];
    let with_secrets = |args: &[&str]| {
        let mut command = bench.sandbox();
        command.env("GITHUB_TOKEN", &token).args(args);
        command.output().unwrap()
    };
    // Everything printed, by what printed it.
    let mut printed: Vec<(String, Vec<u8>)> = Vec::new();

    let run = with_secrets(&[
        "run",
        "--prompt",
        "secrets list-files secret-names",
        "--branch",
        "leak-check",
        "--json",
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let result: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(result["status"], "COMPLETED");
    printed.push(("run --json stdout".into(), run.stdout.clone()));
    printed.push(("run --json stderr".into(), run.stderr.clone()));
    let id = result["sessionId"].as_str().unwrap().to_owned();

    // The agent had both, exactly.
    assert_eq!(
        bench.show_text("leak-check", "proof.txt"),
        format!(
            "ANTHROPIC_API_KEY={}\nGITHUB_TOKEN={}\n",
            sha256(&bench.key),
            sha256(&token)
        )
    );
    // Files it named after the secrets are on the branch as it named
    // them, and masked wherever they are shown.
    let tree = lines_of(&bench.git(&["ls-tree", "-r", "--name-only", "leak-check"]));
    assert!(tree.contains(&format!("dir-{token}/file.txt")), "{tree:?}");
    assert!(tree.contains(&bench.key), "{tree:?}");
    assert_eq!(
        result["filesChanged"],
        json!([
            "[REDACTED]",
            "dir-[REDACTED]/file.txt",
            "files.txt",
            "proof.txt"
        ])
    );
    let patch = std::fs::read_to_string(result["patch"].as_str().unwrap()).unwrap();
    assert!(
        patch.contains("diff --git a/dir-[REDACTED]/file.txt b/dir-[REDACTED]/file.txt"),
        "{patch}"
    );
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(result["resultFile"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(on_disk["filesChanged"], result["filesChanged"]);
    // Secret files were not in its workspace.
    let files = bench.show_text("leak-check", "files.txt");
    assert_eq!(lines_of(&files), ["README.md", "src/main.txt"], "{files}");
    let log = bench.log_of(&id);
    assert!(log.contains("left out: .env, .env.local, id_rsa"), "{log}");
    // What the agent printed is in the log, masked.
    assert!(log.contains("raw ANTHROPIC_API_KEY [REDACTED]"), "{log}");
    assert!(
        log.contains("[stderr] raw GITHUB_TOKEN on stderr [REDACTED]"),
        "{log}"
    );
    assert_eq!(result["result"], "finished with [REDACTED] and [REDACTED]");
    assert_eq!(
        result["commits"],
        json!([
            "proof for [REDACTED]",
            "Uncommitted changes left by the agent"
        ])
    );

    // The same without --json: progress lines and the summary.
    let human = with_secrets(&[
        "run",
        "--prompt",
        "secrets secret-names",
        "--branch",
        "auto",
    ]);
    assert!(human.status.success(), "{}", text(&human.stderr));
    assert!(
        text(&human.stderr).contains("x-api-key: [REDACTED]"),
        "{}",
        text(&human.stderr)
    );
    printed.push(("run stdout".into(), human.stdout));
    printed.push(("run stderr".into(), human.stderr));

    // A run that fails with the secrets in its error, and has one in its
    // prompt: the error and the prompt are kept masked.
    let failing_prompt = format!("secrets report-error mention={token}");
    let failing = with_secrets(&["run", "--prompt", &failing_prompt, "--json"]);
    assert!(!failing.status.success());
    let failed: Value = serde_json::from_slice(&failing.stdout).unwrap();
    assert_eq!(failed["status"], "FAILED", "{failed:#}");
    assert_eq!(
        failed["error"],
        "the agent reported an error: finished with [REDACTED] and [REDACTED]"
    );
    assert_eq!(failed["prompt"], "secrets report-error mention=[REDACTED]");
    let failed_id = failed["sessionId"].as_str().unwrap().to_owned();
    printed.push(("failing run stdout".into(), failing.stdout));
    printed.push(("failing run stderr".into(), failing.stderr));

    // A batch: its JSON lines, results and report.
    let out = bench.env.path().join("batch-out");
    let batch = with_secrets(&[
        "run",
        "--multi",
        "--task",
        "secrets secret-names task=1",
        "--task",
        "secrets secret-names task=2",
        "--branch",
        "auto",
        "--json",
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    assert!(batch.status.success(), "{}", text(&batch.stderr));
    let summary: Value = serde_json::from_str(text(&batch.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(summary["event"], "summary");
    for task in summary["tasks"].as_array().unwrap() {
        assert_eq!(
            task["filesChanged"],
            json!(["[REDACTED]", "dir-[REDACTED]/file.txt", "proof.txt"])
        );
    }
    printed.push(("batch stdout".into(), batch.stdout));
    printed.push(("batch stderr".into(), batch.stderr));
    let batch_files = files_under(&out);
    assert!(batch_files
        .iter()
        .any(|(p, _)| p.ends_with("summary-report.md")));
    assert_eq!(
        batch_files
            .iter()
            .filter(|(p, _)| p.ends_with("output.log"))
            .count(),
        2
    );

    // What the other commands show.
    for args in [
        vec!["logs", "--session-id", &id],
        vec!["logs", "--session-id", &id, "--raw"],
        vec!["logs", "--session-id", &id, "--json"],
        vec!["status", "--session-id", &id, "--json"],
        vec!["status", "--session-id", &id],
        vec!["list", "--json"],
        vec!["list"],
    ] {
        let output = bench.run(&args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        printed.push((format!("{args:?} stdout"), output.stdout));
        printed.push((format!("{args:?} stderr"), output.stderr));
    }
    let raw = bench.run(&["logs", "--session-id", &id, "--raw"]);
    assert!(text(&raw.stdout).contains("raw ANTHROPIC_API_KEY [REDACTED]"));
    let download = bench.env.path().join("download");
    let downloaded = bench.ok_json(&[
        "download",
        "--session-id",
        &id,
        "--output",
        download.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(downloaded["files"].as_array().unwrap().len(), 3);
    let budget = bench
        .env
        .pcc("git-pcc")
        .args(["budget", "status", "--json"])
        .output()
        .unwrap();
    printed.push(("budget status".into(), budget.stdout));

    let mut places: Vec<(String, Vec<u8>)> = printed;
    for (path, bytes) in files_under(&download)
        .into_iter()
        .chain(batch_files)
        .chain(files_under(&bench.env.data_dir))
    {
        places.push((path.display().to_string(), bytes));
    }
    // The data directory holds the database and the runs' artifacts.
    assert!(places.iter().any(|(p, _)| p.ends_with("coordinator.db")));
    assert!(
        places
            .iter()
            .filter(|(p, _)| p.ends_with("changes.patch"))
            .count()
            >= 4
    );
    for cell in database_cells(&bench.env) {
        places.push(("database".into(), cell.into_bytes()));
    }
    // The failed run's row holds its prompt and error, masked.
    let (prompt, error): (String, String) = bench
        .env
        .db()
        .query_row(
            "SELECT prompt, error FROM sandbox_runs WHERE id = ?1",
            [&failed_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(prompt, "secrets report-error mention=[REDACTED]");
    assert!(
        error.contains("finished with [REDACTED] and [REDACTED]"),
        "{error}"
    );
    for secret in &secrets {
        // The whole value and a distinctive part of it.
        let part = &secret[secret.len() - 16..];
        for (place, bytes) in &places {
            let shown = text(bytes);
            assert!(
                !shown.contains(secret.as_str()) && !shown.contains(part),
                "a secret is in {place}"
            );
            assert!(!place.contains(part), "a secret names {place}");
        }
    }

    // With --include .env, that file (and only it) is packed.
    let included = bench.ok_json(&[
        "run",
        "--prompt",
        "list-files",
        "--include",
        ".env",
        "--branch",
        "with-env",
        "--json",
    ]);
    assert_eq!(included["status"], "COMPLETED");
    let files = bench.show_text("with-env", "files.txt");
    assert_eq!(
        lines_of(&files),
        [".env", "README.md", "src/main.txt"],
        "{files}"
    );

    // An untracked secret packed on request is the agent's to read; it
    // does not come back into git history.
    std::fs::write(bench.repo.join(".env.production"), "PROD=1\n").unwrap();
    let included = bench.ok_json(&[
        "run",
        "--prompt",
        "list-files",
        "--include",
        ".env.production",
        "--branch",
        "with-production-env",
        "--json",
    ]);
    assert_eq!(included["status"], "COMPLETED");
    let files = bench.show_text("with-production-env", "files.txt");
    assert!(
        lines_of(&files).iter().any(|f| f == ".env.production"),
        "{files}"
    );
    let tree = bench.env.git(
        &bench.repo,
        &["ls-tree", "-r", "--name-only", "with-production-env"],
    );
    assert!(
        !lines_of(&tree).iter().any(|f| f == ".env.production"),
        "{tree}"
    );

    // The same for an untracked private key known only by its content:
    // left out, and packed on request without coming back into history.
    std::fs::write(bench.repo.join("deploy_material"), PRIVATE_KEY).unwrap();
    let without = bench.ok_json(&[
        "run",
        "--prompt",
        "list-files",
        "--branch",
        "without-key",
        "--json",
    ]);
    let files = lines_of(&bench.show_text("without-key", "files.txt"));
    assert!(!files.iter().any(|f| f == "deploy_material"), "{files:?}");
    let log = bench.log_of(without["sessionId"].as_str().unwrap());
    assert!(
        log.contains("left out: .env, .env.local, .env.production, deploy_material, id_rsa"),
        "{log}"
    );
    bench.ok_json(&[
        "run",
        "--prompt",
        "list-files",
        "--include",
        "deploy_material",
        "--branch",
        "with-key",
        "--json",
    ]);
    let files = lines_of(&bench.show_text("with-key", "files.txt"));
    assert!(files.iter().any(|f| f == "deploy_material"), "{files:?}");
    let tree = lines_of(&bench.git(&["ls-tree", "-r", "--name-only", "with-key"]));
    assert!(!tree.iter().any(|f| f == "deploy_material"), "{tree:?}");
}

/// A private key as `ssh-keygen` writes one (the body of a throwaway key).
const PRIVATE_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBpYXG0m3ddpIdGm4Z1ELNHLEj5CQ5w0qaQmOqDpWaWzAAAAJgm2m8RJtpv
-----END OPENSSH PRIVATE KEY-----
";

const HIDDEN_FILES: &[(&str, &str)] = &[
    ("au-edit.txt", "au\n"),
    ("au-gone.txt", "gone\n"),
    ("sw-edit.txt", "sw\n"),
    ("sw-gone.txt", "stays\n"),
    ("both.txt", "both\n"),
    ("plain.txt", "plain\n"),
];

#[test]
fn edits_hidden_by_assume_unchanged_or_skip_worktree_still_come_back() {
    let bench = Bench::new(HIDDEN_FILES);
    // In-process first, then with git in the sandbox: libgit2 cannot read
    // a split index, so that run's leftovers are committed by git.
    for (prompt, branch, by_git) in [
        ("hide-edits", "hidden", false),
        ("hide-edits split-index", "hidden-by-git", true),
    ] {
        let result = bench.ok_json(&["run", "--prompt", prompt, "--branch", branch, "--json"]);
        assert_eq!(result["status"], "COMPLETED", "{result:#}");
        let log = bench.log_of(result["sessionId"].as_str().unwrap());
        assert_eq!(log.contains("; trying git"), by_git, "{log}");
        assert_eq!(
            result["filesChanged"],
            json!([
                "au-edit.txt",
                "au-gone.txt",
                "both.txt",
                "plain.txt",
                "sw-edit.txt"
            ]),
            "{branch}"
        );
        // Edits of both kinds and the deletion of an assume-unchanged file
        // are on the branch; a skip-worktree file missing from the working
        // tree is not deleted (that is what skip-worktree means).
        assert_eq!(
            bench.git(&["diff", "--name-status", "main", branch]),
            "M\tau-edit.txt\nD\tau-gone.txt\nM\tboth.txt\nM\tplain.txt\nM\tsw-edit.txt\n",
            "{branch}"
        );
        for (name, before) in [
            ("au-edit.txt", "au\n"),
            ("sw-edit.txt", "sw\n"),
            ("both.txt", "both\n"),
            ("plain.txt", "plain\n"),
        ] {
            assert_eq!(bench.show_text(branch, name), format!("{before}agent\n"));
        }
        assert_eq!(bench.show_text(branch, "sw-gone.txt"), "stays\n");
        assert_eq!(
            bench.git(&["log", "--format=%s", &format!("main..{branch}")]),
            "Uncommitted changes left by the agent\n"
        );
    }
}

#[test]
fn work_inside_nested_repositories_is_reported_and_kept() {
    let bench = Bench::new(&[("README.md", "hello\n"), (".gitignore", "scratch/\n")]);
    // What the agent clones, recorded by the user's repository as the
    // submodule `lib` (the pack leaves submodules out).
    let origin = bench.env.repo_with("origin", &[("lib.txt", "lib\n")]);
    let recorded = bench.env.git(&origin, &["rev-parse", "HEAD"]);
    let recorded = recorded.trim();
    std::fs::write(
        bench.repo.join(".gitmodules"),
        format!(
            "[submodule \"lib\"]\n\tpath = lib\n\turl = {}\n",
            origin.display()
        ),
    )
    .unwrap();
    bench.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{recorded},lib"),
    ]);
    bench.git(&["add", ".gitmodules"]);
    bench.git(&["commit", "-q", "-m", "lib as a submodule"]);
    let prompt = format!("nested origin={}", origin.display());
    // Untouched and ignored repositories are not mentioned.
    let expected = [
        "submodule fresh: 1 uncommitted file",
        "submodule lib: 1 commit not in the superproject",
        "submodule sub: 1 uncommitted file, 1 commit not in the superproject",
    ];

    // Leftovers committed in-process, then by git (see the split index).
    for (prompt, branch, by_git) in [
        (prompt.clone(), "nested", false),
        (format!("{prompt} split-index"), "nested-by-git", true),
    ] {
        let result = bench.ok_json(&["run", "--prompt", &prompt, "--branch", branch, "--json"]);
        assert_eq!(result["status"], "COMPLETED", "{result:#}");
        assert_eq!(result["notBroughtBack"], json!(expected), "{branch}");
        let id = result["sessionId"].as_str().unwrap();
        let workspace = bench.sandboxes_dir().join(id).join("workspace");
        let mut warnings: Vec<String> = expected
            .iter()
            .map(|line| format!("not brought back: {line}"))
            .collect();
        warnings.push(format!(
            "the sandbox's workspace is kept: {}",
            workspace.display()
        ));
        assert_eq!(result["warnings"], json!(warnings));
        let on_disk: Value =
            serde_json::from_slice(&std::fs::read(result["resultFile"].as_str().unwrap()).unwrap())
                .unwrap();
        assert_eq!(on_disk["notBroughtBack"], json!(expected));
        let log = bench.log_of(id);
        assert_eq!(log.contains("; trying git"), by_git, "{log}");
        for line in expected {
            assert!(
                log.contains(&format!("[results] warning: not brought back: {line}\n")),
                "{log}"
            );
        }
        // The branch has what `git add -A` makes of repositories with
        // commits (gitlinks), nothing of the one without.
        assert_eq!(
            bench.git(&["ls-tree", "-r", "--format=%(objectmode) %(path)", branch]),
            "100644 .gitignore\n100644 .gitmodules\n100644 README.md\n\
             160000 lib\n160000 sub\n160000 vendor/clean\n",
            "{branch}"
        );
        // That work is still there, in the kept workspace.
        let nested = |dir: &str, args: &[&str]| bench.env.git(&workspace.join(dir), args);
        assert_eq!(nested("sub", &["status", "--porcelain"]), " M a.txt\n");
        assert_eq!(
            nested("fresh", &["status", "--porcelain"]),
            "?? draft.txt\n"
        );
        assert_eq!(
            nested("lib", &["log", "--format=%s", &format!("{recorded}..HEAD")]),
            "lib: agent's change\n"
        );
    }

    // Without --json, the same warnings are printed as the run goes.
    let human = bench.run(&["run", "--prompt", &prompt, "--branch", "auto"]);
    assert!(human.status.success(), "{}", text(&human.stderr));
    let stderr = text(&human.stderr);
    for line in expected {
        assert!(
            stderr.contains(&format!("warning: not brought back: {line}\n")),
            "{stderr}"
        );
    }
}

#[test]
fn an_awkward_prompt_reaches_the_agent_byte_for_byte() {
    let bench = Bench::new(&[("README.md", "hello\n")]);
    let root = bench.env.path();
    let prompt = format!(
        "-rf --help \"double\" 'single' $(touch {root}/pwned) `touch {root}/pwned2` \
         ${{HOME}} %s %n {{prompt}} \\ \\\\ ; | & > < * ? ~\nsecond line\twith a tab\r\n\
         ünïcødé → ✓\n  -p indented\nwrite-prompt\n",
        root = root.display()
    );

    let result = bench.ok_json(&[
        "run",
        &format!("--prompt={prompt}"),
        "--branch",
        "awkward",
        "--json",
    ]);
    assert_eq!(result["status"], "COMPLETED");
    assert_eq!(result["prompt"], prompt.as_str());
    assert_eq!(bench.show("awkward", "prompt.bin"), prompt.as_bytes());

    let file = root.join("prompt.txt");
    std::fs::write(&file, &prompt).unwrap();
    let result = bench.ok_json(&[
        "run",
        "--prompt-file",
        file.to_str().unwrap(),
        "--branch",
        "awkward-file",
        "--json",
    ]);
    assert_eq!(result["status"], "COMPLETED");
    assert_eq!(bench.show("awkward-file", "prompt.bin"), prompt.as_bytes());

    // No shell ever saw it.
    assert!(!root.join("pwned").exists());
    assert!(!root.join("pwned2").exists());
}

#[test]
fn bad_input_is_refused_with_one_line_and_starts_nothing() {
    let bench = Bench::new(&[("README.md", "hello\n")]);
    bench.git(&["branch", "taken"]);
    let root = bench.env.path();
    let binary = root.join("binary.bin");
    std::fs::write(&binary, b"fix it\0\xff\xfe\x00\x01\n").unwrap();
    let empty = root.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let comments = root.join("comments.txt");
    std::fs::write(&comments, "# one\n\n   # two\n\t\n").unwrap();
    let missing = root.join("missing.txt");
    let nowhere = root.join("nowhere");
    let out = root.join("out");
    let out_arg = out.to_str().unwrap();
    let branches = bench.branches();
    let files = snapshot(&bench.repo);

    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--prompt-file", missing.to_str().unwrap()],
            vec!["missing.txt"],
        ),
        (
            vec!["--prompt", "x", "--use-template", "no-such-template"],
            vec!["no-such-template"],
        ),
        (
            vec![
                "--multi",
                "--task-file",
                binary.to_str().unwrap(),
                "--output-dir",
                out_arg,
            ],
            vec!["binary.bin", "not"],
        ),
        (
            vec![
                "--multi",
                "--task-file",
                empty.to_str().unwrap(),
                "--output-dir",
                out_arg,
            ],
            vec!["empty.txt", "no tasks"],
        ),
        (
            vec![
                "--multi",
                "--task-file",
                comments.to_str().unwrap(),
                "--output-dir",
                out_arg,
            ],
            vec!["comments.txt", "no tasks"],
        ),
        (
            vec![
                "--multi",
                "--task",
                "x",
                "--max-concurrent",
                "0",
                "--output-dir",
                out_arg,
            ],
            vec!["--max-concurrent"],
        ),
        (vec!["--prompt", "x", "--budget", "-1"], vec!["--budget"]),
        (vec!["--prompt", "x", "--budget=-1"], vec!["--budget"]),
        (vec!["--prompt", "x", "--budget", "0"], vec!["--budget"]),
        (vec!["--prompt", "x", "--timeout", "-5"], vec!["--timeout"]),
        (
            vec!["--prompt", "x", "--branch", "taken"],
            vec!["taken", "already exists"],
        ),
        (
            vec!["--prompt", "x", "--branch", "bad..name"],
            vec!["bad..name", "not a valid branch name"],
        ),
        (vec!["--prompt", "  \n"], vec!["empty"]),
        (
            vec![
                "--multi",
                "--task",
                "x",
                "--output-dir",
                empty.to_str().unwrap(),
            ],
            vec!["--output-dir", "not a directory"],
        ),
        (
            vec!["--prompt", "x", "--repo", nowhere.to_str().unwrap()],
            vec!["nowhere"],
        ),
        (
            vec!["--prompt", "x", "--repo", root.to_str().unwrap()],
            vec!["not a git repository"],
        ),
        (
            vec!["--prompt", "x", "--git-user", "a <b>"],
            vec!["--git-user"],
        ),
        (vec!["--task", "x"], vec!["--multi"]),
        (
            vec!["--prompt", "x", "--task", "y"],
            vec!["--task", "--multi"],
        ),
        (
            vec!["--prompt", "x", "--fail-fast"],
            vec!["--fail-fast", "--multi"],
        ),
        (
            vec!["--prompt", "x", "--task-file", comments.to_str().unwrap()],
            vec!["--task-file", "--multi"],
        ),
        (
            vec!["--multi", "--task", "x", "--task", ""],
            vec!["task 2", "empty"],
        ),
        (
            vec!["--multi", "--task", "x", "--task", "codex:"],
            vec!["task 2", "empty"],
        ),
        (
            vec!["--multi", "--task", "x", "--task", "codex: y"],
            vec!["task 2 (codex)"],
        ),
        (
            vec!["--prompt", "x", "--print-env", "--env", "ANTHROPIC_API_KEY"],
            vec!["--env ANTHROPIC_API_KEY", "--print-env", "hint"],
        ),
    ];
    for (args, needles) in cases {
        let mut full = vec!["run"];
        full.extend(&args);
        let output = bench.run(&full);
        let err = text(&output.stderr);
        assert!(!output.status.success(), "{args:?} was accepted");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: expected one line, got: {err}");
        assert!(lines[0].starts_with("error: "), "{args:?}: {err}");
        for needle in needles {
            assert!(
                lines[0].contains(needle),
                "{args:?}: {needle:?} not in {err}"
            );
        }
        assert!(
            output.stdout.is_empty(),
            "{args:?}: {}",
            text(&output.stdout)
        );
        // Nothing started.
        assert_eq!(bench.run_rows(), 0, "{args:?} recorded a run");
        assert!(
            bench.run_dirs().is_empty() && support::list_dir(&bench.sandboxes_dir()).is_empty(),
            "{args:?} made a sandbox"
        );
        assert_eq!(bench.branches(), branches, "{args:?} made a branch");
        assert!(!root.join("repo-worktrees").exists(), "{args:?}");
        assert!(!out.exists(), "{args:?} made the output directory");
        assert!(
            snapshot(&bench.repo) == files,
            "{args:?} changed the checkout"
        );
    }
    bench.assert_no_stand_in_left();
}

#[test]
fn env_by_name_passes_our_own_secrets_and_never_prints_one() {
    let bench = Bench::new(&[("README.md", "hello\n")]);
    // A Codex stand-in, so that a task can name Codex.
    std::os::unix::fs::symlink(bench.bin.join("claude"), bench.bin.join("codex")).unwrap();
    let openai_key = format!("sk-proj-test{}", unique());
    let with_env = |args: &[&str]| {
        let mut command = bench.sandbox();
        command
            .args(args)
            .env("OPENAI_API_KEY", &openai_key)
            .env("PCC_PLAIN", "plain-value")
            .output()
            .unwrap()
    };
    let leaks = |output: &Output| {
        let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
        all.contains(&openai_key) || all.contains(&bench.key)
    };

    // Printed: the environment of each agent of the batch, secrets masked,
    // a plain variable passed by name as it is; nothing starts.
    let output = with_env(&[
        "--json",
        "run",
        "--print-env",
        "--env",
        "PCC_PLAIN",
        "--multi",
        "--task",
        "x",
        "--task",
        "codex: y",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!leaks(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let environments = printed["environments"].as_array().unwrap();
    assert_eq!(environments.len(), 2, "{printed:#}");
    let (claude, codex) = (&environments[0], &environments[1]);
    assert_eq!(claude["agent"], "claude");
    assert_eq!(claude["environment"]["ANTHROPIC_API_KEY"], "[REDACTED]");
    assert_eq!(claude["environment"]["PCC_PLAIN"], "plain-value");
    assert_eq!(claude["environment"]["OPENAI_API_KEY"], Value::Null);
    let author = claude["environment"]["GIT_AUTHOR_NAME"].as_str().unwrap();
    assert!(!author.is_empty() && author != "[REDACTED]", "{author}");
    assert_eq!(codex["agent"], "codex");
    assert_eq!(codex["environment"]["OPENAI_API_KEY"], "[REDACTED]");
    assert_eq!(codex["environment"]["ANTHROPIC_API_KEY"], Value::Null);
    assert_eq!(codex["environment"]["PCC_PLAIN"], "plain-value");
    let output = with_env(&["run", "--print-env"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines = text(&output.stdout);
    assert!(
        lines.lines().any(|l| l == "ANTHROPIC_API_KEY=[REDACTED]"),
        "{lines}"
    );
    assert!(!leaks(&output));
    assert_eq!(bench.run_rows(), 0);
    assert!(bench.run_dirs().is_empty());

    // Asked to print one of our own secrets by name: refused, in one line.
    let output = with_env(&["run", "--print-env", "--env", "OPENAI_API_KEY"]);
    assert!(!output.status.success());
    let err = text(&output.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: --env OPENAI_API_KEY: "), "{err}");
    assert!(output.stdout.is_empty() && !leaks(&output));

    // Not printed: the same name is passed to the agent, masked in all
    // the run reports.
    let output = with_env(&[
        "--json",
        "run",
        "--env",
        "OPENAI_API_KEY",
        "--prompt",
        "hash-env=OPENAI_API_KEY",
        "--branch",
        "auto",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!leaks(&output));
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    let branch = result["branch"].as_str().unwrap();
    assert_eq!(
        bench.show_text(branch, "env-OPENAI_API_KEY.txt"),
        format!("{}\n", sha256(&openai_key))
    );
    let log = bench.log_of(result["sessionId"].as_str().unwrap());
    assert!(!log.contains(&openai_key));
}

#[test]
fn a_dry_run_uploads_the_workspace_and_starts_no_agent() {
    let bench = Bench::new(&[
        ("README.md", "hello\n"),
        ("src/a.txt", "a\n"),
        (".env", "SECRET=1\n"),
    ]);
    let branches = bench.branches();
    let result = bench.ok_json(&[
        "run",
        "--prompt",
        "touch=agent-was-here.txt",
        "--dry-run",
        "--branch",
        "auto",
        "--json",
    ]);
    assert_eq!(result["status"], "COMPLETED", "{result:#}");
    assert_eq!(result["dryRun"], true);
    assert_eq!(result["uploadedFiles"], 2);
    assert_eq!(result["branch"], Value::Null);
    assert_eq!(result["patch"], Value::Null);
    assert_eq!(result["exitCode"], Value::Null);
    let workspace = PathBuf::from(result["sandbox"]["workspace"].as_str().unwrap());
    let packed: Vec<String> = snapshot(&workspace).into_iter().map(|(p, _)| p).collect();
    assert_eq!(packed, ["README.md", "src/a.txt"]);
    assert_eq!(
        std::fs::read_to_string(workspace.join("src/a.txt")).unwrap(),
        "a\n"
    );
    let id = result["sessionId"].as_str().unwrap();
    assert!(
        !bench.log_of(id).contains("STANDIN"),
        "{}",
        bench.log_of(id)
    );
    let agent: Option<i64> = bench
        .env
        .db()
        .query_row(
            "SELECT agent_pid FROM sandbox_runs WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(agent, None);
    assert_eq!(bench.branches(), branches);
}

#[test]
fn a_user_template_prepares_the_sandbox_before_the_agent() {
    let bench = Bench::new(&[("README.md", "hello\n")]);
    bench.ok_json(&[
        "templates",
        "create",
        "prepared",
        "--description",
        "writes setup.txt",
        "--setup",
        "echo from-setup > setup.txt",
        "--setup",
        "echo SETUP-LINE",
        "--env",
        "TPL_VAR=hello",
        "--json",
    ]);
    let result = bench.ok_json(&[
        "run",
        "--prompt",
        "check-setup",
        "--use-template",
        "prepared",
        "--branch",
        "prepared-run",
        "--json",
    ]);
    assert_eq!(result["status"], "COMPLETED", "{result:#}");
    assert_eq!(
        bench.show_text("prepared-run", "seen-setup.txt"),
        "setup.txt=yes TPL_VAR=hello\n"
    );
    assert_eq!(bench.show_text("prepared-run", "setup.txt"), "from-setup\n");
    let id = result["sessionId"].as_str().unwrap();
    let log = bench.log_of(id);
    let setup = log.find("[setup] SETUP-LINE").expect("setup output logged");
    let agent = log.find("STANDIN start").expect("agent output logged");
    assert!(setup < agent, "{log}");
    let shown = bench.ok_json(&["status", "--session-id", id, "--json"]);
    assert_eq!(shown["templateName"], "prepared");
}

#[test]
fn a_run_past_its_timeout_is_stopped() {
    let bench = Bench::new(&[("README.md", "hello\n")]);
    let started = Instant::now();
    let (output, result) = bench.json(&[
        "run",
        "--prompt",
        "child nap=120",
        "--timeout",
        "0.02",
        "--branch",
        "auto",
        "--json",
    ]);
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(result["status"], "TIMEOUT", "{result:#}");
    let error = result["error"].as_str().unwrap();
    assert!(error.contains("timeout"), "{error}");
    assert!(error.contains("0.02 minutes"), "{error}");
    assert!(result["durationSeconds"].as_f64().unwrap() >= 1.2);
    assert_eq!(result["branch"], Value::Null);
    bench.assert_no_stand_in_left();

    // A timeout that ends the run while its workspace is being prepared
    // is a timeout too, and the agent never starts.
    let (output, result) = bench.json(&[
        "run",
        "--prompt",
        "touch=late.txt",
        "--timeout",
        "0.00001",
        "--branch",
        "auto",
        "--json",
    ]);
    assert!(!output.status.success());
    assert_eq!(result["status"], "TIMEOUT", "{result:#}");
    assert_eq!(
        result["error"],
        "stopped after the timeout of 0.00001 minutes"
    );
    let id = result["sessionId"].as_str().unwrap();
    assert!(!bench.log_of(id).contains("STANDIN"));
    assert_eq!(result["branch"], Value::Null);
}

#[test]
fn a_run_over_its_budget_is_stopped_and_the_spending_recorded() {
    let bench = Bench::new(&[("README.md", "hello\n")]);
    let started = Instant::now();
    let (output, result) = bench.json(&[
        "run",
        "--prompt",
        "cost=0.75 child nap=120",
        "--budget",
        "0.5",
        "--branch",
        "auto",
        "--json",
    ]);
    assert!(!output.status.success());
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(result["status"], "BUDGET_EXCEEDED", "{result:#}");
    assert_eq!(result["budgetLimit"], 0.5);
    assert_eq!(result["agentCost"], 0.75);
    assert_eq!(result["totalCost"], 0.75);
    assert!(result["error"].as_str().unwrap().contains("$0.50"));
    bench.assert_no_stand_in_left();

    for period in ["daily", "weekly", "monthly"] {
        let output = bench
            .env
            .pcc("git-pcc")
            .args(["budget", "status", "--period", period, "--json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        let status: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(status["currentPeriod"]["period"], period);
        assert_eq!(status["totalSpent"], 0.75, "{status:#}");
        assert_eq!(status["runs"], 1);
    }
}

#[test]
fn list_status_download_and_the_mcp_tool_describe_runs() {
    let bench = Bench::new(&[("README.md", "hello\n")]);
    let result = bench.ok_json(&[
        "run",
        "--prompt",
        "touch=a.txt",
        "--branch",
        "auto",
        "--json",
    ]);
    let id = result["sessionId"].as_str().unwrap();
    let branch = result["branch"].as_str().unwrap();

    let listed = bench.ok_json(&["list", "--json"]);
    assert_eq!(listed["total"], 1);
    let run = &listed["runs"][0];
    assert_eq!(run["sessionId"], id);
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["repoPath"], bench.repo.display().to_string());
    assert_eq!(run["backend"], "local");
    assert_eq!(run["prompt"], "touch=a.txt");
    assert_eq!(run["branch"], branch);
    assert_eq!(
        run["resultCommit"],
        bench.git(&["rev-parse", branch]).trim()
    );
    assert_eq!(run["filesChanged"], 1);
    assert_eq!(run["agentCost"], 0.01);
    assert_eq!(run["actualCost"], 0.01);
    assert_eq!(run["exitCode"], 0);
    assert_eq!(run["authMethod"], "api-key");
    assert_eq!(run["killRequested"], false);
    for key in [
        "createdAt",
        "startedAt",
        "endedAt",
        "outputLog",
        "baseCommit",
    ] {
        assert!(run[key].is_string(), "{key}: {run:#}");
    }
    for key in ["runner", "agent", "runnerPid", "agentPid"] {
        assert!(run.get(key).is_none(), "{key} should not be shown");
    }
    let repo_arg = bench.repo.display().to_string();
    assert_eq!(
        bench.ok_json(&["list", "--repo", &repo_arg, "--json"])["total"],
        1
    );
    let elsewhere = bench.env.repo("other");
    assert_eq!(
        bench.ok_json(&["list", "--repo", elsewhere.to_str().unwrap(), "--json"])["total"],
        0
    );
    assert_eq!(bench.ok_json(&["list", "--active", "--json"])["total"], 0);
    assert_eq!(
        bench.ok_json(&["status", "--json"]),
        json!({"runs": [], "total": 0})
    );

    let shown = bench.ok_json(&["status", "--session-id", &id[..8], "--json"]);
    let mut expected = run.clone();
    expected["agentAlive"] = json!(false);
    assert_eq!(shown, expected);

    let dest = bench.env.path().join("fetched");
    let downloaded = bench.ok_json(&[
        "download",
        "--session-id",
        id,
        "--output",
        dest.to_str().unwrap(),
        "--json",
    ]);
    let names = ["output.log", "result.json", "changes.patch"];
    assert_eq!(
        downloaded,
        json!({
            "sessionId": id,
            "status": "COMPLETED",
            "outputDir": dest.display().to_string(),
            "files": names.map(|n| dest.join(n).display().to_string()),
        })
    );
    for name in names {
        assert_eq!(
            std::fs::read(dest.join(name)).unwrap(),
            std::fs::read(bench.sandboxes_dir().join(id).join(name)).unwrap(),
            "{name}"
        );
    }
    let missing = bench.run(&["status", "--session-id", "abcd1234", "--json"]);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).starts_with("error: no sandbox run 'abcd1234'"));

    // The MCP tool, through the official client, sees the same run.
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let calls = json!([
        ["get_sandbox_status", {"sessionId": &id[..8]}],
        ["get_sandbox_status", {}],
        ["get_sandbox_status", {"sessionId": "abcd1234"}],
    ]);
    let output = bench
        .env
        .command(support::python())
        .arg(script)
        .arg("calls")
        .arg(support::bin("pcc-mcp"))
        .arg(calls.to_string())
        .current_dir(&bench.repo)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "MCP client failed (is the `mcp` package installed?): {}",
        text(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    let one = &seen["results"][0];
    assert_eq!(one["isError"], false);
    assert_eq!(one["structured"]["run"], expected);
    let all = &seen["results"][1]["structured"];
    assert_eq!(all["active"], 0);
    assert_eq!(all["total"], 1);
    assert_eq!(all["runs"][0], *run);
    let unknown = &seen["results"][2];
    assert_eq!(unknown["isError"], true);
    assert!(unknown["text"][0].as_str().unwrap().contains("abcd1234"));
}

#[test]
fn an_agent_installed_in_the_home_is_found_when_the_home_is_hidden() {
    let mut bench = Bench::new(&[("README.md", "hello\n")]);
    // Where installers put it: ~/.local/bin. Confinement hides the home,
    // but not the agent's own directory.
    let home_bin = bench.env.home.join(".local/bin");
    std::fs::create_dir_all(&home_bin).unwrap();
    std::fs::rename(bench.bin.join("claude"), home_bin.join("claude")).unwrap();
    bench.bin = home_bin;

    let result = bench.ok_json(&[
        "run",
        "--prompt",
        "list-files",
        "--branch",
        "from-home",
        "--json",
    ]);
    assert_eq!(result["status"], "COMPLETED", "{result:#}");
    let files = bench.show_text("from-home", "files.txt");
    assert_eq!(lines_of(&files), ["README.md"], "{files}");
}

#[test]
fn an_agent_in_a_python_virtual_environment_in_the_home_runs_when_the_home_is_hidden() {
    let mut bench = Bench::new(&[("README.md", "hello\n")]);
    // As pipx and `uv tool` install a Python agent (Aider): a virtual
    // environment in the home holding its code, its command linked from
    // ~/.local/bin. Confinement hides the home, but not the environment.
    let venv = bench.env.home.join(".local/share/uv/tools/standin");
    let made = Command::new(python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let site = Command::new(venv.join("bin/python3"))
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()
        .unwrap();
    let site = PathBuf::from(String::from_utf8(site.stdout).unwrap().trim());
    std::fs::write(site.join("standin_agent.py"), STAND_IN).unwrap();
    std::fs::remove_file(bench.bin.join("claude")).unwrap();
    let script = venv.join("bin/claude");
    std::fs::write(
        &script,
        format!(
            "#!{}\nimport standin_agent\n",
            venv.join("bin/python3").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home_bin = bench.env.home.join(".local/bin");
    std::fs::create_dir_all(&home_bin).unwrap();
    std::os::unix::fs::symlink(&script, home_bin.join("claude")).unwrap();
    bench.bin = home_bin;

    let result = bench.ok_json(&[
        "run",
        "--prompt",
        "list-files",
        "--branch",
        "from-venv",
        "--json",
    ]);
    assert_eq!(result["status"], "COMPLETED", "{result:#}");
    let files = bench.show_text("from-venv", "files.txt");
    assert_eq!(lines_of(&files), ["README.md"], "{files}");
}
