//! Versioned schema migrations. The version lives where the TypeScript tool
//! kept it (`schema_metadata.key = 'version'`), so its databases open here and
//! are migrated in place; SQLite's `user_version` mirrors it as a number so a
//! current database is recognised without a query.
//!
//! Invariants: each migration runs once, inside one `BEGIN IMMEDIATE`
//! transaction, under a file lock shared by every process; a database that
//! already holds data is copied to a backup before the first change. Every
//! step is idempotent, so a database whose version is current but whose
//! schema lacks what this build needs (left half-migrated by an earlier
//! version) is repaired by running the steps again: [`schema_problems`]
//! names what is missing, comparing it with the schema a new database gets.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::{lock::FileLock, time, UserError};

/// One step of the schema.
struct Migration {
    version: &'static str,
    description: &'static str,
    apply: fn(&Connection) -> Result<()>,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: "1.1.0",
        description: "sessions and schema metadata as the TypeScript tool 1.1.0 has them",
        apply: baseline_1_1_0,
    },
    Migration {
        version: "2.0.0",
        description: "session branches, base commits, process start times, kept worktrees",
        apply: sessions_2_0_0,
    },
    Migration {
        version: "2.1.0",
        description: "file claims, merge events and subscriptions (the TypeScript tool's tables), merge notices",
        apply: file_claims_2_1_0,
    },
    Migration {
        version: "2.2.0",
        description: "conflict resolutions and auto-fix suggestions (the TypeScript tool's tables)",
        apply: conflict_resolutions_2_2_0,
    },
    Migration {
        version: "2.3.0",
        description: "sandbox runs and budget tracking per period",
        apply: sandbox_runs_2_3_0,
    },
    Migration {
        version: "2.4.0",
        description: "agent processes of sessions, worktrees sessions adopt, the worktree journal",
        apply: worktree_journal_2_4_0,
    },
    Migration {
        version: "2.5.0",
        description: "the TypeScript tool's budget periods with run counts, its worktree paths resolved to their repository",
        apply: seed_rows_2_5_0,
    },
    Migration {
        version: "2.6.0",
        description: "session states from the agent's hooks, predicted conflicts per session",
        apply: session_states_2_6_0,
    },
    Migration {
        version: "2.7.0",
        description: "the land queue: branches waiting to be checked and landed on their target",
        apply: land_queue_2_7_0,
    },
    Migration {
        version: "2.9.0",
        description: "the agent's own conversation id of sessions and kept worktrees",
        apply: conversations_2_9_0,
    },
    Migration {
        version: "2.10.0",
        description: "the agent of each session and sandbox run, and the tokens a run reported",
        apply: agents_2_10_0,
    },
    Migration {
        version: "2.11.0",
        description: "land items that push their target or open a pull request, and the pull request opened",
        apply: land_publish_2_11_0,
    },
    Migration {
        version: "2.13.0",
        description: "worktrees of resumable conversations that held nothing and were removed",
        apply: removed_conversation_worktrees_2_13_0,
    },
];

/// The schema version this build writes.
pub fn current_version() -> &'static str {
    MIGRATIONS[MIGRATIONS.len() - 1].version
}

/// Every version this build knows, oldest first.
pub fn known_versions() -> Vec<&'static str> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

/// What a migration run did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    pub from_version: Option<String>,
    pub to_version: String,
    pub applied: Vec<String>,
    pub backup_path: Option<String>,
    /// What was missing from a current schema and has been repaired.
    pub repaired: Vec<String>,
}

/// Brings the schema to the current version when it is not there yet.
pub fn ensure_current(conn: &Connection, db_path: &Path) -> Result<()> {
    if user_version(conn)? == version_number(current_version()) {
        return Ok(());
    }
    migrate(conn, db_path, None)?;
    Ok(())
}

