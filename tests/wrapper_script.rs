//! `scripts/claude-parallel` with a stand-in `claude`: a script on PATH that
//! records its working directory, PID, session id and arguments, then exits
//! with a chosen code or waits until it is signalled.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::wrapper;
use support::TestEnv;

const STAND_IN: &str = r#"#!/usr/bin/env bash
record="$STAND_IN_RECORD.$$"
{
  echo "pwd=$PWD"
  echo "pid=$$"
  echo "session=$PARALLEL_CC_SESSION_ID"
  for arg in "$@"; do echo "arg=${arg//$'\n'/\\n}"; done
} > "$record.tmp"
mv "$record.tmp" "$record"
trap 'echo signal=TERM >> "$record"; exit 143' TERM
trap 'echo signal=INT >> "$record"; exit 130' INT
if [ "${STAND_IN_MODE:-exit}" = wait ]; then
  # Bounded, so a failed test leaves no process behind for long.
  for _ in $(seq 600); do sleep 0.05; done
fi
exit "${STAND_IN_EXIT:-0}"
"#;

struct World {
    env: TestEnv,
    repo: PathBuf,
    stand_in_dir: PathBuf,
    records: PathBuf,
}

fn world() -> World {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let stand_in_dir = env.path().join("stand-in-bin");
    std::fs::create_dir_all(&stand_in_dir).unwrap();
    let claude = stand_in_dir.join("claude");
    std::fs::write(&claude, STAND_IN).unwrap();
    let mut permissions = std::fs::metadata(&claude).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&claude, permissions).unwrap();
    let records = env.path().join("records");
    std::fs::create_dir_all(&records).unwrap();
    World {
        env,
        repo,
        stand_in_dir,
        records,
    }
}

impl World {
    fn wrapper(&self, name: &str, mode: &str) -> Command {
        let mut command = self.env.command("bash");
        command
            .arg(wrapper())
            .current_dir(&self.repo)
            .env(
                "PATH",
                format!("{}:{}", self.stand_in_dir.display(), self.env.path_var()),
            )
            .env("STAND_IN_RECORD", self.records.join(name))
            .env("STAND_IN_MODE", mode)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Waits for the stand-in started under `name` to record itself.
    fn record(&self, name: &str) -> Record {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = support::list_dir(&self.records)
                .into_iter()
                .find(|n| n.starts_with(&format!("{name}.")) && !n.ends_with(".tmp"));
            if let Some(file) = found {
                return Record::read(&self.records.join(file));
            }
            assert!(Instant::now() < deadline, "stand-in {name} never started");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Record {
    path: PathBuf,
    pwd: String,
    pid: i32,
    session: String,
    args: Vec<String>,
}

impl Record {
    fn read(path: &Path) -> Record {
        let text = std::fs::read_to_string(path).unwrap();
        let field = |key: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.strip_prefix(&format!("{key}=")))
                .map(str::to_owned)
                .collect()
        };
        Record {
            path: path.to_path_buf(),
            pwd: field("pwd")[0].clone(),
            pid: field("pid")[0].parse().unwrap(),
            session: field("session")[0].clone(),
            args: field("arg"),
        }
    }

    fn signals(&self) -> Vec<String> {
        std::fs::read_to_string(&self.path)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("signal="))
            .map(str::to_owned)
            .collect()
    }
}

fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn wait_with_timeout(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "wrapper did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn session_ids(env: &TestEnv) -> Vec<String> {
    env.status()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn first_runs_in_the_main_checkout_second_in_a_worktree_both_released() {
    let w = world();
    let mut first = w.wrapper("first", "wait").spawn().unwrap();
    let first_record = w.record("first");
    assert_eq!(first_record.pwd, w.repo.to_str().unwrap());
    let status = w.env.status();
    assert_eq!(
        status["sessions"][0]["sessionId"],
        first_record.session.as_str()
    );
    assert_eq!(status["sessions"][0]["isMainRepo"], true);
    assert_eq!(status["sessions"][0]["pid"], first.id());

    let tricky = [
        "two words",
        "it's \"quoted\"",
        "$(touch pwned)",
        "`id`",
        "new\nline",
    ];
    let mut second = w.wrapper("second", "exit");
    second.env("STAND_IN_EXIT", "3").args(tricky);
    let output = second.output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "the wrapper exits with claude's code"
    );
    let second_record = w.record("second");
    assert!(
        second_record
            .pwd
            .starts_with(w.env.path().join("app-worktrees").to_str().unwrap()),
        "{}",
        second_record.pwd
    );
    assert_ne!(second_record.session, first_record.session);
    // The stand-in records newlines inside an argument as `\n`.
    assert_eq!(
        second_record.args,
        [
            "two words",
            "it's \"quoted\"",
            "$(touch pwned)",
            "`id`",
            "new\\nline"
        ]
    );
    assert!(!w.repo.join("pwned").exists());
    assert!(
        !PathBuf::from(&second_record.pwd).exists(),
        "the clean worktree is removed when claude ends"
    );
    assert_eq!(session_ids(&w.env), vec![first_record.session.clone()]);

    // SIGTERM to the first wrapper reaches claude; the session is released.
    unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
    let status = wait_with_timeout(&mut first);
    assert_eq!(status.code(), Some(143));
    assert_eq!(first_record.signals(), ["TERM"]);
    assert!(!process_exists(first_record.pid));
    assert!(session_ids(&w.env).is_empty());
}

