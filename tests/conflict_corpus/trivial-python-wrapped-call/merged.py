import logging
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


class WorktreeManager:
    """Creates and removes git worktrees for parallel sessions."""

    def __init__(self, repo: Path, prefix: str = "pcc"):
        self.repo = repo
        self.prefix = prefix

    def path_for(self, session_id: str) -> Path:
        return self.repo.parent / f"{self.repo.name}-{self.prefix}-{session_id}"

    def create(self, session_id: str, branch: str) -> Path:
        target = self.path_for(session_id)
        log.info("creating worktree %s", target)
        subprocess.run(
            ["git", "-C", str(self.repo), "worktree", "add", "-b", branch, str(target)],
            check=True, capture_output=True
        )
        return target

    def remove(self, session_id: str) -> None:
        target = self.path_for(session_id)
        subprocess.run(
            ["git", "-C", str(self.repo), "worktree", "remove", "--force", str(target)],
            check=True,
        )
