//! End to end with the real Claude Code CLI: it runs offline against the
//! scripted model server, makes real Bash tool calls and fires the hooks
//! that `git pcc install --hooks` configured.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::claude::{claude_bin, files_with_prefix, path_with_claude, wait_for, ModelServer};
use support::TestEnv;

/// Step 1 ages this agent's session heartbeat (found by its working
/// directory) and overlaps with other agents; after it, the PostToolUse
/// hooks must move the heartbeat. A hook skips a beat when another process
/// holds the database longer than a hook waits, which a loaded machine can
/// make happen, so step 2 gives the hook a second beat. Step 3 records what
/// the agent sees, through a script ([`RECORD_SCRIPT`]): Claude Code 2.1.332
/// refuses, in a session isolated in a worktree (`-w`), a command line that
/// names git in a form it cannot check stays inside the worktree.
fn scripted_steps() -> Vec<String> {
    let age = r#"python3 -c 'import os, sqlite3; c = sqlite3.connect(os.environ["PARALLEL_CC_DATA_DIR"] + "/coordinator.db"); c.execute("UPDATE sessions SET last_heartbeat = ? WHERE worktree_path = ?", ("2000-01-01 00:00:00", os.getcwd())); c.commit()'; sleep 2"#;
    let record = r#"sh "$E2E_OUT/record.sh""#;
    vec![age.to_owned(), "sleep 1".to_owned(), record.to_owned()]
}

/// What step 3 runs: the status the agent sees and where it works, paired
/// by the script's PID.
const RECORD_SCRIPT: &str =
    "git-pcc status --json > \"$E2E_OUT/status-$$.json\"\npwd -P > \"$E2E_OUT/pwd-$$.txt\"\n";

fn agent_command(
    env: &TestEnv,
    server: &ModelServer,
    program: &Path,
    cwd: &Path,
    out: &Path,
) -> Command {
    std::fs::write(out.join("record.sh"), RECORD_SCRIPT).unwrap();
    let mut command = env.command(program);
    server.configure(&mut command);
    command
        .current_dir(cwd)
        .env("PATH", path_with_claude(env))
        .env("E2E_OUT", out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs the real Claude Code in `cwd` through the scripted steps, with
/// `extra` arguments first, and asserts that it succeeded.
fn run_claude(env: &TestEnv, server: &ModelServer, cwd: &Path, out: &Path, extra: &[&str]) {
    let mut agent = agent_command(env, server, &claude_bin(), cwd, out)
        .args(extra)
        .args([
            "-p",
            "do the scripted steps",
            "--dangerously-skip-permissions",
        ])
        .spawn()
        .unwrap();
    let status = wait_for(&mut agent, 120);
    let mut stderr = String::new();
    std::io::Read::read_to_string(agent.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "claude {extra:?} failed: {stderr}");
}

fn snapshots(out: &Path) -> Vec<Value> {
    files_with_prefix(out, "status-")
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect()
}

/// Each agent's working directory with the status it recorded, paired by
/// the shell PID both file names carry.
fn own_snapshots(out: &Path) -> Vec<(String, Value)> {
    support::list_dir(out)
        .into_iter()
        .filter_map(|name| {
            name.strip_prefix("pwd-")
                .map(|rest| rest.trim_end_matches(".txt").to_owned())
        })
        .map(|pid| {
            let place = std::fs::read_to_string(out.join(format!("pwd-{pid}.txt")))
                .unwrap()
                .trim()
                .to_owned();
            let status = std::fs::read_to_string(out.join(format!("status-{pid}.json"))).unwrap();
            (place, serde_json::from_str(&status).unwrap())
        })
        .collect()
}

fn session_at<'a>(snapshot: &'a Value, path: &str) -> Option<&'a Value> {
    snapshot["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["worktreePath"] == path)
}

#[test]
fn two_claude_parallel_sessions_at_once() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let out = env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    support::install_hooks(&env);
    let server = ModelServer::start(&env, &scripted_steps(), "all done");
    let wrapper = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/claude-parallel");

    let mut agents: Vec<_> = (0..2)
        .map(|_| {
            let child = agent_command(&env, &server, &wrapper, &repo, &out)
                .args([
                    "-p",
                    "do the scripted steps",
                    "--dangerously-skip-permissions",
                ])
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            child
        })
        .collect();
    for agent in &mut agents {
        let status = wait_for(agent, 120);
        let mut stderr = String::new();
        std::io::Read::read_to_string(agent.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "claude-parallel failed: {stderr}");
    }
    assert!(
        server.requests() >= 8,
        "each agent made its four model requests"
    );

    let mut places: Vec<String> = files_with_prefix(&out, "pwd-")
        .iter()
        .map(|p| p.trim().to_owned())
        .collect();
    places.sort();
    assert_eq!(places.len(), 2);
    let repo_path = repo.to_str().unwrap().to_owned();
    assert!(places.contains(&repo_path), "{places:?}");
    let worktree = places.iter().find(|p| **p != repo_path).unwrap().clone();
    assert!(
        worktree.starts_with(env.path().join("app-worktrees").to_str().unwrap()),
        "{worktree}"
    );

    // Each agent saw its own session with a heartbeat its hook had moved
    // (another agent's session may still be aged in that snapshot).
    let snapshots = snapshots(&out);
    assert_eq!(snapshots.len(), 2);
    for (place, snapshot) in own_snapshots(&out) {
        let own = session_at(&snapshot, &place).expect("the agent's own session is registered");
        assert_ne!(
            own["lastHeartbeat"],
            "2000-01-01 00:00:00",
            "PostToolUse hooks moved {place}; hooks.log: {}",
            std::fs::read_to_string(env.data_dir.join("logs/hooks.log")).unwrap_or_default()
        );
    }
    // While both ran, both sessions were registered: one main, one worktree.
    let both = snapshots
        .iter()
        .find(|s| s["totalSessions"] == 2)
        .expect("a snapshot with both sessions");
    assert!(session_at(both, &repo_path).is_some_and(|s| s["isMainRepo"] == true));
    assert!(session_at(both, &worktree).is_some_and(|s| s["isMainRepo"] == false));

    // Both released at exit; the clean worktree is gone.
    assert_eq!(env.status()["totalSessions"], 0);
    assert!(!Path::new(&worktree).exists());
    assert_eq!(env.git(&repo, &["branch", "--list", "parallel/*"]), "");
}

