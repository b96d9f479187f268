//! Bad input beyond register's (tests/register.rs): a junk database refused
//! by every command that opens it, and an unknown front-door command.

mod support;

use std::process::Output;

use support::{LiveProcess, TestEnv};

fn assert_one_error_line(output: &Output, expected: &str) {
    assert!(!output.status.success(), "should fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_junk_database_is_refused_by_every_command() {
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
fn an_unknown_front_door_command() {
    let env = TestEnv::new();
    let output = env.pcc("git-pcc").arg("frobnicate").output().unwrap();
    assert_one_error_line(&output, "'frobnicate' is not a git pcc command");
}
