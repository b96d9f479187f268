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
    assert_eq!(version(&conn), "2.4.0");
    let user_version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(user_version, 20400);
    // The old columns keep their place and definition, new ones come after.
    let info = table_info(&conn, "sessions");
    assert_eq!(info[..20], seed_info[..]);
    assert_eq!(
        column_names(&conn, "sessions")[20..],
        [
            "branch",
            "base_branch",
            "base_commit",
            "process_start",
            "agent_pid",
            "agent_start",
            "owns_worktree"
        ]
    );
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
            "fromVersion": "2.4.0",
            "toVersion": "2.4.0",
            "applied": [],
            "backupPath": null,
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
    assert_eq!(report["toVersion"], "2.4.0");
    assert_eq!(report["backupPath"], Value::Null);
    let applied: Vec<&str> = report["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step.as_str().unwrap())
        .collect();
    assert_eq!(applied.len(), 6, "{applied:?}");
    assert!(applied[0].starts_with("1.1.0 "), "{applied:?}");
    assert!(applied[1].starts_with("2.0.0 "), "{applied:?}");
    assert!(applied[2].starts_with("2.1.0 "), "{applied:?}");
    assert!(applied[3].starts_with("2.2.0 "), "{applied:?}");
    assert!(applied[4].starts_with("2.3.0 "), "{applied:?}");
    assert!(applied[5].starts_with("2.4.0 "), "{applied:?}");
    assert_eq!(backups(&env), Vec::<String>::new());

    let conn = env.db();
    assert_eq!(version(&conn), "2.4.0");
    let user_version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(user_version, 20400);
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    // The sessions table has the seed's columns, in the seed's order, then ours.
    let seed = Connection::open_in_memory().unwrap();
    seed.execute_batch(SEED_SCHEMA).unwrap();
    let mut expected = column_names(&seed, "sessions");
    expected.extend(
        [
            "branch",
            "base_branch",
            "base_commit",
            "process_start",
            "agent_pid",
            "agent_start",
            "owns_worktree",
        ]
        .map(str::to_owned),
    );
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
    assert_eq!(version(&env.db()), "2.4.0");
}
