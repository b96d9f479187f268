//! `git pcc top`: one frame as text and as JSON (`--once`), and the live
//! view in a real terminal (tmux, 80x24): driven with send-keys, read with
//! capture-pane, while sessions change state through the hooks Claude Code
//! runs; the terminal is checked to be restored after `q`, SIGTERM and a
//! panic.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::terminal::{has_tmux, Terminal};
use support::{LiveProcess, Sessions, TestEnv};

/// A repository with a main-checkout session and a worktree session that
/// both change `src/lib.rs`, so they conflict there.
fn colliding() -> Sessions {
    let s = support::main_and_worktree(
        "app",
        &[("README.md", "app\n"), ("src/lib.rs", "fn a() {}\n")],
    );
    std::fs::write(s.worktree.join("src/lib.rs"), "fn b() {}\n").unwrap();
    std::fs::write(s.repo.join("src/lib.rs"), "fn c() {}\n").unwrap();
    s
}

/// Runs one hook of the worktree session as Claude Code runs it.
fn hook(s: &Sessions, args: &[&str], event: &str, fields: Value) {
    let mut payload = json!({
        "session_id": "claude-session",
        "transcript_path": "/tmp/transcript.jsonl",
        "cwd": s.worktree,
        "hook_event_name": event,
    });
    for (key, value) in fields.as_object().unwrap() {
        payload[key] = value.clone();
    }
    let mut command = s.env.pcc("git-pcc");
    command.args(args).current_dir(&s.worktree);
    let output = support::with_stdin(command, payload.to_string().as_bytes());
    assert!(output.status.success(), "{args:?}");
}

fn wait_for_permission(s: &Sessions) {
    hook(
        s,
        &["hook", "permission-request"],
        "PermissionRequest",
        json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}}),
    );
}

fn short(id: &str) -> &str {
    &id[..8]
}

#[test]
fn once_prints_one_frame_and_json_its_data() {
    let s = colliding();
    wait_for_permission(&s);
    let output = s
        .env
        .pcc("git-pcc")
        .args(["top", "--once"])
        .current_dir(&s.repo)
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let repo = s.repo.to_str().unwrap();
    assert!(
        lines[0].starts_with("parallel-cc top  2 sessions  "),
        "{text}"
    );
    assert!(
        lines[0].ends_with(&format!("  1 waiting  {repo}")),
        "{text}"
    );
    assert!(lines[1].starts_with("Sessions──"), "{text}");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["SESSION", "BRANCH", "STATE", "AGE", "+/-", "CHG", "CNF", "DOING"],
        "{text}"
    );
    // The waiting session comes first, marked, with what it waits for.
    let waiting: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        waiting,
        [
            "!",
            short(&s.agent_id),
            &s.branch,
            "waiting",
            "0m",
            "0m",
            "+0/-0",
            "1",
            "1",
            "permission:",
            "Bash"
        ],
        "{text}"
    );
    let main: Vec<&str> = lines[4].split_whitespace().collect();
    assert_eq!(
        main,
        [
            short(&s.main_id),
            "main",
            "(main)",
            "-",
            "0m",
            "-",
            "1",
            "1"
        ],
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{} x {}: src/lib.rs",
            short(&s.agent_id),
            short(&s.main_id)
        )) || text.contains(&format!(
            "{} x {}: src/lib.rs",
            short(&s.main_id),
            short(&s.agent_id)
        )),
        "{text}"
    );
    assert!(text.contains("Sandbox runs (0)"), "{text}");
    assert!(text.contains("Claims (0)"), "{text}");
    assert!(!text.contains("q quit"), "no help line for scripts: {text}");

    let (output, frame) = s.env.json(
        s.env
            .pcc("git-pcc")
            .args(["top", "--once", "--json"])
            .current_dir(&s.repo),
    );
    assert!(output.status.success());
    assert_eq!(frame["repoPath"], repo);
    assert_eq!(frame["totalSessions"], 2);
    assert_eq!(frame["waitingSessions"], 1);
    let repository = &frame["repositories"][0];
    let first = &repository["sessions"][0];
    assert_eq!(first["sessionId"], s.agent_id.as_str());
    assert_eq!(first["state"], "waiting");
    assert_eq!(first["waitingFor"], "permission: Bash");
    assert_eq!(first["base"], "main");
    assert_eq!(first["ahead"], 0);
    assert_eq!(first["changedFiles"], 1);
    assert_eq!(first["conflicts"], 1);
    assert_eq!(repository["sessions"][1]["sessionId"], s.main_id.as_str());
    let pair = &repository["pairs"][0];
    assert_eq!(pair["conflicts"][0]["path"], "src/lib.rs");
    assert_eq!(pair["conflicts"][0]["kind"], "content");
    // The worktree against its base: only the worktree changed since.
    assert_eq!(repository["againstTarget"][0]["hasConflicts"], false);
    // The same changed files as `status` counts for the worktree session.
    let status = s.env.status();
    let listed = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["sessionId"] == s.agent_id.as_str())
        .unwrap();
    assert_eq!(listed["changedFiles"], first["changedFiles"]);
}

