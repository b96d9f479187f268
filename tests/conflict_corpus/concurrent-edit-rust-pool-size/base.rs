use std::path::Path;

use anyhow::Result;
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;

pub type DbPool = Pool<SqliteConnectionManager>;

/// Opens the pool shared by the MCP server's request handlers.
pub fn open_pool(db: &Path) -> Result<DbPool> {
    let manager = SqliteConnectionManager::file(db)
        .with_init(|conn| conn.execute_batch("PRAGMA journal_mode = WAL;"));
    let pool = Pool::builder().max_size(4).build(manager)?;
    Ok(pool)
}

/// Number of sessions that are still registered.
pub fn live_sessions(pool: &DbPool) -> Result<u32> {
    let conn = pool.get()?;
    let n = conn.query_row(
        "SELECT COUNT(*) FROM sessions WHERE released_at IS NULL",
        [],
        |row| row.get(0),
    )?;
    Ok(n)
}
