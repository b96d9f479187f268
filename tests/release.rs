//! `git-pcc-release` and `git pcc cleanup`: a released or dead session's
//! worktree and branch go when they hold nothing, and stay (recorded, with
//! the reason) while they hold uncommitted files or commits the base lacks.

mod support;

use std::path::{Path, PathBuf};

use rusqlite::types::Value as SqlValue;
use serde_json::{json, Value};
use support::{list_dir, snapshot, LiveProcess, Sessions, TestEnv};

fn main_and_worktree() -> Sessions {
    support::main_and_worktree(
        "shop",
        &[
            ("README.md", "shop\n"),
            ("src/cart.rs", "pub struct Cart;\n"),
        ],
    )
}

impl Sessions {
    fn worktree_str(&self) -> &str {
        self.worktree.to_str().unwrap()
    }

    fn repo_str(&self) -> &str {
        self.repo.to_str().unwrap()
    }

    fn worktrees_root(&self) -> PathBuf {
        self.env.path().join("shop-worktrees")
    }

    fn admin_dir(&self) -> PathBuf {
        self.repo.join(".git").join("worktrees").join(&self.name)
    }

    /// Whether `git branch --list` still shows the session's branch.
    fn branch_exists(&self) -> bool {
        let listed = self.env.git(
            &self.repo,
            &[
                "branch",
                "--list",
                "--format=%(refname:short)",
                &self.branch,
            ],
        );
        match listed.as_str() {
            "" => false,
            other => {
                assert_eq!(other, format!("{}\n", self.branch));
                true
            }
        }
    }

    /// The kept object a release of the agent should report.
    fn kept(&self, reason: &str, uncommitted: u64, unmerged: u64) -> Value {
        json!({
            "worktreePath": self.worktree_str(),
            "worktreeName": self.name,
            "branch": self.branch,
            "repoPath": self.repo_str(),
            "sessionId": self.agent_id,
            "reason": reason,
            "uncommittedFiles": uncommitted,
            "unmergedCommits": unmerged,
            "hiddenChanges": 0,
            "submodules": [],
            "locked": false,
        })
    }
}

/// Paths `git worktree list` reports, main checkout first.
fn git_worktrees(env: &TestEnv, repo: &Path) -> Vec<String> {
    env.git(repo, &["worktree", "list", "--porcelain"])
        .lines()
        .filter_map(|line| line.strip_prefix("worktree "))
        .map(str::to_owned)
        .collect()
}

fn release(env: &TestEnv, args: &[&str]) -> Value {
    let (output, value) = env.json(env.pcc("git-pcc-release").args(args).arg("--json"));
    assert_eq!(
        output.status.code(),
        Some(0),
        "release {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    without_seed_release_fields(value)
}

/// Checks the TypeScript tool's field of a release (`released`) and
/// leaves ours.
fn without_seed_release_fields(mut value: Value) -> Value {
    assert_eq!(value["released"], true, "{value}");
    value.as_object_mut().unwrap().remove("released");
    value
}

/// Checks the TypeScript tool's fields of a cleanup (`removed`,
/// `sessions`, `worktreesRemoved`) against ours and leaves ours.
fn without_seed_cleanup_fields(mut value: Value) -> Value {
    let ids: Vec<Value> = value["removedSessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessionId"].clone())
        .collect();
    let names: Vec<Value> = value["removedWorktrees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            Path::new(p.as_str().unwrap())
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .into()
        })
        .collect();
    assert_eq!(value["removed"], ids.len(), "{value}");
    assert_eq!(value["sessions"], Value::Array(ids), "{value}");
    assert_eq!(value["worktreesRemoved"], Value::Array(names), "{value}");
    let object = value.as_object_mut().unwrap();
    for key in ["removed", "sessions", "worktreesRemoved"] {
        object.remove(key);
    }
    value
}

