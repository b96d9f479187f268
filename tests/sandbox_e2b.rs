//! `git-pcc-sandbox run --backend e2b` end to end, through the built binary,
//! against `tests/support/e2b_server.py` (a stand-in for E2B's control plane
//! and envd that runs the sandbox's processes locally) and, for
//! `--git-live`, `tests/support/github_server.py` (a stand-in for GitHub's
//! pull request API). The agent is a shell script named `claude` on the
//! stand-in server's PATH.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::stand_in::Server;
use support::TestEnv;

const API_KEY: &str = "e2b_0123456789abcdef0123456789abcdef";
const ANTHROPIC_KEY: &str = "sk-ant-api03-standin-secret-value-0123456789";
const GITHUB_TOKEN: &str = "ghp_StandInTokenValue0123456789abcdefXYZ";

/// The sandboxes the E2B stand-in holds alive.
trait LiveSandboxes {
    fn live_sandboxes(&self) -> serde_json::Map<String, Value>;
}

impl LiveSandboxes for Server {
    fn live_sandboxes(&self) -> serde_json::Map<String, Value> {
        self.get("/_state")["sandboxes"]
            .as_object()
            .unwrap()
            .clone()
    }
}

/// A header of a logged request, by case-insensitive name.
fn header<'a>(entry: &'a Value, name: &str) -> Option<&'a str> {
    entry["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// The path of a logged request without its query.
fn path_of(entry: &Value) -> &str {
    let path = entry["path"].as_str().unwrap();
    path.split('?').next().unwrap()
}

fn calls<'a>(log: &'a [Value], method: &str, path: &str) -> Vec<&'a Value> {
    log.iter()
        .filter(|e| e["method"] == method && path_of(e) == path)
        .collect()
}

/// The command line a logged Start ran, without the `setsid` every command
/// starts under (empty for other entries).
fn argv(entry: &Value) -> Vec<String> {
    let process = &entry["body"]["process"];
    let mut words: Vec<String> = std::iter::once(&process["cmd"])
        .chain(process["args"].as_array().into_iter().flatten())
        .filter_map(|w| w.as_str().map(str::to_owned))
        .collect();
    if words.first().map(String::as_str) == Some("setsid") {
        words.remove(0);
    }
    words
}

/// The Start calls whose command is `cmd`.
fn starts<'a>(log: &'a [Value], cmd: &str) -> Vec<&'a Value> {
    calls(log, "POST", "/process.Process/Start")
        .into_iter()
        .filter(|e| argv(e).first().map(String::as_str) == Some(cmd))
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// One test's world: a repository, a stand-in agent, a stand-in E2B.
struct World {
    env: TestEnv,
    repo: PathBuf,
    e2b: Server,
}

/// The stand-in agent's last line: Claude Code's `result` event.
const RESULT_LINE: &str = r#"echo '{"type":"result","subtype":"success","is_error":false,"num_turns":2,"result":"done","total_cost_usd":0.25}'"#;
const INIT_LINE: &str =
    r#"echo '{"type":"system","subtype":"init","session_id":"standin","model":"stand-in"}'"#;

