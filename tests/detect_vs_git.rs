//! `conflicts --detect` against git's own merge: in a repository built here
//! with branches that edit, delete, rename, add and binary-change files,
//! files whose merge conflicts with git's histogram diff but not with Myers
//! (and the reverse), and a criss-cross history with two merge bases, every
//! pair of branches is merged by `git merge-tree --write-tree --name-only
//! --messages -z` and by `git pcc conflicts --detect --json`; the files and
//! kinds must be the same. Then the same for the merges of this project's
//! own history, when the tests run from a clone of it.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use support::TestEnv;

/// What git's merge conflicts on: path -> kind, from `-z --messages`.
fn git_conflicts(env: &TestEnv, repo: &Path, ours: &str, theirs: &str) -> BTreeMap<String, String> {
    let output = env
        .command("git")
        .current_dir(repo)
        .args([
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--messages",
            "-z",
            ours,
            theirs,
        ])
        .output()
        .unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "git merge-tree {ours} {theirs}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let mut fields = text.split('\0');
    fields.next(); // the tree
    let mut paths: Vec<String> = Vec::new();
    for field in fields.by_ref() {
        if field.is_empty() {
            break;
        }
        paths.push(field.to_owned());
    }
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    while let Some(count) = fields.next().filter(|f| !f.is_empty()) {
        let count: usize = count.parse().unwrap();
        let named: Vec<String> = (0..count)
            .map(|_| fields.next().unwrap().to_owned())
            .collect();
        let (kind, message) = (fields.next().unwrap(), fields.next().unwrap());
        let kind = match kind {
            "CONFLICT (contents)" if message.starts_with("CONFLICT (add/add)") => "add/add",
            "CONFLICT (contents)" => "content",
            "CONFLICT (binary)" => "binary",
            "CONFLICT (modify/delete)" => "modify/delete",
            "CONFLICT (rename/delete)" => "rename/delete",
            "CONFLICT (rename/rename)" => "rename/rename",
            other if other.starts_with("CONFLICT") => other,
            _ => continue,
        };
        for path in named {
            // A path's first conflict names it (a renamed file both
            // modified and deleted is rename/delete, then modify/delete),
            // but a binary file's content conflict is reported as binary.
            let known = kinds.get(&path).map(String::as_str);
            if known.is_none() || (known == Some("content") && kind == "binary") {
                kinds.insert(path, kind.to_owned());
            }
        }
    }
    for path in &paths {
        assert!(
            kinds.contains_key(path),
            "no message names {path} ({ours} {theirs}): {text:?}"
        );
    }
    kinds.retain(|path, _| paths.contains(path));
    kinds
}

