//! Merge detection: each kind of merge of a session's branch into main is
//! detected once by `git-pcc-watch merges --once`, recorded once however
//! often it polls, and reaches the session's hook output once.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{json, Value};
use support::{LiveProcess, TestEnv};

struct World {
    env: TestEnv,
    repo: PathBuf,
    _agents: Vec<LiveProcess>,
    main_id: String,
    agent_id: String,
    worktree: PathBuf,
    branch: String,
}

fn world() -> World {
    let env = TestEnv::new();
    let repo = env.repo_with("app", &[("README.md", "hello\n"), ("src/a.txt", "a\n")]);
    let agents = vec![LiveProcess::spawn(), LiveProcess::spawn()];
    let main = env.register(&repo, agents[0].pid());
    let agent = env.register(&repo, agents[1].pid());
    World {
        worktree: PathBuf::from(agent["worktreePath"].as_str().unwrap()),
        branch: agent["branch"].as_str().unwrap().to_owned(),
        main_id: main["sessionId"].as_str().unwrap().to_owned(),
        agent_id: agent["sessionId"].as_str().unwrap().to_owned(),
        env,
        repo,
        _agents: agents,
    }
}

impl World {
    fn commit_in(&self, dir: &Path, file: &str, content: &str, message: &str) {
        std::fs::write(dir.join(file), content).unwrap();
        self.env.git(dir, &["add", file]);
        self.env.git(dir, &["commit", "-q", "-m", message]);
    }

    fn poll(&self) -> Value {
        let (output, report) = self.env.json(
            self.env
                .pcc("git-pcc-watch")
                .args(["merges", "--once", "--json"]),
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        report
    }

    fn hook_output(&self, session_id: &str) -> String {
        let mut command = self.env.pcc("git-pcc");
        command
            .args(["heartbeat", "--hook"])
            .env("PARALLEL_CC_SESSION_ID", session_id);
        let payload =
            json!({"hook_event_name": "PostToolUse", "tool_name": "Bash", "cwd": self.repo});
        let output = support::with_stdin(command, payload.to_string().as_bytes());
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    }
}

fn merge_kind(kind: &str) {
    let w = world();
    w.commit_in(&w.worktree, "feature.txt", "one\n", "feature one");
    w.commit_in(&w.worktree, "feature2.txt", "two\n", "feature two");
    assert_eq!(
        w.poll()["newEvents"],
        json!([]),
        "{kind}: nothing merged yet"
    );
    if kind != "fast-forward" {
        w.commit_in(&w.repo, "main-only.txt", "main\n", "main moves on");
    }
    let env = &w.env;
    match kind {
        "fast-forward" => {
            env.git(&w.repo, &["merge", "-q", "--ff-only", &w.branch]);
        }
        "merge-commit" => {
            env.git(
                &w.repo,
                &["merge", "-q", "--no-ff", "-m", "merge feature", &w.branch],
            );
        }
        "squash" => {
            env.git(&w.repo, &["merge", "-q", "--squash", &w.branch]);
            env.git(&w.repo, &["commit", "-q", "-m", "squashed feature"]);
        }
        "rebase" => {
            let base = env.git(&w.repo, &["merge-base", "main", &w.branch]);
            env.git(
                &w.repo,
                &["cherry-pick", &format!("{}..{}", base.trim(), w.branch)],
            );
        }
        _ => unreachable!(),
    }
    let tip = env
        .git(&w.repo, &["rev-parse", &w.branch])
        .trim()
        .to_owned();
    let main_tip = env.git(&w.repo, &["rev-parse", "main"]).trim().to_owned();
    if kind == "squash" || kind == "rebase" {
        let output = env
            .command("git")
            .current_dir(&w.repo)
            .args(["merge-base", "--is-ancestor", &tip, "main"])
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "{kind}: the branch tip is not an ancestor of main"
        );
    }

