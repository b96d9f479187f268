//! `git-pcc-register`: many agents registering at once, refusals of bad
//! input that leave everything as it was, every name of a repository meaning
//! one repository, re-registering a PID, and the `git pcc register` front
//! door.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use support::{list_dir, LiveProcess, TestEnv};

/// How many agents race in the concurrency test.
const RACERS: usize = 24;

// ------------------------------------------------------------------ helpers

/// Every entry under `dir`, `.git` included: its relative path, its kind,
/// and its contents (file bytes or symlink target). An absent `dir` is empty.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (char, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (char, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(base).unwrap().to_path_buf();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, ('l', target.to_string_lossy().as_bytes().to_vec()));
            } else if meta.is_dir() {
                out.insert(rel, ('d', Vec::new()));
                walk(base, &path, out);
            } else {
                out.insert(rel, ('f', std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Number of session rows in the database of `data_dir`; 0 when there is
/// no database. A file that is not a SQLite database is not opened at all.
fn session_count(data_dir: &Path) -> i64 {
    let path = data_dir.join("coordinator.db");
    let Ok(bytes) = std::fs::read(&path) else {
        return 0;
    };
    if !bytes.starts_with(b"SQLite format 3\0") {
        return 0;
    }
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row("SELECT COUNT(*) FROM sessions", [], |row| row.get(0))
        .unwrap_or(0)
}

fn register_command(env: &TestEnv, repo: &Path, pid: u32) -> Command {
    let mut command = env.pcc("git-pcc-register");
    command
        .arg("--repo")
        .arg(repo)
        .args(["--pid", &pid.to_string(), "--json"]);
    command
}

fn spawn_piped(mut command: Command) -> Child {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn parse_success(output: &Output, what: &str) -> Value {
    assert!(
        output.status.success(),
        "{what} failed ({:?}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{what} printed no JSON ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
}

/// `git worktree list --porcelain` as (path, branch) pairs.
fn worktree_list(env: &TestEnv, repo: &Path) -> Vec<(String, Option<String>)> {
    env.git(repo, &["worktree", "list", "--porcelain"])
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let path = block
                .lines()
                .find_map(|l| l.strip_prefix("worktree "))
                .expect("worktree line")
                .to_owned();
            let branch = block
                .lines()
                .find_map(|l| l.strip_prefix("branch refs/heads/"))
                .map(str::to_owned);
            (path, branch)
        })
        .collect()
}

/// A worktree's name: 8 hex digits, the last part of its branch
/// `parallel/<8 hex>`.
fn is_worktree_name(name: &str) -> bool {
    name.len() == 8
        && name
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn worktrees_root(repo: &Path) -> PathBuf {
    let name = repo.file_name().unwrap().to_str().unwrap();
    repo.parent().unwrap().join(format!("{name}-worktrees"))
}

// -------------------------------------------------------------------- race

#[test]
fn twenty_four_agents_register_and_release_at_once() {
    let env = TestEnv::new();
    let contents: Vec<(String, String)> = (0..300)
        .map(|i| {
            (
                format!("src/module{}/file{i:03}.txt", i % 12),
                format!("line one of {i}\nline two of {i}\n"),
            )
        })
        .collect();
    let files: Vec<(&str, &str)> = contents
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let repo = env.repo_with("app", &files);
    let head = env.git(&repo, &["rev-parse", "HEAD"]);
    assert!(
        !env.data_dir.exists(),
        "the schema must be created by the racers"
    );

    let agents: Vec<LiveProcess> = (0..RACERS).map(|_| LiveProcess::spawn()).collect();
    let children: Vec<Child> = agents
        .iter()
        .map(|agent| spawn_piped(register_command(&env, &repo, agent.pid())))
        .collect();
    let registrations: Vec<Value> = children
        .into_iter()
        .enumerate()
        .map(|(i, child)| {
            let output = child.wait_with_output().unwrap();
            parse_success(&output, &format!("register #{i}"))
        })
        .collect();

    let repo_str = repo.to_str().unwrap();
    let root = worktrees_root(&repo);
    let mut session_ids = BTreeSet::new();
    let mut counts = BTreeSet::new();
    let mut worktrees = BTreeMap::new();
    let mut mains = 0;
    for registration in &registrations {
        assert_eq!(registration["isNew"], true, "{registration}");
        assert_eq!(registration["repoPath"], repo_str);
        session_ids.insert(text(&registration["sessionId"]).to_owned());
        counts.insert(registration["parallelSessions"].as_i64().unwrap());
        if registration["isMainRepo"] == true {
            mains += 1;
            assert_eq!(registration["worktreePath"], repo_str);
            assert_eq!(registration["worktreeName"], Value::Null);
            assert_eq!(registration["branch"], "main");
            assert_eq!(registration["parallelSessions"], 1, "the first one wins");
        } else {
            let name = text(&registration["worktreeName"]);
            assert!(is_worktree_name(name), "{name}");
            let path = text(&registration["worktreePath"]);
            assert_eq!(path, root.join(name).to_str().unwrap());
            assert_eq!(registration["branch"], format!("parallel/{name}"));
            worktrees.insert(path.to_owned(), format!("parallel/{name}"));
        }
    }
    assert_eq!(mains, 1, "exactly one session gets the main checkout");
    assert_eq!(session_ids.len(), RACERS);
    assert_eq!(worktrees.len(), RACERS - 1, "worktrees must be distinct");
    assert_eq!(
        counts,
        (1..=RACERS as i64).collect::<BTreeSet<_>>(),
        "registrations are serialised: each sees one more session"
    );
    assert_eq!(list_dir(&root).len(), RACERS - 1);

    // git agrees: the main checkout plus 23 worktrees on their branches.
    let listed = worktree_list(&env, &repo);
    let mut expected: Vec<(String, Option<String>)> =
        vec![(repo_str.to_owned(), Some("main".into()))];
    expected.extend(
        worktrees
            .iter()
            .map(|(path, branch)| (path.clone(), Some(branch.clone()))),
    );
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    expected.sort();
    assert_eq!(listed_sorted, expected);
    assert_eq!(listed[0].0, repo_str, "the main checkout is listed first");

    for (path, branch) in &worktrees {
        let dir = Path::new(path);
        assert_eq!(env.git(dir, &["status", "--porcelain"]), "", "{path}");
        assert_eq!(env.git(dir, &["rev-parse", "--show-toplevel"]).trim(), path);
        assert_eq!(
            env.git(dir, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
            branch
        );
        assert_eq!(env.git(dir, &["rev-parse", "HEAD"]), head);
        assert_eq!(env.git(dir, &["ls-files"]).lines().count(), 300);
    }
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");

    let status = env.status();
    assert_eq!(status["totalSessions"], RACERS);
    let sessions = status["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), RACERS);
    let listed_ids: BTreeSet<String> = sessions
        .iter()
        .map(|s| text(&s["sessionId"]).to_owned())
        .collect();
    assert_eq!(listed_ids, session_ids);
    for session in sessions {
        assert_eq!(session["isAlive"], true, "{session}");
        assert_eq!(session["holdsWork"], false, "{session}");
    }

    // Release every session at once.
    let children: Vec<Child> = agents
        .iter()
        .map(|agent| {
            let mut command = env.pcc("git-pcc-release");
            command.args(["--pid", &agent.pid().to_string(), "--json"]);
            spawn_piped(command)
        })
        .collect();
    for ((i, child), (agent, registration)) in children
        .into_iter()
        .enumerate()
        .zip(agents.iter().zip(&registrations))
    {
        let output = child.wait_with_output().unwrap();
        let report = parse_success(&output, &format!("release #{i}"));
        assert_eq!(report["success"], true);
        assert_eq!(report["pid"], agent.pid());
        assert_eq!(report["sessionId"], registration["sessionId"]);
        assert_eq!(report["isMainRepo"], registration["isMainRepo"]);
        assert_eq!(report["worktreePath"], registration["worktreePath"]);
        assert_eq!(report["kept"], Value::Null, "{report}");
        let is_worktree = registration["isMainRepo"] == false;
        assert_eq!(report["worktreeRemoved"], is_worktree, "{report}");
        assert_eq!(report["branchDeleted"], is_worktree, "{report}");
    }

    assert_eq!(env.session_rows(), 0);
    assert_eq!(
        list_dir(&root),
        Vec::<String>::new(),
        "worktrees left behind"
    );
    assert_eq!(env.git(&repo, &["branch", "--list", "parallel/*"]), "");
    assert_eq!(
        worktree_list(&env, &repo),
        vec![(repo_str.to_owned(), Some("main".to_owned()))]
    );
    let prune = env
        .command("git")
        .current_dir(&repo)
        .args(["worktree", "prune", "--dry-run", "-v"])
        .output()
        .unwrap();
    assert!(prune.status.success());
    assert_eq!(String::from_utf8_lossy(&prune.stdout), "");
    assert_eq!(String::from_utf8_lossy(&prune.stderr), "");
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
    let status = env.status();
    assert_eq!(status["totalSessions"], 0);
    assert_eq!(status["keptWorktrees"], serde_json::json!([]));
}

// --------------------------------------------------------------- bad input

/// Runs `build` twice (plain and with `--json`) and checks each run is a
/// clean refusal: exit `code`, one `error:` line naming `expected`, no panic,
/// nothing printed on stdout but the JSON error, no session recorded, and
/// not a byte changed anywhere under the test's root directory.
fn assert_refused(
    env: &TestEnv,
    data_dir: &Path,
    build: impl Fn() -> Command,
    code: i32,
    expected: &str,
) {
    let before = tree(&env.path());

    let output = build().output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
    assert!(!stderr.contains("panicked") && !stdout.contains("panicked"));
    assert_eq!(stdout, "", "nothing on stdout without --json");

    let output = build().arg("--json").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr:?}");
    assert!(!stderr.contains("panicked"));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "--json error is not JSON ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let object = value.as_object().expect("a JSON object");
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        ["success", "error"],
        "{value}"
    );
    assert_eq!(value["success"], false);
    let message = text(&value["error"]);
    assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    assert!(
        stderr.starts_with(&format!("error: {message}")),
        "stderr {stderr:?} and JSON {message:?} disagree"
    );

    assert_eq!(session_count(data_dir), 0);
    let after = tree(&env.path());
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(changed.is_empty(), "a refusal changed {changed:?}");
}

fn bad_register(env: &TestEnv, repo: &Path, pid: &str) -> Command {
    let mut command = env.pcc("git-pcc-register");
    command.arg("--repo").arg(repo).args(["--pid", pid]);
    command
}

#[test]
fn refuses_a_path_outside_any_repository() {
    let env = TestEnv::new();
    let plain = env.path().join("plain");
    std::fs::create_dir_all(plain.join("sub")).unwrap();
    std::fs::write(plain.join("sub/notes.txt"), "notes\n").unwrap();
    let agent = LiveProcess::spawn();
    let pid = agent.pid().to_string();
    assert_refused(
        &env,
        &env.data_dir,
        || bad_register(&env, &plain.join("sub"), &pid),
        1,
        &format!("not a git repository: {}", plain.join("sub").display()),
    );
    assert!(!env.data_dir.exists());
}

#[test]
fn refuses_a_path_that_does_not_exist() {
    let env = TestEnv::new();
    env.repo("app");
    let missing = env.path().join("app/no/such/dir");
    let agent = LiveProcess::spawn();
    let pid = agent.pid().to_string();
    assert_refused(
        &env,
        &env.data_dir,
        || bad_register(&env, &missing, &pid),
        1,
        &format!("path does not exist: {}", missing.display()),
    );
    assert!(!env.data_dir.exists());
}

#[test]
fn refuses_a_pid_that_is_not_a_number() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    assert_refused(
        &env,
        &env.data_dir,
        || bad_register(&env, &repo, "abc"),
        2,
        "'abc'",
    );
    assert!(!env.data_dir.exists());
}

#[test]
fn refuses_a_pid_that_is_not_running() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let mut gone = LiveProcess::spawn();
    let pid = gone.pid();
    gone.kill();
    let pid_text = pid.to_string();
    assert_refused(
        &env,
        &env.data_dir,
        || bad_register(&env, &repo, &pid_text),
        1,
        &format!("process {pid} is not running"),
    );
    assert!(!env.data_dir.exists());
}

#[test]
fn refuses_a_data_dir_that_is_a_file() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let file = env.path().join("data-file");
    std::fs::write(&file, b"precious contents\n").unwrap();
    let agent = LiveProcess::spawn();
    let pid = agent.pid().to_string();
    assert_refused(
        &env,
        &file,
        || {
            let mut command = bad_register(&env, &repo, &pid);
            command.env("PARALLEL_CC_DATA_DIR", &file);
            command
        },
        1,
        &format!("data directory {} is not a directory", file.display()),
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"precious contents\n");
}

#[test]
fn refuses_a_database_that_is_not_a_database() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    std::fs::create_dir_all(&env.data_dir).unwrap();
    let db = env.data_dir.join("coordinator.db");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    let agent = LiveProcess::spawn();
    let pid = agent.pid().to_string();
    assert_refused(
        &env,
        &env.data_dir,
        || bad_register(&env, &repo, &pid),
        1,
        &format!("{} is not a SQLite database", db.display()),
    );
    assert_eq!(std::fs::read(&db).unwrap(), garbage);
    assert_eq!(list_dir(&env.data_dir), ["coordinator.db"]);
}