/// `git pcc cleanup` run inside `repo`.
fn cleanup(env: &TestEnv, repo: &Path, args: &[&str]) -> Value {
    let (output, value) = env.json(
        env.pcc("git-pcc")
            .current_dir(repo)
            .arg("cleanup")
            .args(args)
            .arg("--json"),
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "cleanup {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    without_seed_cleanup_fields(value)
}

/// The `repaired` of a command that found nothing left half done.
fn nothing_repaired() -> Value {
    json!({"undone": [], "finished": [], "kept": [], "failed": []})
}

/// Every row of a table, every column, in rowid order.
fn table_rows(env: &TestEnv, table: &str) -> Vec<Vec<SqlValue>> {
    let conn = env.db();
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
        .unwrap();
    let columns = stmt.column_count();
    stmt.query_map([], |row| {
        (0..columns).map(|i| row.get::<_, SqlValue>(i)).collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn session_ids(env: &TestEnv) -> Vec<String> {
    let conn = env.db();
    let mut stmt = conn.prepare("SELECT id FROM sessions ORDER BY id").unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[test]
fn an_uncommitted_file_keeps_worktree_and_branch_until_cleanup_is_forced() {
    let s = main_and_worktree();
    let env = &s.env;
    let draft: &[u8] = b"draft\x00\xff\r\nno newline at the end";
    std::fs::write(s.worktree.join("draft.bin"), draft).unwrap();
    let before = snapshot(&s.worktree);

    let report = release(env, &["--pid", &s.agent.pid().to_string()]);
    let kept = s.kept("1 uncommitted file", 1, 0);
    assert_eq!(
        report,
        json!({
            "success": true,
            "sessionId": s.agent_id,
            "pid": s.agent.pid(),
            "repoPath": s.repo_str(),
            "isMainRepo": false,
            "worktreePath": s.worktree_str(),
            "worktreeRemoved": false,
            "branchDeleted": false,
            "kept": kept,
            "repaired": nothing_repaired(),
        })
    );
    assert!(report["kept"]["reason"]
        .as_str()
        .unwrap()
        .contains("uncommitted"));
    assert!(s.worktree.is_dir());
    assert!(s.admin_dir().is_dir());
    assert!(s.branch_exists());
    assert_eq!(std::fs::read(s.worktree.join("draft.bin")).unwrap(), draft);
    assert_eq!(snapshot(&s.worktree), before);
    assert_eq!(
        git_worktrees(env, &s.repo),
        [s.repo_str(), s.worktree_str()]
    );
    assert_eq!(session_ids(env), [s.main_id.as_str()]);

    let status = env.status();
    assert_eq!(status["totalSessions"], 1);
    assert_eq!(status["sessions"][0]["sessionId"], s.main_id.as_str());
    assert_eq!(status["keptWorktrees"], json!([kept]));

    // Without --force, cleanup looks again and keeps it.
    let kept_again = cleanup(env, &s.repo, &[]);
    assert_eq!(
        kept_again,
        json!({
            "repoPath": s.repo_str(),
            "dryRun": false,
            "force": false,
            "removedSessions": [],
            "removedWorktrees": [],
            "kept": [kept],
            "failures": [],
            "repaired": nothing_repaired(),
        })
    );
    assert_eq!(snapshot(&s.worktree), before);
    assert!(s.branch_exists());
    assert_eq!(table_rows(env, "kept_worktrees").len(), 1);

    let forced = cleanup(env, &s.repo, &["--force"]);
    assert_eq!(
        forced,
        json!({
            "repoPath": s.repo_str(),
            "dryRun": false,
            "force": true,
            "removedSessions": [],
            "removedWorktrees": [s.worktree_str()],
            "kept": [],
            "failures": [],
            "repaired": nothing_repaired(),
        })
    );
    assert!(!s.worktree.exists());
    assert!(!s.admin_dir().exists());
    assert!(!s.branch_exists());
    assert!(
        !s.worktrees_root().exists(),
        "{:?}",
        list_dir(&s.worktrees_root())
    );
    assert_eq!(git_worktrees(env, &s.repo), [s.repo_str()]);
    assert_eq!(
        table_rows(env, "kept_worktrees"),
        Vec::<Vec<SqlValue>>::new()
    );
    assert_eq!(env.status()["keptWorktrees"], json!([]));
    assert_eq!(session_ids(env), [s.main_id.as_str()]);
}

fn commit_on_branch_then_merge(merge_args: &[&str]) {
    let s = main_and_worktree();
    let env = &s.env;
    let worktree = s.worktree_str();
    std::fs::write(s.worktree.join("checkout.rs"), "pub fn pay() {}\n").unwrap();
    env.git(&env.path(), &["-C", worktree, "add", "checkout.rs"]);
    env.git(
        &env.path(),
        &["-C", worktree, "commit", "-q", "-m", "checkout"],
    );
    let tip = env.git(&s.repo, &["rev-parse", &s.branch]);

    let report = release(env, &["--pid", &s.agent.pid().to_string()]);
    let kept = s.kept("1 commit not on main", 0, 1);
    assert_eq!(report["kept"], kept);
    assert_eq!(report["worktreeRemoved"], false);
    assert_eq!(report["branchDeleted"], false);
    assert!(s.branch_exists());
    assert_eq!(env.git(&s.repo, &["rev-parse", &s.branch]), tip);
    assert_eq!(
        std::fs::read_to_string(s.worktree.join("checkout.rs")).unwrap(),
        "pub fn pay() {}\n"
    );
    assert_eq!(env.status()["keptWorktrees"], json!([kept]));

    // Still unmerged: cleanup keeps it.
    let unmerged = cleanup(env, &s.repo, &[]);
    assert_eq!(unmerged["kept"], json!([kept]));
    assert_eq!(unmerged["removedWorktrees"], json!([]));
    assert!(s.worktree.is_dir());
    assert!(s.branch_exists());

    let mut merge = vec!["merge", "-q"];
    merge.extend_from_slice(merge_args);
    merge.push(&s.branch);
    env.git(&s.repo, &merge);

    // Now main has the commit: nothing is held, so cleanup removes it.
    let merged = cleanup(env, &s.repo, &[]);
    assert_eq!(
        merged,
        json!({
            "repoPath": s.repo_str(),
            "dryRun": false,
            "force": false,
            "removedSessions": [],
            "removedWorktrees": [worktree],
            "kept": [],
            "failures": [],
            "repaired": nothing_repaired(),
        })
    );
    assert!(!s.worktree.exists());
    assert!(!s.admin_dir().exists());
    assert!(!s.branch_exists());
    assert!(!s.worktrees_root().exists());
    assert_eq!(git_worktrees(env, &s.repo), [s.repo_str()]);
    assert_eq!(table_rows(env, "kept_worktrees").len(), 0);
    assert_eq!(
        env.git(&s.repo, &["show", "main:checkout.rs"]),
        "pub fn pay() {}\n"
    );
    assert_eq!(session_ids(env), [s.main_id.as_str()]);
}

#[test]
fn a_commit_not_on_the_base_is_kept_until_fast_forwarded_into_main() {
    commit_on_branch_then_merge(&["--ff-only"]);
}

#[test]
fn a_commit_not_on_the_base_is_kept_until_merged_with_a_merge_commit() {
    commit_on_branch_then_merge(&["--no-ff", "-m", "merge the checkout work"]);
}

#[test]
fn a_clean_release_removes_worktree_branch_admin_dir_and_empty_root() {
    let s = main_and_worktree();
    let env = &s.env;
    let other = LiveProcess::spawn();
    let third = env.register(&s.repo, other.pid());
    let other_worktree = PathBuf::from(third["worktreePath"].as_str().unwrap());
    let other_name = third["worktreeName"].as_str().unwrap().to_owned();
    let other_branch = third["branch"].as_str().unwrap().to_owned();
    let main_files = snapshot(&s.repo);
    assert!(s.admin_dir().is_dir());

    let report = release(env, &["--pid", &s.agent.pid().to_string()]);
    assert_eq!(
        report,
        json!({
            "success": true,
            "sessionId": s.agent_id,
            "pid": s.agent.pid(),
            "repoPath": s.repo_str(),
            "isMainRepo": false,
            "worktreePath": s.worktree_str(),
            "worktreeRemoved": true,
            "branchDeleted": true,
            "kept": null,
            "repaired": nothing_repaired(),
        })
    );
    assert!(!s.worktree.exists());
    assert!(!s.admin_dir().exists());
    assert!(!s.branch_exists());
    assert_eq!(
        git_worktrees(env, &s.repo),
        [s.repo_str(), other_worktree.to_str().unwrap()]
    );
    // The root still holds the other worktree, and no leftovers.
    assert_eq!(list_dir(&s.worktrees_root()), [other_name.as_str()]);

    // Released by id this time; the root is empty afterwards, so it goes.
    let by_id = release(env, &["--session-id", third["sessionId"].as_str().unwrap()]);
    assert_eq!(by_id["worktreeRemoved"], true);
    assert_eq!(by_id["branchDeleted"], true);
    assert_eq!(by_id["kept"], Value::Null);
    assert!(!other_worktree.exists());
    assert!(!s.repo.join(".git/worktrees").join(&other_name).exists());
    assert!(!s.worktrees_root().exists());
    assert_eq!(git_worktrees(env, &s.repo), [s.repo_str()]);
    assert_eq!(
        env.git(&s.repo, &["branch", "--list", "--format=%(refname:short)"]),
        "main\n"
    );
    assert!(!env
        .git(&s.repo, &["branch", "--list"])
        .contains(&other_branch));

    // The main session's release removes its row and touches nothing else.
    let main_report = release(env, &["--pid", &s.main.pid().to_string()]);
    assert_eq!(
        main_report,
        json!({
            "success": true,
            "sessionId": s.main_id,
            "pid": s.main.pid(),
            "repoPath": s.repo_str(),
            "isMainRepo": true,
            "worktreePath": s.repo_str(),
            "worktreeRemoved": false,
            "branchDeleted": false,
            "kept": null,
            "repaired": nothing_repaired(),
        })
    );
    assert_eq!(env.session_rows(), 0);
    assert_eq!(snapshot(&s.repo), main_files);
    assert_eq!(env.git(&s.repo, &["status", "--porcelain"]), "");
    assert_eq!(
        env.git(&s.repo, &["branch", "--list", "--format=%(refname:short)"]),
        "main\n"
    );
    assert_eq!(git_worktrees(env, &s.repo), [s.repo_str()]);
}

#[test]
fn releasing_an_unknown_session_fails_unless_quiet_or_json() {
    let env = TestEnv::new();
    let mut gone = LiveProcess::spawn();
    let dead = gone.pid().to_string();
    gone.kill();

    // No database at all, then a database with another session in it.
    for with_database in [false, true] {
        let _agent = with_database.then(|| {
            let repo = env.repo("shop");
            let agent = LiveProcess::spawn();
            env.register(&repo, agent.pid());
            agent
        });
        let rows = table_rows_if_any(&env);

        let plain = env
            .pcc("git-pcc-release")
            .args(["--pid", &dead])
            .output()
            .unwrap();
        assert_eq!(plain.status.code(), Some(1));
        assert!(plain.stdout.is_empty());
        let stderr = String::from_utf8(plain.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "error: no session is registered for process {dead}"
            )),
            "{stderr}"
        );

        // With --json, as the TypeScript tool did: not released, exit 0.
        let (json_output, value) =
            env.json(env.pcc("git-pcc-release").args(["--pid", &dead, "--json"]));
        assert_eq!(json_output.status.code(), Some(0));
        assert!(json_output.stderr.is_empty());
        assert_eq!(
            value,
            json!({
                "released": false,
                "worktreeRemoved": false,
                "pid": dead.parse::<i64>().unwrap(),
                "reason": format!("no session is registered for process {dead}"),
            })
        );
        let (_, value) = env.json(env.pcc("git-pcc-release").args([
            "--session-id",
            "no-such-session",
            "--json",
        ]));
        assert_eq!(value["released"], false);
        assert_eq!(value["sessionId"], "no-such-session");

        let by_id = env
            .pcc("git-pcc-release")
            .args(["--session-id", "no-such-session"])
            .output()
            .unwrap();
        assert_eq!(by_id.status.code(), Some(1));
        let stderr = String::from_utf8(by_id.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: no session with id no-such-session"),
            "{stderr}"
        );

        for quiet in [
            vec!["--pid", dead.as_str(), "--quiet"],
            vec!["--session-id", "no-such-session", "-q"],
            vec!["--pid", dead.as_str(), "--quiet", "--json"],
        ] {
            let output = env.pcc("git-pcc-release").args(&quiet).output().unwrap();
            assert_eq!(output.status.code(), Some(0), "{quiet:?}");
            assert!(output.stdout.is_empty(), "{quiet:?}");
            assert!(output.stderr.is_empty(), "{quiet:?}");
        }
        assert_eq!(table_rows_if_any(&env), rows);
        assert_eq!(
            env.data_dir.join("coordinator.db").exists(),
            with_database,
            "a failed release creates no database"
        );
    }
}

fn table_rows_if_any(env: &TestEnv) -> Vec<Vec<SqlValue>> {
    if env.data_dir.join("coordinator.db").exists() {
        table_rows(env, "sessions")
    } else {
        Vec::new()
    }
}

/// What a dry run must leave untouched.
#[derive(Debug, PartialEq)]
struct World {
    sessions: Vec<Vec<SqlValue>>,
    kept: Vec<Vec<SqlValue>>,
    root: Vec<String>,
    files: Vec<(String, Vec<u8>)>,
    branches: String,
    worktrees: Vec<String>,
}

fn world(s: &Sessions) -> World {
    World {
        sessions: table_rows(&s.env, "sessions"),
        kept: table_rows(&s.env, "kept_worktrees"),
        root: list_dir(&s.worktrees_root()),
        files: snapshot(&s.worktree),
        branches: s.env.git(&s.repo, &["branch", "--list"]),
        worktrees: git_worktrees(&s.env, &s.repo),
    }
}

#[test]
fn cleanup_removes_a_killed_worktree_session_and_a_dry_run_changes_nothing() {
    let mut s = main_and_worktree();
    s.agent.kill();
    let env = &s.env;
    let status = env.status();
    let alive: Vec<(&str, bool)> = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|session| {
            (
                session["sessionId"].as_str().unwrap(),
                session["isAlive"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        alive,
        [(s.main_id.as_str(), true), (s.agent_id.as_str(), false)]
    );

    let stale = json!({
        "sessionId": s.agent_id,
        "pid": s.agent.pid(),
        "repoPath": s.repo_str(),
        "worktreePath": s.worktree_str(),
        "isMainRepo": false,
    });
    let before = world(&s);
    let dry = cleanup(env, &s.repo, &["--dry-run"]);
    assert_eq!(
        dry,
        json!({
            "repoPath": s.repo_str(),
            "dryRun": true,
            "force": false,
            "removedSessions": [stale],
            "removedWorktrees": [s.worktree_str()],
            "kept": [],
            "failures": [],
            "repaired": nothing_repaired(),
        })
    );
    assert_eq!(world(&s), before);
    assert!(s.admin_dir().is_dir());

    let done = cleanup(env, &s.repo, &[]);
    assert_eq!(
        done,
        json!({
            "repoPath": s.repo_str(),
            "dryRun": false,
            "force": false,
            "removedSessions": [stale],
            "removedWorktrees": [s.worktree_str()],
            "kept": [],
            "failures": [],
            "repaired": nothing_repaired(),
        })
    );
    assert_eq!(session_ids(env), [s.main_id.as_str()]);
    assert!(!s.worktree.exists());
    assert!(!s.admin_dir().exists());
    assert!(!s.branch_exists());
    assert!(!s.worktrees_root().exists());
    assert_eq!(git_worktrees(env, &s.repo), [s.repo_str()]);
    assert_eq!(table_rows(env, "kept_worktrees").len(), 0);

    // Nothing is left to do.
    let again = cleanup(env, &s.repo, &[]);
    assert_eq!(again["removedSessions"], json!([]));
    assert_eq!(again["removedWorktrees"], json!([]));
}

#[test]
fn cleanup_of_a_killed_session_keeps_its_uncommitted_work() {
    let mut s = main_and_worktree();
    std::fs::write(s.worktree.join("src/cart.rs"), "pub struct Cart(u32);\n").unwrap();
    s.agent.kill();
    let env = &s.env;
    let kept = s.kept("1 uncommitted file", 1, 0);

    let before = world(&s);
    let dry = cleanup(env, &s.repo, &["--dry-run"]);
    assert_eq!(dry["removedWorktrees"], json!([]));
    assert_eq!(dry["kept"], json!([kept]));
    assert_eq!(dry["removedSessions"][0]["sessionId"], s.agent_id.as_str());
    assert_eq!(world(&s), before);

    let done = cleanup(env, &s.repo, &[]);
    assert_eq!(done["removedSessions"][0]["sessionId"], s.agent_id.as_str());
    assert_eq!(done["removedWorktrees"], json!([]));
    assert_eq!(done["kept"], json!([kept]));
    assert_eq!(session_ids(env), [s.main_id.as_str()]);
    assert_eq!(snapshot(&s.worktree), before.files);
    assert!(s.branch_exists());
    assert_eq!(env.status()["keptWorktrees"], json!([kept]));
}

#[test]
fn the_next_register_takes_the_slot_of_a_killed_main_session() {
    let mut s = main_and_worktree();
    s.main.kill();
    let env = &s.env;

    let newcomer = LiveProcess::spawn();
    let registration = env.register(&s.repo, newcomer.pid());
    assert_eq!(registration["cleanedSessions"], json!([s.main_id]));
    assert_eq!(registration["isMainRepo"], true);
    assert_eq!(registration["isNew"], true);
    assert_eq!(registration["worktreePath"], s.repo_str());
    assert_eq!(registration["worktreeName"], Value::Null);
    assert_eq!(registration["parallelSessions"], 2);
    let new_id = registration["sessionId"].as_str().unwrap().to_owned();
    assert_ne!(new_id, s.main_id);
    assert_eq!(
        session_ids(env),
        sorted(vec![s.agent_id.clone(), new_id.clone()])
    );
    // The live worktree session is untouched.
    assert!(s.worktree.is_dir());
    assert!(s.branch_exists());

    let status = env.status();
    let main_rows: Vec<&Value> = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|session| session["isMainRepo"] == true)
        .collect();
    assert_eq!(main_rows.len(), 1);
    assert_eq!(main_rows[0]["sessionId"], new_id.as_str());
    assert_eq!(main_rows[0]["isAlive"], true);
}

#[test]
fn the_next_register_removes_a_killed_worktree_session() {
    let mut s = main_and_worktree();
    s.agent.kill();
    let env = &s.env;

    let newcomer = LiveProcess::spawn();
    let registration = env.register(&s.repo, newcomer.pid());
    assert_eq!(registration["cleanedSessions"], json!([s.agent_id]));
    assert_eq!(registration["isMainRepo"], false);
    assert_eq!(registration["parallelSessions"], 2);
    let new_worktree = registration["worktreePath"].as_str().unwrap();
    assert_ne!(new_worktree, s.worktree_str());
    assert!(!s.worktree.exists());
    assert!(!s.admin_dir().exists());
    assert!(!s.branch_exists());
    assert_eq!(git_worktrees(env, &s.repo), [s.repo_str(), new_worktree]);
    assert_eq!(
        list_dir(&s.worktrees_root()),
        [registration["worktreeName"].as_str().unwrap()]
    );
    assert_eq!(
        session_ids(env),
        sorted(vec![
            s.main_id.clone(),
            registration["sessionId"].as_str().unwrap().to_owned()
        ])
    );
}

#[test]
fn the_next_register_leaves_no_empty_worktrees_root_behind() {
    let mut s = main_and_worktree();
    s.main.kill();
    s.agent.kill();
    let env = &s.env;

    let newcomer = LiveProcess::spawn();
    let registration = env.register(&s.repo, newcomer.pid());
    assert_eq!(
        sorted(
            registration["cleanedSessions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap().to_owned())
                .collect()
        ),
        sorted(vec![s.main_id.clone(), s.agent_id.clone()])
    );
    assert_eq!(registration["isMainRepo"], true);
    assert!(!s.worktree.exists());
    assert!(!s.branch_exists());
    // Release and cleanup remove the root once it is empty; so does this.
    assert!(
        !s.worktrees_root().exists(),
        "left behind: {:?}",
        list_dir(&s.worktrees_root())
    );
}

/// A repository `name` with a main session and a released worktree session
/// whose uncommitted file kept its worktree.
fn kept_in(env: &TestEnv, name: &str) -> (PathBuf, LiveProcess, PathBuf, String) {
    let repo = env.repo(name);
    let main = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let agent = LiveProcess::spawn();
    let registered = env.register(&repo, agent.pid());
    let worktree = PathBuf::from(registered["worktreePath"].as_str().unwrap());
    std::fs::write(worktree.join("work.txt"), "mine\n").unwrap();
    let output = env
        .pcc("git-pcc-release")
        .args(["--pid", &agent.pid().to_string()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let hint = String::from_utf8_lossy(&output.stdout).into_owned();
    (repo, main, worktree, hint)
}

#[test]
fn cleanup_and_status_stay_in_the_repository_they_are_run_in() {
    let env = TestEnv::new();
    let (shop, _shop_main, shop_kept, hint) = kept_in(&env, "shop");
    let (blog, _blog_main, blog_kept, _) = kept_in(&env, "blog");
    // The release's hint names this one worktree.
    assert!(
        hint.contains(&format!(
            "'git pcc cleanup --force --worktree {}'",
            shop_kept.display()
        )),
        "{hint}"
    );

    // Inside a repository, status and cleanup see only it.
    let (_, status) = env.json(
        env.pcc("git-pcc")
            .current_dir(&shop)
            .args(["status", "--json"]),
    );
    assert_eq!(status["repoPath"], shop.to_str().unwrap());
    assert_eq!(status["totalSessions"], 1);
    assert_eq!(status["keptWorktrees"].as_array().unwrap().len(), 1);
    let plain = env
        .pcc("git-pcc")
        .current_dir(&blog)
        .arg("cleanup")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(
        text.contains(&format!(
            "'git pcc cleanup --force --repo {}'",
            blog.display()
        )),
        "{text}"
    );
    let forced = cleanup(&env, &shop, &["--force"]);
    assert_eq!(forced["repoPath"], shop.to_str().unwrap());
    assert_eq!(
        forced["removedWorktrees"],
        json!([shop_kept.to_str().unwrap()])
    );
    assert!(!shop_kept.exists());
    assert_eq!(
        std::fs::read_to_string(blog_kept.join("work.txt")).unwrap(),
        "mine\n"
    );

    // Outside any repository, cleanup acts only when told --all; status
    // shows every repository and says so.
    let outside = env
        .pcc("git-pcc")
        .args(["cleanup", "--force"])
        .output()
        .unwrap();
    assert_eq!(outside.status.code(), Some(1));
    let error = String::from_utf8_lossy(&outside.stderr);
    assert!(
        error.contains("not inside a git repository") && error.contains("--all"),
        "{error}"
    );
    assert!(blog_kept.join("work.txt").is_file());
    let status = env.status();
    assert_eq!(status["repoPath"], "all");
    assert_eq!(status["totalSessions"], 2);
    let human = env.pcc("git-pcc").arg("status").output().unwrap();
    assert!(String::from_utf8_lossy(&human.stdout)
        .starts_with("not inside a repository: every repository\n"));
    let everywhere = env
        .pcc("git-pcc")
        .args(["cleanup", "--all", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&everywhere.stdout).unwrap();
    assert_eq!(report["repoPath"], "all");
    assert_eq!(
        report["kept"][0]["worktreePath"],
        blog_kept.to_str().unwrap()
    );
}
