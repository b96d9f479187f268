import { log } from "./log";
import type { SessionInfo } from "./types";

export class SessionIndex {
  private readonly byId = new Map<string, SessionInfo>();

  constructor(private readonly repo: string) {}

  add(session: SessionInfo): void {
    this.byId.set(session.id, session);
  }

  get(id: string): SessionInfo {
    const session = this.byId.get(id);
    if (!session) {
      log.warn(`lookup failed for ${id}`);
      throw new Error(`session ${id} not found`);
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
