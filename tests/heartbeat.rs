//! `git pcc heartbeat`: which session a heartbeat lands on (by id, by
//! `$PARALLEL_CC_SESSION_ID`, by PID, by registered ancestor process, by the
//! hook's `cwd`), and the hook mode that never prints and never fails.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::{json, Value};
use support::{LiveProcess, Sessions, TestEnv};

const OLD: &str = "2000-01-01 00:00:00";

fn main_and_worktree() -> Sessions {
    support::main_and_worktree(
        "api",
        &[("README.md", "api\n"), ("src/server.rs", "fn serve() {}\n")],
    )
}

fn age_all(env: &TestEnv) {
    let changed = env
        .db()
        .execute("UPDATE sessions SET last_heartbeat = ?1", [OLD])
        .unwrap();
    assert!(changed > 0);
}

fn heartbeat_of(env: &TestEnv, id: &str) -> String {
    env.db()
        .query_row(
            "SELECT last_heartbeat FROM sessions WHERE id = ?1",
            [id],
            |row| row.get(0),
        )
        .unwrap()
}

/// Asserts that `id`'s heartbeat moved from the old value to about now, and
/// that the JSON reported it.
fn assert_fresh(env: &TestEnv, id: &str, beat: &Value) {
    let stored = heartbeat_of(env, id);
    assert_ne!(stored, OLD);
    assert_eq!(beat["lastHeartbeat"], stored.as_str());
    let age: f64 = env
        .db()
        .query_row(
            "SELECT (julianday('now') - julianday(?1)) * 86400.0",
            [&stored],
            |row| row.get(0),
        )
        .unwrap();
    assert!((-1.0..60.0).contains(&age), "{stored} is {age}s old");
}

/// `git pcc heartbeat --json` with extra arguments, run from the temporary
/// root (not inside any session's checkout).
fn beat(env: &TestEnv, args: &[&str], session_env: Option<&str>) -> (Output, Value) {
    let mut command = env.pcc("git-pcc");
    command
        .args(["heartbeat", "--json"])
        .args(args)
        .current_dir(env.path());
    if let Some(id) = session_env {
        command.env("PARALLEL_CC_SESSION_ID", id);
    }
    env.json(&mut command)
}

fn beat_ok(env: &TestEnv, args: &[&str], session_env: Option<&str>) -> Value {
    let (output, value) = beat(env, args, session_env);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stderr.is_empty());
    value
}

use support::with_stdin;

fn hook(env: &TestEnv, cwd: &Path, input: &[u8]) -> Output {
    let mut command = env.pcc("git-pcc");
    command.args(["heartbeat", "--hook"]).current_dir(cwd);
    with_stdin(command, input)
}

fn post_tool_use(cwd: &Path) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "session_id": "x",
        "transcript_path": "/tmp/t",
        "cwd": cwd,
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {},
        "tool_response": {}
    }))
    .unwrap()
}

