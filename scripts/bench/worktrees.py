#!/usr/bin/env python3
"""Worktrees of a large repository against git's own.

A repository of 50,000 files (100 directories of 500, generated once with
`git fast-import`). Each benchmark runs our command and the floor
alternately in one run (so both see the same machine state), then prints
the median of each and the ratio ours/floor against its target:

  sparse  `git-pcc-register` (new worktree, worktree.sparsePaths naming 5
          directories: 5% of the files) + `git-pcc-release`
                              vs `git worktree add -b` + `git worktree remove`
                                 + `git branch -D` of the full tree        <= 0.1
  full    the same without sparse paths, against the same floor            <= 0.5

The repository is generated once and kept in target/bench-cache (--cache);
each run clones it, sharing its objects.

Usage: worktrees.py [--bin DIR] [--runs N] [--files N] [--cache DIR] [--json] [--only NAME ...]
Build with `cargo build --release` first.
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

DIRECTORIES = 100


def timed(cmds, env):
    """Runs a sequence of commands, failing loudly; returns seconds taken."""
    start = time.perf_counter()
    for cmd in cmds:
        result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        if result.returncode != 0:
            sys.exit(f"benchmark command failed: {cmd}: {result.stderr.decode(errors='replace')}")
    return time.perf_counter() - start


def alternate(ours, floor, runs, warmup=1):
    for _ in range(warmup):
        ours()
        floor()
    a, b = [], []
    for _ in range(runs):
        a.append(ours())
        b.append(floor())
    pairs = sorted(x / y for x, y in zip(a, b))
    return statistics.median(a), statistics.median(b), (pairs[0], pairs[-1])


def generate_cached(files, cache_dir, env):
    """A bare repository of `files` small files in DIRECTORIES directories,
    made once with `git fast-import` and kept in `cache_dir` for later runs."""
    cached = os.path.join(cache_dir, f"worktrees-{files}-v1.git")
    if os.path.isdir(cached):
        return cached
    os.makedirs(cache_dir, exist_ok=True)
    partial = tempfile.mkdtemp(prefix="partial-", dir=cache_dir)
    git = ["git", "-C", partial]
    subprocess.run(git + ["init", "-q", "--bare", "-b", "main"], check=True, env=env)
    lines = ["commit refs/heads/main", "committer bench <bench@example.com> 1767225600 +0000",
             "data 8", "generate"]
    for i in range(files):
        content = f"line {i}\n" * 4
        lines.append(f"M 100644 inline dir{i % DIRECTORIES:03d}/file{i:05d}.txt")
        lines.append(f"data {len(content)}")
        lines.append(content)
    script = ("\n".join(lines) + "\n").encode()
    subprocess.run(git + ["fast-import", "--quiet"], input=script, check=True, env=env)
    os.rename(partial, cached)
    return cached


def generate(path, files, cache_dir, env):
    """A repository of `files` small files: a clone of the cached one
    sharing its objects, checked out."""
    cached = generate_cached(files, cache_dir, env)
    subprocess.run(["git", "clone", "-q", "--shared", cached, path], check=True, env=env)


class World:
    def __init__(self, bin_dir, files, cache_dir):
        self.bin = bin_dir
        self.root = tempfile.mkdtemp(prefix="pcc-bench-wt-")
        self.env = dict(os.environ, HOME=self.root, GIT_CONFIG_NOSYSTEM="1",
                        GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
                        GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")
        self.env.pop("PARALLEL_CC_SESSION_ID", None)
        self.env.pop("PARALLEL_CC_BASE", None)
        self.sleepers = []
        self.repo = os.path.join(self.root, "big")
        generate(self.repo, files, cache_dir, self.env)

    def exe(self, name):
        return os.path.join(self.bin, name)

    def live_pid(self):
        proc = subprocess.Popen(["sleep", "100000"])
        self.sleepers.append(proc)
        return proc.pid

    def data_dir(self, name, sparse_paths):
        data = os.path.join(self.root, name)
        os.makedirs(data)
        config = {"worktree": {"root": os.path.join(self.root, f"{name}-worktrees")}}
        if sparse_paths:
            config["worktree"]["sparsePaths"] = sparse_paths
        with open(os.path.join(data, "config.json"), "w") as f:
            json.dump(config, f)
        return dict(self.env, PARALLEL_CC_DATA_DIR=data)

    def close(self):
        for proc in self.sleepers:
            proc.kill()
            proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def bench_case(world, runs, name, sparse_paths):
    env = world.data_dir(name, sparse_paths)
    subprocess.run([world.exe("git-pcc-register"), "--repo", world.repo, "--pid", str(world.live_pid())],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    agent = world.live_pid()
    register = [world.exe("git-pcc-register"), "--repo", world.repo, "--pid", str(agent)]
    release = [world.exe("git-pcc-release"), "--pid", str(agent)]
    target = os.path.join(world.root, f"{name}-floor")
    add = ["git", "-C", world.repo, "worktree", "add", "-q", "-b", f"floor-{name}", target, "HEAD"]
    remove = ["git", "-C", world.repo, "worktree", "remove", target]
    delete = ["git", "-C", world.repo, "branch", "-q", "-D", f"floor-{name}"]
    return alternate(lambda: timed([register, release], env),
                     lambda: timed([add, remove, delete], env), runs)


BENCHMARKS = [
    ("sparse", "register+release, sparse 5% vs git worktree add+remove+branch -D of the full tree",
     [f"dir{i:03d}" for i in range(0, DIRECTORIES, DIRECTORIES // 5)][:5], 0.1),
    ("full", "register+release, full vs git worktree add+remove+branch -D", None, 0.5),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_bin = os.path.join(os.path.dirname(__file__), "..", "..", "target", "release")
    parser.add_argument("--bin", default=default_bin, help="directory of the built executables")
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each side")
    parser.add_argument("--files", type=int, default=50_000, help="files in the generated repository")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    default_cache = os.path.join(os.path.dirname(__file__), "..", "..", "target", "bench-cache")
    parser.add_argument("--cache", default=default_cache,
                        help="directory keeping the generated repository between runs")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin)

    world = World(args.bin, args.files, os.path.abspath(args.cache))
    results = []
    try:
        for name, title, sparse_paths, target in BENCHMARKS:
            if args.only and name not in args.only:
                continue
            ours, floor, (low, high) = bench_case(world, args.runs, name, sparse_paths)
            ratio = ours / floor
            results.append({"name": name, "title": title, "oursMs": round(ours * 1000, 3),
                            "floorMs": round(floor * 1000, 3), "ratio": round(ratio, 3),
                            "pairRatioMin": round(low, 3), "pairRatioMax": round(high, 3),
                            "target": target, "pass": ratio <= target})
    finally:
        world.close()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{'benchmark':<10} {'ours ms':>9} {'floor ms':>9} {'ratio':>7} {'spread':>13} {'target':>7}  result")
        for r in results:
            verdict = "PASS" if r["pass"] else "FAIL"
            spread = f"{r['pairRatioMin']:.2f}-{r['pairRatioMax']:.2f}"
            print(f"{r['name']:<10} {r['oursMs']:>9.2f} {r['floorMs']:>9.2f} {r['ratio']:>7.3f} {spread:>13} "
                  f"{'<= ' + str(r['target']):>7}  {verdict}  ({r['title']}, {args.files:,} files)")
    sys.exit(0 if all(r["pass"] for r in results) else 1)


if __name__ == "__main__":
    main()
