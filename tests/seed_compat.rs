//! Switching from the TypeScript tool: its own `coordinator.db` (rebuilt
//! from its dump, `tests/fixtures/ts-2.0/`, in a temporary HOME with a
//! repository at the placeholder's path) is migrated by our commands, and
//! what each of its commands printed with `--json` on that data is what
//! ours print: every field it has, with the same name, type and value, ours
//! beside them.
//!
//! Values that depend on the clock or on which processes run are compared
//! as the data allows: its PIDs are of processes that are gone, so the
//! sessions it saw alive get live stand-ins and the others dead PIDs;
//! `durationMinutes` is the time since `createdAt` now; a claim is active
//! while its session lives and its `expires_at` is ahead; budget periods
//! are the ones holding today. Where we differ on purpose (README, "Coming
//! from the TypeScript parallel-cc") the expectation says so.

mod support;

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde_json::{json, Value};
use support::{LiveProcess, TestEnv};

const SEED_DB: &str = include_str!("fixtures/ts-2.0/seed-db.sql");
const SEED_CONFIG: &str = include_str!("fixtures/ts-2.0/seed-config.json");

/// What the TypeScript tool printed, by file name.
fn recorded(name: &str) -> &'static str {
    match name {
        "status" => include_str!("fixtures/ts-2.0/json/status.json"),
        "status-sandbox" => include_str!("fixtures/ts-2.0/json/status-sandbox.json"),
        "claims" => include_str!("fixtures/ts-2.0/json/claims.json"),
        "conflicts" => include_str!("fixtures/ts-2.0/json/conflicts.json"),
        "suggestions" => include_str!("fixtures/ts-2.0/json/suggestions.json"),
        "merge-events" => include_str!("fixtures/ts-2.0/json/merge-events.json"),
        "merge-subs" => include_str!("fixtures/ts-2.0/json/merge-subs.json"),
        "config" => include_str!("fixtures/ts-2.0/json/config.json"),
        "budget-daily" => include_str!("fixtures/ts-2.0/json/budget-daily.json"),
        "budget-weekly" => include_str!("fixtures/ts-2.0/json/budget-weekly.json"),
        "budget-monthly" => include_str!("fixtures/ts-2.0/json/budget-monthly.json"),
        other => panic!("no recording {other}"),
    }
}

/// The main session, alive when the seed printed its status.
const MAIN_ID: &str = "b71d640d-ceaa-459f-b5a3-223a2dd90f25";
/// The worktree session with committed work, alive then.
const WORK_ID: &str = "66a0618a-3630-49db-8c99-dbcfe10aba20";
/// The worktree session whose process was killed.
const KILLED_ID: &str = "02a7f420-e8ad-4db8-bada-63a8030805b2";
/// The E2B session row.
const E2B_ID: &str = "0e2b0e2b-0000-4000-8000-00000000e2b0";
const WORK_NAME: &str = "parallel-mx59bmea-4ynq";
const KILLED_NAME: &str = "parallel-mx59boux-e5cv";

struct Seed {
    env: TestEnv,
    repo: PathBuf,
    /// Stand in for the processes the seed saw alive.
    main: LiveProcess,
    worker: LiveProcess,
    /// The PIDs given to the sessions it saw dead.
    killed_pid: u32,
    e2b_pid: u32,
}

impl Seed {
    fn repo_str(&self) -> &str {
        self.repo.to_str().unwrap()
    }

    fn worktree(&self, name: &str) -> PathBuf {
        self.env.path().join("repo-worktrees").join(name)
    }

    /// A recording, its placeholders replaced.
    fn recorded(&self, name: &str) -> Value {
        let text = recorded(name)
            .replace("@REPO@", self.repo_str())
            .replace("@HOME@", self.env.home.to_str().unwrap());
        serde_json::from_str(&text).unwrap()
    }

