//! The coordination database: one SQLite file (`coordinator.db`) shared by
//! every parallel-cc process. WAL mode, a busy timeout, and short
//! `BEGIN IMMEDIATE` transactions for every read-decide-write, so racing
//! processes queue instead of failing with `database is locked`.
//!
//! Opening never writes into a file that is not a SQLite database, and never
//! migrates on the heartbeat path: [`Database::open_existing`] only opens.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::{migrations, paths, UserError};

/// How long a statement waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// An open connection to the coordination database.
pub struct Database {
    conn: Connection,
    path: PathBuf,
}

impl Database {
    /// Opens the database in `data_dir`, creating the directory and the file
    /// when missing and migrating the schema to the current version.
    pub fn open(data_dir: &Path) -> Result<Database> {
        paths::ensure_data_dir(data_dir)?;
        let path = paths::database_path(data_dir);
        ensure_sqlite_file(&path)?;
        let conn = Connection::open(&path)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        configure(&conn)?;
        let db = Database { conn, path };
        migrations::ensure_current(&db.conn, &db.path)
            .map_err(|err| not_a_database(err, &db.path))?;
        Ok(db)
    }

    /// Opens an existing database without creating or migrating anything:
    /// `None` when there is no database yet. Used where speed matters.
    pub fn open_existing(data_dir: &Path) -> Result<Option<Database>> {
        let path = paths::database_path(data_dir);
        let conn = match Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ) {
            Ok(conn) => conn,
            Err(_) if !path.exists() => return Ok(None),
            Err(err) => {
                return Err(anyhow::Error::new(err)
                    .context(format!("cannot open database {}", path.display())))
            }
        };
        configure(&conn).map_err(|err| not_a_database(err, &path))?;
        Ok(Some(Database { conn, path }))
    }

    /// [`Database::open_existing`], brought to the current schema: for
    /// commands that read what newer versions write.
    pub fn open_existing_current(data_dir: &Path) -> Result<Option<Database>> {
        let Some(db) = Database::open_existing(data_dir)? else {
            return Ok(None);
        };
        migrations::ensure_current(&db.conn, &db.path)?;
        Ok(Some(db))
    }

    /// Opens the database for a migration command: like [`Database::open`]
    /// but leaves the schema as it is.
    pub fn open_unmigrated(data_dir: &Path) -> Result<Database> {
        paths::ensure_data_dir(data_dir)?;
        let path = paths::database_path(data_dir);
        ensure_sqlite_file(&path)?;
        let conn = Connection::open(&path)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        configure(&conn)?;
        Ok(Database { conn, path })
    }

    /// The underlying connection, for reads and single statements.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `body` inside one `BEGIN IMMEDIATE` transaction, committing when
    /// it succeeds and rolling back when it fails.
    pub fn immediate<T>(&mut self, body: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("cannot start a database transaction")?;
        let value = body(&tx)?;
        tx.commit()
            .context("cannot commit a database transaction")?;
        Ok(value)
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // In WAL mode NORMAL keeps the database consistent after a crash of any
    // process; only an OS crash can lose the latest commits.
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 64;")
        .context("cannot configure the database connection")?;
    // Most of our processes live for one statement. Checkpointing and
    // deleting the WAL each time the last one closes costs several fsyncs;
    // the WAL is checkpointed instead whenever it passes 64 pages, which also
    // bounds what the next process reads to rebuild the WAL index.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .context("cannot configure the database connection")?;
    Ok(())
}

/// Refuses, before SQLite touches it, a file that is not a SQLite database.
fn ensure_sqlite_file(path: &Path) -> Result<()> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => {
            return Err(
                UserError::new(format!("cannot read database {}: {err}", path.display())).into(),
            )
        }
    };
    let mut header = [0u8; 16];
    let read = file.read(&mut header).unwrap_or(0);
    if read == 0 {
        return Ok(());
    }
    if read < 16 || &header != b"SQLite format 3\0" {
        return Err(not_a_database_error(path));
    }
    Ok(())
}

fn not_a_database_error(path: &Path) -> anyhow::Error {
    UserError::with_hint(
        format!(
            "{} is not a SQLite database (left untouched)",
            path.display()
        ),
        "move it away or point PARALLEL_CC_DATA_DIR elsewhere",
    )
    .into()
}

fn not_a_database(err: anyhow::Error, path: &Path) -> anyhow::Error {
    let is_notadb = err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::NotADatabase
        )
    });
    if is_notadb {
        not_a_database_error(path)
    } else {
        err
    }
}
