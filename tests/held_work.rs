//! Work a plain `git status` does not show is held work too: edits inside a
//! submodule, commits made in a submodule (its git directory lives under
//! the worktree's admin directory and would go with it), and edits of files
//! marked assume-unchanged or skip-worktree. Release, cleanup and status
//! keep such a worktree and say why.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{LiveProcess, Sessions, TestEnv};

fn release(env: &TestEnv, session_id: &str) -> Value {
    let (output, value) =
        env.json(
            env.pcc("git-pcc-release")
                .args(["--session-id", session_id, "--json"]),
        );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

/// The status row of a session, from inside its repository.
fn status_row(env: &TestEnv, repo: &Path, session_id: &str) -> Value {
    let (_, status) = env.json(
        env.pcc("git-pcc")
            .current_dir(repo)
            .args(["status", "--json"]),
    );
    status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sessionId"] == session_id)
        .cloned()
        .expect("the session is listed")
}

fn sessions() -> Sessions {
    support::main_and_worktree(
        "shop",
        &[
            ("README.md", "shop\n"),
            ("src/cart.rs", "pub struct Cart;\n"),
            ("src/price.rs", "pub struct Price;\n"),
        ],
    )
}

/// Git with local file transport allowed (submodules from a path).
fn git_file(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["-c", "protocol.file.allow=always"];
    all.extend_from_slice(args);
    env.git(dir, &all)
}

/// A repository whose `lib/` is a submodule, a main session, and a worktree
/// session with the submodule checked out in its worktree.
fn with_submodule() -> (TestEnv, PathBuf, LiveProcess, LiveProcess, String, PathBuf) {
    let env = TestEnv::new();
    let library = env.repo_with("library", &[("lib.rs", "pub fn lib() {}\n")]);
    let repo = env.repo("shop");
    git_file(
        &env,
        &repo,
        &["submodule", "add", "-q", library.to_str().unwrap(), "lib"],
    );
    env.git(&repo, &["commit", "-q", "-m", "add lib"]);
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let registered = env.register(&repo, agent.pid());
    let worktree = PathBuf::from(registered["worktreePath"].as_str().unwrap());
    git_file(&env, &worktree, &["submodule", "update", "-q", "--init"]);
    let id = registered["sessionId"].as_str().unwrap().to_owned();
    (env, repo, main, agent, id, worktree)
}

#[test]
fn edits_and_commits_inside_a_submodule_keep_the_worktree() {
    let (env, repo, _main, _agent, id, worktree) = with_submodule();
    let sub = worktree.join("lib");
    // The submodule's objects live under the worktree's admin directory.
    let gitdir = env.git(&sub, &["rev-parse", "--absolute-git-dir"]);
    assert!(gitdir.contains("/.git/worktrees/"), "{gitdir}");
    std::fs::write(sub.join("lib.rs"), "pub fn lib() -> u8 { 1 }\n").unwrap();
    env.git(&sub, &["commit", "-q", "-am", "inside the submodule"]);
    std::fs::write(sub.join("more.rs"), "pub fn more() {}\n").unwrap();

    let reason = "submodule lib: 1 uncommitted file, 1 commit not in the superproject";
    let row = status_row(&env, &repo, &id);
    assert_eq!(row["holdsWork"], true);
    assert_eq!(row["heldWork"], reason);
    let report = release(&env, &id);
    assert_eq!(report["kept"]["reason"], reason);
    assert_eq!(
        report["kept"]["submodules"],
        serde_json::json!([{"path": "lib", "uncommittedFiles": 1, "unrecordedCommits": 1}])
    );
    assert_eq!(
        env.git(&sub, &["log", "-1", "--format=%s"]),
        "inside the submodule\n"
    );
    assert!(sub.join("more.rs").is_file());
}

#[test]
fn a_submodule_checked_out_and_untouched_holds_nothing() {
    let (env, _repo, _main, _agent, id, worktree) = with_submodule();
    let report = release(&env, &id);
    assert_eq!(report["kept"], Value::Null);
    assert_eq!(report["worktreeRemoved"], true);
    assert!(!worktree.exists());
}

/// Marks `file` in the worktree with `flag` and edits it; git status then
/// shows nothing.
fn hide_an_edit(s: &Sessions, flag: &str, file: &str) {
    s.env.git(&s.worktree, &["update-index", flag, file]);
    std::fs::write(s.worktree.join(file), "pub struct Cart(u64);\n").unwrap();
    assert_eq!(s.env.git(&s.worktree, &["status", "--porcelain"]), "");
}

#[test]
fn an_edit_of_an_assume_unchanged_file_keeps_the_worktree() {
    let s = sessions();
    hide_an_edit(&s, "--assume-unchanged", "src/cart.rs");
    let reason = "1 changed file marked assume-unchanged or skip-worktree";
    assert_eq!(status_row(&s.env, &s.repo, &s.agent_id)["heldWork"], reason);
    let report = release(&s.env, &s.agent_id);
    assert_eq!(report["kept"]["reason"], reason);
    assert_eq!(report["kept"]["hiddenChanges"], 1);
    assert_eq!(
        std::fs::read_to_string(s.worktree.join("src/cart.rs")).unwrap(),
        "pub struct Cart(u64);\n"
    );
}

#[test]
fn an_edit_of_a_skip_worktree_file_keeps_the_worktree() {
    let s = sessions();
    hide_an_edit(&s, "--skip-worktree", "src/cart.rs");
    let report = release(&s.env, &s.agent_id);
    assert_eq!(
        report["kept"]["reason"],
        "1 changed file marked assume-unchanged or skip-worktree"
    );
    assert!(s.worktree.join("src/cart.rs").is_file());

    // Cleanup, looking again, keeps it too.
    let (output, cleaned) = s.env.json(
        s.env
            .pcc("git-pcc")
            .current_dir(&s.repo)
            .args(["cleanup", "--json"]),
    );
    assert!(output.status.success());
    assert_eq!(cleaned["kept"][0]["hiddenChanges"], 1);
    assert!(s.worktree.join("src/cart.rs").is_file());
}

#[test]
fn flags_without_edits_and_sparse_absent_files_hold_nothing() {
    let s = sessions();
    s.env.git(
        &s.worktree,
        &["update-index", "--assume-unchanged", "src/cart.rs"],
    );
    // skip-worktree and absent, as a sparse checkout leaves it.
    s.env.git(
        &s.worktree,
        &["update-index", "--skip-worktree", "src/price.rs"],
    );
    std::fs::remove_file(s.worktree.join("src/price.rs")).unwrap();
    let report = release(&s.env, &s.agent_id);
    assert_eq!(report["kept"], Value::Null);
    assert_eq!(report["worktreeRemoved"], true);
}