/// Migrates to `target` (default: the current version), taking a backup
/// first when the database already holds data. Idempotent.
pub fn migrate(conn: &Connection, db_path: &Path, target: Option<&str>) -> Result<MigrationReport> {
    let target = match target {
        Some(wanted) => MIGRATIONS
            .iter()
            .find(|m| m.version == wanted)
            .map(|m| m.version)
            .ok_or_else(|| {
                UserError::with_hint(
                    format!("unknown schema version {wanted}"),
                    format!("known versions: {}", known_versions().join(", ")),
                )
            })?,
        None => current_version(),
    };
    let _lock = FileLock::acquire(&lock_path(db_path))?;

    let from_version = schema_version(conn)?;
    let from_number = from_version.as_deref().map(version_number).unwrap_or(0);
    let pending: Vec<&Migration> = MIGRATIONS
        .iter()
        .filter(|m| version_number(m.version) > from_number)
        .filter(|m| version_number(m.version) <= version_number(target))
        .collect();
    let mut report = MigrationReport {
        from_version: from_version.clone(),
        to_version: from_version.clone().unwrap_or_default(),
        applied: Vec::new(),
        backup_path: None,
        repaired: Vec::new(),
    };
    if pending.is_empty() {
        if from_number == version_number(current_version()) && version_number(target) == from_number
        {
            repair(conn, db_path, &mut report)?;
        }
        if from_number >= version_number(current_version()) {
            set_user_version(conn, version_number(current_version()))?;
        }
        return Ok(report);
    }

    if has_user_tables(conn)? {
        report.backup_path = Some(backup(conn, db_path, from_version.as_deref())?);
    }
    conn.execute_batch("PRAGMA journal_mode = WAL;")
        .context("cannot switch the database to WAL mode")?;

    for migration in pending {
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
            .context("cannot start the migration transaction")?;
        (migration.apply)(&tx)
            .with_context(|| format!("migration to schema {} failed", migration.version))?;
        tx.execute(
            "INSERT INTO schema_metadata (key, value, updated_at) VALUES ('version', ?1, datetime('now'))
             ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            [migration.version],
        )?;
        tx.commit()
            .with_context(|| format!("cannot commit schema {}", migration.version))?;
        report
            .applied
            .push(format!("{} ({})", migration.version, migration.description));
        report.to_version = migration.version.to_owned();
    }
    if report.to_version == current_version() {
        set_user_version(conn, version_number(current_version()))?;
    }
    Ok(report)
}

/// Runs every step again when the schema, though current by its version,
/// lacks a table, column or unique key this build needs.
fn repair(conn: &Connection, db_path: &Path, report: &mut MigrationReport) -> Result<()> {
    let problems = schema_problems(conn)?;
    if problems.is_empty() {
        return Ok(());
    }
    report.backup_path = Some(backup(conn, db_path, report.from_version.as_deref())?);
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .context("cannot start the repair transaction")?;
    for migration in MIGRATIONS {
        (migration.apply)(&tx)
            .with_context(|| format!("repairing schema {} failed", migration.version))?;
    }
    tx.commit().context("cannot commit the repaired schema")?;
    let left = schema_problems(conn)?;
    if !left.is_empty() {
        anyhow::bail!("the schema could not be repaired: {}", left.join(", "));
    }
    report.repaired = problems;
    Ok(())
}

/// What the database lacks of the schema this build needs: tables, columns
/// and unique keys that a new database gets and this one does not have
/// (`budget_tracking.runs`, `unique key budget_tracking(period, period_start)`).
/// Tables and columns of other versions are not a problem.
pub fn schema_problems(conn: &Connection) -> Result<Vec<String>> {
    let needed = Connection::open_in_memory()?;
    for migration in MIGRATIONS {
        (migration.apply)(&needed)?;
    }
    let mut problems = Vec::new();
    for table in table_names(&needed)? {
        let have = column_names(conn, &table)?;
        if have.is_empty() {
            problems.push(format!("table {table}"));
            continue;
        }
        for column in column_names(&needed, &table)? {
            if !have.contains(&column) {
                problems.push(format!("{table}.{column}"));
            }
        }
        let have_keys = unique_keys(conn, &table)?;
        for key in unique_keys(&needed, &table)? {
            if !have_keys.contains(&key) {
                problems.push(format!("unique key {table}({})", key.join(", ")));
            }
        }
    }
    Ok(problems)
}

fn table_names(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names)
}

