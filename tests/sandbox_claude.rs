//! `git-pcc-sandbox run` with the real Claude Code CLI as the agent, found
//! on PATH by the default `sandbox.agentCommand`, offline against the
//! scripted model server: the tool calls it makes change files in the
//! sandbox, and the work must come back as a branch of the user's
//! repository with the cost Claude Code itself reported, while the user's
//! checkout stays as it was and the API key is written nowhere.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::claude::{path_with_claude, ModelServer};
use support::TestEnv;

/// The agent's API key: a value of its own, so that finding it anywhere is
/// certainly a leak.
const API_KEY: &str = "sk-test-sandbox-key-5be1c0d2";

/// `git-pcc-sandbox run` with Claude Code first on PATH and the model
/// server's settings (the command's own environment, which the run passes
/// on).
fn sandbox_run(env: &TestEnv, server: &ModelServer, repo: &Path) -> Command {
    let mut command = env.pcc("git-pcc-sandbox");
    server.configure(&mut command);
    // The run's own timeout (minutes) ends a stuck agent, and the test.
    command
        .args(["run", "--timeout", "3"])
        .current_dir(repo)
        .env("ANTHROPIC_API_KEY", API_KEY)
        .env("PATH", path_with_claude(env))
        .env("PARALLEL_CC_GIT_USER", "Sandbox Agent")
        .env("PARALLEL_CC_GIT_EMAIL", "agent@example.com");
    command
}

fn run_json(command: &mut Command) -> (Output, Value) {
    let output = command.output().expect("run git-pcc-sandbox");
    let value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "no JSON ({err}) on stdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, value)
}