#[test]
fn claude_worktree_flag_goes_through_parallel_cc() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let out = env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    support::install_hooks(&env);
    let server = ModelServer::start(&env, &scripted_steps(), "done in the worktree");

    run_claude(&env, &server, &repo, &out, &["-w", "feature-x"]);

    let expected = env.path().join("app-worktrees/feature-x");
    let places = files_with_prefix(&out, "pwd-");
    assert_eq!(places.len(), 1);
    assert_eq!(
        places[0].trim(),
        expected.to_str().unwrap(),
        "the Bash tool ran in our worktree"
    );
    let (place, snapshot) = own_snapshots(&out).remove(0);
    assert_eq!(place, expected.to_str().unwrap());
    let session = session_at(&snapshot, &place).expect("the worktree was a registered session");
    assert_eq!(session["isMainRepo"], false);
    assert_eq!(session["branch"], "parallel/feature-x");
    assert_ne!(session["lastHeartbeat"], "2000-01-01 00:00:00");
    let listed = env.git(&repo, &["worktree", "list", "--porcelain"]);
    if expected.exists() {
        assert!(listed.contains(expected.to_str().unwrap()), "{listed}");
    }
    // Whatever Claude Code did at exit, no session outlives the agent.
    let after = env.status();
    assert!(after["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["isAlive"] == true));
}

#[test]
fn claude_mcp_list_reports_our_server_connected() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let output = env
        .pcc("git-pcc")
        .args(["install", "--mcp"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let server = ModelServer::start(&env, &[], "unused");
    let mut command = env.command(claude_bin());
    server.configure(&mut command);
    let output = command
        .args(["mcp", "list"])
        .current_dir(&repo)
        .env("PATH", path_with_claude(&env))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("parallel-cc"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("pcc-mcp"), "{line}");
    assert!(line.contains("Connected"), "{line}");
}

#[test]
fn a_session_started_in_a_worktree_the_user_made_works_there() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let mine = env.path().join("mine");
    env.git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "mine",
            mine.to_str().unwrap(),
        ],
    );
    let out = env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    support::install_hooks(&env);
    let server = ModelServer::start(&env, &scripted_steps(), "done in my worktree");

    run_claude(&env, &server, &mine, &out, &[]);

    // SessionStart registered the worktree itself as the session's checkout.
    let (place, snapshot) = own_snapshots(&out).remove(0);
    assert_eq!(place, mine.to_str().unwrap());
    let session = session_at(&snapshot, &place).expect("the worktree is a session's checkout");
    assert_eq!(session["isMainRepo"], false);
    assert_eq!(session["branch"], "mine");
    assert_eq!(session["ownsWorktree"], false);
    assert!(
        snapshot["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["isMainRepo"] == false),
        "nobody took the main checkout: {snapshot}"
    );
    // SessionEnd released it and left the user's worktree and branch alone.
    assert_eq!(env.status()["totalSessions"], 0);
    assert!(mine.join("README.md").is_file());
    assert_eq!(
        env.git(
            &repo,
            &["branch", "--list", "--format=%(refname:short)", "mine"]
        ),
        "mine\n"
    );
}