#[test]
fn sigint_to_the_wrapper_ends_claude_and_releases() {
    let w = world();
    let mut holder = w.wrapper("holder", "wait").spawn().unwrap();
    w.record("holder");
    let mut agent = w.wrapper("agent", "wait").spawn().unwrap();
    let record = w.record("agent");
    assert_eq!(session_ids(&w.env).len(), 2);
    unsafe { libc::kill(agent.id() as i32, libc::SIGINT) };
    let status = wait_with_timeout(&mut agent);
    assert_eq!(status.code(), Some(130));
    assert_eq!(record.signals(), ["INT"]);
    assert!(!process_exists(record.pid));
    assert!(!Path::new(&record.pwd).exists());
    assert_eq!(session_ids(&w.env).len(), 1);
    unsafe { libc::kill(holder.id() as i32, libc::SIGTERM) };
    wait_with_timeout(&mut holder);
    assert!(session_ids(&w.env).is_empty());
}

#[test]
fn a_worktree_with_work_is_kept_when_claude_ends() {
    let w = world();
    let mut holder = w.wrapper("holder", "wait").spawn().unwrap();
    w.record("holder");
    let mut agent = w.wrapper("agent", "wait").spawn().unwrap();
    let record = w.record("agent");
    std::fs::write(Path::new(&record.pwd).join("work.txt"), "precious\n").unwrap();
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    wait_with_timeout(&mut agent);
    let stderr = {
        let mut text = String::new();
        std::io::Read::read_to_string(agent.stderr.as_mut().unwrap(), &mut text).unwrap();
        text
    };
    assert!(stderr.contains("kept worktree"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(Path::new(&record.pwd).join("work.txt")).unwrap(),
        "precious\n"
    );
    let status = w.env.status();
    assert_eq!(status["totalSessions"], 1);
    assert_eq!(
        status["keptWorktrees"][0]["worktreePath"],
        record.pwd.as_str()
    );
    unsafe { libc::kill(holder.id() as i32, libc::SIGTERM) };
    wait_with_timeout(&mut holder);
}

#[test]
fn without_parallel_cc_or_outside_a_repository_claude_still_runs() {
    let w = world();
    let mut bare_path = w.wrapper("uninstalled", "exit");
    bare_path
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", w.stand_in_dir.display()),
        )
        .arg("--print");
    let output = bare_path.output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("parallel-cc is not installed"), "{stderr}");
    let record = w.record("uninstalled");
    assert_eq!(record.args, ["--print"]);
    assert_eq!(record.session, "");

    let outside = w.env.path().join("not-a-repo");
    std::fs::create_dir_all(&outside).unwrap();
    let mut elsewhere = w.wrapper("outside", "exit");
    elsewhere.current_dir(&outside);
    let output = elsewhere.output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let record = w.record("outside");
    assert_eq!(record.pwd, outside.to_str().unwrap());
    assert_eq!(w.env.session_rows(), 0);
}

