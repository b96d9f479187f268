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
    let prefix = support::find_by(&list["settings"], "key", "worktree.branchPrefix");
    assert_eq!(prefix["value"], "agents/");
    assert_eq!(prefix["isDefault"], false);
    let stale = support::find_by(&list["settings"], "key", "session.staleMinutes");
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
    std::fs::write(repo.join("src/.env"), "NESTED=1\n").unwrap();
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
        serde_json::json!([".env", "local", "src/.env"])
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
    let session = support::find_by(&status["sessions"], "isMainRepo", false);
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
    // Reading a setting is refused; listing shows the defaults with a
    // warning; both leave it alone.
    let out = env
        .pcc("git-pcc")
        .args(["config", "get", "session.staleMinutes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.json is not valid JSON"));
    let out = env
        .pcc("git-pcc")
        .args(["config", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("warning: ")
            && String::from_utf8_lossy(&out.stderr).contains("config.json is not valid JSON")
    );
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
            "config",
            "worktrees",
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
    let confinement = support::find_by(&report["checks"], "name", "sandbox confinement");
    let bwrap_works = std::process::Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--unshare-pid", "--die-with-parent", "--", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert_eq!(confinement["ok"], bwrap_works, "{confinement}");
    let hooks = support::find_by(&report["checks"], "name", "hooks");
    assert_eq!(hooks["ok"], false);
    env.pcc("git-pcc")
        .args(["install", "--hooks"])
        .output()
        .unwrap();
    let (_, report) = env.json(env.pcc("git-pcc").args(["doctor", "--json"]));
    let hooks = support::find_by(&report["checks"], "name", "hooks");
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

/// A `config.json` with values its settings cannot use next to valid ones
/// and keys of another version.
const MIXED_CONFIG: &str = r#"{
  "worktree": {"root": 5, "branchPrefix": "agents/"},
  "session": {"staleMinutes": "ten"},
  "sandbox": {"timeoutMinutes": 0, "agentCommand": ["true"], "fromTheFuture": {"x": 1}},
  "laterVersion": [1, 2]
}
"#;

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn warnings(output: &std::process::Output) -> Vec<String> {
    stderr_of(output)
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .map(str::to_owned)
        .collect()
}

/// The three warnings `MIXED_CONFIG` gives, in declaration order.
fn expected_warnings(env: &TestEnv) -> Vec<String> {
    let file = env.data_dir.join("config.json");
    let file = file.display();
    vec![
        format!("warning: session.staleMinutes in {file}: expected a whole number from 1 to 10080, found \"ten\"; using the default 10 (fix: git pcc config set session.staleMinutes 10)"),
        format!("warning: worktree.root in {file}: expected a text or null, found 5; using the default null (fix: git pcc config set worktree.root null)"),
        format!("warning: sandbox.timeoutMinutes in {file}: expected a whole number from 1 to 10080, found 0; using the default 60 (fix: git pcc config set sandbox.timeoutMinutes 60)"),
    ]
}

fn mixed_env() -> TestEnv {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.data_dir).unwrap();
    std::fs::write(env.data_dir.join("config.json"), MIXED_CONFIG).unwrap();
    env
}

