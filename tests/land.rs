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
    /// How many merge events are recorded (one per landed item).
    fn merge_events(&self) -> i64 {
        self.env
            .db()
            .query_row("SELECT COUNT(*) FROM merge_events", [], |r| r.get(0))
            .unwrap()
    }

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
    let events = w.merge_events();
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
        let events = w.merge_events();
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

/// The runs of a check recorded in its log: each run's commit (from the
/// header the land writes) and the lines its command printed.
fn check_runs(log: &str) -> Vec<(String, Vec<String>)> {
    let mut runs: Vec<(String, Vec<String>)> = Vec::new();
    for line in std::fs::read_to_string(log).unwrap().lines() {
        if let Some(header) = line.strip_prefix("$ ") {
            let commit = header
                .split(", at ")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .unwrap_or_default()
                .to_owned();
            runs.push((commit, Vec::new()));
        } else if let Some(run) = runs.last_mut() {
            run.1.push(line.to_owned());
        }
    }
    runs
}

/// The value a check printed after `key ` in one run.
fn printed(run: &(String, Vec<String>), key: &str) -> f64 {
    run.1
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no {key} in {run:?}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn speculative_checks_run_at_once_and_a_failure_rechecks_only_what_stood_on_it() {
    let w = world(3);
    w.agent_commit(0, "f0.txt", "0\n");
    w.agent_commit(1, "fail.txt", "this branch breaks the check\n");
    w.agent_commit(2, "f2.txt", "2\n");
    let old_tip = w.main_tip();
    let marks = w.env.path().join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    // Each check prints when it starts and ends; it marks that it started,
    // then waits (30 s at most) for three items' checks to have started, and
    // says how many it saw: checks run one after another would see one.
    let check = format!(
        "echo \"start $(date +%s.%N)\"; touch {marks}/$PARALLEL_CC_LAND_ITEM; i=0; \
         while [ $(ls {marks} | wc -l) -lt 3 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
         echo \"saw $(ls {marks} | wc -l)\"; echo \"end $(date +%s.%N)\"; test ! -e fail.txt",
        marks = marks.display()
    );
    let names: Vec<&str> = w.agents.iter().map(|a| a.branch.as_str()).collect();
    let mut args = names.clone();
    args.extend(["--check", &check, "--jobs", "3"]);
    let (output, report) = w.land(&args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let items = report["items"].as_array().unwrap();
    let states: Vec<&str> = items.iter().map(|i| i["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["landed", "failed", "landed"], "{report:#}");
    // The failed one stops with its log; main holds the two others, in order.
    let reason = items[1]["reason"].as_str().unwrap();
    assert!(reason.contains("exit code 1"), "{reason}");
    assert!(
        reason.contains(items[1]["logPath"].as_str().unwrap()),
        "{reason}"
    );
    assert!(!w.main_files().contains(&"fail.txt".to_owned()));
    let log = w.git(&["log", "--format=%s", &format!("{old_tip}..main")]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["agent 2: f2.txt", "agent 0: f0.txt"]
    );
    assert_eq!(items[2]["landedCommit"].as_str().unwrap(), w.main_tip());
    // The third was checked again on the first one's landed commit.
    assert_eq!(items[2]["checkedTip"], items[0]["landedCommit"]);
    assert_eq!(w.git(&["rev-parse", "HEAD"]), w.main_tip());
    assert_eq!(w.git(&["status", "--porcelain"]), "");
    // The logs: one run each for the first two; the third ran on top of
    // the second's candidate (and failed there, fail.txt being in it), then
    // again on the landed first.
    let runs: Vec<_> = items
        .iter()
        .map(|i| check_runs(i["logPath"].as_str().unwrap()))
        .collect();
    assert_eq!(runs[0].len(), 1, "{runs:?}");
    assert_eq!(runs[1].len(), 1, "{runs:?}");
    assert_eq!(runs[2].len(), 2, "{runs:?}");
    assert_eq!(runs[0][0].0, items[0]["landedCommit"].as_str().unwrap());
    assert_eq!(runs[2][1].0, items[2]["landedCommit"].as_str().unwrap());
    let speculative = &runs[2][0].0;
    assert_ne!(speculative, &runs[2][1].0);
    assert!(w
        .git(&["ls-tree", "--name-only", speculative])
        .contains("fail.txt"));
    // The three first runs overlapped: each saw the others start, and every
    // one started before any ended.
    let first_runs = [&runs[0][0], &runs[1][0], &runs[2][0]];
    for run in first_runs {
        assert!(run.1.contains(&"saw 3".to_owned()), "{run:?}");
    }
    let last_start = first_runs
        .iter()
        .map(|r| printed(r, "start"))
        .fold(f64::MIN, f64::max);
    let first_end = first_runs
        .iter()
        .map(|r| printed(r, "end"))
        .fold(f64::MAX, f64::min);
    assert!(last_start < first_end, "{runs:?}");
    // Each item was taken once, and each landing is one merge event.
    for item in items {
        assert_eq!(item["attempts"], 1, "{item:#}");
    }
    let events = w.merge_events();
    assert_eq!(events, 2);
    let worktrees = w.git(&["worktree", "list", "--porcelain"]);
    assert!(!worktrees.contains("land/scratch"), "{worktrees}");
}

#[test]
fn more_items_than_jobs_run_jobs_checks_at_a_time_and_a_failure_restacks_the_waiting_ones() {
    let w = world(4);
    w.agent_commit(0, "f0.txt", "0\n");
    w.agent_commit(1, "fail.txt", "this branch breaks the check\n");
    w.agent_commit(2, "f2.txt", "2\n");
    w.agent_commit(3, "f3.txt", "3\n");
    let old_tip = w.main_tip();
    let (started, running) = (w.env.path().join("started"), w.env.path().join("running"));
    std::fs::create_dir_all(&started).unwrap();
    std::fs::create_dir_all(&running).unwrap();
    // Each run marks that it runs (its shell's pid) and says how many runs
    // it sees running (marks whose process lives: a cancelled run is
    // killed), waits (30 s at most) for two runs to have started, so the
    // first two overlap, then ends.
    let check = format!(
        "touch {running}/$$; n=0; for p in $(ls {running}); do kill -0 $p 2>/dev/null && n=$((n+1)); done; \
         echo \"running $n\"; touch {started}/$$; i=0; \
         while [ $(ls {started} | wc -l) -lt 2 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
         sleep 0.3; echo \"saw $(ls {started} | wc -l)\"; rm {running}/$$; test ! -e fail.txt",
        running = running.display(),
        started = started.display()
    );
    let names: Vec<&str> = w.agents.iter().map(|a| a.branch.as_str()).collect();
    let mut args = names.clone();
    args.extend(["--check", &check, "--jobs", "2"]);
    let (output, report) = w.land(&args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let items = report["items"].as_array().unwrap();
    let states: Vec<&str> = items.iter().map(|i| i["state"].as_str().unwrap()).collect();
    assert_eq!(
        states,
        ["landed", "failed", "landed", "landed"],
        "{report:#}"
    );
    let log = w.git(&["log", "--format=%s", &format!("{old_tip}..main")]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["agent 3: f3.txt", "agent 2: f2.txt", "agent 0: f0.txt"]
    );
    assert!(!w.main_files().contains(&"fail.txt".to_owned()));
    assert_eq!(items[3]["landedCommit"].as_str().unwrap(), w.main_tip());
    assert_eq!(items[2]["checkedTip"], items[0]["landedCommit"]);
    assert_eq!(items[3]["checkedTip"], items[2]["landedCommit"]);
    // No run ever saw more than two runs at once; the first two overlapped.
    let runs: Vec<_> = items
        .iter()
        .map(|i| check_runs(i["logPath"].as_str().unwrap()))
        .collect();
    // (A run cancelled early may have printed nothing.)
    let cancelled = |run: &(String, Vec<String>)| run.1.iter().any(|l| l.contains("cancelled"));
    for run in runs.iter().flatten() {
        if cancelled(run) && !run.1.iter().any(|l| l.starts_with("running ")) {
            continue;
        }
        let at_once = printed(run, "running");
        assert!((1.0..=2.0).contains(&at_once), "{runs:?}");
    }
    assert!(printed(&runs[0][0], "saw") >= 2.0, "{runs:?}");
    assert!(printed(&runs[1][0], "saw") >= 2.0, "{runs:?}");
    // The last run of each landed item checked what landed.
    for index in [0, 2, 3] {
        let last = runs[index].last().unwrap();
        assert_eq!(last.0, items[index]["landedCommit"].as_str().unwrap());
    }
    for item in items {
        assert_eq!(item["attempts"], 1, "{item:#}");
    }
    let events = w.merge_events();
    assert_eq!(events, 3);
    let worktrees = w.git(&["worktree", "list", "--porcelain"]);
    assert!(!worktrees.contains("land/scratch"), "{worktrees}");
    assert_eq!(w.git(&["status", "--porcelain"]), "");
}

#[test]
fn a_speculative_land_killed_at_any_step_resumes_and_lands_each_item_once() {
    // Three items checked at once; then four with two checked at once, two
    // prepared and waiting for their turn when the kill comes.
    for (agents, jobs) in [(3, "3"), (4, "2")] {
        killed_and_resumed(agents, jobs);
    }
}

fn killed_and_resumed(agents: usize, jobs: &str) {
    let failpoints = [
        "land:after-candidate@3",
        "land:during-check@2",
        "land:after-check",
        "land:before-ref@2",
        "land:after-ref",
        "land:after-record@2",
    ];
    for failpoint in failpoints {
        let step = format!("{failpoint} with {agents} items, --jobs {jobs}");
        let w = world(agents);
        for index in 0..agents {
            w.agent_commit(index, &format!("f{index}.txt"), &format!("{index}\n"));
        }
        let old_tip = w.main_tip();
        let names: Vec<&str> = w.agents.iter().map(|a| a.branch.as_str()).collect();
        let mut command = w.land_command(&names);
        command
            .args(["--check", "ls f*.txt"])
            .args(["--jobs", jobs, "--json"])
            .env("PARALLEL_CC_FAILPOINT", failpoint);
        let output = command.output().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            Some(9),
            "{step}: {}",
            stderr(&output)
        );
        // The target is at its old tip or at a candidate that was checked.
        let tip = w.main_tip();
        let candidates: Vec<String> = w
            .status()
            .iter()
            .filter_map(|i| i["candidateCommit"].as_str().map(str::to_owned))
            .collect();
        assert!(
            tip == old_tip || candidates.contains(&tip),
            "{step}: main at {tip}, not {old_tip} nor one of {candidates:?}"
        );
        let mut command = w.land_command(&names);
        command.args(["--jobs", jobs, "--json"]);
        let (output, report) = w.env.json(&mut command);
        assert!(
            output.status.success(),
            "{step}: {}{report:#}",
            stderr(&output)
        );
        for item in report["items"].as_array().unwrap() {
            assert_eq!(item["state"], "landed", "{step}: {report:#}");
        }
        let log = w.git(&["log", "--format=%s", "main"]);
        let mut expected: Vec<String> = (0..agents)
            .rev()
            .map(|index| format!("agent {index}: f{index}.txt"))
            .collect();
        expected.push("initial".to_owned());
        assert_eq!(log.lines().collect::<Vec<_>>(), expected, "{step}");
        assert_eq!(w.status().len(), agents, "{step}");
        let events = w.merge_events();
        assert_eq!(events, agents as i64, "{step}");
        let worktrees = w.git(&["worktree", "list", "--porcelain"]);
        assert!(!worktrees.contains("land/scratch"), "{step}: {worktrees}");
        assert_eq!(w.git(&["status", "--porcelain"]), "", "{step}");
    }
}

impl World {
    /// A bare repository `octo/widgets.git` as the remote `origin`, holding
    /// `main`.
    fn bare_origin(&self) -> PathBuf {
        let bare = self.env.path().join("octo").join("widgets.git");
        std::fs::create_dir_all(&bare).unwrap();
        self.env.git(&bare, &["init", "-q", "--bare"]);
        self.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
        self.git(&["push", "-q", "origin", "main"]);
        bare
    }

    fn remote_ref(&self, bare: &Path, branch: &str) -> String {
        self.env
            .git(bare, &["rev-parse", &format!("refs/heads/{branch}")])
            .trim()
            .to_owned()
    }
}

#[test]
fn push_lands_on_the_remote_and_a_refused_push_moves_nothing() {
    let w = world(3);
    let bare = w.bare_origin();
    w.agent_commit(0, "a.txt", "a\n");
    w.agent_commit(1, "b.txt", "b\n");
    w.agent_commit(2, "c.txt", "c\n");
    let (output, report) = w.land(&[
        &w.agents[0].branch,
        &w.agents[1].branch,
        "--push",
        "--check",
        "test -e README.md",
        "--jobs",
        "2",
    ]);
    assert!(output.status.success(), "{}{report:#}", stderr(&output));
    for item in report["items"].as_array().unwrap() {
        assert_eq!(item["state"], "landed", "{report:#}");
        assert!(
            item["reason"].as_str().unwrap().contains("pushed"),
            "{item:#}"
        );
    }
    assert_eq!(w.remote_ref(&bare, "main"), w.main_tip());
    assert_eq!(w.git(&["rev-parse", "HEAD"]), w.main_tip());
    // Someone else pushes to the remote's main: the next push is refused.
    let other = w.env.path().join("other");
    w.env.git(
        &w.env.path(),
        &[
            "clone",
            "-q",
            "-b",
            "main",
            bare.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    w.commit(&other, "theirs.txt", "theirs\n", "someone else");
    w.env.git(&other, &["push", "-q", "origin", "main"]);
    let remote_before = w.remote_ref(&bare, "main");
    let local_before = w.main_tip();
    let (output, report) = w.land(&[&w.agents[2].branch, "--push"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let item = &report["items"][0];
    assert_eq!(item["state"], "failed", "{report:#}");
    let reason = item["reason"].as_str().unwrap();
    assert!(
        reason.contains("the push of main was refused") && reason.contains("rejected"),
        "{reason}"
    );
    assert!(reason.contains("git pull"), "{reason}");
    // Nothing moved: the local target, the checkout, the remote, the branch.
    assert_eq!(w.main_tip(), local_before);
    assert_eq!(w.git(&["rev-parse", "HEAD"]), local_before);
    assert_eq!(w.git(&["status", "--porcelain"]), "");
    assert_eq!(w.remote_ref(&bare, "main"), remote_before);
    assert_eq!(
        w.git(&["log", "-1", "--format=%s", &w.agents[2].branch]),
        "agent 2: c.txt"
    );
    let worktrees = w.git(&["worktree", "list", "--porcelain"]);
    assert!(!worktrees.contains("land/scratch"), "{worktrees}");
    // Once main has what the remote has, it lands and is pushed.
    w.git(&["pull", "-q", "--ff-only", "origin", "main"]);
    let (output, report) = w.land(&[&w.agents[2].branch, "--push"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["items"][0]["state"], "landed");
    assert_eq!(w.remote_ref(&bare, "main"), w.main_tip());
    assert_eq!(w.show("main:theirs.txt"), "theirs\n");
}

#[test]
fn a_push_killed_before_the_local_move_is_finished_by_the_next_land() {
    let w = world(1);
    let bare = w.bare_origin();
    w.agent_commit(0, "a.txt", "a\n");
    let old_tip = w.main_tip();
    let mut command = w.land_command(&[&w.agents[0].branch, "--push", "--json"]);
    command.env("PARALLEL_CC_FAILPOINT", "land:after-push");
    let output = command.output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(output.status.signal(), Some(9), "{}", stderr(&output));
    assert_eq!(w.main_tip(), old_tip);
    let candidate = w.status()[0]["candidateCommit"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(w.remote_ref(&bare, "main"), candidate);
    let (output, report) = w.land(&[&w.agents[0].branch, "--push"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(report["items"][0]["state"], "landed", "{report:#}");
    assert_eq!(w.main_tip(), candidate);
    assert_eq!(w.remote_ref(&bare, "main"), candidate);
    assert_eq!(w.git(&["rev-parse", "HEAD"]), candidate);
    assert_eq!(w.status().len(), 1);
}

const GITHUB_TOKEN: &str = "ghp_StandInTokenValue0123456789abcdefXYZ";

#[test]
fn pr_opens_one_pull_request_per_item_with_its_prediction_and_check() {
    let w = world(2);
    let bare = w.bare_origin();
    w.agent_commit(0, "feature.txt", "feature\n");
    w.agent_commit(
        1,
        "src/name.ts",
        &NAME_TS.replace(
            "return `hello ${formatName(name)}`;",
            "return `hi there, ${formatName(name)}!`;",
        ),
    );
    // main renames what the second branch's line calls.
    w.commit(
        &w.repo,
        "src/name.ts",
        &NAME_TS.replace("formatName", "formatLabel"),
        "rename formatName",
    );
    let old_tip = w.main_tip();
    let github = support::stand_in::Server::start(
        "github_server.py",
        &["--token".to_owned(), GITHUB_TOKEN.to_owned()],
        &std::env::var("PATH").unwrap_or_default(),
    );
    let mut command = w.land_command(&[
        &w.agents[0].branch,
        &w.agents[1].branch,
        "--pr",
        "--check",
        "test -e feature.txt",
        "--json",
    ]);
    command
        .env("GITHUB_TOKEN", GITHUB_TOKEN)
        .env("GITHUB_API_URL", github.url());
    let (output, report) = w.env.json(&mut command);
    assert!(output.status.success(), "{}", stderr(&output));
    let items = report["items"].as_array().unwrap();
    for (index, item) in items.iter().enumerate() {
        assert_eq!(item["state"], "proposed", "{report:#}");
        let url = format!("{}/octo/widgets/pull/{}", github.url(), index + 1);
        assert_eq!(item["pullRequestUrl"], url.as_str());
        assert!(item["reason"].as_str().unwrap().contains(&url));
    }
    // Nothing landed here; each branch is on the remote.
    assert_eq!(w.main_tip(), old_tip);
    for agent in &w.agents {
        assert_eq!(
            w.remote_ref(&bare, &agent.branch),
            w.git(&["rev-parse", &agent.branch])
        );
    }
    let requests = github.log();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for (request, agent) in requests.iter().zip(&w.agents) {
        assert_eq!(request["path"], "/repos/octo/widgets/pulls");
        assert_eq!(request["status"], 201);
        assert_eq!(request["body"]["head"], agent.branch.as_str());
        assert_eq!(request["body"]["base"], "main");
    }
    let first = requests[0]["body"]["body"].as_str().unwrap();
    assert!(first.contains("**Conflict prediction**"), "{first}");
    assert!(first.contains("no conflict: it applies cleanly"), "{first}");
    assert!(first.contains(&old_tip[..7]), "{first}");
    assert!(first.contains("`test -e feature.txt` passed"), "{first}");
    let second = requests[1]["body"]["body"].as_str().unwrap();
    assert!(
        second.contains("conflicts with `main` in 1 file(s)")
            && second.contains("`src/name.ts`: SEMANTIC"),
        "{second}"
    );
    assert!(
        second.contains("not run: the branch does not apply cleanly"),
        "{second}"
    );
    assert_eq!(items[1]["conflicts"][0]["filePath"], "src/name.ts");
    // Without a token nothing is queued.
    let (output, _) = w.land(&[&w.agents[0].branch, "--pr"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("--pr needs GITHUB_TOKEN"), "{text}");
    assert_eq!(w.status().len(), 2);
}
