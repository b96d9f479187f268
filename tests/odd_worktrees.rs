//! Worktrees users do odd things to: locked with `git worktree lock`, moved
//! with `git worktree move`, deleted by hand, or one whose directory cannot
//! be moved at all. None of them jams the repository: each is kept where it
//! is, followed, or unregistered, and one that cannot be handled is reported
//! while register and cleanup go on with the rest.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use support::{LiveProcess, Sessions, TestEnv};

fn sessions() -> Sessions {
    support::main_and_worktree(
        "shop",
        &[
            ("README.md", "shop\n"),
            ("src/cart.rs", "pub struct Cart;\n"),
        ],
    )
}

fn run(env: &TestEnv, command: &mut Command) -> (Output, Value) {
    env.json(command)
}

fn release(env: &TestEnv, session_id: &str) -> Value {
    let (output, value) = run(
        env,
        env.pcc("git-pcc-release")
            .args(["--session-id", session_id, "--json"]),
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

fn cleanup(env: &TestEnv, repo: &Path, args: &[&str]) -> (Output, Value) {
    run(
        env,
        env.pcc("git-pcc")
            .current_dir(repo)
            .arg("cleanup")
            .args(args)
            .arg("--json"),
    )
}

fn git_worktrees(env: &TestEnv, repo: &Path) -> Vec<String> {
    env.git(repo, &["worktree", "list", "--porcelain"])
        .lines()
        .filter_map(|line| line.strip_prefix("worktree "))
        .map(str::to_owned)
        .collect()
}

fn branch_exists(env: &TestEnv, repo: &Path, branch: &str) -> bool {
    !env.git(repo, &["branch", "--list", branch])
        .trim()
        .is_empty()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_locked_worktree_stays_where_it_is_with_gits_reason() {
    let s = sessions();
    let env = &s.env;
    env.git(
        &s.repo,
        &[
            "worktree",
            "lock",
            "--reason",
            "on the usb disk",
            path_str(&s.worktree),
        ],
    );

    let report = release(env, &s.agent_id);
    assert_eq!(report["worktreeRemoved"], false);
    assert_eq!(report["kept"]["locked"], true);
    assert_eq!(
        report["kept"]["reason"],
        "locked with 'git worktree lock': on the usb disk"
    );
    assert!(s.worktree.join("src/cart.rs").is_file());
    assert!(branch_exists(env, &s.repo, &s.branch));
    assert!(env
        .git(&s.repo, &["worktree", "list"])
        .lines()
        .any(|l| l.starts_with(path_str(&s.worktree)) && l.ends_with("locked")));

    // The human line says how to get rid of it.
    let agent = LiveProcess::spawn();
    let again = env.register(&s.repo, agent.pid());
    let id = again["sessionId"].as_str().unwrap();
    env.git(
        &s.repo,
        &["worktree", "lock", again["worktreePath"].as_str().unwrap()],
    );
    let human = env
        .pcc("git-pcc-release")
        .args(["--session-id", id])
        .output()
        .unwrap();
    assert!(human.status.success());
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("locked with 'git worktree lock'"), "{text}");
    assert!(text.contains("'git worktree unlock "), "{text}");

    // Register and cleanup go on; even forced, cleanup leaves it in place.
    let newcomer = LiveProcess::spawn();
    env.register(&s.repo, newcomer.pid());
    let (output, forced) = cleanup(env, &s.repo, &["--force"]);
    assert!(output.status.success());
    assert_eq!(forced["failures"], json!([]));
    assert!(forced["kept"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["worktreePath"] == path_str(&s.worktree) && k["locked"] == true));
    assert!(s.worktree.is_dir());

    // Unlocked, it goes like any other.
    env.git(&s.repo, &["worktree", "unlock", path_str(&s.worktree)]);
    let (output, removed) = cleanup(env, &s.repo, &["--worktree", path_str(&s.worktree)]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(removed["removedWorktrees"], json!([path_str(&s.worktree)]));
    assert!(!s.worktree.exists());
    assert!(!branch_exists(env, &s.repo, &s.branch));
}

#[test]
fn a_moved_worktree_is_followed_to_where_it_went() {
    let s = sessions();
    let env = &s.env;
    let elsewhere = env.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let moved = elsewhere.join("shop-cart");
    env.git(
        &s.repo,
        &["worktree", "move", path_str(&s.worktree), path_str(&moved)],
    );
    std::fs::write(moved.join("draft.txt"), "half done\n").unwrap();

    let report = release(env, &s.agent_id);
    assert_eq!(report["worktreePath"], path_str(&moved));
    assert_eq!(report["kept"]["worktreePath"], path_str(&moved));
    assert_eq!(report["kept"]["reason"], "1 uncommitted file");
    assert_eq!(
        std::fs::read_to_string(moved.join("draft.txt")).unwrap(),
        "half done\n"
    );

    // With the draft gone, cleanup removes it at its new place.
    std::fs::remove_file(moved.join("draft.txt")).unwrap();
    let (output, cleaned) = cleanup(env, &s.repo, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(cleaned["removedWorktrees"], json!([path_str(&moved)]));
    assert!(!moved.exists());
    assert_eq!(support::list_dir(&elsewhere), Vec::<String>::new());
    assert!(!branch_exists(env, &s.repo, &s.branch));
    assert_eq!(git_worktrees(env, &s.repo), [path_str(&s.repo)]);
}

#[test]
fn a_worktree_deleted_by_hand_is_unregistered_and_its_commits_kept() {
    let mut s = sessions();
    let env = &s.env;
    env.git(
        &s.worktree,
        &["commit", "-q", "--allow-empty", "-m", "keep me"],
    );
    let other = LiveProcess::spawn();
    let clean = env.register(&s.repo, other.pid());
    let clean_path = PathBuf::from(clean["worktreePath"].as_str().unwrap());
    let clean_branch = clean["branch"].as_str().unwrap().to_owned();
    std::fs::remove_dir_all(&s.worktree).unwrap();
    std::fs::remove_dir_all(&clean_path).unwrap();

    // The branch with a commit stays, whatever happened to its directory.
    let report = release(env, &s.agent_id);
    assert_eq!(report["kept"]["reason"], "1 commit not on main");
    assert_eq!(
        env.git(&s.repo, &["log", "-1", "--format=%s", &s.branch]),
        "keep me\n"
    );

    // The clean one is unregistered, its branch deleted, when its agent dies.
    drop(other);
    s.agent.kill();
    let (output, cleaned) = cleanup(env, &s.repo, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(cleaned["failures"], json!([]));
    assert!(!branch_exists(env, &s.repo, &clean_branch));
    assert!(!git_worktrees(env, &s.repo).contains(&path_str(&clean_path).to_owned()));
    assert!(branch_exists(env, &s.repo, &s.branch));
}

#[test]
fn a_worktree_that_cannot_be_moved_is_reported_and_the_rest_are_cleaned_up() {
    let mut s = sessions();
    let env = &s.env;
    let mut other = LiveProcess::spawn();
    let second = env.register(&s.repo, other.pid());
    let second_path = PathBuf::from(second["worktreePath"].as_str().unwrap());
    let stuck_dir = env.path().join("stuck");
    std::fs::create_dir(&stuck_dir).unwrap();
    let stuck = stuck_dir.join("shop-cart");
    env.git(
        &s.repo,
        &["worktree", "move", path_str(&s.worktree), path_str(&stuck)],
    );
    let immutable = support::Immutable::new(&stuck_dir);
    s.agent.kill();
    other.kill();

    // A register reports the one it could not remove and goes on.
    let newcomer = LiveProcess::spawn();
    let (output, registered) = run(
        env,
        env.pcc("git-pcc-register")
            .arg("--repo")
            .arg(&s.repo)
            .args(["--pid", &newcomer.pid().to_string(), "--json"]),
    );
    assert!(output.status.success());
    let failures = registered["cleanupFailures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{registered}");
    assert_eq!(failures[0]["worktreePath"], path_str(&stuck));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!(
        "warning: could not clean up stale worktree {}",
        stuck.display()
    )));
    assert!(!second_path.exists(), "the other stale worktree is removed");
    assert!(stuck.join("src/cart.rs").is_file(), "nothing of it moved");

    // So does cleanup, which fails in the end, and nothing is half done.
    let (output, cleaned) = cleanup(env, &s.repo, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(cleaned["failures"][0]["worktreePath"], path_str(&stuck));
    let journal: i64 = env
        .db()
        .query_row("SELECT COUNT(*) FROM worktree_journal", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, 0);
    assert!(stuck.join("src/cart.rs").is_file());
    assert!(branch_exists(env, &s.repo, &s.branch));

    drop(immutable);
    let (output, cleaned) = cleanup(env, &s.repo, &[]);
    assert!(output.status.success());
    assert_eq!(cleaned["removedWorktrees"], json!([path_str(&stuck)]));
    assert!(!stuck.exists());
}
