//! Processes killed in the middle of register, release and cleanup: at every
//! step, by failpoint (`PARALLEL_CC_FAILPOINT`), and at random moments. After
//! each kill the next command in that repository (a register, a release or a
//! cleanup) finishes or undoes what the dead one left: no worktree, branch,
//! trash or journal entry that no session accounts for, no half-written
//! worktree, and no one's work lost.

mod support;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{list_dir, LiveProcess, TestEnv};

/// The kill points of a worktree's creation by `git-pcc-register`.
const REGISTER_POINTS: &[&str] = &[
    "create:after-journal",
    "create:after-branch",
    "create:after-admin",
    "create:during-checkout@1",
    "create:during-checkout@30",
    "create:after-index",
    "register:after-session",
];

/// The kill points of a worktree's removal.
const REMOVE_POINTS: &[&str] = &[
    "remove:after-journal",
    "remove:after-rename",
    "remove:after-unregister",
    "remove:after-branch",
    "remove:after-record",
    "remove:during-purge",
];

/// The command that comes after a killed one.
#[derive(Debug, Clone, Copy)]
enum Next {
    Register,
    Release,
    Cleanup,
}

const NEXT: [Next; 3] = [Next::Register, Next::Release, Next::Cleanup];

/// A repository of `files` files with a live session in its main checkout.
struct World {
    env: TestEnv,
    repo: PathBuf,
    main: LiveProcess,
    main_id: String,
    /// Processes of sessions registered along the way, kept alive.
    others: Vec<LiveProcess>,
}

impl World {
    fn new(files: usize) -> World {
        let env = TestEnv::new();
        let contents: Vec<(String, String)> = (0..files)
            .map(|i| {
                (
                    format!("src/m{:03}/file{i}.rs", i % 7),
                    format!("pub const N: u32 = {i};\n"),
                )
            })
            .collect();
        let borrowed: Vec<(&str, &str)> = contents
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let repo = env.repo_with("app", &borrowed);
        let main = LiveProcess::spawn();
        let registered = env.register(&repo, main.pid());
        World {
            main_id: registered["sessionId"].as_str().unwrap().to_owned(),
            env,
            repo,
            main,
            others: Vec::new(),
        }
    }

    /// Registers a new live process; returns (session id, worktree path).
    fn register(&mut self) -> (String, PathBuf) {
        let process = LiveProcess::spawn();
        let registered = self.env.register(&self.repo, process.pid());
        self.others.push(process);
        (
            registered["sessionId"].as_str().unwrap().to_owned(),
            PathBuf::from(registered["worktreePath"].as_str().unwrap()),
        )
    }

    fn register_command(&self, pid: u32) -> Command {
        let mut command = self.env.pcc("git-pcc-register");
        command
            .arg("--repo")
            .arg(&self.repo)
            .args(["--pid", &pid.to_string(), "--json"]);
        command
    }

    fn release_command(&self, session_id: &str) -> Command {
        let mut command = self.env.pcc("git-pcc-release");
        command.args(["--session-id", session_id, "--json"]);
        command
    }

    fn cleanup_command(&self) -> Command {
        let mut command = self.env.pcc("git-pcc");
        command.current_dir(&self.repo).args(["cleanup", "--json"]);
        command
    }

    /// Runs the command that comes after a killed one, asserting success;
    /// returns its JSON.
    fn next(&mut self, next: Next, release_id: &str) -> Value {
        let mut command = match next {
            Next::Register => {
                let process = LiveProcess::spawn();
                let command = self.register_command(process.pid());
                self.others.push(process);
                command
            }
            Next::Release => self.release_command(release_id),
            Next::Cleanup => self.cleanup_command(),
        };
        let (output, value) = self.env.json(&mut command);
        assert!(
            output.status.success(),
            "{next:?}: {} {value}",
            String::from_utf8_lossy(&output.stderr)
        );
        value
    }

    fn worktrees_root(&self) -> PathBuf {
        self.repo.parent().unwrap().join("app-worktrees")
    }