/// What the agent commits before it asks for a land, run as a script so
/// the command line names no git for Claude Code to vet.
const COMMIT_SCRIPT: &str = "printf 'made by the agent\\n' > feature.txt\n\
     git add feature.txt\ngit commit -q -m 'agent: feature'\n";

#[test]
fn claude_code_asks_for_a_land_through_mcp_at_the_end_of_its_task() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let out = env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    support::install_hooks(&env);
    let output = env
        .pcc("git-pcc")
        .args(["install", "--mcp"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Someone works in the main checkout, so the agent gets a worktree.
    let main = support::LiveProcess::spawn();
    env.register(&repo, main.pid());
    std::fs::write(out.join("commit.sh"), COMMIT_SCRIPT).unwrap();
    let steps = serde_json::json!([
        r#"sh "$E2E_OUT/commit.sh""#,
        {"tool": "request_land", "input": {}}
    ]);
    let server = ModelServer::start_script(
        &env,
        serde_json::json!({"commands": steps, "final": "landed my work"}),
    );
    let wrapper = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/claude-parallel");
    let mut agent = agent_command(&env, &server, &wrapper, &repo, &out)
        // MCP tools among the tools of the request, not behind a search.
        .env("ENABLE_TOOL_SEARCH", "false")
        .args([
            "-p",
            "add the feature, then land it",
            "--dangerously-skip-permissions",
            "--output-format",
            "json",
        ])
        .spawn()
        .unwrap();
    let status = wait_for(&mut agent, 180);
    let mut stdout = String::new();
    std::io::Read::read_to_string(agent.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(agent.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "claude-parallel failed: {stderr}");
    assert!(stdout.contains("landed my work"), "{stdout}");
    // The model got request_land's answer: the item it queued.
    let log = std::fs::read_to_string(&server.log).unwrap();
    let answered = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .flat_map(|l| {
            l["body"]["messages"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter(|b| b["type"] == "tool_result" && b["tool_use_id"] == "toolu_0001")
        .map(|b| b["content"].to_string())
        .next()
        .unwrap_or_else(|| panic!("no answer to request_land in {log}"));
    assert!(answered.contains("itemId"), "{answered}");
    // The queue, run in the background by the MCP tool, lands the branch.
    let mut items = Vec::new();
    for _ in 0..300 {
        let (output, value) = env.json(
            env.pcc("git-pcc")
                .current_dir(&repo)
                .args(["land", "--status", "--json"]),
        );
        assert!(output.status.success());
        items = value["items"].as_array().cloned().unwrap_or_default();
        if items.iter().any(|i| i["state"] == "landed") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_eq!(item["state"], "landed", "{item:#}");
    assert_eq!(item["requestedBy"], "mcp");
    assert_eq!(item["targetBranch"], "main");
    assert!(
        item["branch"].as_str().unwrap().starts_with("parallel/"),
        "{item:#}"
    );
    assert_eq!(
        env.git(&repo, &["show", "main:feature.txt"]),
        "made by the agent\n"
    );
    assert_eq!(
        env.git(&repo, &["log", "-1", "--format=%s", "main"]).trim(),
        "agent: feature"
    );
    // The clean main checkout was brought along.
    assert_eq!(
        env.git(&repo, &["rev-parse", "HEAD"]),
        env.git(&repo, &["rev-parse", "main"])
    );
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
}
