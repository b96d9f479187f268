//! Session states from the hooks Claude Code fires, run as the installed
//! hooks run (`git-pcc hook <event>` and `git-pcc heartbeat --hook` with the
//! payload on stdin): what `status`, `status --json` and MCP
//! `get_parallel_status` show at each step; and a worktree session's
//! commits ahead of and behind its base, changed files and predicted
//! conflicts.

mod support;

use std::path::Path;

use serde_json::{json, Value};
use support::{Sessions, TestEnv};

fn sessions() -> Sessions {
    support::main_and_worktree(
        "app",
        &[("README.md", "app\n"), ("src/lib.rs", "fn a() {}\n")],
    )
}

/// Runs one hook the way Claude Code runs it, from `cwd` with `payload`,
/// and asserts that it is silent and succeeds.
fn fire(env: &TestEnv, args: &[&str], cwd: &Path, payload: Value) {
    let mut command = env.pcc("git-pcc");
    command.args(args).current_dir(cwd);
    let output = support::with_stdin(command, payload.to_string().as_bytes());
    assert_eq!(output.status.code(), Some(0), "{args:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "", "{args:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{args:?}");
}

fn hook(s: &Sessions, event: &str, fields: Value) {
    let mut payload = json!({
        "session_id": "claude-session",
        "transcript_path": "/tmp/transcript.jsonl",
        "cwd": s.worktree,
        "permission_mode": "default",
        "hook_event_name": event,
    });
    for (key, value) in fields.as_object().unwrap() {
        payload[key] = value.clone();
    }
    let args: Vec<&str> = match event {
        "PostToolUse" => vec!["heartbeat", "--hook"],
        "UserPromptSubmit" => vec!["hook", "user-prompt-submit"],
        "PreToolUse" => vec!["hook", "pre-tool-use"],
        "PermissionRequest" => vec!["hook", "permission-request"],
        "Notification" => vec!["hook", "notification"],
        "Stop" => vec!["hook", "stop"],
        "StopFailure" => vec!["hook", "stop-failure"],
        "PreCompact" => vec!["hook", "pre-compact"],
        "PostCompact" => vec!["hook", "post-compact"],
        other => panic!("no hook for {other}"),
    };
    fire(&s.env, &args, &s.worktree, payload);
}

fn session<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sessionId"] == id)
        .unwrap_or_else(|| panic!("no session {id} in {report}"))
}

/// The human `status` line of the session in `worktree`.
fn human_line(env: &TestEnv, repo: &Path, worktree: &Path) -> String {
    let output = env
        .pcc("git-pcc")
        .args(["status"])
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let place = worktree.to_str().unwrap();
    text.lines()
        .find(|line| line.contains(place))
        .unwrap_or_else(|| panic!("no line for {place} in {text}"))
        .to_owned()
}

/// The agent's session as `status --json` and as MCP `get_parallel_status`
/// (asked by the other session) show it; both must agree.
fn seen(s: &Sessions) -> Value {
    let status = s.env.status();
    let ours = session(&status, &s.agent_id).clone();
    let result = support::mcp_call(&s.env, &s.main_id, "get_parallel_status", json!({}));
    assert_ne!(result["isError"], true, "{result}");
    let theirs = session(&result["structuredContent"], &s.agent_id).clone();
    for field in [
        "state",
        "stateSince",
        "waitingFor",
        "lastMessage",
        "ahead",
        "behind",
        "changedFiles",
        "conflicts",
    ] {
        assert_eq!(ours[field], theirs[field], "{field}: {ours} / {theirs}");
        assert!(ours.get(field).is_some(), "{field} missing from {ours}");
    }
    ours
}

#[test]
fn hooks_walk_a_session_through_its_states() {
    let s = sessions();
    let before = seen(&s);
    assert_eq!(before["state"], Value::Null);
    assert!(human_line(&s.env, &s.repo, &s.worktree).contains(" - "));

    hook(&s, "UserPromptSubmit", json!({"prompt": "fix the tests"}));
    let working = seen(&s);
    assert_eq!(working["state"], "working");
    assert!(working["stateSince"].is_string(), "{working}");
    assert_eq!(working["waitingFor"], Value::Null);
    let line = human_line(&s.env, &s.repo, &s.worktree);
    assert!(line.contains(" working "), "{line}");

    hook(
        &s,
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}, "tool_use_id": "t1"}),
    );
    assert_eq!(seen(&s)["stateSince"], working["stateSince"]);

    hook(
        &s,
        "PermissionRequest",
        json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}}),
    );
    hook(
        &s,
        "Notification",
        json!({"notification_type": "permission_prompt", "message": "Claude needs your permission to use Bash"}),
    );
    let waiting = seen(&s);
    assert_eq!(waiting["state"], "waiting");
    assert_eq!(waiting["waitingFor"], "permission: Bash");
    let line = human_line(&s.env, &s.repo, &s.worktree);
    assert!(line.contains("waiting 0m: permission Bash"), "{line}");
    // The other session is not touched by this one's hooks.
    assert_eq!(session(&s.env.status(), &s.main_id)["state"], Value::Null);

    hook(
        &s,
        "PostToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}, "tool_response": {"stdout": "ok"}}),
    );
    let again = seen(&s);
    assert_eq!(again["state"], "working");
    assert_eq!(again["waitingFor"], Value::Null);

    let token = format!("sk-ant-api03-{}", "x7Y".repeat(12));
    hook(
        &s,
        "Stop",
        json!({"stop_hook_active": false,
               "last_assistant_message": format!("\nFixed the tests; used {token} once.\nThe details follow.")}),
    );
    let idle = seen(&s);
    assert_eq!(idle["state"], "idle");
    assert_eq!(
        idle["lastMessage"],
        "Fixed the tests; used [REDACTED] once."
    );
    let stored: String = s
        .env
        .db()
        .query_row(
            "SELECT last_message FROM sessions WHERE id = ?1",
            [&s.agent_id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!stored.contains("x7Y"), "{stored}");
    let line = human_line(&s.env, &s.repo, &s.worktree);
    assert!(line.contains(" idle 0m "), "{line}");

    hook(
        &s,
        "PreCompact",
        json!({"trigger": "manual", "custom_instructions": ""}),
    );
    assert_eq!(seen(&s)["state"], "compacting");
    hook(
        &s,
        "PostCompact",
        json!({"trigger": "manual", "compact_summary": "s"}),
    );
    assert_eq!(seen(&s)["state"], "idle");

    hook(
        &s,
        "PreToolUse",
        json!({"tool_name": "AskUserQuestion",
               "tool_input": {"questions": [{"question": "Which database?", "header": "DB", "options": []}]}}),
    );
    let asking = seen(&s);
    assert_eq!(asking["state"], "waiting");
    assert_eq!(asking["waitingFor"], "question: Which database?");
    hook(&s, "StopFailure", json!({"error": "rate_limit"}));
    let failed = seen(&s);
    assert_eq!(failed["state"], "idle");
    assert_eq!(failed["lastMessage"], "stopped on error: rate_limit");
}

