//! Session states end to end: the real Claude Code CLI runs interactively
//! in a terminal (tmux), against the scripted model server, with the hooks
//! `git pcc install --hooks` configured and `--permission-mode default`, so
//! that the scripted Bash call raises a real permission prompt. One session
//! walks through idle, working, waiting for the permission, working again
//! and idle; `status`, `status --json` and MCP `get_parallel_status` are
//! checked at each step.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::claude::{claude_bin, path_with_claude, ModelServer};
use support::terminal::{has_tmux, Terminal};
use support::{LiveProcess, TestEnv};

/// The key the model server's clients send (see `ModelServer::configure`).
const API_KEY: &str = "sk-test-not-a-real-key";
const FINAL: &str = "Created the file as asked.\nNothing else changed.";

/// `~/.claude.json` that skips the first-run dialogs for `project`.
fn claude_json(env: &TestEnv, project: &Path) {
    let approved = &API_KEY[API_KEY.len() - 20..];
    let mut projects = serde_json::Map::new();
    projects.insert(
        project.to_str().unwrap().to_owned(),
        json!({"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true}),
    );
    let config = json!({
        "hasCompletedOnboarding": true,
        "customApiKeyResponses": {"approved": [approved], "rejected": []},
        "projects": projects,
    });
    std::fs::write(env.home.join(".claude.json"), config.to_string()).unwrap();
}

/// Starts Claude Code in `cwd` in a new tmux server, as the agent of
/// `session_id`.
fn start_claude(env: &TestEnv, server: &ModelServer, cwd: &Path, session_id: &str) -> Terminal {
    let program = [
        claude_bin().into_os_string(),
        "--permission-mode".into(),
        "default".into(),
    ];
    // The tmux server starts with this environment, and the agent gets it.
    Terminal::start("states", (200, 50), cwd, program, |command| {
        env.apply_env(command);
        server.configure(command);
        command
            .env("PATH", path_with_claude(env))
            .env("PARALLEL_CC_SESSION_ID", session_id);
    })
}

/// What `status --json`, MCP `get_parallel_status` and the human `status`
/// line show of the agent's session.
struct Seen {
    json: Value,
    line: String,
}

const FIELDS: [&str; 4] = ["state", "waitingFor", "lastMessage", "changedFiles"];

/// The session as `status --json` shows it, checked against MCP
/// `get_parallel_status` read between two equal `status` reads (the state
/// moves while the agent works).
fn look(env: &TestEnv, repo: &Path, other_id: &str, session_id: &str) -> Seen {
    let find = |report: &Value| -> Value {
        report["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sessionId"] == session_id)
            .cloned()
            .unwrap_or_else(|| panic!("no session {session_id} in {report}"))
    };
    let same = |a: &Value, b: &Value| FIELDS.iter().all(|field| a[field] == b[field]);
    let json = loop {
        let before = find(&env.status());
        let result = support::mcp_call(env, other_id, "get_parallel_status", json!({}));
        let mcp = find(&result["structuredContent"]);
        let after = find(&env.status());
        if same(&before, &after) {
            assert!(same(&before, &mcp), "status {before} / MCP {mcp}");
            break after;
        }
    };
    let output = env
        .pcc("git-pcc")
        .arg("status")
        .current_dir(repo)
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let worktree = json["worktreePath"].as_str().unwrap().to_owned();
    let line = text
        .lines()
        .find(|line| line.contains(&worktree))
        .unwrap_or_else(|| panic!("no line for {worktree}: {text}"))
        .to_owned();
    Seen { json, line }
}

/// Polls until `done` holds of what is seen, failing with the screen and
/// the hook log after `seconds`.
fn wait_until(
    what: &str,
    seconds: u64,
    terminal: &Terminal,
    env: &TestEnv,
    mut see: impl FnMut() -> Seen,
    done: impl Fn(&Seen) -> bool,
) -> Seen {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let seen = see();
        if done(&seen) {
            return seen;
        }
        if Instant::now() > deadline {
            let log =
                std::fs::read_to_string(env.data_dir.join("logs/hooks.log")).unwrap_or_default();
            panic!(
                "{what} not seen within {seconds} s; last: {} / {}\nscreen:\n{}\nhooks.log:\n{log}",
                seen.json,
                seen.line,
                terminal.screen()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_interactive_session_is_working_then_waiting_then_working_then_idle() {
    assert!(
        has_tmux(),
        "this test needs tmux (scripts/test.sh installs it)"
    );
    let env = TestEnv::new();
    let repo = env.repo("app");
    let output = env
        .pcc("git-pcc")
        .args(["install", "--hooks", "--global"])
        .output()
        .unwrap();
    assert!(output.status.success());
    // Another session in the main checkout; the agent gets a worktree.
    let main = LiveProcess::spawn();
    let main_id = env.register(&repo, main.pid())["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let holder = LiveProcess::spawn();
    let registered = env.register(&repo, holder.pid());
    let id = registered["sessionId"].as_str().unwrap().to_owned();
    let worktree = PathBuf::from(registered["worktreePath"].as_str().unwrap());
    claude_json(&env, &worktree);
    // Each answer waits 4 s, long enough to see the agent working.
    let server = ModelServer::start_script(
        &env,
        json!({"commands": ["touch made-by-agent.txt"], "final": FINAL, "delay": 4}),
    );
    let terminal = start_claude(&env, &server, &worktree, &id);
    let see = || look(&env, &repo, &main_id, &id);

    // SessionStart: idle at the prompt.
    wait_until("idle at start", 60, &terminal, &env, see, |s| {
        s.json["state"] == "idle"
    });
    wait_until("the prompt", 30, &terminal, &env, see, |_| {
        terminal.screen().contains("for shortcuts")
    });
    terminal.keys(&["-l", "make the file"]);
    terminal.keys(&["Enter"]);

    let working = wait_until("working", 30, &terminal, &env, see, |s| {
        s.json["state"] == "working"
    });
    assert_eq!(working.json["waitingFor"], Value::Null);
    assert!(working.line.contains(" working "), "{}", working.line);

    let waiting = wait_until("waiting for permission", 60, &terminal, &env, see, |s| {
        s.json["state"] == "waiting"
    });
    assert_eq!(
        waiting.json["waitingFor"], "permission: Bash",
        "{}",
        waiting.json
    );
    assert!(
        waiting.line.contains("waiting 0m: permission Bash"),
        "{}",
        waiting.line
    );
    assert!(
        !worktree.join("made-by-agent.txt").exists(),
        "the command waits for the permission"
    );
    // Give the Notification of the prompt time to fire: it must not take
    // away what the session waits for.
    std::thread::sleep(Duration::from_secs(2));
    let still = see();
    assert_eq!(still.json["state"], "waiting");
    assert_eq!(still.json["waitingFor"], "permission: Bash");

    terminal.keys(&["Enter"]);
    let again = wait_until("working after the answer", 30, &terminal, &env, see, |s| {
        s.json["state"] == "working"
    });
    assert_eq!(again.json["waitingFor"], Value::Null);
    assert!(worktree.join("made-by-agent.txt").exists());

    let idle = wait_until("idle after the turn", 60, &terminal, &env, see, |s| {
        s.json["state"] == "idle"
    });
    assert_eq!(idle.json["lastMessage"], "Created the file as asked.");
    assert_eq!(idle.json["changedFiles"], 1);
    assert!(idle.line.contains(" idle 0m "), "{}", idle.line);
    drop(terminal);
}
