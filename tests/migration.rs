//! Schema migration: a `coordinator.db` written by the TypeScript tool at
//! schema 1.1.0 is migrated in place (backup first, every old column and row
//! kept) and works with today's commands; `update` is idempotent; a fresh
//! data dir gets the schema without a backup.

mod support;

use std::path::{Path, PathBuf};

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{json, Value};
use support::{list_dir, LiveProcess, TestEnv};

const SEED_SCHEMA: &str = include_str!("fixtures/seed-schema-1.1.0.sql");

const MAIN_ID: &str = "5f1d7c2e-9a41-4b8e-8d33-0c6a1e2b7f10";
const WORKTREE_ID: &str = "c0a8e4b2-3d17-4f62-a9d5-71e0f3b4c826";

/// The columns we added to the seed's `sessions` table, in their order.
const OUR_SESSION_COLUMNS: [&str; 16] = [
    "branch",
    "base_branch",
    "base_commit",
    "process_start",
    "agent_pid",
    "agent_start",
    "owns_worktree",
    "state",
    "state_since",
    "state_at",
    "waiting_for",
    "last_message",
    "predicted_conflicts",
    "predicted_at",
    "conversation_id",
    "agent",
];

/// Columns of a seed table, as `PRAGMA table_info` describes them.
fn table_info(conn: &Connection, table: &str) -> Vec<Vec<SqlValue>> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({table})"))
        .unwrap();
    stmt.query_map([], |row| {
        (0..6).map(|i| row.get::<_, SqlValue>(i)).collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn column_names(conn: &Connection, table: &str) -> Vec<String> {
    table_info(conn, table)
        .into_iter()
        .map(|column| match &column[1] {
            SqlValue::Text(name) => name.clone(),
            other => panic!("column name {other:?}"),
        })
        .collect()
}

/// Every row of `table`, reading only `columns`, in primary-key order.
fn rows(conn: &Connection, table: &str, columns: &[String]) -> Vec<Vec<SqlValue>> {
    let sql = format!("SELECT {} FROM {table} ORDER BY 1", columns.join(", "));
    let mut stmt = conn.prepare(&sql).unwrap();
    stmt.query_map([], |row| {
        (0..columns.len())
            .map(|i| row.get::<_, SqlValue>(i))
            .collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn version(conn: &Connection) -> String {
    conn.query_row(
        "SELECT value FROM schema_metadata WHERE key = 'version'",
        [],
        |row| row.get(0),
    )
    .unwrap()
}

fn backups(env: &TestEnv) -> Vec<String> {
    list_dir(&env.data_dir)
        .into_iter()
        .filter(|name| name.starts_with("coordinator.db.backup-"))
        .collect()
}

/// A copy of a database file outside the data dir, so that opening it
/// cannot add files next to the original.
fn open_copy(env: &TestEnv, path: &Path) -> Connection {
    let copy = env.path().join("inspect.db");
    std::fs::copy(path, &copy).unwrap();
    Connection::open(&copy).unwrap()
}

struct Seeded {
    env: TestEnv,
    repo: PathBuf,
    agent: LiveProcess,
    dead_pid: u32,
    old_worktree: PathBuf,
    db_path: PathBuf,
}

/// A data dir holding a 1.1.0 database with a live main session and a dead
/// worktree session (a real, clean git worktree), as the old tool wrote them.
fn seeded() -> Seeded {
    let env = TestEnv::new();
    let repo = env.repo_with("web", &[("index.html", "<h1>web</h1>\n")]);
    let old_worktree = env.path().join("web-worktrees").join("feature-login");
    env.git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "feature-login",
            old_worktree.to_str().unwrap(),
        ],
    );
    let agent = LiveProcess::spawn();
    let mut gone = LiveProcess::spawn();
    let dead_pid = gone.pid();
    gone.kill();

    std::fs::create_dir_all(&env.data_dir).unwrap();
    let db_path = env.data_dir.join("coordinator.db");
    let conn = Connection::open(&db_path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.execute_batch(SEED_SCHEMA).unwrap();
    let insert =
        "INSERT INTO sessions (id, pid, repo_path, worktree_path, worktree_name, is_main_repo)
                  VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    let repo_path = repo.to_str().unwrap();
    conn.execute(
        insert,
        rusqlite::params![
            MAIN_ID,
            agent.pid(),
            repo_path,
            repo_path,
            None::<String>,
            1
        ],
    )
    .unwrap();
    conn.execute(
        insert,
        rusqlite::params![
            WORKTREE_ID,
            dead_pid,
            repo_path,
            old_worktree.to_str().unwrap(),
            "feature-login",
            0
        ],
    )
    .unwrap();
    drop(conn);
    Seeded {
        env,
        repo,
        agent,
        dead_pid,
        old_worktree,
        db_path,
    }
}

#[test]
fn a_1_1_0_database_is_migrated_in_place_and_keeps_everything() {
    let s = seeded();
    let env = &s.env;

    let (seed_columns, seed_rows, seed_info, seed_metadata) = {
        let conn = Connection::open(&s.db_path).unwrap();
        assert_eq!(version(&conn), "1.1.0");
        let columns = column_names(&conn, "sessions");
        assert_eq!(columns.len(), 20);
        let metadata_columns = column_names(&conn, "schema_metadata");
        (
            columns.clone(),
            rows(&conn, "sessions", &columns),
            table_info(&conn, "sessions"),
            rows(&conn, "schema_metadata", &metadata_columns),
        )
    };
    assert_eq!(seed_rows.len(), 2);

    // An unknown target version changes nothing, not even a backup.
    let unknown = env
        .pcc("git-pcc")
        .args(["migrate", "--version", "9.9.9"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(backups(env), Vec::<String>::new());
    assert_eq!(version(&Connection::open(&s.db_path).unwrap()), "1.1.0");

    let status = env.status();
    assert_eq!(status["totalSessions"], 2);
    let by_id = |id: &str| -> Value {
        status["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|session| session["sessionId"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} missing from {status}"))
    };
    let main = by_id(MAIN_ID);
    assert_eq!(main["pid"], s.agent.pid());
    assert_eq!(main["isAlive"], true);
    assert_eq!(main["isMainRepo"], true);
    assert_eq!(main["repoPath"], s.repo.to_str().unwrap());
    assert_eq!(main["worktreePath"], s.repo.to_str().unwrap());
    assert_eq!(main["worktreeName"], Value::Null);
    assert_eq!(main["branch"], "main");
    let worktree = by_id(WORKTREE_ID);
    assert_eq!(worktree["pid"], s.dead_pid);
    assert_eq!(worktree["isAlive"], false);
    assert_eq!(worktree["isMainRepo"], false);
    assert_eq!(worktree["worktreePath"], s.old_worktree.to_str().unwrap());
    assert_eq!(worktree["worktreeName"], "feature-login");
    assert_eq!(worktree["holdsWork"], false);
    assert_eq!(status["keptWorktrees"], json!([]));

    let conn = Connection::open(&s.db_path).unwrap();
    assert_eq!(version(&conn), "2.13.0");
    let user_version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(user_version, 21300);
    // The old columns keep their place and definition, new ones come after.
    let info = table_info(&conn, "sessions");
    assert_eq!(info[..20], seed_info[..]);
    assert_eq!(column_names(&conn, "sessions")[20..], OUR_SESSION_COLUMNS);
    assert_eq!(rows(&conn, "sessions", &seed_columns), seed_rows);
    // The old tool's other metadata stays.
    let metadata_columns = column_names(&conn, "schema_metadata");
    let metadata = rows(&conn, "schema_metadata", &metadata_columns);
    let others = |all: &[Vec<SqlValue>]| -> Vec<Vec<SqlValue>> {
        all.iter()
            .filter(|row| row[0] != SqlValue::Text("version".into()))
            .cloned()
            .collect()
    };
    assert_eq!(others(&metadata), others(&seed_metadata));
    assert_eq!(others(&metadata).len(), 2);
    drop(conn);

    let found = backups(env);
    assert_eq!(found.len(), 1, "{:?}", list_dir(&env.data_dir));
    assert!(
        found[0].starts_with("coordinator.db.backup-1.1.0-"),
        "{found:?}"
    );
    let backup = open_copy(env, &env.data_dir.join(&found[0]));
    assert_eq!(version(&backup), "1.1.0");
    assert_eq!(table_info(&backup, "sessions"), seed_info);
    assert_eq!(rows(&backup, "sessions", &seed_columns), seed_rows);
    drop(backup);

    // A second update finds nothing to do and makes no new backup.
    let (output, again) = env.json(env.pcc("git-pcc").args(["update", "--json"]));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        again,
        json!({
            "fromVersion": "2.13.0",
            "toVersion": "2.13.0",
            "applied": [],
            "backupPath": null,
            "repaired": [],
        })
    );
    assert_eq!(backups(env), found);

    // Today's release works on the migrated main session.
    let (output, released) =
        env.json(
            env.pcc("git-pcc-release")
                .args(["--pid", &s.agent.pid().to_string(), "--json"]),
        );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        released,
        json!({
            "success": true,
            "sessionId": MAIN_ID,
            "pid": s.agent.pid(),
            "repoPath": s.repo.to_str().unwrap(),
            "isMainRepo": true,
            "worktreePath": s.repo.to_str().unwrap(),
            "worktreeRemoved": false,
            "branchDeleted": false,
            "kept": null,
            "repaired": {"undone": [], "finished": [], "kept": [], "failed": []},
            "released": true,
        })
    );
    let conn = Connection::open(&s.db_path).unwrap();
    let left: Vec<Vec<SqlValue>> = rows(&conn, "sessions", &seed_columns);
    assert_eq!(left, seed_rows[1..]);
    assert!(s.repo.join("index.html").is_file());
}

#[test]
fn cleanup_removes_a_dead_seed_worktree_session_with_its_clean_worktree() {
    let s = seeded();
    let env = &s.env;
    let (output, report) = env.json(env.pcc("git-pcc").args(["cleanup", "--all", "--json"]));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        report,
        json!({
            "repoPath": "all",
            "dryRun": false,
            "force": false,
            "removedSessions": [{
                "sessionId": WORKTREE_ID,
                "pid": s.dead_pid,
                "repoPath": s.repo.to_str().unwrap(),
                "worktreePath": s.old_worktree.to_str().unwrap(),
                "isMainRepo": false,
            }],
            "removedWorktrees": [s.old_worktree.to_str().unwrap()],
            "kept": [],
            "failures": [],
            "repaired": json!({"undone": [], "finished": [], "kept": [], "failed": []}),
            "removed": 1,
            "sessions": [WORKTREE_ID],
            "worktreesRemoved": ["feature-login"],
        })
    );
    assert!(!s.old_worktree.exists());
    assert_eq!(
        env.git(&s.repo, &["branch", "--list", "--format=%(refname:short)"]),
        "main\n"
    );
    assert_eq!(
        env.git(&s.repo, &["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    assert_eq!(env.session_rows(), 1);
}

#[test]
fn a_dead_seed_worktree_session_with_commits_is_kept() {
    let s = seeded();
    let env = &s.env;
    std::fs::write(s.old_worktree.join("login.html"), "<form></form>\n").unwrap();
    env.git(&s.old_worktree, &["add", "login.html"]);
    env.git(&s.old_worktree, &["commit", "-q", "-m", "login form"]);

    let (output, report) = env.json(env.pcc("git-pcc").args(["cleanup", "--all", "--json"]));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let kept = json!({
        "worktreePath": s.old_worktree.to_str().unwrap(),
        "worktreeName": "feature-login",
        "branch": "feature-login",
        "repoPath": s.repo.to_str().unwrap(),
        "sessionId": WORKTREE_ID,
        "reason": "1 commit not on its base",
        "uncommittedFiles": 0,
        "unmergedCommits": 1,
        "hiddenChanges": 0,
        "submodules": [],
        "locked": false,
    });
    assert_eq!(report["removedSessions"][0]["sessionId"], WORKTREE_ID);
    assert_eq!(report["removedWorktrees"], json!([]));
    assert_eq!(report["kept"], json!([kept]));
    assert_eq!(
        std::fs::read_to_string(s.old_worktree.join("login.html")).unwrap(),
        "<form></form>\n"
    );
    assert_eq!(
        env.git(&s.repo, &["log", "-1", "--format=%s", "feature-login"]),
        "login form\n"
    );
    assert_eq!(env.session_rows(), 1);

    // Forced, the worktree and the branch that held the work both go, as
    // they do for a session registered by this version.
    let (output, forced) = env.json(
        env.pcc("git-pcc")
            .args(["cleanup", "--all", "--force", "--json"]),
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        forced["removedWorktrees"],
        json!([s.old_worktree.to_str().unwrap()])
    );
    assert!(!s.old_worktree.exists());
    assert_eq!(
        env.git(&s.repo, &["branch", "--list", "--format=%(refname:short)"]),
        "main\n"
    );
}

#[test]
fn a_fresh_data_dir_gets_the_schema_without_a_backup() {
    let env = TestEnv::new();
    assert!(!env.data_dir.exists());
    let (output, report) = env.json(env.pcc("git-pcc").args(["migrate", "--json"]));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["fromVersion"], Value::Null);
    assert_eq!(report["toVersion"], "2.13.0");
    assert_eq!(report["backupPath"], Value::Null);
    let applied: Vec<&str> = report["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step.as_str().unwrap())
        .collect();
    assert_eq!(applied.len(), 13, "{applied:?}");
    assert!(applied[0].starts_with("1.1.0 "), "{applied:?}");
    assert!(applied[1].starts_with("2.0.0 "), "{applied:?}");
    assert!(applied[2].starts_with("2.1.0 "), "{applied:?}");
    assert!(applied[3].starts_with("2.2.0 "), "{applied:?}");
    assert!(applied[4].starts_with("2.3.0 "), "{applied:?}");
    assert!(applied[5].starts_with("2.4.0 "), "{applied:?}");
    assert!(applied[6].starts_with("2.5.0 "), "{applied:?}");
    assert!(applied[7].starts_with("2.6.0 "), "{applied:?}");
    assert!(applied[8].starts_with("2.7.0 "), "{applied:?}");
    assert!(applied[9].starts_with("2.9.0 "), "{applied:?}");
    assert!(applied[10].starts_with("2.10.0 "), "{applied:?}");
    assert!(applied[11].starts_with("2.11.0 "), "{applied:?}");
    assert!(applied[12].starts_with("2.13.0 "), "{applied:?}");
    assert_eq!(backups(&env), Vec::<String>::new());

    let conn = env.db();
    assert_eq!(version(&conn), "2.13.0");
    let user_version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(user_version, 21300);
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    // The sessions table has the seed's columns, in the seed's order, then ours.
    let seed = Connection::open_in_memory().unwrap();
    seed.execute_batch(SEED_SCHEMA).unwrap();
    let mut expected = column_names(&seed, "sessions");
    expected.extend(OUR_SESSION_COLUMNS.iter().map(|c| c.to_string()));
    assert_eq!(column_names(&conn, "sessions"), expected);
    assert!(!column_names(&conn, "kept_worktrees").is_empty());
    drop(conn);

    // Migrating again is a no-op.
    let (output, again) = env.json(env.pcc("git-pcc").args(["migrate", "--json"]));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(again["applied"], json!([]));
    assert_eq!(again["backupPath"], Value::Null);
    assert_eq!(backups(&env), Vec::<String>::new());

    let unknown = env
        .pcc("git-pcc")
        .args(["migrate", "--version", "9.9.9"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(unknown.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: unknown schema version 9.9.9"),
        "{stderr}"
    );
    let (output, value) =
        env.json(
            env.pcc("git-pcc")
                .args(["migrate", "--version", "9.9.9", "--json"]),
        );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        value,
        json!({"success": false, "error": "unknown schema version 9.9.9"})
    );
    assert_eq!(version(&env.db()), "2.13.0");
}

/// The first day of the current daily, weekly (from Monday) and monthly
/// period, as SQLite computes them.
fn current_period_starts(conn: &Connection) -> (String, String, String) {
    conn.query_row(
        "SELECT date('now'), date('now', '-6 days', 'weekday 1'), date('now', 'start of month')",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )
    .unwrap()
}

fn database_check(env: &TestEnv) -> Value {
    let (_, report) = env.json(env.pcc("git-pcc").args(["doctor", "--json"]));
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "database")
        .cloned()
        .unwrap_or_else(|| panic!("no database check in {report}"))
}

fn budget(env: &TestEnv, period: &str) -> Value {
    let (output, value) = env.json(
        env.pcc("git-pcc")
            .args(["budget", "status", "--period", period, "--json"]),
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    value
}

/// A row of the seed's `budget_tracking`: id, period, start, limit,
/// spent, created.
type BudgetRow<'a> = (&'a str, &'a str, &'a str, Option<f64>, f64, &'a str);

const SEED_BUDGET_COLUMNS: [&str; 6] = [
    "id",
    "period",
    "period_start",
    "budget_limit",
    "spent",
    "created_at",
];

#[test]
fn the_seed_budget_table_keeps_its_rows_and_budget_status_reads_them() {
    let s = seeded();
    let env = &s.env;
    std::fs::write(
        env.data_dir.join("config.json"),
        r#"{"budget": {"monthlyLimit": 50}}"#,
    )
    .unwrap();
    let conn = Connection::open(&s.db_path).unwrap();
    let (day, week, month) = current_period_starts(&conn);
    let insert =
        "INSERT INTO budget_tracking (id, period, period_start, budget_limit, spent, created_at)
                  VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    let seed_rows: [BudgetRow; 5] = [
        (
            "5f8edbfc-monthly",
            "monthly",
            &month,
            Some(50.0),
            1.25,
            "2026-12-01 22:18:36",
        ),
        (
            "ad50618d-daily",
            "daily",
            &day,
            None,
            0.5,
            "2026-12-01 22:18:37",
        ),
        (
            "aa7b1a75-weekly",
            "weekly",
            &week,
            None,
            0.75,
            "2026-12-01 22:18:38",
        ),
        // Nothing kept the seed from writing a period twice.
        (
            "0d0d0d0d-daily-again",
            "daily",
            &day,
            None,
            0.25,
            "2026-12-01 22:18:39",
        ),
        (
            "11111111-old",
            "monthly",
            "2026-01-01",
            Some(20.0),
            3.0,
            "2026-01-05 10:00:00",
        ),
    ];
    for (id, period, start, limit, spent, created) in seed_rows {
        conn.execute(
            insert,
            rusqlite::params![id, period, start, limit, spent, created],
        )
        .unwrap();
    }
    drop(conn);

    // An earlier version of ours migrated it to 2.4.0 and left the table
    // as it was: doctor says the schema is behind, update brings it on.
    let (output, _) =
        env.json(
            env.pcc("git-pcc")
                .args(["migrate", "--version", "2.4.0", "--json"]),
        );
    assert_eq!(output.status.code(), Some(0));
    let check = database_check(env);
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains("behind 2.13.0"),
        "{check}"
    );
    assert_eq!(check["hint"], "run 'git pcc update'");
    let (output, report) = env.json(env.pcc("git-pcc").args(["update", "--json"]));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(report["fromVersion"], "2.4.0");
    assert_eq!(report["toVersion"], "2.13.0");
    assert!(report["backupPath"].is_string(), "{report}");
    assert_eq!(database_check(env)["ok"], true);

    let conn = Connection::open(&s.db_path).unwrap();
    // The seed's columns keep their order, ours follow; one row per period.
    let mut expected_columns: Vec<String> = SEED_BUDGET_COLUMNS.map(str::to_owned).to_vec();
    expected_columns.extend(["runs".to_owned(), "updated_at".to_owned()]);
    assert_eq!(column_names(&conn, "budget_tracking"), expected_columns);
    let columns: Vec<String> = SEED_BUDGET_COLUMNS.map(str::to_owned).to_vec();
    let mut kept = rows(&conn, "budget_tracking", &columns);
    kept.sort_by_key(|row| format!("{:?}", row[0]));
    let text = |v: &str| SqlValue::Text(v.to_owned());
    let mut expected = vec![
        vec![
            text("11111111-old"),
            text("monthly"),
            text("2026-01-01"),
            SqlValue::Real(20.0),
            SqlValue::Real(3.0),
            text("2026-01-05 10:00:00"),
        ],
        vec![
            text("5f8edbfc-monthly"),
            text("monthly"),
            text(&month),
            SqlValue::Real(50.0),
            SqlValue::Real(1.25),
            text("2026-12-01 22:18:36"),
        ],
        vec![
            text("aa7b1a75-weekly"),
            text("weekly"),
            text(&week),
            SqlValue::Null,
            SqlValue::Real(0.75),
            text("2026-12-01 22:18:38"),
        ],
        vec![
            text("ad50618d-daily"),
            text("daily"),
            text(&day),
            SqlValue::Null,
            SqlValue::Real(0.75),
            text("2026-12-01 22:18:37"),
        ],
    ];
    expected.sort_by_key(|row| format!("{:?}", row[0]));
    assert_eq!(kept, expected);
    let runs: i64 = conn
        .query_row("SELECT SUM(runs) FROM budget_tracking", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 0, "the seed counted no runs");
    let duplicate = conn.execute(
        "INSERT INTO budget_tracking (id, period, period_start) VALUES ('x', 'daily', ?1)",
        [&day],
    );
    assert!(duplicate.is_err(), "one row per period");
    drop(conn);

    let daily = budget(env, "daily");
    assert_eq!(
        daily["currentPeriod"],
        json!({"period": "daily", "start": day, "spent": 0.75})
    );
    assert_eq!(daily["totalSpent"], 0.75);
    assert_eq!(budget(env, "weekly")["totalSpent"], 0.75);
    let monthly = budget(env, "monthly");
    assert_eq!(
        monthly["currentPeriod"],
        json!({"period": "monthly", "start": month, "limit": 50.0, "spent": 1.25, "remaining": 48.75})
    );
    assert_eq!(monthly["remainingBudget"], 48.75);
    assert_eq!(monthly["runs"], 0);
}

#[test]
fn update_repairs_a_current_schema_that_lacks_what_this_version_needs() {
    let env = TestEnv::new();
    let (output, _) = env.json(env.pcc("git-pcc").args(["migrate", "--json"]));
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(database_check(&env)["ok"], true);
    // As an earlier version left a TypeScript tool's database: the version
    // says current, the seed's budget table is still there.
    let seed = Connection::open_in_memory().unwrap();
    seed.execute_batch(SEED_SCHEMA).unwrap();
    let seed_table: String = seed
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'budget_tracking'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let conn = env.db();
    conn.execute_batch(&format!(
        "DROP TABLE budget_tracking; {seed_table};
         INSERT INTO budget_tracking (id, period, period_start, spent) VALUES ('seed-1', 'monthly', date('now', 'start of month'), 2.5);
         DROP TABLE merge_notices;"
    ))
    .unwrap();
    drop(conn);

    let check = database_check(&env);
    assert_eq!(check["ok"], false, "{check}");
    let detail = check["detail"].as_str().unwrap();
    for missing in [
        "table merge_notices",
        "budget_tracking.runs",
        "budget_tracking.updated_at",
        "unique key budget_tracking(period, period_start)",
    ] {
        assert!(detail.contains(missing), "{missing} not in {detail}");
    }
    assert_eq!(check["hint"], "run 'git pcc update'");
    let failing = env
        .pcc("git-pcc")
        .args(["budget", "status", "--json"])
        .output()
        .unwrap();
    assert_eq!(failing.status.code(), Some(1), "the broken table is in use");

    let (output, report) = env.json(env.pcc("git-pcc").args(["update", "--json"]));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["applied"], json!([]));
    let repaired: Vec<&str> = report["repaired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(repaired.contains(&"budget_tracking.runs"), "{report}");
    assert!(repaired.contains(&"table merge_notices"), "{report}");
    assert!(backups(&env).len() == 1, "{:?}", list_dir(&env.data_dir));
    assert_eq!(database_check(&env)["ok"], true);
    assert_eq!(budget(&env, "monthly")["totalSpent"], 2.5);

    // Nothing left to repair: a second update changes nothing.
    let (_, again) = env.json(env.pcc("git-pcc").args(["update", "--json"]));
    assert_eq!(again["repaired"], json!([]));
    assert_eq!(again["backupPath"], Value::Null);
}
