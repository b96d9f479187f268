//! `git pcc land`: five sessions' branches through the queue (three land,
//! one stops as a conflict, one as a failed check), the user's checkout
//! brought forward when clean and left alone when dirty, a target the user
//! moves during a check, two lands racing, and a land killed at each of its
//! steps and resumed. Results are read with the git CLI.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use support::{LiveProcess, TestEnv};

const APP_PY: &str = "import os\n\n\ndef main():\n    return os.getcwd()\n";
const NAME_TS: &str = "export function formatName(name: string): string {
  return name.trim();
}

export function greet(name: string): string {
  return `hello ${formatName(name)}`;
}
";

struct Agent {
    _process: LiveProcess,
    id: String,
    worktree: PathBuf,
    branch: String,
}

struct World {
    env: TestEnv,
    repo: PathBuf,
    _main: LiveProcess,
    agents: Vec<Agent>,
}

fn world(agents: usize) -> World {
    let env = TestEnv::new();
    let repo = env.repo_with(
        "app",
        &[
            ("README.md", "app\n"),
            ("src/app.py", APP_PY),
            ("src/name.ts", NAME_TS),
        ],
    );
    let main = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let agents = (0..agents)
        .map(|_| {
            let process = LiveProcess::spawn();
            let registered = env.register(&repo, process.pid());
            Agent {
                _process: process,
                id: registered["sessionId"].as_str().unwrap().to_owned(),
                worktree: PathBuf::from(registered["worktreePath"].as_str().unwrap()),
                branch: registered["branch"].as_str().unwrap().to_owned(),
            }
        })
        .collect();
    World {
        env,
        repo,
        _main: main,
        agents,
    }
}

impl World {
    fn commit(&self, dir: &Path, file: &str, content: &str, message: &str) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self.env.git(dir, &["add", file]);
        self.env.git(dir, &["commit", "-q", "-m", message]);
    }

    fn agent_commit(&self, index: usize, file: &str, content: &str) {
        let agent = &self.agents[index];
        self.commit(
            &agent.worktree,
            file,
            content,
            &format!("agent {index}: {file}"),
        );
    }

    fn land_command(&self, args: &[&str]) -> Command {
        let mut command = self.env.pcc("git-pcc");
        command.current_dir(&self.repo).arg("land").args(args);
        command
    }

    fn land(&self, args: &[&str]) -> (Output, Value) {
        let mut command = self.land_command(args);
        command.arg("--json");
        self.env.json(&mut command)
    }

    fn status(&self) -> Vec<Value> {
        let (output, value) = self.land(&["--status"]);
        assert!(output.status.success(), "{}", stderr(&output));
        value["items"].as_array().unwrap().clone()
    }

    fn git(&self, args: &[&str]) -> String {
        self.env.git(&self.repo, args).trim().to_owned()
    }

    fn main_tip(&self) -> String {
        self.git(&["rev-parse", "refs/heads/main"])
    }

    /// The files of `main`'s tree, as git lists them.
    fn main_files(&self) -> Vec<String> {
        self.git(&["ls-tree", "-r", "--name-only", "main"])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn show(&self, spec: &str) -> String {
        self.env.git(&self.repo, &["show", spec])
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

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn item_of<'a>(items: &'a [Value], branch: &str) -> &'a Value {
    items
        .iter()
        .rev()
        .find(|i| i["branch"] == branch)
        .unwrap_or_else(|| panic!("no item for {branch} in {items:?}"))
}

/// Five branches: two plain ones, one whose import addition collides with
/// the first (TRIVIAL, auto-fixable), one that edits a line calling what
/// the second renamed (SEMANTIC), one whose check fails.
fn five_branches(w: &World) {
    w.agent_commit(
        0,
        "src/app.py",
        &APP_PY.replace("import os\n", "import os\nimport sys\n"),
    );
    w.agent_commit(
        1,
        "src/name.ts",
        &NAME_TS.replace("formatName", "formatLabel"),
    );
    w.agent_commit(
        2,
        "src/app.py",
        &APP_PY.replace("import os\n", "import os\nimport json\n"),
    );
    w.agent_commit(
        3,
        "src/name.ts",
        &NAME_TS.replace(
            "return `hello ${formatName(name)}`;",
            "return `hi there, ${formatName(name)}!`;",
        ),
    );
    w.agent_commit(4, "fail.txt", "this branch breaks the check\n");
}

const CHECK: &str = "test ! -e fail.txt && test -e README.md";

