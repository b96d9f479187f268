//! `git pcc statusline` fed the JSON Claude Code gives a `statusLine`
//! command, in temporary repositories with live sessions: where the
//! session works, the others by state (set by the real hook commands),
//! predicted conflicts, claims and a merge notice; silence on bad input;
//! and `git pcc install --statusline` beside a status line of the user's
//! own.

mod support;

use std::path::Path;

use serde_json::{json, Value};
use support::{Sessions, TestEnv};

/// The JSON Claude Code passes to a status line command working in `dir`.
fn input(dir: &Path) -> Value {
    json!({
        "hook_event_name": "Status",
        "session_id": "claude-session",
        "transcript_path": "/tmp/transcript.jsonl",
        "cwd": dir,
        "model": {"id": "claude-opus-4-1", "display_name": "Opus"},
        "workspace": {"current_dir": dir, "project_dir": dir},
        "version": "2.1.332",
        "output_style": {"name": "default"},
        "cost": {"total_cost_usd": 0.01, "total_duration_ms": 1000}
    })
}

/// Runs `git pcc statusline` as Claude Code does, from `dir`; returns
/// stdout, asserting exit 0 and nothing on stderr.
fn statusline(env: &TestEnv, dir: &Path, session_env: Option<&str>) -> String {
    let mut command = env.pcc("git-pcc");
    command.arg("statusline").current_dir(dir);
    if let Some(id) = session_env {
        command.env("PARALLEL_CC_SESSION_ID", id);
    }
    let output = support::with_stdin(command, input(dir).to_string().as_bytes());
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    String::from_utf8(output.stdout).unwrap()
}

/// Fires one state hook as the installed hook runs it.
fn hook(env: &TestEnv, event: &str, args: &[&str], cwd: &Path, fields: Value) {
    let mut payload = json!({"hook_event_name": event, "session_id": "claude-session", "cwd": cwd});
    for (key, value) in fields.as_object().unwrap() {
        payload[key] = value.clone();
    }
    let mut command = env.pcc("git-pcc");
    command.args(args).current_dir(cwd);
    let output = support::with_stdin(command, payload.to_string().as_bytes());
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
}

fn sessions() -> Sessions {
    support::main_and_worktree(
        "app",
        &[("README.md", "app\n"), ("src/lib.rs", "fn a() {}\n")],
    )
}

#[test]
fn the_line_shows_where_the_session_works_and_the_others_by_state() {
    let s = sessions();
    let env = &s.env;
    let worktree_place = format!("worktree {} on {}", s.name, s.branch);
    assert_eq!(
        statusline(env, &s.worktree, None),
        format!("{worktree_place} · 1 other: 1 new\n")
    );
    hook(
        env,
        "PermissionRequest",
        &["hook", "permission-request"],
        &s.repo,
        json!({"tool_name": "Bash", "tool_input": {"command": "ls"}}),
    );
    assert_eq!(
        statusline(env, &s.worktree, None),
        format!("{worktree_place} · 1 other: 1 waiting\n")
    );
    assert_eq!(
        statusline(env, &s.repo, None),
        "main checkout on main · 1 other: 1 new\n"
    );
    // The session named by the environment wins over the directory.
    assert_eq!(
        statusline(env, &s.repo, Some(&s.agent_id)),
        format!("{worktree_place} · 1 other: 1 waiting\n")
    );
    // A third session, working; the waiting one comes first.
    let third = support::LiveProcess::spawn();
    let registered = env.register(&s.repo, third.pid());
    let third_dir = registered["worktreePath"].as_str().unwrap().to_owned();
    hook(
        env,
        "UserPromptSubmit",
        &["hook", "user-prompt-submit"],
        Path::new(&third_dir),
        json!({"prompt": "go"}),
    );
    assert_eq!(
        statusline(env, &s.worktree, None),
        format!("{worktree_place} · 2 others: 1 waiting, 1 working\n")
    );
    // A session whose processes are gone is not counted.
    drop(third);
    assert_eq!(
        statusline(env, &s.worktree, None),
        format!("{worktree_place} · 1 other: 1 waiting\n")
    );
}