#[test]
fn the_live_view_needs_a_terminal() {
    let s = colliding();
    let output = s
        .env
        .pcc("git-pcc")
        .arg("top")
        .current_dir(&s.repo)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: git pcc top needs a terminal (hint: 'git pcc top --once' prints one frame as text, '--once --json' its data)\n"
    );
    assert!(output.stdout.is_empty());
}

/// Starts `git-pcc top` in `cwd` in an 80x24 terminal, under a shell
/// that, once top ends, prints its exit code and the terminal's line
/// discipline flags.
fn start_top(env: &TestEnv, cwd: &Path, name: &str, extra_env: &[(&str, &str)]) -> Terminal {
    let script = "git-pcc top; echo \"top-exit=$?\"; \
         stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo)' | tr '\\n' ' '; \
         echo; exec sleep 600";
    Terminal::start(
        &format!("top-{name}"),
        (80, 24),
        cwd,
        ["sh", "-c", script],
        |command| {
            env.apply_env(command);
            for (key, value) in extra_env {
                command.env(key, value);
            }
        },
    )
}

/// Asserts that top ended with `code` and gave the terminal back: off the
/// alternate screen, the cursor shown, canonical mode and echo on.
fn assert_restored(terminal: &Terminal, code: &str) -> String {
    let screen = terminal.wait_for("top to end", |screen| screen.contains("top-exit="));
    assert!(
        screen.contains(&format!("top-exit={code}\n")),
        "exit code {code} expected:\n{screen}"
    );
    let flags = terminal.wait_for("the terminal flags", |screen| {
        screen.lines().any(|line| line.contains("icanon"))
    });
    assert!(
        flags.lines().any(|line| line.trim() == "icanon echo"),
        "{flags}"
    );
    assert_eq!(terminal.display("#{alternate_on} #{cursor_flag}"), "0 1");
    screen
}

/// The row of the sessions table that shows the session `id` (its short
/// id after the two marks).
fn line_of<'a>(screen: &'a str, id: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|line| line.get(3..11) == Some(short(id)))
}

