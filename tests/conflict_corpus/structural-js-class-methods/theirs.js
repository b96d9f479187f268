"use strict";

class HeartbeatMonitor {
  static INTERVAL_MS = 15000;
  static MAX_MISSED = 3;

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

  get running() {
    return this.timer !== null;
  }

  missedBeats(lastBeat) {
    return Math.floor((this.clock.now() - lastBeat) / HeartbeatMonitor.INTERVAL_MS);
  }
}

module.exports = { HeartbeatMonitor };
