//! End to end with the real Codex CLI, Gemini CLI, OpenCode and Aider,
//! offline against the scripted stand-in of their model APIs: `git pcc
//! install --agent NAME` wires their hooks and MCP server in; two wrapped
//! sessions run at once (main checkout and a worktree) with their hooks
//! reporting into our database; a claim a Claude Code session holds denies
//! their edit; a sandbox run brings their work back with their tokens.
//! Aider has no hooks and no MCP client: its wrapped sessions turn idle
//! through its notifications command.
//!
//! Codex runs a hook only once its user trusted it (`/hooks` in its
//! terminal UI); these runs pass `--dangerously-bypass-hook-trust`, which
//! is what trusting does for one invocation.

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::{json, Value};
use support::agents::{
    aider_bin, codex_bin, configure_aider, configure_codex, configure_codex_home, configure_gemini,
    configure_gemini_home, gemini_bin, logged_requests, opencode_bin, opencode_config, path_with,
    AIDER_VARIABLES,
};
use support::claude::{files_with_prefix, path_with_claude, wait_for, ModelServer};
use support::wrapper;
use support::{LiveProcess, TestEnv};

/// What each agent's scripted shell step runs: the status it sees and where
/// it works, paired by the script's PID; the agents' shells may start as
/// login shells, so our binary is named by its path.
fn record_script(out: &Path) -> String {
    let git_pcc = support::bin("git-pcc");
    format!(
        "sleep 2\n'{}' status --json > '{}/status-'$$.json\npwd -P > '{}/pwd-'$$.txt\nsleep 1\n",
        git_pcc.display(),
        out.display(),
        out.display()
    )
}

