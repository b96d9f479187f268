#!/usr/bin/env python3
"""Benchmark of `git pcc land`: the makespan of a queue of branches against
landing them one after another by hand.

It builds the release binaries (`cargo build --release`, unless --bin-dir
names them), then, in a temporary directory, a repository of 100 committed
files (fixed contents, identity and dates) and 10 branches off `main` that
do not conflict (each changes a file of its own in one commit), `main`
checked out in a clean checkout. Each round copies that repository afresh
(and a new data directory) for every contender, and runs them alternately,
so all see the same machine state:

  with a check (`sleep 2`, a check that takes 2 s):
    jobs4    `git pcc land B0 ... B9 --check 'sleep 2' --jobs 4`
    jobs1    the same with `--jobs 1` (the sequential queue; shown, not a floor)
    loop     a shell loop landing them one after another with the same check:
             per branch `git checkout B && git rebase main && sleep 2 &&
             git checkout main && git merge --ff-only B`
    target   jobs4 / loop <= 0.35
  without a check:
    nocheck  `git pcc land B0 ... B9`
    plain    the shell loop without the check: `git checkout B && git rebase
             main && git checkout main && git merge --ff-only B` per branch
    target   nocheck / plain <= 0.5

Before timing, every contender's result is checked: main holds the ten
branches' changes, one commit each, and the checkout is clean at main. It
prints the median of each and the ratios; only a failure to set up exits
non-zero, a missed target does not.

Usage: land.py [--bin-dir DIR] [--runs N] [--check-seconds S] [--json] [--keep]
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

BRANCHES = 10
FILES = 100
JOBS = 4
CHECK_TARGET = 0.35
PLAIN_TARGET = 0.5


def build_release(repo_root):
    print("building release binaries (cargo build --release) ...", file=sys.stderr)
    result = subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=repo_root)
    if result.returncode != 0:
        sys.exit("cargo build --release failed")
    return os.path.join(repo_root, "target", "release")


def run(command, cwd, env, shell=False):
    done = subprocess.run(command, cwd=cwd, env=env, shell=shell,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if done.returncode != 0:
        shown = command if shell else " ".join(command)
        sys.exit(f"{shown} failed: {done.stderr.decode(errors='replace').strip()}")
    return done


def build_template(root, env):
    repo = os.path.join(root, "template")
    os.makedirs(repo)
    for index in range(FILES):
        path = os.path.join(repo, f"d{index % 10}", f"f{index}.txt")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as out:
            out.write("".join(f"line {line} of file {index}\n" for line in range(40)))
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "initial"], repo, env)
    branches = []
    for index in range(BRANCHES):
        branch = f"feature-{index}"
        run(["git", "checkout", "-q", "-b", branch, "main"], repo, env)
        with open(os.path.join(repo, f"d{index}", f"f{index}.txt"), "a") as out:
            out.write(f"added by {branch}\n")
        run(["git", "commit", "-q", "-am", f"{branch}: one change"], repo, env)
        branches.append(branch)
    run(["git", "checkout", "-q", "main"], repo, env)
    return repo, branches


def fresh(root, template, name, env):
    """A copy of the template repository and a data directory of its own."""
    place = os.path.join(root, name)
    shutil.rmtree(place, ignore_errors=True)
    os.makedirs(place)
    repo = os.path.join(place, "repo")
    shutil.copytree(template, repo, symlinks=True)
    env = dict(env, PARALLEL_CC_DATA_DIR=os.path.join(place, "data"))
    return repo, env


def verify(repo, env, branches, name):
    subjects = run(["git", "log", "--format=%s", "main"], repo, env).stdout.decode().split("\n")
    landed = sorted(s for s in subjects if s.endswith(": one change"))
    if landed != sorted(f"{b}: one change" for b in branches):
        sys.exit(f"{name}: main does not hold the {len(branches)} branches: {subjects}")
    head = run(["git", "rev-parse", "HEAD", "main"], repo, env).stdout.decode().split()
    status = run(["git", "status", "--porcelain"], repo, env).stdout.decode().strip()
    if head[0] != head[1] or status:
        sys.exit(f"{name}: the checkout is not clean at main ({status!r})")


def contenders(git_pcc, branches, check):
    loop_check = f" && {check}" if check else ""
    loop = " && ".join(
        f"git checkout -q {b} && git rebase -q main{loop_check} && git checkout -q main"
        f" && git merge -q --ff-only {b}"
        for b in branches)
    land = [git_pcc, "land", *branches, "--json"]
    if check:
        return {
            "jobs4": (land + ["--check", check, "--jobs", str(JOBS)], False),
            "jobs1": (land + ["--check", check, "--jobs", "1"], False),
            "loop": (loop, True),
        }
    return {"nocheck": (land, False), "plain": (loop, True)}


def timed(root, template, name, command, shell, env, branches):
    repo, env = fresh(root, template, name, env)
    start = time.perf_counter()
    run(command, repo, env, shell=shell)
    seconds = time.perf_counter() - start
    verify(repo, env, branches, name)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", help="directory of the built executables (default: build target/release)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--check-seconds", type=float, default=2.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    repo_root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    bin_dir = os.path.abspath(args.bin_dir) if args.bin_dir else build_release(repo_root)
    git_pcc = os.path.join(bin_dir, "git-pcc")
    if not os.access(git_pcc, os.X_OK):
        sys.exit(f"no executable {git_pcc}: build it with `cargo build --release`, or pass --bin-dir")

    root = tempfile.mkdtemp(prefix="pcc-bench-land-")
    env = dict(os.environ, HOME=os.path.join(root, "home"),
               PATH=f"{bin_dir}:{os.environ.get('PATH', '')}",
               GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com",
               GIT_AUTHOR_DATE="2026-01-01T00:00:00Z", GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    for name in ("PARALLEL_CC_SESSION_ID", "GIT_DIR", "GIT_WORK_TREE"):
        env.pop(name, None)
    os.makedirs(env["HOME"])
    try:
        template, branches = build_template(root, env)
        check = f"sleep {args.check_seconds:g}"
        plans = {**contenders(git_pcc, branches, check), **contenders(git_pcc, branches, None)}
        times = {name: [] for name in plans}
        for _ in range(args.runs):
            for name, (command, shell) in plans.items():
                times[name].append(timed(root, template, name, command, shell, env, branches))
        medians = {name: statistics.median(values) for name, values in times.items()}
        spread = {name: (min(values), max(values)) for name, values in times.items()}
        check_ratio = medians["jobs4"] / medians["loop"]
        plain_ratio = medians["nocheck"] / medians["plain"]
        figures = {
            "branches": len(branches),
            "checkSeconds": args.check_seconds,
            "jobs": JOBS,
            "runs": args.runs,
            "seconds": {name: round(value, 3) for name, value in medians.items()},
            "spread": {name: [round(a, 3), round(b, 3)] for name, (a, b) in spread.items()},
            "checkRatio": round(check_ratio, 3),
            "checkTarget": CHECK_TARGET,
            "checkMet": check_ratio <= CHECK_TARGET,
            "sequentialQueueRatio": round(medians["jobs1"] / medians["loop"], 3),
            "plainRatio": round(plain_ratio, 3),
            "plainTarget": PLAIN_TARGET,
            "plainMet": plain_ratio <= PLAIN_TARGET,
        }
        if args.json:
            print(json.dumps(figures, indent=2))
            return
        print(f"{len(branches)} branches that do not conflict, a check of {args.check_seconds:g} s, "
              f"{args.runs} runs each (medians, min-max)")
        labels = {
            "jobs4": f"land --check --jobs {JOBS}",
            "jobs1": "land --check --jobs 1",
            "loop": "loop rebase+check+merge",
            "nocheck": "land (no check)",
            "plain": "loop rebase+merge",
        }
        for name, label in labels.items():
            low, high = spread[name]
            print(f"  {label:<26} {medians[name]:7.2f} s  ({low:.2f}-{high:.2f})")
        verdict = "met" if check_ratio <= CHECK_TARGET else "missed"
        print(f"  ratio land --jobs {JOBS} / loop with the check = {check_ratio:.3f} "
              f"(target <= {CHECK_TARGET}: {verdict})")
        print(f"  ratio land --jobs 1 / loop with the check = {figures['sequentialQueueRatio']:.3f}")
        verdict = "met" if plain_ratio <= PLAIN_TARGET else "missed"
        print(f"  ratio land / loop without a check = {plain_ratio:.3f} "
              f"(target <= {PLAIN_TARGET}: {verdict})")
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