/// The JSON events of a run's log (the agent's stream-json lines); the
/// runner's own `[prefix]` lines are skipped.
fn log_events(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The `total_cost_usd` of the log's final `result` event.
fn reported_cost(events: &[Value]) -> f64 {
    let result = events
        .iter()
        .rev()
        .find(|e| e["type"] == "result")
        .expect("a result event in the log");
    assert_eq!(result["subtype"], "success", "{result}");
    assert_eq!(result["is_error"], false, "{result}");
    result["total_cost_usd"]
        .as_f64()
        .expect("total_cost_usd in the result event")
}

/// The commands of the agent's Bash tool calls, in order.
fn bash_commands(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "assistant")
        .flat_map(|e| {
            e["message"]["content"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|b| b["type"] == "tool_use" && b["name"] == "Bash")
        .map(|b| b["input"]["command"].as_str().unwrap().to_owned())
        .collect()
}

/// The text of the agent's tool results, in order.
fn tool_results(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "user")
        .flat_map(|e| {
            e["message"]["content"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|b| b["type"] == "tool_result")
        .map(|b| match &b["content"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn assert_no_key(place: &str, text: &str) {
    assert!(
        !text.contains(API_KEY),
        "the API key appears in {place}:\n{text}"
    );
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.as_ref().display()))
}

/// The user's repository as the run must leave it: HEAD, index, working
/// tree and worktrees.
fn checkout_state(env: &TestEnv, repo: &Path) -> (String, String, String, String, String) {
    (
        env.git(repo, &["rev-parse", "HEAD"]),
        env.git(repo, &["symbolic-ref", "HEAD"]),
        env.git(repo, &["status", "--porcelain", "--ignored"]),
        env.git(repo, &["ls-files", "--stage"]),
        env.git(repo, &["worktree", "list", "--porcelain"]),
    )
}

#[test]
fn claude_code_in_a_sandbox_brings_its_work_back_as_a_branch() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let database = env.data_dir.join("coordinator.db");
    let steps = vec![
        // What the agent can see: its key (which must not reach the log),
        // its home, and whether the coordinator's database is in reach.
        format!(
            r#"echo "key=$ANTHROPIC_API_KEY home=$HOME tmp=$TMPDIR"; if test -e '{}'; then echo "database visible"; else echo "database hidden"; fi"#,
            database.display()
        ),
        "printf 'notes by the agent\\n' > notes.txt && git add notes.txt && git commit -q -m 'Add notes'"
            .to_owned(),
        "printf 'edited by the agent\\n' >> README.md".to_owned(),
    ];
    let server = ModelServer::start(&env, &steps, "notes written");
    let before = checkout_state(&env, &repo);
    let files_before = support::snapshot(&repo);

    let (output, result) = run_json(
        sandbox_run(&env, &server, &repo)
            .arg("--repo")
            .arg(&repo)
            .args(["--prompt", "write the notes", "--branch", "auto", "--json"]),
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let id = result["sessionId"].as_str().unwrap().to_owned();
    let log_path = PathBuf::from(result["outputLog"].as_str().unwrap());
    let log = read(&log_path);
    assert!(
        output.status.success(),
        "{stdout}\nstderr: {stderr}\nlog:\n{log}"
    );
    assert_eq!(result["status"], "COMPLETED", "{stdout}\nlog:\n{log}");
    assert_eq!(result["exitCode"], 0);
    assert_eq!(result["error"], Value::Null);
    assert_eq!(result["result"], "notes written");
    assert_eq!(result["toolCalls"], 3);
    let branch = format!("parallel/sandbox-{}", &id[..8]);
    assert_eq!(result["branch"], branch.as_str());
    assert_eq!(result["worktree"], Value::Null);
    assert_eq!(
        result["filesChanged"],
        serde_json::json!(["README.md", "notes.txt"])
    );
    assert_eq!(
        result["commits"],
        serde_json::json!(["Add notes", "Uncommitted changes left by the agent"])
    );

    // The branch holds exactly the agent's change, on top of main.
    let main = env.git(&repo, &["rev-parse", "main"]);
    assert_eq!(
        env.git(&repo, &["rev-parse", &branch]).trim(),
        result["commit"].as_str().unwrap()
    );
    assert_eq!(env.git(&repo, &["merge-base", "main", &branch]), main);
    assert_eq!(
        env.git(&repo, &["diff", "--name-status", "main", &branch]),
        "M\tREADME.md\nA\tnotes.txt\n"
    );
    assert_eq!(
        env.git(&repo, &["show", &format!("{branch}:notes.txt")]),
        "notes by the agent\n"
    );
    assert_eq!(
        env.git(&repo, &["show", &format!("{branch}:README.md")]),
        "hello\nedited by the agent\n"
    );
    assert_eq!(
        env.git(
            &repo,
            &["log", "--format=%s|%an <%ae>", &format!("main..{branch}")]
        ),
        "Uncommitted changes left by the agent|Sandbox Agent <agent@example.com>\n\
         Add notes|Sandbox Agent <agent@example.com>\n"
    );
    assert_eq!(
        env.git(&repo, &["branch", "--list", "--format=%(refname:short)"]),
        format!("main\n{branch}\n")
    );

    // The user's checkout is as it was.
    assert_eq!(checkout_state(&env, &repo), before);
    assert_eq!(support::snapshot(&repo), files_before);

    // The log holds Claude Code's own stream-json events.
    let events = log_events(&log);
    let init = events
        .iter()
        .find(|e| e["type"] == "system" && e["subtype"] == "init")
        .unwrap_or_else(|| panic!("no system init event:\n{log}"));
    let workspace = result["sandbox"]["workspace"].as_str().unwrap();
    assert_eq!(init["cwd"], workspace, "Claude Code ran in the sandbox");
    assert_eq!(init["apiKeySource"], "ANTHROPIC_API_KEY");
    assert!(init["claude_code_version"].is_string(), "{init}");
    assert_eq!(bash_commands(&events), steps);
    let results = tool_results(&events);
    assert_eq!(results.len(), 3, "{log}");
    let run_dir = log_path.parent().unwrap();
    assert_eq!(run_dir, env.data_dir.join("sandboxes").join(&id));
    let seen = &results[0];
    assert!(
        seen.contains("key=[REDACTED] "),
        "the key is masked in the log: {seen}"
    );
    assert!(
        seen.contains(&format!(
            "home={} tmp={}",
            run_dir.join("home").display(),
            run_dir.join("tmp").display()
        )),
        "the agent's HOME and TMPDIR are the run's: {seen}"
    );
    if result["sandbox"]["confinement"] == "bwrap" {
        assert!(seen.contains("database hidden"), "{seen}");
    }

    // The cost is the one Claude Code computed and reported.
    let reported = reported_cost(&events);
    assert!(reported > 0.0, "the scripted usage costs something");
    assert_eq!(result["agentCost"].as_f64(), Some(reported));
    assert!(result["totalCost"].as_f64().unwrap() >= reported);
    let written: Value = serde_json::from_str(&read(run_dir.join("result.json"))).unwrap();
    assert_eq!(written["agentCost"].as_f64(), Some(reported));
    assert_eq!(written["status"], "COMPLETED");
    assert!(
        server.requests() >= 4,
        "one model request per step and one to end"
    );

    // The key is written nowhere.
    assert_no_key("output.log", &log);
    assert_no_key("result.json", &read(run_dir.join("result.json")));
    assert_no_key("changes.patch", &read(run_dir.join("changes.patch")));
    assert_no_key("the --json output", &stdout);
    assert_no_key("stderr", &stderr);

    // The sandbox itself is gone; the run's artifacts stay.
    assert_eq!(
        support::list_dir(run_dir),
        ["changes.patch", "output.log", "result.json"]
    );
}

#[test]
fn two_claude_code_sandboxes_at_once_each_bring_their_own_branch() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    // Each agent writes the id of its own run: the branches must not mix.
    let steps = vec![
        r#"echo "$PARALLEL_CC_SANDBOX_ID" > owner.txt && git add owner.txt && git commit -q -m 'Record the owner'"#
            .to_owned(),
    ];
    let server = ModelServer::start(&env, &steps, "recorded");
    let before = checkout_state(&env, &repo);
    let results_dir = env.path().join("results");

    let output = sandbox_run(&env, &server, &repo)
        .args(["--multi", "--task", "first", "--task", "second"])
        .args(["--max-concurrent", "2", "--branch", "auto", "--json"])
        .arg("--output-dir")
        .arg(&results_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stdout}\nstderr: {stderr}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["completed"], 2, "{stdout}");
    assert_eq!(summary["failed"], 0);

    let mut total = 0.0;
    for (i, task) in summary["tasks"].as_array().unwrap().iter().enumerate() {
        let id = task["sessionId"].as_str().unwrap();
        assert_eq!(task["status"], "COMPLETED");
        let branch = format!("parallel/sandbox-{}", &id[..8]);
        assert_eq!(task["branch"], branch.as_str());
        assert_eq!(
            env.git(&repo, &["diff", "--name-status", "main", &branch]),
            "A\towner.txt\n"
        );
        assert_eq!(
            env.git(&repo, &["show", &format!("{branch}:owner.txt")]),
            format!("{id}\n")
        );
        assert_eq!(
            env.git(&repo, &["log", "--format=%s", &format!("main..{branch}")]),
            "Record the owner\n"
        );
        let log = read(results_dir.join(format!("task-{}/output.log", i + 1)));
        let events = log_events(&log);
        assert_eq!(bash_commands(&events), steps);
        let reported = reported_cost(&events);
        assert!(reported > 0.0);
        assert_eq!(task["agentCost"].as_f64(), Some(reported));
        total += task["totalCost"].as_f64().unwrap();
        assert_no_key("output.log", &log);
    }
    assert!((summary["totalCost"].as_f64().unwrap() - total).abs() < 1e-9);
    assert_no_key("the --json output", &stdout);
    assert_no_key("stderr", &stderr);
    assert_eq!(checkout_state(&env, &repo), before);
}
