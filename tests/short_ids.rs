//! Ids as `status` shows them (8 characters) work wherever an id is taken:
//! any unique prefix of 4 or more characters; an ambiguous one is refused
//! with the candidates listed, and a prefix too short matches nothing.

mod support;

use support::{main_and_worktree, TestEnv};

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn release_and_heartbeat_take_the_short_id_status_shows() {
    let s = main_and_worktree("app", &[("README.md", "hello\n")]);
    let short = &s.agent_id[..8];
    let output = s
        .env
        .pcc("git-pcc")
        .current_dir(&s.repo)
        .arg("status")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains(short));

    let (output, beat) =
        s.env.json(
            s.env
                .pcc("git-pcc")
                .args(["heartbeat", "--session-id", short, "--json"]),
        );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(beat["sessionId"], s.agent_id.as_str());
    assert_eq!(beat["matchedBy"], "session-id");

    // The wrapper's call, with a prefix too.
    let output = s
        .env
        .pcc("git-pcc")
        .args(["heartbeat", "--session-id", &s.agent_id[..6]])
        .args(["--agent-pid", &s.agent.pid().to_string()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let (output, released) =
        s.env.json(
            s.env
                .pcc("git-pcc-release")
                .args(["--session-id", &s.agent_id[..4], "--json"]),
        );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(released["sessionId"], s.agent_id.as_str());
    assert_eq!(released["worktreeRemoved"], true);
    assert!(!s.worktree.exists());
    // Through the front door too.
    let output = s
        .env
        .pcc("git-pcc")
        .args(["release", "--session-id", &s.main_id[..8]])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(s.env.session_rows(), 0);
}

#[test]
fn an_ambiguous_prefix_lists_the_sessions_it_names() {
    let s = main_and_worktree("app", &[("README.md", "hello\n")]);
    // Two sessions whose ids start alike (ids are ours to choose here).
    let first = format!("abcd1111{}", &s.main_id[8..]);
    let second = format!("abcd2222{}", &s.agent_id[8..]);
    let db = s.env.db();
    db.execute(
        "UPDATE sessions SET id = ?1 WHERE id = ?2",
        [&first, &s.main_id],
    )
    .unwrap();
    db.execute(
        "UPDATE sessions SET id = ?1 WHERE id = ?2",
        [&second, &s.agent_id],
    )
    .unwrap();
    drop(db);

    for command in [
        vec!["git-pcc-release", "--session-id", "abcd"],
        vec!["git-pcc", "heartbeat", "--session-id", "abcd"],
    ] {
        let output = s.env.pcc(command[0]).args(&command[1..]).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{command:?}");
        let text = stderr(&output);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("'abcd' names 2 sessions:"), "{text}");
        assert!(text.contains(&first) && text.contains(&second), "{text}");
        assert!(text.contains(&format!("pid {}", s.main.pid())), "{text}");
        assert!(text.contains("give more of the id"), "{text}");
    }
    assert_eq!(s.env.session_rows(), 2, "nothing was released");

    // More of it names one.
    let output = s
        .env
        .pcc("git-pcc-release")
        .args(["--session-id", "abcd2"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(s.env.session_rows(), 1);
}

#[test]
fn a_prefix_shorter_than_four_characters_names_nothing() {
    let s = main_and_worktree("app", &[("README.md", "hello\n")]);
    let output = s
        .env
        .pcc("git-pcc-release")
        .args(["--session-id", &s.agent_id[..3]])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("no session with id"), "{text}");
    assert!(text.contains("first 4 or more characters"), "{text}");
    assert_eq!(s.env.session_rows(), 2);
}

#[test]
fn sandbox_commands_list_the_runs_an_ambiguous_prefix_names() {
    let env = TestEnv::new();
    // A database with two runs whose ids start alike.
    let output = env.pcc("git-pcc").arg("update").output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let db = env.db();
    for id in [
        "beef0001-0000-4000-8000-000000000000",
        "beef0002-0000-4000-8000-000000000000",
    ] {
        db.execute(
            "INSERT INTO sandbox_runs (id, repo_path, prompt, status) VALUES (?1, '/nowhere', 'x', 'COMPLETED')",
            [id],
        )
        .unwrap();
    }
    drop(db);
    let output = env
        .pcc("git-pcc-sandbox")
        .args(["status", "--session-id", "beef"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("'beef' names 2 sandbox runs:"), "{text}");
    assert!(
        text.contains("beef0001-0000") && text.contains("beef0002-0000"),
        "{text}"
    );
    assert!(text.contains("COMPLETED"), "{text}");
}
