//! `git pcc install` into a temporary HOME that already holds other
//! settings; the Claude Code hook entry points fed real payloads.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use support::{LiveProcess, TestEnv};

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn theirs_settings() -> Value {
    json!({
        "model": "opus",
        "env": {"FOO": "bar"},
        "permissions": {"allow": ["Bash(ls:*)"], "deny": []},
        "hooks": {
            "PostToolUse": [{"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "prettier --write", "timeout": 30}]}],
            "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
        }
    })
}

fn theirs_claude_json() -> Value {
    json!({
        "numStartups": 12,
        "projects": {"/home/me/app": {"allowedTools": []}},
        "mcpServers": {"github": {"type": "stdio", "command": "gh-mcp", "args": ["--x"], "env": {"T": "1"}}}
    })
}

/// Where the tests put `claude-parallel`, which the alias needs: as if
/// installed, on PATH but not beside the built `git-pcc`.
fn wrapper_dir(env: &TestEnv) -> PathBuf {
    let dir = env.path().join("wrapper-bin");
    if !dir.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/claude-parallel"),
            dir.join("claude-parallel"),
        )
        .unwrap();
    }
    dir
}

/// The lines our rc block holds for bash, between the file's own lines.
fn bash_block(env: &TestEnv) -> String {
    let built = std::fs::canonicalize(support::bin_dir()).unwrap();
    let path_line = |dir: &Path| {
        let dir = dir.display();
        format!("case \":$PATH:\" in *:{dir}:*) ;; *) export PATH={dir}:\"$PATH\" ;; esac\n")
    };
    format!(
        "# parallel-cc: start Claude Code through claude-parallel\n{}{}alias claude=claude-parallel\n",
        path_line(&wrapper_dir(env)),
        path_line(&built)
    )
}

fn install(env: &TestEnv, args: &[&str]) -> (std::process::Output, Value) {
    env.json(
        env.pcc("git-pcc")
            .arg("install")
            .args(args)
            .arg("--json")
            .env("SHELL", "/bin/bash")
            .env(
                "PATH",
                format!("{}:{}", wrapper_dir(env).display(), env.path_var()),
            ),
    )
}

