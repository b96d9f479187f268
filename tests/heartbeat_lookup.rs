//! `git pcc heartbeat` finds its session by id, environment, PID, ancestor
//! process or working directory; as a hook it is silent whatever happens.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use support::{LiveProcess, TestEnv};

fn age_heartbeats(env: &TestEnv) {
    env.db()
        .execute(
            "UPDATE sessions SET last_heartbeat = '2000-01-01 00:00:00'",
            [],
        )
        .unwrap();
}

fn heartbeat_of(env: &TestEnv, session_id: &str) -> String {
    env.db()
        .query_row(
            "SELECT last_heartbeat FROM sessions WHERE id = ?1",
            [session_id],
            |r| r.get(0),
        )
        .unwrap()
}

fn run_with_stdin(mut command: Command, input: &[u8]) -> std::process::Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn hook_payload(cwd: &Path) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "session_id": "7f0c1a52-claude",
        "transcript_path": "/tmp/transcript.jsonl",
        "cwd": cwd,
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "ls"},
        "tool_response": {"stdout": "", "stderr": ""}
    }))
    .unwrap()
}

#[test]
fn finds_the_session_by_id_env_and_pid() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let agent = LiveProcess::spawn();
    let id = env.register(&repo, agent.pid())["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();

    for (args, env_id, matched_by) in [
        (vec!["--session-id", id.as_str()], None, "session-id"),
        (vec![], Some(id.as_str()), "environment"),
        (vec!["--pid", &agent.pid().to_string()], None, "pid"),
    ] {
        age_heartbeats(&env);
        let mut command = env.pcc("git-pcc");
        command
            .arg("heartbeat")
            .arg("--json")
            .args(&args)
            .current_dir(env.path());
        if let Some(value) = env_id {
            command.env("PARALLEL_CC_SESSION_ID", value);
        }
        let (output, beat) = env.json(&mut command);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(beat["sessionId"], id.as_str());
        assert_eq!(beat["matchedBy"], matched_by);
        assert_ne!(heartbeat_of(&env, &id), "2000-01-01 00:00:00");
    }
}

#[test]
fn finds_the_nearest_registered_ancestor() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let out = env.path().join("beat.json");
    let script = format!(
        "while [ ! -e {go} ]; do sleep 0.05; done; sh -c 'git-pcc heartbeat --json > {out}'",
        go = env.path().join("go").display(),
        out = out.display()
    );
    let mut agent = env.command("bash");
    agent.args(["-c", &script]).current_dir(env.path());
    let mut agent = agent.spawn().unwrap();
    let id = env.register(&repo, agent.id())["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    age_heartbeats(&env);
    std::fs::write(env.path().join("go"), "").unwrap();
    assert!(agent.wait().unwrap().success());
    let beat: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(beat["sessionId"], id.as_str());
    assert_eq!(beat["matchedBy"], "ancestor");
    assert_ne!(heartbeat_of(&env, &id), "2000-01-01 00:00:00");
}

#[test]
fn the_hook_finds_the_session_by_the_payload_cwd() {
    let env = TestEnv::new();
    let repo = env.repo_with("app", &[("src/main.rs", "fn main() {}\n")]);
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    let main_id = env.register(&repo, main.pid())["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let registration = env.register(&repo, agent.pid());
    let id = registration["sessionId"].as_str().unwrap().to_owned();
    let worktree = Path::new(registration["worktreePath"].as_str().unwrap()).to_path_buf();
    age_heartbeats(&env);

    let mut command = env.pcc("git-pcc");
    command
        .args(["heartbeat", "--hook"])
        .current_dir(env.path());
    let output = run_with_stdin(command, &hook_payload(&worktree.join("src")));
    assert!(output.status.success());
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
    assert_ne!(heartbeat_of(&env, &id), "2000-01-01 00:00:00");
    assert_eq!(
        heartbeat_of(&env, &main_id),
        "2000-01-01 00:00:00",
        "the main session is not the one in that cwd"
    );
}

#[test]
fn the_hook_is_silent_and_succeeds_whatever_happens() {
    let env = TestEnv::new();
    let elsewhere = env.path();
    // No data dir at all: nothing is created.
    for input in [
        b"not json at all {".to_vec(),
        hook_payload(&elsewhere),
        Vec::new(),
    ] {
        let mut command = env.pcc("git-pcc");
        command
            .args(["heartbeat", "--hook"])
            .current_dir(&elsewhere);
        let output = run_with_stdin(command, &input);
        assert_eq!(output.status.code(), Some(0));
        assert!(output.stdout.is_empty() && output.stderr.is_empty());
        assert!(!env.data_dir.exists());
    }
    // A database, but no session for this payload.
    let repo = env.repo("app");
    let agent = LiveProcess::spawn();
    env.register(&repo, agent.pid());
    age_heartbeats(&env);
    let mut command = env.pcc("git-pcc");
    command
        .args(["heartbeat", "--hook"])
        .current_dir(&elsewhere)
        .env("PARALLEL_CC_SESSION_ID", "no-such-session");
    let output = run_with_stdin(command, &hook_payload(&elsewhere));
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
    let untouched: i64 = env
        .db()
        .query_row(
            "SELECT COUNT(*) FROM sessions WHERE last_heartbeat = '2000-01-01 00:00:00'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(untouched, 1);
}

#[test]
fn without_a_session_a_person_gets_an_error() {
    let env = TestEnv::new();
    let output = env
        .pcc("git-pcc")
        .args(["heartbeat", "--pid", "999999999"])
        .current_dir(env.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: no session found"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
}