#[test]
fn invalid_values_are_listed_as_stored_and_marked() {
    let env = mixed_env();
    let (out, list) = env.json(env.pcc("git-pcc").args(["config", "list", "--json"]));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let entry = |key: &str| {
        list["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap()
            .clone()
    };
    let root = entry("worktree.root");
    assert_eq!(root["value"], 5);
    assert_eq!(root["isDefault"], false);
    assert_eq!(root["invalid"], "expected a text or null, found 5");
    assert_eq!(root["defaultUsed"], serde_json::Value::Null);
    let stale = entry("session.staleMinutes");
    assert_eq!(stale["value"], "ten");
    assert_eq!(
        stale["invalid"],
        "expected a whole number from 1 to 10080, found \"ten\""
    );
    assert_eq!(stale["defaultUsed"], 10);
    assert_eq!(
        entry("sandbox.timeoutMinutes")["invalid"],
        "expected a whole number from 1 to 10080, found 0"
    );
    // Valid values next to them, and defaults, carry no mark.
    let prefix = entry("worktree.branchPrefix");
    assert_eq!(prefix["value"], "agents/");
    assert!(prefix.get("invalid").is_none(), "{prefix}");
    assert!(entry("sandbox.backend").get("invalid").is_none());

    let out = env
        .pcc("git-pcc")
        .args(["config", "list"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("worktree.root "))
        .unwrap();
    let cells: Vec<&str> = line.split("  ").filter(|c| !c.is_empty()).collect();
    assert_eq!(
        cells.iter().map(|c| c.trim()).collect::<Vec<_>>(),
        [
            "worktree.root",
            "5",
            "INVALID: expected a text or null, found 5; using the default (none)"
        ]
    );
    assert!(
        warnings(&out).is_empty(),
        "list shows them, it does not warn"
    );
    assert_eq!(
        std::fs::read_to_string(env.data_dir.join("config.json")).unwrap(),
        MIXED_CONFIG
    );
}

#[test]
fn getting_an_invalid_value_fails_with_the_fix() {
    let env = mixed_env();
    let out = env
        .pcc("git-pcc")
        .args(["config", "get", "worktree.root"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr_of(&out),
        format!(
            "error: worktree.root in {}: expected a text or null, found 5 (the default is used) (hint: fix it with 'git pcc config set worktree.root null')\n",
            env.data_dir.join("config.json").display()
        )
    );
    let (out, value) =
        env.json(
            env.pcc("git-pcc")
                .args(["config", "get", "session.staleMinutes", "--json"]),
        );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(value["success"], false);
    assert!(
        value["error"].as_str().unwrap().contains("found \"ten\""),
        "{value}"
    );
    // A valid key beside them reads as before.
    let out = env
        .pcc("git-pcc")
        .args(["config", "get", "worktree.branchPrefix"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "agents/\n");

    // The fix it names works, keeps the other keys, and the warning goes.
    let out = env
        .pcc("git-pcc")
        .args(["config", "set", "worktree.root", "null"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let out = env
        .pcc("git-pcc")
        .args(["config", "get", "worktree.root"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "(none)\n");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.data_dir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(stored["laterVersion"], serde_json::json!([1, 2]));
    assert_eq!(
        stored["sandbox"]["fromTheFuture"],
        serde_json::json!({"x": 1})
    );
    assert_eq!(
        stored["session"]["staleMinutes"], "ten",
        "left for its owner to fix"
    );
    let repo = env.repo("app");
    let agent = LiveProcess::spawn();
    let out = env
        .pcc("git-pcc-register")
        .arg("--repo")
        .arg(&repo)
        .args(["--pid", &agent.pid().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let expected = expected_warnings(&env);
    assert_eq!(warnings(&out), [expected[0].clone(), expected[2].clone()]);
}

#[test]
fn a_section_that_is_not_an_object_is_reported_once() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.data_dir).unwrap();
    std::fs::write(env.data_dir.join("config.json"), r#"{"budget": 3}"#).unwrap();
    let (_, list) = env.json(env.pcc("git-pcc").args(["config", "list", "--json"]));
    let limit = support::find_by(&list["settings"], "key", "budget.monthlyLimit").clone();
    assert_eq!(
        limit["invalid"],
        "budget: expected an object holding the budget settings, found 3"
    );
    assert_eq!(limit["isDefault"], true);
    let out = env
        .pcc("git-pcc")
        .args(["budget", "status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        warnings(&out),
        [format!(
            "warning: budget in {}: expected an object holding the budget settings, found 3; using the defaults of budget.* (fix: git pcc config set budget.monthlyLimit null)",
            env.data_dir.join("config.json").display()
        )]
    );
}

#[test]
fn commands_that_read_settings_warn_once_per_invalid_key_and_hooks_stay_silent() {
    let env = mixed_env();
    let repo = env.repo("app");
    let expected = expected_warnings(&env);

    // register: the defaults are used in place of the invalid values, the
    // valid prefix beside them still applies.
    let first = LiveProcess::spawn();
    let second = LiveProcess::spawn();
    let out = env
        .pcc("git-pcc-register")
        .arg("--repo")
        .arg(&repo)
        .args(["--pid", &first.pid().to_string(), "--shell"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(warnings(&out), expected);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("warning"));
    let (out, registration) = env.json(
        env.pcc("git-pcc")
            .arg("register")
            .arg("--repo")
            .arg(&repo)
            .args(["--pid", &second.pid().to_string(), "--json"]),
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(warnings(&out), expected);
    let name = registration["worktreeName"].as_str().unwrap();
    assert_eq!(registration["branch"], format!("agents/{name}"));
    assert_eq!(
        registration["worktreePath"],
        env.path()
            .join("app-worktrees")
            .join(name)
            .to_str()
            .unwrap()
    );

    // Hooks say nothing about it.
    let heartbeat = support::with_stdin(
        {
            let mut command = env.pcc("git-pcc");
            command.args(["heartbeat", "--hook"]).current_dir(&repo);
            command
        },
        b"{}",
    );
    assert!(heartbeat.status.success());
    assert!(heartbeat.stdout.is_empty() && heartbeat.stderr.is_empty());
    for (event, payload) in [
        (
            "session-start",
            serde_json::json!({"session_id": "s1", "cwd": repo, "hook_event_name": "SessionStart", "source": "startup"}),
        ),
        (
            "session-end",
            serde_json::json!({"session_id": "s1", "cwd": repo, "hook_event_name": "SessionEnd", "reason": "prompt_input_exit"}),
        ),
    ] {
        let mut command = env.pcc("git-pcc");
        command.args(["hook", event]).current_dir(&repo);
        let out = support::with_stdin(command, payload.to_string().as_bytes());
        assert!(out.status.success(), "{event}");
        assert_eq!(stderr_of(&out), "", "{event}");
    }

    // release warns, except with --quiet (the wrapper's exit path).
    let out = env
        .pcc("git-pcc-release")
        .args(["--session-id", registration["sessionId"].as_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(warnings(&out), expected);
    let out = env
        .pcc("git-pcc")
        .args(["release", "--pid", &first.pid().to_string(), "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(stderr_of(&out), "");

    for args in [
        vec!["cleanup", "--all"],
        vec!["cleanup", "--all", "--json"],
        vec!["budget", "status"],
    ] {
        let out = env.pcc("git-pcc").args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        assert_eq!(warnings(&out), expected, "{args:?}");
    }
    let out = env
        .pcc("git-pcc")
        .args(["sandbox", "run", "--prompt", "hello", "--dry-run", "--repo"])
        .arg(&repo)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(warnings(&out), expected);

    // doctor lists every invalid key as a warning, and stays healthy.
    let (out, report) = env.json(env.pcc("git-pcc").args(["doctor", "--json"]));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(report["healthy"], true);
    let check = support::find_by(&report["checks"], "name", "config").clone();
    assert_eq!(check["ok"], false);
    assert_eq!(check["essential"], false);
    assert_eq!(
        check["detail"],
        format!(
            "3 invalid values in {}: session.staleMinutes (expected a whole number from 1 to 10080, found \"ten\"), worktree.root (expected a text or null, found 5), sandbox.timeoutMinutes (expected a whole number from 1 to 10080, found 0); their defaults are used",
            env.data_dir.join("config.json").display()
        )
    );
    assert_eq!(
        check["hint"],
        "git pcc config set session.staleMinutes 10; git pcc config set worktree.root null; git pcc config set sandbox.timeoutMinutes 60"
    );
    let out = env.pcc("git-pcc").arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("warn") && l.contains("config") && l.contains("worktree.root")),
        "{text}"
    );

    // Nothing of this rewrote the file.
    assert_eq!(
        std::fs::read_to_string(env.data_dir.join("config.json")).unwrap(),
        MIXED_CONFIG
    );
}

#[test]
fn a_linked_config_json_stays_a_link() {
    let env = TestEnv::new();
    let dotfiles = env.home.join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    std::fs::create_dir_all(&env.data_dir).unwrap();
    std::fs::write(dotfiles.join("pcc.json"), "{\"laterVersion\": 1}\n").unwrap();
    let config = env.data_dir.join("config.json");
    std::os::unix::fs::symlink("../dotfiles/pcc.json", &config).unwrap();
    let out = env
        .pcc("git-pcc")
        .args(["config", "set", "session.staleMinutes", "30"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(std::fs::symlink_metadata(&config)
        .unwrap()
        .file_type()
        .is_symlink());
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dotfiles.join("pcc.json")).unwrap()).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({"laterVersion": 1, "session": {"staleMinutes": 30}})
    );
    assert_eq!(
        std::fs::read_to_string(dotfiles.join("pcc.json.bak")).unwrap(),
        "{\"laterVersion\": 1}\n"
    );
}

#[test]
fn keys_that_are_not_ours_are_kept_and_shown_as_kept_and_not_used() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.data_dir).unwrap();
    // As the TypeScript tool left it: its budget settings and a key of its own.
    std::fs::write(
        env.data_dir.join("config.json"),
        r#"{"budget": {"monthlyLimit": 50, "warningThresholds": [0.5, 0.9]}, "ui": {"color": false}}"#,
    )
    .unwrap();
    let set = env
        .pcc("git-pcc")
        .args([
            "config",
            "set",
            "budget.per-session-default",
            "2.5",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(set.status.code(), Some(0));
    let set: serde_json::Value = serde_json::from_slice(&set.stdout).unwrap();
    assert_eq!(set["success"], true);
    assert_eq!(set["key"], "budget.perSessionDefault");
    assert_eq!(set["value"], 2.5);

    let get = env
        .pcc("git-pcc")
        .args(["config", "get", "ui.color", "--json"])
        .output()
        .unwrap();
    assert_eq!(get.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&get.stdout).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"key": "ui.color", "value": false, "unknown": true})
    );
    let stderr = String::from_utf8_lossy(&get.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("warning: ui.color in ")
            && stderr.contains("not a setting of parallel-cc: it is kept as it is and not used"),
        "{stderr}"
    );
    let human = env
        .pcc("git-pcc")
        .args(["config", "get", "ui.color"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&human.stdout), "false\n");
    // A section of ours reads as the values in effect in it.
    let (_, budget) = env.json(
        env.pcc("git-pcc")
            .args(["config", "get", "budget", "--json"]),
    );
    assert_eq!(budget["value"]["monthlyLimit"], 50);
    assert_eq!(budget["value"]["perSessionDefault"], 2.5);
    assert_eq!(budget["value"]["e2bHourlyRate"], 0.1);
    // What is neither ours nor in the file stays an error.
    let missing = env
        .pcc("git-pcc")
        .args(["config", "get", "ui.theme"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));

    let (_, list) = env.json(env.pcc("git-pcc").args(["config", "list", "--json"]));
    // The settings as one object, as the TypeScript tool printed them...
    assert_eq!(list["ui"], serde_json::json!({"color": false}));
    assert_eq!(list["budget"]["monthlyLimit"], 50);
    assert_eq!(
        list["budget"]["warningThresholds"],
        serde_json::json!([0.5, 0.9])
    );
    assert_eq!(list["session"]["staleMinutes"], 10);
    assert!(list["budget"].get("monthlyLimit").is_some());
    assert!(
        list["worktree"].get("root").is_none(),
        "no default is left out as null"
    );
    // ... and our entries beside them, the unknown key marked.
    let entry = support::find_by(&list["settings"], "key", "ui.color").clone();
    assert_eq!(entry["value"], false);
    assert_eq!(entry["unknown"], true);
    let listed = env
        .pcc("git-pcc")
        .args(["config", "list"])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .find(|l| l.starts_with("ui.color "))
        .map(str::to_owned)
        .unwrap();
    assert!(line.ends_with("(not ours: kept, not used)"), "{line}");

    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.data_dir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(stored["ui"]["color"], false);
    assert_eq!(stored["budget"]["perSessionDefault"], 2.5);
}

#[test]
fn an_agent_command_line_is_split_into_words_when_it_is_set() {
    let env = TestEnv::new();
    let (out, value) = env.json(env.pcc("git-pcc").args([
        "config",
        "set",
        "sandbox.agentCommand",
        "claude -p {prompt} --append-system-prompt 'be brief, and careful' --verbose",
        "--json",
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let words = serde_json::json!([
        "claude",
        "-p",
        "{prompt}",
        "--append-system-prompt",
        "be brief, and careful",
        "--verbose"
    ]);
    assert_eq!(value["value"], words);
    let (_, got) =
        env.json(
            env.pcc("git-pcc")
                .args(["config", "get", "sandbox.agentCommand", "--json"]),
        );
    assert_eq!(got["value"], words);
    // The JSON form is taken as it is.
    let (out, value) = env.json(env.pcc("git-pcc").args([
        "config",
        "set",
        "sandbox.agentCommand",
        r#"["my agent", "-p", "{prompt}"]"#,
        "--json",
    ]));
    assert!(out.status.success());
    assert_eq!(
        value["value"],
        serde_json::json!(["my agent", "-p", "{prompt}"])
    );
    // What a shell would expand or an unclosed quote is refused, with the
    // JSON form as the way out, and nothing is stored.
    for line in ["claude -p $PROMPT", "claude 'open", "claude | tee log"] {
        let out = env
            .pcc("git-pcc")
            .args(["config", "set", "sandbox.agentCommand", line])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{line}");
        let error = String::from_utf8_lossy(&out.stderr);
        assert_eq!(error.lines().count(), 1, "{error}");
        assert!(error.contains("invalid value"), "{error}");
        assert!(
            error.contains(
                "give the words as a JSON list, e.g. git pcc config set sandbox.agentCommand"
            ),
            "{error}"
        );
    }
    let (_, got) =
        env.json(
            env.pcc("git-pcc")
                .args(["config", "get", "sandbox.agentCommand", "--json"]),
        );
    assert_eq!(
        got["value"],
        serde_json::json!(["my agent", "-p", "{prompt}"])
    );
}

#[test]
fn config_list_shows_each_default_and_fits_the_width() {
    let env = TestEnv::new();
    let out = env
        .pcc("git-pcc")
        .args(["config", "set", "worktree.setup", "npm ci"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = env
        .pcc("git-pcc")
        .args(["config", "list"])
        .env("COLUMNS", "72")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in text.lines() {
        assert!(line.chars().count() <= 72, "too wide: {line:?}");
    }
    let starting = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("{key} missing: {text}"))
            .to_owned()
    };
    assert!(starting("session.staleMinutes").ends_with("10  (default)"));
    assert!(
        starting("worktree.setup").ends_with(r#"["npm ci"]  (default: [])"#),
        "{text}"
    );
    // The long default breaks into lines under the value column.
    let agent = starting("sandbox.agentCommand");
    let column = agent.find('[').unwrap();
    let index = text.lines().position(|l| l == agent).unwrap();
    let next = text.lines().nth(index + 1).unwrap();
    assert!(next.starts_with(&" ".repeat(column)), "{text}");
    assert!(!next[column..].starts_with(' '), "{text}");
    // Piped without COLUMNS, each entry stays on one line.
    let out = env
        .pcc("git-pcc")
        .args(["config", "list"])
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    let piped = String::from_utf8_lossy(&out.stdout);
    assert!(piped.lines().all(|l| !l.starts_with(' ')), "{piped}");
}
