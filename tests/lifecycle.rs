//! Register and release racing each other, and registering a PID twice.
//! (Held work and stale sessions: tests/release.rs.)

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use support::{list_dir, LiveProcess, TestEnv};

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
