//! Every hint names something that works in the situation it is given in:
//! a broken config.json, an invalid Claude Code settings file, a path
//! outside any repository, a PARALLEL_CC_CLAUDE that names nothing. The
//! commands a hint names are run to show that they do.

mod support;

use std::path::PathBuf;
use std::process::Output;

use support::wrapper;
use support::{LiveProcess, TestEnv};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A stand-in `claude` that prints its arguments, in `<root>/stand-in`.
fn stand_in(env: &TestEnv) -> PathBuf {
    let dir = env.path().join("stand-in");
    std::fs::create_dir_all(&dir).unwrap();
    let claude = dir.join("claude");
    std::fs::write(&claude, "#!/bin/sh\necho \"stand-in claude $*\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn a_broken_config_file_names_commands_that_work_while_it_is_broken() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    std::fs::create_dir_all(&env.data_dir).unwrap();
    std::fs::write(env.data_dir.join("config.json"), "{ not json").unwrap();
    let agent = LiveProcess::spawn();
    let output = env
        .pcc("git-pcc-register")
        .arg("--repo")
        .arg(&repo)
        .args(["--pid", &agent.pid().to_string()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(error.contains("config.json is not valid JSON"), "{error}");
    assert!(
        error.contains("'git pcc config set KEY VALUE' keeps it as config.json.broken-"),
        "{error}"
    );
    assert!(
        error.contains("'git pcc config list' shows the keys"),
        "{error}"
    );

    // config list works: the keys, their defaults, and what is wrong.
    let output = env
        .pcc("git-pcc")
        .args(["config", "list"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("warning: "),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("not valid JSON"));
    assert!(
        stdout(&output).contains("session.staleMinutes"),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("(default)"), "{}", stdout(&output));
    assert_eq!(
        std::fs::read_to_string(env.data_dir.join("config.json")).unwrap(),
        "{ not json",
        "listing leaves the file alone"
    );

    // Without a terminal the wrapper says it runs claude uncoordinated.
    let stand_in = stand_in(&env);
    let output = env
        .command("bash")
        .arg(wrapper())
        .current_dir(&repo)
        .env("PATH", format!("{}:{}", stand_in.display(), env.path_var()))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("running claude without coordination"));
    assert!(stdout(&output).contains("stand-in claude"));

    // The hint's repair works, and then so does registering.
    let output = env
        .pcc("git-pcc")
        .args(["config", "set", "session.staleMinutes", "10"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    env.register(&repo, agent.pid());
}

#[test]
fn doctor_says_where_a_settings_file_is_invalid() {
    let env = TestEnv::new();
    let settings = env.home.join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, "{\n  \"model\": \"opus\",\n}\n").unwrap();
    std::fs::write(env.home.join(".claude.json"), "[1, 2").unwrap();
    let (output, report) = env.json(env.pcc("git-pcc").args(["doctor", "--json"]));
    assert!(output.status.code().is_some(), "{}", stderr(&output));
    let check = |name: &str| support::find_by(&report["checks"], "name", name).clone();
    let hooks = check("hooks");
    assert_eq!(hooks["ok"], false);
    let detail = hooks["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("{} is not valid JSON", settings.display())),
        "{detail}"
    );
    assert!(detail.contains("line 3 column 1"), "{detail}");
    assert!(
        !detail.contains("no Claude Code hooks installed"),
        "{detail}"
    );
    assert!(hooks["hint"]
        .as_str()
        .unwrap()
        .starts_with("fix the file by hand"));
    let mcp = check("mcp server");
    assert_eq!(mcp["ok"], false);
    assert!(
        mcp["detail"]
            .as_str()
            .unwrap()
            .contains(".claude.json is not valid JSON"),
        "{mcp}"
    );
}

#[test]
fn a_path_outside_any_repository_gets_a_hint_for_how_it_was_given() {
    let env = TestEnv::new();
    let outside = env.path().join("plain-dir");
    std::fs::create_dir_all(&outside).unwrap();
    let agent = LiveProcess::spawn();
    let output = env
        .pcc("git-pcc-register")
        .arg("--repo")
        .arg(&outside)
        .args(["--pid", &agent.pid().to_string()])
        .output()
        .unwrap();
    let error = stderr(&output);
    assert!(error.contains("not a git repository"), "{error}");
    assert!(
        error.contains("--repo must name a path inside a git checkout"),
        "{error}"
    );
    assert!(!error.contains("pass --repo"), "{error}");

    let output = env
        .pcc("git-pcc-register")
        .current_dir(&outside)
        .args(["--pid", &agent.pid().to_string()])
        .output()
        .unwrap();
    let error = stderr(&output);
    assert!(
        error.contains("run it inside a git checkout, or pass --repo PATH"),
        "{error}"
    );

    // The wrapper has no --repo: it says what to do instead.
    let stand_in = stand_in(&env);
    let output = env
        .command("bash")
        .arg(wrapper())
        .current_dir(&outside)
        .env("PATH", format!("{}:{}", stand_in.display(), env.path_var()))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let warning = stderr(&output);
    assert_eq!(warning.lines().count(), 1, "{warning}");
    assert!(warning.contains("is not in a git repository"), "{warning}");
    assert!(
        warning.contains("start it inside a repository"),
        "{warning}"
    );
    assert!(!warning.contains("--repo"), "{warning}");
    assert!(stdout(&output).contains("stand-in claude"));
}

#[test]
fn a_parallel_cc_claude_that_names_nothing_says_so() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let missing = env.path().join("no-such-claude");
    let output = env
        .command("bash")
        .arg(wrapper())
        .current_dir(&repo)
        .env("PARALLEL_CC_CLAUDE", &missing)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(127));
    let error = stderr(&output);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(
        error.contains(&format!(
            "PARALLEL_CC_CLAUDE names {}, which does not exist",
            missing.display()
        )),
        "{error}"
    );
    assert!(
        error.contains("unset it to use claude from PATH"),
        "{error}"
    );
    assert_eq!(env.session_rows(), 0, "nothing was registered");

    // A directory is not a program either.
    let output = env
        .command("bash")
        .arg(wrapper())
        .current_dir(&repo)
        .env("PARALLEL_CC_CLAUDE", env.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(127));
    assert!(stderr(&output).contains("which is not an executable file"));
}