/// The column lists of `table`'s unique indexes (primary keys included).
fn unique_keys(conn: &Connection, table: &str) -> Result<Vec<Vec<String>>> {
    let mut stmt = conn.prepare(&format!("PRAGMA index_list({table})"))?;
    let indexes: Vec<(String, bool)> = stmt
        .query_map([], |row| {
            Ok((row.get::<_, String>(1)?, row.get::<_, bool>(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut keys = Vec::new();
    for (index, unique) in indexes {
        if !unique {
            continue;
        }
        let mut stmt = conn.prepare(&format!("PRAGMA index_info(\"{index}\")"))?;
        let columns = stmt
            .query_map([], |row| row.get::<_, Option<String>>(2))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        keys.push(columns.into_iter().flatten().collect());
    }
    Ok(keys)
}

/// The version recorded in `schema_metadata`, if any.
pub fn schema_version(conn: &Connection) -> Result<Option<String>> {
    let has_table: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_metadata')",
            [],
            |row| row.get(0),
        )
        .context("cannot read the database schema")?;
    if has_table {
        return conn
            .query_row(
                "SELECT value FROM schema_metadata WHERE key = 'version'",
                [],
                |row| row.get(0),
            )
            .optional()
            .context("cannot read the schema version");
    }
    // A database from before versioning: sessions exists but no metadata.
    let has_sessions: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sessions')",
        [],
        |row| row.get(0),
    )?;
    Ok(has_sessions.then(|| "0.4.0".to_owned()))
}

fn user_version(conn: &Connection) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
        .context("cannot read the database header")
}

fn set_user_version(conn: &Connection, value: i64) -> Result<()> {
    conn.execute_batch(&format!("PRAGMA user_version = {value};"))
        .context("cannot record the schema version")
}

/// `major.minor.patch` as one comparable number.
fn version_number(version: &str) -> i64 {
    let mut parts = version.split('.').map(|p| p.parse::<i64>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    major * 10_000 + minor * 100 + patch
}

fn lock_path(db_path: &Path) -> PathBuf {
    let mut name = db_path.file_name().unwrap_or_default().to_os_string();
    name.push(".migrate.lock");
    db_path.with_file_name(name)
}

fn has_user_tables(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%')",
        [],
        |row| row.get(0),
    )?)
}

fn backup(conn: &Connection, db_path: &Path, from_version: Option<&str>) -> Result<String> {
    let stamp = time::format_sqlite_datetime(time::unix_now()).replace([' ', ':'], "-");
    let mut name = db_path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".backup-{}-{stamp}",
        from_version.unwrap_or("unversioned")
    ));
    let mut backup_path = db_path.with_file_name(&name);
    let mut counter = 1;
    while backup_path.exists() {
        let mut numbered = name.clone();
        numbered.push(format!("-{counter}"));
        backup_path = db_path.with_file_name(numbered);
        counter += 1;
    }
    let target = backup_path
        .to_str()
        .context("backup path is not valid UTF-8")?
        .to_owned();
    conn.execute("VACUUM INTO ?1", [&target])
        .with_context(|| format!("cannot back up the database to {target}"))?;
    Ok(target)
}

fn column_names(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(1))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names)
}

/// Adds each `(name, definition)` column that `table` lacks.
fn add_missing_columns(conn: &Connection, table: &str, columns: &[(&str, &str)]) -> Result<()> {
    let existing = column_names(conn, table)?;
    for (name, definition) in columns {
        if !existing.iter().any(|c| c == name) {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {name} {definition};"
            ))
            .with_context(|| format!("cannot add column {table}.{name}"))?;
        }
    }
    Ok(())
}

/// The sessions table and metadata as the TypeScript tool 1.1.0 defines
/// them; older databases of that tool gain the columns they lack.
fn baseline_1_1_0(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS sessions (
            id TEXT PRIMARY KEY,
            pid INTEGER NOT NULL,
            repo_path TEXT NOT NULL,
            worktree_path TEXT NOT NULL,
            worktree_name TEXT,
            is_main_repo INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL DEFAULT (datetime('now')),
            last_heartbeat TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE TABLE IF NOT EXISTS schema_metadata (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL DEFAULT (datetime('now'))
        );",
    )?;
    add_missing_columns(
        conn,
        "sessions",
        &[
            ("execution_mode", "TEXT DEFAULT 'local' CHECK(execution_mode IN ('local', 'e2b'))"),
            ("sandbox_id", "TEXT"),
            ("prompt", "TEXT"),
            (
                "status",
                "TEXT CHECK(status IS NULL OR status IN ('INITIALIZING', 'RUNNING', 'COMPLETED', 'FAILED', 'TIMEOUT'))",
            ),
            ("output_log", "TEXT"),
            ("git_user", "TEXT"),
            ("git_email", "TEXT"),
            ("ssh_key_provided", "INTEGER DEFAULT 0"),
            ("budget_limit", "REAL"),
            ("cost_estimate", "REAL"),
            ("actual_cost", "REAL"),
            ("template_name", "TEXT"),
        ],
    )?;
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS idx_sessions_repo ON sessions(repo_path);
         CREATE INDEX IF NOT EXISTS idx_sessions_pid ON sessions(pid);
         CREATE INDEX IF NOT EXISTS idx_sessions_heartbeat ON sessions(last_heartbeat);",
    )?;
    Ok(())
}

