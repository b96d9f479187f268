//! Disk in check: `status --disk` sizes every worktree as `du` does;
//! `cleanup --older-than` removes clean worktrees nobody used for that long;
//! worktrees Claude Code made itself under `.claude/worktrees/` are listed
//! and, when they hold nothing and nobody works in them, removed; config
//! `worktree.symlink` shares ignored directories of the main checkout.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use serde_json::Value;
use support::{LiveProcess, TestEnv};

fn cleanup(env: &TestEnv, repo: &Path, extra: &[&str]) -> Value {
    let (output, value) = env.json(
        env.pcc("git-pcc")
            .args(["cleanup", "--json", "--repo"])
            .arg(repo)
            .args(extra),
    );
    assert!(
        output.status.success(),
        "cleanup failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

fn status_in(env: &TestEnv, repo: &Path, extra: &[&str]) -> Value {
    let (output, value) = env.json(
        env.pcc("git-pcc")
            .args(["status", "--json", "--repo"])
            .arg(repo)
            .args(extra),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

fn du(path: &Path) -> u64 {
    let output = Command::new("du")
        .args(["-s", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// A worktree made by hand with `git worktree add`, as Claude Code makes
/// its own (`.claude/worktrees/<name>` on branch `worktree-<name>`) or as an
/// older version of ours left one.
fn add_worktree(env: &TestEnv, repo: &Path, path: &Path, branch: &str) {
    env.git(
        repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            branch,
            path.to_str().unwrap(),
        ],
    );
}

/// Dates a worktree's directory and git files `days` back.
fn age(repo: &Path, path: &Path, name: &str, days: u32) {
    let admin = repo.join(".git/worktrees").join(name);
    let stamp = format!("{days} days ago");
    for file in [
        path.to_path_buf(),
        admin.join("HEAD"),
        admin.join("index"),
        admin.join("logs/HEAD"),
    ] {
        if file.exists() {
            let done = Command::new("touch")
                .args(["-h", "-d", &stamp])
                .arg(&file)
                .status()
                .unwrap();
            assert!(done.success());
        }
    }
}

fn paths_of(list: &Value) -> Vec<String> {
    let mut paths: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_str().map_or_else(
                || v["worktreePath"].as_str().unwrap().to_owned(),
                str::to_owned,
            )
        })
        .collect();
    paths.sort();
    paths
}

fn text(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

#[test]
fn status_disk_sizes_session_kept_and_stray_worktrees_as_du_does() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    let kept_agent = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let worktree = PathBuf::from(
        env.register(&repo, agent.pid())["worktreePath"]
            .as_str()
            .unwrap(),
    );
    std::fs::write(worktree.join("big.bin"), vec![7u8; 300_000]).unwrap();
    let kept = PathBuf::from(
        env.register(&repo, kept_agent.pid())["worktreePath"]
            .as_str()
            .unwrap(),
    );
    std::fs::write(kept.join("work.txt"), "work\n").unwrap();
    let released = env
        .pcc("git-pcc-release")
        .args(["--pid", &kept_agent.pid().to_string()])
        .output()
        .unwrap();
    assert!(released.status.success());
    let stray = repo.join(".claude/worktrees/quick");
    add_worktree(&env, &repo, &stray, "worktree-quick");

    let plain = status_in(&env, &repo, &[]);
    assert!(plain["sessions"][1].get("diskBytes").is_none());
    assert!(plain["keptWorktrees"][0].get("diskBytes").is_none());

    let sized = status_in(&env, &repo, &["--disk"]);
    assert!(
        sized["sessions"][0].get("diskBytes").is_none(),
        "main checkout"
    );
    let session_bytes = sized["sessions"][1]["diskBytes"].as_u64().unwrap();
    assert!(session_bytes >= 300_000, "{session_bytes}");
    assert_eq!(session_bytes, du(&worktree));
    assert_eq!(
        sized["keptWorktrees"][0]["diskBytes"].as_u64().unwrap(),
        du(&kept)
    );
    let strays = sized["unaccountedWorktrees"].as_array().unwrap();
    assert_eq!(strays.len(), 1);
    assert_eq!(strays[0]["madeBy"], "claude-code");
    assert_eq!(strays[0]["diskBytes"].as_u64().unwrap(), du(&stray));

    let human = env
        .pcc("git-pcc")
        .args(["status", "--disk", "--repo"])
        .arg(&repo)
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("KiB"), "{human}");
    assert!(
        human.contains("claude-code, clean: cleanup removes it"),
        "{human}"
    );
}

#[test]
fn claude_codes_own_worktrees_are_listed_and_removed_only_when_they_hold_nothing() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let root = repo.join(".claude/worktrees");
    let clean = root.join("clean");
    let committed = root.join("committed");
    let dirty = root.join("dirty");
    let busy = root.join("busy");
    add_worktree(&env, &repo, &clean, "worktree-clean");
    add_worktree(&env, &repo, &committed, "worktree-committed");
    add_worktree(&env, &repo, &dirty, "worktree-dirty");
    add_worktree(&env, &repo, &busy, "worktree-busy");
    std::fs::write(committed.join("new.txt"), "new\n").unwrap();
    env.git(&committed, &["add", "new.txt"]);
    env.git(&committed, &["commit", "-q", "-m", "new"]);
    std::fs::write(dirty.join("draft.txt"), "draft\n").unwrap();
    // An agent working there without any session of ours.
    let mut agent: Child = Command::new("sleep")
        .arg("60")
        .current_dir(&busy)
        .spawn()
        .unwrap();

    let status = status_in(&env, &repo, &[]);
    let listed = status["unaccountedWorktrees"].as_array().unwrap();
    assert_eq!(listed.len(), 4);
    let held = |path: &Path| {
        listed
            .iter()
            .find(|u| u["worktreePath"] == text(path))
            .map(|u| u["heldWork"].clone())
            .unwrap()
    };
    assert_eq!(held(&committed), "1 commit not on main");
    assert_eq!(held(&dirty), "1 uncommitted file");
    assert_eq!(held(&clean), Value::Null);

    let preview = cleanup(&env, &repo, &["--dry-run"]);
    assert_eq!(paths_of(&preview["removedWorktrees"]), vec![text(&clean)]);
    assert!(clean.exists());

    let report = cleanup(&env, &repo, &[]);
    assert_eq!(paths_of(&report["removedWorktrees"]), vec![text(&clean)]);
    assert_eq!(
        paths_of(&report["kept"]),
        vec![text(&busy), text(&committed), text(&dirty)]
    );
    let reason = |path: &Path| {
        report["kept"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["worktreePath"] == text(path))
            .map(|k| k["reason"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(reason(&busy), "a process works in it");
    assert_eq!(reason(&committed), "1 commit not on main");
    assert!(!clean.exists());
    assert!(committed.join("new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(dirty.join("draft.txt")).unwrap(),
        "draft\n"
    );
    let branches = env.git(&repo, &["branch", "--list", "worktree-*"]);
    assert!(!branches.contains("worktree-clean"), "{branches}");
    assert!(branches.contains("worktree-committed"));
    assert!(!env.git(&repo, &["worktree", "list"]).contains("/clean"));

    // The agent leaves: its clean worktree goes next time.
    agent.kill().unwrap();
    agent.wait().unwrap();
    let report = cleanup(&env, &repo, &[]);
    assert_eq!(paths_of(&report["removedWorktrees"]), vec![text(&busy)]);
    assert!(!busy.exists());

    // Held work goes only when forced.
    let report = cleanup(&env, &repo, &["--force"]);
    assert_eq!(
        paths_of(&report["removedWorktrees"]),
        vec![text(&committed), text(&dirty)]
    );
    assert_eq!(env.git(&repo, &["worktree", "list"]).lines().count(), 1);
}

#[test]
fn older_than_removes_clean_worktrees_unused_for_that_long() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let root = env.path().join("app-worktrees");
    let old = root.join("old");
    let recent = root.join("recent");
    let old_dirty = root.join("old-dirty");
    add_worktree(&env, &repo, &old, "parallel/old");
    add_worktree(&env, &repo, &recent, "parallel/recent");
    add_worktree(&env, &repo, &old_dirty, "parallel/old-dirty");
    std::fs::write(old_dirty.join("draft.txt"), "draft\n").unwrap();
    age(&repo, &old, "old", 3);
    age(&repo, &old_dirty, "old-dirty", 3);
    // A session of ours elsewhere, so the repository is known.
    let main = LiveProcess::spawn();
    env.register(&repo, main.pid());

    // Without --older-than, worktrees of ours no record names stay listed.
    let report = cleanup(&env, &repo, &[]);
    assert_eq!(report["removedWorktrees"], serde_json::json!([]));
    assert!(old.exists());

    let bad = env
        .pcc("git-pcc")
        .args(["cleanup", "--older-than", "soon", "--repo"])
        .arg(&repo)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("invalid duration 'soon'") && stderr.contains("7d"),
        "{stderr}"
    );

    let report = cleanup(&env, &repo, &["--older-than", "2d"]);
    assert_eq!(paths_of(&report["removedWorktrees"]), vec![text(&old)]);
    let kept = paths_of(&report["kept"]);
    assert_eq!(kept, vec![text(&old_dirty), text(&recent)]);
    let recent_reason = report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["worktreePath"] == text(&recent))
        .map(|k| k["reason"].as_str().unwrap().to_owned())
        .unwrap();
    assert!(
        recent_reason.contains("less than --older-than"),
        "{recent_reason}"
    );
    assert!(!old.exists());
    assert!(recent.exists());
    assert!(old_dirty.join("draft.txt").exists());
    assert_eq!(env.git(&repo, &["branch", "--list", "parallel/old"]), "");
    assert_ne!(env.git(&repo, &["branch", "--list", "parallel/recent"]), "");
}

#[test]
fn shared_directories_are_links_to_the_main_checkout_and_never_work() {
    let env = TestEnv::new();
    let repo = env.repo_with(
        "app",
        &[("README.md", "hello\n"), (".gitignore", "node_modules/\n")],
    );
    std::fs::create_dir_all(repo.join("node_modules/left-pad")).unwrap();
    std::fs::write(repo.join("node_modules/left-pad/index.js"), "pad\n").unwrap();
    let set = env
        .pcc("git-pcc")
        .args(["config", "set", "worktree.symlink", "[\"node_modules\"]"])
        .output()
        .unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let value = env.register(&repo, agent.pid());
    assert_eq!(
        value["linkedDirectories"],
        serde_json::json!(["node_modules"])
    );
    let worktree = PathBuf::from(value["worktreePath"].as_str().unwrap());
    let link = worktree.join("node_modules");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        repo.join("node_modules")
    );
    // git sees nothing to commit, in the worktree and in the main checkout.
    assert_eq!(env.git(&worktree, &["status", "--porcelain"]), "");
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
    env.git(&worktree, &["add", "-A"]);
    assert_eq!(env.git(&worktree, &["diff", "--cached", "--name-only"]), "");
    // What the agent writes through the link is the main checkout's.
    std::fs::write(link.join("added.js"), "x\n").unwrap();
    assert!(repo.join("node_modules/added.js").exists());

    let released = env
        .pcc("git-pcc-release")
        .args(["--pid", &agent.pid().to_string(), "--json"])
        .output()
        .unwrap();
    let released: Value = serde_json::from_slice(&released.stdout).unwrap();
    assert_eq!(released["worktreeRemoved"], true, "{released}");
    assert!(!worktree.exists());
    // Removing the worktree removed the link only.
    assert_eq!(
        std::fs::read_to_string(repo.join("node_modules/left-pad/index.js")).unwrap(),
        "pad\n"
    );
    assert!(repo.join("node_modules/added.js").exists());
}
