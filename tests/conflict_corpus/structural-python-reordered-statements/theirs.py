import logging
import signal

log = logging.getLogger("pcc.session")


class Session:
    def __init__(self, session_id, store, watcher, heartbeat):
        self.session_id = session_id
        self.store = store
        self.watcher = watcher
        self.heartbeat = heartbeat
        self.closed = False

    def install_handlers(self):
        signal.signal(signal.SIGTERM, lambda *_: self.shutdown())
        signal.signal(signal.SIGINT, lambda *_: self.shutdown())
        signal.signal(signal.SIGHUP, lambda *_: self.shutdown())

    def shutdown(self):
        if self.closed:
            return
        self.watcher.stop()
        self.store.release_all(self.session_id)
        self.store.flush()
        self.heartbeat.cancel()
        self.closed = True
        log.info("session %s shut down", self.session_id)
