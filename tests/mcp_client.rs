//! pcc-mcp driven by a real MCP client: the official Python SDK.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::{LiveProcess, TestEnv};

fn run_client(env: &TestEnv, mode: &str, session_id: Option<&str>) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let mut command = env.command(support::python());
    command
        .arg(script)
        .arg(mode)
        .arg(support::bin("pcc-mcp"))
        .current_dir(env.path());
    if let Some(id) = session_id {
        command.env("PARALLEL_CC_SESSION_ID", id);
    }
    let output = command.output().expect("run python3");
    assert!(
        output.status.success(),
        "MCP client failed (is the `mcp` package installed? scripts/test.sh installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Drops the fields that change with the clock.
fn without_ages(mut value: Value) -> Value {
    for session in value["sessions"].as_array_mut().into_iter().flatten() {
        let object = session.as_object_mut().unwrap();
        object.remove("durationMinutes");
        object.remove("heartbeatAgeMinutes");
    }
    value
}

#[test]
fn the_python_sdk_sees_the_same_sessions_as_git_pcc_status() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let mine = env.register(&repo, agent.pid());
    let my_id = mine["sessionId"].as_str().unwrap();

    let seen = run_client(&env, "basic", Some(my_id));
    assert_eq!(seen["serverName"], "parallel-cc");
    assert_eq!(seen["tools"], serde_json::json!(support::MCP_TOOLS));
    assert_eq!(seen["status"]["isError"], false);
    let (_, expected) = env.json(
        env.pcc("git-pcc")
            .args(["status", "--json", "--repo"])
            .arg(&repo),
    );
    assert_eq!(
        without_ages(seen["status"]["structured"].clone()),
        without_ages(expected.clone())
    );
    assert_eq!(seen["status"]["structured"]["totalSessions"], 2);

    let me = &seen["mine"]["structured"];
    assert_eq!(seen["mine"]["isError"], false);
    assert_eq!(me["sessionId"], my_id);
    assert_eq!(me["worktreePath"], mine["worktreePath"]);
    assert_eq!(me["isMainRepo"], false);
    assert_eq!(me["parallelSessions"], 2);
    // The text content carries the same structure.
    let text: Value = serde_json::from_str(seen["mine"]["text"][0].as_str().unwrap()).unwrap();
    assert_eq!(&text, me);
}

#[test]
fn without_a_session_the_tool_says_what_to_do() {
    let env = TestEnv::new();
    let seen = run_client(&env, "basic", None);
    assert_eq!(seen["mine"]["isError"], true);
    assert!(seen["mine"]["text"][0]
        .as_str()
        .unwrap()
        .contains("claude-parallel"));
    assert_eq!(seen["status"]["structured"]["totalSessions"], 0);
}

#[test]
fn two_servers_and_twenty_concurrent_calls_share_one_database() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let agents: Vec<LiveProcess> = (0..3).map(|_| LiveProcess::spawn()).collect();
    let ids: Vec<String> = agents
        .iter()
        .map(|a| {
            env.register(&repo, a.pid())["sessionId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let seen = run_client(&env, "concurrent", Some(&ids[1]));
    let results = seen["results"].as_array().unwrap();
    assert_eq!(results.len(), 20);
    for result in results {
        assert!(result.get("exception").is_none(), "{result}");
        assert_eq!(result["isError"], false, "{result}");
        let text = result["text"][0].as_str().unwrap_or_default();
        assert!(!text.contains("locked"), "{text}");
    }
}
