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

fn removed_record(env: &TestEnv, conversation: &str) -> Option<String> {
    env.db()
        .query_row(
            "SELECT worktree_path FROM removed_conversation_worktrees WHERE conversation_id = ?1",
            [conversation],
            |r| r.get(0),
        )
        .ok()
}

/// A session in a new worktree of conversation `conversation` that ends
/// with nothing held; returns the worktree's path and branch.
fn clean_conversation(env: &TestEnv, repo: &Path, conversation: &str) -> (PathBuf, String) {
    let mut agent = LiveProcess::spawn();
    let (value, _) = register(env, repo, agent.pid(), &[]);
    let worktree = PathBuf::from(value["worktreePath"].as_str().unwrap());
    let branch = value["branch"].as_str().unwrap().to_owned();
    session_start(
        env,
        value["sessionId"].as_str().unwrap(),
        conversation,
        &worktree,
    );
    let released = release(env, agent.pid());
    assert_eq!(released["worktreeRemoved"], true);
    agent.kill();
    (worktree, branch)
}

#[test]
fn a_clean_worktree_that_went_is_made_again_for_its_conversation() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let main = LiveProcess::spawn();
    env.register(&repo, main.pid());

    let (worktree, branch) = clean_conversation(&env, &repo, "conv-2222");
    assert!(!worktree.exists());
    assert_eq!(env.git(&repo, &["branch", "--list", &branch]), "");
    assert_eq!(
        removed_record(&env, "conv-2222").as_deref(),
        worktree.to_str()
    );

    // --continue finds it as the latest, and makes it again.
    let again = LiveProcess::spawn();
    let (value, stderr) = register(&env, &repo, again.pid(), &["--continue"]);
    assert_eq!(stderr, "");
    assert_eq!(value["worktreePath"], worktree.to_str().unwrap());
    assert_eq!(value["branch"], branch.as_str());
    assert_eq!(value["resumed"], "conv-2222");
    assert_eq!(value["recreated"], true);
    assert_eq!(
        env.git(&worktree, &["rev-parse", "HEAD"]),
        env.git(&repo, &["rev-parse", "HEAD"])
    );
    assert_eq!(removed_record(&env, "conv-2222"), None);
    // Work done there now is kept as any other.
    std::fs::write(worktree.join("more.txt"), "more\n").unwrap();
    let value = release(&env, again.pid());
    assert_eq!(value["kept"]["conversationId"], "conv-2222");

    // A path taken since: a new worktree, with one line saying why.
    let (other, _) = clean_conversation(&env, &repo, "conv-3333");
    std::fs::create_dir_all(&other).unwrap();
    let taken = LiveProcess::spawn();
    let (value, stderr) = register(&env, &repo, taken.pid(), &["--resume", "conv-3333"]);
    assert_ne!(value["worktreePath"], other.to_str().unwrap());
    assert_eq!(value["resumed"], Value::Null);
    assert!(
        stderr.contains("no worktree of conversation conv-3333"),
        "{stderr}"
    );
    std::fs::remove_dir(&other).unwrap();

    // Remembered for 30 days: the next clean release forgets older ones.
    env.db()
        .execute(
            "UPDATE removed_conversation_worktrees SET removed_at = datetime('now', '-31 days')
              WHERE conversation_id = 'conv-3333'",
            [],
        )
        .unwrap();
    clean_conversation(&env, &repo, "conv-4444");
    assert_eq!(removed_record(&env, "conv-3333"), None);
    assert!(removed_record(&env, "conv-4444").is_some());
}