    /// Checks that every worktree, branch and directory of ours is
    /// accounted for by a session or kept row, that nothing is left half
    /// done, and that every worktree but those in `dirty` is clean.
    fn assert_accounted(&self, dirty: &[&Path]) {
        let env = &self.env;
        let conn = env.db();
        let journal: i64 = conn
            .query_row("SELECT COUNT(*) FROM worktree_journal", [], |r| r.get(0))
            .unwrap();
        assert_eq!(journal, 0, "journal entries are left");
        let mut stmt = conn
            .prepare(
                "SELECT worktree_path, branch FROM sessions WHERE is_main_repo = 0
                 UNION SELECT worktree_path, branch FROM kept_worktrees",
            )
            .unwrap();
        let rows: Vec<(String, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let recorded: BTreeSet<String> = rows.iter().map(|(p, _)| p.clone()).collect();
        let listed: BTreeSet<String> = env
            .git(&self.repo, &["worktree", "list", "--porcelain"])
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .filter(|p| Path::new(p) != self.repo)
            .map(str::to_owned)
            .collect();
        assert_eq!(listed, recorded, "git's worktrees against the records");
        let branches: BTreeSet<String> = env
            .git(
                &self.repo,
                &[
                    "for-each-ref",
                    "--format=%(refname:short)",
                    "refs/heads/parallel/",
                ],
            )
            .lines()
            .map(str::to_owned)
            .collect();
        let recorded_branches: BTreeSet<String> =
            rows.iter().filter_map(|(_, b)| b.clone()).collect();
        assert_eq!(branches, recorded_branches, "branches against the records");
        let on_disk: BTreeSet<String> = list_dir(&self.worktrees_root()).into_iter().collect();
        let expected_dirs: BTreeSet<String> = recorded
            .iter()
            .map(|p| {
                Path::new(p)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(on_disk, expected_dirs, "directories in the worktree root");
        let lock_files: Vec<String> = list_dir(&self.repo.join(".git/refs/heads/parallel"))
            .into_iter()
            .filter(|n| n.ends_with(".lock"))
            .collect();
        assert!(lock_files.is_empty(), "{lock_files:?}");
        for path in &recorded {
            if dirty.iter().any(|d| Path::new(path) == *d) {
                continue;
            }
            assert_eq!(
                env.git(Path::new(path), &["status", "--porcelain"]),
                "",
                "{path} is not clean"
            );
        }
        let (output, status) = env.json(
            env.pcc("git-pcc")
                .current_dir(&self.repo)
                .args(["status", "--json"]),
        );
        assert!(output.status.success());
        assert_eq!(status["unaccountedWorktrees"], serde_json::json!([]));
        assert_eq!(status["interrupted"], serde_json::json!([]));
    }
}

/// Runs `command` with the failpoint armed and asserts it was killed there.
fn killed_at(point: &str, command: &mut Command) -> Output {
    let output = command
        .env("PARALLEL_CC_FAILPOINT", point)
        .output()
        .expect("run the command");
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGKILL),
        "{point}: the command was not killed there (exit {:?}): {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn every_kill_point_of_register_is_undone_or_finished_by_the_next_command() {
    for point in REGISTER_POINTS {
        for next in NEXT {
            let mut world = World::new(60);
            let agent = LiveProcess::spawn();
            killed_at(point, &mut world.register_command(agent.pid()));
            let main_id = world.main_id.clone();
            let result = world.next(next, &main_id);
            if *point != "register:after-session" {
                let undone = result["repaired"]["undone"].as_array().unwrap();
                assert_eq!(undone.len(), 1, "{point} then {next:?}: {result}");
            }
            world.assert_accounted(&[]);
            // The repository works as ever: the killed agent registers anew.
            let (output, _) = world.env.json(&mut world.register_command(agent.pid()));
            assert!(output.status.success(), "{point} then {next:?}");
            world.assert_accounted(&[]);
            drop(agent);
        }
    }
}

#[test]
fn every_kill_point_of_a_sparse_creation_is_undone_by_the_next_command() {
    for point in [
        "create:after-admin",
        "create:after-sparse",
        "create:during-checkout@1",
        "create:after-index",
    ] {
        for next in NEXT {
            let mut world = World::new(60);
            let set = world
                .env
                .pcc("git-pcc")
                .args(["config", "set", "worktree.sparsePaths", "src/m001"])
                .output()
                .unwrap();
            assert!(set.status.success());
            let agent = LiveProcess::spawn();
            killed_at(point, &mut world.register_command(agent.pid()));
            let main_id = world.main_id.clone();
            let result = world.next(next, &main_id);
            let undone = result["repaired"]["undone"].as_array().unwrap();
            assert_eq!(undone.len(), 1, "{point} then {next:?}: {result}");
            world.assert_accounted(&[]);
            let (output, value) = world.env.json(&mut world.register_command(agent.pid()));
            assert!(output.status.success(), "{point} then {next:?}");
            let path = PathBuf::from(value["worktreePath"].as_str().unwrap());
            // After a release of the main session it takes the main checkout.
            if path != world.repo {
                assert_eq!(
                    world.env.git(&path, &["sparse-checkout", "list"]),
                    "src/m001\n"
                );
            }
            world.assert_accounted(&[]);
        }
    }
}

/// A world with a clean worktree session to remove and one holding work
/// (an uncommitted file and a commit) that must survive whatever happens.
struct Removing {
    world: World,
    clean_id: String,
    clean_path: PathBuf,
    held_id: String,
    held_path: PathBuf,
}

fn removing() -> Removing {
    let mut world = World::new(40);
    let (clean_id, clean_path) = world.register();
    let (held_id, held_path) = world.register();
    std::fs::write(held_path.join("notes.txt"), "do not lose me\n").unwrap();
    world
        .env
        .git(&held_path, &["commit", "-q", "--allow-empty", "-m", "mine"]);
    Removing {
        world,
        clean_id,
        clean_path,
        held_id,
        held_path,
    }
}

impl Removing {
    fn assert_held_work_intact(&self) {
        assert_eq!(
            std::fs::read_to_string(self.held_path.join("notes.txt")).unwrap(),
            "do not lose me\n"
        );
        assert_eq!(
            self.world
                .env
                .git(&self.held_path, &["log", "-1", "--format=%s"]),
            "mine\n"
        );
    }
}

#[test]
fn every_kill_point_of_release_is_finished_or_undone_by_the_next_command() {
    for point in REMOVE_POINTS {
        for next in NEXT {
            let mut r = removing();
            killed_at(point, &mut r.world.release_command(&r.clean_id));
            let held_id = r.held_id.clone();
            r.world.next(next, &held_id);
            r.world.assert_accounted(&[&r.held_path]);
            r.assert_held_work_intact();
            // Killed before anything moved, the session is still there and
            // its release goes through now; otherwise it is gone.
            let row_left = r.world.env.db().query_row(
                "SELECT COUNT(*) FROM sessions WHERE id = ?1",
                [&r.clean_id],
                |row| row.get::<_, i64>(0),
            );
            if row_left.unwrap() == 1 {
                assert_eq!(*point, "remove:after-journal", "then {next:?}");
                let (output, _) = r.world.env.json(&mut r.world.release_command(&r.clean_id));
                assert!(output.status.success());
            }
            assert!(!r.clean_path.exists(), "{point} then {next:?}");
            r.world.assert_accounted(&[&r.held_path]);
        }
    }
}

#[test]
fn every_kill_point_of_cleanup_is_finished_or_undone_by_the_next_cleanup() {
    let mut points: Vec<&str> = REMOVE_POINTS.to_vec();
    points.push("cleanup:between-sessions");
    for point in points {
        let mut r = removing();
        let (_, second_clean) = r.world.register();
        // The agents of the three worktree sessions die.
        r.world.others.clear();
        killed_at(point, &mut r.world.cleanup_command());
        let (output, report) = r.world.env.json(&mut r.world.cleanup_command());
        assert!(
            output.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(report["failures"], serde_json::json!([]), "{point}");
        r.world.assert_accounted(&[&r.held_path]);
        r.assert_held_work_intact();
        assert!(!r.clean_path.exists(), "{point}");
        assert!(!second_clean.exists(), "{point}");
        let kept: i64 = r
            .world
            .env
            .db()
            .query_row("SELECT COUNT(*) FROM kept_worktrees", [], |row| row.get(0))
            .unwrap();
        assert_eq!(kept, 1, "{point}: the worktree with work is kept");
    }
}

/// Pseudo-random delays, the same every run.
fn delays(count: usize, seed: u64, max_ms: u64) -> Vec<Duration> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            Duration::from_millis((state >> 33) % (max_ms + 1))
        })
        .collect()
}

