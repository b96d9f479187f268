#!/usr/bin/env python3
"""Benchmark of packing a workspace for a sandbox against its floor.

It builds, in a temporary directory, a repository of 5,000 committed text
files in about 400 nested directories (source-like lines of words and numbers, sizes
spread log-uniformly from 200 B to 20 KB, about 21 MB in all), then leaves
a few uncommitted edits, a few untracked files, and an ignored build
directory in its working tree. It then runs, alternately in one run (so
both see the same machine state), and prints the median of each and the
ratio ours/floor against the target:

  ours   `git-pcc-sandbox pack --repo R --output OUT.tgz`: the tracked files
         as they are on disk, plus the untracked files git does not ignore,
         minus secrets, streamed as tar.gz (cwd outside the repository;
         PARALLEL_CC_DATA_DIR and HOME in temporary dirs)
  floor  `git ls-files -z | tar --null -T - -czf FLOOR.tgz` (sh -c in the
         repository): the tracked files only, gzip level 6
  target ours/floor <= 1.0

Both archives are written outside the repository. Before timing it checks
that ours holds every tracked file plus the untracked ones, and nothing
ignored; it prints both archive sizes. The repository is deterministic
(fixed contents, identity and dates). Only a failure to set up exits
non-zero; a missed target does not.

Usage: pack.py [--bin-dir DIR] [--runs N] [--files N] [--json] [--keep]
"""

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

FILES = 5000
TARGET = 1.0
SEED = 20240301
MIN_SIZE, MAX_SIZE = 200, 20_000
UNTRACKED = 12
MODIFIED = 25
IGNORED = 200
BASE_EPOCH = 1704067200  # 2024-01-01T00:00:00Z

WORDS = ["account", "apply", "batch", "buffer", "build", "cache", "channel", "collect", "compute",
         "cursor", "decode", "emit", "encode", "entry", "event", "fetch", "filter", "flush", "frame",
         "group", "index", "invoice", "item", "key", "ledger", "limit", "load", "merge", "metric",
         "node", "normalize", "order", "packet", "parse", "prune", "queue", "rank", "record", "render",
         "report", "resolve", "result", "route", "scan", "segment", "session", "shard", "signal",
         "sort", "span", "split", "token", "total", "update", "validate", "value", "weight", "window"]
EXTENSIONS = ["rs", "ts", "py", "go", "md", "json", "toml", "txt"]
TOP = ["src", "lib", "web", "tools", "pkg", "docs", "tests", "services"]


# --- the repository ------------------------------------------------------------------------


def line(rng):
    """One source-like line: indentation, a few words, an operator, a number."""
    indent = " " * (4 * rng.randint(0, 3))
    words = rng.sample(WORDS, rng.randint(2, 6))
    head = "_".join(words[:2])
    rest = " ".join(words[2:])
    return f"{indent}{head} = {rng.choice(['call', 'fetch', 'map', 'sum'])}({rest}, {rng.randint(0, 9999)})\n"


def text(rng, size):
    parts, length = [], 0
    while length < size:
        chunk = line(rng)
        parts.append(chunk)
        length += len(chunk)
    return "".join(parts)[:size].rstrip("\n") + "\n"


def file_size(rng):
    return int(math.exp(rng.uniform(math.log(MIN_SIZE), math.log(MAX_SIZE))))


def directories(rng, count):
    """`count` distinct directories one to four levels deep, parents included."""
    dirs = set()
    while len(dirs) < count:
        parts = [rng.choice(TOP)] + [f"{rng.choice(WORDS)}{rng.randint(0, 2)}" for _ in range(rng.randint(0, 3))]
        for depth in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:depth]))
    return sorted(dirs)