fn assert_silent_success(output: &Output, what: &str) {
    assert_eq!(output.status.code(), Some(0), "{what}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "", "{what}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{what}");
}

#[test]
fn by_pid_only_that_session_moves() {
    let s = main_and_worktree();
    let env = &s.env;
    age_all(env);
    let value = beat_ok(env, &["--pid", &s.agent.pid().to_string()], None);
    assert_eq!(value["sessionId"], s.agent_id.as_str());
    assert_eq!(value["pid"], s.agent.pid());
    assert_eq!(value["matchedBy"], "pid");
    assert_fresh(env, &s.agent_id, &value);
    assert_eq!(heartbeat_of(env, &s.main_id), OLD);

    age_all(env);
    let value = beat_ok(env, &["--pid", &s.main.pid().to_string()], None);
    assert_eq!(value["sessionId"], s.main_id.as_str());
    assert_fresh(env, &s.main_id, &value);
    assert_eq!(heartbeat_of(env, &s.agent_id), OLD);
}

#[test]
fn by_session_id() {
    let s = main_and_worktree();
    let env = &s.env;
    age_all(env);
    let value = beat_ok(env, &["--session-id", &s.agent_id], None);
    assert_eq!(value["sessionId"], s.agent_id.as_str());
    assert_eq!(value["pid"], s.agent.pid());
    assert_eq!(value["matchedBy"], "session-id");
    assert_fresh(env, &s.agent_id, &value);
    assert_eq!(heartbeat_of(env, &s.main_id), OLD);

    // --session-id comes before --pid.
    age_all(env);
    let value = beat_ok(
        env,
        &[
            "--session-id",
            &s.main_id,
            "--pid",
            &s.agent.pid().to_string(),
        ],
        None,
    );
    assert_eq!(value["sessionId"], s.main_id.as_str());
    assert_eq!(value["matchedBy"], "session-id");
    assert_eq!(heartbeat_of(env, &s.agent_id), OLD);
}

#[test]
fn by_the_session_id_in_the_environment() {
    let s = main_and_worktree();
    let env = &s.env;
    age_all(env);
    let value = beat_ok(env, &[], Some(&s.agent_id));
    assert_eq!(value["sessionId"], s.agent_id.as_str());
    assert_eq!(value["matchedBy"], "environment");
    assert_fresh(env, &s.agent_id, &value);
    assert_eq!(heartbeat_of(env, &s.main_id), OLD);

    // The environment comes before --pid ...
    age_all(env);
    let value = beat_ok(
        env,
        &["--pid", &s.agent.pid().to_string()],
        Some(&s.main_id),
    );
    assert_eq!(value["sessionId"], s.main_id.as_str());
    assert_eq!(value["matchedBy"], "environment");
    assert_eq!(heartbeat_of(env, &s.agent_id), OLD);

    // ... but an id that matches nothing there falls through to --pid.
    age_all(env);
    let value = beat_ok(
        env,
        &["--pid", &s.agent.pid().to_string()],
        Some("no-such-session"),
    );
    assert_eq!(value["sessionId"], s.agent_id.as_str());
    assert_eq!(value["matchedBy"], "pid");
    assert_eq!(heartbeat_of(env, &s.main_id), OLD);
}

#[test]
fn by_the_nearest_registered_ancestor() {
    let s = main_and_worktree();
    let env = &s.env;
    let out = env.path().join("beat.json");
    // The shell waits for a line on stdin, then runs the heartbeat as its
    // child; the trailing `exit` keeps bash from exec'ing the heartbeat.
    let script = format!(
        "read -r _; git-pcc heartbeat --json > '{}'; code=$?; exit $code",
        out.display()
    );
    let mut shell = env.command("bash");
    shell
        .args(["-c", &script])
        .current_dir(env.path())
        .stdin(Stdio::piped());
    let mut shell = shell.spawn().unwrap();
    let shell_id = env.register(&s.repo, shell.id())["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    age_all(env);

    shell.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(shell.wait().unwrap().success());
    let value: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(value["sessionId"], shell_id.as_str());
    assert_eq!(value["pid"], shell.id());
    assert_eq!(value["matchedBy"], "ancestor");
    assert_fresh(env, &shell_id, &value);
    assert_eq!(heartbeat_of(env, &s.main_id), OLD);
    assert_eq!(heartbeat_of(env, &s.agent_id), OLD);
}

#[test]
fn without_flags_inside_a_worktree_by_the_working_directory() {
    let s = main_and_worktree();
    let env = &s.env;
    age_all(env);
    let (output, value) = env.json(
        env.pcc("git-pcc")
            .args(["heartbeat", "--json"])
            .current_dir(s.worktree.join("src")),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(value["sessionId"], s.agent_id.as_str());
    assert_eq!(value["matchedBy"], "cwd");
    assert_fresh(env, &s.agent_id, &value);
    assert_eq!(heartbeat_of(env, &s.main_id), OLD);
}

#[test]
fn the_hook_matches_the_payload_cwd() {
    let s = main_and_worktree();
    let env = &s.env;

    // The worktree itself.
    age_all(env);
    let output = hook(env, &env.path(), &post_tool_use(&s.worktree));
    assert_silent_success(&output, "worktree cwd");
    assert_ne!(heartbeat_of(env, &s.agent_id), OLD);
    assert_eq!(heartbeat_of(env, &s.main_id), OLD);

    // A directory inside the main checkout: the main session, even though
    // the hook process itself runs elsewhere.
    age_all(env);
    let output = hook(env, &s.worktree, &post_tool_use(&s.repo.join("src")));
    assert_silent_success(&output, "main checkout cwd");
    assert_ne!(heartbeat_of(env, &s.main_id), OLD);
    assert_eq!(heartbeat_of(env, &s.agent_id), OLD);
}

#[test]
fn the_hook_is_silent_and_creates_nothing_without_a_data_dir() {
    let env = TestEnv::new();
    let somewhere = env.path();
    let inputs: [(&str, Vec<u8>); 4] = [
        ("garbage", b"{\"cwd\": oops".to_vec()),
        ("binary", vec![0xff, 0x00, 0xfe, b'\n']),
        ("empty", Vec::new()),
        ("unknown session", post_tool_use(&somewhere)),
    ];
    for (what, input) in &inputs {
        let output = hook(&env, &somewhere, input);
        assert_silent_success(&output, what);
        assert!(!env.data_dir.exists(), "{what}: data dir created");
    }

    // A data dir without a database: still no database afterwards.
    std::fs::create_dir_all(&env.data_dir).unwrap();
    for (what, input) in &inputs {
        let output = hook(&env, &somewhere, input);
        assert_silent_success(&output, what);
        assert_eq!(
            support::list_dir(&env.data_dir),
            Vec::<String>::new(),
            "{what}"
        );
    }
}

#[test]
fn the_hook_is_silent_for_garbage_and_unknown_sessions_with_a_database() {
    let s = main_and_worktree();
    let env = &s.env;
    // A sibling whose name starts like the repository's is not inside it.
    let sibling = env.path().join("api2");
    std::fs::create_dir_all(&sibling).unwrap();
    age_all(env);

    let cases: [(&str, Vec<u8>, Option<&str>); 4] = [
        ("garbage", b"not json {".to_vec(), None),
        ("unknown cwd", post_tool_use(&sibling), None),
        (
            "unknown id in the environment",
            post_tool_use(&sibling),
            Some("no-such-session"),
        ),
        ("cwd of a non-string type", br#"{"cwd": 42}"#.to_vec(), None),
    ];
    for (what, input, session_env) in cases {
        let mut command = env.pcc("git-pcc");
        command.args(["heartbeat", "--hook"]).current_dir(&sibling);
        if let Some(id) = session_env {
            command.env("PARALLEL_CC_SESSION_ID", id);
        }
        let output = with_stdin(command, &input);
        assert_silent_success(&output, what);
        assert_eq!(heartbeat_of(env, &s.main_id), OLD, "{what}");
        assert_eq!(heartbeat_of(env, &s.agent_id), OLD, "{what}");
    }

    // An unknown --session-id is silent too.
    let mut command = env.pcc("git-pcc");
    command
        .args(["heartbeat", "--hook", "--session-id", "no-such-session"])
        .current_dir(&s.worktree);
    let output = with_stdin(command, &post_tool_use(&s.worktree));
    assert_silent_success(&output, "unknown --session-id");
    assert_eq!(heartbeat_of(env, &s.agent_id), OLD);
}

#[test]
fn without_a_matching_session_a_heartbeat_is_an_error() {
    let s = main_and_worktree();
    let env = &s.env;
    let mut gone = LiveProcess::spawn();
    let dead = gone.pid().to_string();
    gone.kill();
    age_all(env);

    for (args, session_env) in [
        (vec!["--pid", dead.as_str()], None),
        (vec!["--session-id", "no-such-session"], None),
        (vec![], Some("no-such-session")),
        (vec![], None),
    ] {
        let (output, value) = beat(env, &args, session_env);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: no session found for this heartbeat"),
            "{stderr}"
        );
        assert_eq!(
            value,
            json!({"success": false, "error": "no session found for this heartbeat"})
        );
    }
    assert_eq!(heartbeat_of(env, &s.main_id), OLD);
    assert_eq!(heartbeat_of(env, &s.agent_id), OLD);

    // With no database at all: the same error, and no database is made.
    let empty = TestEnv::new();
    let output = empty
        .pcc("git-pcc")
        .args(["heartbeat", "--pid", &dead])
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: no session found"), "{stderr}");
    assert!(!empty.data_dir.exists());
}

/// A process holding the database's write lock for five seconds (a hook
/// that waited for it, as one did with a 15 s busy timeout, would see it
/// end) or until it is killed.
struct WriteLock(std::process::Child);

impl WriteLock {
    fn hold(env: &TestEnv) -> WriteLock {
        let script = "import sqlite3, sys, time\n\
                      c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                      c.execute('BEGIN IMMEDIATE')\n\
                      print('locked', flush=True)\n\
                      time.sleep(5)\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(env.data_dir.join("coordinator.db"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line, "locked\n");
        WriteLock(child)
    }

    fn still_held(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_heartbeat_hook_skips_its_beat_while_another_process_holds_the_write_lock() {
    let s = main_and_worktree();
    let env = &s.env;
    age_all(env);
    let mut lock = WriteLock::hold(env);
    let payload = json!({"session_id": "c", "cwd": s.worktree, "hook_event_name": "PostToolUse"});
    let mut command = env.pcc("git-pcc");
    command
        .args(["heartbeat", "--hook"])
        .env("PARALLEL_CC_SESSION_ID", &s.agent_id);
    let output = support::with_stdin(command, payload.to_string().as_bytes());
    // It came back, silent and successful, while the lock was still held:
    // it gave up on the beat instead of waiting for the writer.
    assert!(lock.still_held());
    assert!(output.status.success());
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
    drop(lock);
    assert_eq!(heartbeat_of(env, &s.agent_id), OLD);
    // The skipped beat is on record, for whoever wonders why.
    let log = std::fs::read_to_string(env.data_dir.join("logs/hooks.log")).unwrap();
    assert!(
        log.contains("PostToolUse: heartbeat skipped") && log.contains("locked"),
        "{log}"
    );

    let mut command = env.pcc("git-pcc");
    command
        .args(["heartbeat", "--hook"])
        .env("PARALLEL_CC_SESSION_ID", &s.agent_id);
    let output = support::with_stdin(command, payload.to_string().as_bytes());
    assert!(output.status.success());
    assert_ne!(heartbeat_of(env, &s.agent_id), OLD);
}
