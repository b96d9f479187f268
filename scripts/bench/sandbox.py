#!/usr/bin/env python3
"""Benchmark of parallel sandbox runs against the ideal wall time.

It builds the release binaries (`cargo build --release`, unless --bin-dir
is given), makes a scratch repository of --files files in a temporary
directory, and puts a stand-in `claude` first on PATH: it sleeps 2 s, writes
one file named after its prompt and prints a stream-json `result` line, so
the agent's own work takes a known time and everything else is ours. Then,
for each round, it times

  git-pcc-sandbox run --multi --task task-1 ... --task task-6 --max-concurrent 3
                      --branch auto --json --output-dir DIR

from process start to exit (PARALLEL_CC_DATA_DIR and HOME in the temporary
directory). Six tasks three at a time are two waves of 2 s: the ideal wall
time is 4 s. It reports the median and the worst round against it:

  ratio     wall / 4.0                                target <= 1.15
  overhead  (wall - 4.0) / 2 waves: what one task costs beyond its agent
            (sandbox, packing, baseline commit, bringing back, branch)

Every round is checked before it counts: six tasks COMPLETED, and each
task's branch holds exactly the file its agent wrote. The branches are
deleted after each round so that every round sees the same repository. One
untimed round warms up first. Only a failure to set up or a wrong result
exits non-zero; a missed target does not.

Usage: sandbox.py [--bin-dir DIR] [--rounds N] [--files N] [--json] [--keep]
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

TASKS = 6
MAX_CONCURRENT = 3
AGENT_SECONDS = 2.0
WAVES = -(-TASKS // MAX_CONCURRENT)
IDEAL = WAVES * AGENT_SECONDS
TARGET = 1.15

STAND_IN = f"""#!/bin/sh
# A stand-in for Claude Code as `claude -p PROMPT ...` runs it: {AGENT_SECONDS:g} s of work,
# one file named after the prompt, and the stream-json events of a session.
prompt=$2
printf '{{"type":"system","subtype":"init","session_id":"bench","model":"stand-in"}}\\n'
sleep {AGENT_SECONDS:g}
printf 'written by %s\\n' "$prompt" > "$prompt.txt"
printf '{{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"done","total_cost_usd":0}}\\n'
"""


def build_release(repo_root):
    print("building release binaries (cargo build --release) ...", file=sys.stderr)
    result = subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=repo_root)
    if result.returncode != 0:
        sys.exit("cargo build --release failed")
    return os.path.join(repo_root, "target", "release")


def make_world(root, bin_dir, files):
    home = os.path.join(root, "home")
    data = os.path.join(root, "data")
    agent_dir = os.path.join(root, "agent")
    for directory in (home, data, agent_dir):
        os.makedirs(directory)
    stand_in = os.path.join(agent_dir, "claude")
    with open(stand_in, "w") as f:
        f.write(STAND_IN)
    os.chmod(stand_in, 0o755)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANTHROPIC_", "CLAUDE_CODE_", "PARALLEL_CC_"))}
    env.update(HOME=home, PARALLEL_CC_DATA_DIR=data, GIT_CONFIG_NOSYSTEM="1",
               PATH=os.pathsep.join([agent_dir, bin_dir, os.environ.get("PATH", "")]),
               GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com",
               GIT_AUTHOR_DATE="2024-01-01T00:00:00Z", GIT_COMMITTER_DATE="2024-01-01T00:00:00Z")

    repo = os.path.join(root, "repo")
    for i in range(files):
        directory = os.path.join(repo, f"src{i % 20:02d}")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"module{i:04d}.txt"), "w") as f:
            f.write("".join(f"line {n} of module {i}\n" for n in range(40)))
    git = ["git", "-C", repo]
    subprocess.run(git + ["init", "-q", "-b", "main"], check=True, env=env)
    subprocess.run(git + ["add", "-A"], check=True, env=env)
    subprocess.run(git + ["commit", "-q", "-m", "initial"], check=True, env=env)
    return env, repo


def run_round(exe, env, repo, output_dir):
    """One timed batch: returns (wall seconds, summary), checked."""
    command = [exe, "run", "--repo", repo, "--multi"]
    for i in range(1, TASKS + 1):
        command += ["--task", f"task-{i}"]
    command += ["--max-concurrent", str(MAX_CONCURRENT), "--branch", "auto", "--json",
                "--output-dir", output_dir]
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=repo, capture_output=True)
    wall = time.perf_counter() - start
    lines = result.stdout.decode(errors="replace").strip().splitlines()
    if result.returncode != 0 or not lines:
        sys.exit(f"git-pcc-sandbox failed ({result.returncode}):\n"
                 f"{result.stdout.decode(errors='replace')}{result.stderr.decode(errors='replace')}")
    summary = json.loads(lines[-1])
    if summary.get("event") != "summary" or summary["completed"] != TASKS:
        sys.exit(f"not every task completed: {lines[-1]}")
    for i, task in enumerate(summary["tasks"], start=1):
        branch = task["branch"]
        changed = subprocess.run(["git", "-C", repo, "diff", "--name-only", "main", branch],
                                 env=env, capture_output=True, check=True).stdout.decode()
        content = subprocess.run(["git", "-C", repo, "show", f"{branch}:task-{i}.txt"],
                                 env=env, capture_output=True, check=True).stdout.decode()
        if changed != f"task-{i}.txt\n" or content != f"written by task-{i}\n":
            sys.exit(f"task {i}: branch {branch} does not hold its agent's file: {changed!r} {content!r}")
    branches = [task["branch"] for task in summary["tasks"]]
    subprocess.run(["git", "-C", repo, "branch", "-q", "-D"] + branches, env=env, check=True)
    return wall, summary


def confinement(summary):
    kinds = {(task.get("sandbox") or {}).get("confinement") for task in summary["tasks"]}
    return ",".join(sorted(k for k in kinds if k))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    repo_root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    parser.add_argument("--bin-dir", help="directory of the built executables (default: build target/release)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds")
    parser.add_argument("--files", type=int, default=200, help="files in the scratch repository")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and print its path")
    args = parser.parse_args()
    bin_dir = os.path.abspath(args.bin_dir) if args.bin_dir else build_release(repo_root)
    exe = os.path.join(bin_dir, "git-pcc-sandbox")
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        sys.exit(f"no executable {exe}: build it with `cargo build --release`, or pass --bin-dir")

    load_before = os.getloadavg()[0]
    root = tempfile.mkdtemp(prefix="pcc-bench-sandbox-")
    if args.keep:
        print(f"repository and data dir kept in {root}", file=sys.stderr)
    try:
        env, repo = make_world(root, bin_dir, args.files)
        run_round(exe, env, repo, os.path.join(root, "results-warmup"))
        walls, batch_walls, task_seconds, kinds = [], [], [], set()
        for n in range(max(1, args.rounds)):
            wall, summary = run_round(exe, env, repo, os.path.join(root, f"results-{n + 1}"))
            walls.append(wall)
            batch_walls.append(summary["wallSeconds"])
            task_seconds += [task["durationSeconds"] for task in summary["tasks"]]
            kinds.add(confinement(summary))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    median, worst = statistics.median(walls), max(walls)
    result = {
        "name": "sandbox",
        "title": f"run --multi, {TASKS} tasks of a {AGENT_SECONDS:g} s agent, {MAX_CONCURRENT} at once, "
                 f"{args.files}-file repository, vs the ideal {IDEAL:g} s",
        "rounds": len(walls), "files": args.files, "confinement": ",".join(sorted(kinds)),
        "idealSeconds": IDEAL,
        "wallSeconds": [round(w, 3) for w in walls],
        "medianSeconds": round(median, 3), "worstSeconds": round(worst, 3),
        "medianRatio": round(median / IDEAL, 3), "worstRatio": round(worst / IDEAL, 3),
        "medianOverheadPerTaskMs": round((median - IDEAL) / WAVES * 1000, 1),
        "worstOverheadPerTaskMs": round((worst - IDEAL) / WAVES * 1000, 1),
        "medianBatchWallSeconds": round(statistics.median(batch_walls), 3),
        "medianTaskSeconds": round(statistics.median(task_seconds), 3),
        "target": TARGET, "pass": median / IDEAL <= TARGET,
        "loadAverage": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['title']}; confinement: {result['confinement']}; {len(walls)} rounds; "
          f"load average {result['loadAverage'][0]:.2f} before, {result['loadAverage'][1]:.2f} after")
    print("wall per round: " + ", ".join(f"{w:.2f} s" for w in walls))
    print(f"task duration (inside the batch), median: {result['medianTaskSeconds']:.3f} s "
          f"(agent {AGENT_SECONDS:g} s)")
    print(f"{'':<8} {'wall s':>8} {'ideal s':>8} {'ratio':>7} {'target':>8} {'overhead/task':>14}  result")
    for label, wall in (("median", median), ("worst", worst)):
        ratio = wall / IDEAL
        verdict = "PASS" if ratio <= TARGET else "FAIL"
        print(f"{label:<8} {wall:>8.3f} {IDEAL:>8.1f} {ratio:>7.3f} {'<= ' + str(TARGET):>8} "
              f"{(wall - IDEAL) / WAVES * 1000:>11.0f} ms  {verdict}")


if __name__ == "__main__":
    main()
