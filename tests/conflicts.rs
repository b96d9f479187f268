//! Conflict prediction in memory, and rebase help that never leaves a
//! worktree half-rebased.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::{snapshot, LiveProcess, TestEnv};

const FILE: &str = "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\nline 11\nline 12\nline 13\nline 14\nline 15\nline 16\nline 17\nline 18\nline 19\nline 20\n";

struct World {
    env: TestEnv,
    repo: PathBuf,
    _agents: Vec<LiveProcess>,
    ids: Vec<String>,
    checkouts: Vec<PathBuf>,
}

fn world(count: usize) -> World {
    let env = TestEnv::new();
    let repo = env.repo_with(
        "app",
        &[("src/list.txt", FILE), ("src/other.txt", "other\n")],
    );
    let agents: Vec<LiveProcess> = (0..count).map(|_| LiveProcess::spawn()).collect();
    let registrations: Vec<Value> = agents
        .iter()
        .map(|a| env.register(&repo, a.pid()))
        .collect();
    World {
        ids: registrations
            .iter()
            .map(|r| r["sessionId"].as_str().unwrap().to_owned())
            .collect(),
        checkouts: registrations
            .iter()
            .map(|r| PathBuf::from(r["worktreePath"].as_str().unwrap()))
            .collect(),
        env,
        repo,
        _agents: agents,
    }
}

