//! File claims through the MCP tools and the PreToolUse hook, with real
//! sessions and real processes racing.

mod support;

use std::path::{Path, PathBuf};
use std::process::Child;

use serde_json::{json, Value};
use support::{LiveProcess, TestEnv};

fn call(env: &TestEnv, session_id: &str, tool: &str, arguments: Value) -> Value {
    support::mcp_call(env, session_id, tool, arguments)
}

fn error_text(result: &Value) -> String {
    assert_eq!(result["isError"], true, "expected a refusal: {result}");
    result["content"][0]["text"].as_str().unwrap().to_owned()
}

fn granted(result: &Value) -> &Value {
    assert_eq!(result["isError"], false, "expected a grant: {result}");
    &result["structuredContent"]
}

struct World {
    env: TestEnv,
    repo: PathBuf,
    agents: Vec<LiveProcess>,
    sessions: Vec<Value>,
}

fn world(count: usize) -> World {
    let env = TestEnv::new();
    let repo = env.repo_with(
        "app",
        &[("src/lib.rs", "pub fn f() {}\n"), ("README.md", "hi\n")],
    );
    let agents: Vec<LiveProcess> = (0..count).map(|_| LiveProcess::spawn()).collect();
    let sessions = agents
        .iter()
        .map(|a| env.register(&repo, a.pid()))
        .collect();
    World {
        env,
        repo,
        agents,
        sessions,
    }
}

impl World {
    fn id(&self, index: usize) -> &str {
        self.sessions[index]["sessionId"].as_str().unwrap()
    }

    fn checkout(&self, index: usize) -> PathBuf {
        PathBuf::from(self.sessions[index]["worktreePath"].as_str().unwrap())
    }
}

#[test]
fn modes_block_and_share_as_documented() {
    let w = world(3);
    let env = &w.env;
    let a = granted(&call(
        env,
        w.id(0),
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "EXCLUSIVE", "reason": "refactor"}),
    ))
    .clone();
    assert_eq!(a["claim"]["filePath"], "src/lib.rs");
    assert_eq!(a["claim"]["mode"], "EXCLUSIVE");
    assert_eq!(a["claim"]["reason"], "refactor");
    for mode in ["EXCLUSIVE", "SHARED", "INTENT"] {
        let refused = error_text(&call(
            env,
            w.id(1),
            "claim_file",
            json!({"filePath": "src/lib.rs", "mode": mode}),
        ));
        assert!(
            refused.contains("src/lib.rs is claimed EXCLUSIVE by session"),
            "{refused}"
        );
    }

    // SHARED lets SHARED and INTENT in, but not EXCLUSIVE.
    granted(&call(
        env,
        w.id(0),
        "claim_file",
        json!({"filePath": "README.md", "mode": "SHARED"}),
    ));
    granted(&call(
        env,
        w.id(1),
        "claim_file",
        json!({"filePath": "README.md", "mode": "SHARED"}),
    ));
    granted(&call(
        env,
        w.id(2),
        "claim_file",
        json!({"filePath": "README.md", "mode": "INTENT"}),
    ));
    error_text(&call(
        env,
        w.id(2),
        "claim_file",
        json!({"filePath": "README.md", "mode": "EXCLUSIVE"}),
    ));

    let listed = granted(&call(
        env,
        w.id(2),
        "list_file_claims",
        json!({"filePaths": ["README.md"]}),
    ))
    .clone();
    assert_eq!(listed["totalClaims"], 3);
    let (output, cli) =
        env.json(
            env.pcc("git-pcc")
                .args(["claims", "--json", "--file", "src/lib.rs"]),
        );
    assert!(output.status.success());
    // The CLI prints the claim's row under its column names.
    assert_eq!(cli["claims"][0]["id"], a["claim"]["claimId"]);
    assert_eq!(cli["claims"][0]["claim_mode"], "EXCLUSIVE");
    assert_eq!(cli["claims"][0]["metadata"], json!({"reason": "refactor"}));
}