#[test]
fn five_branches_land_three_and_stop_two_with_their_reasons() {
    let w = world(5);
    five_branches(&w);
    let old_tip = w.main_tip();
    let branches: Vec<&str> = w.agents.iter().map(|a| a.branch.as_str()).collect();
    let mut args = branches.clone();
    args.extend(["--check", CHECK, "--auto-fix"]);
    let (output, report) = w.land(&args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let items = report["items"].as_array().unwrap();
    let states: Vec<&str> = items.iter().map(|i| i["state"].as_str().unwrap()).collect();
    assert_eq!(
        states,
        ["landed", "landed", "landed", "conflict", "failed"],
        "{report:#}"
    );
    // The conflict names the file, its class and its hunks.
    let conflict = &items[3];
    assert_eq!(conflict["conflicts"][0]["filePath"], "src/name.ts");
    assert_eq!(conflict["conflicts"][0]["conflictType"], "SEMANTIC");
    assert!(!conflict["conflicts"][0]["hunks"]
        .as_array()
        .unwrap()
        .is_empty());
    let reason = conflict["reason"].as_str().unwrap();
    assert!(
        reason.contains("conflict in src/name.ts (SEMANTIC)"),
        "{reason}"
    );
    // The failed check names its log, which holds the check's output.
    let failed = &items[4];
    let reason = failed["reason"].as_str().unwrap();
    assert!(reason.contains("exit code 1"), "{reason}");
    let log = failed["logPath"].as_str().unwrap();
    assert!(reason.contains(log), "{reason}");
    assert!(std::fs::read_to_string(log).unwrap().contains(CHECK));
    // The target holds exactly the three landed branches' work, on the old
    // tip, in order, the TRIVIAL conflict fixed with both imports.
    let app = w.show("main:src/app.py");
    assert!(app.starts_with("import os\n"), "{app}");
    assert!(
        app.contains("import sys\n") && app.contains("import json\n"),
        "{app}"
    );
    assert!(w.show("main:src/name.ts").contains("formatLabel"));
    assert!(!w.main_files().contains(&"fail.txt".to_owned()));
    let log = w.git(&["log", "--format=%s", &format!("{old_tip}..main")]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "agent 2: src/app.py",
            "agent 1: src/name.ts",
            "agent 0: src/app.py"
        ]
    );
    assert_eq!(items[2]["landedCommit"].as_str().unwrap(), w.main_tip());
    // The main checkout had main checked out and was clean: brought along.
    assert_eq!(w.git(&["rev-parse", "HEAD"]), w.main_tip());
    assert_eq!(w.git(&["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(w.repo.join("src/app.py")).unwrap(),
        app
    );
    // No scratch worktree is left.
    let worktrees = w.git(&["worktree", "list", "--porcelain"]);
    assert!(!worktrees.contains("land/scratch"), "{worktrees}");
    // --status lists the same states and reasons.
    let listed = w.status();
    assert_eq!(listed.len(), 5);
    assert_eq!(item_of(&listed, &w.agents[3].branch)["state"], "conflict");
    // Every other live session hears of each landing; a stopped item's own
    // session hears why.
    let heard = w.hook_output(&w.agents[3].id);
    assert!(
        heard.contains(&format!(
            "branch {} was merged into main",
            w.agents[0].branch
        )),
        "{heard}"
    );
    assert!(
        heard.contains("your land of") && heard.contains("conflict in src/name.ts"),
        "{heard}"
    );
    let heard = w.hook_output(&w.agents[4].id);
    assert!(heard.contains("the check"), "{heard}");
    // Landed branches follow the landed commit, so nothing is held.
    assert_eq!(
        w.env
            .git(&w.agents[0].worktree, &["rev-parse", "HEAD"])
            .trim(),
        items[0]["landedCommit"].as_str().unwrap()
    );
    let merged = w.git(&["branch", "--merged", "main"]);
    assert!(merged.contains(&w.agents[2].branch), "{merged}");
    assert!(!merged.contains(&w.agents[3].branch), "{merged}");
}

#[test]
fn a_dirty_checkout_is_left_alone_and_the_item_waits_blocked() {
    let w = world(2);
    w.agent_commit(0, "feature.txt", "feature\n");
    w.agent_commit(1, "other.txt", "other\n");
    // The second agent has work it has not committed: not taken.
    std::fs::write(w.agents[1].worktree.join("wip.txt"), "wip\n").unwrap();
    std::fs::write(w.repo.join("README.md"), "my own edit\n").unwrap();
    let old_tip = w.main_tip();
    let (output, report) = w.land(&[&w.agents[0].branch, &w.agents[1].branch]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let blocked = &report["items"][0];
    assert_eq!(blocked["state"], "blocked", "{report:#}");
    let reason = blocked["reason"].as_str().unwrap();
    assert!(reason.contains("uncommitted"), "{reason}");
    assert!(reason.contains("then run 'git pcc land'"), "{reason}");
    let refused = &report["items"][1];
    assert_eq!(refused["state"], "failed");
    let reason = refused["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("refused: ") && reason.contains("uncommitted"),
        "{reason}"
    );
    // Nothing in the checkout was touched and the target did not move.
    assert_eq!(w.main_tip(), old_tip);
    assert_eq!(
        std::fs::read_to_string(w.repo.join("README.md")).unwrap(),
        "my own edit\n"
    );
    assert_eq!(w.git(&["status", "--porcelain"]), "M README.md");
    // Once the checkout is clean, the blocked item lands.
    w.git(&["checkout", "--", "README.md"]);
    let (output, report) = w.land(&[&w.agents[0].branch]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["items"][0]["state"], "landed");
    assert_eq!(
        report["items"][0]["id"], blocked["id"],
        "the same item went on"
    );
    assert_eq!(w.git(&["rev-parse", "HEAD"]), w.main_tip());
    assert_eq!(w.show("HEAD:feature.txt"), "feature\n");
    assert_eq!(w.git(&["status", "--porcelain"]), "");
}

#[test]
fn a_target_the_user_moves_during_the_check_is_replayed_and_checked_again() {
    let w = world(1);
    w.agent_commit(0, "feature.txt", "feature\n");
    let root = w.env.path();
    let runs = root.join("runs");
    // The first check commits in the user's checkout while it runs.
    let check = format!(
        "echo run >> {runs}; if [ ! -e {root}/moved ]; then touch {root}/moved; \
         echo user > {repo}/user.txt && git -C {repo} add user.txt && git -C {repo} commit -qm user; fi",
        runs = runs.display(),
        root = root.display(),
        repo = w.repo.display()
    );
    let (output, report) = w.land(&[&w.agents[0].branch, "--check", &check]);
    assert!(output.status.success(), "{}", stderr(&output));
    let item = &report["items"][0];
    assert_eq!(item["state"], "landed", "{report:#}");
    assert_eq!(item["attempts"], 1);
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "run\nrun\n");
    let log = w.git(&["log", "--format=%s", "main"]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["agent 0: feature.txt", "user", "initial"]
    );
    assert_eq!(
        item["checkedTip"].as_str().unwrap(),
        w.git(&["rev-parse", "main~1"])
    );
    assert_eq!(w.git(&["status", "--porcelain"]), "");
}

#[test]
fn two_racing_lands_land_every_item_exactly_once() {
    let w = world(4);
    for (index, agent) in w.agents.iter().enumerate() {
        let _ = agent;
        w.agent_commit(index, &format!("f{index}.txt"), &format!("{index}\n"));
    }
    let branches: Vec<String> = w.agents.iter().map(|a| a.branch.clone()).collect();
    let spawn = |names: &[&String]| {
        let mut command = w.land_command(&[]);
        command.args(names.iter().map(|s| s.as_str()));
        command.args(["--check", "sleep 0.2", "--json"]);
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Both name the second branch.
    let first = spawn(&[&branches[0], &branches[1]]);
    let second = spawn(&[&branches[2], &branches[1], &branches[3]]);
    for child in [first, second] {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        for item in report["items"].as_array().unwrap() {
            assert_eq!(item["state"], "landed", "{report:#}");
        }
    }
    let log = w.git(&["log", "--format=%s", "main"]);
    let mut subjects: Vec<&str> = log.lines().collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "agent 0: f0.txt",
            "agent 1: f1.txt",
            "agent 2: f2.txt",
            "agent 3: f3.txt",
            "initial"
        ]
    );
    let items = w.status();
    assert_eq!(items.len(), 4, "{items:?}");
    let events: i64 = w
        .env
        .db()
        .query_row("SELECT COUNT(*) FROM merge_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 4);
}

#[test]
fn a_land_killed_at_any_step_leaves_a_checked_tip_or_the_old_one_and_resumes() {
    let steps = [
        "land:after-claim",
        "land:after-candidate",
        "land:during-check",
        "land:after-check",
        "land:before-ref",
        "land:after-ref",
        "land:after-record",
    ];
    for step in steps {
        let w = world(2);
        w.agent_commit(0, "a.txt", "a\n");
        w.agent_commit(1, "b.txt", "b\n");
        let old_tip = w.main_tip();
        let names = [w.agents[0].branch.as_str(), w.agents[1].branch.as_str()];
        let check = "test -e a.txt -o -e b.txt";
        let mut command = w.land_command(&names);
        command
            .args(["--check", check, "--json"])
            .env("PARALLEL_CC_FAILPOINT", step);
        let output = command.output().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            Some(9),
            "{step}: {}",
            stderr(&output)
        );
        // The target is at its old tip or at the candidate that passed.
        let tip = w.main_tip();
        let first = &w.status()[0];
        let candidate = first["candidateCommit"].as_str().unwrap_or_default();
        assert!(
            tip == old_tip || tip == candidate,
            "{step}: main at {tip}, neither {old_tip} nor {candidate}"
        );
        if ["land:after-ref", "land:after-record"].contains(&step) {
            assert_eq!(tip, candidate, "{step}");
        }
        // The next land resumes the queue: each branch lands once.
        let (output, report) = w.land(&names);
        assert!(output.status.success(), "{step}: {}", stderr(&output));
        for item in report["items"].as_array().unwrap() {
            assert_eq!(item["state"], "landed", "{step}: {report:#}");
        }
        let log = w.git(&["log", "--format=%s", "main"]);
        assert_eq!(
            log.lines().collect::<Vec<_>>(),
            ["agent 1: b.txt", "agent 0: a.txt", "initial"],
            "{step}"
        );
        let items = w.status();
        assert_eq!(items.len(), 2, "{step}: {items:?}");
        let worktrees = w.git(&["worktree", "list", "--porcelain"]);
        assert!(!worktrees.contains("land/scratch"), "{step}: {worktrees}");
        assert_eq!(w.git(&["status", "--porcelain"]), "", "{step}");
        let events: i64 = w
            .env
            .db()
            .query_row("SELECT COUNT(*) FROM merge_events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(events, 2, "{step}");
    }
}

#[test]
fn bad_names_are_one_line_with_a_hint() {
    let w = world(1);
    let (output, value) = w.land(&["no-such-branch"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("error: no session or branch named no-such-branch (hint: "),
        "{text}"
    );
    assert_eq!(value["success"], false);
    let output = w.land_command(&[]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("is not the worktree of a session"),
        "{}",
        stderr(&output)
    );
    let (output, _) = w.land(&[&w.agents[0].branch, "--target", "nope"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no target branch named nope"));
}

#[test]
fn dry_run_changes_nothing() {
    let w = world(2);
    w.agent_commit(
        0,
        "src/name.ts",
        &NAME_TS.replace("formatName", "formatLabel"),
    );
    w.agent_commit(1, "src/name.ts", &NAME_TS.replace("hello", "hi"));
    let old_tip = w.main_tip();
    let (output, report) = w.land(&[&w.agents[0].branch, &w.agents[1].branch, "--dry-run"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["items"][0]["outcome"], "would land");
    assert_eq!(report["items"][1]["outcome"], "conflict");
    assert_eq!(w.main_tip(), old_tip);
    assert!(w.status().is_empty());
}

/// Runs the official MCP Python client as the agent of `session_id`,
/// making `calls` one after another.
fn mcp_calls(w: &World, session_id: &str, calls: Value) -> Vec<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let output = w
        .env
        .command(support::python())
        .arg(script)
        .arg("calls")
        .arg(support::bin("pcc-mcp"))
        .arg(calls.to_string())
        .current_dir(&w.repo)
        .env("PARALLEL_CC_SESSION_ID", session_id)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "MCP client failed: {}",
        stderr(&output)
    );
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    value["results"].as_array().cloned().unwrap_or_default()
}

#[test]
fn agents_ask_for_a_land_and_follow_it_through_the_python_mcp_client() {
    let w = world(1);
    w.agent_commit(0, "feature.txt", "feature\n");
    let id = w.agents[0].id.clone();
    let calls = mcp_calls(&w, &id, json!([["request_land", {}]]));
    let asked = &calls[0]["structured"];
    assert_eq!(calls[0]["isError"], false, "{calls:?}");
    let item_id = asked["itemId"].as_str().unwrap().to_owned();
    assert_eq!(asked["item"]["branch"], w.agents[0].branch.as_str());
    assert_eq!(asked["item"]["targetBranch"], "main");
    // The runner started in the background lands it.
    let mut state = Value::Null;
    for _ in 0..200 {
        let calls = mcp_calls(&w, &id, json!([["land_status", {"itemId": &item_id[..8]}]]));
        state = calls[0]["structured"]["items"][0]["state"].clone();
        if state == "landed" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(state, "landed");
    assert_eq!(w.show("main:feature.txt"), "feature\n");
    let all = mcp_calls(&w, &id, json!([["land_status", {}]]));
    assert_eq!(all[0]["structured"]["total"], 1);
    let unknown = mcp_calls(&w, &id, json!([["land_status", {"itemId": "ffffffff"}]]));
    assert_eq!(unknown[0]["isError"], true);
}
