"use strict";

class HeartbeatMonitor {
  static INTERVAL_MS = 15000;

  constructor(store, clock = Date) {
    this.store = store;
    this.clock = clock;
    this.timer = null;
  }

  start(sessionId) {
    this.stop();
    this.timer = setInterval(() => this.beat(sessionId), HeartbeatMonitor.INTERVAL_MS);
  }

  beat(sessionId) {
    this.store.touch(sessionId, this.clock.now());
  }

  stop() {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

module.exports = { HeartbeatMonitor };