#[test]
fn escalation_follows_the_other_claims() {
    let w = world(2);
    let env = &w.env;
    let first = granted(&call(
        env,
        w.id(0),
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "INTENT"}),
    ))
    .clone();
    let shared = granted(&call(
        env,
        w.id(0),
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "SHARED"}),
    ))
    .clone();
    assert_eq!(shared["escalated"], true);
    assert_eq!(shared["claim"]["claimId"], first["claim"]["claimId"]);
    assert_eq!(shared["claim"]["escalatedFrom"], "INTENT");
    // A weaker request keeps the stronger claim.
    let weaker = granted(&call(
        env,
        w.id(0),
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "INTENT"}),
    ))
    .clone();
    assert_eq!(weaker["alreadyHeld"], true);
    assert_eq!(weaker["claim"]["mode"], "SHARED");
    // Another SHARED holder stops the escalation to EXCLUSIVE ...
    let other = granted(&call(
        env,
        w.id(1),
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "SHARED"}),
    ))
    .clone();
    error_text(&call(
        env,
        w.id(0),
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "EXCLUSIVE"}),
    ));
    // ... until it releases.
    let released = granted(&call(
        env,
        w.id(1),
        "release_file",
        json!({"claimId": other["claim"]["claimId"]}),
    ))
    .clone();
    assert_eq!(released["claim"]["isActive"], false);
    let exclusive = granted(&call(
        env,
        w.id(0),
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "EXCLUSIVE"}),
    ))
    .clone();
    assert_eq!(exclusive["claim"]["mode"], "EXCLUSIVE");
    assert_eq!(exclusive["claim"]["escalatedFrom"], "SHARED");
    // Only the owner releases, unless forced.
    let claim_id = exclusive["claim"]["claimId"].clone();
    assert!(error_text(&call(
        env,
        w.id(1),
        "release_file",
        json!({"claimId": claim_id})
    ))
    .contains("belongs to session"));
    granted(&call(
        env,
        w.id(1),
        "release_file",
        json!({"claimId": claim_id, "force": true}),
    ));
}

#[test]
fn a_dead_owner_stops_blocking_and_ttl_is_bounded() {
    let mut w = world(2);
    granted(&call(
        &w.env,
        w.id(0),
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "EXCLUSIVE"}),
    ));
    error_text(&call(
        &w.env,
        w.id(1),
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "EXCLUSIVE"}),
    ));
    w.agents[0].kill();
    granted(&call(
        &w.env,
        w.id(1),
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "EXCLUSIVE"}),
    ));
    let ended = granted(&call(
        &w.env,
        w.id(1),
        "list_file_claims",
        json!({"includeExpired": true}),
    ))
    .clone();
    let reasons: Vec<&str> = ended["claims"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["endedBecause"].as_str())
        .collect();
    assert_eq!(reasons, ["session ended"]);
    for ttl in [0, 73] {
        let refused = call(
            &w.env,
            w.id(1),
            "claim_file",
            json!({"filePath": "README.md", "ttlHours": ttl}),
        );
        // Out of the schema's range: a JSON-RPC -32602 error, so no result.
        assert!(refused.is_null(), "{refused}");
    }
}

#[test]
fn paths_outside_the_repository_are_refused() {
    let w = world(2);
    let outside = w.env.path().join("secret.txt");
    std::fs::write(&outside, "x").unwrap();
    std::os::unix::fs::symlink(&outside, w.checkout(1).join("link.txt")).unwrap();
    for path in [
        "../../etc/passwd".to_owned(),
        "/etc/passwd".to_owned(),
        outside.to_str().unwrap().to_owned(),
        "link.txt".to_owned(),
        "src/../../x".to_owned(),
    ] {
        let refused = error_text(&call(
            &w.env,
            w.id(1),
            "claim_file",
            json!({"filePath": path}),
        ));
        assert!(
            refused.contains("outside the repository"),
            "{path}: {refused}"
        );
    }
    // Inside, however it is written, is one normalised path.
    let absolute = w.checkout(1).join("src/./lib.rs");
    let grant = granted(&call(
        &w.env,
        w.id(1),
        "claim_file",
        json!({"filePath": absolute}),
    ))
    .clone();
    assert_eq!(grant["claim"]["filePath"], "src/lib.rs");
    assert!(Path::new(&w.repo).exists());
}