#[test]
fn install_all_adds_ours_keeps_theirs_and_uninstall_restores() {
    let env = TestEnv::new();
    let settings = env.home.join(".claude/settings.json");
    let claude_json = env.home.join(".claude.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    // Compact formatting on purpose: our rewrite changes bytes but not meaning.
    std::fs::write(&settings, theirs_settings().to_string()).unwrap();
    std::fs::write(&claude_json, theirs_claude_json().to_string()).unwrap();
    std::fs::write(env.home.join(".bashrc"), "export EDITOR=vim\n").unwrap();

    let (output, report) = install(&env, &["--all"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["changed"] == true));

    let installed = read_json(&settings);
    let git_pcc = std::fs::canonicalize(support::bin("git-pcc")).unwrap();
    let ours = |args: &str| format!("{} {args}", git_pcc.display());
    // Theirs, unchanged.
    for key in ["model", "env", "permissions"] {
        assert_eq!(installed[key], theirs_settings()[key], "{key}");
    }
    let stop = installed["hooks"]["Stop"].as_array().unwrap();
    assert_eq!(stop[0], theirs_settings()["hooks"]["Stop"][0]);
    assert_eq!(
        stop[1],
        json!({"hooks": [{"type": "command", "command": ours("hook stop")}]})
    );
    let post = installed["hooks"]["PostToolUse"].as_array().unwrap();
    assert_eq!(post[0], theirs_settings()["hooks"]["PostToolUse"][0]);
    // Ours, added.
    assert_eq!(
        post[1],
        json!({"matcher": "*", "hooks": [{"type": "command", "command": ours("heartbeat --hook")}]})
    );
    for (event, args, matcher) in [
        ("PreToolUse", "hook pre-tool-use", "*"),
        ("PermissionRequest", "hook permission-request", "*"),
        (
            "Notification",
            "hook notification",
            "permission_prompt|elicitation_dialog|idle_prompt",
        ),
    ] {
        assert_eq!(
            installed["hooks"][event],
            json!([{"matcher": matcher, "hooks": [{"type": "command", "command": ours(args)}]}]),
            "{event}"
        );
    }
    for (event, args) in [
        ("SessionStart", "hook session-start"),
        ("SessionEnd", "hook session-end"),
        ("WorktreeCreate", "hook worktree-create"),
        ("WorktreeRemove", "hook worktree-remove"),
        ("UserPromptSubmit", "hook user-prompt-submit"),
        ("StopFailure", "hook stop-failure"),
        ("PreCompact", "hook pre-compact"),
        ("PostCompact", "hook post-compact"),
    ] {
        assert_eq!(
            installed["hooks"][event],
            json!([{"hooks": [{"type": "command", "command": ours(args)}]}]),
            "{event}"
        );
    }
    let mcp = read_json(&claude_json);
    assert_eq!(mcp["numStartups"], 12);
    assert_eq!(mcp["projects"], theirs_claude_json()["projects"]);
    assert_eq!(
        mcp["mcpServers"]["github"],
        theirs_claude_json()["mcpServers"]["github"]
    );
    let pcc_mcp = git_pcc.parent().unwrap().join("pcc-mcp");
    assert_eq!(
        mcp["mcpServers"]["parallel-cc"],
        json!({"type": "stdio", "command": pcc_mcp.to_str().unwrap(), "args": [], "env": {}})
    );
    let bashrc = std::fs::read_to_string(env.home.join(".bashrc")).unwrap();
    assert_eq!(bashrc, format!("export EDITOR=vim\n{}", bash_block(&env)));
    assert!(
        env.data_dir.join("coordinator.db").exists(),
        "--all also sets up the database"
    );

    // A second run changes nothing, byte for byte.
    let before: Vec<Vec<u8>> = [&settings, &claude_json, &env.home.join(".bashrc")]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let (output, report) = install(&env, &["--all"]);
    assert!(output.status.success());
    assert!(
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["changed"] == false),
        "{report}"
    );
    let after: Vec<Vec<u8>> = [&settings, &claude_json, &env.home.join(".bashrc")]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(before, after);

    let (output, status) = env.json(
        env.pcc("git-pcc")
            .args(["install", "--status", "--json"])
            .env("SHELL", "/bin/bash"),
    );
    assert!(output.status.success());
    assert_eq!(status["globalHooks"].as_array().unwrap().len(), 13);
    assert_eq!(status["aliasInstalled"], true);

    let (output, _) = install(&env, &["--uninstall"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(read_json(&settings), theirs_settings());
    assert_eq!(read_json(&claude_json), theirs_claude_json());
    assert_eq!(
        std::fs::read_to_string(env.home.join(".bashrc")).unwrap(),
        "export EDITOR=vim\n"
    );
}

#[test]
fn in_an_empty_home_uninstall_takes_away_everything_install_added() {
    let env = TestEnv::new();
    let (output, _) = install(&env, &["--all"]);
    assert_ok(&output);
    for file in [".claude/settings.json", ".claude.json", ".bashrc"] {
        assert!(env.home.join(file).is_file(), "{file}");
    }
    // A second install records nothing twice and backs up what it rewrites.
    let (output, _) = install(&env, &["--hooks"]);
    assert_ok(&output);

    let (output, _) = install(&env, &["--uninstall"]);
    assert_ok(&output);
    let mut left = support::list_dir(&env.home);
    left.retain(|name| name != ".parallel-cc");
    assert_eq!(left, Vec::<String>::new(), "files install created are gone");
    let mut data = support::list_dir(&env.data_dir);
    data.retain(|name| !name.starts_with("coordinator.db") && name != "locks");
    assert_eq!(data, Vec::<String>::new(), "{data:?}");
}

#[test]
fn the_alias_is_refused_when_claude_parallel_is_nowhere() {
    let env = TestEnv::new();
    let bare = |args: &[&str]| {
        env.pcc("git-pcc")
            .arg("install")
            .args(args)
            .env("SHELL", "/bin/bash")
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", support::bin_dir().display()),
            )
            .output()
            .unwrap()
    };
    let output = bare(&["--alias"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("claude-parallel is neither beside"),
        "{stderr}"
    );
    assert!(stderr.contains("the alias was not added"), "{stderr}");
    assert!(!env.home.join(".bashrc").exists());
    // --all installs the rest and says why the alias is missing.
    let output = bare(&["--all"]);
    assert_ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("warning: claude-parallel is neither beside"),
        "{stderr}"
    );
    assert!(env.home.join(".claude/settings.json").exists());
    assert!(!env.home.join(".bashrc").exists());
}

#[test]
fn an_alias_of_an_earlier_version_gets_its_path_line_and_goes_on_uninstall() {
    let env = TestEnv::new();
    let earlier = "export EDITOR=vim\n# parallel-cc: start Claude Code through claude-parallel\nalias claude=claude-parallel\nexport LANG=C\n";
    std::fs::write(env.home.join(".bashrc"), earlier).unwrap();
    let (output, report) = install(&env, &["--alias"]);
    assert_ok(&output);
    assert_eq!(report["changes"][0]["changed"], true);
    assert_eq!(
        std::fs::read_to_string(env.home.join(".bashrc")).unwrap(),
        format!("export EDITOR=vim\n{}export LANG=C\n", bash_block(&env))
    );
    let (output, report) = install(&env, &["--alias"]);
    assert_ok(&output);
    assert_eq!(report["changes"][0]["changed"], false, "once");
    let (output, _) = install(&env, &["--uninstall", "--alias"]);
    assert_ok(&output);
    assert_eq!(
        std::fs::read_to_string(env.home.join(".bashrc")).unwrap(),
        "export EDITOR=vim\nexport LANG=C\n"
    );
    assert!(!env.home.join(".bashrc.pcc-backup").exists());
}

#[test]
fn local_hooks_go_into_the_repository_and_can_ignore_it() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let (output, _) = install(
        &env,
        &[
            "--hooks",
            "--local",
            "--gitignore",
            "--repo",
            repo.to_str().unwrap(),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let settings = read_json(&repo.join(".claude/settings.json"));
    assert_eq!(settings["hooks"].as_object().unwrap().len(), 13);
    assert_eq!(
        std::fs::read_to_string(repo.join(".gitignore")).unwrap(),
        ".claude/\n"
    );
    assert!(!env.home.join(".claude/settings.json").exists());
    assert_eq!(
        env.git(&repo, &["status", "--porcelain"]),
        "?? .gitignore\n"
    );
}

#[test]
fn a_settings_file_that_is_not_json_is_left_alone() {
    let env = TestEnv::new();
    let settings = env.home.join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, "{ \"model\": \"opus\", oops").unwrap();
    let output = env
        .pcc("git-pcc")
        .args(["install", "--hooks"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("is not valid JSON"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        "{ \"model\": \"opus\", oops"
    );
    assert!(!env.home.join(".claude/settings.json.pcc-backup").exists());
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn link(points_to: impl AsRef<Path>, at: &Path) {
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(points_to, at).unwrap();
}

fn assert_ok(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn linked_dotfiles_stay_links_and_their_targets_are_written() {
    let env = TestEnv::new();
    let dotfiles = env.home.join("dotfiles");
    std::fs::create_dir_all(dotfiles.join("claude")).unwrap();
    let settings_target = dotfiles.join("claude/settings.json");
    let claude_json_target = dotfiles.join("claude.json");
    let bashrc_target = dotfiles.join("bashrc");
    std::fs::write(&settings_target, theirs_settings().to_string()).unwrap();
    std::fs::write(&claude_json_target, theirs_claude_json().to_string()).unwrap();
    std::fs::write(&bashrc_target, "export EDITOR=vim\n").unwrap();
    // Relative and absolute links, as dotfile managers make them.
    let settings = env.home.join(".claude/settings.json");
    let claude_json = env.home.join(".claude.json");
    let bashrc = env.home.join(".bashrc");
    link("../dotfiles/claude/settings.json", &settings);
    link(&claude_json_target, &claude_json);
    link("dotfiles/bashrc", &bashrc);
    let links = [
        (&settings, PathBuf::from("../dotfiles/claude/settings.json")),
        (&claude_json, claude_json_target.clone()),
        (&bashrc, PathBuf::from("dotfiles/bashrc")),
    ];

    let (output, report) = install(&env, &["--hooks", "--mcp", "--alias"]);
    assert_ok(&output);
    for (path, points_to) in &links {
        assert!(is_link(path), "{} is still a link", path.display());
        assert_eq!(&std::fs::read_link(path).unwrap(), points_to);
    }
    let installed = read_json(&settings_target);
    assert_eq!(installed["model"], "opus");
    assert_eq!(
        installed["hooks"]["PostToolUse"].as_array().unwrap().len(),
        2
    );
    assert_eq!(installed["hooks"].as_object().unwrap().len(), 13);
    let mcp = read_json(&claude_json_target);
    assert_eq!(mcp["mcpServers"]["parallel-cc"]["type"], "stdio");
    assert_eq!(
        mcp["mcpServers"]["github"],
        theirs_claude_json()["mcpServers"]["github"]
    );
    assert_eq!(
        std::fs::read_to_string(&bashrc_target).unwrap(),
        format!("export EDITOR=vim\n{}", bash_block(&env))
    );
    // Each backup sits beside the file it saves, and the report says where.
    let backups: Vec<Value> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["backupPath"].clone())
        .collect();
    let beside = |target: &Path| {
        let mut name = std::fs::canonicalize(target).unwrap().into_os_string();
        name.push(".pcc-backup");
        PathBuf::from(name)
    };
    for target in [&settings_target, &claude_json_target, &bashrc_target] {
        assert!(backups.contains(&json!(beside(target))), "{report}");
    }
    assert_eq!(
        read_json(&beside(&settings_target)),
        theirs_settings(),
        "the backup holds the file as it was"
    );
    assert!(!env.home.join(".claude/settings.json.pcc-backup").exists());
    assert!(!env.home.join(".claude.json.pcc-backup").exists());
    // No temporary file left anywhere.
    for dir in [
        env.home.clone(),
        env.home.join(".claude"),
        dotfiles.clone(),
        dotfiles.join("claude"),
    ] {
        assert!(
            support::list_dir(&dir).iter().all(|n| !n.contains(".tmp-")),
            "{}: {:?}",
            dir.display(),
            support::list_dir(&dir)
        );
    }

    let (output, _) = install(&env, &["--uninstall"]);
    assert_ok(&output);
    for (path, points_to) in &links {
        assert!(is_link(path), "{} is still a link", path.display());
        assert_eq!(&std::fs::read_link(path).unwrap(), points_to);
    }
    assert_eq!(read_json(&settings_target), theirs_settings());
    assert_eq!(read_json(&claude_json_target), theirs_claude_json());
    assert_eq!(
        std::fs::read_to_string(&bashrc_target).unwrap(),
        "export EDITOR=vim\n"
    );
}

#[test]
fn linked_local_settings_and_gitignore_are_written_through() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let shared = env.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("gitignore"), "target/\n").unwrap();
    link(shared.join("gitignore"), &repo.join(".gitignore"));
    // A link to a file not made yet, in a directory that exists: the file
    // is created where the link points.
    link(
        shared.join("settings.json"),
        &repo.join(".claude/settings.json"),
    );
    let (output, _) = install(
        &env,
        &[
            "--hooks",
            "--local",
            "--gitignore",
            "--repo",
            repo.to_str().unwrap(),
        ],
    );
    assert_ok(&output);
    assert!(is_link(&repo.join(".claude/settings.json")));
    assert!(is_link(&repo.join(".gitignore")));
    let settings = read_json(&shared.join("settings.json"));
    assert_eq!(settings["hooks"].as_object().unwrap().len(), 13);
    assert_eq!(
        std::fs::read_to_string(shared.join("gitignore")).unwrap(),
        "target/\n.claude/\n"
    );

    let (output, _) = install(
        &env,
        &[
            "--uninstall",
            "--hooks",
            "--local",
            "--repo",
            repo.to_str().unwrap(),
        ],
    );
    assert_ok(&output);
    // The file install created went with our hooks, nothing else being in
    // it: the link dangles again, as it did.
    assert!(is_link(&repo.join(".claude/settings.json")));
    assert!(!shared.join("settings.json").exists());
    assert!(!shared.join("settings.json.pcc-backup").exists());
}

#[test]
fn a_link_into_a_missing_directory_is_refused_in_one_line() {
    let env = TestEnv::new();
    let settings = env.home.join(".claude/settings.json");
    let missing = env.home.join("dotfiles-not-cloned/claude/settings.json");
    link(&missing, &settings);
    let output = env
        .pcc("git-pcc")
        .args(["install", "--hooks"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("a directory that does not exist"),
        "{stderr}"
    );
    assert!(is_link(&settings));
    assert_eq!(std::fs::read_link(&settings).unwrap(), missing);
    assert!(!env.home.join("dotfiles-not-cloned").exists());
}

fn run_hook(env: &TestEnv, event: &str, payload: &Value, cwd: &Path) -> std::process::Output {
    let mut command: Command = env.pcc("git-pcc");
    command.args(["hook", event]).current_dir(cwd);
    support::with_stdin(command, payload.to_string().as_bytes())
}

#[test]
fn worktree_create_and_remove_hooks_coordinate_claude_worktrees() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let main = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let payload = json!({
        "session_id": "0b7e4c9a-1111-4222-8333-944455556666",
        "transcript_path": "/tmp/transcript.jsonl",
        "cwd": repo,
        "hook_event_name": "WorktreeCreate",
        "name": "fix login/bug"
    });
    let output = run_hook(&env, "worktree-create", &payload, &repo);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let worktree = PathBuf::from(stdout.trim_end());
    assert_eq!(
        stdout,
        format!("{}\n", worktree.display()),
        "only the path is printed"
    );
    assert!(worktree.is_absolute());
    assert_eq!(worktree, env.path().join("app-worktrees/fix-login-bug"));
    assert_eq!(
        env.git(&worktree, &["branch", "--show-current"]).trim(),
        "parallel/fix-login-bug"
    );
    let status = env.status();
    let session = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["worktreePath"] == worktree.to_str().unwrap())
        .cloned();
    let session = session.expect("the worktree is a registered session");
    assert_eq!(session["isMainRepo"], false);
    // The session belongs to the process that ran the hook: this test.
    assert_eq!(session["pid"], std::process::id());

    // Work in it, then remove: kept.
    std::fs::write(worktree.join("wip.txt"), "half done\n").unwrap();
    let remove = json!({"session_id": "x", "transcript_path": "/tmp/t", "cwd": repo, "hook_event_name": "WorktreeRemove", "worktree_path": worktree});
    let output = run_hook(&env, "worktree-remove", &remove, &repo);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("kept worktree"));
    assert_eq!(
        std::fs::read_to_string(worktree.join("wip.txt")).unwrap(),
        "half done\n"
    );
    assert_eq!(
        env.status()["keptWorktrees"][0]["worktreePath"],
        worktree.to_str().unwrap()
    );

    // A clean one goes entirely.
    let second = run_hook(
        &env,
        "worktree-create",
        &json!({"cwd": repo, "hook_event_name": "WorktreeCreate", "name": "docs"}),
        &repo,
    );
    assert!(second.status.success());
    let clean = PathBuf::from(String::from_utf8(second.stdout).unwrap().trim_end());
    let output = run_hook(
        &env,
        "worktree-remove",
        &json!({"hook_event_name": "WorktreeRemove", "worktree_path": clean}),
        &repo,
    );
    assert!(output.status.success());
    assert!(!clean.exists());
    assert_eq!(env.git(&repo, &["branch", "--list", "parallel/docs"]), "");

    // Outside a repository the creation fails with a message.
    let outside = env.path().join("plain");
    std::fs::create_dir_all(&outside).unwrap();
    let failed = run_hook(
        &env,
        "worktree-create",
        &json!({"cwd": outside, "name": "x"}),
        &outside,
    );
    assert_eq!(failed.status.code(), Some(1));
    assert!(failed.stdout.is_empty());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("not a git repository"));
}

