mod support;

use support::{LiveProcess, TestEnv};

#[test]
fn set_get_and_list_round_trip_through_config_json() {
    let env = TestEnv::new();
    let set = env
        .pcc("git-pcc")
        .args(["config", "set", "worktree.branchPrefix", "agents/"])
        .output()
        .unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let get = env
        .pcc("git-pcc")
        .args(["config", "get", "worktree.branchPrefix"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&get.stdout), "agents/\n");

    let (_, list) = env.json(env.pcc("git-pcc").args(["config", "list", "--json"]));
    let settings = list["settings"].as_array().unwrap();
    let prefix = settings
        .iter()
        .find(|s| s["key"] == "worktree.branchPrefix")
        .unwrap();
    assert_eq!(prefix["value"], "agents/");
    assert_eq!(prefix["isDefault"], false);
    let stale = settings
        .iter()
        .find(|s| s["key"] == "session.staleMinutes")
        .unwrap();
    assert_eq!(stale["value"], 10);
    assert_eq!(stale["isDefault"], true);

    let text = std::fs::read_to_string(env.data_dir.join("config.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["worktree"]["branchPrefix"], "agents/");

    env.pcc("git-pcc")
        .args([
            "config",
            "set",
            "worktree.copy",
            "[\".env\",\"secrets/*.key\"]",
        ])
        .output()
        .unwrap();
    let (_, copy) = env.json(
        env.pcc("git-pcc")
            .args(["config", "get", "worktree.copy", "--json"]),
    );
    assert_eq!(copy["value"], serde_json::json!([".env", "secrets/*.key"]));
}

#[test]
fn configured_prefix_and_root_shape_new_worktrees() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let root = env.path().join("elsewhere");
    for (key, value) in [
        ("worktree.branchPrefix", "agents/"),
        ("worktree.root", root.to_str().unwrap()),
    ] {
        let out = env
            .pcc("git-pcc")
            .args(["config", "set", key, value])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let first = LiveProcess::spawn();
    let second = LiveProcess::spawn();
    env.register(&repo, first.pid());
    let registration = env.register(&repo, second.pid());
    let name = registration["worktreeName"].as_str().unwrap();
    assert_eq!(registration["branch"], format!("agents/{name}"));
    assert_eq!(
        registration["worktreePath"],
        root.join(name).to_str().unwrap()
    );
    let branches = env.git(
        &repo,
        &["branch", "--list", "agents/*", "--format=%(refname:short)"],
    );
    assert_eq!(branches.trim(), format!("agents/{name}"));
}

#[test]
fn include_patterns_copy_ignored_files_and_setup_runs() {
    let env = TestEnv::new();
    let repo = env.repo_with(
        "app",
        &[
            (".gitignore", ".env\nlocal/\n*.log\n"),
            (".worktreeinclude", "local/\n"),
            ("src/main.rs", "fn main() {}\n"),
        ],
    );
    std::fs::write(repo.join(".env"), "TOKEN=abc\n").unwrap();
    std::fs::create_dir_all(repo.join("local")).unwrap();
    std::fs::write(repo.join("local/settings.json"), "{}\n").unwrap();
    std::fs::write(repo.join("debug.log"), "not copied\n").unwrap();
    let setup = env
        .pcc("git-pcc")
        .args([
            "config",
            "set",
            "worktree.setup",
            "[\"echo ready > setup-ran.txt\", \"exit 3\"]",
        ])
        .output()
        .unwrap();
    assert!(setup.status.success());
    std::fs::write(
        repo.join(".gitignore"),
        ".env\nlocal/\n*.log\nsetup-ran.txt\n",
    )
    .unwrap();
    env.git(&repo, &["commit", "-qam", "ignore setup output"]);

    let first = LiveProcess::spawn();
    let second = LiveProcess::spawn();
    env.register(&repo, first.pid());
    let registration = env.register(&repo, second.pid());
    let worktree = std::path::PathBuf::from(registration["worktreePath"].as_str().unwrap());
    assert_eq!(
        registration["copiedFiles"],
        serde_json::json!([".env", "local"])
    );
    assert_eq!(
        std::fs::read_to_string(worktree.join(".env")).unwrap(),
        "TOKEN=abc\n"
    );
    assert_eq!(
        std::fs::read_to_string(worktree.join("local/settings.json")).unwrap(),
        "{}\n"
    );
    assert!(!worktree.join("debug.log").exists());
    assert_eq!(
        std::fs::read_to_string(worktree.join("setup-ran.txt")).unwrap(),
        "ready\n"
    );
    assert_eq!(
        registration["setupFailures"],
        serde_json::json!([{"command": "exit 3", "exitCode": 3}])
    );
    // Copied and generated files are ignored, so the worktree holds no work.
    let status = env.status();
    let session = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["isMainRepo"] == false)
        .unwrap();
    assert_eq!(session["holdsWork"], false);
}

#[test]
fn unknown_keys_and_wrong_types_are_refused() {
    let env = TestEnv::new();
    for args in [
        vec!["config", "set", "worktree.nope", "x"],
        vec!["config", "get", "nope"],
        vec!["config", "set", "session.staleMinutes", "soon"],
        vec!["config", "set", "session.staleMinutes", "0"],
        vec!["config", "set", "worktree.copy", "[1, 2]"],
    ] {
        let out = env.pcc("git-pcc").args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
    }
    assert!(!env.data_dir.join("config.json").exists());
}

#[test]
fn broken_config_is_backed_up_and_reported() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.data_dir).unwrap();
    std::fs::write(env.data_dir.join("config.json"), "{ not json").unwrap();
    // Reading commands refuse it and leave it alone.
    let out = env
        .pcc("git-pcc")
        .args(["config", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.json is not valid JSON"));
    assert_eq!(
        std::fs::read_to_string(env.data_dir.join("config.json")).unwrap(),
        "{ not json"
    );
    // A bad key does not touch it either.
    let out = env
        .pcc("git-pcc")
        .args(["config", "set", "no.such", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(env.data_dir.join("config.json")).unwrap(),
        "{ not json"
    );
    // Setting a key keeps the broken file as a backup, says so, and starts anew.
    let (out, value) =
        env.json(
            env.pcc("git-pcc")
                .args(["config", "set", "session.staleMinutes", "5", "--json"]),
        );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("warning: config.json was not valid JSON; kept it as "),
        "{stderr}"
    );
    let backup = std::path::PathBuf::from(value["brokenConfigBackup"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "{ not json");
    let fresh: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.data_dir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(fresh, serde_json::json!({"session": {"staleMinutes": 5}}));
}

#[test]
fn doctor_reports_health_and_breakage() {
    let env = TestEnv::new();
    let (out, report) = env.json(env.pcc("git-pcc").args(["doctor", "--json"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["healthy"], true);
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "git",
            "data directory",
            "database",
            "git-pcc",
            "git-pcc-register",
            "git-pcc-release",
            "git-pcc-watch",
            "git-pcc-sandbox",
            "pcc-mcp",
            "wrapper",
            "git pcc",
            "hooks",
            "mcp server",
            "alias",
            "claude",
            "sandbox confinement"
        ]
    );
    // Confinement is reported as bwrap exactly when bwrap works here.
    let confinement = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sandbox confinement")
        .unwrap();
    let bwrap_works = std::process::Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--unshare-pid", "--die-with-parent", "--", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert_eq!(confinement["ok"], bwrap_works, "{confinement}");
    let hooks = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "hooks")
        .unwrap();
    assert_eq!(hooks["ok"], false);
    env.pcc("git-pcc")
        .args(["install", "--hooks"])
        .output()
        .unwrap();
    let (_, report) = env.json(env.pcc("git-pcc").args(["doctor", "--json"]));
    let hooks = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "hooks")
        .unwrap();
    assert_eq!(hooks["ok"], true, "{hooks}");

    let broken = TestEnv::new();
    std::fs::create_dir_all(&broken.data_dir).unwrap();
    std::fs::write(
        broken.data_dir.join("coordinator.db"),
        "garbage, not sqlite",
    )
    .unwrap();
    let (out, report) = broken.json(broken.pcc("git-pcc").args(["doctor", "--json"]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["healthy"], false);
    assert_eq!(
        std::fs::read(broken.data_dir.join("coordinator.db")).unwrap(),
        b"garbage, not sqlite"
    );
}