/// What this implementation adds: each worktree session's branch and the
/// commit it started from (to tell held work from none), the process start
/// time (to tell a reused PID from the original), and the worktrees a release
/// kept because they hold work.
fn sessions_2_0_0(conn: &Connection) -> Result<()> {
    add_missing_columns(
        conn,
        "sessions",
        &[
            ("branch", "TEXT"),
            ("base_branch", "TEXT"),
            ("base_commit", "TEXT"),
            ("process_start", "INTEGER"),
        ],
    )?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS kept_worktrees (
            worktree_path TEXT PRIMARY KEY,
            repo_path TEXT NOT NULL,
            worktree_name TEXT,
            branch TEXT,
            base_branch TEXT,
            base_commit TEXT,
            session_id TEXT,
            reason TEXT NOT NULL,
            kept_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE INDEX IF NOT EXISTS idx_kept_worktrees_repo ON kept_worktrees(repo_path);",
    )?;
    Ok(())
}

/// File claims with the TypeScript tool's table (present already in its
/// databases from 0.5.0 on).
fn file_claims_2_1_0(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS file_claims (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            repo_path TEXT NOT NULL,
            file_path TEXT NOT NULL,
            claim_mode TEXT NOT NULL CHECK (claim_mode IN ('EXCLUSIVE', 'SHARED', 'INTENT')),
            claimed_at TEXT NOT NULL DEFAULT (datetime('now')),
            expires_at TEXT NOT NULL,
            last_heartbeat TEXT NOT NULL DEFAULT (datetime('now')),
            escalated_from TEXT CHECK (escalated_from IS NULL OR escalated_from IN ('EXCLUSIVE', 'SHARED', 'INTENT')),
            metadata TEXT,
            is_active INTEGER NOT NULL DEFAULT 1,
            released_at TEXT,
            deleted_at TEXT,
            deleted_reason TEXT
        );
        CREATE INDEX IF NOT EXISTS idx_file_claims_session ON file_claims(session_id);
        CREATE INDEX IF NOT EXISTS idx_file_claims_repo_file ON file_claims(repo_path, file_path);
        CREATE INDEX IF NOT EXISTS idx_file_claims_active ON file_claims(is_active) WHERE is_active = 1;
        CREATE TABLE IF NOT EXISTS merge_events (
            id TEXT PRIMARY KEY,
            repo_path TEXT NOT NULL,
            branch_name TEXT NOT NULL,
            source_commit TEXT NOT NULL,
            target_branch TEXT NOT NULL DEFAULT 'main',
            target_commit TEXT NOT NULL,
            merged_at TEXT NOT NULL DEFAULT (datetime('now')),
            detected_at TEXT NOT NULL DEFAULT (datetime('now')),
            notification_sent INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE IF NOT EXISTS subscriptions (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            repo_path TEXT NOT NULL,
            branch_name TEXT NOT NULL,
            target_branch TEXT NOT NULL DEFAULT 'main',
            created_at TEXT NOT NULL DEFAULT (datetime('now')),
            notified_at TEXT,
            is_active INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX IF NOT EXISTS idx_merge_events_repo ON merge_events(repo_path);
        CREATE INDEX IF NOT EXISTS idx_subscriptions_repo ON subscriptions(repo_path);
        CREATE INDEX IF NOT EXISTS idx_merge_events_branch
            ON merge_events(repo_path, branch_name, target_branch, source_commit);
        CREATE TABLE IF NOT EXISTS merge_notices (
            id TEXT PRIMARY KEY,
            event_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            message TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT (datetime('now')),
            delivered_at TEXT,
            UNIQUE (event_id, session_id)
        );
        CREATE INDEX IF NOT EXISTS idx_merge_notices_pending ON merge_notices(session_id) WHERE delivered_at IS NULL;",
    )?;
    add_missing_columns(conn, "subscriptions", &[("base_commit", "TEXT")])?;
    Ok(())
}

/// Conflict history and auto-fix suggestions, with the TypeScript tool's
/// tables (present already in its databases).
fn conflict_resolutions_2_2_0(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS conflict_resolutions (
            id TEXT PRIMARY KEY,
            session_id TEXT,
            repo_path TEXT NOT NULL,
            file_path TEXT NOT NULL,
            conflict_type TEXT NOT NULL CHECK (conflict_type IN ('STRUCTURAL', 'SEMANTIC', 'CONCURRENT_EDIT', 'TRIVIAL', 'UNKNOWN')),
            base_commit TEXT NOT NULL,
            source_commit TEXT NOT NULL,
            target_commit TEXT NOT NULL,
            resolution_strategy TEXT NOT NULL CHECK (resolution_strategy IN ('AUTO_FIX', 'MANUAL', 'HYBRID', 'ABANDONED')),
            confidence_score REAL CHECK (confidence_score IS NULL OR (confidence_score >= 0 AND confidence_score <= 1)),
            conflict_markers TEXT NOT NULL,
            resolved_content TEXT,
            detected_at TEXT NOT NULL DEFAULT (datetime('now')),
            resolved_at TEXT,
            auto_fix_suggestion_id TEXT,
            metadata TEXT,
            deleted_at TEXT,
            deleted_reason TEXT
        );
        CREATE TABLE IF NOT EXISTS auto_fix_suggestions (
            id TEXT PRIMARY KEY,
            conflict_resolution_id TEXT,
            repo_path TEXT NOT NULL,
            file_path TEXT NOT NULL,
            conflict_type TEXT NOT NULL CHECK (conflict_type IN ('STRUCTURAL', 'SEMANTIC', 'CONCURRENT_EDIT', 'TRIVIAL', 'UNKNOWN')),
            suggested_resolution TEXT NOT NULL,
            confidence_score REAL NOT NULL CHECK (confidence_score >= 0 AND confidence_score <= 1),
            explanation TEXT NOT NULL,
            strategy_used TEXT NOT NULL,
            base_content TEXT NOT NULL,
            source_content TEXT NOT NULL,
            target_content TEXT NOT NULL,
            generated_at TEXT NOT NULL DEFAULT (datetime('now')),
            applied_at TEXT,
            was_auto_applied INTEGER NOT NULL DEFAULT 0,
            metadata TEXT,
            deleted_at TEXT,
            deleted_reason TEXT
        );
        CREATE INDEX IF NOT EXISTS idx_conflict_resolutions_file
            ON conflict_resolutions(repo_path, file_path, base_commit, source_commit, target_commit);
        CREATE INDEX IF NOT EXISTS idx_auto_fix_suggestions_file ON auto_fix_suggestions(repo_path, file_path);",
    )?;
    Ok(())
}

