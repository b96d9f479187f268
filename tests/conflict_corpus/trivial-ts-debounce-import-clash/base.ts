import { EventEmitter } from "events";
import type { FileClaim } from "./types";

export class ClaimFeed extends EventEmitter {
  private pending: FileClaim[] = [];

  constructor(private readonly sessionId: string) {
    super();
  }

  push(claim: FileClaim): void {
    this.pending.push(claim);
    this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) {
      return;
    }
    const batch = this.pending;
    this.pending = [];
    this.emit("claims", this.sessionId, batch);
  }

  size(): number {
    return this.pending.length;
  }
}