fn install(env: &TestEnv, args: &[&str]) -> Value {
    let (output, report) = env.json(env.pcc("git-pcc").arg("install").args(args).arg("--json"));
    assert!(
        output.status.success(),
        "install {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    report
}

fn codex_command(env: &TestEnv, cwd: &Path, program: &Path, prompt: &str) -> Command {
    let mut command = env.command(program);
    configure_codex(&mut command);
    command
        .current_dir(cwd)
        .env("PATH", path_with(env, &codex_bin()))
        .args([
            "exec",
            "--json",
            "--dangerously-bypass-hook-trust",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            prompt,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn gemini_command(env: &TestEnv, server: &ModelServer, cwd: &Path, program: &Path) -> Command {
    let mut command = env.command(program);
    configure_gemini(&mut command, server);
    command
        .current_dir(cwd)
        .env("PATH", path_with(env, &gemini_bin()))
        .args([
            "-p",
            "do the scripted steps",
            "--output-format",
            "stream-json",
            "--yolo",
            "-m",
            "gemini-2.5-flash",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn finish(mut child: Child, what: &str) -> String {
    let status = wait_for(&mut child, 180);
    let mut stdout = String::new();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{what} failed: {stderr}\n{stdout}");
    stdout
}

/// Each agent's working directory with the status it recorded.
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

/// Two wrapped sessions of `agent` ran at once, one in the main checkout
/// and one in a worktree; each saw its own session recorded as `agent`,
/// `working` (its pre-tool hook reported it); both were released at exit.
fn assert_two_sessions(env: &TestEnv, repo: &Path, out: &Path, agent: &str) {
    assert_two_sessions_in(env, repo, out, agent, json!("working"));
}

/// [`assert_two_sessions`] with the state the sessions showed (`null` for
/// an agent without hooks).
fn assert_two_sessions_in(env: &TestEnv, repo: &Path, out: &Path, agent: &str, state: Value) {
    let mut places: Vec<String> = files_with_prefix(out, "pwd-")
        .iter()
        .map(|p| p.trim().to_owned())
        .collect();
    places.sort();
    assert_eq!(places.len(), 2, "{places:?}");
    let repo_path = repo.to_str().unwrap().to_owned();
    assert!(places.contains(&repo_path), "{places:?}");
    let worktree = places.iter().find(|p| **p != repo_path).unwrap().clone();
    assert!(
        worktree.starts_with(env.path().join("app-worktrees").to_str().unwrap()),
        "{worktree}"
    );
    for (place, snapshot) in own_snapshots(out) {
        let own = snapshot["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["worktreePath"] == place.as_str())
            .unwrap_or_else(|| panic!("no session at {place}: {snapshot}"))
            .clone();
        assert_eq!(own["agent"], agent, "{own}");
        assert_eq!(own["isMainRepo"], place == repo_path, "{own}");
        assert_eq!(
            own["state"],
            state,
            "the pre-tool hook reported it; hooks.log: {}",
            std::fs::read_to_string(env.data_dir.join("logs/hooks.log")).unwrap_or_default()
        );
    }
    assert_eq!(env.status()["totalSessions"], 0);
    assert!(!Path::new(&worktree).exists());
}

/// Only the Claude session is left, in the main checkout with its file as
/// it was, and no worktree was kept for work.
fn assert_no_work_kept(env: &TestEnv, repo: &Path) {
    let status = env.status();
    assert_eq!(status["totalSessions"], 1, "{status}");
    assert_eq!(status["sessions"][0]["agent"], "claude", "{status}");
    assert_eq!(status["keptWorktrees"], json!([]), "{status}");
    assert_eq!(
        std::fs::read_to_string(repo.join("src/lib.rs")).unwrap(),
        "fn a() {}\n"
    );
}

/// A live Claude Code session in the main checkout holding `file`
/// EXCLUSIVE.
fn claude_session_claiming(env: &TestEnv, repo: &Path, file: &str) -> (LiveProcess, String) {
    let holder = LiveProcess::spawn();
    let (output, registered) =
        env.json(env.pcc("git-pcc-register").arg("--repo").arg(repo).args([
            "--pid",
            &holder.pid().to_string(),
            "--agent",
            "claude",
            "--json",
        ]));
    assert!(output.status.success());
    let id = registered["sessionId"].as_str().unwrap().to_owned();
    let claim = support::mcp_call(
        env,
        &id,
        "claim_file",
        json!({"filePath": file, "mode": "EXCLUSIVE", "reason": "refactor"}),
    );
    assert!(claim.to_string().contains("EXCLUSIVE"), "{claim}");
    (holder, id)
}

#[test]
fn codex_sessions_run_wrapped_with_hooks_and_our_mcp_tools() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let out = env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("record.sh"), record_script(&out)).unwrap();
    let server = ModelServer::start(
        &env,
        &[format!("sh '{}/record.sh'", out.display())],
        "all done",
    );
    configure_codex_home(&env, &server);
    let report = install(&env, &["--agent", "codex", "--hooks", "--mcp"]);
    let components: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["component"].as_str().unwrap())
        .collect();
    assert_eq!(components, ["codex-hooks", "codex-mcp"]);
    let config = std::fs::read_to_string(env.home.join(".codex/config.toml")).unwrap();
    assert!(config.starts_with("model = \"gpt-5\"\n"), "{config}");
    assert!(
        config.contains("[mcp_servers.parallel-cc]\ncommand = "),
        "{config}"
    );
    // Doctor checks the agent it was wired into.
    let (_, doctor) = env.json(
        env.pcc("git-pcc")
            .args(["doctor", "--json"])
            .env("PATH", path_with(&env, &codex_bin())),
    );
    let check = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "agent codex")
        .unwrap_or_else(|| panic!("{doctor}"))
        .clone();
    assert_eq!(check["ok"], true, "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains("PreToolUse") && detail.contains("mcp: "),
        "{check}"
    );

    // Called as codex-parallel: a link to the wrapper.
    let links = env.path().join("links");
    std::fs::create_dir_all(&links).unwrap();
    std::os::unix::fs::symlink(wrapper(), links.join("codex-parallel")).unwrap();
    let agents: Vec<Child> = (0..2)
        .map(|_| {
            let child = codex_command(&env, &repo, &links.join("codex-parallel"), "record")
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(500));
            child
        })
        .collect();
    let outputs: Vec<String> = agents
        .into_iter()
        .map(|child| finish(child, "codex-parallel"))
        .collect();
    for output in &outputs {
        assert!(output.contains("\"type\":\"turn.completed\""), "{output}");
    }
    assert_two_sessions(&env, &repo, &out, "codex");

    // Its MCP client started our server and offered our tools to the model.
    let offered = logged_requests(&server)
        .iter()
        .map(|request| request["body"]["tools"].to_string())
        .any(|tools| tools.contains("get_parallel_status") && tools.contains("claim_file"));
    assert!(offered, "our MCP tools reached the model's tool list");

    // Uninstalling takes only ours out.
    install(&env, &["--agent", "codex", "--uninstall"]);
    let config = std::fs::read_to_string(env.home.join(".codex/config.toml")).unwrap();
    assert!(!config.contains("parallel-cc"), "{config}");
    assert!(config.contains("[model_providers.standin]"), "{config}");
    assert!(!env.home.join(".codex/hooks.json").exists());
}

#[test]
fn a_codex_edit_of_a_file_a_claude_session_holds_is_denied() {
    let env = TestEnv::new();
    let repo = env.repo_with("app", &[("src/lib.rs", "fn a() {}\n")]);
    let patch = "apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: src/lib.rs\n@@\n-fn a() {}\n+fn b() {}\n*** End Patch\nEOF\n";
    let server = ModelServer::start(&env, &[patch.to_owned()], "tried");
    configure_codex_home(&env, &server);
    install(&env, &["--agent", "codex", "--hooks"]);
    let (_holder, claude_id) = claude_session_claiming(&env, &repo, "src/lib.rs");

    // `--agent` comes first: the wrapper takes it, codex gets the rest.
    let plain = codex_command(&env, &repo, &wrapper(), "rename a");
    let mut wrapped = env.command(wrapper());
    configure_codex(&mut wrapped);
    wrapped
        .current_dir(&repo)
        .env("PATH", path_with(&env, &codex_bin()))
        .args(["--agent", "codex"])
        .args(plain.get_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    finish(wrapped.spawn().unwrap(), "claude-parallel --agent codex");

    // It worked in a worktree (the Claude session holds the main checkout)
    // and changed nothing there: the worktree went at release.
    assert_no_work_kept(&env, &repo);
    let denials: Vec<String> = logged_requests(&server)
        .iter()
        .flat_map(|request| {
            request["body"]["input"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|item| item["type"] == "function_call_output")
        .map(|item| item["output"].to_string())
        .collect();
    assert!(!denials.is_empty());
    for denial in &denials {
        assert!(
            denial.contains("src/lib.rs is claimed EXCLUSIVE by another parallel-cc session")
                && denial.contains(&claude_id),
            "{denial}"
        );
    }
    assert!(
        !denials.iter().any(|d| d.contains("Success. Updated")),
        "{denials:?}"
    );
}

#[test]
fn gemini_sessions_run_wrapped_with_hooks_and_our_mcp_tools() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let out = env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("record.sh"), record_script(&out)).unwrap();
    let server = ModelServer::start(
        &env,
        &[format!("sh '{}/record.sh'", out.display())],
        "all done",
    );
    configure_gemini_home(&env);
    install(&env, &["--agent", "gemini", "--hooks", "--mcp"]);
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(env.home.join(".gemini/settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        settings["security"]["auth"]["selectedType"],
        "gemini-api-key"
    );
    assert!(settings["hooks"]["BeforeTool"].is_array(), "{settings}");
    assert!(settings["mcpServers"]["parallel-cc"]["command"].is_string());

    let links = env.path().join("links");
    std::fs::create_dir_all(&links).unwrap();
    std::os::unix::fs::symlink(wrapper(), links.join("gemini-parallel")).unwrap();
    let agents: Vec<Child> = (0..2)
        .map(|_| {
            let child = gemini_command(&env, &server, &repo, &links.join("gemini-parallel"))
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1500));
            child
        })
        .collect();
    for child in agents {
        let output = finish(child, "gemini-parallel");
        assert!(output.contains("\"type\":\"result\""), "{output}");
    }
    assert_two_sessions(&env, &repo, &out, "gemini");
    let offered = logged_requests(&server)
        .iter()
        .map(|request| request["body"]["tools"].to_string())
        .any(|tools| tools.contains("get_parallel_status") && tools.contains("claim_file"));
    assert!(offered, "our MCP tools reached the model's tool list");

    install(&env, &["--agent", "gemini", "--uninstall"]);
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(env.home.join(".gemini/settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        settings,
        json!({
            "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
            "privacy": {"usageStatisticsEnabled": false}
        })
    );
}

#[test]
fn a_gemini_write_of_a_file_a_claude_session_holds_is_denied() {
    let env = TestEnv::new();
    let repo = env.repo_with("app", &[("src/lib.rs", "fn a() {}\n")]);
    let server = ModelServer::start_script(
        &env,
        json!({
            "commands": [{"tool": "write_file", "args": {"file_path": "src/lib.rs", "content": "fn b() {}\n"}}],
            "final": "tried"
        }),
    );
    configure_gemini_home(&env);
    install(&env, &["--agent", "gemini", "--hooks"]);
    let (_holder, claude_id) = claude_session_claiming(&env, &repo, "src/lib.rs");

    let plain = gemini_command(&env, &server, &repo, &wrapper());
    let mut wrapped = env.command(wrapper());
    configure_gemini(&mut wrapped, &server);
    wrapped
        .current_dir(&repo)
        .env("PATH", path_with(&env, &gemini_bin()))
        .args(["--agent", "gemini"])
        .args(plain.get_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = finish(wrapped.spawn().unwrap(), "claude-parallel --agent gemini");

    assert_no_work_kept(&env, &repo);
    let result = output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["type"] == "tool_result")
        .expect("a tool result");
    assert_eq!(result["status"], "error", "{result}");
    let message = result["output"].as_str().unwrap();
    assert!(
        message.contains("src/lib.rs is claimed EXCLUSIVE by another parallel-cc session")
            && message.contains(&claude_id),
        "{message}"
    );
}

#[test]
fn an_opencode_write_of_a_file_a_claude_session_holds_is_denied() {
    let env = TestEnv::new();
    let repo = env.repo_with("app", &[("src/lib.rs", "fn a() {}\n")]);
    let server = ModelServer::start_script(
        &env,
        json!({
            "commands": [{"tool": "write", "args": {"filePath": "src/lib.rs", "content": "fn b() {}\n"}}],
            "final": "tried"
        }),
    );
    let config_dir = env.home.join(".config/opencode");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("opencode.json"), opencode_config(&server)).unwrap();
    install(&env, &["--agent", "opencode", "--hooks"]);
    let (_holder, claude_id) = claude_session_claiming(&env, &repo, "src/lib.rs");

    let mut wrapped = env.command(wrapper());
    wrapped
        .current_dir(&repo)
        .env("PATH", path_with(&env, &opencode_bin()))
        .args([
            "--agent",
            "opencode",
            "run",
            "--format",
            "json",
            "do the scripted steps",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = finish(wrapped.spawn().unwrap(), "claude-parallel --agent opencode");

    assert_no_work_kept(&env, &repo);
    let denied = output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["type"] == "tool_use")
        .expect("a tool event");
    let state = &denied["part"]["state"];
    assert_eq!(state["status"], "error", "{denied}");
    let message = state["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("src/lib.rs is claimed EXCLUSIVE by another parallel-cc session")
            && message.contains(&claude_id),
        "{denied}"
    );
}

/// `git pcc sandbox run --agent AGENT` of one prompt in `repo` (local
/// backend, work back as a branch), the agent found in `agent_bin`'s
/// directory, the variables `passed` given by name.
fn sandbox_run(
    env: &TestEnv,
    repo: &Path,
    agent: &str,
    agent_bin: &Path,
    passed: &[&str],
) -> Command {
    let mut command = env.pcc("git-pcc-sandbox");
    command.args(["run", "--agent", agent, "--timeout", "3"]);
    for name in passed {
        command.args(["--env", name]);
    }
    command
        .args(["--prompt", "write the notes", "--branch", "auto", "--json"])
        .current_dir(repo)
        .env("PATH", path_with(env, agent_bin))
        .env("PARALLEL_CC_GIT_USER", "Sandbox Agent")
        .env("PARALLEL_CC_GIT_EMAIL", "agent@example.com");
    command
}

/// Runs a [`sandbox_run`], which must succeed: its output and JSON result.
fn completed(env: &TestEnv, command: &mut Command) -> (Output, Value) {
    let (output, result) = env.json(command);
    assert!(
        output.status.success(),
        "{}\n{result}",
        String::from_utf8_lossy(&output.stderr)
    );
    (output, result)
}

/// The agent's API key in the sandbox test: a value of its own, so that
/// finding it anywhere is certainly a leak.
const OPENAI_KEY: &str = "sk-test-openai-sandbox-7d41aa09";
const ANTHROPIC_KEY: &str = "sk-ant-test-not-for-codex-93b2";
const GEMINI_KEY: &str = "test-gemini-sandbox-key-51c7e0";

#[test]
fn a_codex_sandbox_run_brings_its_work_back_with_its_tokens_and_estimated_cost() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let server = ModelServer::start(
        &env,
        &[
            "printf 'notes\\n' > notes.md && env | grep -c '^ANTHROPIC_' > anthropic-vars.txt; echo \"extra=$PCC_EXTRA\" > extra.txt".to_owned(),
        ],
        "wrote the notes",
    );
    codex_standin_config(&env, &server);
    let mut command = sandbox_run(&env, &repo, "codex", &codex_bin(), &["PCC_EXTRA"]);
    command
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        .env("PCC_EXTRA", "passed-by-name");
    let (output, result) = completed(&env, &mut command);
    assert_eq!(result["status"], "COMPLETED", "{result}");
    assert_eq!(result["agent"], "codex");
    assert_eq!(result["inputTokens"], 200);
    assert_eq!(result["outputTokens"], 40);
    assert_eq!(result["costSource"], "estimated");
    // 200 tokens at $1.25 and 40 at $10 per million.
    assert_eq!(result["agentCost"], 0.00065);
    assert_eq!(result["result"], "wrote the notes");

    let branch = result["branch"].as_str().unwrap();
    assert_eq!(
        env.git(&repo, &["show", &format!("{branch}:notes.md")]),
        "notes\n"
    );
    // Claude Code's key stayed out of Codex's sandbox; --env passed ours.
    assert_eq!(
        env.git(&repo, &["show", &format!("{branch}:anthropic-vars.txt")]),
        "0\n"
    );
    assert_eq!(
        env.git(&repo, &["show", &format!("{branch}:extra.txt")]),
        "extra=passed-by-name\n"
    );

    // The key is written nowhere: not in the result, the log, the database.
    let log = std::fs::read_to_string(result["outputLog"].as_str().unwrap()).unwrap();
    assert!(log.contains("\"type\":\"turn.completed\""), "{log}");
    for (place, text) in [
        ("result", result.to_string()),
        ("log", log),
        (
            "stderr",
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ),
    ] {
        assert!(!text.contains(OPENAI_KEY), "the key is in the {place}");
    }
    let conn = env.db();
    let (agent, tokens, source): (String, i64, String) = conn
        .query_row(
            "SELECT agent, input_tokens, cost_source FROM sandbox_runs",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (agent.as_str(), tokens, source.as_str()),
        ("codex", 200, "estimated")
    );

    // The month's spending, by agent.
    let (output, budget) = env.json(env.pcc("git-pcc").args(["budget", "status", "--json"]));
    assert!(output.status.success());
    let by_agent = budget["byAgent"].as_array().unwrap();
    assert_eq!(by_agent.len(), 1, "{budget}");
    assert_eq!(by_agent[0]["agent"], "codex");
    assert_eq!(by_agent[0]["runs"], 1);
    assert_eq!(by_agent[0]["inputTokens"], 200);
    assert_eq!(by_agent[0]["estimatedRuns"], 1);
    assert!(
        by_agent[0]["spent"].as_f64().unwrap() >= 0.00065,
        "{budget}"
    );
}

/// Config pointing Codex at the stand-in by its headless line, as a user
/// would point it at a provider of theirs; its tokens are priced.
fn codex_standin_config(env: &TestEnv, server: &ModelServer) {
    let provider = format!(
        "model_providers.standin={{name=\"scripted stand-in\",base_url=\"http://127.0.0.1:{}/v1\",wire_api=\"responses\",env_key=\"OPENAI_API_KEY\"}}",
        server.port
    );
    std::fs::create_dir_all(&env.data_dir).unwrap();
    std::fs::write(
        env.data_dir.join("config.json"),
        json!({
            "agents": {
                "codex": {
                    "headless": [
                        "codex", "exec", "--json", "--skip-git-repo-check",
                        "--dangerously-bypass-approvals-and-sandbox", "-m", "gpt-5",
                        "-c", "model_provider=\"standin\"", "-c", provider, "{prompt}"
                    ],
                    "model": "gpt-5"
                },
                "prices": {"gpt-5*": {"input": 1.25, "output": 10.0}}
            }
        })
        .to_string(),
    )
    .unwrap();
}

#[test]
fn a_multi_run_gives_each_task_the_agent_it_names() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let server = ModelServer::start(
        &env,
        &["printf 'notes\\n' > notes.md; env | grep -c '^ANTHROPIC_' > anthropic-vars.txt; env | grep -c '^OPENAI_' > openai-vars.txt".to_owned()],
        "wrote the notes",
    );
    codex_standin_config(&env, &server);
    // The template names Codex: the batch's agent, unless a task names
    // another. "fix:" names no agent: it is part of its task's prompt.
    let output = env
        .pcc("git-pcc")
        .args(["templates", "create", "notes-by-codex"])
        .args(["--description", "notes, by Codex", "--agent", "codex"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let task_file = env.path().join("tasks.txt");
    std::fs::write(&task_file, "# one task\nfix: write the notes\n").unwrap();
    let results_dir = env.path().join("results");

    let mut command = env.pcc("git-pcc-sandbox");
    server.configure(&mut command);
    command
        .args([
            "run",
            "--multi",
            "--timeout",
            "3",
            "--use-template",
            "notes-by-codex",
        ])
        .args(["--task", "claude: write the notes", "--task-file"])
        .arg(&task_file)
        .args(["--branch", "auto", "--json", "--output-dir"])
        .arg(&results_dir)
        .current_dir(&repo)
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        .env(
            "PATH",
            format!(
                "{}:{}",
                codex_bin().parent().unwrap().display(),
                path_with_claude(&env)
            ),
        )
        .env("PARALLEL_CC_GIT_USER", "Sandbox Agent")
        .env("PARALLEL_CC_GIT_EMAIL", "agent@example.com");
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stdout}\nstderr: {stderr}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["completed"], 2, "{stdout}");

    // Each task came back as its branch, made by its own agent with only
    // that agent's key.
    let tasks = summary["tasks"].as_array().unwrap();
    let expected = [
        ("claude", "write the notes", true, "0\n"),
        ("codex", "fix: write the notes", false, "1\n"),
    ];
    for (task, (agent, prompt, anthropic, openai)) in tasks.iter().zip(expected) {
        assert_eq!(task["status"], "COMPLETED", "{task}");
        assert_eq!(task["agent"], agent, "{task}");
        assert_eq!(task["prompt"], prompt, "{task}");
        let branch = task["branch"].as_str().unwrap();
        assert_eq!(
            env.git(&repo, &["show", &format!("{branch}:notes.md")]),
            "notes\n"
        );
        let vars = |name: &str| env.git(&repo, &["show", &format!("{branch}:{name}")]);
        assert_eq!(vars("anthropic-vars.txt") != "0\n", anthropic, "{agent}");
        assert_eq!(vars("openai-vars.txt"), openai, "{agent}");
    }
    assert_eq!(tasks[1]["inputTokens"], 200, "{}", tasks[1]);
    assert_eq!(tasks[1]["costSource"], "estimated");
    assert!(tasks[0]["agentCost"].as_f64().unwrap() > 0.0);

    // The runs, the report and the month's spending carry each task's agent.
    let conn = env.db();
    let mut statement = conn
        .prepare("SELECT agent, prompt FROM sandbox_runs ORDER BY task_index")
        .unwrap();
    let runs: Vec<(String, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        runs,
        [
            ("claude".to_owned(), "write the notes".to_owned()),
            ("codex".to_owned(), "fix: write the notes".to_owned())
        ]
    );
    let report = std::fs::read_to_string(results_dir.join("summary-report.md")).unwrap();
    assert!(report.contains("| 1 | claude | COMPLETED |"), "{report}");
    assert!(report.contains("| 2 | codex | COMPLETED |"), "{report}");
    let (output, budget) = env.json(env.pcc("git-pcc").args(["budget", "status", "--json"]));
    assert!(output.status.success());
    let mut agents: Vec<String> = budget["byAgent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{} {}", a["agent"].as_str().unwrap(), a["runs"]))
        .collect();
    agents.sort();
    assert_eq!(agents, ["claude 1", "codex 1"], "{budget}");
    for text in [&stdout, &stderr, &report] {
        assert!(!text.contains(OPENAI_KEY) && !text.contains(ANTHROPIC_KEY));
    }
}

#[test]
fn a_gemini_sandbox_run_brings_its_work_back_with_its_tokens() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let server = ModelServer::start(
        &env,
        &[
            "printf 'notes\\n' > notes.md; cat ~/.gemini/settings.json > seen-settings.json"
                .to_owned(),
        ],
        "wrote the notes",
    );
    std::fs::create_dir_all(&env.data_dir).unwrap();
    std::fs::write(
        env.data_dir.join("config.json"),
        json!({"agents": {"gemini": {"headless": [
            "gemini", "-p", "{prompt}", "--output-format", "stream-json", "--yolo",
            "-m", "gemini-2.5-flash"
        ]}}})
        .to_string(),
    )
    .unwrap();
    let passed = ["GOOGLE_GEMINI_BASE_URL"];
    let mut command = sandbox_run(&env, &repo, "gemini", &gemini_bin(), &passed);
    configure_gemini(&mut command, &server);
    command
        .env("GEMINI_API_KEY", GEMINI_KEY)
        .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY);
    let (output, result) = completed(&env, &mut command);
    assert_eq!(result["status"], "COMPLETED", "{result}");
    assert_eq!(result["agent"], "gemini");
    assert!(result["inputTokens"].as_u64().unwrap() > 0, "{result}");
    assert!(result["outputTokens"].as_u64().unwrap() > 0, "{result}");
    assert_eq!(result["toolCalls"], 1, "{result}");
    let branch = result["branch"].as_str().unwrap();
    assert_eq!(
        env.git(&repo, &["show", &format!("{branch}:notes.md")]),
        "notes\n"
    );
    // The settings its sandbox's home got: its key as its way in, the
    // workspace trusted.
    let seen: Value =
        serde_json::from_str(&env.git(&repo, &["show", &format!("{branch}:seen-settings.json")]))
            .unwrap();
    assert_eq!(seen["security"]["auth"]["selectedType"], "gemini-api-key");
    assert_eq!(seen["security"]["folderTrust"]["enabled"], false);
    let log = std::fs::read_to_string(result["outputLog"].as_str().unwrap()).unwrap();
    for text in [
        log,
        result.to_string(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ] {
        assert!(!text.contains(GEMINI_KEY) && !text.contains(ANTHROPIC_KEY));
    }
}