/// Unattended sandbox runs (one row per run, so another process can follow,
/// download or kill it) and spending per budget period.
fn sandbox_runs_2_3_0(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS sandbox_runs (
            id TEXT PRIMARY KEY,
            repo_path TEXT NOT NULL,
            backend TEXT NOT NULL DEFAULT 'local',
            sandbox_id TEXT,
            batch_id TEXT,
            task_index INTEGER,
            prompt TEXT NOT NULL,
            template_name TEXT,
            auth_method TEXT,
            status TEXT NOT NULL CHECK (status IN ('PENDING', 'INITIALIZING', 'RUNNING', 'COMPLETED', 'FAILED', 'TIMEOUT', 'KILLED', 'CANCELLED', 'BUDGET_EXCEEDED')),
            runner_pid INTEGER,
            runner_start INTEGER,
            agent_pid INTEGER,
            agent_start INTEGER,
            workspace_path TEXT,
            output_log TEXT,
            base_commit TEXT,
            branch TEXT,
            result_commit TEXT,
            result_worktree TEXT,
            pull_request_url TEXT,
            files_changed INTEGER,
            git_user TEXT,
            git_email TEXT,
            ssh_key_provided INTEGER NOT NULL DEFAULT 0,
            budget_limit REAL,
            agent_cost REAL,
            actual_cost REAL,
            exit_code INTEGER,
            error TEXT,
            last_activity TEXT,
            kill_requested INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL DEFAULT (datetime('now')),
            started_at TEXT,
            ended_at TEXT,
            updated_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE INDEX IF NOT EXISTS idx_sandbox_runs_repo ON sandbox_runs(repo_path, created_at);
        CREATE INDEX IF NOT EXISTS idx_sandbox_runs_batch ON sandbox_runs(batch_id, task_index);
        CREATE TABLE IF NOT EXISTS budget_tracking (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            period TEXT NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly')),
            period_start TEXT NOT NULL,
            spent REAL NOT NULL DEFAULT 0,
            budget_limit REAL,
            runs INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL DEFAULT (datetime('now')),
            updated_at TEXT NOT NULL DEFAULT (datetime('now')),
            UNIQUE (period, period_start)
        );",
    )?;
    Ok(())
}

