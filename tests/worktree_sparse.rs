//! Sparse worktrees (`worktree.sparsePaths`, per user or per repository):
//! a new worktree holds only the cone's files, as `git sparse-checkout set
//! --cone` leaves one, git agrees on every point, the agent can widen it,
//! and held work and removal work as for a full worktree. The large
//! repository is generated once per test run and cloned by each test.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;
use support::{LiveProcess, TestEnv};

/// Directories `pkg/p00` .. `pkg/p19`, each with `FILES_PER_PACKAGE` files
/// in two levels, plus `docs/` and top-level files.
const PACKAGES: usize = 20;
const FILES_PER_PACKAGE: usize = 200;

/// The generated repository, made once (with `git fast-import`).
fn generated() -> &'static Path {
    static REPO: OnceLock<PathBuf> = OnceLock::new();
    REPO.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("pcc-sparse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .current_dir(&dir)
                .args(args)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .status()
                .unwrap();
            assert!(status.success());
        };
        git(&["init", "-q", "-b", "main"]);
        let mut import = Command::new("git")
            .current_dir(&dir)
            .args(["fast-import", "--quiet"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let stdin = import.stdin.as_mut().unwrap();
            let mut script = String::new();
            script.push_str(
                "commit refs/heads/main\ncommitter Test <t@example.com> 1767225600 +0000\ndata 8\ngenerate\n",
            );
            let mut file = |path: &str, content: &str| {
                script.push_str(&format!(
                    "M 100644 inline {path}\ndata {}\n{content}\n",
                    content.len()
                ));
            };
            file("README.md", "hello\n");
            file("Makefile", "all:\n");
            file("docs/guide.md", "guide\n");
            for p in 0..PACKAGES {
                file(&format!("pkg/p{p:02}.toml"), "top of pkg\n");
                for f in 0..FILES_PER_PACKAGE {
                    file(
                        &format!("pkg/p{p:02}/m{}/f{f}.rs", f % 4),
                        &format!("pub const N: u32 = {f};\n"),
                    );
                }
            }
            stdin.write_all(script.as_bytes()).unwrap();
        }
        assert!(import.wait().unwrap().success());
        git(&["reset", "-q", "--hard", "main"]);
        dir
    })
}

/// A clone of the generated repository in `env`, as `app`.
fn large_repo(env: &TestEnv) -> PathBuf {
    let repo = env.path().join("app");
    env.git(
        &env.path(),
        &[
            "clone",
            "-q",
            "--no-hardlinks",
            generated().to_str().unwrap(),
            repo.to_str().unwrap(),
        ],
    );
    repo
}

fn config_set(env: &TestEnv, key: &str, value: &str) {
    let output = env
        .pcc("git-pcc")
        .args(["config", "set", key, value])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn files_on_disk(dir: &Path) -> usize {
    let mut count = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            if entry.file_name() == ".git" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                count += 1;
            }
        }
    }
    count
}

fn release(env: &TestEnv, pid: u32) -> Value {
    let (output, value) =
        env.json(
            env.pcc("git-pcc-release")
                .args(["--pid", &pid.to_string(), "--json"]),
        );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

fn worktree_of(value: &Value) -> PathBuf {
    PathBuf::from(value["worktreePath"].as_str().unwrap())
}

const TOTAL: usize = 3 + PACKAGES * (FILES_PER_PACKAGE + 1);

#[test]
fn a_sparse_worktree_holds_the_cone_and_git_agrees() {
    let env = TestEnv::new();
    let repo = large_repo(&env);
    config_set(&env, "worktree.sparsePaths", "[\"pkg/p03\", \"docs/\"]");
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let worktree = worktree_of(&env.register(&repo, agent.pid()));

    // Top-level files, the cone's directories, and pkg/'s own files.
    assert_eq!(files_on_disk(&worktree), 3 + PACKAGES + FILES_PER_PACKAGE);
    assert!(worktree.join("pkg/p03/m1/f1.rs").exists());
    assert!(worktree.join("pkg/p07.toml").exists());
    assert!(!worktree.join("pkg/p04").exists());
    assert_eq!(
        env.git(&worktree, &["sparse-checkout", "list"]),
        "docs\npkg/p03\n"
    );
    assert_eq!(
        env.git(&worktree, &["config", "core.sparseCheckoutCone"]),
        "true\n"
    );
    assert_eq!(env.git(&worktree, &["ls-files"]).lines().count(), TOTAL);
    let skipped = env
        .git(&worktree, &["ls-files", "-t"])
        .lines()
        .filter(|l| l.starts_with("S "))
        .count();
    assert_eq!(skipped, TOTAL - (3 + PACKAGES + FILES_PER_PACKAGE));
    assert_eq!(env.git(&worktree, &["status", "--porcelain"]), "");
    // The main checkout is as full as ever.
    assert_eq!(files_on_disk(&repo), TOTAL);
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
    let main_sparse = env
        .command("git")
        .current_dir(&repo)
        .args(["sparse-checkout", "list"])
        .output()
        .unwrap();
    assert!(
        !main_sparse.status.success(),
        "the main checkout is not sparse"
    );

    let session = env.status()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["pid"] == agent.pid())
        .cloned()
        .unwrap();
    assert_eq!(session["holdsWork"], false);
    assert_eq!(session["changedFiles"], 0);

    let released = release(&env, agent.pid());
    assert_eq!(released["worktreeRemoved"], true, "{released}");
    assert!(!worktree.exists());
    assert_eq!(env.git(&repo, &["worktree", "list"]).lines().count(), 1);
}