#[test]
fn an_opencode_sandbox_run_brings_its_work_back_with_its_tokens() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let server = ModelServer::start(
        &env,
        &["printf 'notes\\n' > notes.md".to_owned()],
        "wrote them",
    );
    std::fs::create_dir_all(&env.data_dir).unwrap();
    std::fs::write(
        env.data_dir.join("config.json"),
        json!({"agents": {
            "opencode": {"model": "standin/scripted"},
            "prices": {"standin/*": {"input": 2.0, "output": 8.0}}
        }})
        .to_string(),
    )
    .unwrap();
    let passed = ["OPENCODE_CONFIG_CONTENT"];
    let mut command = sandbox_run(&env, &repo, "opencode", &opencode_bin(), &passed);
    command
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("OPENCODE_CONFIG_CONTENT", opencode_config(&server));
    let (_, result) = completed(&env, &mut command);
    assert_eq!(result["status"], "COMPLETED", "{result}");
    assert_eq!(result["agent"], "opencode");
    assert_eq!(result["toolCalls"], 1, "{result}");
    assert_eq!(result["inputTokens"], 200);
    assert_eq!(result["outputTokens"], 40);
    // Its catalogue has no price for the stand-in's model: ours has.
    assert_eq!(result["costSource"], "estimated");
    assert_eq!(result["agentCost"], 0.00072);
    let branch = result["branch"].as_str().unwrap();
    assert_eq!(
        env.git(&repo, &["show", &format!("{branch}:notes.md")]),
        "notes\n"
    );
    let log = std::fs::read_to_string(result["outputLog"].as_str().unwrap()).unwrap();
    assert!(!log.contains(OPENAI_KEY) && !result.to_string().contains(OPENAI_KEY));
}