def relative_paths(rng, count):
    """`count` distinct file paths, about a dozen to a directory."""
    dirs = directories(rng, max(1, count // 12))
    paths = set()
    while len(paths) < count:
        name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{rng.randint(0, 99)}.{rng.choice(EXTENSIONS)}"
        paths.add(f"{rng.choice(dirs)}/{name}")
    return sorted(paths)


def write(repo, path, content):
    full = os.path.join(repo, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", newline="\n") as out:
        out.write(content)


def git_env(root):
    env = dict(os.environ, HOME=root, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C",
               GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com",
               GIT_AUTHOR_DATE=f"{BASE_EPOCH} +0000", GIT_COMMITTER_DATE=f"{BASE_EPOCH} +0000")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                 "PARALLEL_CC_SESSION_ID"):
        env.pop(name, None)
    return env


def git(repo, env, *args):
    result = subprocess.run(["git", "-C", repo, *args], env=env, capture_output=True)
    if result.returncode != 0:
        sys.exit(f"setup failed: git {' '.join(args)}: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode()


def build_repo(root, env, count):
    """The repository; returns (tracked paths, untracked paths, total bytes of the tracked)."""
    rng = random.Random(SEED)
    repo = os.path.join(root, "repo")
    os.makedirs(repo)
    git(repo, env, "init", "-q", "-b", "main")
    tracked = relative_paths(rng, count - 1)
    write(repo, ".gitignore", "/build/\n*.log\n")
    total = 0
    for path in tracked:
        content = text(rng, file_size(rng))
        total += len(content)
        write(repo, path, content)
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", "A repository of many files")
    tracked = [".gitignore"] + tracked
    for path in rng.sample(tracked[1:], MODIFIED):
        with open(os.path.join(repo, path), "a") as out:
            out.write(line(rng))
    untracked = [f"notes/draft_{n}.md" for n in range(UNTRACKED)]
    for path in untracked:
        write(repo, path, text(rng, file_size(rng)))
    for n in range(IGNORED):
        write(repo, f"build/obj/{n % 10}/unit_{n}.o", text(rng, file_size(rng)))
    write(repo, "server.log", text(rng, 5000))
    return repo, tracked, untracked, total


# --- timing --------------------------------------------------------------------------------


def timed(cmd, env, cwd):
    """Runs one command, failing loudly; returns seconds taken."""
    start = time.perf_counter()
    result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"benchmark command failed (exit {result.returncode}): {' '.join(cmd)}\n"
                 f"{result.stderr.decode(errors='replace')}")
    return elapsed


def alternate(ours, floor, runs, warmup=2):
    for _ in range(warmup):
        ours()
        floor()
    a, b = [], []
    for _ in range(runs):
        a.append(ours())
        b.append(floor())
    return statistics.median(a), statistics.median(b)


def archive_names(path):
    with tarfile.open(path, "r:gz") as archive:
        return {member.name for member in archive.getmembers() if not member.isdir()}


def check_ours(archive, tracked, untracked):
    names = archive_names(archive)
    expected = set(tracked) | set(untracked)
    if names != expected:
        sys.exit(f"setup failed: the pack holds {len(names)} files, expected {len(expected)}; "
                 f"missing: {sorted(expected - names)[:5]}, unexpected: {sorted(names - expected)[:5]}")
    return len(names)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_bin = os.path.join(os.path.dirname(__file__), "..", "..", "target", "release")
    parser.add_argument("--bin-dir", default=default_bin, help="directory of the built git-pcc-sandbox")
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each side")
    parser.add_argument("--files", type=int, default=FILES, help="tracked files in the repository")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository and print its path")
    args = parser.parse_args()
    exe = os.path.join(os.path.abspath(args.bin_dir), "git-pcc-sandbox")
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        sys.exit(f"no executable {exe}: build it with `cargo build --release`, or pass --bin-dir")

    root = tempfile.mkdtemp(prefix="pcc-bench-pack-")
    if args.keep:
        print(f"repository and data dir kept in {root}", file=sys.stderr)
    try:
        env = git_env(root)
        repo, tracked, untracked, total = build_repo(root, env, args.files)
        data = os.path.join(root, "data")
        os.makedirs(data)
        ours_env = dict(env, PARALLEL_CC_DATA_DIR=data)
        ours_out = os.path.join(root, "ours.tgz")
        floor_out = os.path.join(root, "floor.tgz")
        ours = [exe, "pack", "--repo", repo, "--output", ours_out]
        floor = ["sh", "-c", f"git ls-files -z | tar --null -T - -czf '{floor_out}'"]
        timed(ours, ours_env, root)
        packed = check_ours(ours_out, tracked, untracked)
        ours_s, floor_s = alternate(lambda: timed(ours, ours_env, root),
                                    lambda: timed(floor, env, repo), max(3, args.runs))
        ours_size, floor_size = os.path.getsize(ours_out), os.path.getsize(floor_out)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    ratio = ours_s / floor_s
    result = {"name": "pack",
              "title": f"sandbox pack, {len(tracked):,} tracked files vs git ls-files | tar -cz",
              "trackedFiles": len(tracked), "untrackedFiles": len(untracked), "packedFiles": packed,
              "trackedBytes": total, "oursArchiveBytes": ours_size, "floorArchiveBytes": floor_size,
              "oursMs": round(ours_s * 1000, 3), "floorMs": round(floor_s * 1000, 3), "ratio": round(ratio, 3),
              "target": TARGET, "pass": ratio <= TARGET}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"repository: {len(tracked):,} tracked files ({total / 1e6:.1f} MB), {MODIFIED} modified, "
              f"{len(untracked)} untracked, {IGNORED + 1} ignored")
        print(f"archives: ours {ours_size / 1e6:.2f} MB ({packed:,} files), "
              f"floor {floor_size / 1e6:.2f} MB ({len(tracked):,} files)")
        print(f"{'benchmark':<10} {'ours ms':>9} {'floor ms':>9} {'ratio':>7} {'target':>7}  result")
        verdict = "PASS" if result["pass"] else "FAIL"
        print(f"{result['name']:<10} {result['oursMs']:>9.2f} {result['floorMs']:>9.2f} {ratio:>7.3f} "
              f"{'<= ' + str(TARGET):>7}  {verdict}  ({result['title']})")


if __name__ == "__main__":
    main()