#[test]
fn refuses_a_bare_repository() {
    let env = TestEnv::new();
    let bare = env.path().join("bare.git");
    std::fs::create_dir_all(&bare).unwrap();
    env.git(&bare, &["init", "-q", "--bare"]);
    let agent = LiveProcess::spawn();
    let pid = agent.pid().to_string();
    assert_refused(
        &env,
        &env.data_dir,
        || bad_register(&env, &bare, &pid),
        1,
        &format!("{} is a bare repository", bare.display()),
    );
    assert!(!env.data_dir.exists());
}

// ------------------------------------------------------------------- paths

#[test]
fn every_name_of_the_repository_means_one_repository() {
    let env = TestEnv::new();
    let repo = env.repo_with(
        "app",
        &[("README.md", "hello\n"), ("src/deep/lib.rs", "// lib\n")],
    );
    let link = env.path().join("app-link");
    std::os::unix::fs::symlink(&repo, &link).unwrap();
    let agents: Vec<LiveProcess> = (0..5).map(|_| LiveProcess::spawn()).collect();

    let a = env.register(&repo, agents[0].pid());
    let b = env.register(&link, agents[1].pid());
    let c = env.register(Path::new(&format!("{}/", repo.display())), agents[2].pid());
    // D runs inside a subdirectory and leaves --repo at its default.
    let (output, d) = env.json(
        env.pcc("git-pcc-register")
            .current_dir(repo.join("src/deep"))
            .args(["--pid", &agents[3].pid().to_string(), "--json"]),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let b_worktree = PathBuf::from(text(&b["worktreePath"]));
    let e = env.register(&b_worktree.join("src/deep"), agents[4].pid());

    let all = [&a, &b, &c, &d, &e];
    let repo_str = repo.to_str().unwrap();
    assert_eq!(a["isMainRepo"], true);
    assert_eq!(all.iter().filter(|r| r["isMainRepo"] == true).count(), 1);
    let root = worktrees_root(&repo);
    for registration in all {
        assert_eq!(registration["isNew"], true);
        assert_eq!(registration["repoPath"], repo_str, "{registration}");
        if registration["isMainRepo"] == false {
            let name = text(&registration["worktreeName"]);
            assert_eq!(
                registration["worktreePath"],
                root.join(name).to_str().unwrap()
            );
        }
    }
    assert_eq!(e["parallelSessions"], 5);
    assert_eq!(list_dir(&root).len(), 4);
    assert!(
        !env.path().join("app-link-worktrees").exists(),
        "worktrees are named after the real repository"
    );
    assert_eq!(worktree_list(&env, &repo).len(), 5);

    let (output, status) = env.json(
        env.pcc("git-pcc")
            .args(["status", "--json", "--repo"])
            .arg(&link),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(status["totalSessions"], 5);
    let listed: BTreeSet<&str> = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| text(&s["sessionId"]))
        .collect();
    let registered: BTreeSet<&str> = all.iter().map(|r| text(&r["sessionId"])).collect();
    assert_eq!(listed, registered);
    for session in status["sessions"].as_array().unwrap() {
        assert_eq!(session["repoPath"], repo_str);
    }
}

// ------------------------------------------------------------- re-register

#[test]
fn registering_a_live_pid_again_returns_its_session() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let main_agent = LiveProcess::spawn();
    let worktree_agent = LiveProcess::spawn();
    let first_main = env.register(&repo, main_agent.pid());
    let first_worktree = env.register(&repo, worktree_agent.pid());
    assert_eq!(first_worktree["isMainRepo"], false);
    let root = worktrees_root(&repo);
    let dirs_before = list_dir(&root);
    let list_before = worktree_list(&env, &repo);
    let branches_before = env.git(&repo, &["branch", "--list"]);
    assert_eq!(dirs_before.len(), 1);

    for (agent, first) in [
        (&main_agent, &first_main),
        (&worktree_agent, &first_worktree),
    ] {
        let again = env.register(&repo, agent.pid());
        assert_eq!(again["isNew"], false, "{again}");
        assert_eq!(again["sessionId"], first["sessionId"]);
        assert_eq!(again["worktreePath"], first["worktreePath"]);
        assert_eq!(again["worktreeName"], first["worktreeName"]);
        assert_eq!(again["isMainRepo"], first["isMainRepo"]);
        assert_eq!(again["branch"], first["branch"]);
        assert_eq!(again["repoPath"], first["repoPath"]);
        assert_eq!(again["parallelSessions"], 2);
    }

    assert_eq!(env.session_rows(), 2);
    assert_eq!(list_dir(&root), dirs_before);
    assert_eq!(worktree_list(&env, &repo), list_before);
    assert_eq!(env.git(&repo, &["branch", "--list"]), branches_before);
    assert_eq!(env.status()["totalSessions"], 2);
}