#[test]
fn the_live_view_follows_states_and_keys_in_a_terminal() {
    assert!(has_tmux(), "this test needs tmux");
    let mut s = colliding();
    let terminal = start_top(&s.env, &s.repo, "keys", &[]);
    let screen = terminal.wait_for("the first frame", |screen| {
        screen.contains("2 sessions") && screen.contains("q quit")
    });
    assert_eq!(screen.lines().count(), 24, "{screen}");
    // The main checkout's session is first and selected, nobody waits.
    let main = line_of(&screen, &s.main_id).unwrap();
    assert!(main.starts_with(">  "), "{screen}");
    assert!(!screen.contains("waiting"), "{screen}");

    // The agent waits for a permission: it moves first and is marked.
    wait_for_permission(&s);
    let screen = terminal.wait_for("the waiting session", |screen| {
        line_of(screen, &s.agent_id).is_some_and(|line| line.contains("permission: Bash"))
    });
    assert!(screen.contains("1 waiting"), "{screen}");
    let agent_row = screen
        .lines()
        .position(|line| line.get(3..11) == Some(short(&s.agent_id)))
        .unwrap();
    let main_row = screen
        .lines()
        .position(|line| line.get(3..11) == Some(short(&s.main_id)))
        .unwrap();
    assert!(agent_row < main_row, "{screen}");
    // The selection stays with the session it was on.
    assert!(line_of(&screen, &s.main_id).unwrap().starts_with(">  "));
    assert!(line_of(&screen, &s.agent_id).unwrap().starts_with(" ! "));

    // It stops: idle, with its last message, back in age order.
    hook(
        &s,
        &["hook", "stop"],
        "Stop",
        json!({"stop_hook_active": false, "last_assistant_message": "Renamed a to b."}),
    );
    let screen = terminal.wait_for("the idle session", |screen| {
        line_of(screen, &s.agent_id).is_some_and(|line| line.contains("Renamed a to b."))
    });
    assert!(
        line_of(&screen, &s.agent_id).unwrap().contains("idle 0m"),
        "{screen}"
    );
    assert!(!screen.contains("waiting"), "{screen}");

    // Enter on the agent's session: its diff against main.
    terminal.keys(&["j"]);
    terminal.wait_for("the selection to move", |screen| {
        line_of(screen, &s.agent_id).is_some_and(|line| line.starts_with(">"))
    });
    terminal.keys(&["Enter"]);
    let screen = terminal.wait_for("the diff", |screen| screen.contains("+fn b() {}"));
    assert!(
        screen.contains(&format!(
            "Diff of {} ({}) against main",
            short(&s.agent_id),
            s.branch
        )),
        "{screen}"
    );
    assert!(screen.contains("-fn a() {}"), "{screen}");
    // Scrolling moves the text up by one line.
    let top_line = |screen: &str| screen.lines().nth(2).unwrap_or("").to_owned();
    assert_eq!(top_line(&screen), "diff --git a/src/lib.rs b/src/lib.rs");
    terminal.keys(&["j"]);
    terminal.wait_for("the diff to scroll", |screen| {
        top_line(screen).starts_with("index ")
    });
    terminal.keys(&["q"]);
    let screen = terminal.wait_for("the list again", |screen| screen.contains("q quit"));
    assert!(screen.contains("Conflicts (1)"), "{screen}");

    // The agent makes the main checkout's change too: no conflict left,
    // seen on the next refresh.
    std::fs::write(s.worktree.join("src/lib.rs"), "fn c() {}\n").unwrap();
    let screen = terminal.wait_for("the conflict to go", |screen| {
        screen.contains("Conflicts (0)") && screen.contains("no predicted conflicts")
    });
    let cells = |id: &str| -> Vec<String> {
        line_of(&screen, id)
            .unwrap()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(cells(&s.agent_id)[6..9], ["+0/-0", "1", "0"], "{screen}");
    assert_eq!(cells(&s.main_id)[6..8], ["1", "0"], "{screen}");

    // Release the agent's session: asked first, its work is kept.
    terminal.keys(&["r"]);
    terminal.wait_for("the question", |screen| {
        screen.contains(&format!(
            "release session {} (pid {})? held work is kept [y/n]",
            short(&s.agent_id),
            s.agent.pid()
        ))
    });
    terminal.keys(&["y"]);
    let screen = terminal.wait_for("the release", |screen| {
        screen.contains(&format!("released session {}", short(&s.agent_id)))
            && line_of(screen, &s.agent_id).is_none()
    });
    assert!(
        screen.contains("kept its worktree: 1 uncommitted file"),
        "{screen}"
    );
    assert!(s.worktree.join("src/lib.rs").exists());
    assert!(screen.contains("1 session "), "{screen}");

    // The main session's process ends: shown as gone, then cleaned up.
    s.main.kill();
    terminal.wait_for("the gone session", |screen| {
        line_of(screen, &s.main_id).is_some_and(|line| line.contains("gone"))
    });
    terminal.keys(&["c"]);
    let screen = terminal.wait_for("the cleanup", |screen| {
        screen.contains("cleanup: 1 session removed")
    });
    terminal.wait_for("no sessions", |screen| screen.contains("no sessions"));
    assert_eq!(s.env.status()["totalSessions"], 0, "{screen}");

    terminal.keys(&["q"]);
    assert_restored(&terminal, "0");
}

#[test]
fn sigterm_and_a_panic_give_the_terminal_back() {
    assert!(has_tmux(), "this test needs tmux");
    let s = colliding();
    let terminal = start_top(&s.env, &s.repo, "term", &[]);
    terminal.wait_for("the first frame", |screen| screen.contains("q quit"));
    assert_eq!(terminal.display("#{alternate_on}"), "1");
    // SAFETY: signalling the process the test started.
    assert_eq!(
        unsafe { libc::kill(terminal.pane_child_pid(), libc::SIGTERM) },
        0
    );
    assert_restored(&terminal, "143");

    let terminal = start_top(
        &s.env,
        &s.repo,
        "panic",
        &[
            ("PARALLEL_CC_FAILPOINT", "top:draw@3"),
            ("RUST_BACKTRACE", "0"),
        ],
    );
    let screen = assert_restored(&terminal, "101");
    assert!(
        screen.contains("panicked") && screen.contains("failpoint top:draw reached"),
        "{screen}"
    );
}

#[test]
fn the_panes_show_claims_merges_and_runs_and_x_kills_a_run() {
    assert!(has_tmux(), "this test needs tmux");
    let s = colliding();
    // A claim, held by the agent.
    let claimed = support::mcp_call(
        &s.env,
        &s.agent_id,
        "claim_file",
        json!({"filePath": "src/lib.rs", "mode": "EXCLUSIVE"}),
    );
    assert_ne!(claimed["isError"], true, "{claimed}");
    // A merge: the agent's commit of another file reaches main.
    std::fs::write(s.worktree.join("NOTES.md"), "notes\n").unwrap();
    s.env.git(&s.worktree, &["add", "NOTES.md"]);
    s.env.git(&s.worktree, &["commit", "-q", "-m", "notes"]);
    s.env
        .git(&s.repo, &["merge", "-q", "--ff-only", s.branch.as_str()]);
    let watch = s
        .env
        .pcc("git-pcc-watch")
        .args(["merges", "--once"])
        .output()
        .unwrap();
    assert!(
        watch.status.success(),
        "{}",
        String::from_utf8_lossy(&watch.stderr)
    );
    // A sandbox run whose agent naps.
    for (key, value) in [
        ("sandbox.confinement", "off"),
        (
            "sandbox.agentCommand",
            r#"["sh", "-c", "echo {prompt}; exec sleep 120"]"#,
        ),
    ] {
        let output = s
            .env
            .pcc("git-pcc")
            .args(["config", "set", key, value])
            .output()
            .unwrap();
        assert!(output.status.success());
    }
    let mut run = s
        .env
        .pcc("git-pcc-sandbox")
        .args(["run", "--prompt", "nap a while", "--branch", "auto"])
        .current_dir(&s.repo)
        .env("ANTHROPIC_API_KEY", "sk-test-not-a-real-key")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let terminal = start_top(&s.env, &s.repo, "panes", &[]);
    let screen = terminal.wait_for("the running run", |screen| {
        screen.contains("RUNNING 0m nap a while")
    });
    assert!(screen.contains("Claims (1)"), "{screen}");
    assert!(
        screen.contains(&format!("{} EXCLUSIVE src/lib.rs", short(&s.agent_id))),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("{} -> main", s.branch)),
        "{screen}"
    );
    assert!(screen.contains("Sandbox runs (1)"), "{screen}");

    // Tab moves the selection to the runs; x asks, y kills.
    terminal.keys(&["Tab"]);
    terminal.wait_for("the run selected", |screen| {
        screen.contains(">")
            && screen
                .lines()
                .any(|l| l.contains(" >") && l.contains("RUNNING"))
    });
    terminal.keys(&["x"]);
    terminal.wait_for("the question", |screen| screen.contains("? [y/n]"));
    terminal.keys(&["y"]);
    let screen = terminal.wait_for("the kill", |screen| {
        screen.contains("killed run ") && screen.contains("none going on")
    });
    assert!(screen.contains("Sandbox runs (0)"), "{screen}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while run.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the run did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    let listed = s
        .env
        .json(s.env.pcc("git-pcc-sandbox").args(["list", "--json"]))
        .1;
    assert_eq!(listed["runs"][0]["status"], "KILLED", "{listed}");
    terminal.keys(&["q"]);
    assert_restored(&terminal, "0");
}

#[test]
fn once_outside_a_repository_groups_the_sessions_by_repository() {
    let env = TestEnv::new();
    let first = env.repo("first");
    let second = env.repo("second");
    let one = LiveProcess::spawn();
    let two = support::LiveProcess::spawn();
    let a = env.register(&second, two.pid());
    let b = env.register(&first, one.pid());
    let output = env.pcc("git-pcc").args(["top", "--once"]).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with("  every repository"), "{text}");
    assert_eq!(lines[3], first.to_str().unwrap(), "{text}");
    assert_eq!(
        lines[4].get(3..11),
        Some(short(b["sessionId"].as_str().unwrap())),
        "{text}"
    );
    assert_eq!(lines[5], second.to_str().unwrap(), "{text}");
    assert_eq!(
        lines[6].get(3..11),
        Some(short(a["sessionId"].as_str().unwrap())),
        "{text}"
    );
}

#[test]
fn the_agent_column_shows_when_a_session_runs_another_agent() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let claude = LiveProcess::spawn();
    env.register(&repo, claude.pid());
    let codex = LiveProcess::spawn();
    let (output, registered) =
        env.json(env.pcc("git-pcc-register").arg("--repo").arg(&repo).args([
            "--pid",
            &codex.pid().to_string(),
            "--agent",
            "codex",
            "--json",
        ]));
    assert!(output.status.success());
    assert_eq!(registered["agent"], "codex");
    let output = env
        .pcc("git-pcc")
        .args(["top", "--once"])
        .current_dir(&repo)
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[2].split_whitespace().take(3).collect::<Vec<_>>(),
        ["SESSION", "AGENT", "BRANCH"],
        "{text}"
    );
    let id = registered["sessionId"].as_str().unwrap();
    let row = lines.iter().find(|l| l.contains(&id[..8])).unwrap();
    assert_eq!(row.split_whitespace().nth(1), Some("codex"), "{text}");
}