#[test]
fn the_line_names_predicted_conflicts_and_claims() {
    let s = sessions();
    let env = &s.env;
    std::fs::write(s.worktree.join("src/lib.rs"), "fn a() { ours() }\n").unwrap();
    env.git(&s.worktree, &["commit", "-qam", "ours"]);
    std::fs::write(s.repo.join("src/lib.rs"), "fn a() { theirs() }\n").unwrap();
    let place = format!("worktree {} on {}", s.name, s.branch);
    // Not predicted yet: the line merges nothing itself.
    assert_eq!(
        statusline(env, &s.worktree, None),
        format!("{place} · 1 other: 1 new\n")
    );
    let output = env
        .pcc("git-pcc")
        .args(["conflicts", "--predict", "--json"])
        .current_dir(&s.repo)
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        statusline(env, &s.worktree, None),
        format!(
            "{place} · 1 other: 1 new · ⚠ 1 conflict: src/lib.rs with {}…\n",
            &s.main_id[..4]
        )
    );
    assert_eq!(
        statusline(env, &s.repo, None),
        format!(
            "main checkout on main · 1 other: 1 new · ⚠ 1 conflict: src/lib.rs with {}…\n",
            &s.agent_id[..4]
        )
    );
    let claimed = support::mcp_call(
        env,
        &s.agent_id,
        "claim_file",
        json!({"filePath": "README.md", "mode": "EXCLUSIVE"}),
    );
    assert_ne!(claimed["isError"], true, "{claimed}");
    assert_eq!(
        statusline(env, &s.worktree, None),
        format!(
            "{place} · 1 other: 1 new · ⚠ 1 conflict: src/lib.rs with {}… · 1 claim\n",
            &s.main_id[..4]
        )
    );
    // The conflict resolved and predicted again: gone from the line.
    std::fs::write(s.repo.join("src/lib.rs"), "fn a() {}\n").unwrap();
    let output = env
        .pcc("git-pcc")
        .args(["conflicts", "--predict", "--json"])
        .current_dir(&s.repo)
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        statusline(env, &s.worktree, None),
        format!("{place} · 1 other: 1 new · 1 claim\n")
    );
}

#[test]
fn the_line_shows_a_merge_notice_until_the_agent_is_given_it() {
    let s = sessions();
    let env = &s.env;
    std::fs::write(s.worktree.join("feature.txt"), "one\n").unwrap();
    env.git(&s.worktree, &["add", "feature.txt"]);
    env.git(&s.worktree, &["commit", "-qm", "feature"]);
    env.git(
        &s.repo,
        &["merge", "-q", "--no-ff", "-m", "merge feature", &s.branch],
    );
    let output = env
        .pcc("git-pcc-watch")
        .args(["merges", "--once", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let place = format!("worktree {} on {}", s.name, s.branch);
    assert_eq!(
        statusline(env, &s.worktree, None),
        format!(
            "{place} · 1 other: 1 new · ⤵ {} merged into main: rebase\n",
            s.branch
        )
    );
    // The next tool call's hook hands the notice to the agent.
    let mut command = env.pcc("git-pcc");
    command
        .args(["heartbeat", "--hook"])
        .current_dir(&s.worktree);
    let payload = json!({"hook_event_name": "PostToolUse", "tool_name": "Bash", "cwd": s.worktree});
    let output = support::with_stdin(command, payload.to_string().as_bytes());
    assert!(String::from_utf8_lossy(&output.stdout).contains("was merged into main"));
    assert_eq!(
        statusline(env, &s.worktree, None),
        format!("{place} · 1 other: 1 new\n")
    );
}

#[test]
fn the_line_is_silent_without_a_session_and_on_bad_input() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    // No database yet.
    assert_eq!(statusline(&env, &repo, None), "");
    let process = support::LiveProcess::spawn();
    env.register(&repo, process.pid());
    // A directory no session works in.
    assert_eq!(statusline(&env, &env.path(), None), "");
    for bytes in [&b""[..], b"not json", b"[1,2]", b"{\"workspace\": 5}"] {
        let mut command = env.pcc("git-pcc");
        command.arg("statusline").current_dir(&repo);
        let output = support::with_stdin(command, bytes);
        assert_eq!(output.status.code(), Some(0));
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "main checkout on main\n",
            "{bytes:?}: the working directory names the session"
        );
    }
    // A database that cannot be read: nothing on stdout, one line on
    // stderr, exit 0.
    std::fs::write(env.data_dir.join("coordinator.db"), b"not a database").unwrap();
    let mut command = env.pcc("git-pcc");
    command.arg("statusline").current_dir(&repo);
    let output = support::with_stdin(command, input(&repo).to_string().as_bytes());
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("parallel-cc statusline: "), "{stderr}");
}