// -------------------------------------------------------------- front door

#[test]
fn register_through_the_front_door() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let first = LiveProcess::spawn();
    let second = LiveProcess::spawn();

    // git-pcc finds git-pcc-register on PATH.
    let (output, a) = env.json(
        env.pcc("git-pcc")
            .args(["register", "--repo"])
            .arg(&repo)
            .args(["--pid", &first.pid().to_string(), "--json"]),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(a["isNew"], true);
    assert_eq!(a["isMainRepo"], true);
    assert_eq!(a["repoPath"], repo.to_str().unwrap());

    // Real git finds git-pcc on PATH, which finds git-pcc-register.
    let (output, b) = env.json(env.command("git").current_dir(&repo).args([
        "pcc",
        "register",
        "--pid",
        &second.pid().to_string(),
        "--json",
    ]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(b["isNew"], true);
    assert_eq!(b["isMainRepo"], false);
    assert_eq!(b["repoPath"], repo.to_str().unwrap());
    assert_eq!(b["parallelSessions"], 2);
    let worktree = text(&b["worktreePath"]);
    assert_eq!(env.git(Path::new(worktree), &["status", "--porcelain"]), "");

    // The front door passes failures through unchanged.
    let output = env
        .command("git")
        .current_dir(&repo)
        .args(["pcc", "register", "--pid", "abc"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr:?}");

    let status = env.status();
    assert_eq!(status["totalSessions"], 2);
    let ids: BTreeSet<&str> = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| text(&s["sessionId"]))
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([text(&a["sessionId"]), text(&b["sessionId"])])
    );
}

/// `flock` holding a file's lock in a process group of its own, stopped
/// with SIGSTOP once it holds it, until dropped.
struct StoppedHolder {
    child: Child,
}

impl StoppedHolder {
    fn hold(lock_file: &Path) -> StoppedHolder {
        use std::os::unix::process::CommandExt;
        let child = Command::new("flock")
            .args(["-o", "-x"])
            .arg(lock_file)
            .args(["sleep", "60"])
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .expect("flock (util-linux) is needed");
        let held = || {
            !Command::new("flock")
                .args(["-n", "-x"])
                .arg(lock_file)
                .arg("true")
                .status()
                .unwrap()
                .success()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !held() {
            assert!(
                std::time::Instant::now() < deadline,
                "flock never took the lock"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        unsafe { libc::kill(child.id() as i32, libc::SIGSTOP) };
        StoppedHolder { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for StoppedHolder {
    fn drop(&mut self) {
        let group = -(self.child.id() as i32);
        unsafe {
            libc::kill(group, libc::SIGKILL);
            libc::kill(group, libc::SIGCONT);
        }
        let _ = self.child.wait();
    }
}

#[test]
fn a_register_behind_a_stopped_lock_holder_names_it_and_gives_up() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let main = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let set = env
        .pcc("git-pcc")
        .args(["config", "set", "session.lockTimeoutSeconds", "1"])
        .output()
        .unwrap();
    assert!(set.status.success());
    let locks = list_dir(&env.data_dir.join("locks"));
    let lock_file = locks
        .iter()
        .find(|name| name.starts_with("app-") && name.ends_with(".lock"))
        .map(|name| env.data_dir.join("locks").join(name))
        .expect("the repository's lock file");
    let holder = StoppedHolder::hold(&lock_file);

    let agent = LiveProcess::spawn();
    let output = env
        .pcc("git-pcc-register")
        .arg("--repo")
        .arg(&repo)
        .args(["--pid", &agent.pid().to_string()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "repository {} is locked by process {} (flock)",
            repo.display(),
            holder.pid()
        )) && stderr.contains(&format!("kill -CONT {}", holder.pid())),
        "{stderr}"
    );
    // The holder lives, so its lock was not taken from it: nothing changed.
    assert_eq!(env.session_rows(), 1);

    drop(holder);
    let registered = env.register(&repo, agent.pid());
    assert_eq!(registered["isMainRepo"], false);
}

// ---------------------------------------------------- names of earlier versions

#[test]
fn a_worktree_named_as_earlier_versions_named_them_is_released_and_cleaned() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let root = worktrees_root(&repo);
    let main = LiveProcess::spawn();
    env.register(&repo, main.pid());
    // Two worktree sessions, turned into what an earlier version made:
    // `parallel-<8 hex>` on branch `parallel/parallel-<8 hex>`.
    let mut agents = Vec::new();
    for _ in 0..2 {
        let agent = LiveProcess::spawn();
        let registration = env.register(&repo, agent.pid());
        let name = text(&registration["worktreeName"]).to_owned();
        assert!(is_worktree_name(&name), "{name}");
        assert_eq!(registration["branch"], format!("parallel/{name}"));
        let old_name = format!("parallel-{name}");
        let old_path = root.join(&old_name);
        let old_branch = format!("parallel/{old_name}");
        env.git(
            &repo,
            &[
                "worktree",
                "move",
                root.join(&name).to_str().unwrap(),
                old_path.to_str().unwrap(),
            ],
        );
        std::fs::rename(
            repo.join(".git/worktrees").join(&name),
            repo.join(".git/worktrees").join(&old_name),
        )
        .unwrap();
        std::fs::write(
            old_path.join(".git"),
            format!(
                "gitdir: {}\n",
                repo.join(".git/worktrees").join(&old_name).display()
            ),
        )
        .unwrap();
        env.git(
            &repo,
            &["branch", "-m", &format!("parallel/{name}"), &old_branch],
        );
        let stored = std::fs::canonicalize(&old_path).unwrap();
        env.db()
            .execute(
                "UPDATE sessions SET worktree_path = ?1, worktree_name = ?2, branch = ?3 WHERE id = ?4",
                [
                    stored.to_str().unwrap(),
                    old_name.as_str(),
                    old_branch.as_str(),
                    text(&registration["sessionId"]),
                ],
            )
            .unwrap();
        assert_eq!(
            env.git(&old_path, &["rev-parse", "--abbrev-ref", "HEAD"])
                .trim(),
            old_branch
        );
        agents.push((agent, old_path, old_branch));
    }

    // Released: worktree and branch go.
    let (agent, path, branch) = agents.remove(0);
    let (output, report) =
        env.json(
            env.pcc("git-pcc-release")
                .args(["--pid", &agent.pid().to_string(), "--json"]),
        );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["worktreeRemoved"], true, "{report}");
    assert_eq!(report["branchDeleted"], true, "{report}");
    assert!(!path.exists());
    assert_eq!(env.git(&repo, &["branch", "--list", &branch]), "");

    // Stale, then cleaned up: the same.
    let (mut agent, path, branch) = agents.remove(0);
    agent.kill();
    let (output, report) =
        env.json(
            env.pcc("git-pcc")
                .args(["cleanup", "--repo", repo.to_str().unwrap(), "--json"]),
        );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["removed"], 1, "{report}");
    assert!(!path.exists(), "{report}");
    assert_eq!(env.git(&repo, &["branch", "--list", &branch]), "");
}