/// What makes sessions survive kills: the agent's own process beside the
/// wrapper's (a session lives while either does), whether the session's
/// worktree is ours to remove (a worktree the user made and a session
/// adopted is not), and the journal of worktree creations and removals, each
/// recorded before the filesystem changes so the next command can finish or
/// undo what a dead process left.
fn worktree_journal_2_4_0(conn: &Connection) -> Result<()> {
    add_missing_columns(
        conn,
        "sessions",
        &[
            ("agent_pid", "INTEGER"),
            ("agent_start", "INTEGER"),
            ("owns_worktree", "INTEGER NOT NULL DEFAULT 1"),
        ],
    )?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS worktree_journal (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            repo_path TEXT NOT NULL,
            operation TEXT NOT NULL CHECK (operation IN ('create', 'remove', 'purge')),
            worktree_path TEXT NOT NULL,
            worktree_name TEXT,
            branch TEXT,
            branch_tip TEXT,
            trash_path TEXT,
            session_id TEXT,
            pid INTEGER NOT NULL,
            started_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE INDEX IF NOT EXISTS idx_worktree_journal_repo ON worktree_journal(repo_path);",
    )?;
    Ok(())
}

/// What each session is doing, from its agent's hooks (see
/// `session::state`): the state, when it began (`state_since`, as text)
/// and the time in milliseconds of the hook that set it last (`state_at`,
/// to tell a late hook from a newer one), what it waits for and the first
/// line of the agent's last message; and the number of conflicts the last
/// prediction found between it and other live sessions, with its time.
fn session_states_2_6_0(conn: &Connection) -> Result<()> {
    add_missing_columns(
        conn,
        "sessions",
        &[
            ("state", "TEXT"),
            ("state_since", "TEXT"),
            ("state_at", "INTEGER"),
            ("waiting_for", "TEXT"),
            ("last_message", "TEXT"),
            ("predicted_conflicts", "INTEGER"),
            ("predicted_at", "TEXT"),
        ],
    )
}

/// The agent's own conversation id (Claude Code's `session_id`), so that
/// resuming a conversation finds the worktree it worked in.
fn conversations_2_9_0(conn: &Connection) -> Result<()> {
    add_missing_columns(conn, "sessions", &[("conversation_id", "TEXT")])?;
    add_missing_columns(conn, "kept_worktrees", &[("conversation_id", "TEXT")])
}

/// Which agent (an agent profile's name: `claude`, `codex`, ...) each
/// session and sandbox run is; a row from before is Claude Code's, the only
/// agent there was. A run also keeps the tokens its agent reported and
/// whether its cost was reported by the agent or estimated from them.
fn agents_2_10_0(conn: &Connection) -> Result<()> {
    add_missing_columns(conn, "sessions", &[("agent", "TEXT")])?;
    add_missing_columns(
        conn,
        "sandbox_runs",
        &[
            ("agent", "TEXT"),
            ("input_tokens", "INTEGER"),
            ("output_tokens", "INTEGER"),
            ("cost_source", "TEXT"),
        ],
    )
}

/// Where a conversation worked when its worktree held nothing and went at
/// release: enough to make it again at the same path, on the same branch
/// at the same commit, when the conversation is resumed.
fn removed_conversation_worktrees_2_13_0(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS removed_conversation_worktrees (
            repo_path TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            worktree_path TEXT NOT NULL,
            worktree_name TEXT NOT NULL,
            branch TEXT NOT NULL,
            tip_commit TEXT NOT NULL,
            base_branch TEXT,
            base_commit TEXT,
            removed_at TEXT NOT NULL DEFAULT (datetime('now')),
            PRIMARY KEY (repo_path, conversation_id)
        );",
    )?;
    Ok(())
}

/// What the TypeScript tool's rows need to work here. Its
/// `budget_tracking` (no run count, no update time, no unique period) is
/// rebuilt with its columns first, in its order and with its ids, then
/// ours; rows of one period are added up into one. Paths it stored as
/// `repo_path` that name a worktree become the worktree's repository, the
/// path it had kept as `metadata.checkoutPath` where the table has
/// metadata (the checkout a fix is applied in).
fn seed_rows_2_5_0(conn: &Connection) -> Result<()> {
    budget_tracking_with_runs(conn)?;
    for table in [
        "conflict_resolutions",
        "auto_fix_suggestions",
        "file_claims",
        "subscriptions",
        "merge_events",
    ] {
        repository_paths(conn, table)?;
    }
    Ok(())
}

/// The shape of `budget_tracking` from 2.5.0 on.
const BUDGET_TRACKING: &str = "(
    id TEXT PRIMARY KEY NOT NULL,
    period TEXT NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly')),
    period_start TEXT NOT NULL,
    budget_limit REAL,
    spent REAL NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    runs INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL DEFAULT (datetime('now')),
    UNIQUE (period, period_start)
)";