    /// The PID this test gave a session in place of the seed's.
    fn pid_of(&self, session_id: &str) -> u32 {
        match session_id {
            MAIN_ID => self.main.pid(),
            WORK_ID => self.worker.pid(),
            KILLED_ID => self.killed_pid,
            E2B_ID => self.e2b_pid,
            other => panic!("unknown session {other}"),
        }
    }

    fn is_alive(&self, session_id: &str) -> bool {
        matches!(session_id, MAIN_ID | WORK_ID)
    }

    /// `git-pcc ARGS --json` in `dir`, asserting exit 0.
    fn json_in(&self, dir: &Path, args: &[&str]) -> Value {
        let output = self
            .env
            .pcc("git-pcc")
            .current_dir(dir)
            .args(args)
            .arg("--json")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&output.stdout))
        })
    }

    /// `git-pcc ARGS --json` outside every repository, as the seed ran them.
    fn json(&self, args: &[&str]) -> Value {
        self.json_in(&self.env.path(), args)
    }
}

/// Builds the seed's world: its repository (branches, the merged
/// `feature/done`, worktrees where its helper made them, one with a
/// commit), its database and its config.
fn seed() -> Seed {
    let env = TestEnv::new();
    let repo = env.repo_with(
        "repo",
        &[
            ("README.md", "# demo\n"),
            (
                "src/app.ts",
                "import { helper } from './util';\n\nexport function greet(name: string): string {\n  return 'Hello, ' + name;\n}\n",
            ),
            ("src/util.ts", "export function helper(): number {\n  return 42;\n}\n"),
            ("src/version.ts", "export const VERSION = '1.0.0';\n"),
        ],
    );
    env.git(&repo, &["branch", "feature/wip"]);
    env.git(&repo, &["checkout", "-q", "-b", "feature/done"]);
    std::fs::write(repo.join("CHANGELOG.md"), "done\n").unwrap();
    env.git(&repo, &["add", "CHANGELOG.md"]);
    env.git(&repo, &["commit", "-q", "-m", "done"]);
    env.git(&repo, &["checkout", "-q", "main"]);
    env.git(&repo, &["merge", "-q", "--ff-only", "feature/done"]);
    let seed_world = |name: &str| env.path().join("repo-worktrees").join(name);
    for name in [WORK_NAME, KILLED_NAME] {
        let path = seed_world(name);
        env.git(
            &repo,
            &["worktree", "add", "-q", "-b", name, path.to_str().unwrap()],
        );
    }
    let work = seed_world(WORK_NAME);
    std::fs::write(
        work.join("src/util.ts"),
        "export function helper(): number {\n  return 43;\n}\n",
    )
    .unwrap();
    env.git(&work, &["commit", "-q", "-am", "bump helper"]);

    std::fs::create_dir_all(&env.data_dir).unwrap();
    std::fs::write(env.data_dir.join("config.json"), SEED_CONFIG).unwrap();
    let sql = SEED_DB
        .replace("@REPO@", repo.to_str().unwrap())
        .replace("@HOME@", env.home.to_str().unwrap());
    let conn = Connection::open(env.data_dir.join("coordinator.db")).unwrap();
    conn.execute_batch(&sql).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");

    let main = LiveProcess::spawn();
    let worker = LiveProcess::spawn();
    let mut gone = [LiveProcess::spawn(), LiveProcess::spawn()];
    let dead: Vec<u32> = gone.iter().map(LiveProcess::pid).collect();
    for process in &mut gone {
        process.kill();
    }
    let seed = Seed {
        env,
        repo,
        main,
        worker,
        killed_pid: dead[0],
        e2b_pid: dead[1],
    };
    for id in [MAIN_ID, WORK_ID, KILLED_ID, E2B_ID] {
        conn.execute(
            "UPDATE sessions SET pid = ?1 WHERE id = ?2",
            rusqlite::params![seed.pid_of(id), id],
        )
        .unwrap();
    }
    seed
}

