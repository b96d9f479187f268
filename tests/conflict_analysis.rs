//! Conflicts of a merge, classified in memory and recorded; fixes suggested
//! for them, applied only to an unchanged file, and rolled back — through
//! `git pcc conflicts`, `git pcc suggestions` and the MCP tools.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};
use support::{snapshot, TestEnv};

const PY: &str = "src/settings.py";
const RS: &str = "src/lib.rs";
const TS: &str = "src/format.ts";

const PY_BASE: &str =
    "\"\"\"Settings for the sync client.\"\"\"\n\nTIMEOUT_SECONDS = 30\nMAX_RETRIES = 3\nLOG_LEVEL = \"info\"\n";

const RS_BASE: &str = "/// Adds two numbers.\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n";
const RS_OURS_FN: &str =
    "\n/// Subtracts two numbers.\npub fn subtract(a: i32, b: i32) -> i32 {\n    a - b\n}\n";
const RS_THEIRS_FN: &str =
    "\n/// Multiplies two numbers.\npub fn multiply(a: i32, b: i32) -> i32 {\n    a * b\n}\n";

const TS_BASE: &str = "export function formatName(name: string): string {
  return name.trim();
}

export function greet(name: string): string {
  return `hello ${formatName(name)}`;
}
";

/// Ours with theirs' new function after ours' own.
fn rs_merged() -> String {
    format!("{RS_BASE}{RS_OURS_FN}{RS_THEIRS_FN}")
}

fn rs_ours() -> String {
    format!("{RS_BASE}{RS_OURS_FN}")
}

fn write(dir: &Path, files: &[(&str, String)]) {
    for (path, content) in files {
        std::fs::write(dir.join(path), content).unwrap();
    }
}

/// A repository whose `main` holds the base versions, `theirs` and `ours`
/// branch off it, and `ours` is checked out. Merging `theirs` into `ours`
/// conflicts in three files: the Python constant both change
/// (CONCURRENT_EDIT), the Rust file both append a function to
/// (STRUCTURAL), and the TypeScript file where ours renames `formatName`
/// and theirs' changed line calls it (SEMANTIC).
fn three_conflicts() -> (TestEnv, PathBuf) {
    let env = TestEnv::new();
    let repo = env.repo_with(
        "app",
        &[
            (PY, PY_BASE),
            (RS, RS_BASE),
            (TS, TS_BASE),
            ("README.md", "app\n"),
        ],
    );
    env.git(&repo, &["checkout", "-q", "-b", "theirs"]);
    write(
        &repo,
        &[
            (PY, PY_BASE.replace("MAX_RETRIES = 3", "MAX_RETRIES = 7")),
            (RS, format!("{RS_BASE}{RS_THEIRS_FN}")),
            (
                TS,
                TS_BASE.replace(
                    "return `hello ${formatName(name)}`;",
                    "return `hi there, ${formatName(name)}!`;",
                ),
            ),
        ],
    );
    env.git(&repo, &["commit", "-qam", "theirs"]);
    env.git(&repo, &["checkout", "-q", "main"]);
    env.git(&repo, &["checkout", "-q", "-b", "ours"]);
    write(
        &repo,
        &[
            (PY, PY_BASE.replace("MAX_RETRIES = 3", "MAX_RETRIES = 5")),
            (RS, rs_ours()),
            (TS, TS_BASE.replace("formatName", "formatLabel")),
        ],
    );
    env.git(&repo, &["commit", "-qam", "ours"]);
    (env, repo)
}

/// Runs `git-pcc args` in `dir`: its output and its stdout as JSON.
fn pcc(env: &TestEnv, dir: &Path, args: &[&str]) -> (Output, Value) {
    env.json(env.pcc("git-pcc").current_dir(dir).args(args))
}

