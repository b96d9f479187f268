#!/usr/bin/env python3
"""Benchmark of one refresh of `git pcc top` against the two commands it
stands for.

It builds, in a temporary directory, a repository of 5,000 committed text
files in about 250 nested directories (fixed contents, identity and
dates), registers 20 live sessions in it (sleeping processes: the first in
the main checkout, the other 19 in worktrees) and leaves uncommitted work
in every checkout: three files of its own each, and one of five shared
files, so sessions that edit the same shared file conflict there. It then
runs, alternately in one run (so all see the same machine state), and
prints the median of each and the ratio against the target:

  ours    `git pcc top --once --json`: one frame's data (what the live view
          gathers every second): the sessions with state, ahead/behind and
          changed files, and the conflict matrix, each checkout read once;
          a new process, so nothing is remembered from a refresh before
  status  `git pcc status --json`
  predict `git pcc conflicts --predict --json`
  target  ours / (status + predict) <= 0.5

It also prints what a refresh costs inside a live view, where the pairs
whose states did not change since the last refresh are not merged again:
(time of `top --once --json --refreshes 11` - time of `--refreshes 1`) / 10,
and its ratio to the same sum.

Every command runs in the repository with PARALLEL_CC_DATA_DIR and HOME
in temporary directories. Before timing it checks that ours reports the
20 sessions, the changed files `status` reports and the conflicting pairs
`conflicts --predict` finds. Only a failure to set up exits non-zero; a
missed target does not.

Usage: top.py [--bin-dir DIR] [--runs N] [--files N] [--sessions N] [--json] [--keep]
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

FILES = 5000
SESSIONS = 20
SHARED = 5
TARGET = 0.5
SEED = 20260101
WORDS = ["account", "apply", "batch", "buffer", "build", "cache", "channel", "collect", "compute",
         "cursor", "decode", "emit", "encode", "entry", "event", "fetch", "filter", "flush", "frame",
         "group", "index", "item", "key", "ledger", "limit", "load", "merge", "metric", "node",
         "order", "packet", "parse", "queue", "rank", "record", "render", "report", "resolve"]


def text(rng, lines):
    return "".join(f"{' '.join(rng.sample(WORDS, 5))} {rng.randint(0, 9999)}\n" for _ in range(lines))


def run(command, cwd, env, check=True):
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {done.stderr.decode(errors='replace').strip()}")
    return done


def build_repository(root, files, env):
    rng = random.Random(SEED)
    repo = os.path.join(root, "app")
    os.makedirs(repo)
    paths = []
    for index in range(files):
        directory = os.path.join(f"d{index % 16}", f"s{index % 250 // 16}")
        paths.append(os.path.join(directory, f"f{index}.txt"))
    for path in paths:
        full = os.path.join(repo, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as out:
            out.write(text(rng, rng.randint(5, 60)))
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "initial"], repo, env)
    return repo, paths


def register_sessions(repo, count, env, bin_dir):
    sleepers, checkouts = [], []
    for _ in range(count):
        sleeper = subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL)
        sleepers.append(sleeper)
        done = run([os.path.join(bin_dir, "git-pcc-register"), "--repo", repo, "--pid",
                    str(sleeper.pid), "--json"], repo, env)
        checkouts.append(json.loads(done.stdout)["worktreePath"])
    return sleepers, checkouts


def leave_work(checkouts, paths):
    """Three files of its own per checkout, and one of the shared ones."""
    shared = paths[:SHARED]
    for index, checkout in enumerate(checkouts):
        own = paths[SHARED + 3 * index: SHARED + 3 * index + 3]
        for path in own + [shared[index % SHARED]]:
            with open(os.path.join(checkout, path), "a") as out:
                out.write(f"edited by session {index}\n")


def timed(command, cwd, env):
    start = time.perf_counter()
    run(command, cwd, env)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                          "target", "release"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--files", type=int, default=FILES)
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    bin_dir = os.path.abspath(args.bin_dir)
    git_pcc = os.path.join(bin_dir, "git-pcc")
    if not os.access(git_pcc, os.X_OK):
        sys.exit(f"no {git_pcc}: run 'cargo build --release' first (or pass --bin-dir)")

    root = tempfile.mkdtemp(prefix="pcc-bench-top-")
    env = dict(os.environ, HOME=os.path.join(root, "home"),
               PARALLEL_CC_DATA_DIR=os.path.join(root, "home", ".parallel-cc"),
               PATH=f"{bin_dir}:{os.environ.get('PATH', '')}",
               GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com",
               GIT_AUTHOR_DATE="2026-01-01T00:00:00Z", GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    env.pop("PARALLEL_CC_SESSION_ID", None)
    os.makedirs(env["HOME"])
    sleepers = []
    try:
        repo, paths = build_repository(root, args.files, env)
        sleepers, checkouts = register_sessions(repo, args.sessions, env, bin_dir)
        leave_work(checkouts, paths)

        ours_cmd = [git_pcc, "top", "--once", "--json"]
        status_cmd = [git_pcc, "status", "--json"]
        predict_cmd = [git_pcc, "conflicts", "--predict", "--json"]
        frame = json.loads(run(ours_cmd, repo, env).stdout)
        status = json.loads(run(status_cmd, repo, env).stdout)
        predict = json.loads(run(predict_cmd, repo, env).stdout)
        rows = frame["repositories"][0]["sessions"]
        if len(rows) != args.sessions or frame["totalSessions"] != args.sessions:
            sys.exit(f"top shows {len(rows)} sessions, not {args.sessions}")
        changed = {row["sessionId"]: row["changedFiles"] for row in rows}
        for row in status["sessions"]:
            if row["changedFiles"] is not None and row["changedFiles"] != changed[row["sessionId"]]:
                sys.exit(f"changed files differ for {row['sessionId']}: "
                         f"{changed[row['sessionId']]} / {row['changedFiles']}")
        ours_pairs = sorted((p["a"], p["b"]) for p in frame["repositories"][0]["pairs"] if p["hasConflicts"])
        their_pairs = sorted((p["a"], p["b"]) for p in predict["pairs"] if p["hasConflicts"])
        if ours_pairs != their_pairs or not ours_pairs:
            sys.exit(f"conflicting pairs differ: {len(ours_pairs)} / {len(their_pairs)}")

        times = {"ours": [], "status": [], "predict": [], "eleven": []}
        for _ in range(args.runs):
            times["ours"].append(timed(ours_cmd, repo, env))
            times["status"].append(timed(status_cmd, repo, env))
            times["predict"].append(timed(predict_cmd, repo, env))
            times["eleven"].append(timed(ours_cmd + ["--refreshes", "11"], repo, env))
        medians = {name: statistics.median(values) for name, values in times.items()}
        floor = medians["status"] + medians["predict"]
        ratio = medians["ours"] / floor
        refresh = max(medians["eleven"] - medians["ours"], 0.0) / 10
        live_ratio = refresh / floor
        figures = {
            "files": args.files,
            "sessions": args.sessions,
            "conflictingPairs": len(ours_pairs),
            "runs": args.runs,
            "oursSeconds": round(medians["ours"], 4),
            "statusSeconds": round(medians["status"], 4),
            "predictSeconds": round(medians["predict"], 4),
            "ratio": round(ratio, 3),
            "liveRefreshSeconds": round(refresh, 4),
            "liveRatio": round(live_ratio, 3),
            "target": TARGET,
            "met": ratio <= TARGET,
        }
        if args.json:
            print(json.dumps(figures, indent=2))
        else:
            print(f"{args.files} files, {args.sessions} live sessions, "
                  f"{len(ours_pairs)} conflicting pairs, {args.runs} runs each (medians)")
            print(f"  top --once --json        {medians['ours'] * 1000:8.1f} ms")
            print(f"  status --json            {medians['status'] * 1000:8.1f} ms")
            print(f"  conflicts --predict      {medians['predict'] * 1000:8.1f} ms")
            print(f"  a refresh in a live view {refresh * 1000:8.1f} ms")
            verdict = "met" if ratio <= TARGET else "missed"
            print(f"  ratio top / (status + predict) = {ratio:.3f} (target <= {TARGET}: {verdict})")
            print(f"  ratio live refresh / (status + predict) = {live_ratio:.3f}")
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
