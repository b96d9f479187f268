import { EventEmitter } from "events";
import type { FileClaim } from "./types";
import { debounce } from "lodash-es";

export class ClaimFeed extends EventEmitter {
  private pending: FileClaim[] = [];
  private readonly scheduleFlush = debounce(() => this.flush(), 250, { maxWait: 1000 });

  constructor(private readonly sessionId: string) {
    super();
  }

  push(claim: FileClaim): void {
    this.pending.push(claim);
    this.scheduleFlush();
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
