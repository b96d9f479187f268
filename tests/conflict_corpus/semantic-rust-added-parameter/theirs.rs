use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::Connection;

pub struct Registry {
    conn: Connection,
}

fn state_path(root: &Path) -> PathBuf {
    root.join(".git").join("pcc").join("state.db")
}

fn open_snapshot(root: &Path) -> Result<Connection> {
    let live = state_path(root);
    let copy = live.with_extension("snapshot.db");
    std::fs::copy(&live, &copy)?;
    open_db(&copy)
}

fn open_db(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

impl Registry {
    pub fn open(root: &Path) -> Result<Self> {
        let conn = open_db(&state_path(root))?;
        Ok(Self { conn })
    }

    pub fn session_count(&self) -> Result<i64> {
        let n = self
            .conn
            .query_row("SELECT COUNT(*) FROM sessions", [], |row| row.get(0))?;
        Ok(n)
    }
}
