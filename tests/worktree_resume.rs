//! Resuming a conversation re-enters its worktree: the `SessionStart` hook
//! records the agent's own conversation id (Claude Code's `session_id`),
//! a kept worktree remembers it, `status` shows it, and `register --resume
//! ID` / `--continue` (what `claude-parallel --resume` / `--continue` run)
//! register in that worktree again instead of making a new one.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::{LiveProcess, TestEnv};

fn session_start(env: &TestEnv, session_id: &str, conversation: &str, cwd: &Path) {
    let payload = json!({
        "session_id": conversation,
        "cwd": cwd,
        "hook_event_name": "SessionStart",
        "source": "startup",
    });
    let mut command = env.pcc("git-pcc");
    command
        .args(["hook", "session-start"])
        .current_dir(cwd)
        .env("PARALLEL_CC_SESSION_ID", session_id);
    let output = support::with_stdin(command, payload.to_string().as_bytes());
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
}

fn register(env: &TestEnv, repo: &Path, pid: u32, extra: &[&str]) -> (Value, String) {
    let output = env
        .pcc("git-pcc-register")
        .arg("--repo")
        .arg(repo)
        .args(["--pid", &pid.to_string(), "--json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        serde_json::from_slice(&output.stdout).unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn release(env: &TestEnv, pid: u32) -> Value {
    let output = env
        .pcc("git-pcc-release")
        .args(["--pid", &pid.to_string(), "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn resume_and_continue_re_enter_the_worktree_the_conversation_kept() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let main = LiveProcess::spawn();
    env.register(&repo, main.pid());

    let mut first = LiveProcess::spawn();
    let (value, _) = register(&env, &repo, first.pid(), &[]);
    let worktree = PathBuf::from(value["worktreePath"].as_str().unwrap());
    let session = value["sessionId"].as_str().unwrap().to_owned();
    session_start(&env, &session, "conv-1111", &worktree);
    let stored: String = env
        .db()
        .query_row(
            "SELECT conversation_id FROM sessions WHERE id = ?1",
            [&session],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, "conv-1111");
    std::fs::write(worktree.join("draft.txt"), "half done\n").unwrap();
    let released = release(&env, first.pid());
    assert_eq!(released["kept"]["conversationId"], "conv-1111");
    first.kill();

    let status = env.status();
    assert_eq!(status["keptWorktrees"][0]["conversationId"], "conv-1111");
    let human = env
        .pcc("git-pcc")
        .args(["status", "--repo"])
        .arg(&repo)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).contains("conv-1111"));

    // An unknown conversation: a new worktree, and one line saying why.
    let other = LiveProcess::spawn();
    let (value, stderr) = register(&env, &repo, other.pid(), &["--resume", "conv-9999"]);
    assert_ne!(value["worktreePath"], worktree.to_str().unwrap());
    assert_eq!(value["resumed"], Value::Null);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no worktree of conversation conv-9999"),
        "{stderr}"
    );

    let again = LiveProcess::spawn();
    let (value, stderr) = register(&env, &repo, again.pid(), &["--resume", "conv-1111"]);
    assert_eq!(stderr, "");
    assert_eq!(value["worktreePath"], worktree.to_str().unwrap());
    assert_eq!(value["resumed"], "conv-1111");
    assert_eq!(value["isMainRepo"], false);
    assert_eq!(
        std::fs::read_to_string(worktree.join("draft.txt")).unwrap(),
        "half done\n"
    );
    assert_eq!(env.status()["keptWorktrees"], json!([]));

    // Kept again, then --continue finds it as the latest.
    let value = release(&env, again.pid());
    assert_eq!(value["kept"]["conversationId"], "conv-1111");
    let later = LiveProcess::spawn();
    let shell = env
        .pcc("git-pcc-register")
        .arg("--repo")
        .arg(&repo)
        .args(["--pid", &later.pid().to_string(), "--shell", "--continue"])
        .output()
        .unwrap();
    let shell = String::from_utf8_lossy(&shell.stdout);
    assert!(shell.contains("\nresumed='conv-1111'\n"), "{shell}");
    assert!(
        shell.contains(&format!("worktree_path='{}'\n", worktree.display())),
        "{shell}"
    );
}
