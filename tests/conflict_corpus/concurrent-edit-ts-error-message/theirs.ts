import { log } from "./log";
import type { SessionInfo } from "./types";

export class SessionNotFoundError extends Error {
  constructor(readonly sessionId: string) {
    super(`session ${sessionId} not found`);
    this.name = "SessionNotFoundError";
  }
}

export class SessionIndex {
  private readonly byId = new Map<string, SessionInfo>();

  constructor(private readonly repo: string) {}

  add(session: SessionInfo): void {
    this.byId.set(session.id, session);
  }

  get(id: string): SessionInfo {
    const session = this.byId.get(id);
    if (!session) {
      log.debug(`lookup failed for ${id}`);
      throw new SessionNotFoundError(id);
    }
    return session;
  }

  remove(id: string): boolean {
    return this.byId.delete(id);
  }

  ids(): string[] {
    return [...this.byId.keys()].sort();
  }
}
