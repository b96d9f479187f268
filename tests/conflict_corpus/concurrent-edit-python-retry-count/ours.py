import subprocess
import time


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True)


def with_retry(action, attempts=1, backoff=0.0):
    for attempt in range(attempts):
        try:
            return action()
        except subprocess.CalledProcessError:
            if attempt == attempts - 1:
                raise
            time.sleep(backoff * (attempt + 1))


def fetch_target(repo, remote="origin"):
    return with_retry(lambda: git(repo, "fetch", "--prune", remote), attempts=2)


def push_branch(repo, branch, remote="origin"):
    return with_retry(lambda: git(repo, "push", remote, branch), attempts=5)
