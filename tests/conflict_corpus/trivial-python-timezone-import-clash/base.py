"""Session timestamps shown by `git pcc status`."""
from dataclasses import dataclass
from datetime import datetime

DISPLAY_FORMAT = "%Y-%m-%d %H:%M"


@dataclass
class SessionStamp:
    session_id: str
    started: datetime

    def age_seconds(self) -> float:
        return (datetime.now() - self.started).total_seconds()

    def is_stale(self, limit: float = 600.0) -> bool:
        return self.age_seconds() > limit


def started_now(session_id: str) -> SessionStamp:
    return SessionStamp(session_id, datetime.now())


def display(stamp: SessionStamp) -> str:
    return f"{stamp.session_id} since {stamp.started.strftime(DISPLAY_FORMAT)}"
