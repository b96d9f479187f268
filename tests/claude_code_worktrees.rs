//! Worktrees with the real Claude Code CLI, offline against the scripted
//! model server: `claude-parallel --resume ID` re-enters the worktree the
//! conversation worked in (kept, or made again when it held nothing and
//! went) and Claude Code goes on with that conversation; worktrees the
//! real `claude --worktree` makes itself, without our `WorktreeCreate`
//! hook, are listed by `git pcc status` and removed by `git pcc cleanup`
//! only when they hold nothing.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::claude::{claude_bin, path_with_claude, wait_for, ModelServer};
use support::wrapper;
use support::{LiveProcess, TestEnv};

/// The one scripted step: whatever `step.sh` in the output directory says
/// (the model stand-in runs the same command in every conversation; the
/// test rewrites the script between runs).
fn scripted_steps() -> Vec<String> {
    vec![r#"sh "$E2E_OUT/step.sh""#.to_owned()]
}

/// Runs `program` (the real claude, or claude-parallel around it) in `cwd`
/// with `args`, waits for it and asserts that it succeeded.
fn run(
    env: &TestEnv,
    server: &ModelServer,
    program: &Path,
    cwd: &Path,
    out: &Path,
    args: &[&str],
) -> Output {
    let mut command = env.command(program);
    server.configure(&mut command);
    let mut child = command
        .current_dir(cwd)
        .env("PATH", path_with_claude(env))
        .env("E2E_OUT", out)
        .args(args)
        .arg("--dangerously-skip-permissions")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for(&mut child, 120);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    std::io::Read::read_to_end(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    std::io::Read::read_to_end(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let output = Output {
        status,
        stdout,
        stderr,
    };
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The conversation id Claude Code reports with `--output-format json`.
fn conversation_of(output: &Output) -> String {
    let value: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stdout)));
    value["session_id"].as_str().unwrap().to_owned()
}

/// The bodies of the model requests (with tools) whose messages hold
/// `text`.
fn requests_with(server: &ModelServer, text: &str) -> Vec<Value> {
    std::fs::read_to_string(&server.log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["body"].clone())
        .filter(|body| body["tools"].is_array())
        .filter(|body| body["messages"].to_string().contains(text))
        .collect()
}

/// A repository whose main checkout a live session holds, so that a
/// wrapped session gets a worktree of its own.
fn busy_repository(env: &TestEnv) -> (PathBuf, PathBuf, LiveProcess) {
    let repo = env.repo("app");
    let out = env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    support::install_hooks(env);
    let main = LiveProcess::spawn();
    env.register(&repo, main.pid());
    (repo, out, main)
}

fn first_conversation(
    env: &TestEnv,
    server: &ModelServer,
    repo: &Path,
    out: &Path,
    step: &str,
) -> (String, PathBuf) {
    std::fs::write(out.join("step.sh"), step).unwrap();
    let output = run(
        env,
        server,
        &wrapper(),
        repo,
        out,
        &[
            "-p",
            "FIRST-PROMPT write the draft",
            "--output-format",
            "json",
        ],
    );
    let conversation = conversation_of(&output);
    let worktree = PathBuf::from(std::fs::read_to_string(out.join("pwd.txt")).unwrap().trim());
    assert!(
        worktree.starts_with(env.path().join("app-worktrees")),
        "the first conversation worked in a worktree of ours: {}",
        worktree.display()
    );
    (conversation, worktree)
}

/// Resumes `conversation` through claude-parallel and checks that the real
/// CLI went on with it: the model stand-in saw the first conversation's
/// prompt and tool result in the resumed request, and the request says it
/// runs in `worktree`. Returns the wrapper's stderr.
fn resume(
    env: &TestEnv,
    server: &ModelServer,
    repo: &Path,
    out: &Path,
    conversation: &str,
    worktree: &Path,
) -> String {
    let output = run(
        env,
        server,
        &wrapper(),
        repo,
        out,
        &[
            "--resume",
            conversation,
            "-p",
            "SECOND-PROMPT go on",
            "--output-format",
            "json",
        ],
    );
    assert_eq!(conversation_of(&output), conversation);
    let resumed = requests_with(server, "SECOND-PROMPT");
    assert!(
        !resumed.is_empty(),
        "the resumed conversation asked the model"
    );
    let body = resumed[0].to_string();
    assert!(
        body.contains("FIRST-PROMPT") && body.contains("tool_result"),
        "the resumed request holds the first conversation: {body}"
    );
    assert!(
        body.contains(worktree.to_str().unwrap()),
        "the resumed conversation runs in {}: {body}",
        worktree.display()
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn resuming_a_conversation_re_enters_the_worktree_it_kept() {
    let env = TestEnv::new();
    let (repo, out, _main) = busy_repository(&env);
    let server = ModelServer::start(&env, &scripted_steps(), "draft written");

    let step = "pwd -P > \"$E2E_OUT/pwd.txt\"\necho half done > draft.txt\n";
    let (conversation, worktree) = first_conversation(&env, &server, &repo, &out, step);

    // The draft is work: the worktree stays, with its conversation.
    let kept = env.status()["keptWorktrees"].clone();
    assert_eq!(
        kept[0]["worktreePath"],
        worktree.to_str().unwrap(),
        "{kept}"
    );
    assert_eq!(kept[0]["conversationId"], conversation.as_str());

    let stderr = resume(&env, &server, &repo, &out, &conversation, &worktree);
    assert!(
        stderr.contains(&format!(
            "resuming conversation {conversation} in the worktree it worked in, {}",
            worktree.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("made again"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(worktree.join("draft.txt")).unwrap(),
        "half done\n"
    );
    // Still work when the resumed session ends: kept again, not a new one.
    let kept = env.status()["keptWorktrees"].clone();
    assert_eq!(kept.as_array().unwrap().len(), 1, "{kept}");
    assert_eq!(kept[0]["worktreePath"], worktree.to_str().unwrap());
    assert_eq!(kept[0]["conversationId"], conversation.as_str());
}

#[test]
fn resuming_a_conversation_whose_clean_worktree_went_makes_it_again() {
    let env = TestEnv::new();
    let (repo, out, _main) = busy_repository(&env);
    let server = ModelServer::start(&env, &scripted_steps(), "nothing to change");

    let step = "pwd -P > \"$E2E_OUT/pwd.txt\"\n";
    let (conversation, worktree) = first_conversation(&env, &server, &repo, &out, step);
    let name = worktree.file_name().unwrap().to_str().unwrap().to_owned();
    let branch = format!("parallel/{name}");

    // It held nothing: gone with its branch, and remembered.
    assert!(!worktree.exists());
    assert_eq!(env.git(&repo, &["branch", "--list", &branch]), "");
    assert_eq!(env.status()["keptWorktrees"], serde_json::json!([]));
    let remembered: String = env
        .db()
        .query_row(
            "SELECT worktree_path FROM removed_conversation_worktrees WHERE conversation_id = ?1",
            [&conversation],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(remembered, worktree.to_str().unwrap());
    let main_head = env.git(&repo, &["rev-parse", "HEAD"]);

    let stderr = resume(&env, &server, &repo, &out, &conversation, &worktree);
    assert!(
        stderr.contains(&format!(
            "resuming conversation {conversation} in the worktree it worked in, {}, made again on its branch",
            worktree.display()
        )),
        "{stderr}"
    );
    // The resumed session ended clean too: removed again, remembered again.
    assert!(!worktree.exists());
    assert_eq!(env.git(&repo, &["branch", "--list", &branch]), "");
    let count: i64 = env
        .db()
        .query_row(
            "SELECT count(*) FROM removed_conversation_worktrees WHERE conversation_id = ?1",
            [&conversation],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(count, 1);

    // While made again, it was the same worktree on the same branch at
    // the same commit: register --resume shows it without an agent.
    let agent = LiveProcess::spawn();
    let (output, value) = env.json(
        env.pcc("git-pcc-register")
            .arg("--repo")
            .arg(&repo)
            .args(["--pid", &agent.pid().to_string(), "--json", "--resume"])
            .arg(&conversation),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(value["worktreePath"], worktree.to_str().unwrap());
    assert_eq!(value["branch"], branch.as_str());
    assert_eq!(value["resumed"], conversation.as_str());
    assert_eq!(value["recreated"], true);
    assert_eq!(env.git(&worktree, &["rev-parse", "HEAD"]), main_head);
    assert_eq!(env.git(&worktree, &["status", "--porcelain"]), "");
}

/// Removes our `WorktreeCreate` and `WorktreeRemove` hooks from the user's
/// Claude Code settings, as a user who wants Claude Code's own worktrees
/// would; the other hooks stay.
fn uninstall_worktree_hooks(env: &TestEnv) {
    let settings = env.home.join(".claude/settings.json");
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    let hooks = value["hooks"].as_object_mut().unwrap();
    assert!(hooks.remove("WorktreeCreate").is_some(), "{settings:?}");
    hooks.remove("WorktreeRemove");
    std::fs::write(&settings, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

fn unaccounted(env: &TestEnv, repo: &Path) -> Vec<Value> {
    let (output, value) = env.json(
        env.pcc("git-pcc")
            .args(["status", "--json", "--repo"])
            .arg(repo),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    value["unaccountedWorktrees"].as_array().unwrap().clone()
}

#[test]
fn worktrees_the_real_claude_makes_itself_are_listed_and_cleaned_when_they_hold_nothing() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let out = env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    support::install_hooks(&env);
    uninstall_worktree_hooks(&env);
    let server = ModelServer::start(&env, &scripted_steps(), "looked around");

    std::fs::write(out.join("step.sh"), "pwd -P >> \"$E2E_OUT/pwd.txt\"\n").unwrap();
    run(
        &env,
        &server,
        &claude_bin(),
        &repo,
        &out,
        &["-w", "quick-look", "-p", "look"],
    );
    std::fs::write(
        out.join("step.sh"),
        "pwd -P >> \"$E2E_OUT/pwd.txt\"\necho draft > notes.txt\n",
    )
    .unwrap();
    run(
        &env,
        &server,
        &claude_bin(),
        &repo,
        &out,
        &["-w", "with-notes", "-p", "write notes"],
    );

    // Claude Code made them itself, where it puts them, and worked there.
    let root = repo.join(".claude/worktrees");
    let (clean, dirty) = (root.join("quick-look"), root.join("with-notes"));
    let places = std::fs::read_to_string(out.join("pwd.txt")).unwrap();
    assert_eq!(
        places.lines().collect::<Vec<_>>(),
        vec![clean.to_str().unwrap(), dirty.to_str().unwrap()]
    );
    assert!(
        !env.path().join("app-worktrees").exists(),
        "none of ours was made"
    );
    let listed = env.git(&repo, &["worktree", "list", "--porcelain"]);
    assert!(
        listed.contains(&format!("worktree {}", clean.display())),
        "{listed}"
    );
    // It leaves its worktrees locked by its own, ended, process.
    assert!(
        listed.contains("locked claude session quick-look (pid "),
        "{listed}"
    );

    let found = unaccounted(&env, &repo);
    assert_eq!(found.len(), 2, "{found:?}");
    let entry = |path: &Path| {
        found
            .iter()
            .find(|u| u["worktreePath"] == path.to_str().unwrap())
            .unwrap_or_else(|| panic!("{} in {found:?}", path.display()))
            .clone()
    };
    let branch_of_clean = entry(&clean)["branch"].as_str().unwrap().to_owned();
    assert_eq!(branch_of_clean, "worktree-quick-look");
    assert_eq!(entry(&clean)["madeBy"], "claude-code");
    assert_eq!(entry(&clean)["heldWork"], Value::Null);
    assert_eq!(entry(&dirty)["madeBy"], "claude-code");
    assert_eq!(entry(&dirty)["heldWork"], "1 uncommitted file");
    let human = env
        .pcc("git-pcc")
        .args(["status", "--repo"])
        .arg(&repo)
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.contains("claude-code, clean: cleanup removes it"),
        "{human}"
    );

    let (output, report) = env.json(
        env.pcc("git-pcc")
            .args(["cleanup", "--json", "--repo"])
            .arg(&repo),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let removed: Vec<&str> = report["removedWorktrees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| v["worktreePath"].as_str().unwrap())
        })
        .collect();
    assert_eq!(removed, vec![clean.to_str().unwrap()], "{report}");
    let kept = report["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{report}");
    assert_eq!(kept[0]["worktreePath"], dirty.to_str().unwrap());
    assert_eq!(kept[0]["reason"], "1 uncommitted file");

    assert!(!clean.exists());
    assert_eq!(env.git(&repo, &["branch", "--list", &branch_of_clean]), "");
    let listed = env.git(&repo, &["worktree", "list", "--porcelain"]);
    assert!(!listed.contains(clean.to_str().unwrap()), "{listed}");
    assert!(listed.contains(dirty.to_str().unwrap()), "{listed}");
    assert_eq!(
        std::fs::read_to_string(dirty.join("notes.txt")).unwrap(),
        "draft\n"
    );
    // git itself still sees the kept one whole.
    let status = Command::new("git")
        .arg("-C")
        .arg(&dirty)
        .args(["status", "--porcelain"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "?? notes.txt\n");
}
