//! One repository, however it is named: through a symlink, with a trailing
//! slash, from a subdirectory, or from one of its worktrees.

mod support;

use support::{LiveProcess, TestEnv};

#[test]
fn every_name_of_a_repository_is_one_repository() {
    let env = TestEnv::new();
    let repo = env.repo_with("app", &[("src/deep/mod.rs", "// code\n")]);
    let link = env.path().join("link-to-app");
    std::os::unix::fs::symlink(&repo, &link).unwrap();
    let agents: Vec<LiveProcess> = (0..5).map(|_| LiveProcess::spawn()).collect();

    let a = env.register(&repo, agents[0].pid());
    let b = env.register(&link, agents[1].pid());
    let c = env.register(
        std::path::Path::new(&format!("{}/", repo.display())),
        agents[2].pid(),
    );
    let d = env.register(&repo.join("src/deep"), agents[3].pid());
    let inside_b = std::path::PathBuf::from(b["worktreePath"].as_str().unwrap()).join("src");
    let e = env.register(&inside_b, agents[4].pid());

    let all = [&a, &b, &c, &d, &e];
    assert_eq!(all.iter().filter(|r| r["isMainRepo"] == true).count(), 1);
    assert_eq!(a["isMainRepo"], true);
    for registration in all {
        assert_eq!(registration["repoPath"], repo.to_str().unwrap());
    }
    assert_eq!(e["parallelSessions"], 5);

    let (output, status) = env.json(
        env.pcc("git-pcc")
            .args(["status", "--json", "--repo"])
            .arg(&link),
    );
    assert!(output.status.success());
    assert_eq!(status["totalSessions"], 5);
}

#[test]
fn the_front_door_dispatches_to_subcommand_binaries() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let agent = LiveProcess::spawn();
    // `git pcc register` through real git: git finds git-pcc on PATH, which
    // finds git-pcc-register on PATH.
    let (output, value) = env.json(env.command("git").current_dir(&repo).args([
        "pcc",
        "register",
        "--repo",
        ".",
        "--pid",
        &agent.pid().to_string(),
        "--json",
    ]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(value["isMainRepo"], true);
    let (output, value) = env.json(env.command("git").args([
        "pcc",
        "release",
        "--pid",
        &agent.pid().to_string(),
        "--json",
    ]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(value["success"], true);
    assert_eq!(value["pid"], agent.pid());
    assert_eq!(env.session_rows(), 0);
}
