export type SessionState = "active" | "idle" | "released";

export interface SessionInfo {
  id: string;
  worktree: string;
  branch: string;
  pid: number;
  state: SessionState;
  lastHeartbeat?: number;
}

export function isLive(session: SessionInfo): boolean {
  return session.state !== "released";
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
