//! Bad input: one `error:` line on stderr, a non-zero exit, no session row,
//! nothing on disk changed.

mod support;

use std::path::Path;
use std::process::Output;

use support::{snapshot, LiveProcess, TestEnv};

fn assert_one_error_line(output: &Output, expected: &str) {
    assert!(!output.status.success(), "should fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn register(env: &TestEnv, repo: &Path, pid: &str) -> Output {
    env.pcc("git-pcc-register")
        .arg("--repo")
        .arg(repo)
        .args(["--pid", pid])
        .output()
        .unwrap()
}

#[test]
fn a_path_outside_any_repository() {
    let env = TestEnv::new();
    let plain = env.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let agent = LiveProcess::spawn();
    let output = register(&env, &plain, &agent.pid().to_string());
    assert_one_error_line(&output, "not a git repository");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        !env.data_dir.exists(),
        "nothing is created for a refused register"
    );
    assert_eq!(snapshot(&plain), vec![]);
}

#[test]
fn a_path_that_does_not_exist() {
    let env = TestEnv::new();
    let agent = LiveProcess::spawn();
    let output = register(&env, &env.path().join("missing"), &agent.pid().to_string());
    assert_one_error_line(&output, "path does not exist");
    assert!(!env.path().join("missing").exists());
    assert!(!env.data_dir.exists());
}

#[test]
fn a_pid_that_is_not_a_number() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let output = register(&env, &repo, "abc");
    assert_one_error_line(&output, "--pid");
    assert_eq!(output.status.code(), Some(2));
    assert!(!env.data_dir.exists());
}

#[test]
fn a_pid_that_is_not_running() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let mut gone = LiveProcess::spawn();
    let pid = gone.pid();
    gone.kill();
    let before = snapshot(&repo);
    let output = register(&env, &repo, &pid.to_string());
    assert_one_error_line(&output, &format!("process {pid} is not running"));
    assert_eq!(snapshot(&repo), before);
    assert!(!env.data_dir.exists());
    assert!(!env.path().join("app-worktrees").exists());
}

#[test]
fn a_data_dir_that_is_a_file() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    std::fs::write(&env.data_dir, "I am a file\n").unwrap();
    let agent = LiveProcess::spawn();
    let output = register(&env, &repo, &agent.pid().to_string());
    assert_one_error_line(&output, "is not a directory");
    assert_eq!(
        std::fs::read_to_string(&env.data_dir).unwrap(),
        "I am a file\n"
    );
}

#[test]
fn a_database_that_is_not_a_database() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    std::fs::create_dir_all(&env.data_dir).unwrap();
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(env.data_dir.join("coordinator.db"), &junk).unwrap();
    let agent = LiveProcess::spawn();
    for command in [
        vec![
            "git-pcc-register",
            "--repo",
            repo.to_str().unwrap(),
            "--pid",
            &agent.pid().to_string(),
        ],
        vec!["git-pcc", "status"],
        vec!["git-pcc", "update"],
    ] {
        let output = env.pcc(command[0]).args(&command[1..]).output().unwrap();
        assert_one_error_line(&output, "is not a SQLite database (left untouched)");
    }
    assert_eq!(
        std::fs::read(env.data_dir.join("coordinator.db")).unwrap(),
        junk
    );
    let mut names = support::list_dir(&env.data_dir);
    names.retain(|n| !n.ends_with(".lock") && n != "locks");
    assert_eq!(names, ["coordinator.db"]);
    assert!(!env.path().join("app-worktrees").exists());
}

#[test]
fn a_bare_repository() {
    let env = TestEnv::new();
    let bare = env.path().join("bare.git");
    std::fs::create_dir_all(&bare).unwrap();
    env.git(&bare, &["init", "-q", "--bare"]);
    let before = snapshot(&bare);
    let agent = LiveProcess::spawn();
    let output = register(&env, &bare, &agent.pid().to_string());
    assert_one_error_line(&output, "is a bare repository");
    assert_eq!(snapshot(&bare), before);
    assert!(!env.data_dir.exists());
}

#[test]
fn json_errors_go_to_stdout_too() {
    let env = TestEnv::new();
    let agent = LiveProcess::spawn();
    let (output, value) = env.json(
        env.pcc("git-pcc-register")
            .arg("--repo")
            .arg(env.path().join("missing"))
            .args(["--pid", &agent.pid().to_string(), "--json"]),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(value["success"], false);
    assert!(value["error"]
        .as_str()
        .unwrap()
        .starts_with("path does not exist"));
    let (output, value) = env.json(env.pcc("git-pcc-register").args(["--pid", "abc", "--json"]));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(value["success"], false);
}

#[test]
fn an_unknown_front_door_command() {
    let env = TestEnv::new();
    let output = env.pcc("git-pcc").arg("frobnicate").output().unwrap();
    assert_one_error_line(&output, "'frobnicate' is not a git pcc command");
}
