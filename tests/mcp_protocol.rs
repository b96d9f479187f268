//! The MCP server on raw stdio: version negotiation and every kind of bad
//! input, each answered with the right error while the server keeps going.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use serde_json::{json, Value};
use support::TestEnv;

struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Session {
    fn start(env: &TestEnv) -> Session {
        let mut child = env
            .pcc("pcc-mcp")
            .current_dir(env.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Session {
            child,
            stdin: Some(stdin),
            stdout,
        }
    }

    fn send_raw(&mut self, line: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(line).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn send(&mut self, message: Value) {
        self.send_raw(message.to_string().as_bytes());
    }

    fn receive(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "server closed its output");
        serde_json::from_str(&line).unwrap()
    }

    fn request(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let response = self.receive();
        assert_eq!(response["id"], id, "{response}");
        response
    }

    fn initialize(&mut self, version: &str) -> Value {
        let response = self.request(
            1,
            "initialize",
            json!({"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw-test", "version": "1"}}),
        );
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        response
    }

    fn ping_still_answered(&mut self, id: i64) {
        let response = self.request(id, "ping", json!({}));
        assert_eq!(response["result"], json!({}));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn error_code(response: &Value) -> i64 {
    response["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {response}"))
}

#[test]
fn every_supported_version_negotiates_and_unknown_gets_the_newest() {
    let env = TestEnv::new();
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
        let mut session = Session::start(&env);
        let response = session.initialize(version);
        assert_eq!(response["result"]["protocolVersion"], version);
        assert_eq!(response["result"]["serverInfo"]["name"], "parallel-cc");
        assert!(response["result"]["capabilities"]["tools"].is_object());
    }
    let mut session = Session::start(&env);
    assert_eq!(
        session.initialize("1999-01-01")["result"]["protocolVersion"],
        "2025-11-25"
    );
}

#[test]
fn tools_are_listed_with_schemas_and_annotations() {
    let env = TestEnv::new();
    let mut session = Session::start(&env);
    session.initialize("2025-06-18");
    let tools = session.request(2, "tools/list", json!({}))["result"]["tools"].clone();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, support::MCP_TOOLS);
    for tool in tools.as_array().unwrap() {
        assert_eq!(tool["inputSchema"]["type"], "object");
        assert_eq!(tool["outputSchema"]["type"], "object");
        let writes = [
            "claim_file",
            "release_file",
            "notify_when_merged",
            "rebase_assist",
            "detect_advanced_conflicts",
            "get_auto_fix_suggestions",
            "apply_auto_fix",
            "request_land",
        ]
        .contains(&tool["name"].as_str().unwrap());
        assert_eq!(
            tool["annotations"]["readOnlyHint"], !writes,
            "{}",
            tool["name"]
        );
        assert!(tool["description"].as_str().unwrap().len() > 40);
    }
}

#[test]
fn bad_input_gets_the_right_error_and_the_server_goes_on() {
    let env = TestEnv::new();
    let mut session = Session::start(&env);
    session.initialize("2025-06-18");

    session.send_raw(b"{this is not json");
    let response = session.receive();
    assert_eq!(error_code(&response), -32700);
    assert_eq!(response["id"], Value::Null);
    session.ping_still_answered(10);

    session.send(json!({"jsonrpc": "2.0", "id": 11, "params": {}}));
    let response = session.receive();
    assert_eq!(
        (error_code(&response), response["id"].clone()),
        (-32600, json!(11))
    );
    session.ping_still_answered(12);

    assert_eq!(
        error_code(&session.request(13, "no/such/method", json!({}))),
        -32601
    );
    session.ping_still_answered(14);

    let missing = session.request(
        15,
        "tools/call",
        json!({"name": "get_parallel_status", "arguments": {"bogus": 1}}),
    );
    assert_eq!(error_code(&missing), -32602);
    let wrong_type = session.request(
        16,
        "tools/call",
        json!({"name": "get_parallel_status", "arguments": {"repo_path": 42}}),
    );
    assert_eq!(error_code(&wrong_type), -32602);
    assert!(wrong_type["error"]["message"]
        .as_str()
        .unwrap()
        .contains("repo_path"));
    let unknown = session.request(
        17,
        "tools/call",
        json!({"name": "make_coffee", "arguments": {}}),
    );
    assert_eq!(error_code(&unknown), -32602);
    session.ping_still_answered(18);

    // A 10 MB line: a parse error, and the next request is answered.
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":19,\"method\":\"ping\",\"pad\":\"{}\"}}",
        "x".repeat(10 << 20)
    );
    session.send_raw(huge.as_bytes());
    assert_eq!(error_code(&session.receive()), -32700);
    session.ping_still_answered(20);

    // Notifications, even unknown ones, are never answered: the next
    // response is the ping's.
    session.send(json!({"jsonrpc": "2.0", "method": "notifications/whatever"}));
    session.ping_still_answered(21);

    // Batches were removed in 2025-06-18.
    session.send(json!([{"jsonrpc": "2.0", "id": 22, "method": "ping"}]));
    assert_eq!(error_code(&session.receive()), -32600);
    session.ping_still_answered(23);
}

#[test]
fn batches_are_handled_where_the_version_has_them() {
    let env = TestEnv::new();
    let mut session = Session::start(&env);
    session.initialize("2025-03-26");
    session.send(json!([
        {"jsonrpc": "2.0", "id": 5, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 6, "method": "nope"}
    ]));
    let responses = session.receive();
    let responses = responses.as_array().unwrap();
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0]["result"], json!({}));
    assert_eq!(error_code(&responses[1]), -32601);
}

#[test]
fn argument_errors_are_tool_results_in_the_newest_version() {
    let env = TestEnv::new();
    let mut session = Session::start(&env);
    session.initialize("2025-11-25");
    let response = session.request(
        2,
        "tools/call",
        json!({"name": "get_parallel_status", "arguments": {"repo_path": 1}}),
    );
    assert_eq!(response["result"]["isError"], true);
    assert!(response["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("repo_path"));
}

#[test]
fn end_of_input_ends_the_server_cleanly() {
    let env = TestEnv::new();
    let mut session = Session::start(&env);
    session.initialize("2025-06-18");
    drop(session.stdin.take());
    let status = session.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_front_door_serves_mcp_and_keeps_the_old_name() {
    let env = TestEnv::new();
    for (args, deprecated) in [(vec!["mcp", "serve"], false), (vec!["mcp-serve"], true)] {
        let mut child = env
            .pcc("git-pcc")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n")
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        let response: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(response, json!({"jsonrpc": "2.0", "id": 7, "result": {}}));
        let stderr = String::from_utf8_lossy(&output.stderr);
        if deprecated {
            assert_eq!(
                stderr,
                "warning: 'git pcc mcp-serve' is deprecated; use 'git pcc mcp serve'\n"
            );
        } else {
            assert_eq!(stderr, "");
        }
    }
}