#[test]
fn the_agent_widens_its_sparse_worktree_and_its_work_is_kept() {
    let env = TestEnv::new();
    let repo = large_repo(&env);
    config_set(&env, "worktree.sparsePaths", "[\"pkg/p00\"]");
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let worktree = worktree_of(&env.register(&repo, agent.pid()));
    env.git(&worktree, &["sparse-checkout", "add", "pkg/p09"]);
    assert_eq!(
        env.git(&worktree, &["sparse-checkout", "list"]),
        "pkg/p00\npkg/p09\n"
    );
    assert!(worktree.join("pkg/p09/m2/f2.rs").exists());
    assert_eq!(env.git(&worktree, &["status", "--porcelain"]), "");

    std::fs::write(worktree.join("pkg/p09/m2/f2.rs"), "changed\n").unwrap();
    let released = release(&env, agent.pid());
    assert_eq!(released["worktreeRemoved"], false);
    assert_eq!(released["kept"]["reason"], "1 uncommitted file");
    assert_eq!(
        std::fs::read_to_string(worktree.join("pkg/p09/m2/f2.rs")).unwrap(),
        "changed\n"
    );
}

#[test]
fn a_repository_names_its_own_sparse_paths() {
    let env = TestEnv::new();
    let repo = large_repo(&env);
    std::fs::write(
        repo.join(".parallel-cc.json"),
        "{\"worktree\": {\"sparsePaths\": [\"pkg/p01\"]}}\n",
    )
    .unwrap();
    env.git(&repo, &["add", ".parallel-cc.json"]);
    env.git(&repo, &["commit", "-q", "-m", "sparse paths"]);
    let main = LiveProcess::spawn();
    let a = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let worktree = worktree_of(&env.register(&repo, a.pid()));
    assert_eq!(
        env.git(&worktree, &["sparse-checkout", "list"]),
        "pkg/p01\n"
    );

    // Its git config wins over the file.
    env.git(
        &repo,
        &["config", "--add", "pcc.worktree.sparsePaths", "pkg/p02"],
    );
    env.git(
        &repo,
        &["config", "--add", "pcc.worktree.sparsePaths", "docs"],
    );
    let b = LiveProcess::spawn();
    let worktree = worktree_of(&env.register(&repo, b.pid()));
    assert_eq!(
        env.git(&worktree, &["sparse-checkout", "list"]),
        "docs\npkg/p02\n"
    );
    assert_eq!(env.git(&worktree, &["status", "--porcelain"]), "");
}

#[test]
fn sparse_paths_that_are_not_directories_are_refused() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    config_set(&env, "worktree.sparsePaths", "[\"../elsewhere\"]");
    let main = LiveProcess::spawn();
    let agent = LiveProcess::spawn();
    env.register(&repo, main.pid());
    let output = env
        .pcc("git-pcc-register")
        .arg("--repo")
        .arg(&repo)
        .args(["--pid", &agent.pid().to_string()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("worktree.sparsePaths holds '../elsewhere'"),
        "{stderr}"
    );
    assert_eq!(env.git(&repo, &["worktree", "list"]).lines().count(), 1);
    assert_eq!(env.git(&repo, &["branch", "--list", "parallel/*"]), "");
}