#[test]
fn a_working_session_without_hooks_for_long_shows_as_idle_maybe() {
    let s = sessions();
    let output = s
        .env
        .pcc("git-pcc")
        .args(["config", "set", "session.idleAfterMinutes", "2"])
        .output()
        .unwrap();
    assert!(output.status.success());
    hook(&s, "UserPromptSubmit", json!({"prompt": "go"}));
    assert_eq!(seen(&s)["state"], "working");
    // Three minutes without a hook, as after an Esc.
    s.env
        .db()
        .execute(
            "UPDATE sessions SET state_at = state_at - 180000 WHERE id = ?1",
            [&s.agent_id],
        )
        .unwrap();
    let quiet = seen(&s);
    assert_eq!(quiet["state"], "idle?");
    let line = human_line(&s.env, &s.repo, &s.worktree);
    assert!(line.contains(" idle? 3m "), "{line}");
    // The next hook brings it back.
    hook(&s, "PostToolUse", json!({"tool_name": "Bash"}));
    assert_eq!(seen(&s)["state"], "working");
}

#[test]
fn status_shows_a_worktree_sessions_commits_changes_and_conflicts() {
    let s = sessions();
    let env = &s.env;
    std::fs::write(s.worktree.join("src/lib.rs"), "fn a() { ours() }\n").unwrap();
    env.git(&s.worktree, &["commit", "-qam", "ours"]);
    std::fs::write(s.worktree.join("NOTES.md"), "notes\n").unwrap();
    env.git(&s.worktree, &["add", "NOTES.md"]);
    env.git(&s.worktree, &["commit", "-qm", "notes"]);
    std::fs::write(s.worktree.join("README.md"), "app, changed\n").unwrap();
    std::fs::write(s.worktree.join("scratch.txt"), "x\n").unwrap();
    std::fs::write(s.repo.join("CHANGELOG.md"), "1.0\n").unwrap();
    env.git(&s.repo, &["add", "CHANGELOG.md"]);
    env.git(&s.repo, &["commit", "-qm", "changelog"]);
    // The main session rewrites the same line, uncommitted.
    std::fs::write(s.repo.join("src/lib.rs"), "fn a() { theirs() }\n").unwrap();

    let before = seen(&s);
    assert_eq!(before["ahead"], 2, "{before}");
    assert_eq!(before["behind"], 1);
    assert_eq!(before["changedFiles"], 2);
    assert_eq!(before["conflicts"], Value::Null, "not predicted yet");
    let main = session(&env.status(), &s.main_id).clone();
    for field in ["ahead", "behind", "changedFiles"] {
        assert_eq!(main[field], Value::Null, "{field} of the main checkout");
    }

    let (output, prediction) = env.json(
        env.pcc("git-pcc")
            .args(["conflicts", "--predict", "--json"])
            .current_dir(&s.repo),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(prediction["pairs"][0]["conflicts"][0]["path"], "src/lib.rs");
    let after = seen(&s);
    assert_eq!(after["conflicts"], 1, "{after}");
    assert!(after["conflictsPredictedAt"].is_string());
    assert_eq!(session(&env.status(), &s.main_id)["conflicts"], 1);
    let line = human_line(env, &s.repo, &s.worktree);
    assert!(
        line.contains("2 ahead, 1 behind, 2 changed, 1 conflict"),
        "{line}"
    );
}

#[test]
fn state_hooks_stay_silent_without_a_database_or_with_any_input() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    for event in [
        "user-prompt-submit",
        "permission-request",
        "notification",
        "stop",
        "stop-failure",
        "pre-compact",
        "post-compact",
        "pre-tool-use",
    ] {
        for input in ["", "not json", "{\"hook_event_name\": 5}", "[]"] {
            let mut command = env.pcc("git-pcc");
            command.args(["hook", event]).current_dir(&repo);
            let output = support::with_stdin(command, input.as_bytes());
            assert_eq!(output.status.code(), Some(0), "{event} {input:?}");
            assert!(output.stdout.is_empty(), "{event} {input:?}");
        }
    }
    assert!(!env.data_dir.join("coordinator.db").exists());
}
