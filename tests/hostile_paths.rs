//! Paths holding a newline, an escape character or other control
//! characters: human output shows them quoted the way git's
//! `core.quotePath` does, so they cannot break a table or send escape
//! sequences to the terminal; `--json` keeps them exact.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use support::{LiveProcess, TestEnv};

/// A repository directory name with a newline and the start of a colour
/// escape sequence.
const REPO_NAME: &str = "app\nline\u{1b}[31mred";
/// A file name that would fake a table row and retitle the terminal.
const FILE_NAME: &str = "notes\n9999  fake-row\u{1b}]0;pwned\u{7}.md";

/// `text` as git shows it with `core.quotePath`: C escapes in quotes.
fn c_quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\u{7}' => out.push_str("\\a"),
            '\u{1b}' => out.push_str("\\033"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Human output of `command`, asserting success and that no control
/// character but the line ends reached it.
fn human(command: &mut Command) -> String {
    let output = command.output().expect("run command");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    for text in [&stdout, &stderr] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "a raw control character: {text:?}"
        );
        assert!(!text.contains("app\nline"), "a raw newline: {text:?}");
    }
    stdout + &stderr
}

fn pcc(env: &TestEnv, args: &[&str]) -> Command {
    let mut command = env.pcc("git-pcc");
    command.args(args);
    command
}

fn as_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn status_and_claims_quote_control_characters_and_json_keeps_them() {
    let env = TestEnv::new();
    let repo = env.repo_with(REPO_NAME, &[("README.md", "hi\n"), (FILE_NAME, "x\n")]);
    assert_eq!(repo.file_name().unwrap(), REPO_NAME);
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    let first = env.register(&repo, main.pid());
    assert_eq!(first["repoPath"], as_str(&repo));

    // register, human: the path of the new worktree is quoted.
    let registered = human(
        env.pcc("git-pcc-register")
            .arg("--repo")
            .arg(&repo)
            .args(["--pid", &agent.pid().to_string()]),
    );
    let status = env.status();
    let session = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["isMainRepo"] == false)
        .unwrap()
        .clone();
    let worktree = PathBuf::from(session["worktreePath"].as_str().unwrap());
    assert_eq!(
        worktree.parent().unwrap().file_name().unwrap(),
        format!("{REPO_NAME}-worktrees").as_str(),
        "--json holds the exact path"
    );
    assert_eq!(status["sessions"][0]["repoPath"], as_str(&repo));
    let quoted_repo = c_quoted(as_str(&repo));
    let quoted_worktree = c_quoted(as_str(&worktree));
    assert!(
        registered
            .lines()
            .any(|l| l.starts_with("path ") && l.ends_with(&quoted_worktree)),
        "{registered}"
    );
    assert!(
        registered.contains(&format!("2 in {quoted_repo}")),
        "{registered}"
    );

    // status: the repository heading and the WHERE column.
    let shown = human(&mut pcc(&env, &["status", "--all"]));
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines[0], quoted_repo, "{shown}");
    assert!(lines[1].starts_with("PID "), "{shown}");
    assert_eq!(
        lines.len(),
        5,
        "heading, header, two sessions, count: {shown}"
    );
    assert!(
        lines[3].contains(&format!("  {quoted_worktree}  ")),
        "{shown}"
    );

    // claims: the claimed file's name, and the reason the agent gave.
    let claim = support::mcp_call(
        &env,
        session["sessionId"].as_str().unwrap(),
        "claim_file",
        json!({"filePath": FILE_NAME, "mode": "EXCLUSIVE", "reason": "\u{1b}[2Jwiped"}),
    );
    assert_eq!(claim["isError"], false, "{claim}");
    let listed = human(&mut pcc(&env, &["claims"]));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(lines[0].starts_with("FILE "), "{listed}");
    assert!(lines[1].starts_with(&c_quoted(FILE_NAME)), "{listed}");
    assert!(lines[1].ends_with("\"\\033[2Jwiped\""), "{listed}");
    let (_, claims) = env.json(&mut pcc(&env, &["claims", "--json"]));
    assert_eq!(claims["claims"][0]["file_path"], FILE_NAME);
    assert_eq!(claims["claims"][0]["metadata"]["reason"], "\u{1b}[2Jwiped");

    // release keeps the worktree (it holds work): kept path quoted, and so
    // in status's kept worktrees.
    std::fs::write(worktree.join("draft.txt"), "work\n").unwrap();
    let released = human(
        env.pcc("git-pcc-release")
            .args(["--session-id", session["sessionId"].as_str().unwrap()]),
    );
    assert!(
        released
            .lines()
            .any(|l| l.starts_with("kept ") && l.ends_with(&quoted_worktree)),
        "{released}"
    );
    let shown = human(&mut pcc(&env, &["status", "--all"]));
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with(&format!("{quoted_worktree}  "))),
        "{shown}"
    );
    let (_, status) = env.json(&mut pcc(&env, &["status", "--json"]));
    assert_eq!(
        status["keptWorktrees"][0]["worktreePath"],
        Value::from(as_str(&worktree))
    );

    // cleanup of a dead worktree session, and of the kept worktree.
    let mut dead = LiveProcess::spawn();
    let third = env.register(&repo, dead.pid());
    let dead_worktree = third["worktreePath"].as_str().unwrap().to_owned();
    dead.kill();
    let cleaned = human(&mut pcc(&env, &["cleanup", "--force", "--all"]));
    assert!(
        cleaned.contains(&format!("removed worktree {}\n", c_quoted(&dead_worktree))),
        "{cleaned}"
    );
    assert!(
        cleaned.contains(&format!("removed worktree {quoted_worktree}\n")),
        "{cleaned}"
    );
}
