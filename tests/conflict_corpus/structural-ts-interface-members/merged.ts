export type SessionState = "active" | "idle" | "released";

export interface SessionInfo {
  id: string;
  worktree: string;
  branch: string;
  pid: number;
  state: SessionState;
  lastHeartbeat?: number;
  /** Paths the session has claimed, relative to the worktree. */
  claims?: string[];
  agent?: "claude" | "codex" | "other";
}

export function isLive(session: SessionInfo): boolean {
  return session.state === "active" || session.state === "idle";
}

export function byBranch(sessions: SessionInfo[]): Map<string, SessionInfo[]> {
  const groups = new Map<string, SessionInfo[]>();
  for (const session of sessions) {
    const list = groups.get(session.branch) ?? [];
    list.push(session);
    groups.set(session.branch, list);
  }
  return groups;
}
