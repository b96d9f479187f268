import sys
from typing import TextIO


class ClaimTracker:
    """Tracks the paths a session has claimed and reports changes."""

    def __init__(self, session: str, sink: TextIO = sys.stderr):
        self.session = session
        self.sink = sink
        self.claims: set[str] = set()

    def notify(self, message: str) -> None:
        self.sink.write(f"[pcc {self.session}] {message}\n")

    def claim(self, path: str) -> bool:
        if path in self.claims:
            return False
        self.claims.add(path)
        return True

    def release(self, path: str) -> None:
        self.claims.discard(path)
        self.notify(f"released {path}")
