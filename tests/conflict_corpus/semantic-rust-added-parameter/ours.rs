use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};

pub struct Registry {
    conn: Connection,
}

fn state_path(root: &Path) -> PathBuf {
    root.join(".git").join("pcc").join("state.db")
}

fn open_db(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::default()
    };
    let conn = Connection::open_with_flags(path, flags)
        .with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

impl Registry {
    pub fn open(root: &Path) -> Result<Self> {
        let conn = open_db(&state_path(root), false)?;
        Ok(Self { conn })
    }

    pub fn session_count(&self) -> Result<i64> {
        let n = self
            .conn
            .query_row("SELECT COUNT(*) FROM sessions", [], |row| row.get(0))?;
        Ok(n)
    }
}