fn edit_line(dir: &Path, line: usize, text: &str) {
    let path = dir.join("src/list.txt");
    let content = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = content.lines().map(str::to_owned).collect();
    lines[line - 1] = text.to_owned();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// Everything a check must not change: files, index, HEAD, refs.
fn state(env: &TestEnv, dir: &Path) -> (Vec<(String, Vec<u8>)>, String, String, String) {
    (
        snapshot(dir),
        env.git(dir, &["status", "--porcelain"]),
        env.git(dir, &["rev-parse", "HEAD"]),
        env.git(dir, &["ls-files", "-s", "--debug"]),
    )
}

fn predict(w: &World) -> Value {
    let (output, prediction) = w.env.json(
        w.env
            .pcc("git-pcc")
            .args(["conflicts", "--predict", "--json", "--repo"])
            .arg(&w.repo),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    prediction
}

fn pair<'a>(prediction: &'a Value, a: &str, b: &str) -> &'a Value {
    prediction["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| (p["a"] == a && p["b"] == b) || (p["a"] == b && p["b"] == a))
        .unwrap()
}

#[test]
fn same_lines_conflict_whether_committed_or_not_and_nothing_changes() {
    let w = world(3);
    // Session 1 commits a change to line 5; session 2 leaves its change to
    // line 5 uncommitted; session 0 (main checkout) edits far away.
    edit_line(&w.checkouts[1], 5, "line five, by one");
    w.env.git(&w.checkouts[1], &["commit", "-qam", "one"]);
    edit_line(&w.checkouts[2], 5, "line five, by two");
    edit_line(&w.checkouts[0], 18, "line eighteen, main");
    let before: Vec<_> = w.checkouts.iter().map(|c| state(&w.env, c)).collect();

    let prediction = predict(&w);
    assert_eq!(prediction["sessions"], 3);
    let clash = pair(&prediction, &w.ids[1], &w.ids[2]);
    assert_eq!(clash["hasConflicts"], true);
    assert_eq!(
        clash["conflicts"],
        json!([{"path": "src/list.txt", "kind": "content", "baseLines": [{"start": 5, "end": 5}]}])
    );
    assert_eq!(
        pair(&prediction, &w.ids[0], &w.ids[1])["hasConflicts"],
        false,
        "lines 5 and 18 are far apart"
    );
    assert_eq!(
        pair(&prediction, &w.ids[0], &w.ids[2])["hasConflicts"],
        false
    );
    assert_eq!(
        prediction["againstTarget"].as_array().unwrap().len(),
        2,
        "each worktree session against main"
    );
    assert_eq!(prediction["totalConflicts"], 1);

    let after: Vec<_> = w.checkouts.iter().map(|c| state(&w.env, c)).collect();
    assert_eq!(
        before, after,
        "the check changes no working tree, index or HEAD"
    );
}

#[test]
fn different_files_do_not_conflict() {
    let w = world(2);
    edit_line(&w.checkouts[0], 1, "main's first line");
    std::fs::write(
        w.checkouts[1].join("src/other.txt"),
        "changed by the other\n",
    )
    .unwrap();
    std::fs::write(w.checkouts[1].join("new.txt"), "new\n").unwrap();
    let prediction = predict(&w);
    assert_eq!(prediction["totalConflicts"], 0);
}

fn rebase_assist(w: &World, session: usize, arguments: Value) -> Value {
    let result = support::mcp_call(&w.env, &w.ids[session], "rebase_assist", arguments);
    assert_eq!(result["isError"], false, "{result}");
    result["structuredContent"].clone()
}

fn rebase_in_progress(w: &World, worktree: &Path) -> bool {
    let git_dir = w.env.git(worktree, &["rev-parse", "--absolute-git-dir"]);
    let git_dir = Path::new(git_dir.trim());
    git_dir.join("rebase-merge").exists() || git_dir.join("rebase-apply").exists()
}

#[test]
fn a_conflicting_rebase_changes_nothing_and_a_clean_one_moves_the_branch() {
    let w = world(2);
    let worktree = &w.checkouts[1];
    edit_line(worktree, 3, "line three, worktree");
    w.env
        .git(worktree, &["commit", "-qam", "worktree edits line 3"]);
    edit_line(&w.repo, 3, "line three, main");
    w.env.git(&w.repo, &["commit", "-qam", "main edits line 3"]);

    let before = state(&w.env, worktree);
    let check = rebase_assist(&w, 1, json!({"targetBranch": "main", "checkOnly": true}));
    assert_eq!(check["hasConflicts"], true);
    assert_eq!(check["conflicts"][0]["path"], "src/list.txt");
    let attempt = rebase_assist(&w, 1, json!({"targetBranch": "main"}));
    assert_eq!(attempt["rebased"], false);
    assert_eq!(attempt["success"], false);
    assert_eq!(state(&w.env, worktree), before, "byte for byte as before");
    assert!(!rebase_in_progress(&w, worktree));

    // Main moves on elsewhere instead: the rebase goes through.
    w.env.git(&w.repo, &["reset", "-q", "--hard", "HEAD~1"]);
    std::fs::write(w.repo.join("src/other.txt"), "main changed other\n").unwrap();
    w.env.git(&w.repo, &["commit", "-qam", "main edits other"]);
    let main_tip = w.env.git(&w.repo, &["rev-parse", "main"]).trim().to_owned();
    let done = rebase_assist(&w, 1, json!({"targetBranch": "main"}));
    assert_eq!(done["rebased"], true, "{done}");
    assert_eq!(done["commitsReplayed"], 1);
    let parent = w
        .env
        .git(worktree, &["rev-parse", "HEAD~1"])
        .trim()
        .to_owned();
    assert_eq!(parent, main_tip, "the branch now sits on main");
    assert_eq!(w.env.git(worktree, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(worktree.join("src/other.txt")).unwrap(),
        "main changed other\n"
    );
    assert!(std::fs::read_to_string(worktree.join("src/list.txt"))
        .unwrap()
        .contains("line three, worktree"));
    assert!(!rebase_in_progress(&w, worktree));
}

#[test]
fn every_kind_of_uncommitted_change_is_seen() {
    let w = world(3);
    // Shared by every worktree of the repository.
    std::fs::write(w.repo.join(".git/info/exclude"), "*.log\n").unwrap();
    let (a, b) = (&w.checkouts[1], &w.checkouts[2]);
    // Untracked files on both sides, at the top and in a new directory.
    std::fs::write(a.join("new.txt"), "from a\n").unwrap();
    std::fs::write(b.join("new.txt"), "from b\n").unwrap();
    std::fs::create_dir_all(a.join("docs/deep")).unwrap();
    std::fs::create_dir_all(b.join("docs/deep")).unwrap();
    std::fs::write(a.join("docs/deep/guide.md"), "a's guide\n").unwrap();
    std::fs::write(b.join("docs/deep/guide.md"), "b's guide\n").unwrap();
    // Ignored files never count.
    std::fs::write(a.join("build.log"), "a\n").unwrap();
    std::fs::write(b.join("build.log"), "b\n").unwrap();
    // A staged change against an unstaged one on the same line.
    edit_line(a, 7, "line seven, staged by a");
    w.env.git(a, &["add", "src/list.txt"]);
    edit_line(b, 7, "line seven, b");
    // A deletion against a modification.
    std::fs::remove_file(a.join("src/other.txt")).unwrap();
    std::fs::write(b.join("src/other.txt"), "other, changed by b\n").unwrap();
    let before = (state(&w.env, a), state(&w.env, b));

    let prediction = predict(&w);
    let clash = pair(&prediction, &w.ids[1], &w.ids[2]);
    let found: Vec<(&str, &str)> = clash["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["path"].as_str().unwrap(), c["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            ("docs/deep/guide.md", "add/add"),
            ("new.txt", "add/add"),
            ("src/list.txt", "content"),
            ("src/other.txt", "modify/delete")
        ]
    );
    assert_eq!((state(&w.env, a), state(&w.env, b)), before);
}