/// Waits until `status` shows the session's agent process recorded.
fn wait_for_agent_pid(env: &TestEnv, session_id: &str, pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = env.status();
        let recorded = status["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["sessionId"] == session_id && s["agentPid"] == pid);
        if recorded {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the agent's PID was never recorded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cleanup_in(env: &TestEnv, repo: &Path) -> serde_json::Value {
    let (output, report) = env.json(
        env.pcc("git-pcc")
            .current_dir(repo)
            .args(["cleanup", "--json"]),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    report
}

#[test]
fn a_session_lives_as_long_as_its_agent_when_the_wrapper_is_killed() {
    let w = world();
    let mut holder = w.wrapper("holder", "wait").spawn().unwrap();
    w.record("holder");
    let mut wrapper = w.wrapper("agent", "wait").spawn().unwrap();
    let record = w.record("agent");
    wait_for_agent_pid(&w.env, &record.session, record.pid);
    let worktree = PathBuf::from(&record.pwd);

    // SIGKILL: the wrapper cannot release anything, and its PID is gone.
    wrapper.kill().unwrap();
    wrapper.wait().unwrap();
    assert!(process_exists(record.pid), "claude still runs");
    let session = |env: &TestEnv| {
        env.status()["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sessionId"] == record.session.as_str())
            .cloned()
    };
    assert_eq!(session(&w.env).unwrap()["isAlive"], true);

    // Neither a new register nor a cleanup takes the running agent's
    // worktree away.
    let newcomer = support::LiveProcess::spawn();
    let registered = w.env.register(&w.repo, newcomer.pid());
    assert_eq!(registered["cleanedSessions"], serde_json::json!([]));
    let report = cleanup_in(&w.env, &w.repo);
    assert_eq!(report["removedSessions"], serde_json::json!([]));
    assert!(worktree.join("README.md").is_file());
    assert!(session(&w.env).is_some());

    // Once the agent ends too, the session is stale and goes.
    unsafe { libc::kill(record.pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(15);
    while process_exists(record.pid) {
        assert!(Instant::now() < deadline, "the stand-in did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = cleanup_in(&w.env, &w.repo);
    assert_eq!(
        report["removedSessions"][0]["sessionId"],
        record.session.as_str()
    );
    assert!(!worktree.exists());
    assert!(session(&w.env).is_none());
    unsafe { libc::kill(holder.id() as i32, libc::SIGTERM) };
    wait_with_timeout(&mut holder);
}

#[test]
fn in_a_worktree_the_user_made_the_session_works_there_and_leaves_it() {
    let w = world();
    let mine = w.env.path().join("mine");
    w.env.git(
        &w.repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "mine",
            mine.to_str().unwrap(),
        ],
    );
    // Another session already works in the main checkout.
    let mut holder = w.wrapper("holder", "wait").spawn().unwrap();
    w.record("holder");

    let mut agent = w.wrapper("mine", "wait");
    agent.current_dir(&mine);
    let mut agent = agent.spawn().unwrap();
    let record = w.record("mine");
    assert_eq!(record.pwd, mine.to_str().unwrap());
    let status = w.env.status();
    let row = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sessionId"] == record.session.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["isMainRepo"], false);
    assert_eq!(row["worktreePath"], mine.to_str().unwrap());
    assert_eq!(row["branch"], "mine");
    assert_eq!(row["ownsWorktree"], false);

    // A clean worktree of the user's stays when the session ends.
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    wait_with_timeout(&mut agent);
    assert!(mine.join("README.md").is_file());
    assert!(w
        .env
        .git(&w.repo, &["worktree", "list"])
        .contains(mine.to_str().unwrap()));
    assert_eq!(
        w.env
            .git(
                &w.repo,
                &["branch", "--list", "--format=%(refname:short)", "mine"]
            )
            .trim(),
        "mine"
    );
    assert_eq!(w.env.status()["totalSessions"], 1);
    assert_eq!(w.env.status()["keptWorktrees"], serde_json::json!([]));
    unsafe { libc::kill(holder.id() as i32, libc::SIGTERM) };
    wait_with_timeout(&mut holder);
}

/// A stand-in for Aider's notifications: it runs its notifications command
/// as Aider does when it waits for its user (through a shell, with its own
/// stdin, here a pipe the test keeps open), then records the status.
const AIDER_STAND_IN: &str = r#"#!/usr/bin/env bash
[ "$AIDER_NOTIFICATIONS" = true ] || { echo "notifications off" > "$STAND_IN_RECORD.status"; exit 1; }
sh -c "$AIDER_NOTIFICATIONS_COMMAND"
git-pcc status --json > "$STAND_IN_RECORD.tmp"
mv "$STAND_IN_RECORD.tmp" "$STAND_IN_RECORD.status"
"#;

#[test]
fn an_aider_session_turns_idle_when_aider_waits_for_its_user() {
    let w = world();
    let aider = w.stand_in_dir.join("aider");
    std::fs::write(&aider, AIDER_STAND_IN).unwrap();
    let mut permissions = std::fs::metadata(&aider).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&aider, permissions).unwrap();

    let mut child = w
        .wrapper("aider", "exit")
        .args(["--agent", "aider"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let _held_open = child.stdin.take();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the wrapped stand-in hung");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    let text = std::fs::read_to_string(w.records.join("aider.status")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sessions = report["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{report}");
    assert_eq!(sessions[0]["agent"], "aider", "{report}");
    assert_eq!(sessions[0]["state"], "idle", "{report}");
}