#[test]
fn session_hooks_register_in_a_free_checkout_and_warn_in_a_busy_one() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let start = json!({"session_id": "s1", "transcript_path": "/tmp/t", "cwd": repo, "hook_event_name": "SessionStart", "source": "startup"});
    let output = run_hook(&env, "session-start", &start, &repo);
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
    let status = env.status();
    assert_eq!(status["totalSessions"], 1);
    assert_eq!(status["sessions"][0]["isMainRepo"], true);
    assert_eq!(status["sessions"][0]["pid"], std::process::id());

    // The same agent starting again (resume) is already known: nothing said.
    let output = run_hook(&env, "session-start", &start, &repo);
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
    assert_eq!(env.status()["totalSessions"], 1);

    let end = json!({"session_id": "s1", "cwd": repo, "hook_event_name": "SessionEnd", "reason": "clear"});
    run_hook(&env, "session-end", &end, &repo);
    assert_eq!(env.status()["totalSessions"], 1, "/clear keeps the session");
    let end = json!({"session_id": "s1", "cwd": repo, "hook_event_name": "SessionEnd", "reason": "prompt_input_exit"});
    let output = run_hook(&env, "session-end", &end, &repo);
    assert!(output.status.success());
    assert_eq!(env.status()["totalSessions"], 0);
}

#[test]
fn a_second_agent_in_a_busy_checkout_is_warned() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let holder = LiveProcess::spawn();
    env.register(&repo, holder.pid());
    let start = json!({"session_id": "s2", "cwd": repo, "hook_event_name": "SessionStart", "source": "startup"});
    let output = run_hook(&env, "session-start", &start, &repo);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "another session (pid {}) works in the main checkout",
            holder.pid()
        )),
        "{stdout}"
    );
    assert_eq!(env.status()["totalSessions"], 1);
    for garbage in [json!("nonsense"), json!({})] {
        for event in ["session-start", "session-end", "worktree-remove"] {
            let output = run_hook(&env, event, &garbage, &env.path());
            assert_eq!(output.status.code(), Some(0), "{event}");
        }
    }
}