/// Starts `command`, kills it with SIGKILL after `delay` (when it still
/// runs), and reaps it.
fn kill_after(mut command: Command, delay: Duration) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the command");
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn registers_and_releases_killed_at_random_moments_leave_nothing_behind() {
    let mut world = World::new(300);
    for delay in delays(15, 7, 60) {
        let agent = LiveProcess::spawn();
        kill_after(world.register_command(agent.pid()), delay);
        world.next(Next::Cleanup, "");
        world.assert_accounted(&[]);
        world.others.push(agent);
    }
    for delay in delays(20, 11, 60) {
        let (id, _) = world.register();
        kill_after(world.release_command(&id), delay);
        world.next(Next::Cleanup, "");
        world.assert_accounted(&[]);
    }
    drop(world.main);
}

/// The worktree of ours git lists besides the main checkout, when there is
/// exactly one.
fn only_worktree(world: &World) -> PathBuf {
    let listed: Vec<PathBuf> = world
        .env
        .git(&world.repo, &["worktree", "list", "--porcelain"])
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .map(PathBuf::from)
        .filter(|p| *p != world.repo)
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    listed[0].clone()
}

#[test]
fn an_interrupted_creation_someone_committed_in_is_kept_not_undone() {
    let mut world = World::new(20);
    let agent = LiveProcess::spawn();
    killed_at(
        "create:after-index",
        &mut world.register_command(agent.pid()),
    );
    let half = only_worktree(&world);
    std::fs::write(half.join("notes.txt"), "found it and used it\n").unwrap();
    world.env.git(&half, &["add", "notes.txt"]);
    world
        .env
        .git(&half, &["commit", "-q", "-m", "used the worktree"]);

    let report = world.next(Next::Cleanup, "");
    assert_eq!(
        report["repaired"]["kept"],
        serde_json::json!([half.to_str().unwrap()])
    );
    assert_eq!(
        world.env.git(&half, &["log", "-1", "--format=%s"]),
        "used the worktree\n"
    );
    world.assert_accounted(&[]);
    let (_, status) = world.env.json(
        world
            .env
            .pcc("git-pcc")
            .current_dir(&world.repo)
            .args(["status", "--json"]),
    );
    assert_eq!(
        status["keptWorktrees"][0]["worktreePath"],
        half.to_str().unwrap()
    );
    assert_eq!(status["keptWorktrees"][0]["unmergedCommits"], 1);
    drop(agent);
}