impl World {
    /// `agent` is the body of the `claude` script (sh); the prompt is $2.
    fn new(agent: &str, server_args: &[&str]) -> World {
        let env = TestEnv::new();
        let repo = env.repo_with(
            "project",
            &[
                ("README.md", "hello\n"),
                ("src/lib.rs", "pub fn one() {}\n"),
            ],
        );
        let tools = env.path().join("tools");
        std::fs::create_dir_all(&tools).unwrap();
        let claude = tools.join("claude");
        std::fs::write(&claude, format!("#!/bin/sh\nset -e\n{agent}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path_var = format!(
            "{}:{}",
            tools.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut args = vec!["--api-key".to_owned(), API_KEY.to_owned()];
        args.extend(server_args.iter().map(|s| (*s).to_owned()));
        let e2b = Server::start("e2b_server.py", &args, &path_var);
        World { env, repo, e2b }
    }

    /// `git-pcc-sandbox` configured for the stand-in E2B.
    fn sandbox(&self) -> Command {
        let mut command = self.env.pcc("git-pcc-sandbox");
        command
            .current_dir(&self.repo)
            .env("E2B_API_KEY", API_KEY)
            .env("E2B_API_URL", self.e2b.url())
            .env("E2B_SANDBOX_URL", self.e2b.url())
            .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
            .env("E2B_MAX_RETRIES", "3")
            .env_remove("E2B_DEBUG")
            .env_remove("E2B_DOMAIN")
            .env_remove("ANTHROPIC_AUTH_TOKEN")
            .env_remove("CLAUDE_CODE_OAUTH_TOKEN")
            .env_remove("GITHUB_TOKEN")
            .env_remove("GH_TOKEN")
            .env_remove("GITHUB_API_URL");
        command
    }

    fn run_args(&self, extra: &[&str]) -> Command {
        let mut command = self.sandbox();
        command
            .args(["run", "--backend", "e2b", "--json", "--repo"])
            .arg(&self.repo)
            .args(extra);
        command
    }

    fn config_set(&self, key: &str, value: &str) {
        let output = self
            .env
            .pcc("git-pcc")
            .args(["config", "set", key, value])
            .output()
            .unwrap();
        assert!(output.status.success(), "{:?}", text(&output));
    }

    /// The runs recorded so far: (id, status).
    fn runs(&self) -> Vec<(String, String)> {
        if !self.env.data_dir.join("coordinator.db").exists() {
            return Vec::new();
        }
        let db = self.env.db();
        let Ok(mut stmt) = db.prepare("SELECT id, status FROM sandbox_runs ORDER BY created_at")
        else {
            return Vec::new();
        };
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map(|rows| rows.flatten().collect())
            .unwrap_or_default()
    }

    /// Waits for the single run to reach RUNNING and returns its id.
    fn running_run(&self) -> String {
        let mut id = String::new();
        wait_for(
            "the run to be RUNNING",
            Duration::from_secs(90),
            || match self.runs().first() {
                Some((run, status)) if status == "RUNNING" => {
                    id = run.clone();
                    true
                }
                _ => false,
            },
        );
        id
    }
}

fn finish(child: Child) -> (Output, Value) {
    let output = child.wait_with_output().unwrap();
    let value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output, value)
}

/// Every text value of every table of the database, one string.
fn dump_database(db: &rusqlite::Connection) -> String {
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .flatten()
        .collect();
    let mut out = String::new();
    for table in tables {
        let mut stmt = db.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        out.push_str(&String::from_utf8_lossy(t));
                    }
                    other => out.push_str(&format!("{other:?}")),
                }
                out.push('\t');
            }
            out.push('\n');
        }
    }
    out
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn a_run_brings_the_agents_changes_back_and_removes_the_sandbox() {
    let world = World::new(
        &format!(
            "{INIT_LINE}\n\
             echo '{{\"type\":\"assistant\",\"message\":{{\"content\":[{{\"type\":\"tool_use\",\"name\":\"Write\",\"input\":{{\"file_path\":\"hello.txt\"}}}}]}}}}'\n\
             printf 'hello from the sandbox\\n' > hello.txt\n\
             printf 'more\\n' >> README.md\n\
             {RESULT_LINE}"
        ),
        &[],
    );
    world.config_set("budget.e2bHourlyRate", "3600");
    let before = support::snapshot(&world.repo);
    let head_before = world.env.git(&world.repo, &["rev-parse", "HEAD"]);

    let (output, result) =
        world
            .env
            .json(&mut world.run_args(&["--prompt", "add a greeting", "--branch", "auto"]));
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(result["status"], "COMPLETED", "{result}");
    assert_eq!(result["exitCode"], 0);
    let id = result["sessionId"].as_str().unwrap();
    let branch = result["branch"].as_str().unwrap();
    assert_eq!(branch, format!("parallel/sandbox-{}", &id[..8]));

    // Exactly the agent's changes on the branch; the checkout untouched.
    let changes = world
        .env
        .git(&world.repo, &["diff", "--name-status", "main", branch]);
    assert_eq!(changes, "M\tREADME.md\nA\thello.txt\n");
    // What the agent left was committed by git in the sandbox.
    assert_eq!(
        result["commits"].as_array().unwrap().last().unwrap(),
        "Uncommitted changes left by the agent"
    );
    assert_eq!(
        world
            .env
            .git(&world.repo, &["show", &format!("{branch}:hello.txt")]),
        "hello from the sandbox\n"
    );
    assert_eq!(
        world
            .env
            .git(&world.repo, &["show", &format!("{branch}:README.md")]),
        "hello\nmore\n"
    );
    assert_eq!(support::snapshot(&world.repo), before);
    assert_eq!(
        world.env.git(&world.repo, &["rev-parse", "HEAD"]),
        head_before
    );
    assert_eq!(world.env.git(&world.repo, &["status", "--porcelain"]), "");
    assert_eq!(
        world.env.git(&world.repo, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );

    // Costs: the agent's own, plus a second of sandbox per second.
    assert_eq!(result["agentCost"], 0.25);
    let seconds = result["durationSeconds"].as_f64().unwrap();
    let total = result["totalCost"].as_f64().unwrap();
    assert!(seconds > 0.0);
    assert!(
        (total - 0.25 - seconds).abs() < 0.01,
        "total {total}, seconds {seconds}"
    );
    assert!((result["sandboxCost"].as_f64().unwrap() - seconds).abs() < 0.01);

    // What E2B saw.
    let log = world.e2b.log();
    // Created on the v2 route the current SDKs use (always secured).
    assert!(calls(&log, "POST", "/sandboxes").is_empty());
    let created = calls(&log, "POST", "/v2/sandboxes");
    assert_eq!(created.len(), 1);
    let create = created[0];
    assert_eq!(create["status"], 201);
    assert_eq!(header(create, "X-API-KEY"), Some(API_KEY));
    assert_eq!(create["body"]["templateID"], "base");
    assert!(create["body"].get("secure").is_none(), "{create}");
    assert_eq!(create["body"]["metadata"]["runId"], id);
    assert!(create["body"]["timeout"].as_u64().unwrap() > 0);
    let sandbox_id = result["sandbox"]["sandboxId"].as_str().unwrap();
    assert!(log.iter().any(|e| e["method"] == "POST"
        && e["path"] == "/files?path=workspace.tar.gz"
        && e["status"] == 200));
    let agent = starts(&log, "claude");
    assert_eq!(agent.len(), 1, "one agent start");
    let agent = agent[0];
    assert_eq!(agent["body"]["process"]["cwd"], "/home/user/workspace");
    assert_eq!(agent["body"]["stdin"], false);
    assert_eq!(argv(agent)[2], "add a greeting");
    // What the agent left running goes with it: its whole group is killed
    // once it ended (as the group of every command run in the workspace).
    let agent_at = log.iter().position(|e| std::ptr::eq(e, agent)).unwrap();
    let group_kill = log[agent_at..]
        .iter()
        .find(|e| {
            path_of(e) == "/process.Process/Start" && argv(e).first().is_some_and(|w| w == "kill")
        })
        .expect("a group kill after the agent");
    assert_eq!(
        argv(group_kill),
        ["kill", "-s", "KILL", "--", &format!("-{}", agent["pid"])]
    );
    for start in calls(&log, "POST", "/process.Process/Start") {
        // Every command but that kill leads a session of its own, so its
        // group can be signalled as a whole.
        if start["body"]["process"]["cmd"] != "kill" {
            assert_eq!(start["body"]["process"]["cmd"], "setsid", "{start}");
        }
        assert_eq!(header(start, "E2b-Sandbox-Id"), Some(sandbox_id));
        assert_eq!(header(start, "E2b-Sandbox-Port"), Some("49983"));
        assert_eq!(header(start, "Connect-Protocol-Version"), Some("1"));
        assert!(header(start, "X-Access-Token").is_some_and(|t| t.starts_with("envd-")));
        assert_eq!(
            header(start, "Content-Type"),
            Some("application/connect+json")
        );
        assert_eq!(start["status"], 200);
    }
    let control: Vec<&Value> = log
        .iter()
        .filter(|e| path_of(e).starts_with("/sandboxes"))
        .collect();
    let last = control.last().unwrap();
    assert_eq!(last["method"], "DELETE");
    assert_eq!(path_of(last), format!("/sandboxes/{sandbox_id}"));
    assert_eq!(last["status"], 204);
    assert!(world.e2b.live_sandboxes().is_empty());
}

#[test]
fn multi_runs_each_task_in_its_own_sandbox() {
    let world = World::new(
        &format!(
            "name=$(printf '%s' \"$2\" | tr ' ' '-')\n\
             printf '%s\\n' \"$2\" > \"$name.txt\"\n\
             sleep 0.3\n\
             {RESULT_LINE}"
        ),
        &[],
    );
    let results = world.env.path().join("results");
    let output = world
        .run_args(&[
            "--multi",
            "--task",
            "task one",
            "--task",
            "task two",
            "--task",
            "task three",
            "--max-concurrent",
            "2",
            "--branch",
            "auto",
            "--output-dir",
        ])
        .arg(&results)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let summary: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .expect("a summary line");
    assert_eq!(summary["total"], 3);
    assert_eq!(summary["completed"], 3);
    let tasks = summary["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    for task in tasks {
        assert_eq!(task["status"], "COMPLETED", "{task}");
        let branch = task["branch"].as_str().unwrap();
        let prompt = task["prompt"].as_str().unwrap();
        let file = format!("{}.txt", prompt.replace(' ', "-"));
        assert_eq!(
            world
                .env
                .git(&world.repo, &["diff", "--name-only", "main", branch]),
            format!("{file}\n")
        );
    }

    let log = world.e2b.log();
    let created: Vec<&Value> = calls(&log, "POST", "/v2/sandboxes")
        .into_iter()
        .filter(|e| e["status"] == 201)
        .collect();
    assert_eq!(created.len(), 3);
    let deleted: Vec<&Value> = log
        .iter()
        .filter(|e| e["method"] == "DELETE" && e["status"] == 204)
        .collect();
    assert_eq!(deleted.len(), 3);
    let mut ids: Vec<&str> = deleted
        .iter()
        .map(|e| path_of(e).trim_start_matches("/sandboxes/"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    // Never more than two sandboxes at once.
    let mut events: Vec<(f64, i32)> = created
        .iter()
        .map(|e| (e["time"].as_f64().unwrap(), 1))
        .chain(deleted.iter().map(|e| (e["time"].as_f64().unwrap(), -1)))
        .collect();
    events.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut alive = 0;
    for (_, change) in events {
        alive += change;
        assert!(alive <= 2, "more than two sandboxes at once");
    }
    assert!(world.e2b.live_sandboxes().is_empty());
}

#[test]
fn kill_from_another_process_deletes_the_sandbox() {
    let scratch = tempfile::tempdir().unwrap();
    let pids = scratch.path().to_path_buf();
    let world = World::new(
        &format!(
            "echo $$ > {pids}/agent.pid\n\
             sleep 120 &\n\
             echo $! > {pids}/sleep.pid\n\
             echo 'waiting'\n\
             wait",
            pids = pids.display()
        ),
        &[],
    );
    let child = world
        .run_args(&["--prompt", "wait forever", "--branch", "auto"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = world.running_run();
    wait_for("the agent's pids", Duration::from_secs(30), || {
        pids.join("sleep.pid").exists()
    });
    let read_pid = |name: &str| -> i32 {
        std::fs::read_to_string(pids.join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let agent_pid = read_pid("agent.pid");
    let sleep_pid = read_pid("sleep.pid");
    assert!(pid_alive(agent_pid) && pid_alive(sleep_pid));
    let sandbox_id = world
        .e2b
        .live_sandboxes()
        .keys()
        .next()
        .expect("a live sandbox")
        .clone();

    let (output, value) =
        world.env.json(
            world
                .sandbox()
                .args(["kill", "--session-id", &id, "--json"]),
        );
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(value["killed"], true);
    assert_eq!(value["status"], "KILLED", "{value}");

    let (output, result) = finish(child);
    assert!(!output.status.success());
    assert_eq!(result["status"], "KILLED", "{result}\n{:?}", text(&output));
    assert_eq!(result["error"], "killed");
    let log = world.e2b.log();
    assert!(log.iter().any(|e| e["method"] == "DELETE"
        && path_of(e) == format!("/sandboxes/{sandbox_id}")
        && e["status"] == 204));
    wait_for(
        "the agent's processes to end",
        Duration::from_secs(10),
        || !pid_alive(agent_pid) && !pid_alive(sleep_pid),
    );
    assert!(world.e2b.live_sandboxes().is_empty());
    let status: String = world
        .env
        .db()
        .query_row(
            "SELECT status FROM sandbox_runs WHERE id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "KILLED");
}

#[test]
fn status_and_download_reach_a_running_sandbox_from_another_process() {
    let scratch = tempfile::tempdir().unwrap();
    let release = scratch.path().join("release");
    let world = World::new(
        &format!(
            "printf 'in progress\\n' > work.txt\n\
             echo 'working'\n\
             while [ ! -f {release} ]; do sleep 0.1; done\n\
             {RESULT_LINE}",
            release = release.display()
        ),
        // The sandbox is in transition when it is first connected to.
        &["--fail", "POST:/v2/sandboxes/:409:1"],
    );
    let child = world
        .run_args(&["--prompt", "take your time", "--branch", "auto"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = world.running_run();

    let (output, status) =
        world.env.json(
            world
                .sandbox()
                .args(["status", "--session-id", &id, "--json"]),
        );
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(status["status"], "RUNNING", "{status}");
    assert_eq!(status["agentAlive"], true, "{status}");

    let dest = scratch.path().join("download");
    let (output, value) = world.env.json(
        world
            .sandbox()
            .args(["download", "--session-id", &id, "--json", "--output"])
            .arg(&dest),
    );
    assert!(output.status.success(), "{:?}", text(&output));
    assert!(
        value["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().ends_with("workspace")),
        "{value}"
    );
    let workspace = dest.join("workspace");
    assert_eq!(
        std::fs::read_to_string(workspace.join("work.txt")).unwrap(),
        "in progress\n"
    );
    assert_eq!(
        std::fs::read_to_string(workspace.join("README.md")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(workspace.join("src/lib.rs")).unwrap(),
        "pub fn one() {}\n"
    );
    assert!(dest.join("output.log").is_file());
    let log = world.e2b.log();
    let connects: Vec<&Value> = log
        .iter()
        .filter(|e| {
            e["method"] == "POST"
                && path_of(e).starts_with("/v2/sandboxes/")
                && path_of(e).ends_with("/connect")
        })
        .collect();
    let statuses: Vec<&Value> = connects.iter().map(|e| &e["status"]).collect();
    assert_eq!(statuses, [409, 200], "retried after the 409");
    // status asked the control plane about the sandbox.
    assert!(log.iter().any(|e| e["method"] == "GET"
        && path_of(e).starts_with("/sandboxes/")
        && e["status"] == 200));

    std::fs::write(&release, "").unwrap();
    let (output, result) = finish(child);
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(result["status"], "COMPLETED");
    assert_eq!(
        world.env.git(
            &world.repo,
            &[
                "show",
                &format!("{}:work.txt", result["branch"].as_str().unwrap())
            ]
        ),
        "in progress\n"
    );
    assert!(world.e2b.live_sandboxes().is_empty());
}

#[test]
fn a_wrong_api_key_is_one_clear_line() {
    let world = World::new(RESULT_LINE, &[]);
    let output = world
        .run_args(&["--prompt", "anything", "--branch", "auto"])
        .env("E2B_API_KEY", "e2b_ffffffffffffffffffffffffffffffff")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("HTTP 401")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("E2B_API_KEY"), "{stderr}");
    assert!(lines[0].contains("Invalid API key"), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["status"], "FAILED");
    assert!(result["sandbox"].is_null());
    let log = world.e2b.log();
    assert!(log.iter().all(|e| e["status"] != 201));
    assert_eq!(calls(&log, "POST", "/v2/sandboxes").len(), 1);
    assert!(world.e2b.live_sandboxes().is_empty());
}

#[test]
fn idempotent_calls_are_repeated_after_a_server_error() {
    let world = World::new(
        &format!("printf 'x\\n' > x.txt\n{RESULT_LINE}"),
        &[
            "--fail",
            "POST:/v2/sandboxes:429:1",
            "--fail",
            "GET:/files:500:1",
            "--fail",
            "DELETE:/sandboxes/:503:1",
        ],
    );
    let (output, result) = world
        .env
        .json(&mut world.run_args(&["--prompt", "write x", "--branch", "auto"]));
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(result["status"], "COMPLETED", "{result}");
    let log = world.e2b.log();
    let statuses = |method: &str, prefix: &str| -> Vec<i64> {
        log.iter()
            .filter(|e| e["method"] == method && path_of(e).starts_with(prefix))
            .map(|e| e["status"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(statuses("POST", "/v2/sandboxes"), vec![429, 201]);
    assert_eq!(statuses("GET", "/files"), vec![500, 200]);
    assert_eq!(statuses("DELETE", "/sandboxes/"), vec![503, 204]);
    assert!(world.e2b.live_sandboxes().is_empty());
}

#[test]
fn a_run_failing_after_its_sandbox_exists_still_removes_it() {
    // Uploads are not repeated: the first one failing ends the run.
    let world = World::new(RESULT_LINE, &["--fail", "POST:/files:500:1"]);
    let output = world
        .run_args(&["--prompt", "never starts", "--branch", "auto"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "{stdout}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["status"], "FAILED", "{result}");
    assert!(
        result["error"].as_str().unwrap().contains("HTTP 500"),
        "{result}"
    );
    // It had a sandbox, so this is the run's failure, not the command's.
    assert!(!stderr.contains("error:"), "{stderr}");
    let sandbox_id = result["sandbox"]["sandboxId"].as_str().unwrap();
    let log = world.e2b.log();
    assert!(starts(&log, "claude").is_empty());
    assert!(log.iter().any(|e| e["method"] == "DELETE"
        && path_of(e) == format!("/sandboxes/{sandbox_id}")
        && e["status"] == 204));
    assert!(world.e2b.live_sandboxes().is_empty());
}

#[test]
fn a_dropped_stream_is_picked_up_again() {
    let world = World::new(
        &format!(
            "echo 'before the cut'\n\
             sleep 2\n\
             echo 'after the reconnection'\n\
             printf 'done\\n' > done.txt\n\
             {RESULT_LINE}"
        ),
        &["--cut", "claude:1"],
    );
    let (output, result) =
        world
            .env
            .json(&mut world.run_args(&["--prompt", "survive a cut", "--branch", "auto"]));
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(result["status"], "COMPLETED", "{result}");
    assert_eq!(result["exitCode"], 0);
    assert_eq!(result["agentCost"], 0.25);
    let log_text = std::fs::read_to_string(result["outputLog"].as_str().unwrap()).unwrap();
    assert!(log_text.contains("before the cut"), "{log_text}");
    assert!(log_text.contains("after the reconnection"), "{log_text}");

    let log = world.e2b.log();
    let agent = starts(&log, "claude");
    assert_eq!(agent.len(), 1);
    assert_eq!(agent[0]["cut"], true);
    let reconnects = calls(&log, "POST", "/process.Process/Connect");
    assert!(!reconnects.is_empty());
    assert_eq!(reconnects[0]["body"]["process"]["pid"], agent[0]["pid"]);
    assert_eq!(reconnects[0]["status"], 200);
    assert_eq!(
        header(reconnects[0], "Content-Type"),
        Some("application/connect+json")
    );
    assert_eq!(
        world.env.git(
            &world.repo,
            &[
                "show",
                &format!("{}:done.txt", result["branch"].as_str().unwrap())
            ]
        ),
        "done\n"
    );
}

#[test]
fn git_live_pushes_the_branch_and_opens_a_pull_request() {
    let world = World::new(
        &format!("printf 'feature\\n' > feature.txt\n{RESULT_LINE}"),
        &[],
    );
    let bare = world.env.path().join("octo").join("widgets.git");
    std::fs::create_dir_all(&bare).unwrap();
    world.env.git(&bare, &["init", "-q", "--bare"]);
    world.env.git(
        &world.repo,
        &["remote", "add", "origin", bare.to_str().unwrap()],
    );
    world
        .env
        .git(&world.repo, &["push", "-q", "origin", "main"]);
    let github = Server::start(
        "github_server.py",
        &["--token".to_owned(), GITHUB_TOKEN.to_owned()],
        &std::env::var("PATH").unwrap_or_default(),
    );

    let (output, result) = world.env.json(
        world
            .run_args(&[
                "--prompt",
                "add a feature\nwith details",
                "--branch",
                "auto",
                "--git-live",
            ])
            .env("GITHUB_TOKEN", GITHUB_TOKEN)
            .env("GITHUB_API_URL", github.url()),
    );
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(result["status"], "COMPLETED", "{result}");
    let branch = result["branch"].as_str().unwrap();
    let commit = result["commit"].as_str().unwrap();
    let pushed = world.env.git(
        &world.repo,
        &[
            "--git-dir",
            bare.to_str().unwrap(),
            "rev-parse",
            &format!("refs/heads/{branch}"),
        ],
    );
    assert_eq!(pushed.trim(), commit);
    let url = format!("{}/octo/widgets/pull/1", github.url());
    assert_eq!(result["pullRequest"], url.as_str());

    let requests = github.log();
    assert_eq!(requests.len(), 1);
    let pr = &requests[0];
    assert_eq!(pr["path"], "/repos/octo/widgets/pulls");
    assert_eq!(pr["status"], 201);
    assert_eq!(
        header(pr, "Authorization"),
        Some(format!("Bearer {GITHUB_TOKEN}").as_str())
    );
    assert_eq!(pr["body"]["head"], branch);
    assert_eq!(pr["body"]["base"], "main");
    assert_eq!(pr["body"]["draft"], false);
    let title = pr["body"]["title"].as_str().unwrap();
    assert!(title.contains("add a feature"), "{title}");
    let body = pr["body"]["body"].as_str().unwrap();
    assert!(
        body.contains("with details") && body.contains("feature.txt"),
        "{body}"
    );

    let stored: Option<String> = world
        .env
        .db()
        .query_row(
            "SELECT pull_request_url FROM sandbox_runs WHERE id = ?1",
            [result["sessionId"].as_str().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored.as_deref(), Some(url.as_str()));
    assert!(world.e2b.live_sandboxes().is_empty());
}

#[test]
fn secrets_stay_out_of_logs_results_and_the_database() {
    let world = World::new(
        &format!(
            "echo \"anthropic: $ANTHROPIC_API_KEY\"\n\
             echo \"github: $GITHUB_TOKEN\" >&2\n\
             env | sort\n\
             printf 'ok\\n' > ok.txt\n\
             {RESULT_LINE}"
        ),
        &[],
    );
    let output = world
        .run_args(&["--prompt", "print secrets", "--branch", "auto"])
        .env("GITHUB_TOKEN", GITHUB_TOKEN)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["status"], "COMPLETED");
    let log_text = std::fs::read_to_string(result["outputLog"].as_str().unwrap()).unwrap();
    assert!(log_text.contains("anthropic: [REDACTED]"), "{log_text}");
    assert!(log_text.contains("github: [REDACTED]"), "{log_text}");
    let result_file = std::fs::read_to_string(result["resultFile"].as_str().unwrap()).unwrap();
    let mut places = vec![
        ("output.log", log_text),
        ("result.json", result_file),
        ("stdout", stdout),
        ("stderr", stderr),
        ("database", dump_database(&world.env.db())),
    ];
    if let Some(patch) = result["patch"].as_str() {
        places.push(("changes.patch", std::fs::read_to_string(patch).unwrap()));
    }
    for (place, content) in &places {
        for secret in [API_KEY, GITHUB_TOKEN, ANTHROPIC_KEY] {
            assert!(!content.contains(secret), "{secret} in {place}");
        }
    }
    // The agent did get them.
    let log = world.e2b.log();
    let envs = &starts(&log, "claude")[0]["body"]["process"]["envs"];
    assert_eq!(envs["ANTHROPIC_API_KEY"], ANTHROPIC_KEY);
    assert_eq!(envs["GITHUB_TOKEN"], GITHUB_TOKEN);
    assert!(envs.get("E2B_API_KEY").is_none());
}

#[test]
fn an_ssh_key_is_private_while_the_agent_runs_and_gone_after() {
    let scratch = tempfile::tempdir().unwrap();
    let key = scratch.path().join("id_test");
    std::fs::write(
        &key,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nc3RhbmQtaW4ga2V5IG1hdGVyaWFs\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    let home_file = scratch.path().join("home");
    let world = World::new(
        &format!(
            "echo \"key mode: $(stat -c %a ~/.ssh/id_test)\"\n\
             echo \"$HOME\" > {home}\n\
             echo \"ssh: $GIT_SSH_COMMAND\"\n\
             printf 'k\\n' > k.txt\n\
             {RESULT_LINE}",
            home = home_file.display()
        ),
        &[],
    );
    let output = world
        .run_args(&["--prompt", "use the key", "--branch", "auto", "--ssh-key"])
        .arg(&key)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:") && l.contains(key.to_str().unwrap()))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("--confirm-ssh-key"));
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["status"], "COMPLETED");
    let log_text = std::fs::read_to_string(result["outputLog"].as_str().unwrap()).unwrap();
    assert!(log_text.contains("key mode: 600"), "{log_text}");
    assert!(log_text.contains("ssh -i ~/.ssh/id_test"), "{log_text}");
    assert!(!log_text.contains("c3RhbmQtaW4ga2V5IG1hdGVyaWFs"));

    // Written, protected, removed after the agent, before the sandbox went.
    let log = world.e2b.log();
    let uploads: Vec<&Value> = log
        .iter()
        .filter(|e| e["method"] == "POST" && e["path"] == "/files?path=.ssh/id_test")
        .collect();
    assert_eq!(uploads.len(), 1);
    let position = |pred: &dyn Fn(&Value) -> bool| log.iter().position(pred).unwrap();
    let agent_at = position(&|e| argv(e).first().map(String::as_str) == Some("claude"));
    let chmod_at = position(&|e| argv(e) == ["chmod", "600", ".ssh/id_test"]);
    let rm_at = position(&|e| argv(e) == ["rm", "-f", ".ssh/id_test"]);
    let delete_at = position(&|e| e["method"] == "DELETE");
    assert!(chmod_at < agent_at && agent_at < rm_at && rm_at < delete_at);
    let home = std::fs::read_to_string(&home_file).unwrap();
    assert!(!Path::new(home.trim()).join(".ssh/id_test").exists());

    // Silenced with --confirm-ssh-key.
    let output = world
        .run_args(&[
            "--prompt",
            "use the key",
            "--branch",
            "auto",
            "--confirm-ssh-key",
            "--ssh-key",
        ])
        .arg(&key)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains("warning:"), "{stderr}");
}

#[test]
fn the_sandbox_life_is_extended_while_the_agent_works_within_the_maximum() {
    let world = World::new(
        &format!("sleep 2\nprintf 'x\\n' > x.txt\n{RESULT_LINE}"),
        &[],
    );
    world.config_set("sandbox.e2bMaxMinutes", "1");
    let (output, result) = world
        .env
        .json(&mut world.run_args(&["--prompt", "slow", "--branch", "auto"]));
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(result["status"], "COMPLETED", "{result}");
    let log = world.e2b.log();
    let create = calls(&log, "POST", "/v2/sandboxes")
        .into_iter()
        .next()
        .expect("a create call");
    assert_eq!(create["body"]["timeout"], 60, "{create}");
    let sandbox_id = result["sandbox"]["sandboxId"].as_str().unwrap();
    let extensions: Vec<&Value> = log
        .iter()
        .filter(|e| {
            e["method"] == "POST" && path_of(e) == format!("/sandboxes/{sandbox_id}/timeout")
        })
        .collect();
    assert!(
        !extensions.is_empty(),
        "no extension while the agent worked"
    );
    for extension in &extensions {
        let seconds = extension["body"]["timeout"].as_u64().unwrap();
        assert!((1..=60).contains(&seconds), "{extension}");
    }
    // Extended before it was removed.
    let position = |wanted: &Value| log.iter().position(|e| std::ptr::eq(e, wanted)).unwrap();
    let delete = log
        .iter()
        .find(|e| e["method"] == "DELETE")
        .expect("a delete");
    assert!(position(extensions[0]) < position(delete));
}

#[test]
fn an_npm_token_goes_only_into_the_sandbox_npm_config() {
    let token = "npm_StandInToken0123456789abcdefXYZ";
    let expected = format!(
        "registry=https://npm.example.test/team/\n//npm.example.test/team/:_authToken={token}"
    );
    let world = World::new(
        &format!(
            "echo \"npmrc mode: $(stat -c %a ~/.npmrc)\"\n\
             if [ \"$(cat ~/.npmrc)\" = '{expected}' ]; then echo npmrc-matches; fi\n\
             if [ -z \"$NPM_TOKEN\" ]; then echo no-token-in-env; fi\n\
             printf 'n\\n' > n.txt\n\
             {RESULT_LINE}"
        ),
        &[],
    );
    let output = world
        .run_args(&[
            "--prompt",
            "install",
            "--branch",
            "auto",
            "--npm-token",
            token,
            "--npm-registry",
            "https://npm.example.test/team/",
        ])
        .env_remove("NPM_TOKEN")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["status"], "COMPLETED", "{result}");
    let log_text = std::fs::read_to_string(result["outputLog"].as_str().unwrap()).unwrap();
    for line in ["npmrc mode: 600", "npmrc-matches", "no-token-in-env"] {
        assert!(log_text.contains(line), "{line} missing from {log_text}");
    }
    // The token is in no log, output or row.
    let db = dump_database(&world.env.db());
    for (place, shown) in [
        ("log", &log_text),
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("database", &db),
    ] {
        assert!(!shown.contains(token), "the token is in the {place}");
    }
    // Removed after the agent.
    let log = world.e2b.log();
    let position = |pred: &dyn Fn(&Value) -> bool| log.iter().position(pred);
    let agent_at = position(&|e| argv(e).first().map(String::as_str) == Some("claude")).unwrap();
    let rm_at =
        position(&|e| argv(e) == ["rm", "-f", ".npmrc"]).expect("the npm config is removed");
    assert!(agent_at < rm_at);
}

#[test]
fn git_in_the_sandbox_brings_back_hidden_edits_and_reports_nested_repositories() {
    let world = World::new(
        &format!(
            "{INIT_LINE}\n\
             git update-index --assume-unchanged README.md\n\
             git update-index --skip-worktree src/lib.rs\n\
             printf 'agent\\n' >> README.md\n\
             printf '// agent\\n' >> src/lib.rs\n\
             git init -q sub\n\
             printf 'one\\n' > sub/a.txt\n\
             git -C sub add a.txt\n\
             git -C sub commit -q -m first\n\
             printf 'two\\n' >> sub/a.txt\n\
             git init -q fresh\n\
             printf 'draft\\n' > fresh/draft.txt\n\
             {RESULT_LINE}"
        ),
        &[],
    );
    let (output, result) = world.env.json(&mut world.run_args(&[
        "--prompt",
        "hide and nest",
        "--branch",
        "e2b-hidden",
    ]));
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(result["status"], "COMPLETED", "{result}");
    // Edits git hides from a plain `git add -A`, and the repository with a
    // commit as a gitlink (the one without stays out).
    assert_eq!(
        world.env.git(
            &world.repo,
            &["diff", "--name-status", "main", "e2b-hidden"]
        ),
        "M\tREADME.md\nM\tsrc/lib.rs\nA\tsub\n"
    );
    assert_eq!(
        world
            .env
            .git(&world.repo, &["show", "e2b-hidden:README.md"]),
        "hello\nagent\n"
    );
    let expected = [
        "submodule fresh: 1 uncommitted file",
        "submodule sub: 1 uncommitted file, 1 commit not in the superproject",
    ];
    assert_eq!(result["notBroughtBack"], serde_json::json!(expected));
    let warnings: Vec<String> = expected
        .iter()
        .map(|line| format!("not brought back: {line}"))
        .collect();
    assert_eq!(result["warnings"], serde_json::json!(warnings));
    assert!(world.e2b.live_sandboxes().is_empty());
}

/// Runs `command` and waits at most `limit` for it, so that a run that
/// hangs fails the test instead of the suite.
fn output_within(command: &mut Command, limit: Duration) -> (Output, Value) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let (output, _) = finish(child);
            panic!("the run hung past {limit:?}: {:?}", text(&output));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    finish(child)
}

#[test]
fn a_stopped_agent_leaves_no_process_behind_though_envd_signals_one_pid() {
    let scratch = tempfile::tempdir().unwrap();
    let pids = scratch.path().to_path_buf();
    // The agent starts a child that ignores SIGTERM, then waits: signalling
    // the agent's PID alone, as envd does, would leave the child running.
    let world = World::new(
        &format!(
            "sh -c 'trap \"\" TERM; echo $$ > {pids}/child.pid; exec sleep 300' &\n\
             echo $$ > {pids}/agent.pid\n\
             echo 'working'\n\
             wait",
            pids = pids.display()
        ),
        &[],
    );
    let (output, result) = output_within(
        &mut world.run_args(&["--prompt", "never ends", "--timeout", "0.05"]),
        Duration::from_secs(90),
    );
    assert!(!output.status.success());
    assert_eq!(result["status"], "TIMEOUT", "{result}\n{:?}", text(&output));
    let read_pid = |name: &str| -> i64 {
        std::fs::read_to_string(pids.join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let agent_pid = read_pid("agent.pid");
    let child_pid = read_pid("child.pid");

    let log = world.e2b.log();
    let agent = starts(&log, "claude");
    assert_eq!(agent[0]["pid"], agent_pid);
    // The stop went to the agent's whole process group, while the child
    // was still there.
    let group_kill = starts(&log, "kill")
        .into_iter()
        .find(|e| argv(e) == ["kill", "-s", "TERM", "--", &format!("-{agent_pid}")])
        .expect("the agent's group is signalled");
    let alive = |entry: &Value| -> Vec<i64> {
        entry["alive"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_i64().unwrap())
            .collect()
    };
    assert!(alive(group_kill).contains(&child_pid), "{group_kill}");
    // The next command after the stop found nothing of the run alive.
    let position = |wanted: &Value| log.iter().position(|e| std::ptr::eq(e, wanted)).unwrap();
    let agent_end = log
        .iter()
        .skip(position(group_kill) + 1)
        .find(|e| {
            path_of(e) == "/process.Process/Start"
                && argv(e).first().map(String::as_str) != Some("kill")
        })
        .expect("a command after the stop");
    let left = alive(agent_end);
    assert!(
        !left.contains(&child_pid) && !left.contains(&agent_pid),
        "still running after the stop: {left:?}"
    );
    // Gone, or a zombie nobody has reaped yet.
    let state = std::fs::read_to_string(format!("/proc/{child_pid}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.rsplit(')').next().unwrap().trim().starts_with('Z'),
        "{state}"
    );
}

#[test]
fn an_ended_process_is_recognised_at_once_by_its_end_of_stream_error() {
    // Cut after the first output; the agent ends before the reconnection.
    let agent = format!("{RESULT_LINE}\nprintf 'x\\n' > x.txt");
    // envd before 0.6.0 keeps nothing of an ended process: Connect answers
    // HTTP 200 and an end-of-stream not_found error.
    let world = World::new(&agent, &["--envd-version", "0.5.8", "--cut", "claude:1"]);
    let (output, result) = output_within(
        &mut world.run_args(&["--prompt", "quick", "--branch", "auto"]),
        Duration::from_secs(60),
    );
    let log = world.e2b.log();
    let reconnects = calls(&log, "POST", "/process.Process/Connect");
    assert_eq!(reconnects.len(), 1, "{:?}", text(&output));
    assert_eq!(reconnects[0]["status"], 200);
    assert_eq!(reconnects[0]["streamError"], "not_found");
    assert_ne!(result["status"], "COMPLETED", "{result}");
    assert!(result["exitCode"].is_null(), "{result}");

    // Current envd replays the ended process's start and end events.
    let world = World::new(&agent, &["--cut", "claude:1"]);
    let (output, result) = output_within(
        &mut world.run_args(&["--prompt", "quick", "--branch", "auto"]),
        Duration::from_secs(60),
    );
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(result["status"], "COMPLETED", "{result}");
    assert_eq!(result["exitCode"], 0);
    let log = world.e2b.log();
    let reconnects = calls(&log, "POST", "/process.Process/Connect");
    assert_eq!(reconnects.len(), 1);
    assert!(
        reconnects[0].get("streamError").is_none(),
        "{}",
        reconnects[0]
    );
}

#[test]
fn a_sandbox_in_transition_or_with_its_port_closed_is_waited_for() {
    let world = World::new(
        &format!("printf 'x\\n' > x.txt\n{RESULT_LINE}"),
        &[
            "--fail",
            "POST:/process.Process/Start:409:2",
            "--fail",
            "POST:/process.Process/Start:502:1:port-closed",
        ],
    );
    let (output, result) = output_within(
        &mut world.run_args(&["--prompt", "write x", "--branch", "auto"]),
        Duration::from_secs(60),
    );
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(result["status"], "COMPLETED", "{result}");
    let log = world.e2b.log();
    let statuses: Vec<i64> = calls(&log, "POST", "/process.Process/Start")
        .iter()
        .take(4)
        .map(|e| e["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, vec![409, 409, 502, 200]);
    assert!(world.e2b.live_sandboxes().is_empty());
}

#[test]
fn a_sandbox_the_proxy_does_not_know_ends_the_run_with_one_line() {
    let world = World::new(
        &format!("printf 'x\\n' > x.txt\n{RESULT_LINE}"),
        &["--fail", "POST:/process.Process/Start:502:1:not-found"],
    );
    let (output, result) = output_within(
        &mut world.run_args(&["--prompt", "write x", "--branch", "auto"]),
        Duration::from_secs(60),
    );
    assert!(!output.status.success());
    assert_eq!(result["status"], "FAILED", "{result}");
    let error = result["error"].as_str().unwrap();
    assert!(error.contains("is not running any more"), "{error}");
    let log = world.e2b.log();
    // Not retried: the sandbox is gone.
    assert_eq!(calls(&log, "POST", "/process.Process/Start").len(), 1);
}

#[test]
fn a_deployment_without_the_v2_control_plane_is_reached_on_v1() {
    let world = World::new(
        &format!("printf 'x\\n' > x.txt\n{RESULT_LINE}"),
        &["--no-v2"],
    );
    let (output, result) = output_within(
        &mut world.run_args(&["--prompt", "write x", "--branch", "auto"]),
        Duration::from_secs(60),
    );
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(result["status"], "COMPLETED", "{result}");
    let log = world.e2b.log();
    let v2 = calls(&log, "POST", "/v2/sandboxes");
    assert_eq!(v2.len(), 1);
    assert_eq!(v2[0]["status"], 404);
    let v1 = calls(&log, "POST", "/sandboxes");
    assert_eq!(v1.len(), 1);
    assert_eq!(v1[0]["status"], 201);
    // v1 sandboxes are secured only when asked.
    assert_eq!(v1[0]["body"]["secure"], true);
    assert!(log
        .iter()
        .filter(|e| path_of(e) == "/process.Process/Start")
        .all(|e| header(e, "X-Access-Token").is_some()));
}

#[test]
fn an_old_envd_gets_a_user_and_multipart_uploads() {
    let world = World::new(
        &format!("printf 'x\\n' > x.txt\n{RESULT_LINE}"),
        &["--envd-version", "0.3.0"],
    );
    let (output, result) = output_within(
        &mut world.run_args(&["--prompt", "write x", "--branch", "auto"]),
        Duration::from_secs(60),
    );
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(result["status"], "COMPLETED", "{result}");
    let log = world.e2b.log();
    let upload = log
        .iter()
        .find(|e| e["method"] == "POST" && path_of(e) == "/files")
        .expect("an upload");
    assert_eq!(upload["status"], 200);
    assert!(
        header(upload, "Content-Type").is_some_and(|t| t.starts_with("multipart/form-data")),
        "{upload}"
    );
    for files in log.iter().filter(|e| path_of(e) == "/files") {
        assert!(
            files["path"].as_str().unwrap().contains("username=user"),
            "{files}"
        );
    }
    // Basic "user:" on every RPC.
    for rpc in log.iter().filter(|e| path_of(e).starts_with("/process.")) {
        assert_eq!(
            header(rpc, "Authorization"),
            Some("Basic dXNlcjo="),
            "{rpc}"
        );
    }

    // A current envd takes the bytes as they are, and names no user.
    let world = World::new(&format!("printf 'x\\n' > x.txt\n{RESULT_LINE}"), &[]);
    let (output, _) = output_within(
        &mut world.run_args(&["--prompt", "write x", "--branch", "auto"]),
        Duration::from_secs(60),
    );
    assert!(output.status.success(), "{:?}", text(&output));
    let log = world.e2b.log();
    let upload = log
        .iter()
        .find(|e| e["method"] == "POST" && path_of(e) == "/files")
        .expect("an upload");
    assert_eq!(
        header(upload, "Content-Type"),
        Some("application/octet-stream")
    );
    assert!(log.iter().all(|e| header(e, "Authorization").is_none()));
}

#[test]
fn a_silent_stream_is_given_up_and_picked_up_again() {
    // After the first output the stream stays open and says nothing, not
    // even keepalives: a half-open connection.
    let world = World::new(
        &format!(
            "echo 'before the silence'\n\
             sleep 5\n\
             echo 'after the silence'\n\
             printf 'done\\n' > done.txt\n\
             {RESULT_LINE}"
        ),
        &["--stall", "claude:1"],
    );
    let (output, result) = output_within(
        world
            .run_args(&["--prompt", "survive silence", "--branch", "auto"])
            .env("PCC_E2B_KEEPALIVE_SECONDS", "1"),
        Duration::from_secs(60),
    );
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(result["status"], "COMPLETED", "{result}");
    let log_text = std::fs::read_to_string(result["outputLog"].as_str().unwrap()).unwrap();
    assert!(log_text.contains("after the silence"), "{log_text}");
    let log = world.e2b.log();
    let agent = starts(&log, "claude");
    assert_eq!(agent[0]["stalled"], true);
    assert_eq!(header(agent[0], "Keepalive-Ping-Interval"), Some("1"));
    let reconnects = calls(&log, "POST", "/process.Process/Connect");
    assert!(!reconnects.is_empty());
    // Given up after three silent keepalive intervals, not at once.
    let waited = reconnects[0]["time"].as_f64().unwrap() - agent[0]["time"].as_f64().unwrap();
    assert!((3.0..5.0).contains(&waited), "reconnected after {waited} s");
}

#[test]
fn an_agent_that_leaves_a_background_job_holding_its_output_still_ends() {
    // envd's end event waits for the output pipes, which the job keeps open.
    let scratch = tempfile::tempdir().unwrap();
    let job = scratch.path().join("job.pid");
    let world = World::new(
        &format!(
            "sleep 300 &\n\
             echo $! > {job}\n\
             printf 'x\\n' > x.txt\n\
             {RESULT_LINE}",
            job = job.display()
        ),
        &[],
    );
    let started = Instant::now();
    let (output, result) = output_within(
        world
            .run_args(&["--prompt", "leave a job", "--branch", "auto"])
            .env("PCC_E2B_KEEPALIVE_SECONDS", "1"),
        Duration::from_secs(60),
    );
    assert!(output.status.success(), "{:?}", text(&output));
    assert_eq!(result["status"], "COMPLETED", "{result}");
    assert_eq!(result["exitCode"], 0);
    assert!(started.elapsed() < Duration::from_secs(30));
    let job_pid: i32 = std::fs::read_to_string(&job)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let state = std::fs::read_to_string(format!("/proc/{job_pid}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.rsplit(')').next().unwrap().trim().starts_with('Z'),
        "the job runs on: {state}"
    );
}
