//! Notifications, through the real hook commands: `notify.command` (a
//! script that writes the environment it gets to a file) and a stand-in
//! `notify-send` on PATH, run when a session starts waiting or turns idle
//! after working, never by default, never through a shell, never waited
//! for.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::Sessions;

fn sessions() -> Sessions {
    support::main_and_worktree("app", &[("README.md", "app\n")])
}

/// A `notify.command` that appends what it is told to `log`: its
/// arguments, then the PARALLEL_CC_NOTIFY_ variables, sorted, then `--`.
fn recorder(s: &Sessions, name: &str) -> (PathBuf, PathBuf) {
    let script = s.env.path().join(format!("{name}.sh"));
    let log = s.env.path().join(format!("{name}.log"));
    std::fs::write(
        &script,
        "#!/bin/sh\nout=\"$1\"; shift\n{ for a in \"$@\"; do echo \"arg=$a\"; done; env | grep '^PARALLEL_CC_NOTIFY_' | sort; echo --; } >> \"$out.part\"\nmv \"$out.part\" \"$out.$(date +%s%N)\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

/// The records the recorder wrote for `log`, oldest first, waiting up to
/// a few seconds for `count` of them (it runs detached).
fn records(log: &Path, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let dir = log.parent().unwrap();
        let prefix = format!("{}.", log.file_name().unwrap().to_string_lossy());
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&prefix) && !n.ends_with(".part"))
            .collect();
        names.sort();
        if names.len() >= count || Instant::now() > deadline {
            return names
                .iter()
                .map(|n| std::fs::read_to_string(dir.join(n)).unwrap())
                .collect();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config_set(s: &Sessions, key: &str, value: &str) {
    let output = s
        .env
        .pcc("git-pcc")
        .args(["config", "set", key, value])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{key}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Fires a hook as the installed hook runs it, in the worktree session,
/// with `path` as PATH; returns how long it took.
fn hook(s: &Sessions, event: &str, fields: Value, path: Option<&str>) -> Duration {
    let mut payload =
        json!({"hook_event_name": event, "session_id": "claude-session", "cwd": s.worktree});
    for (key, value) in fields.as_object().unwrap() {
        payload[key] = value.clone();
    }
    let args: Vec<&str> = match event {
        "PostToolUse" => vec!["heartbeat", "--hook"],
        "UserPromptSubmit" => vec!["hook", "user-prompt-submit"],
        "PreToolUse" => vec!["hook", "pre-tool-use"],
        "PermissionRequest" => vec!["hook", "permission-request"],
        "Notification" => vec!["hook", "notification"],
        "Stop" => vec!["hook", "stop"],
        other => panic!("no hook for {other}"),
    };
    let mut command = s.env.pcc("git-pcc");
    command.args(&args).current_dir(&s.worktree);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let started = Instant::now();
    let output = support::with_stdin(command, payload.to_string().as_bytes());
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(0), "{event}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "", "{event}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{event}");
    took
}

fn expected(s: &Sessions, state: &str, message: &str) -> String {
    format!(
        "arg=first word\nPARALLEL_CC_NOTIFY_BRANCH={}\nPARALLEL_CC_NOTIFY_MESSAGE={message}\nPARALLEL_CC_NOTIFY_REPO={}\nPARALLEL_CC_NOTIFY_SESSION={}\nPARALLEL_CC_NOTIFY_STATE={state}\nPARALLEL_CC_NOTIFY_WORKTREE={}\n--\n",
        s.branch,
        s.repo.display(),
        s.agent_id,
        s.worktree.display()
    )
}

#[test]
fn nothing_runs_unless_notifications_are_turned_on() {
    let s = sessions();
    let (script, log) = recorder(&s, "notify");
    let command = serde_json::to_string(&json!([script, log, "first word"])).unwrap();
    config_set(&s, "notify.command", &command);
    hook(&s, "UserPromptSubmit", json!({"prompt": "go"}), None);
    hook(&s, "PermissionRequest", json!({"tool_name": "Bash"}), None);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(records(&log, 0), Vec::<String>::new());
    let output = s
        .env
        .pcc("git-pcc")
        .args(["config", "get", "notify.enabled"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "false");
    let output = s
        .env
        .pcc("git-pcc")
        .args(["config", "set", "notify.enabled", "maybe"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: invalid value 'maybe' for notify.enabled: expected true or false\n"
    );
}

#[test]
fn waiting_and_idle_after_working_notify_with_the_session_in_the_environment() {
    let s = sessions();
    let (script, log) = recorder(&s, "notify");
    let command = serde_json::to_string(&json!([script, log, "first word"])).unwrap();
    config_set(&s, "notify.command", &command);
    config_set(&s, "notify.enabled", "true");

    hook(&s, "UserPromptSubmit", json!({"prompt": "go"}), None);
    hook(&s, "PermissionRequest", json!({"tool_name": "Bash"}), None);
    assert_eq!(
        records(&log, 1),
        vec![expected(&s, "waiting", "permission: Bash")]
    );
    // The same wait's Notification, then the answer and the stop of a
    // short turn: nothing more.
    hook(
        &s,
        "Notification",
        json!({"notification_type": "permission_prompt", "message": "Claude needs your permission to use Bash"}),
        None,
    );
    hook(&s, "PostToolUse", json!({"tool_name": "Bash"}), None);
    hook(
        &s,
        "Stop",
        json!({"last_assistant_message": "Short.\nmore"}),
        None,
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(records(&log, 0).len(), 1, "a turn under two minutes");

    config_set(&s, "notify.idleAfterWorkingMinutes", "0");
    hook(&s, "UserPromptSubmit", json!({"prompt": "again"}), None);
    hook(
        &s,
        "Stop",
        json!({"last_assistant_message": "All done.\nDetails follow"}),
        None,
    );
    let all = records(&log, 2);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1], expected(&s, "idle", "All done."));
    // Idle again at the prompt: no new notice.
    hook(
        &s,
        "Notification",
        json!({"notification_type": "idle_prompt", "message": "Claude is waiting for your input"}),
        None,
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(records(&log, 0).len(), 2);
}

#[test]
fn the_message_reaches_the_notifier_verbatim_and_masked_never_through_a_shell() {
    let s = sessions();
    let (script, log) = recorder(&s, "notify");
    // Given as a command line: split as a shell splits it, run without one.
    let line = format!("{} {} 'first word'", script.display(), log.display());
    config_set(&s, "notify.command", &line);
    config_set(&s, "notify.enabled", "true");
    let token = format!("ghp_{}", "a1B2".repeat(9));
    let question = format!("Run $(touch pwned) `touch pwned2`; rm -rf x | y with {token}?");
    hook(
        &s,
        "PreToolUse",
        json!({"tool_name": "AskUserQuestion", "tool_input": {"questions": [{"question": question, "header": "Q", "options": []}]}}),
        None,
    );
    let all = records(&log, 1);
    assert_eq!(
        all,
        vec![expected(
            &s,
            "waiting",
            "question: Run $(touch pwned) `touch pwned2`; rm -rf x | y with [REDACTED]?"
        )]
    );
    assert!(!all[0].contains(&token));
    for name in ["pwned", "pwned2"] {
        assert!(!s.worktree.join(name).exists(), "{name}");
        assert!(!s.env.path().join(name).exists(), "{name}");
    }
}

#[test]
fn hooks_never_wait_for_the_notifier_and_notify_send_gets_a_title_and_the_message() {
    let s = sessions();
    let bin = s.env.path().join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let (script, log) = recorder(&s, "desktop");
    // A stand-in notify-send that records its arguments, slowly.
    std::fs::write(
        bin.join("notify-send"),
        format!(
            "#!/bin/sh\nsleep 3\nexec {} {} \"$@\"\n",
            script.display(),
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        bin.join("notify-send"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    config_set(&s, "notify.command", r#"["sleep", "5"]"#);
    config_set(&s, "notify.desktop", "true");
    config_set(&s, "notify.enabled", "true");
    let path = format!("{}:{}", bin.display(), s.env.path_var());
    let took = hook(
        &s,
        "PermissionRequest",
        json!({"tool_name": "Bash"}),
        Some(&path),
    );
    assert!(
        took < Duration::from_millis(2500),
        "the hook waited: {took:?}"
    );
    let all = records(&log, 1);
    assert_eq!(all.len(), 1);
    let title = format!("app ({}) waits for you", s.branch);
    assert!(
        all[0].starts_with(&format!(
            "arg=--app-name\narg=parallel-cc\narg=--\narg={title}\narg=permission: Bash\n"
        )),
        "{}",
        all[0]
    );
    assert!(all[0].contains("PARALLEL_CC_NOTIFY_STATE=waiting\n"));
}
