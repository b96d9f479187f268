//! A new worktree holds exactly the tree of HEAD, as git itself would write
//! it: modes, symlinks, binary bytes, and line endings where attributes ask.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::{LiveProcess, TestEnv};

fn worktree_for(env: &TestEnv, repo: &Path) -> (PathBuf, [LiveProcess; 2]) {
    let agents = [LiveProcess::spawn(), LiveProcess::spawn()];
    env.register(repo, agents[0].pid());
    let registration = env.register(repo, agents[1].pid());
    (
        PathBuf::from(registration["worktreePath"].as_str().unwrap()),
        agents,
    )
}

#[test]
fn modes_symlinks_and_bytes_match_the_commit() {
    let env = TestEnv::new();
    let repo = env.repo_with(
        "app",
        &[
            ("bin/run.sh", "#!/bin/sh\necho hi\n"),
            ("docs/a/b/c.md", "deep\n"),
        ],
    );
    std::fs::set_permissions(
        repo.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("docs/a/b/c.md", repo.join("link.md")).unwrap();
    std::fs::write(repo.join("data.bin"), [0u8, 159, 146, 150, 13, 10, 255]).unwrap();
    std::fs::write(repo.join("windows.txt"), "one\r\ntwo\r\n").unwrap();
    env.git(&repo, &["add", "-A"]);
    env.git(&repo, &["commit", "-q", "-m", "content"]);

    let (worktree, _agents) = worktree_for(&env, &repo);
    assert_eq!(
        env.git(
            &worktree,
            &["status", "--porcelain", "--untracked-files=all"]
        ),
        ""
    );
    assert_eq!(
        env.git(&worktree, &["ls-files", "-s"]),
        env.git(&repo, &["ls-files", "-s"])
    );
    assert_eq!(env.git(&worktree, &["diff", "--stat", "HEAD"]), "");
    let mode = std::fs::metadata(worktree.join("bin/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "executable bit kept: {mode:o}");
    assert_eq!(
        std::fs::read_link(worktree.join("link.md")).unwrap(),
        Path::new("docs/a/b/c.md")
    );
    assert_eq!(
        std::fs::read(worktree.join("data.bin")).unwrap(),
        [0u8, 159, 146, 150, 13, 10, 255]
    );
    assert_eq!(
        std::fs::read(worktree.join("windows.txt")).unwrap(),
        b"one\r\ntwo\r\n"
    );

    // It is an ordinary worktree: git can commit in it and prune finds nothing.
    std::fs::write(worktree.join("new.txt"), "new\n").unwrap();
    env.git(&worktree, &["add", "new.txt"]);
    env.git(&worktree, &["commit", "-q", "-m", "in the worktree"]);
    assert_eq!(
        env.git(&repo, &["worktree", "prune", "--dry-run", "-v"]),
        ""
    );
    let list = env.git(&repo, &["worktree", "list", "--porcelain"]);
    assert!(
        list.contains(&format!("worktree {}\n", worktree.display())),
        "{list}"
    );
}

#[test]
fn attributes_are_applied_when_the_repository_has_them() {
    let env = TestEnv::new();
    let repo = env.repo_with(
        "app",
        &[
            (".gitattributes", "*.txt text eol=crlf\n"),
            ("notes.txt", "a\nb\n"),
        ],
    );
    let (worktree, _agents) = worktree_for(&env, &repo);
    assert_eq!(
        std::fs::read(worktree.join("notes.txt")).unwrap(),
        b"a\r\nb\r\n"
    );
    assert_eq!(env.git(&worktree, &["status", "--porcelain"]), "");
}
