from __future__ import annotations

import sqlite3
from pathlib import Path


class SessionStore:
    """Thin wrapper over the sessions table of the coordination database."""

    def __init__(self, db: Path):
        self.conn = sqlite3.connect(db)
        self.conn.row_factory = sqlite3.Row

    def register(self, session_id: str, worktree: str) -> None:
        self.conn.execute(
            "INSERT INTO sessions (id, worktree) VALUES (?, ?)",
            (session_id, worktree),
        )
        self.conn.commit()

    def remove(self, session_id: str) -> None:
        self.conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        self.conn.commit()

    def count(self) -> int:
        row = self.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()
        return int(row[0])

    def worktrees(self) -> list[str]:
        rows = self.conn.execute("SELECT worktree FROM sessions ORDER BY id")
        return [row["worktree"] for row in rows]

    def close(self) -> None:
        self.conn.close()


def open_default(repo: Path) -> SessionStore:
    return SessionStore(repo / ".git" / "pcc" / "state.db")