fn budget_tracking_with_runs(conn: &Connection) -> Result<()> {
    let columns = column_names(conn, "budget_tracking")?;
    let id_is_text: bool = conn
        .query_row(
            "SELECT upper(type) = 'TEXT' FROM pragma_table_info('budget_tracking') WHERE name = 'id'",
            [],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(false);
    let has_period_key = unique_keys(conn, "budget_tracking")?
        .iter()
        .any(|key| key == &["period", "period_start"]);
    let has = |name: &str| columns.iter().any(|c| c == name);
    if id_is_text && has("runs") && has("updated_at") && has_period_key {
        return Ok(());
    }
    let runs = if has("runs") {
        "COALESCE(SUM(runs), 0)"
    } else {
        "0"
    };
    let updated = if has("updated_at") {
        "COALESCE(MAX(updated_at), MAX(created_at), datetime('now'))"
    } else {
        "COALESCE(MAX(created_at), datetime('now'))"
    };
    conn.execute_batch(&format!(
        "CREATE TABLE budget_tracking_rebuilt {BUDGET_TRACKING};
         INSERT INTO budget_tracking_rebuilt
             (id, period, period_start, budget_limit, spent, created_at, runs, updated_at)
         SELECT
             COALESCE((SELECT CAST(first.id AS TEXT) FROM budget_tracking first
                       WHERE first.period = b.period AND first.period_start = b.period_start
                         AND first.id IS NOT NULL ORDER BY first.rowid LIMIT 1),
                      lower(hex(randomblob(16)))),
             period, period_start,
             (SELECT latest.budget_limit FROM budget_tracking latest
              WHERE latest.period = b.period AND latest.period_start = b.period_start
                AND latest.budget_limit IS NOT NULL ORDER BY latest.rowid DESC LIMIT 1),
             COALESCE(SUM(spent), 0),
             COALESCE(MIN(created_at), datetime('now')),
             {runs},
             {updated}
         FROM budget_tracking b GROUP BY period, period_start ORDER BY MIN(rowid);
         DROP TABLE budget_tracking;
         ALTER TABLE budget_tracking_rebuilt RENAME TO budget_tracking;"
    ))
    .context("cannot rebuild budget_tracking")?;
    Ok(())
}

/// Rewrites each `repo_path` of `table` that names a worktree (or another
/// path inside a repository) to the repository.
fn repository_paths(conn: &Connection, table: &str) -> Result<()> {
    let has_metadata = column_names(conn, table)?.iter().any(|c| c == "metadata");
    let stored: Vec<String> = {
        let mut stmt = conn.prepare(&format!(
            "SELECT DISTINCT repo_path FROM {table} WHERE repo_path IS NOT NULL"
        ))?;
        let rows = stmt.query_map([], |row| row.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for path in stored {
        let Some(repo) = crate::repo_paths::repository_of(conn, &path) else {
            continue;
        };
        if repo == path {
            continue;
        }
        let sql = if has_metadata {
            format!(
                "UPDATE {table} SET repo_path = ?1,
                     metadata = CASE
                         WHEN metadata IS NULL THEN json_object('checkoutPath', ?2)
                         WHEN json_valid(metadata) AND json_type(metadata) = 'object'
                             THEN json_insert(metadata, '$.checkoutPath', ?2)
                         ELSE metadata END
                 WHERE repo_path = ?2"
            )
        } else {
            format!("UPDATE {table} SET repo_path = ?1 WHERE repo_path = ?2")
        };
        conn.execute(&sql, [&repo, &path])
            .with_context(|| format!("cannot resolve {table}.repo_path {path}"))?;
    }
    Ok(())
}

/// The land queue (see `land`): one row per branch asked to land, in the
/// order asked, with its state, why it stopped, and the commits it went
/// through. Stands on its own: no column of another table is needed.
fn land_queue_2_7_0(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS land_queue (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            repo_path TEXT NOT NULL,
            session_id TEXT,
            branch TEXT NOT NULL,
            target_branch TEXT NOT NULL,
            strategy TEXT NOT NULL CHECK (strategy IN ('rebase', 'merge', 'squash')),
            check_command TEXT,
            check_timeout_minutes INTEGER NOT NULL DEFAULT 30,
            auto_fix INTEGER NOT NULL DEFAULT 0,
            message TEXT,
            state TEXT NOT NULL CHECK (state IN ('queued', 'checking', 'landed', 'conflict', 'failed', 'blocked')),
            reason TEXT,
            source_commit TEXT,
            candidate_commit TEXT,
            checked_tip TEXT,
            landed_commit TEXT,
            conflicts TEXT,
            log_path TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            owner_pid INTEGER,
            owner_start INTEGER,
            requested_by TEXT,
            created_at TEXT NOT NULL DEFAULT (datetime('now')),
            updated_at TEXT NOT NULL DEFAULT (datetime('now')),
            finished_at TEXT
        );
        CREATE INDEX IF NOT EXISTS idx_land_queue_repo ON land_queue(repo_path, state, seq);",
    )?;
    Ok(())
}

/// The columns of `land_queue` as 2.7.0 made them, in order.
const LAND_QUEUE_2_7_0_COLUMNS: &str =
    "seq, id, repo_path, session_id, branch, target_branch, strategy, \
     check_command, check_timeout_minutes, auto_fix, message, state, reason, source_commit, \
     candidate_commit, checked_tip, landed_commit, conflicts, log_path, attempts, owner_pid, \
     owner_start, requested_by, created_at, updated_at, finished_at";

/// `land_queue` gains `publish` (`push`: the target is pushed as each item
/// lands; `pr`: a pull request is opened instead) and `pull_request_url`,
/// and the state `proposed` (a pull request is open; nothing landed). A
/// state's CHECK cannot change in place, so the table is rebuilt, every
/// row and its `seq` kept.
fn land_publish_2_11_0(conn: &Connection) -> Result<()> {
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'land_queue'",
            [],
            |r| r.get(0),
        )
        .context("the land queue table is missing")?;
    if sql.contains("'proposed'") {
        return add_missing_columns(
            conn,
            "land_queue",
            &[("publish", "TEXT"), ("pull_request_url", "TEXT")],
        );
    }
    conn.execute_batch(&format!(
        "CREATE TABLE land_queue_2_11_0 (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            repo_path TEXT NOT NULL,
            session_id TEXT,
            branch TEXT NOT NULL,
            target_branch TEXT NOT NULL,
            strategy TEXT NOT NULL CHECK (strategy IN ('rebase', 'merge', 'squash')),
            check_command TEXT,
            check_timeout_minutes INTEGER NOT NULL DEFAULT 30,
            auto_fix INTEGER NOT NULL DEFAULT 0,
            message TEXT,
            state TEXT NOT NULL CHECK (state IN ('queued', 'checking', 'landed', 'conflict', 'failed', 'blocked', 'proposed')),
            reason TEXT,
            source_commit TEXT,
            candidate_commit TEXT,
            checked_tip TEXT,
            landed_commit TEXT,
            conflicts TEXT,
            log_path TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            owner_pid INTEGER,
            owner_start INTEGER,
            requested_by TEXT,
            created_at TEXT NOT NULL DEFAULT (datetime('now')),
            updated_at TEXT NOT NULL DEFAULT (datetime('now')),
            finished_at TEXT,
            publish TEXT CHECK (publish IN ('push', 'pr')),
            pull_request_url TEXT
        );
        INSERT INTO land_queue_2_11_0 ({LAND_QUEUE_2_7_0_COLUMNS})
            SELECT {LAND_QUEUE_2_7_0_COLUMNS} FROM land_queue;
        DROP TABLE land_queue;
        ALTER TABLE land_queue_2_11_0 RENAME TO land_queue;
        CREATE INDEX IF NOT EXISTS idx_land_queue_repo ON land_queue(repo_path, state, seq);"
    ))
    .context("cannot rebuild the land queue table")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_number("1.10.0") > version_number("1.9.3"));
        assert!(version_number("2.0.0") > version_number("1.99.99"));
        assert_eq!(version_number(current_version()), version_number("2.13.0"));
    }

    #[test]
    fn the_land_queue_keeps_its_rows_when_it_gains_publishing() {
        let conn = Connection::open_in_memory().unwrap();
        for migration in MIGRATIONS.iter().filter(|m| m.version != "2.11.0") {
            (migration.apply)(&conn).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO land_queue (seq, id, repo_path, branch, target_branch, strategy, state)
             VALUES (7, 'item-a', '/r', 'feature', 'main', 'rebase', 'landed');",
        )
        .unwrap();
        land_publish_2_11_0(&conn).unwrap();
        land_publish_2_11_0(&conn).unwrap();
        let (seq, state): (i64, String) = conn
            .query_row(
                "SELECT seq, state FROM land_queue WHERE id = 'item-a'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((seq, state.as_str()), (7, "landed"));
        conn.execute_batch(
            "INSERT INTO land_queue (id, repo_path, branch, target_branch, strategy, state, publish)
             VALUES ('item-b', '/r', 'other', 'main', 'rebase', 'proposed', 'pr');",
        )
        .unwrap();
        let seq: i64 = conn
            .query_row("SELECT seq FROM land_queue WHERE id = 'item-b'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(seq, 8);
        assert!(schema_problems(&conn).unwrap().is_empty());
    }
}