#[test]
fn opencode_sessions_run_wrapped_and_its_mcp_client_connects_to_ours() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let out = env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("record.sh"), record_script(&out)).unwrap();
    let server = ModelServer::start(
        &env,
        &[format!("sh '{}/record.sh'", out.display())],
        "all done",
    );
    let config_dir = env.home.join(".config/opencode");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("opencode.json"), opencode_config(&server)).unwrap();
    let report = install(&env, &["--agent", "opencode", "--mcp", "--hooks"]);
    // A notifier that records the state each session turned to.
    let notifier = out.join("notify.sh");
    std::fs::write(
        &notifier,
        format!(
            "#!/bin/sh\necho \"$PARALLEL_CC_NOTIFY_STATE\" > '{}/notified-'$$.txt\n",
            out.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&notifier, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (key, value) in [
        ("notify.enabled", "true".to_owned()),
        ("notify.idleAfterWorkingMinutes", "0".to_owned()),
        ("notify.command", json!([notifier]).to_string()),
    ] {
        let output = env
            .pcc("git-pcc")
            .args(["config", "set", key, &value])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let plugin = env.home.join(".config/opencode/plugins/parallel-cc.js");
    assert!(report.to_string().contains("opencode-hooks"), "{report}");
    assert!(std::fs::read_to_string(&plugin)
        .unwrap()
        .contains(support::bin("git-pcc").to_str().unwrap()));

    let listed = env
        .command(opencode_bin())
        .args(["mcp", "list"])
        .current_dir(&repo)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned()
        + &String::from_utf8_lossy(&listed.stderr);
    assert!(
        listed.contains("parallel-cc") && listed.contains("connected"),
        "{listed}"
    );

    let links = env.path().join("links");
    std::fs::create_dir_all(&links).unwrap();
    std::os::unix::fs::symlink(wrapper(), links.join("opencode-parallel")).unwrap();
    let agents: Vec<Child> = (0..2)
        .map(|_| {
            let mut command = env.command(links.join("opencode-parallel"));
            let child = command
                .current_dir(&repo)
                .env("PATH", path_with(&env, &opencode_bin()))
                .args(["run", "--format", "json", "do the scripted steps"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1500));
            child
        })
        .collect();
    for child in agents {
        let output = finish(child, "opencode-parallel");
        assert!(output.contains("\"type\":\"step_finish\""), "{output}");
    }
    // Our plugin's hook before the shell tool reported each session working;
    // its session.idle hook turned a session idle, which the notifier was
    // told. (`opencode run` exits right after its session turns idle, and
    // the wrapper then releases the session: the last hook of a run may
    // find it gone, so one of the two is enough here.)
    assert_two_sessions_in(&env, &repo, &out, "opencode", json!("working"));
    let mut notified = Vec::new();
    for _ in 0..100 {
        notified = files_with_prefix(&out, "notified-");
        if !notified.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!notified.is_empty() && notified.len() <= 2, "{notified:?}");
    assert!(
        notified.iter().all(|state| state.trim() == "idle"),
        "{notified:?}"
    );

    // Uninstalling takes the plugin away, and the directory made for it.
    install(&env, &["--agent", "opencode", "--hooks", "--uninstall"]);
    assert!(!plugin.exists() && !plugin.parent().unwrap().exists());
    assert!(config_dir.join("opencode.json").exists());
    let offered = logged_requests(&server)
        .iter()
        .map(|request| request["body"]["tools"].to_string())
        .any(|tools| tools.contains("get_parallel_status") && tools.contains("claim_file"));
    assert!(offered, "our MCP tools reached the model's tool list");
}

/// The stand-in's answer to Aider: a new file, in its whole-file edit format.
const AIDER_REPLY: &str = "I will write the notes.\n\nnotes.md\n```\nnotes from aider\n```\n";

/// A post-commit hook for `repo` (its worktrees share it): each commit
/// records the status, and where it was made, paired by the hook's PID.
fn record_each_commit(repo: &Path, out: &Path) {
    let hook = repo.join(".git/hooks/post-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\n\
             '{}' status --json > '{}/status-'$$.json\npwd -P > '{}/pwd-'$$.txt\n",
            support::bin("git-pcc").display(),
            out.display(),
            out.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn aider_sessions_run_wrapped_commit_their_work_and_turn_idle_when_it_asks() {
    let env = TestEnv::new();
    // `.aider*` ignored, as Aider offers on its first run in a repository.
    let repo = env.repo_with(
        "app",
        &[("README.md", "hello\n"), (".gitignore", ".aider*\n")],
    );
    let out = env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    record_each_commit(&repo, &out);
    let server = ModelServer::start_script(
        &env,
        json!({"reply": AIDER_REPLY, "commit": "docs: add the notes"}),
    );

    let links = env.path().join("links");
    std::fs::create_dir_all(&links).unwrap();
    std::os::unix::fs::symlink(wrapper(), links.join("aider-parallel")).unwrap();
    let agents: Vec<Child> = (1..=2)
        .map(|n| {
            let mut command = env.command(links.join("aider-parallel"));
            configure_aider(&env, &mut command, &server);
            // Each its own author: the two commits differ.
            let author = format!("Aider User {n}");
            let child = command
                .current_dir(&repo)
                .env("GIT_AUTHOR_NAME", &author)
                .env("GIT_COMMITTER_NAME", &author)
                .env("PATH", path_with(&env, &aider_bin()))
                .args(["--message", "write the notes", "--yes-always"])
                .args(["--no-check-update", "--no-show-release-notes"])
                .args(["--analytics-disable", "--no-pretty"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1500));
            child
        })
        .collect();
    for child in agents {
        let output = finish(child, "aider-parallel");
        assert!(output.contains("Applied edit to notes.md"), "{output}");
    }

    // Each commit was made in its own checkout, main and a worktree, while
    // its session was live, recorded as Aider's; Aider had asked its user
    // (whether to create notes.md) before, which ran its notifications
    // command, our Stop hook: the session was idle.
    let mut places: Vec<String> = files_with_prefix(&out, "pwd-")
        .iter()
        .map(|p| p.trim().to_owned())
        .collect();
    places.sort();
    assert_eq!(places.len(), 2, "{places:?}");
    let repo_path = repo.to_str().unwrap().to_owned();
    assert!(places.contains(&repo_path), "{places:?}");
    let worktree = places.iter().find(|p| **p != repo_path).unwrap().clone();
    for (place, snapshot) in own_snapshots(&out) {
        let own = snapshot["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["worktreePath"] == place.as_str())
            .unwrap_or_else(|| panic!("no session at {place}: {snapshot}"))
            .clone();
        assert_eq!(own["agent"], "aider", "{own}");
        assert_eq!(own["isMainRepo"], place == repo_path, "{own}");
        assert_eq!(own["state"], "idle", "{own}");
    }

    // Both sessions were released; each checkout has Aider's commit, and
    // the worktree is kept for it.
    let status = env.status();
    assert_eq!(status["totalSessions"], 0, "{status}");
    for place in [&repo_path, &worktree] {
        let place = Path::new(place);
        assert_eq!(
            env.git(place, &["log", "-1", "--format=%s"]).trim(),
            "docs: add the notes"
        );
        assert_eq!(
            env.git(place, &["show", "HEAD:notes.md"]),
            "notes from aider\n"
        );
        assert_eq!(env.git(place, &["status", "--porcelain"]), "");
    }
    let kept = status["keptWorktrees"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{status}");
    assert_eq!(kept[0]["worktreePath"], worktree.as_str(), "{status}");
    assert_eq!(kept[0]["unmergedCommits"], 1, "{status}");
    assert!(logged_requests(&server)
        .iter()
        .all(|request| request["body"]["model"] == "scripted"));
}

#[test]
fn an_aider_sandbox_run_brings_its_work_back_with_its_tokens_and_cost() {
    let env = TestEnv::new();
    let repo = env.repo_with(
        "app",
        &[("README.md", "hello\n"), (".gitignore", ".aider*\n")],
    );
    let server = ModelServer::start_script(&env, json!({"reply": AIDER_REPLY}));
    let mut command = sandbox_run(&env, &repo, "aider", &aider_bin(), &AIDER_VARIABLES);
    configure_aider(&env, &mut command, &server);
    command
        .env("OPENAI_API_KEY", OPENAI_KEY)
        .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY);
    let (output, result) = completed(&env, &mut command);
    assert_eq!(result["status"], "COMPLETED", "{result}");
    assert_eq!(result["agent"], "aider");
    // Its own count of the tokens and the cost it worked out from the
    // prices in the model's metadata, as its summary line in the log says.
    let log = std::fs::read_to_string(result["outputLog"].as_str().unwrap()).unwrap();
    let summary = log
        .lines()
        .find_map(|line| line.strip_prefix("Tokens: "))
        .unwrap_or_else(|| panic!("no summary line: {log}"));
    let (sent, rest) = summary.split_once(" sent, ").unwrap();
    let (received, cost) = rest.split_once(" received. Cost: $").unwrap();
    let session_cost = cost
        .split(", $")
        .nth(1)
        .unwrap()
        .trim_end_matches(" session.");
    let sent: u64 = sent.parse().unwrap();
    assert!(sent > 0, "{summary}");
    assert_eq!(result["inputTokens"], sent, "{result}");
    assert_eq!(result["outputTokens"], received.parse::<u64>().unwrap());
    assert_eq!(result["costSource"], "reported", "{result}");
    let reported: f64 = session_cost.parse().unwrap();
    assert!(reported > 0.0, "{summary}");
    assert_eq!(result["agentCost"], reported, "{result}");
    assert_eq!(result["lastActivity"], "Applied edit to notes.md");
    // Its edit (not committed: the profile runs it with --no-auto-commits)
    // came back as the branch's one commit; its own files (`.aider*`,
    // ignored) stayed out.
    assert_eq!(result["filesChanged"], json!(["notes.md"]), "{result}");
    let branch = result["branch"].as_str().unwrap();
    assert_eq!(
        env.git(&repo, &["show", &format!("{branch}:notes.md")]),
        "notes from aider\n"
    );
    assert_eq!(
        env.git(&repo, &["rev-list", "--count", &format!("main..{branch}")]),
        "1\n"
    );
    let conn = env.db();
    let (agent, tokens, source): (String, i64, String) = conn
        .query_row(
            "SELECT agent, input_tokens, cost_source FROM sandbox_runs",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (agent.as_str(), tokens as u64, source.as_str()),
        ("aider", sent, "reported")
    );
    // The keys are written nowhere.
    for text in [
        log,
        result.to_string(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ] {
        assert!(!text.contains(OPENAI_KEY) && !text.contains(ANTHROPIC_KEY));
    }
}
