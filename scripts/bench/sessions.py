#!/usr/bin/env python3
"""Benchmarks of the session commands against their floors.

Each benchmark runs our command and the floor alternately in one run (so
both see the same machine state), then prints the median of each and the
ratio ours/floor against its target:

  heartbeat  `git-pcc heartbeat --pid P`        vs `sqlite3 DB "UPDATE sessions ..."`  <= 1.0
  hook       the PostToolUse hook as Claude Code runs it (sh -c, JSON on stdin)
                                                 vs the same sqlite3 UPDATE             <= 1.5
  locked     the same hook while another process holds the database's write lock
                                                 vs that UPDATE by `sqlite3` with `.timeout 500`,
                                                    which gives up after 0.5 s          <= 1.0
  worktree   `git-pcc-register` (new worktree) + `git-pcc-release`
                                                 vs `git worktree add -b` + `git worktree remove`
                                                    + `git branch -D`, repo of 2,000 files <= 1.0
  status     `git-pcc status --json`, 1,000 sessions
                                                 vs `sqlite3 -json DB "SELECT * FROM sessions"` <= 2.0
  predict    `git pcc conflicts --predict`, 20 live sessions with a commit each, 5,000 files
                                                 vs `git merge-tree --write-tree` per pair (190 + 19
                                                    against main) in one shell loop        <= 0.5
  statusline `git pcc statusline` as Claude Code runs it (sh -c, its JSON on stdin), in a
             repository of 5 live sessions with a predicted conflict
                                                 vs the PostToolUse hook, the same way   <= 2.0
  mcp        pcc-mcp from process start to the tools/list response
                                                 vs `pcc-mcp --version`                 <= 5.0
             (also reports the server's resident memory while serving; target < 10 MiB)

Usage: sessions.py [--bin DIR] [--runs N] [--json] [--only NAME ...]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd, **kwargs):
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)


def timed(cmds, input_bytes=None, env=None, cwd=None):
    """Runs a sequence of commands, failing loudly; returns seconds taken."""
    start = time.perf_counter()
    for cmd in cmds:
        result = subprocess.run(cmd, input=input_bytes, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env, cwd=cwd)
        if result.returncode != 0:
            sys.exit(f"benchmark command failed: {cmd}: {result.stderr.decode(errors='replace')}")
    return time.perf_counter() - start


def alternate(ours, floor, runs, warmup=3):
    for _ in range(warmup):
        ours()
        floor()
    a, b = [], []
    for _ in range(runs):
        a.append(ours())
        b.append(floor())
    return statistics.median(a), statistics.median(b)


class World:
    def __init__(self, bin_dir):
        self.bin = bin_dir
        self.root = tempfile.mkdtemp(prefix="pcc-bench-")
        self.data = os.path.join(self.root, "data")
        self.env = dict(os.environ, PARALLEL_CC_DATA_DIR=self.data, HOME=self.root,
                        GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
                        GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")
        self.env.pop("PARALLEL_CC_SESSION_ID", None)
        self.sleepers = []

    def exe(self, name):
        return os.path.join(self.bin, name)

    def db(self):
        return os.path.join(self.data, "coordinator.db")

    def live_pid(self):
        proc = subprocess.Popen(["sleep", "100000"])
        self.sleepers.append(proc)
        return proc.pid

    def repo(self, name, files):
        path = os.path.join(self.root, name)
        os.makedirs(path)
        for i in range(files):
            directory = os.path.join(path, f"dir{i % 100:03d}")
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, f"file{i:05d}.txt"), "w") as f:
                f.write(f"line {i}\n" * 4)
        git = ["git", "-C", path]
        subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
        subprocess.run(git + ["add", "-A"], check=True)
        subprocess.run(git + ["commit", "-q", "-m", "initial"], check=True, env=self.env)
        return path

    def register(self, repo, pid):
        out = subprocess.run([self.exe("git-pcc-register"), "--repo", repo, "--pid", str(pid), "--json"],
                             env=self.env, capture_output=True, check=True)
        return json.loads(out.stdout)

    def close(self):
        for proc in self.sleepers:
            proc.kill()
            proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def bench_heartbeat(world, runs):
    repo = world.repo("hb", 10)
    pid = world.live_pid()
    world.register(repo, pid)
    ours = [world.exe("git-pcc"), "heartbeat", "--pid", str(pid)]
    floor = ["sqlite3", world.db(), f"UPDATE sessions SET last_heartbeat = datetime('now') WHERE pid = {pid}"]
    return alternate(lambda: timed([ours], env=world.env), lambda: timed([floor], env=world.env), runs)


def bench_hook(world, runs):
    repo = world.repo("hook", 10)
    pid = world.live_pid()
    session = world.register(repo, pid)
    payload = hook_payload(world, session)
    env = dict(world.env, PARALLEL_CC_SESSION_ID=session["sessionId"])
    ours = ["sh", "-c", f"{world.exe('git-pcc')} heartbeat --hook"]
    floor = ["sqlite3", world.db(), f"UPDATE sessions SET last_heartbeat = datetime('now') WHERE pid = {pid}"]
    return alternate(lambda: timed([ours], input_bytes=payload, env=env),
                     lambda: timed([floor], env=env), runs)


def hook_payload(world, session):
    return json.dumps({
        "session_id": "4d1c9a6e-0000-4000-8000-000000000000",
        "transcript_path": os.path.join(world.root, "transcript.jsonl"),
        "cwd": session["worktreePath"],
        "hook_event_name": "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "ls"},
        "tool_response": {"stdout": "", "stderr": "", "interrupted": False},
    }).encode()


def bench_locked(world, runs):
    repo = world.repo("locked", 10)
    pid = world.live_pid()
    session = world.register(repo, pid)
    env = dict(world.env, PARALLEL_CC_SESSION_ID=session["sessionId"])
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n", world.db()],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline() == b"locked\n"
    payload = hook_payload(world, session)
    ours = ["sh", "-c", f"{world.exe('git-pcc')} heartbeat --hook"]
    floor = ["sqlite3", "-cmd", ".timeout 500", world.db(),
             f"UPDATE sessions SET last_heartbeat = datetime('now') WHERE pid = {pid}"]

    def give_up():
        start = time.perf_counter()
        result = subprocess.run(floor, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if result.returncode == 0:
            sys.exit("the write lock was not held: the floor's UPDATE went through")
        return time.perf_counter() - start

    try:
        return alternate(lambda: timed([ours], input_bytes=payload, env=env), give_up, runs, warmup=1)
    finally:
        holder.stdin.close()
        holder.wait()


def bench_worktree(world, runs):
    repo = world.repo("wt", 2000)
    world.register(repo, world.live_pid())
    agent = world.live_pid()
    register = [world.exe("git-pcc-register"), "--repo", repo, "--pid", str(agent)]
    release = [world.exe("git-pcc-release"), "--pid", str(agent)]
    target = os.path.join(world.root, "wt-floor")
    add = ["git", "-C", repo, "worktree", "add", "-q", "-b", "bench-floor", target, "HEAD"]
    remove = ["git", "-C", repo, "worktree", "remove", target]
    delete = ["git", "-C", repo, "branch", "-q", "-D", "bench-floor"]
    return alternate(lambda: timed([register, release], env=world.env),
                     lambda: timed([add, remove, delete], env=world.env), runs)


def bench_statusline(world, runs):
    repo = world.repo("sl", 10)
    main = world.register(repo, world.live_pid())
    others = [world.register(repo, world.live_pid()) for _ in range(4)]
    session = others[0]
    # One conflict between the main checkout and the first worktree, predicted once.
    target = os.path.join("dir000", "file00000.txt")
    with open(os.path.join(session["worktreePath"], target), "w") as f:
        f.write("ours\n")
    subprocess.run(["git", "-C", session["worktreePath"], "commit", "-q", "-am", "ours"], check=True, env=world.env)
    with open(os.path.join(main["worktreePath"], target), "w") as f:
        f.write("theirs\n")
    subprocess.run([world.exe("git-pcc"), "conflicts", "--predict", "--json", "--repo", repo],
                   env=world.env, capture_output=True, check=True)
    env = dict(world.env, PARALLEL_CC_SESSION_ID=session["sessionId"])
    status_input = json.dumps({
        "session_id": "4d1c9a6e-0000-4000-8000-000000000000",
        "transcript_path": os.path.join(world.root, "transcript.jsonl"),
        "cwd": session["worktreePath"],
        "model": {"id": "claude-opus-4-1", "display_name": "Opus"},
        "workspace": {"current_dir": session["worktreePath"], "project_dir": session["worktreePath"]},
        "version": "2.1.332",
        "cost": {"total_cost_usd": 0.0, "total_duration_ms": 0},
    }).encode()
    ours = ["sh", "-c", f"{world.exe('git-pcc')} statusline"]
    out = subprocess.run(ours, input=status_input, env=env, capture_output=True, check=True)
    line = out.stdout.decode()
    assert "4 others" in line and "1 conflict: dir000/file00000.txt" in line, line
    floor = ["sh", "-c", f"{world.exe('git-pcc')} heartbeat --hook"]
    payload = hook_payload(world, session)
    return alternate(lambda: timed([ours], input_bytes=status_input, env=env),
                     lambda: timed([floor], input_bytes=payload, env=env), runs)


def bench_status(world, runs):
    repo = world.repo("st", 10)
    world.register(repo, world.live_pid())
    live = world.live_pid()
    rows = []
    for i in range(999):
        fake_repo = f"/nonexistent/bench/repo{i % 50:02d}"
        is_main = i < 50
        name = None if is_main else f"parallel-{i:08x}"
        worktree = fake_repo if is_main else f"{fake_repo}-worktrees/{name}"
        pid = live if i % 3 == 0 else 4_000_000 + i
        branch = "main" if is_main else f"parallel/{name}"
        rows.append(f"('bench-{i:04d}', {pid}, '{fake_repo}', '{worktree}', "
                    f"{'NULL' if name is None else repr(name)}, {int(is_main)}, '{branch}')")
    sql = ("INSERT INTO sessions (id, pid, repo_path, worktree_path, worktree_name, is_main_repo, branch) VALUES "
           + ",".join(rows) + ";")
    subprocess.run(["sqlite3", world.db()], input=sql.encode(), check=True)
    ours = [world.exe("git-pcc"), "status", "--all", "--json"]
    floor = ["sqlite3", "-json", world.db(), "SELECT * FROM sessions"]
    out = subprocess.run(ours, env=world.env, capture_output=True, check=True)
    assert json.loads(out.stdout)["totalSessions"] == 1000
    return alternate(lambda: timed([ours], env=world.env), lambda: timed([floor], env=world.env), runs)


def bench_predict(world, runs):
    repo = world.repo("pr", 5000)
    world.register(repo, world.live_pid())
    branches = []
    for i in range(19):
        session = world.register(repo, world.live_pid())
        worktree = session["worktreePath"]
        path = os.path.join(worktree, f"dir{i:03d}", f"file{i:05d}.txt")
        with open(path, "a") as f:
            f.write(f"change by session {i}\n")
        subprocess.run(["git", "-C", worktree, "commit", "-q", "-am", f"session {i}"], check=True, env=world.env)
        branches.append(session["branch"])
    refs = ["main"] + branches
    pairs = [(refs[i], refs[j]) for i in range(len(refs)) for j in range(i + 1, len(refs))]
    pairs += [(b, "main") for b in branches]
    script = "\n".join(f"git merge-tree --write-tree {a} {b} >/dev/null" for a, b in pairs)
    floor = ["sh", "-c", f"cd '{repo}' && {{ {script}\n}}"]
    ours = [world.exe("git-pcc"), "conflicts", "--predict", "--json", "--repo", repo]
    out = subprocess.run(ours, env=world.env, capture_output=True, check=True)
    prediction = json.loads(out.stdout)
    assert len(prediction["pairs"]) == 190 and len(prediction["againstTarget"]) == 19, prediction.keys()
    return alternate(lambda: timed([ours], env=world.env), lambda: timed([floor], env=world.env), runs, warmup=1)


def bench_mcp(world, runs):
    requests = "\n".join(json.dumps(m) for m in [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]).encode() + b"\n"

    def serve_once():
        start = time.perf_counter()
        proc = subprocess.Popen([world.exe("pcc-mcp")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=world.env)
        proc.stdin.write(requests)
        proc.stdin.flush()
        proc.stdout.readline()
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - start
        if b'"tools"' not in line:
            sys.exit(f"pcc-mcp did not answer tools/list: {line!r}")
        with open(f"/proc/{proc.pid}/status") as status:
            rss = next(int(l.split()[1]) for l in status if l.startswith("VmRSS:"))
        world.rss_kib = max(getattr(world, "rss_kib", 0), rss)
        proc.stdin.close()
        proc.wait()
        return elapsed

    version = [world.exe("pcc-mcp"), "--version"]
    return alternate(serve_once, lambda: timed([version], env=world.env), runs)


BENCHMARKS = [
    ("heartbeat", "git pcc heartbeat vs sqlite3 UPDATE", bench_heartbeat, 1.0, 1.0),
    ("hook", "PostToolUse hook (sh -c, JSON stdin) vs sqlite3 UPDATE", bench_hook, 1.5, 1.0),
    ("locked", "the hook, database write-locked, vs sqlite3 .timeout 500 UPDATE", bench_locked, 1.0, 0.25),
    ("worktree", "register+release vs git worktree add+remove+branch -D (2,000 files)", bench_worktree, 1.0, 0.25),
    ("status", "status --json, 1,000 sessions vs sqlite3 -json SELECT", bench_status, 2.0, 1.0),
    ("predict", "conflicts --predict, 20 sessions, 5,000 files vs git merge-tree per pair", bench_predict, 0.5, 0.1),
    ("statusline", "statusline (sh -c, JSON stdin), 5 sessions vs the PostToolUse hook", bench_statusline, 2.0, 1.0),
    ("mcp", "pcc-mcp start to tools/list vs pcc-mcp --version", bench_mcp, 5.0, 1.0),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_bin = os.path.join(os.path.dirname(__file__), "..", "..", "target", "release")
    parser.add_argument("--bin", default=default_bin, help="directory of the built executables")
    parser.add_argument("--runs", type=int, default=40, help="timed runs of each side")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks")
    args = parser.parse_args()
    if not shutil.which("sqlite3"):
        sys.exit("the sqlite3 command-line tool is needed as the floor (apt-get install sqlite3)")
    args.bin = os.path.abspath(args.bin)

    results = []
    for name, title, function, target, run_share in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        world = World(args.bin)
        try:
            ours, floor = function(world, max(5, int(args.runs * run_share)))
        finally:
            world.close()
            rss_kib = getattr(world, "rss_kib", None)
        ratio = ours / floor
        passed = ratio <= target and (rss_kib is None or rss_kib < 10 * 1024)
        results.append({"name": name, "title": title, "oursMs": round(ours * 1000, 3),
                        "floorMs": round(floor * 1000, 3), "ratio": round(ratio, 3),
                        "target": target, "pass": passed, "rssKiB": rss_kib})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{'benchmark':<10} {'ours ms':>9} {'floor ms':>9} {'ratio':>7} {'target':>7}  result")
        for r in results:
            verdict = "PASS" if r["pass"] else "FAIL"
            memory = f", RSS {r['rssKiB'] / 1024:.1f} MiB" if r["rssKiB"] else ""
            print(f"{r['name']:<10} {r['oursMs']:>9.2f} {r['floorMs']:>9.2f} {r['ratio']:>7.3f} "
                  f"{'<= ' + str(r['target']):>7}  {verdict}  ({r['title']}{memory})")
    sys.exit(0 if all(r["pass"] for r in results) else 1)


if __name__ == "__main__":
    main()
