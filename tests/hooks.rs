//! The Claude Code hook entry points run directly with the payloads Claude
//! Code sends: names the agent asks `WorktreeCreate` for become valid
//! branch names, whatever they are.

mod support;

use std::path::{Path, PathBuf};

use serde_json::json;
use support::TestEnv;

fn worktree_create(env: &TestEnv, repo: &Path, name: &str) -> PathBuf {
    let payload = json!({
        "session_id": "c",
        "cwd": repo,
        "hook_event_name": "WorktreeCreate",
        "name": name,
    });
    let mut command = env.pcc("git-pcc");
    command.args(["hook", "worktree-create"]).current_dir(repo);
    let output = support::with_stdin(command, payload.to_string().as_bytes());
    assert!(
        output.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

#[test]
fn worktree_names_git_would_refuse_become_valid_branches() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    for (asked, expected) in [
        ("a..b", "a.b"),
        ("x.lock", "x"),
        ("feature/login", "feature-login"),
        (".hidden", "hidden"),
        // Nothing usable left: a name of 8 hex digits, as sessions get.
        ("..", ""),
    ] {
        let path = worktree_create(&env, &repo, asked);
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with(expected), "{asked} became {name}");
        if expected.is_empty() {
            assert!(
                name.len() == 8 && name.chars().all(|c| c.is_ascii_hexdigit()),
                "{asked} became {name}"
            );
        }
        let branch = env.git(&path, &["rev-parse", "--abbrev-ref", "HEAD"]);
        let branch = branch.trim();
        assert_eq!(branch, format!("parallel/{name}"));
        env.git(&repo, &["check-ref-format", "--branch", branch]);
        assert_eq!(env.git(&path, &["status", "--porcelain"]), "");
    }
}