fn settings_path(env: &TestEnv) -> std::path::PathBuf {
    env.home.join(".claude/settings.json")
}

fn install(env: &TestEnv, args: &[&str]) -> (std::process::Output, Value) {
    env.json(env.pcc("git-pcc").arg("install").args(args))
}

#[test]
fn install_sets_the_status_line_once_and_uninstall_takes_only_ours() {
    let env = TestEnv::new();
    let path = settings_path(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let theirs = json!({"model": "opus", "env": {"FOO": "bar"}});
    std::fs::write(&path, theirs.to_string()).unwrap();
    let (output, report) = install(&env, &["--statusline", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["changes"][0]["component"], "statusline");
    assert_eq!(report["changes"][0]["changed"], true);
    let settings: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let git_pcc = std::fs::canonicalize(support::bin("git-pcc")).unwrap();
    assert_eq!(
        settings["statusLine"],
        json!({
            "type": "command",
            "command": format!("{} statusline", git_pcc.display()),
            "refreshInterval": 5
        })
    );
    assert_eq!(settings["model"], "opus");
    assert!(settings.get("hooks").is_none(), "only the status line");
    assert!(path.with_file_name("settings.json.pcc-backup").exists());
    // The installed command works as Claude Code runs it: through a shell.
    let repo = env.repo("app");
    let process = support::LiveProcess::spawn();
    env.register(&repo, process.pid());
    let mut shell = env.command("sh");
    shell
        .args(["-c", settings["statusLine"]["command"].as_str().unwrap()])
        .current_dir(&repo);
    let output = support::with_stdin(shell, input(&repo).to_string().as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "main checkout on main\n"
    );

    let (_, again) = install(&env, &["--statusline", "--json"]);
    assert_eq!(again["changes"][0]["changed"], false, "once");
    let (output, status) = install(&env, &["--status", "--json"]);
    assert!(output.status.success());
    assert_eq!(status["statusLineIsOurs"], true);

    let (output, removed) = install(&env, &["--statusline", "--uninstall", "--json"]);
    assert!(output.status.success());
    assert_eq!(removed["changes"][0]["changed"], true);
    let settings: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(settings, theirs);
}

#[test]
fn install_keeps_a_status_line_of_the_users_own_and_says_how_to_add_ours() {
    let env = TestEnv::new();
    let path = settings_path(&env);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let theirs = json!({"statusLine": {"type": "command", "command": "~/.claude/statusline.sh", "padding": 0}});
    let text = serde_json::to_string_pretty(&theirs).unwrap();
    std::fs::write(&path, &text).unwrap();
    let output = env
        .pcc("git-pcc")
        .args(["install", "--statusline"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("kept yours"), "{stdout}");
    assert!(
        stdout.contains("Your status line (~/.claude/statusline.sh) is kept"),
        "{stdout}"
    );
    assert!(stdout.contains("git-pcc statusline)"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "untouched");
    let (_, report) = install(&env, &["--statusline", "--json"]);
    assert_eq!(report["keptStatusLine"], "~/.claude/statusline.sh");
    // Uninstalling leaves theirs too.
    let (output, _) = install(&env, &["--uninstall", "--json"]);
    assert!(output.status.success());
    let settings: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(settings["statusLine"], theirs["statusLine"]);
}
