//! A database written by the TypeScript parallel-cc (schema 1.1.0) opens,
//! is migrated in place with a backup, and keeps its sessions.

mod support;

use rusqlite::Connection;
use serde_json::Value;
use support::{list_dir, LiveProcess, TestEnv};

const SEED_SCHEMA: &str = include_str!("fixtures/seed-schema-1.1.0.sql");

type Row = (
    String,
    i64,
    String,
    String,
    Option<String>,
    i64,
    String,
    String,
    Option<String>,
);

fn seed_rows(conn: &Connection) -> Vec<Row> {
    let mut stmt = conn
        .prepare(
            "SELECT id, pid, repo_path, worktree_path, worktree_name, is_main_repo, created_at, last_heartbeat,
                    execution_mode FROM sessions ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn schema_version(conn: &Connection) -> String {
    conn.query_row(
        "SELECT value FROM schema_metadata WHERE key = 'version'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_seed_database_is_migrated_in_place_and_keeps_its_sessions() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let agent = LiveProcess::spawn();
    let mut gone = LiveProcess::spawn();
    let dead_pid = gone.pid();
    gone.kill();

    std::fs::create_dir_all(&env.data_dir).unwrap();
    let db_path = env.data_dir.join("coordinator.db");
    {
        let conn = Connection::open(&db_path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        conn.execute_batch(SEED_SCHEMA).unwrap();
        let repo_path = repo.to_str().unwrap();
        conn.execute(
            "INSERT INTO sessions (id, pid, repo_path, worktree_path, worktree_name, is_main_repo, created_at, last_heartbeat)
             VALUES ('seed-main', ?1, ?2, ?2, NULL, 1, '2026-02-01 10:00:00', '2026-02-01 10:05:00')",
            rusqlite::params![agent.pid(), repo_path],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO sessions (id, pid, repo_path, worktree_path, worktree_name, is_main_repo, created_at, last_heartbeat)
             VALUES ('seed-wt', ?1, ?2, ?3, 'app-feature', 0, '2026-02-01 11:00:00', '2026-02-01 11:00:00')",
            rusqlite::params![dead_pid, repo_path, format!("{repo_path}-worktrees/app-feature")],
        )
        .unwrap();
    }
    let before = seed_rows(&Connection::open(&db_path).unwrap());

    let status = env.status();
    assert_eq!(status["totalSessions"], 2);
    let by_id = |id: &str| -> Value {
        status["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sessionId"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("seed-main")["isAlive"], true);
    assert_eq!(by_id("seed-main")["isMainRepo"], true);
    assert_eq!(by_id("seed-main")["createdAt"], "2026-02-01 10:00:00");
    assert_eq!(by_id("seed-wt")["isAlive"], false);
    assert_eq!(by_id("seed-wt")["worktreeName"], "app-feature");

    let conn = Connection::open(&db_path).unwrap();
    assert_eq!(schema_version(&conn), "2.0.0");
    assert_eq!(seed_rows(&conn), before, "old columns and rows are intact");
    let user_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(user_version, 20000);

    let backups: Vec<String> = list_dir(&env.data_dir)
        .into_iter()
        .filter(|n| n.starts_with("coordinator.db.backup-1.1.0-"))
        .collect();
    assert_eq!(backups.len(), 1, "{:?}", list_dir(&env.data_dir));
    let backup = Connection::open(env.data_dir.join(&backups[0])).unwrap();
    assert_eq!(schema_version(&backup), "1.1.0");
    assert_eq!(seed_rows(&backup), before);

    let (output, again) = env.json(env.pcc("git-pcc").args(["update", "--json"]));
    assert!(output.status.success());
    assert_eq!(again["applied"], serde_json::json!([]));
    assert_eq!(again["backupPath"], Value::Null);
    let backup_count = list_dir(&env.data_dir)
        .iter()
        .filter(|n| n.contains(".backup-"))
        .count();
    assert_eq!(backup_count, 1);

    // The migrated sessions work with today's commands.
    let (output, release) =
        env.json(
            env.pcc("git-pcc-release")
                .args(["--pid", &agent.pid().to_string(), "--json"]),
        );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(release["sessionId"], "seed-main");
    let cleanup = env
        .pcc("git-pcc")
        .args(["cleanup", "--json"])
        .output()
        .unwrap();
    assert!(cleanup.status.success());
    assert_eq!(env.session_rows(), 0);
}

#[test]
fn a_fresh_database_gets_the_schema_without_a_backup() {
    let env = TestEnv::new();
    let (output, report) = env.json(env.pcc("git-pcc").args(["migrate", "--json"]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["toVersion"], "2.0.0");
    assert_eq!(report["backupPath"], Value::Null);
    assert_eq!(report["applied"].as_array().unwrap().len(), 2);
    assert!(!list_dir(&env.data_dir)
        .iter()
        .any(|n| n.contains(".backup-")));
    let journal: String = env
        .db()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");

    let unknown = env
        .pcc("git-pcc")
        .args(["migrate", "--version", "9.9.9"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(stderr.lines().count(), 1);
    assert!(
        stderr.starts_with("error: unknown schema version 9.9.9"),
        "{stderr}"
    );
}
