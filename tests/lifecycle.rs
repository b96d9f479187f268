//! Register and release under races, held work, and stale sessions.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use support::{list_dir, snapshot, LiveProcess, TestEnv};

fn repo_with_files(env: &TestEnv, count: usize) -> PathBuf {
    let files: Vec<(String, String)> = (0..count)
        .map(|i| {
            (
                format!("src/dir{}/file{i}.txt", i % 20),
                format!("line {i}\n"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    env.repo_with("app", &refs)
}

fn parallel_branches(env: &TestEnv, repo: &Path) -> String {
    env.git(repo, &["branch", "--list", "parallel/*"])
}

fn worktree_of(registration: &Value) -> PathBuf {
    PathBuf::from(registration["worktreePath"].as_str().unwrap())
}

#[test]
fn twenty_four_racing_registers_and_releases() {
    let env = TestEnv::new();
    let repo = repo_with_files(&env, 300);
    let agents: Vec<LiveProcess> = (0..24).map(|_| LiveProcess::spawn()).collect();

    // Start every register before waiting for any, on a fresh data dir.
    let children: Vec<_> = agents
        .iter()
        .map(|agent| {
            env.pcc("git-pcc-register")
                .arg("--repo")
                .arg(&repo)
                .args(["--pid", &agent.pid().to_string(), "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<Value> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "register failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice(&output.stdout).unwrap()
        })
        .collect();

    let mains: Vec<&Value> = results.iter().filter(|r| r["isMainRepo"] == true).collect();
    assert_eq!(mains.len(), 1);
    assert_eq!(mains[0]["worktreePath"], repo.to_str().unwrap());
    let mut worktrees: Vec<PathBuf> = results
        .iter()
        .filter(|r| r["isMainRepo"] == false)
        .map(worktree_of)
        .collect();
    worktrees.sort();
    worktrees.dedup();
    assert_eq!(worktrees.len(), 23);

    let listed = env.git(&repo, &["worktree", "list", "--porcelain"]);
    for worktree in &worktrees {
        assert!(
            listed.contains(&format!("worktree {}\n", worktree.display())),
            "{} not in {listed}",
            worktree.display()
        );
        assert_eq!(env.git(worktree, &["status", "--porcelain"]), "");
        assert_eq!(list_dir(&worktree.join("src")).len(), 20);
    }
    assert_eq!(env.status()["totalSessions"], 24);

    let children: Vec<_> = agents
        .iter()
        .map(|agent| {
            env.pcc("git-pcc-release")
                .args(["--pid", &agent.pid().to_string(), "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "release failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["kept"], Value::Null);
    }

    assert_eq!(env.session_rows(), 0);
    assert_eq!(env.status()["totalSessions"], 0);
    assert!(
        !env.path().join("app-worktrees").exists(),
        "{:?}",
        list_dir(&env.path().join("app-worktrees"))
    );
    assert_eq!(parallel_branches(&env, &repo), "");
    assert_eq!(
        env.git(&repo, &["worktree", "prune", "--dry-run", "-v"]),
        ""
    );
    assert_eq!(
        env.git(&repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}

struct Pair {
    env: TestEnv,
    repo: PathBuf,
    _main: LiveProcess,
    agent: LiveProcess,
    worktree: PathBuf,
    branch: String,
}

fn main_and_worktree_sessions() -> Pair {
    let env = TestEnv::new();
    let repo = env.repo_with(
        "app",
        &[("README.md", "hello\n"), ("src/lib.rs", "pub fn f() {}\n")],
    );
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let registration = env.register(&repo, agent.pid());
    let branch = registration["branch"].as_str().unwrap().to_owned();
    Pair {
        worktree: worktree_of(&registration),
        branch,
        env,
        repo,
        _main: main,
        agent,
    }
}

fn release_json(env: &TestEnv, pid: u32, extra: &[&str]) -> Value {
    let (output, value) = env.json(
        env.pcc("git-pcc-release")
            .args(["--pid", &pid.to_string(), "--json"])
            .args(extra),
    );
    assert!(
        output.status.success(),
        "release failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

fn cleanup_json(env: &TestEnv, extra: &[&str]) -> Value {
    let (output, value) = env.json(env.pcc("git-pcc").args(["cleanup", "--json"]).args(extra));
    assert!(
        output.status.success(),
        "cleanup failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

#[test]
fn uncommitted_work_is_kept_until_forced() {
    let pair = main_and_worktree_sessions();
    let env = &pair.env;
    std::fs::write(pair.worktree.join("notes.txt"), "unsaved thoughts\n").unwrap();
    std::fs::write(pair.worktree.join("src/lib.rs"), "pub fn f() { todo!() }\n").unwrap();
    let before = snapshot(&pair.worktree);

    let report = release_json(env, pair.agent.pid(), &[]);
    assert_eq!(report["worktreeRemoved"], false);
    assert_eq!(report["kept"]["uncommittedFiles"], 2);
    assert_eq!(report["kept"]["unmergedCommits"], 0);
    assert_eq!(report["kept"]["reason"], "2 uncommitted files");
    assert_eq!(snapshot(&pair.worktree), before);
    assert!(parallel_branches(env, &pair.repo).contains(&pair.branch));
    let status = env.status();
    assert_eq!(status["totalSessions"], 1);
    assert_eq!(
        status["keptWorktrees"][0]["worktreePath"],
        pair.worktree.to_str().unwrap()
    );

    let cleanup = cleanup_json(env, &[]);
    assert_eq!(
        cleanup["kept"][0]["worktreePath"],
        pair.worktree.to_str().unwrap()
    );
    assert_eq!(cleanup["removedWorktrees"], serde_json::json!([]));
    assert_eq!(snapshot(&pair.worktree), before);

    let forced = cleanup_json(env, &["--force"]);
    assert_eq!(
        forced["removedWorktrees"],
        serde_json::json!([pair.worktree.to_str().unwrap()])
    );
    assert!(!pair.worktree.exists());
    assert_eq!(parallel_branches(env, &pair.repo), "");
    assert_eq!(env.status()["keptWorktrees"], serde_json::json!([]));
}

#[test]
fn commits_not_on_the_base_are_kept_until_merged() {
    let pair = main_and_worktree_sessions();
    let env = &pair.env;
    std::fs::write(pair.worktree.join("feature.txt"), "done\n").unwrap();
    env.git(&pair.worktree, &["add", "feature.txt"]);
    env.git(&pair.worktree, &["commit", "-q", "-m", "feature"]);
    let tip = env.git(&pair.repo, &["rev-parse", &pair.branch]);

    let report = release_json(env, pair.agent.pid(), &[]);
    assert_eq!(report["kept"]["unmergedCommits"], 1);
    assert_eq!(report["kept"]["uncommittedFiles"], 0);
    assert_eq!(report["kept"]["reason"], "1 commit not on main");
    assert_eq!(env.git(&pair.repo, &["rev-parse", &pair.branch]), tip);
    assert_eq!(
        std::fs::read_to_string(pair.worktree.join("feature.txt")).unwrap(),
        "done\n"
    );

    // Once main has the commit, the worktree holds nothing and cleanup may go.
    env.git(&pair.repo, &["merge", "-q", "--ff-only", &pair.branch]);
    let cleanup = cleanup_json(env, &[]);
    assert_eq!(
        cleanup["removedWorktrees"],
        serde_json::json!([pair.worktree.to_str().unwrap()])
    );
    assert!(!pair.worktree.exists());
    assert_eq!(parallel_branches(env, &pair.repo), "");
    assert_eq!(
        env.git(&pair.repo, &["log", "-1", "--format=%s"]).trim(),
        "feature"
    );
}

#[test]
fn clean_release_removes_worktree_branch_and_admin_dir() {
    let pair = main_and_worktree_sessions();
    let env = &pair.env;
    let name = pair
        .worktree
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(pair.repo.join(".git/worktrees").join(&name).exists());
    let report = release_json(env, pair.agent.pid(), &[]);
    assert_eq!(report["worktreeRemoved"], true);
    assert_eq!(report["branchDeleted"], true);
    assert!(!pair.worktree.exists());
    assert!(!pair.repo.join(".git/worktrees").join(&name).exists());
    assert!(!env.path().join("app-worktrees").exists());
    assert_eq!(parallel_branches(env, &pair.repo), "");
    assert_eq!(env.status()["totalSessions"], 1);
}

#[test]
fn unknown_session_is_an_error_except_when_quiet() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let agent = LiveProcess::spawn();
    env.register(&repo, agent.pid());
    let out = env
        .pcc("git-pcc-release")
        .args(["--pid", "999999999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: no session is registered for process 999999999"),
        "{stderr}"
    );
    let quiet = env
        .pcc("git-pcc-release")
        .args(["--pid", "999999999", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty());
    assert_eq!(env.session_rows(), 1);
}

#[test]
fn killed_sessions_are_removed_by_cleanup() {
    let mut pair = main_and_worktree_sessions();
    let env = &pair.env;
    pair.agent.kill();
    let dry = cleanup_json(env, &["--dry-run"]);
    assert_eq!(dry["removedSessions"].as_array().unwrap().len(), 1);
    assert_eq!(
        dry["removedWorktrees"],
        serde_json::json!([pair.worktree.to_str().unwrap()])
    );
    assert!(pair.worktree.exists());
    assert_eq!(env.session_rows(), 2);

    let status = env.status();
    let dead: Vec<&Value> = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["isAlive"] == false)
        .collect();
    assert_eq!(dead.len(), 1);

    let cleanup = cleanup_json(env, &[]);
    assert_eq!(cleanup["removedSessions"][0]["pid"], pair.agent.pid());
    assert!(!pair.worktree.exists());
    assert_eq!(parallel_branches(env, &pair.repo), "");
    assert_eq!(env.session_rows(), 1);
}

#[test]
fn the_next_register_cleans_up_a_killed_session() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let mut main = LiveProcess::spawn();
    let mut agent = LiveProcess::spawn();
    let main_registration = env.register(&repo, main.pid());
    let agent_registration = env.register(&repo, agent.pid());
    let worktree = worktree_of(&agent_registration);
    main.kill();
    agent.kill();

    let newcomer = LiveProcess::spawn();
    let registration = env.register(&repo, newcomer.pid());
    assert_eq!(
        registration["isMainRepo"], true,
        "the dead main session's checkout is free again"
    );
    let mut cleaned: Vec<&str> = registration["cleanedSessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    cleaned.sort();
    let mut expected = vec![
        main_registration["sessionId"].as_str().unwrap(),
        agent_registration["sessionId"].as_str().unwrap(),
    ];
    expected.sort();
    assert_eq!(cleaned, expected);
    assert!(!worktree.exists());
    assert_eq!(env.session_rows(), 1);
    assert_eq!(registration["parallelSessions"], 1);
}

#[test]
fn registering_a_pid_twice_returns_its_session() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let first = env.register(&repo, agent.pid());
    let again = env.register(&repo, agent.pid());
    assert_eq!(again["sessionId"], first["sessionId"]);
    assert_eq!(again["isNew"], false);
    assert_eq!(again["worktreePath"], first["worktreePath"]);
    assert_eq!(list_dir(&env.path().join("app-worktrees")).len(), 1);
    assert_eq!(env.session_rows(), 2);
}