/// What `conflicts --detect` reports: path -> kind.
fn our_conflicts(env: &TestEnv, repo: &Path, ours: &str, theirs: &str) -> BTreeMap<String, String> {
    let mut command = env.pcc("git-pcc");
    command.current_dir(repo).args([
        "conflicts",
        "--detect",
        "--current-branch",
        ours,
        "--target-branch",
        theirs,
        "--json",
    ]);
    let (output, json) = env.json(&mut command);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["filePath"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn numbered(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("line {n}\n"))
        .collect()
}

fn lines_of(words: &[&str]) -> String {
    words.iter().map(|w| format!("{w}\n")).collect()
}

/// Replaces line `n` (1-based) of a file.
fn with_line(text: &str, n: usize, line: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[n - 1] = line.to_owned();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// A branch `name` from `from` with `files` written (None: deleted) and
/// `renames` made, committed.
fn branch(
    env: &TestEnv,
    repo: &Path,
    name: &str,
    from: &str,
    renames: &[(&str, &str)],
    files: &[(&str, Option<Vec<u8>>)],
) {
    env.git(repo, &["checkout", "-q", "-b", name, from]);
    for (old, new) in renames {
        if let Some(parent) = Path::new(new).parent() {
            std::fs::create_dir_all(repo.join(parent)).unwrap();
        }
        env.git(repo, &["mv", old, new]);
    }
    for (path, content) in files {
        match content {
            Some(content) => {
                std::fs::create_dir_all(repo.join(path).parent().unwrap()).unwrap();
                std::fs::write(repo.join(path), content).unwrap();
                env.git(repo, &["add", path]);
            }
            None => {
                env.git(repo, &["rm", "-q", path]);
            }
        }
    }
    env.git(repo, &["commit", "-q", "-m", name]);
}

fn text(content: &str) -> Option<Vec<u8>> {
    Some(content.as_bytes().to_vec())
}

/// Merges `other` into the branch checked out, resolving `file` to `content`.
fn merge_resolving(
    env: &TestEnv,
    repo: &Path,
    name: &str,
    from: &str,
    other: &str,
    file: &str,
    content: &str,
) {
    env.git(repo, &["checkout", "-q", "-b", name, from]);
    let _ = env
        .command("git")
        .current_dir(repo)
        .args(["merge", "-q", "--no-commit", other])
        .output()
        .unwrap();
    std::fs::write(repo.join(file), content).unwrap();
    env.git(repo, &["add", file]);
    env.git(repo, &["commit", "-q", "--no-edit", "-m", name]);
}

/// Whether `git merge-file` with the given diff algorithm conflicts.
fn merge_file_conflicts(dir: &Path, algorithm: &str, base: &str, ours: &str, theirs: &str) -> bool {
    for (name, content) in [("b", base), ("o", ours), ("t", theirs)] {
        std::fs::write(dir.join(name), content).unwrap();
    }
    let status = Command::new("git")
        .current_dir(dir)
        .args([
            "merge-file",
            "-q",
            "-p",
            &format!("--diff-algorithm={algorithm}"),
            "o",
            "b",
            "t",
        ])
        .output()
        .unwrap()
        .status;
    status.code().unwrap() > 0
}

#[test]
fn every_pair_of_branches_conflicts_where_git_merge_tree_does() {
    let env = TestEnv::new();
    let a = numbered(1, 40);
    let rename_me = numbered(100, 40);
    let keep = numbered(200, 40);
    // Merges where histogram and Myers disagree: one clean only with
    // histogram, one conflicting only with it.
    let clean_base = lines_of(&["a", "b", "c", "b", "", "{", "c"]);
    let clean_ours = lines_of(&["a", "b", "}", "a", "}", "c", "b", "", "{", "c"]);
    let clean_theirs = lines_of(&["b", "b", "c", "x", "", "{", "", "c"]);
    let hist_base = lines_of(&["a", "", "{", "c", "x", "c", "{", "{"]);
    let hist_ours = lines_of(&["a", "", "{", "c", "x", "c", "{", "{", "b"]);
    let hist_theirs = lines_of(&["a", "", "{", "c", "x", "", "c", "}", "c", "{"]);
    let scratch = env.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    assert!(!merge_file_conflicts(
        &scratch,
        "histogram",
        &clean_base,
        &clean_ours,
        &clean_theirs
    ));
    assert!(merge_file_conflicts(
        &scratch,
        "myers",
        &clean_base,
        &clean_ours,
        &clean_theirs
    ));
    assert!(merge_file_conflicts(
        &scratch,
        "histogram",
        &hist_base,
        &hist_ours,
        &hist_theirs
    ));
    assert!(!merge_file_conflicts(
        &scratch,
        "myers",
        &hist_base,
        &hist_ours,
        &hist_theirs
    ));

    let repo = env.repo_with(
        "repo",
        &[
            ("a.txt", &a),
            ("rename-me.txt", &rename_me),
            ("keep.txt", &keep),
            ("clean.txt", &clean_base),
            ("hist.txt", &hist_base),
        ],
    );
    std::fs::write(repo.join("image.bin"), b"\x89PNG\0\0base").unwrap();
    env.git(&repo, &["add", "image.bin"]);
    env.git(&repo, &["commit", "-q", "-m", "binary"]);

    let b = |name: &str, renames: &[(&str, &str)], files: &[(&str, Option<Vec<u8>>)]| {
        branch(&env, &repo, name, "main", renames, files);
    };
    b(
        "edit-top",
        &[],
        &[("a.txt", text(&with_line(&a, 5, "top one")))],
    );
    b(
        "edit-top-too",
        &[],
        &[("a.txt", text(&with_line(&a, 5, "top two")))],
    );
    b(
        "edit-bottom",
        &[],
        &[("a.txt", text(&with_line(&a, 35, "bottom")))],
    );
    b("delete-a", &[], &[("a.txt", None)]);
    b(
        "rename-a",
        &[("a.txt", "moved/a.txt")],
        &[("moved/a.txt", text(&with_line(&a, 20, "moved")))],
    );
    b("rename-a-elsewhere", &[("a.txt", "other/a2.txt")], &[]);
    b(
        "rename-and-edit-top",
        &[("a.txt", "moved/a.txt")],
        &[("moved/a.txt", text(&with_line(&a, 5, "top three")))],
    );
    b("add-new", &[], &[("new.txt", text("one\ntwo\n"))]);
    b("add-new-too", &[], &[("new.txt", text("three\nfour\n"))]);
    b(
        "add-where-renamed",
        &[],
        &[("moved/a.txt", text("something else\n"))],
    );
    b(
        "binary-one",
        &[],
        &[("image.bin", Some(b"\x89PNG\0\0one".to_vec()))],
    );
    b(
        "binary-two",
        &[],
        &[("image.bin", Some(b"\x89PNG\0\0two".to_vec()))],
    );
    b("delete-binary", &[], &[("image.bin", None)]);
    b("rename-keep", &[("keep.txt", "kept.txt")], &[]);
    b(
        "edit-keep",
        &[],
        &[("keep.txt", text(&with_line(&keep, 10, "edited")))],
    );
    b("delete-keep", &[], &[("keep.txt", None)]);
    b(
        "rename-keep-too",
        &[("keep.txt", "kept-too.txt")],
        &[("kept-too.txt", text(&with_line(&keep, 30, "x")))],
    );
    b(
        "rename-me-one",
        &[("rename-me.txt", "renamed.txt")],
        &[("renamed.txt", text(&with_line(&rename_me, 3, "one")))],
    );
    b(
        "rename-me-two",
        &[("rename-me.txt", "renamed.txt")],
        &[("renamed.txt", text(&with_line(&rename_me, 3, "two")))],
    );
    b("clean-ours", &[], &[("clean.txt", text(&clean_ours))]);
    b("clean-theirs", &[], &[("clean.txt", text(&clean_theirs))]);
    b("hist-ours", &[], &[("hist.txt", text(&hist_ours))]);
    b("hist-theirs", &[], &[("hist.txt", text(&hist_theirs))]);
    // A criss-cross: each side merged the other, resolving a conflict its
    // own way, so the two have two merge bases (git merges those into a
    // virtual base, where the first alone would say the merge is clean).
    b(
        "cross-one",
        &[],
        &[("keep.txt", text(&with_line(&keep, 20, "one")))],
    );
    b(
        "cross-two",
        &[],
        &[("keep.txt", text(&with_line(&keep, 20, "two")))],
    );
    merge_resolving(
        &env,
        &repo,
        "cross-one-merged",
        "cross-one",
        "cross-two",
        "keep.txt",
        &with_line(&keep, 20, "one"),
    );
    merge_resolving(
        &env,
        &repo,
        "cross-two-merged",
        "cross-two",
        "cross-one",
        "keep.txt",
        &with_line(&keep, 20, "two"),
    );
    merge_resolving(
        &env,
        &repo,
        "cross-same",
        "cross-two",
        "cross-one",
        "keep.txt",
        &with_line(&keep, 20, "one"),
    );
    let bases = env.git(
        &repo,
        &[
            "merge-base",
            "--all",
            "cross-one-merged",
            "cross-two-merged",
        ],
    );
    assert_eq!(
        bases.lines().count(),
        2,
        "a criss-cross has two merge bases"
    );

    let branches: Vec<String> = env
        .git(
            &repo,
            &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
        )
        .lines()
        .filter(|b| *b != "main")
        .map(str::to_owned)
        .collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut pairs = 0;
    for (i, ours) in branches.iter().enumerate() {
        for theirs in &branches[i + 1..] {
            let expected = git_conflicts(&env, &repo, ours, theirs);
            let found = our_conflicts(&env, &repo, ours, theirs);
            assert_eq!(found, expected, "merging {theirs} into {ours}");
            for kind in expected.values() {
                *seen.entry(kind.clone()).or_default() += 1;
            }
            pairs += 1;
        }
    }
    // The pairs cover every kind, the criss-cross and both diff cases.
    for kind in [
        "content",
        "add/add",
        "modify/delete",
        "rename/delete",
        "rename/rename",
        "binary",
    ] {
        assert!(
            seen.contains_key(kind),
            "no pair gives a {kind} conflict: {seen:?}"
        );
    }
    let conflicts_of = |ours: &str, theirs: &str| our_conflicts(&env, &repo, ours, theirs);
    assert!(conflicts_of("clean-ours", "clean-theirs").is_empty());
    assert!(conflicts_of("hist-ours", "hist-theirs").contains_key("hist.txt"));
    assert!(conflicts_of("cross-one-merged", "cross-two-merged").contains_key("keep.txt"));
    assert!(conflicts_of("rename-a", "delete-a").contains_key("moved/a.txt"));
    assert!(pairs > 300, "{pairs} pairs");
}

#[test]
fn merges_of_this_projects_history_conflict_where_git_merge_tree_does() {
    let env = TestEnv::new();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !source.join(".git").exists() {
        eprintln!("not run from a clone of the project: nothing to compare");
        return;
    }
    let repo = env.path().join("history");
    env.git(
        env.root.path(),
        &[
            "clone",
            "-q",
            "--no-checkout",
            &source.display().to_string(),
            &repo.display().to_string(),
        ],
    );
    let merges = env.git(
        &repo,
        &["log", "--merges", "--format=%P", "-n", "40", "HEAD"],
    );
    let mut compared = 0;
    for parents in merges.lines() {
        let parents: Vec<&str> = parents.split(' ').collect();
        let [ours, theirs] = parents[..] else {
            continue;
        };
        let expected = git_conflicts(&env, &repo, ours, theirs);
        let found = our_conflicts(&env, &repo, ours, theirs);
        assert_eq!(found, expected, "merging {theirs} into {ours}");
        compared += 1;
    }
    eprintln!("{compared} merges of the project's history compared");
}