fn doctor_worktrees(world: &World) -> Value {
    let (_, report) = world.env.json(
        world
            .env
            .pcc("git-pcc")
            .current_dir(&world.repo)
            .args(["doctor", "--json"]),
    );
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "worktrees")
        .cloned()
        .expect("a worktrees check")
}

#[test]
fn a_step_that_cannot_be_repaired_is_reported_and_repaired_once_it_can() {
    let world = World::new(20);
    let agent = LiveProcess::spawn();
    killed_at(
        "create:after-index",
        &mut world.register_command(agent.pid()),
    );
    let half = only_worktree(&world);
    let immutable = support::Immutable::new(&world.worktrees_root());

    let (output, report) = world.env.json(&mut world.cleanup_command());
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        report["repaired"]["failed"][0]["worktreePath"],
        half.to_str().unwrap()
    );
    let check = doctor_worktrees(&world);
    assert_eq!(check["ok"], false);
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("the creation of {} by process", half.display()))
            && detail.contains("did not finish"),
        "{detail}"
    );

    drop(immutable);
    let (output, report) = world.env.json(&mut world.cleanup_command());
    assert!(output.status.success());
    assert_eq!(
        report["repaired"]["undone"],
        serde_json::json!([half.to_str().unwrap()])
    );
    world.assert_accounted(&[]);
    assert_eq!(doctor_worktrees(&world)["ok"], true);
}