/// Asserts that `ours` has every field `seed` has, with the same JSON type
/// and value (numbers within rounding), recursively; `ours` may have more.
fn assert_keeps(seed: &Value, ours: &Value, at: &str) {
    match seed {
        Value::Object(fields) => {
            let Some(ours) = ours.as_object() else {
                panic!("{at}: expected an object, found {ours}");
            };
            for (key, value) in fields {
                let Some(mine) = ours.get(key) else {
                    panic!("{at}.{key} is missing from {}", Value::Object(ours.clone()));
                };
                assert_keeps(value, mine, &format!("{at}.{key}"));
            }
        }
        Value::Array(items) => {
            let Some(ours) = ours.as_array() else {
                panic!("{at}: expected an array, found {ours}");
            };
            assert_eq!(items.len(), ours.len(), "{at}: {ours:?}");
            for (index, (item, mine)) in items.iter().zip(ours).enumerate() {
                assert_keeps(item, mine, &format!("{at}[{index}]"));
            }
        }
        Value::Number(number) => {
            let mine = ours
                .as_f64()
                .unwrap_or_else(|| panic!("{at}: expected a number, found {ours}"));
            let theirs = number.as_f64().unwrap();
            assert!((mine - theirs).abs() < 1e-9, "{at}: {mine} is not {theirs}");
        }
        other => assert_eq!(other, ours, "{at}"),
    }
}

/// Evaluates SQLite date arithmetic, as our commands do it.
fn clock<T: rusqlite::types::FromSql>(sql: &str, parameter: &str) -> T {
    Connection::open_in_memory()
        .unwrap()
        .query_row(sql, [parameter], |row| row.get(0))
        .unwrap()
}

/// Whole minutes since a stored time.
fn minutes_since(stamp: &str) -> i64 {
    clock(
        "SELECT CAST((julianday('now') - julianday(?1)) * 1440 AS INTEGER)",
        stamp,
    )
}

/// Puts our `durationMinutes` into the expectation once it is the time
/// since `createdAt` (within a minute: the clock moves while we look).
fn expect_duration(want: &mut Value, ours: &Value) {
    let since = minutes_since(want["createdAt"].as_str().unwrap());
    let mine = ours["durationMinutes"].as_i64().unwrap();
    assert!(
        (mine - since).abs() <= 1,
        "durationMinutes {mine}, {since} minutes since {}",
        want["createdAt"]
    );
    want["durationMinutes"] = json!(mine);
}

fn by_id<'a>(list: &'a Value, key: &str, id: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|item| item[key] == id)
        .unwrap_or_else(|| panic!("{id} not in {list}"))
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn status_lists_the_seeds_sessions_with_its_fields() {
    let s = seed();
    let ours = s.json(&["status"]);
    let mut want = s.recorded("status");
    assert_eq!(want["repoPath"], "all", "the seed ran it without --repo");
    for (index, session) in want["sessions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let id = session["sessionId"].as_str().unwrap().to_owned();
        session["pid"] = json!(s.pid_of(&id));
        assert_eq!(session["isAlive"], s.is_alive(&id), "the liveness it saw");
        expect_duration(session, &ours["sessions"][index]);
    }
    assert_keeps(&want, &ours, "status");
    // Inside the repository, status is the repository's (the seed's was all).
    let inside = s.json_in(&s.repo, &["status"]);
    assert_eq!(inside["repoPath"], s.repo_str());
    assert_eq!(
        ids(&inside["sessions"], "sessionId"),
        ids(&want["sessions"], "sessionId")
    );

    let ours = s.json(&["status", "--sandbox-only"]);
    let mut want = s.recorded("status-sandbox");
    want["sessions"][0]["pid"] = json!(s.e2b_pid);
    expect_duration(&mut want["sessions"][0], &ours["sessions"][0]);
    assert_keeps(&want, &ours, "status --sandbox-only");
}