    let first = w.poll();
    let events = first["newEvents"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{kind}: {first}");
    assert_eq!(events[0]["branchName"], w.branch.as_str());
    assert_eq!(events[0]["targetBranch"], "main");
    assert_eq!(events[0]["sourceCommit"], tip.as_str());
    assert_eq!(events[0]["targetCommit"], main_tip.as_str());
    for _ in 0..2 {
        assert_eq!(w.poll()["newEvents"], json!([]), "{kind}: recorded once");
    }
    let (_, status) = env.json(env.pcc("git-pcc").args(["merge", "status", "--json"]));
    assert_eq!(status["total"], 1);
    // The CLI prints the event under its columns' names.
    assert_eq!(status["events"][0]["source_commit"], tip.as_str());
    assert_eq!(status["events"][0]["branch_name"], w.branch.as_str());

    let notice = w.hook_output(&w.agent_id);
    let parsed: Value =
        serde_json::from_str(&notice).unwrap_or_else(|_| panic!("{kind}: no notice: {notice:?}"));
    assert_eq!(parsed["hookSpecificOutput"]["hookEventName"], "PostToolUse");
    let context = parsed["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap();
    assert!(
        context.contains(&format!("branch {} was merged into main", w.branch)),
        "{context}"
    );
    assert_eq!(
        w.hook_output(&w.agent_id),
        "",
        "{kind}: the notice comes once"
    );
    assert_eq!(
        w.hook_output(&w.main_id),
        "",
        "{kind}: the main session did not subscribe"
    );
}

#[test]
fn a_fast_forward_is_detected_once() {
    merge_kind("fast-forward");
}

#[test]
fn a_merge_commit_is_detected_once() {
    merge_kind("merge-commit");
}

#[test]
fn a_squash_merge_is_detected_once() {
    merge_kind("squash");
}

#[test]
fn a_rebase_merge_is_detected_once() {
    merge_kind("rebase");
}

#[test]
fn subscribers_hear_of_the_merge_and_unmerged_work_stays_quiet() {
    let w = world();
    w.commit_in(&w.worktree, "feature.txt", "one\n", "feature one");
    // The main session subscribes through MCP.
    let results = support::finish_mcp_calls(support::start_mcp_calls(
        &w.env,
        Some(&w.main_id),
        &[
            ("notify_when_merged", json!({"branch": w.branch})),
            ("check_merge_status", json!({"branch": w.branch})),
        ],
    ));
    assert_eq!(
        results[0]["structuredContent"]["subscription"]["branchName"],
        w.branch.as_str()
    );
    assert_eq!(results[1]["structuredContent"]["isMerged"], false);
    assert_eq!(w.poll()["newEvents"], json!([]));
    assert_eq!(w.hook_output(&w.main_id), "");

    w.env.git(
        &w.repo,
        &["merge", "-q", "--no-ff", "-m", "merge", &w.branch],
    );
    assert_eq!(w.poll()["newEvents"].as_array().unwrap().len(), 1);
    assert!(w.hook_output(&w.main_id).contains("was merged into main"));
    assert!(w.hook_output(&w.agent_id).contains("was merged into main"));
    let (_, subs) =
        w.env.json(
            w.env
                .pcc("git-pcc")
                .args(["merge", "status", "--subscriptions", "--json"]),
        );
    assert_eq!(subs["subscriptions"][0]["is_active"], false);
    assert!(subs["subscriptions"][0]["notified_at"].is_string());
}

#[test]
fn the_daemon_stops_cleanly_on_sigterm() {
    let w = world();
    let daemon = w
        .env
        .pcc("git-pcc-watch")
        .args(["merges", "--interval", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let output = daemon.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let polls = String::from_utf8(output.stdout).unwrap();
    assert!(polls.lines().count() >= 1, "{polls}");
    for line in polls.lines() {
        let report: Value = serde_json::from_str(line).unwrap();
        assert_eq!(report["repositories"], 1);
    }
    assert!(String::from_utf8_lossy(&output.stderr).contains("stopped"));
}