#[test]
fn twenty_concurrent_exclusive_claims_grant_exactly_one() {
    let w = world(20);
    let calls: Vec<Child> = (0..20)
        .map(|i| {
            support::start_mcp_calls(
                &w.env,
                Some(w.id(i)),
                &[(
                    "claim_file",
                    json!({"filePath": "src/lib.rs", "mode": "EXCLUSIVE"}),
                )],
            )
        })
        .collect();
    let results: Vec<Value> = calls
        .into_iter()
        .map(|c| support::finish_mcp_calls(c).remove(0))
        .collect();
    let grants = results.iter().filter(|r| r["isError"] == false).count();
    let refusals = results
        .iter()
        .filter(|r| {
            r["isError"] == true
                && r["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .contains("claimed EXCLUSIVE")
        })
        .count();
    assert_eq!((grants, refusals), (1, 19), "{results:?}");
    let active: i64 = w
        .env
        .db()
        .query_row(
            "SELECT COUNT(*) FROM file_claims WHERE is_active = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(active, 1);
}

fn pre_tool_use(
    env: &TestEnv,
    session_id: &str,
    tool: &str,
    file: &Path,
    cwd: &Path,
) -> std::process::Output {
    let payload = json!({
        "session_id": "claude-session",
        "transcript_path": "/tmp/t.jsonl",
        "cwd": cwd,
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": {"file_path": file, "old_string": "a", "new_string": "b"}
    });
    let mut command = env.pcc("git-pcc");
    command
        .args(["hook", "pre-tool-use"])
        .env("PARALLEL_CC_SESSION_ID", session_id);
    support::with_stdin(command, payload.to_string().as_bytes())
}

#[test]
fn the_edit_hook_denies_only_another_sessions_exclusive_file() {
    let mut w = world(2);
    granted(&call(
        &w.env,
        w.id(0),
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "EXCLUSIVE", "reason": "rewriting f"}),
    ));
    let theirs = w.checkout(1).join("src/lib.rs");

    let denied = pre_tool_use(&w.env, w.id(1), "Edit", &theirs, &w.checkout(1));
    assert!(denied.status.success());
    let decision: Value = serde_json::from_slice(&denied.stdout).unwrap();
    assert_eq!(
        decision["hookSpecificOutput"]["hookEventName"],
        "PreToolUse"
    );
    assert_eq!(decision["hookSpecificOutput"]["permissionDecision"], "deny");
    let reason = decision["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("src/lib.rs is claimed EXCLUSIVE") && reason.contains("rewriting f"),
        "{reason}"
    );

    // The owner may edit; other files and read-only tools pass; so does
    // everyone once the owner is gone.
    let own = pre_tool_use(
        &w.env,
        w.id(0),
        "Write",
        &w.checkout(0).join("src/lib.rs"),
        &w.checkout(0),
    );
    assert!(own.status.success() && own.stdout.is_empty());
    let other_file = pre_tool_use(
        &w.env,
        w.id(1),
        "Edit",
        &w.checkout(1).join("README.md"),
        &w.checkout(1),
    );
    assert!(other_file.stdout.is_empty());
    let read = pre_tool_use(&w.env, w.id(1), "Read", &theirs, &w.checkout(1));
    assert!(read.stdout.is_empty());
    w.agents[0].kill();
    let after = pre_tool_use(&w.env, w.id(1), "Edit", &theirs, &w.checkout(1));
    assert!(
        after.status.success() && after.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&after.stdout)
    );
}

#[test]
fn a_claim_holds_for_a_twenty_megabyte_write() {
    let w = world(2);
    granted(&call(
        &w.env,
        w.id(0),
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "EXCLUSIVE", "reason": "regenerating"}),
    ));
    // A Write carries the whole file: the path comes after 20 MB of content.
    let content = "x".repeat(20 << 20);
    let payload = json!({
        "session_id": "claude-session",
        "cwd": w.checkout(1),
        "hook_event_name": "PreToolUse",
        "tool_name": "Write",
        "tool_input": {"content": content, "file_path": w.checkout(1).join("src/lib.rs")}
    });
    let mut command = w.env.pcc("git-pcc");
    command
        .args(["hook", "pre-tool-use"])
        .env("PARALLEL_CC_SESSION_ID", w.id(1));
    let denied = support::with_stdin(command, payload.to_string().as_bytes());
    assert!(denied.status.success());
    let decision: Value = serde_json::from_slice(&denied.stdout).unwrap();
    assert_eq!(decision["hookSpecificOutput"]["permissionDecision"], "deny");
}

#[test]
fn a_payload_that_cannot_be_parsed_is_allowed_and_logged() {
    let w = world(1);
    let mut command = w.env.pcc("git-pcc");
    command
        .args(["hook", "pre-tool-use"])
        .env("PARALLEL_CC_SESSION_ID", w.id(0));
    let truncated =
        br#"{"tool_name": "Write", "tool_input": {"file_path": "src/lib.rs", "content": "abc"#;
    let allowed = support::with_stdin(command, truncated);
    assert!(allowed.status.success());
    assert!(allowed.stdout.is_empty() && allowed.stderr.is_empty());
    let log = std::fs::read_to_string(w.env.data_dir.join("logs/hooks.log")).unwrap();
    assert!(
        log.contains(&format!(
            "PreToolUse: payload of {} bytes could not be parsed",
            truncated.len()
        )) && log.contains("the step was allowed"),
        "{log}"
    );
    assert!(!log.contains("abc"), "the payload itself is not logged");
}
