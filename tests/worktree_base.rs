//! What new worktrees start from: `worktree.base` (`head`, `fresh`, a ref),
//! `register --base`, `$PARALLEL_CC_BASE` (the `WorktreeCreate` hook
//! included) and the repository's own setting; a `fresh` base against a
//! real bare remote, online and offline; held work measured against the
//! base.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};
use support::{LiveProcess, TestEnv};

/// A bare remote with one commit, a clone of it (the user's repository),
/// and a second commit pushed to the remote from elsewhere, so the clone's
/// HEAD is one commit behind the remote's main once fetched.
struct Remote {
    bare: PathBuf,
    clone: PathBuf,
    /// The clone's HEAD.
    old: String,
    /// The remote's main, not yet fetched by the clone.
    new: String,
}

fn remote(env: &TestEnv) -> Remote {
    let seed = env.repo("seed");
    let bare = env.path().join("remote.git");
    env.git(
        &env.path(),
        &[
            "clone",
            "-q",
            "--bare",
            seed.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let clone = env.path().join("app");
    env.git(
        &env.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    let old = env.git(&clone, &["rev-parse", "HEAD"]).trim().to_owned();
    std::fs::write(seed.join("later.txt"), "later\n").unwrap();
    env.git(&seed, &["add", "later.txt"]);
    env.git(
        &seed,
        &[
            "commit",
            "-q",
            "-m",
            "later",
            "--date",
            "2026-01-02T00:00:00Z",
        ],
    );
    env.git(&seed, &["push", "-q", bare.to_str().unwrap(), "main"]);
    let new = env.git(&seed, &["rev-parse", "HEAD"]).trim().to_owned();
    assert_ne!(old, new);
    Remote {
        bare,
        clone,
        old,
        new,
    }
}

fn register(env: &TestEnv, repo: &Path, pid: u32, extra: &[&str]) -> (Output, Value) {
    env.json(
        env.pcc("git-pcc-register")
            .arg("--repo")
            .arg(repo)
            .args(["--pid", &pid.to_string(), "--json"])
            .args(extra),
    )
}

fn registered(env: &TestEnv, repo: &Path, pid: u32, extra: &[&str]) -> Value {
    let (output, value) = register(env, repo, pid, extra);
    assert!(
        output.status.success(),
        "register failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

fn head_of(env: &TestEnv, dir: &Path) -> String {
    env.git(dir, &["rev-parse", "HEAD"]).trim().to_owned()
}

fn release(env: &TestEnv, pid: u32) -> Value {
    let (output, value) =
        env.json(
            env.pcc("git-pcc-release")
                .args(["--pid", &pid.to_string(), "--json"]),
        );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

#[test]
fn a_fresh_base_fetches_and_starts_from_the_remotes_default_branch() {
    let env = TestEnv::new();
    let remote = remote(&env);
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    registered(&env, &remote.clone, main.pid(), &[]);
    let set = env
        .pcc("git-pcc")
        .args(["config", "set", "worktree.base", "fresh"])
        .output()
        .unwrap();
    assert!(set.status.success());

    let (output, value) = register(&env, &remote.clone, agent.pid(), &[]);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    assert_eq!(value["base"], "origin/main");
    let worktree = PathBuf::from(value["worktreePath"].as_str().unwrap());
    assert_eq!(head_of(&env, &worktree), remote.new);
    // The main checkout is left where it was; only the remote-tracking ref moved.
    assert_eq!(head_of(&env, &remote.clone), remote.old);
    assert_eq!(
        env.git(&remote.clone, &["rev-parse", "origin/main"]).trim(),
        remote.new
    );
    // Held work is measured against origin/main: nothing of its own.
    let row: (String, String) = env
        .db()
        .query_row(
            "SELECT base_branch, base_commit FROM sessions WHERE pid = ?1",
            [agent.pid()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(row, ("origin/main".to_owned(), remote.new.clone()));
    let session = env.status()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["pid"] == agent.pid())
        .cloned()
        .unwrap();
    assert_eq!(session["ahead"], 0);
    assert_eq!(session["behind"], 0);
    assert_eq!(session["holdsWork"], false);
    let released = release(&env, agent.pid());
    assert_eq!(released["worktreeRemoved"], true);
    assert!(!worktree.exists());
}

#[test]
fn a_fresh_base_keeps_commits_that_are_not_on_the_remote() {
    let env = TestEnv::new();
    let remote = remote(&env);
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    registered(&env, &remote.clone, main.pid(), &[]);
    let value = registered(&env, &remote.clone, agent.pid(), &["--base", "fresh"]);
    let worktree = PathBuf::from(value["worktreePath"].as_str().unwrap());
    std::fs::write(worktree.join("mine.txt"), "mine\n").unwrap();
    env.git(&worktree, &["add", "mine.txt"]);
    env.git(&worktree, &["commit", "-q", "-m", "mine"]);
    let released = release(&env, agent.pid());
    assert_eq!(released["worktreeRemoved"], false);
    assert_eq!(released["kept"]["reason"], "1 commit not on origin/main");
    assert!(worktree.join("mine.txt").exists());
}

#[test]
fn an_offline_fetch_falls_back_to_the_local_ref_with_one_warning() {
    let env = TestEnv::new();
    let remote = remote(&env);
    env.git(&remote.clone, &["fetch", "-q"]);
    // The remote goes away: the fetch fails, origin/main is still known.
    std::fs::rename(&remote.bare, env.path().join("gone.git")).unwrap();
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    registered(&env, &remote.clone, main.pid(), &[]);
    let (output, value) = register(&env, &remote.clone, agent.pid(), &["--base", "fresh"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("warning: cannot fetch 'origin'")
            && stderr.contains("starts from the local origin/main"),
        "{stderr}"
    );
    assert_eq!(value["warnings"].as_array().unwrap().len(), 1);
    let worktree = PathBuf::from(value["worktreePath"].as_str().unwrap());
    assert_eq!(head_of(&env, &worktree), remote.new);
}

#[test]
fn a_ref_base_from_the_flag_the_environment_and_the_repository() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let first = head_of(&env, &repo);
    env.git(&repo, &["tag", "v1"]);
    env.git(&repo, &["branch", "release"]);
    std::fs::write(repo.join("two.txt"), "two\n").unwrap();
    env.git(&repo, &["add", "two.txt"]);
    env.git(&repo, &["commit", "-q", "-m", "two"]);
    let main = LiveProcess::spawn();
    registered(&env, &repo, main.pid(), &[]);

    // The flag.
    let a = LiveProcess::spawn();
    let value = registered(&env, &repo, a.pid(), &["--base", "v1"]);
    assert_eq!(value["base"], "v1");
    assert_eq!(
        head_of(&env, Path::new(value["worktreePath"].as_str().unwrap())),
        first
    );

    // The environment, as the wrapper and hooks pass it on.
    let b = LiveProcess::spawn();
    let (output, value) = env.json(
        env.pcc("git-pcc-register")
            .arg("--repo")
            .arg(&repo)
            .args(["--pid", &b.pid().to_string(), "--json"])
            .env("PARALLEL_CC_BASE", "release"),
    );
    assert!(output.status.success());
    assert_eq!(value["base"], "release");
    assert_eq!(
        head_of(&env, Path::new(value["worktreePath"].as_str().unwrap())),
        first
    );

    // The repository's own git config.
    env.git(&repo, &["config", "pcc.worktree.base", "release"]);
    let c = LiveProcess::spawn();
    let value = registered(&env, &repo, c.pid(), &[]);
    assert_eq!(value["base"], "release");

    // The flag wins over all of them; head is the main checkout's HEAD.
    let d = LiveProcess::spawn();
    let value = registered(&env, &repo, d.pid(), &["--base", "head"]);
    assert_eq!(value["base"], Value::Null);
    assert_eq!(
        head_of(&env, Path::new(value["worktreePath"].as_str().unwrap())),
        head_of(&env, &repo)
    );
}

#[test]
fn a_base_that_names_nothing_is_refused_and_leaves_nothing() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let main = LiveProcess::spawn();
    registered(&env, &repo, main.pid(), &[]);
    let agent = LiveProcess::spawn();
    let output = env
        .pcc("git-pcc-register")
        .arg("--repo")
        .arg(&repo)
        .args(["--pid", &agent.pid().to_string(), "--base", "no-such-ref"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: base 'no-such-ref' names no commit"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    assert_eq!(env.session_rows(), 1);
    assert_eq!(env.git(&repo, &["worktree", "list"]).lines().count(), 1);
    assert_eq!(env.git(&repo, &["branch", "--list", "parallel/*"]), "");

    // No remote: fresh is refused with what to do.
    let output = env
        .pcc("git-pcc-register")
        .arg("--repo")
        .arg(&repo)
        .args(["--pid", &agent.pid().to_string(), "--base", "fresh"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("has no remote"));
}

#[test]
fn the_worktree_create_hook_follows_parallel_cc_base() {
    let env = TestEnv::new();
    let remote = remote(&env);
    let payload = json!({
        "session_id": "c",
        "cwd": remote.clone,
        "hook_event_name": "WorktreeCreate",
        "name": "task",
    });
    let mut command = env.pcc("git-pcc");
    command
        .args(["hook", "worktree-create"])
        .current_dir(&remote.clone)
        .env("PARALLEL_CC_BASE", "fresh");
    let output = support::with_stdin(command, payload.to_string().as_bytes());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    assert_eq!(head_of(&env, &path), remote.new);
    assert_eq!(env.git(&path, &["status", "--porcelain"]), "");
}