/// Runs `git-pcc args` in `dir`, asserting success; its JSON.
fn pcc_ok(env: &TestEnv, dir: &Path, args: &[&str]) -> Value {
    let (output, value) = pcc(env, dir, args);
    assert!(
        output.status.success(),
        "git-pcc {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

fn assert_one_error_line(output: &Output, expected: &str) {
    assert_eq!(output.status.code(), Some(1), "should fail with exit 1");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Everything detection must not change: files, index, HEAD.
fn state(env: &TestEnv, dir: &Path) -> (Vec<(String, Vec<u8>)>, String, String, String) {
    (
        snapshot(dir),
        env.git(dir, &["status", "--porcelain"]),
        env.git(dir, &["rev-parse", "HEAD"]),
        env.git(dir, &["ls-files", "-s", "--debug"]),
    )
}

fn detect(env: &TestEnv, dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "conflicts",
        "--detect",
        "--current-branch",
        "ours",
        "--target-branch",
        "theirs",
        "--json",
    ];
    args.extend_from_slice(extra);
    pcc_ok(env, dir, &args)
}

fn generate(env: &TestEnv, dir: &Path, file: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "suggestions",
        "--generate",
        "--file",
        file,
        "--current-branch",
        "ours",
        "--target-branch",
        "theirs",
        "--json",
    ];
    args.extend_from_slice(extra);
    pcc_ok(env, dir, &args)
}

/// `(filePath, conflictType)` of each conflict, in the order given.
fn classes(detection: &Value) -> Vec<(String, String)> {
    detection["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["filePath"].as_str().unwrap().to_owned(),
                c["conflictType"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn expected_classes() -> Vec<(String, String)> {
    [
        (TS, "SEMANTIC"),
        (RS, "STRUCTURAL"),
        (PY, "CONCURRENT_EDIT"),
    ]
    .iter()
    .map(|(f, t)| (f.to_string(), t.to_string()))
    .collect()
}

fn conflict<'a>(detection: &'a Value, file: &str) -> &'a Value {
    detection["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["filePath"] == file)
        .unwrap_or_else(|| panic!("no conflict for {file}: {detection}"))
}

fn history(env: &TestEnv, dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["conflicts", "--json"];
    args.extend_from_slice(extra);
    pcc_ok(env, dir, &args)
}

#[test]
fn detection_classifies_each_file_records_it_once_and_changes_nothing() {
    let (env, repo) = three_conflicts();
    let before = state(&env, &repo);

    // A relative --repo, from outside the repository.
    let detection = detect(&env, &env.path(), &["--repo", "app"]);
    assert_eq!(detection["hasConflicts"], true);
    assert_eq!(detection["totalConflicts"], 3);
    assert_eq!(classes(&detection), expected_classes());
    assert_eq!(
        detection["summary"],
        json!({"CONCURRENT_EDIT": 1, "SEMANTIC": 1, "STRUCTURAL": 1})
    );
    let head = env.git(&repo, &["rev-parse", "ours"]);
    assert_eq!(detection["sourceCommit"], head.trim());
    let theirs = env.git(&repo, &["rev-parse", "theirs"]);
    assert_eq!(detection["targetCommit"], theirs.trim());
    let base = env.git(&repo, &["rev-parse", "main"]);
    assert_eq!(detection["baseCommit"], base.trim());

    let py = conflict(&detection, PY);
    assert_eq!(py["language"], "python");
    assert_eq!(py["severity"], "MEDIUM");
    assert_eq!(py["hunks"].as_array().unwrap().len(), 1);
    assert_eq!(py["hunks"][0]["baseLines"], json!({"start": 4, "end": 4}));
    assert_eq!(py["hunks"][0]["oursLines"], json!({"start": 4, "end": 4}));
    assert_eq!(py["hunks"][0]["theirsLines"], json!({"start": 4, "end": 4}));

    let rs = conflict(&detection, RS);
    assert_eq!(rs["language"], "rust");
    assert_eq!(rs["severity"], "LOW", "both sides only add");
    assert_eq!(rs["hunks"].as_array().unwrap().len(), 1);
    // An insertion after the base's last line (4), five lines on each side.
    assert_eq!(rs["hunks"][0]["baseLines"], json!({"start": 5, "end": 4}));
    assert_eq!(rs["hunks"][0]["oursLines"], json!({"start": 5, "end": 9}));
    assert_eq!(rs["hunks"][0]["theirsLines"], json!({"start": 5, "end": 9}));

    let ts = conflict(&detection, TS);
    assert_eq!(ts["language"], "typescript");
    assert_eq!(ts["severity"], "HIGH");
    assert_eq!(ts["symbols"], json!(["greet"]));
    assert_eq!(ts["hunks"].as_array().unwrap().len(), 1);
    assert_eq!(ts["hunks"][0]["baseLines"], json!({"start": 6, "end": 6}));
    assert_eq!(
        ts["hunks"][0]["reason"],
        "ours changes `formatName` (removed or renamed) and theirs uses it"
    );
    assert_eq!(
        ts["semanticIssues"],
        json!([{"symbol": "formatName", "changedBy": "ours", "change": "removed or renamed", "baseLine": 1}])
    );

    assert_eq!(
        state(&env, &repo),
        before,
        "detection changes no file, index or HEAD"
    );
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(env.git(&repo, &["rev-parse", "HEAD"]), head);

    let unresolved = history(&env, &repo, &["--unresolved"]);
    assert_eq!(unresolved["total"], 3);
    let records = unresolved["resolutions"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    let mut recorded: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            assert_eq!(r["repo_path"], repo.to_str().unwrap());
            assert_eq!(r["resolution_strategy"], "MANUAL");
            assert_eq!(r["resolved_at"], Value::Null);
            assert_eq!(r["source_commit"], head.trim());
            assert_eq!(r["rolled_back"], false);
            (
                r["file_path"].as_str().unwrap().to_owned(),
                r["conflict_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    recorded.sort();
    assert_eq!(recorded, expected_classes());
    assert_eq!(history(&env, &repo, &["--resolved"])["total"], 0);
    let semantic = history(&env, &repo, &["--type", "SEMANTIC"]);
    assert_eq!(semantic["total"], 1);
    assert_eq!(semantic["resolutions"][0]["file_path"], TS);
    assert_eq!(history(&env, &repo, &["--file", RS])["total"], 1);
    assert_eq!(
        history(&env, &repo, &["--limit", "2"])["resolutions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The same merge again, this time from a subdirectory of the checkout:
    // the records are updated, not doubled.
    let again = detect(&env, &repo.join("src"), &[]);
    assert_eq!(classes(&again), expected_classes());
    assert_eq!(history(&env, &repo, &["--unresolved"])["total"], 3);
    let rows: Vec<(String, String, String, bool)> = {
        let db = env.db();
        let mut statement = db
            .prepare(
                "SELECT file_path, conflict_type, resolution_strategy, resolved_at IS NULL
                 FROM conflict_resolutions ORDER BY file_path",
            )
            .unwrap();
        let rows = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows
    };
    assert_eq!(
        rows,
        [
            (
                TS.to_owned(),
                "SEMANTIC".to_owned(),
                "MANUAL".to_owned(),
                true
            ),
            (
                RS.to_owned(),
                "STRUCTURAL".to_owned(),
                "MANUAL".to_owned(),
                true
            ),
            (
                PY.to_owned(),
                "CONCURRENT_EDIT".to_owned(),
                "MANUAL".to_owned(),
                true
            ),
        ]
    );
    assert_eq!(state(&env, &repo), before);
}

#[test]
fn a_structural_fix_is_applied_recorded_and_rolled_back() {
    let (env, repo) = three_conflicts();
    detect(&env, &repo, &[]);

    // Asked from a subdirectory: the file is still named from the top.
    let list = generate(&env, &repo.join("src"), RS, &[]);
    assert_eq!(list["hasConflict"], true);
    assert_eq!(list["explanation"], Value::Null);
    let suggestions = list["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 1, "{list}");
    let suggestion = &suggestions[0];
    assert_eq!(suggestion["autoApplicable"], true);
    assert_eq!(suggestion["strategy"], "STRUCTURAL_MERGE");
    assert_eq!(suggestion["conflictType"], "STRUCTURAL");
    let confidence = suggestion["confidence"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&confidence), "confidence {confidence}");
    assert_eq!(
        suggestion["preview"]["after"],
        format!("{RS_OURS_FN}{RS_THEIRS_FN}")
    );
    assert!(!suggestion["explanation"].as_str().unwrap().is_empty());
    assert!(suggestion["risks"].is_array());
    let id = suggestion["id"].as_str().unwrap().to_owned();

    let stored = pcc_ok(&env, &repo, &["suggestions", "--json"]);
    assert_eq!(stored["total"], 1);
    assert_eq!(stored["suggestions"][0]["id"], id.as_str());
    assert_eq!(stored["suggestions"][0]["file_path"], RS);
    assert_eq!(stored["suggestions"][0]["auto_applicable"], true);
    assert_eq!(stored["suggestions"][0]["applied_at"], Value::Null);

    // A dry run checks and changes nothing.
    let before = state(&env, &repo);
    let dry = pcc_ok(
        &env,
        &repo,
        &["suggestions", "--apply", &id, "--dry-run", "--json"],
    );
    assert_eq!(dry["applied"], false);
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["resolutionId"], Value::Null);
    assert_eq!(dry["backupPath"], Value::Null);
    assert_eq!(
        dry["verification"],
        json!({"unchangedSinceSuggestion": true, "noConflictMarkers": true, "parses": true})
    );
    assert_eq!(state(&env, &repo), before);
    assert_eq!(history(&env, &repo, &["--resolved"])["total"], 0);

    let applied = pcc_ok(&env, &repo, &["suggestions", "--apply", &id, "--json"]);
    assert_eq!(applied["applied"], true);
    assert_eq!(applied["success"], true);
    assert_eq!(applied["filePath"], RS);
    assert_eq!(applied["absolutePath"], repo.join(RS).to_str().unwrap());
    assert_eq!(
        applied["verification"],
        json!({"unchangedSinceSuggestion": true, "noConflictMarkers": true, "parses": true})
    );
    let resolution_id = applied["resolutionId"].as_str().unwrap().to_owned();
    assert_eq!(
        applied["rollbackCommand"],
        format!("git pcc suggestions --rollback {resolution_id}")
    );
    let backup = PathBuf::from(applied["backupPath"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), rs_ours());

    assert_eq!(std::fs::read_to_string(repo.join(RS)).unwrap(), rs_merged());
    assert_eq!(
        env.git(&repo, &["status", "--porcelain"]),
        " M src/lib.rs\n"
    );
    let diff = env.git(&repo, &["diff", "--", RS]);
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert_eq!(
        added,
        [
            "+",
            "+/// Multiplies two numbers.",
            "+pub fn multiply(a: i32, b: i32) -> i32 {",
            "+    a * b",
            "+}"
        ]
    );
    assert!(
        !diff
            .lines()
            .any(|l| l.starts_with('-') && !l.starts_with("---")),
        "{diff}"
    );

    // The detected record is the one resolved.
    let resolved = history(&env, &repo, &["--resolved"]);
    assert_eq!(resolved["total"], 1);
    let record = &resolved["resolutions"][0];
    assert_eq!(record["id"], resolution_id.as_str());
    assert_eq!(record["file_path"], RS);
    assert_eq!(record["conflict_type"], "STRUCTURAL");
    assert_eq!(record["resolution_strategy"], "AUTO_FIX");
    assert_eq!(record["auto_fix_suggestion_id"], id.as_str());
    assert_eq!(record["confidence_score"].as_f64(), Some(confidence));
    assert!(record["resolved_at"].is_string());
    assert_eq!(history(&env, &repo, &["--unresolved"])["total"], 2);
    let stored = pcc_ok(&env, &repo, &["suggestions", "--json", "--applied"]);
    assert_eq!(stored["total"], 1);
    assert_eq!(stored["suggestions"][0]["id"], id.as_str());
    assert!(stored["suggestions"][0]["applied_at"].is_string());

    // Not twice.
    let (again, _) = pcc(&env, &repo, &["suggestions", "--apply", &id, "--json"]);
    assert_one_error_line(&again, "was applied already");
    assert_eq!(std::fs::read_to_string(repo.join(RS)).unwrap(), rs_merged());

    let rollback = pcc_ok(
        &env,
        &repo,
        &["suggestions", "--rollback", &resolution_id, "--json"],
    );
    assert_eq!(rollback["success"], true);
    assert_eq!(rollback["resolutionId"], resolution_id.as_str());
    assert_eq!(rollback["filePath"], RS);
    assert_eq!(rollback["restoredFrom"], backup.to_str().unwrap());
    assert_eq!(std::fs::read(repo.join(RS)).unwrap(), rs_ours().as_bytes());
    // Back as it was; only the index's cached file stats may differ, as
    // the file was rewritten.
    assert_eq!(snapshot(&repo), before.0);
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(env.git(&repo, &["rev-parse", "HEAD"]), before.2);
    let record = &history(&env, &repo, &["--file", RS])["resolutions"][0];
    assert_eq!(record["id"], resolution_id.as_str());
    assert_eq!(record["rolled_back"], true);
}

#[test]
fn a_file_changed_since_the_suggestion_is_left_alone() {
    let (env, repo) = three_conflicts();
    let list = generate(&env, &repo, RS, &["--repo", repo.to_str().unwrap()]);
    let id = list["suggestions"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["suggestions"][0]["autoApplicable"], true);

    let edited = format!("{}// edited by hand\n", rs_ours());
    std::fs::write(repo.join(RS), &edited).unwrap();
    let (output, _) = pcc(&env, &repo, &["suggestions", "--apply", &id, "--json"]);
    assert_one_error_line(&output, "changed");
    assert_eq!(std::fs::read(repo.join(RS)).unwrap(), edited.as_bytes());
    assert_eq!(history(&env, &repo, &[])["total"], 0);
    let stored = pcc_ok(&env, &repo, &["suggestions", "--json", "--pending"]);
    assert_eq!(stored["total"], 1);
    assert_eq!(stored["suggestions"][0]["id"], id.as_str());
}

#[test]
fn a_semantic_conflict_gets_no_fix_that_can_be_applied() {
    let (env, repo) = three_conflicts();
    let list = generate(&env, &repo, TS, &["--min-confidence", "0.5"]);
    assert_eq!(list["hasConflict"], true);
    assert_eq!(list["suggestions"], json!([]));
    let explanation = list["explanation"].as_str().unwrap();
    assert!(explanation.contains("formatName"), "{explanation}");

    let list = generate(&env, &repo, TS, &["--min-confidence", "0"]);
    assert_eq!(list["suggestions"].as_array().unwrap().len(), 1, "{list}");
    let fallback = &list["suggestions"][0];
    assert_eq!(fallback["autoApplicable"], false);
    assert_eq!(fallback["strategy"], "FALLBACK");
    assert_eq!(fallback["conflictType"], "SEMANTIC");
    assert_eq!(fallback["confidence"].as_f64(), Some(0.0));
    assert!(!list["explanation"].as_str().unwrap().is_empty());
    let id = fallback["id"].as_str().unwrap();

    let before = state(&env, &repo);
    for extra in [&["--dry-run"][..], &[]] {
        let mut args = vec!["suggestions", "--apply", id, "--json"];
        args.extend_from_slice(extra);
        let (output, _) = pcc(&env, &repo, &args);
        assert_one_error_line(&output, "not safe to apply");
        assert_eq!(state(&env, &repo), before);
    }
    assert_eq!(history(&env, &repo, &[])["total"], 0);
}

#[test]
fn bad_input_is_refused_in_one_line() {
    let (env, repo) = three_conflicts();
    let before = state(&env, &repo);

    let (output, _) = pcc(
        &env,
        &repo,
        &["suggestions", "--apply", "nonexistent", "--json"],
    );
    assert_one_error_line(&output, "no suggestion nonexistent");

    let (output, _) = pcc(
        &env,
        &repo,
        &[
            "conflicts",
            "--detect",
            "--current-branch",
            "ours",
            "--target-branch",
            "nosuch",
        ],
    );
    assert_one_error_line(&output, "nosuch");

    let (output, _) = pcc(
        &env,
        &repo,
        &[
            "suggestions",
            "--generate",
            "--file",
            "../x",
            "--current-branch",
            "ours",
            "--target-branch",
            "theirs",
        ],
    );
    assert_one_error_line(&output, "../x");

    let (output, _) = pcc(&env, &repo, &["suggestions", "--rollback", "nonexistent"]);
    assert_one_error_line(&output, "no applied fix nonexistent");

    assert_eq!(state(&env, &repo), before);
    assert_eq!(history(&env, &repo, &[])["total"], 0);
}

/// Runs the official MCP Python client in `dir` (no session registered):
/// one server, `calls` one after another; each call's result.
fn mcp_calls(env: &TestEnv, dir: &Path, calls: Value) -> Vec<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let output = env
        .command(support::python())
        .arg(script)
        .arg("calls")
        .arg(support::bin("pcc-mcp"))
        .arg(calls.to_string())
        .current_dir(dir)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "MCP client failed (is the `mcp` package installed? scripts/test.sh installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    seen["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| {
            assert_eq!(result["isError"], false, "{result}");
            let text: Value = serde_json::from_str(result["text"][0].as_str().unwrap()).unwrap();
            assert_eq!(text, result["structured"], "text and structure agree");
            result["structured"].clone()
        })
        .collect()
}

#[test]
fn the_mcp_tools_work_on_the_working_directorys_repository() {
    let (env, repo) = three_conflicts();
    let before = state(&env, &repo);
    let branches = json!({"currentBranch": "ours", "targetBranch": "theirs"});
    let with_file = |file: &str| {
        let mut arguments = branches.clone();
        arguments["filePath"] = json!(file);
        arguments
    };

    let results = mcp_calls(
        &env,
        &repo,
        json!([
            ["detect_advanced_conflicts", branches],
            ["get_auto_fix_suggestions", with_file(RS)],
            ["get_auto_fix_suggestions", with_file(TS)]
        ]),
    );
    let detection = &results[0];
    assert_eq!(detection["hasConflicts"], true);
    assert_eq!(detection["totalConflicts"], 3);
    assert_eq!(classes(detection), expected_classes());
    assert_eq!(
        detection["summary"],
        json!({"CONCURRENT_EDIT": 1, "SEMANTIC": 1, "STRUCTURAL": 1})
    );
    assert_eq!(state(&env, &repo), before);
    // The CLI sees what the tool recorded.
    assert_eq!(history(&env, &repo, &["--unresolved"])["total"], 3);

    let rust = &results[1];
    assert_eq!(rust["hasConflict"], true);
    assert_eq!(rust["suggestions"].as_array().unwrap().len(), 1);
    assert_eq!(rust["suggestions"][0]["canAutoApply"], true);
    assert_eq!(rust["suggestions"][0]["strategy"], "STRUCTURAL_MERGE");
    let id = rust["suggestions"][0]["suggestionId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Nothing safe for the semantic conflict at the default confidence.
    let semantic = &results[2];
    assert_eq!(semantic["hasConflict"], true);
    assert_eq!(semantic["suggestions"], json!([]));
    assert!(!semantic["explanation"].as_str().unwrap().is_empty());

    let dry = mcp_calls(
        &env,
        &repo,
        json!([["apply_auto_fix", {"suggestionId": id, "dryRun": true}]]),
    )
    .remove(0);
    assert_eq!(dry["success"], true);
    assert_eq!(dry["applied"], false);
    assert_eq!(dry["resolutionId"], Value::Null);
    assert_eq!(
        dry["verification"],
        json!({"unchangedSinceSuggestion": true, "noConflictMarkers": true, "parses": true})
    );
    assert_eq!(state(&env, &repo), before);

    let results = mcp_calls(
        &env,
        &repo,
        json!([
            ["apply_auto_fix", {"suggestionId": id}],
            ["conflict_history", {}],
            ["conflict_history", {"resolutionStrategy": "AUTO_FIX"}]
        ]),
    );
    let applied = &results[0];
    assert_eq!(applied["success"], true);
    assert_eq!(applied["applied"], true);
    let resolution_id = applied["resolutionId"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(repo.join(RS)).unwrap(), rs_merged());
    assert_eq!(
        env.git(&repo, &["status", "--porcelain"]),
        " M src/lib.rs\n"
    );

    let all = &results[1];
    assert_eq!(all["pagination"]["total"], 3);
    let mut strategies: Vec<(String, String)> = all["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["filePath"].as_str().unwrap().to_owned(),
                r["resolutionStrategy"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    strategies.sort();
    assert_eq!(
        strategies,
        [
            (TS.to_owned(), "MANUAL".to_owned()),
            (RS.to_owned(), "AUTO_FIX".to_owned()),
            (PY.to_owned(), "MANUAL".to_owned()),
        ]
    );
    let fixed = &results[2];
    assert_eq!(fixed["pagination"]["total"], 1);
    assert_eq!(fixed["records"][0]["id"], resolution_id);
    assert_eq!(fixed["records"][0]["filePath"], RS);
    assert_eq!(fixed["records"][0]["autoFixSuggestionId"], id.as_str());
    // The TypeScript tool's entries beside ours.
    assert_eq!(fixed["history"][0]["resolutionId"], resolution_id);
    assert_eq!(fixed["history"][0]["wasAutoApplied"], true);
    assert_eq!(all["statistics"]["totalResolutions"], 3);
    assert_eq!(all["statistics"]["byStrategy"]["AUTO_FIX"], 1);
    // The same history through the CLI.
    let resolved = history(&env, &repo, &["--resolved"]);
    let row = &resolved["resolutions"][0];
    assert_eq!(row["id"], fixed["records"][0]["id"]);
    assert_eq!(row["file_path"], fixed["records"][0]["filePath"]);
    assert_eq!(
        row["auto_fix_suggestion_id"],
        fixed["records"][0]["autoFixSuggestionId"]
    );
}

/// `main` imports from `app/util.py`; ours adds `import sys` to
/// `app/cli.py`, theirs adds an import of `load_config` at the same place.
/// With `rename`, ours also renames `load_config` to `read_config` in
/// `app/util.py`: uniting the imports would keep a name that no longer
/// exists.
fn imports_with_a_rename_elsewhere(rename: bool) -> (TestEnv, PathBuf) {
    const UTIL: &str = "def load_config(path):\n    return open(path).read()\n";
    const CLI: &str = "import os\n\n\ndef main():\n    return os.getcwd()\n";
    let env = TestEnv::new();
    let repo = env.repo_with(
        "app",
        &[
            ("app/__init__.py", ""),
            ("app/util.py", UTIL),
            ("app/cli.py", CLI),
        ],
    );
    env.git(&repo, &["checkout", "-q", "-b", "theirs"]);
    write(
        &repo,
        &[(
            "app/cli.py",
            CLI.replace(
                "import os\n",
                "import os\nfrom app.util import load_config\n",
            ),
        )],
    );
    env.git(&repo, &["commit", "-qam", "theirs"]);
    env.git(&repo, &["checkout", "-q", "main"]);
    env.git(&repo, &["checkout", "-q", "-b", "ours"]);
    write(
        &repo,
        &[(
            "app/cli.py",
            CLI.replace("import os\n", "import os\nimport sys\n"),
        )],
    );
    if rename {
        write(
            &repo,
            &[("app/util.py", UTIL.replace("load_config", "read_config"))],
        );
    }
    env.git(&repo, &["commit", "-qam", "ours"]);
    (env, repo)
}

#[test]
fn a_fix_keeping_a_name_renamed_in_another_file_is_not_applicable() {
    for rename in [false, true] {
        let (env, repo) = imports_with_a_rename_elsewhere(rename);
        let merge = env
            .command("git")
            .current_dir(&repo)
            .args(["merge-tree", "--write-tree", "ours", "theirs"])
            .output()
            .unwrap();
        assert_eq!(merge.status.code(), Some(1), "git sees a conflict");
        let list = generate(&env, &repo, "app/cli.py", &["--min-confidence", "0"]);
        let suggestion = &list["suggestions"][0];
        assert_eq!(suggestion["conflictType"], "TRIVIAL", "{list}");
        assert_eq!(suggestion["autoApplicable"], !rename, "{list}");
        let risks = suggestion["risks"].to_string();
        assert_eq!(
            risks.contains("`load_config` from theirs, which ours renames"),
            rename,
            "{risks}"
        );
    }
}