#[test]
fn claims_conflicts_suggestions_and_merges_keep_the_seeds_rows() {
    let s = seed();
    let repo = s.repo_str().to_owned();

    // Claims: the seed listed the active ones. A claim ends for us when its
    // session's process is gone (at once) or its expiry passed.
    let everything = s.json(&["claims", "--all"]);
    let active = s.json(&["claims"]);
    let mut want = s.recorded("claims");
    let mut still_active = Vec::new();
    for claim in want["claims"].as_array_mut().unwrap() {
        let session = claim["session_id"].as_str().unwrap().to_owned();
        let ahead: bool = clock(
            "SELECT datetime(?1) > datetime('now')",
            claim["expires_at"].as_str().unwrap(),
        );
        let is_active = s.is_alive(&session) && ahead;
        claim["is_active"] = json!(is_active);
        // We store the repository; the seed stored the agent's working
        // directory, a worktree's path for a session in one.
        claim["repo_path"] = json!(repo);
        let id = claim["id"].as_str().unwrap().to_owned();
        assert_keeps(claim, by_id(&everything["claims"], "id", &id), &id);
        if is_active {
            still_active.push(claim.clone());
        }
    }
    assert_keeps(
        &json!({"claims": still_active, "total": still_active.len()}),
        &active,
        "claims",
    );
    // The claim it had released is listed with --all only.
    assert_eq!(
        by_id(
            &everything["claims"],
            "id",
            "51953889-1644-47b2-8eb3-585b357a5276"
        )["is_active"],
        false
    );
    // A worktree's claims are the repository's.
    let in_repo = s.json(&["claims", "--all", "--repo", &repo]);
    assert_eq!(in_repo["total"], everything["total"]);

    // Conflict history and suggestions recorded for the worktree's path
    // are the repository's.
    let mut want = s.recorded("conflicts");
    for row in want["resolutions"].as_array_mut().unwrap() {
        row["repo_path"] = json!(repo);
    }
    let work = s.worktree(WORK_NAME);
    for (dir, args) in [
        (s.env.path(), vec!["conflicts"]),
        (s.repo.clone(), vec!["conflicts"]),
        (work.join("src"), vec!["conflicts"]),
        (
            s.env.path(),
            vec!["conflicts", "--repo", work.to_str().unwrap()],
        ),
        (s.env.path(), vec!["conflicts", "--repo", &repo]),
    ] {
        assert_keeps(
            &want,
            &s.json_in(&dir, &args),
            &format!("{args:?} in {dir:?}"),
        );
    }
    let mut want = s.recorded("suggestions");
    for row in want["suggestions"].as_array_mut().unwrap() {
        row["repo_path"] = json!(repo);
    }
    for (dir, args) in [
        (s.env.path(), vec!["suggestions"]),
        (s.repo.clone(), vec!["suggestions"]),
        (work.clone(), vec!["suggestions"]),
        (
            s.env.path(),
            vec!["suggestions", "--repo", work.to_str().unwrap()],
        ),
    ] {
        assert_keeps(
            &want,
            &s.json_in(&dir, &args),
            &format!("{args:?} in {dir:?}"),
        );
    }
    // The applied one in the worktree is found by id, and knows its checkout.
    let stored = s.json(&["suggestions", "--applied"]);
    assert_eq!(stored["total"], 1);
    assert_eq!(
        stored["suggestions"][0]["metadata"]["checkoutPath"],
        work.to_str().unwrap()
    );

    // One it made but did not apply is found by id, and refused: it holds
    // no record of the file it was made for.
    let refused = s
        .env
        .pcc("git-pcc")
        .args([
            "suggestions",
            "--apply",
            "ed77cb89-22e3-4841-bea5-5f93748b7ce7",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("records no fingerprint of src/app.ts"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    assert_keeps(
        &s.recorded("merge-events"),
        &s.json(&["merge", "status"]),
        "merge status",
    );
    // We list inactive subscriptions too (newest first); the seed listed
    // the active ones, in the order they were made.
    let subscriptions = s.json(&["merge", "status", "--subscriptions"]);
    let want = s.recorded("merge-subs");
    for subscription in want["subscriptions"].as_array().unwrap() {
        let id = subscription["id"].as_str().unwrap();
        assert_keeps(
            subscription,
            by_id(&subscriptions["subscriptions"], "id", id),
            id,
        );
    }
    let inactive = by_id(
        &subscriptions["subscriptions"],
        "id",
        "a2dea618-e128-40cb-8896-0ad277438780",
    );
    assert_eq!(inactive["is_active"], false);
    assert_eq!(inactive["notified_at"], "2026-12-01 22:17:36");
    assert_eq!(subscriptions["total"], 4);
}

#[test]
fn config_and_budgets_keep_the_seeds_values() {
    let s = seed();
    assert_keeps(
        &s.recorded("config"),
        &s.json(&["config", "list"]),
        "config list",
    );

    for period in ["daily", "weekly", "monthly"] {
        let ours = s.json(&["budget", "status", "--period", period]);
        let mut want = s.recorded(&format!("budget-{period}"));
        // The seed's spending is of the periods holding 2026-12-01; budget
        // status shows the period holding today.
        let today = match period {
            "daily" => clock::<String>("SELECT date(?1)", "now"),
            "weekly" => clock::<String>("SELECT date(?1, '-6 days', 'weekday 1')", "now"),
            _ => clock::<String>("SELECT date(?1, 'start of month')", "now"),
        };
        if want["currentPeriod"]["start"] != today.as_str() {
            let limit = want["currentPeriod"]["limit"].as_f64();
            want["currentPeriod"]["start"] = json!(today);
            want["currentPeriod"]["spent"] = json!(0.0);
            want["totalSpent"] = json!(0.0);
            if let Some(limit) = limit {
                want["currentPeriod"]["remaining"] = json!(limit);
                want["remainingBudget"] = json!(limit);
            }
        }
        assert_keeps(&want, &ours, &format!("budget status --period {period}"));
    }
    // Its rows are kept as they were.
    let conn = s.env.db();
    let rows: Vec<(String, String, String, Option<f64>, f64)> = conn
        .prepare("SELECT id, period, period_start, budget_limit, spent FROM budget_tracking ORDER BY created_at")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            (
                "5f8edbfc-d5f7-46b5-94a2-631d50b4e837".into(),
                "monthly".into(),
                "2026-12-01".into(),
                Some(50.0),
                1.25
            ),
            (
                "ad50618d-ad21-4e93-b52e-d88cc1ca42b5".into(),
                "daily".into(),
                "2026-12-01".into(),
                None,
                0.5
            ),
            (
                "aa7b1a75-f0e9-4cd9-beab-4cbf0d27ea0c".into(),
                "weekly".into(),
                "2026-11-30".into(),
                None,
                0.75
            ),
        ]
    );
}

#[test]
fn config_set_cleanup_register_and_release_print_the_seeds_fields() {
    let s = seed();
    let set = s.json(&["config", "set", "budget.monthlyLimit", "60"]);
    assert_keeps(
        &json!({"success": true, "key": "budget.monthlyLimit", "value": 60}),
        &set,
        "config set",
    );
    let get = s
        .env
        .pcc("git-pcc")
        .args(["config", "get", "ui.color", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        get.status.code(),
        Some(0),
        "the seed's own key stays readable"
    );
    let get: Value = serde_json::from_slice(&get.stdout).unwrap();
    assert_eq!(get["value"], false);

    // The killed session and the E2B row are stale at once (their
    // processes are gone); the clean worktree goes, by name.
    let cleaned = s.json_in(&s.repo, &["cleanup"]);
    assert_eq!(cleaned["removed"], 2, "{cleaned}");
    let mut removed: Vec<&str> = cleaned["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    removed.sort();
    assert_eq!(removed, [KILLED_ID, E2B_ID]);
    assert!(
        cleaned["worktreesRemoved"]
            .as_array()
            .unwrap()
            .contains(&json!(KILLED_NAME)),
        "{cleaned}"
    );
    assert!(!s.worktree(KILLED_NAME).exists());

    let agent = LiveProcess::spawn();
    let registered = s.json_in(
        &s.repo,
        &[
            "register",
            "--repo",
            s.repo_str(),
            "--pid",
            &agent.pid().to_string(),
        ],
    );
    let registration = |value: &Value, is_new: bool| {
        assert!(value["sessionId"].is_string(), "{value}");
        assert!(value["worktreePath"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}-worktrees/", s.repo_str())));
        assert!(value["worktreeName"].is_string(), "{value}");
        assert_eq!(value["isNew"], is_new);
        assert_eq!(value["isMainRepo"], false);
        // Both live sessions of the seed and this one.
        assert_eq!(value["parallelSessions"], 3);
    };
    registration(&registered, true);
    let again = s.json_in(
        &s.repo,
        &[
            "register",
            "--repo",
            s.repo_str(),
            "--pid",
            &agent.pid().to_string(),
        ],
    );
    registration(&again, false);
    assert_eq!(again["sessionId"], registered["sessionId"]);

    let release = |pid: u32| -> (Option<i32>, Value) {
        let output = s
            .env
            .pcc("git-pcc-release")
            .args(["--pid", &pid.to_string(), "--json"])
            .output()
            .unwrap();
        (
            output.status.code(),
            serde_json::from_slice(&output.stdout).unwrap(),
        )
    };
    let (code, released) = release(agent.pid());
    assert_eq!(code, Some(0));
    assert_keeps(
        &json!({"released": true, "worktreeRemoved": true}),
        &released,
        "release",
    );
    let (code, unknown) = release(s.killed_pid);
    assert_eq!(code, Some(0), "as the seed: not released, no failure");
    assert_keeps(
        &json!({"released": false, "worktreeRemoved": false}),
        &unknown,
        "release",
    );
}

/// A stand-in for `claude -p` that reports a cost of $0.01 and does nothing.
const STAND_IN: &str = "#!/bin/sh\n\
echo '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"stand-in\",\"model\":\"stand-in\"}'\n\
echo '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"num_turns\":1,\"result\":\"done\",\"total_cost_usd\":0.01}'\n";

#[test]
fn a_sandbox_run_on_the_migrated_database_adds_to_the_seeds_budget() {
    let s = seed();
    let before: Vec<Value> = ["daily", "weekly", "monthly"]
        .iter()
        .map(|p| s.json(&["budget", "status", "--period", p]))
        .collect();
    let bin = s.env.path().join("stand-in");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("claude"), STAND_IN).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("claude"), std::fs::Permissions::from_mode(0o755)).unwrap();
    s.json(&["config", "set", "sandbox.confinement", "off"]);
    let output = s
        .env
        .pcc("git-pcc-sandbox")
        .current_dir(&s.repo)
        .env("PATH", format!("{}:{}", bin.display(), s.env.path_var()))
        .env("ANTHROPIC_API_KEY", "sk-ant-api03-stand-in")
        .args(["run", "--prompt", "nothing to do", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for (period, before) in ["daily", "weekly", "monthly"].iter().zip(before) {
        let after = s.json(&["budget", "status", "--period", period]);
        let spent = |v: &Value| v["currentPeriod"]["spent"].as_f64().unwrap();
        assert!(
            (spent(&after) - spent(&before) - 0.01).abs() < 1e-9,
            "{period}: {before} then {after}"
        );
        assert_eq!(after["runs"], before["runs"].as_i64().unwrap() + 1);
        // The run is listed beside the seed's E2B session.
        assert_eq!(after["sessions"].as_array().unwrap().len(), 2, "{after}");
    }
}

#[test]
fn mcp_tools_keep_the_seeds_fields_on_its_data() {
    let s = seed();
    let call = |tool: &str, arguments: Value| -> Value {
        let result = support::mcp_call(&s.env, WORK_ID, tool, arguments);
        assert_eq!(result["isError"], false, "{tool}: {result}");
        result["structuredContent"].clone()
    };
    let has = |value: &Value, fields: &[&str], what: &str| {
        for field in fields {
            assert!(value.get(field).is_some(), "{what} has no {field}: {value}");
        }
    };

    let status = call("get_parallel_status", json!({}));
    assert_eq!(status["totalSessions"], 4);
    for session in status["sessions"].as_array().unwrap() {
        has(
            session,
            &[
                "pid",
                "worktreePath",
                "worktreeName",
                "isMainRepo",
                "durationMinutes",
                "isAlive",
            ],
            "session",
        );
    }
    let mine = call("get_my_session", json!({}));
    has(
        &mine,
        &[
            "sessionId",
            "worktreePath",
            "worktreeName",
            "isMainRepo",
            "startedAt",
            "parallelSessions",
        ],
        "get_my_session",
    );
    assert_eq!(mine["startedAt"], "2026-12-01 22:16:57");
    assert_eq!(mine["worktreeName"], WORK_NAME);

    let claims = call("list_file_claims", json!({"includeExpired": true}));
    has(&claims, &["claims", "totalClaims"], "list_file_claims");
    let claim = by_id(
        &claims["claims"],
        "claimId",
        "b0900349-3f27-4ef0-a81d-fa0bfa87b0cd",
    );
    has(
        claim,
        &[
            "claimId",
            "filePath",
            "claimMode",
            "sessionId",
            "sessionPid",
            "worktreeName",
            "claimedAt",
            "expiresAt",
            "minutesUntilExpiry",
            "reason",
        ],
        "claim",
    );
    assert_eq!(claim["claimMode"], "EXCLUSIVE");
    assert_eq!(claim["sessionPid"], s.worker.pid());
    assert_eq!(claim["worktreeName"], WORK_NAME);
    assert_eq!(claim["reason"], "bump helper");

    let events = call("get_merge_events", json!({}));
    assert_eq!(events["total"], 1);
    has(
        &events["events"][0],
        &[
            "branchName",
            "targetBranch",
            "sourceCommit",
            "targetCommit",
            "mergedAt",
            "detectedAt",
        ],
        "event",
    );
    let merged = call("check_merge_status", json!({"branch": "feature/done"}));
    assert_eq!(merged["isMerged"], true);
    has(
        &merged,
        &["isMerged", "mergeEvent", "message"],
        "check_merge_status",
    );
    assert_eq!(merged["mergeEvent"]["mergedAt"], "2026-12-01 22:17:36");

    // From the worktree's session, the history recorded for its path and
    // for the repository's.
    let history = call("conflict_history", json!({}));
    assert_eq!(
        history["pagination"],
        json!({"offset": 0, "limit": 20, "total": 2})
    );
    assert_eq!(history["statistics"]["totalResolutions"], 2);
    assert_eq!(
        history["statistics"]["byStrategy"],
        json!({"AUTO_FIX": 1, "MANUAL": 1})
    );
    let fixed = by_id(
        &history["history"],
        "resolutionId",
        "4fa3b639-e096-45d3-b39a-a631e494dfc0",
    );
    assert_eq!(
        fixed,
        &json!({
            "resolutionId": "4fa3b639-e096-45d3-b39a-a631e494dfc0",
            "filePath": "src/app.ts",
            "conflictType": "CONCURRENT_EDIT",
            "resolutionStrategy": "AUTO_FIX",
            "confidence": 0.55,
            "detectedAt": "2026-12-01 22:18:42",
            "resolvedAt": "2026-12-01T22:18:42.041Z",
            "autoFixStrategy": "ConcurrentEdit",
            "wasAutoApplied": true,
            "explanation": "Concurrent edit detected in src/app.ts. Both branches modified the same code. Kept current branch version with commented alternatives. Manual review required.",
        })
    );
    let manual = by_id(
        &history["history"],
        "resolutionId",
        "b4ad040c-38c8-4054-90cd-316545496996",
    );
    assert_eq!(manual["wasAutoApplied"], false);
    assert!(manual.get("resolvedAt").is_none());
}
