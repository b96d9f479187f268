#!/usr/bin/env python3
"""Benchmark of conflict detection against its floor.

It builds, in a temporary directory, a repository of 50 source files of
about 500 lines each (Rust, TypeScript, Python and Go: imports at the top,
a type, then 20-odd functions of ~20 lines), commits it on `main`, and
makes two branches, `ours` and `theirs`, that both edit every file so that
the two collide in all 50. Each file gets 2 or 3 conflict hunks of the kinds
`conflicts --detect` tells apart:

  concurrent  both sides change the same statement to different values
              (`scale_limit(limit, 4)` -> `... 9)` and `... 13)`)
  structural  both sides insert a different new function at the same point
  trivial     both sides add a different import line at the same place, or
              both reformat the same statement differently (same tokens)

plus, on each side, one edit that merges cleanly. The files rotate through
four profiles (concurrent only, structural only, trivial only, and a mix of
the three), so every language gets every profile.

It then runs, alternately in one run (so both see the same machine state),
and prints the median of each and the ratio ours/floor against the target:

  ours   `git-pcc conflicts --detect --current-branch ours --target-branch theirs --json`
         (cwd in the repository, PARALLEL_CC_DATA_DIR and HOME in temporary dirs)
  floor  `git merge-tree --write-tree ours theirs`: git's own in-memory merge,
         which finds the same 50 conflicted files but does not classify them
  target ours/floor <= 2.0

Before timing it checks that merge-tree reports a content conflict in all 50
files and that git-pcc's JSON lists 50 conflicting files, and prints how many
files git-pcc puts in each conflictType. The repository is deterministic
(fixed contents, identity and dates), so its commits have the same ids on
every run. Only a failure to set up exits non-zero; a missed target does not.

Usage: conflicts.py [--bin-dir DIR] [--runs N] [--json] [--keep]
"""

import argparse
import collections
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

FILES = 50
TARGET = 2.0
LINES_PER_FILE = 500
SEED = 20240101
BASE_EPOCH = 1704067200  # 2024-01-01T00:00:00Z

NOUNS = ["account", "batch", "buffer", "cache", "channel", "cursor", "event", "frame", "index",
         "invoice", "ledger", "metric", "node", "order", "packet", "queue", "record", "report",
         "route", "segment", "session", "shard", "signal", "span", "token", "window"]
VERBS = ["apply", "build", "collect", "compute", "decode", "emit", "encode", "fetch", "filter",
         "flush", "group", "load", "merge", "normalize", "parse", "prune", "rank", "render",
         "resolve", "scan", "sort", "split", "update", "validate"]
HELPERS = ["adjust_budget", "apply_margin", "clamp_value", "compute_ratio", "next_window",
           "round_up", "scale_limit"]
LOCALS = ["threshold", "budget", "margin", "ceiling", "offset", "factor", "spread", "quota"]
PROFILES = ["concurrent", "structural", "trivial", "mixed"]


# --- source generation ---------------------------------------------------------------------


def camel(name, upper=False):
    head, *rest = name.split("_")
    if upper:
        head = head.capitalize()
    return head + "".join(part.capitalize() for part in rest)


class Editable:
    """A statement `<lhs><call>(<arg>, <k>)<end>` whose literal or layout a branch may change."""

    def __init__(self, indent, lhs, call, arg, k, end):
        self.indent, self.lhs, self.call, self.arg, self.k, self.end = indent, lhs, call, arg, k, end

    def render(self, k=None, style="plain"):
        k = self.k if k is None else k
        head = f"{self.indent}{self.lhs}{self.call}("
        if style == "tight":  # a formatter that drops the space after commas
            return f"{head}{self.arg},{k}){self.end}"
        if style == "wrapped":  # a formatter that wraps and aligns the arguments
            pad = self.indent + " " * (len(head) - len(self.indent))
            return f"{head}{self.arg},\n{pad}{k}){self.end}"
        return f"{head}{self.arg}, {k}){self.end}"


class Language:
    """Renders a file's parts in one language; subclasses fill in the syntax."""

    ext = ""
    indent = "    "
    end_stmt = ""  # what ends a simple statement
    separator = [""]  # the lines between two functions

    def fn_name(self, verb, noun):
        return f"{verb}_{noun}"

    def helper(self, name):
        return name

    def function(self, rng, name):
        """The lines of one function of about 20 lines; Editable lines are left as objects."""
        target = rng.randint(14, 18)
        free = LOCALS[:]
        rng.shuffle(free)
        body = list(self.init())
        declared = ["total"]  # locals a statement may use
        unused = {"guard": 1, "rescale": 1, "sort": 1, "loop": 1}  # the once-only statements
        mentioned = set()  # locals already logged or emitted

        def assign(lhs=None):
            var = lhs or free.pop()
            call = self.helper(rng.choice(HELPERS))
            arg = rng.choice(["limit"] + declared)
            body.append(Editable(self.indent, self.reassign(var) if lhs else self.decl(var), call, arg,
                                 rng.randint(2, 64), self.end_stmt))
            if not lhs:
                declared.append(var)
            return var

        body.extend(self.loop(assign(), rng.randint(2, 9)))
        while len(body) < target or len(declared) < 3:
            kind = rng.choice(["assign", "assign", "loop", "guard", "rescale", "sort", "emit", "log"])
            if kind in ("assign", "loop") and not free:
                continue
            if kind in unused:
                if not unused[kind] or (kind == "loop" and len(body) > target - 6):
                    continue
                unused[kind] -= 1
            if kind in ("emit", "log"):
                fresh = [v for v in declared if v not in mentioned]
                if not fresh:
                    continue
                var = rng.choice(fresh)
                mentioned.add(var)
                body.append(self.emit(name, var) if kind == "emit" else self.log(name, var))
            elif kind == "assign":
                assign()
            elif kind == "loop":
                body.extend(self.loop(assign(), rng.randint(2, 9)))
            elif kind == "guard":
                body.extend(self.guard(name, rng.randint(10, 400) * 10))
            elif kind == "rescale":
                assign(lhs="total")
            else:
                body.append(self.sort())
        body.extend(self.ret(rng.random() < 0.5))
        return self.signature(name) + body + self.close()

    def close(self):
        return ["}"]

    def reassign(self, var):
        return f"{var} = "

    def sort(self):
        return self.indent + "result.sort()" + self.end_stmt


class Rust(Language):
    ext = "rs"
    end_stmt = ";"

    def header(self, module):
        return ["//! The " + module + " stage of the engine.", "",
                "use std::collections::HashMap;", "use std::fmt;", "",
                "use crate::metrics::emit_metric;",
                "use crate::util::{" + ", ".join(HELPERS) + "};"]

    def types(self):
        return ["", "/// One weighted entry of the input.", "#[derive(Debug, Clone)]",
                "pub struct Entry {", "    pub key: String,", "    pub weight: usize,", "}"]

    def imports(self):
        return ["use std::sync::Arc;", "use std::time::Duration;", "use crate::cache::Cache;",
                "use crate::config::Settings;", "use std::io::Write;", "use crate::error::Error;"]

    def signature(self, name):
        verb, noun = name.split("_", 1)
        return [f"/// {verb.capitalize()}s the {noun} entries up to `limit`.",
                f"pub fn {name}(items: &[Entry], limit: usize) -> usize {{"]

    def init(self):
        return ["    let mut total = 0;", "    let mut result = Vec::new();"]

    def decl(self, var):
        return f"let {var} = "

    def loop(self, bound, k):
        return ["    for item in items {", f"        if item.weight > {bound} {{", "            continue;",
                "        }", f"        total += item.weight * {k};", "        result.push(item.key.clone());",
                "    }"]

    def guard(self, name, k):
        return [f"    if total > {k} {{", f'        log::debug!("{name}: total {{}} over budget", total);',
                "        return total;", "    }"]

    def emit(self, name, var):
        return f'    emit_metric("{name}.{var}", {var});'

    def log(self, name, var):
        return f'    log::trace!("{name}: {var} = {{}}", {var});'

    def ret(self, count):
        return ["    result.len()" if count else "    total"]


class TypeScript(Language):
    ext = "ts"
    indent = "  "
    end_stmt = ";"

    def fn_name(self, verb, noun):
        return camel(f"{verb}_{noun}")

    def helper(self, name):
        return camel(name)

    def header(self, module):
        return [f"// The {module} stage of the pipeline.", "",
                'import { readFile } from "node:fs/promises";', 'import { logger } from "./logger";',
                'import { emitMetric } from "./metrics";',
                "import { " + ", ".join(camel(h) for h in HELPERS) + ' } from "./util";']

    def types(self):
        return ["", "/** One weighted entry of the input. */", "export interface Entry {", "  key: string;",
                "  weight: number;", "}"]

    def imports(self):
        return ['import { Cache } from "./cache";', 'import { Settings } from "./config";',
                'import { join } from "node:path";', 'import { createHash } from "node:crypto";',
                'import { setTimeout } from "node:timers/promises";', 'import { Span } from "./tracing";']

    def signature(self, name):
        return [f"/** {name}: the entries whose weight stays under `limit`. */",
                f"export function {name}(items: Entry[], limit: number): number {{"]

    def init(self):
        return ["  let total = 0;", "  const result: string[] = [];"]

    def decl(self, var):
        return f"const {var} = "

    def loop(self, bound, k):
        return ["  for (const item of items) {", f"    if (item.weight > {bound}) {{", "      continue;", "    }",
                f"    total += item.weight * {k};", "    result.push(item.key);", "  }"]

    def guard(self, name, k):
        return [f"  if (total > {k}) {{", f"    logger.debug(`{name}: total ${{total}} over budget`);",
                "    return total;", "  }"]

    def emit(self, name, var):
        return f'  emitMetric("{name}.{var}", {var});'

    def log(self, name, var):
        return f"  logger.trace(`{name}: {var} = ${{{var}}}`);"

    def ret(self, count):
        return ["  return result.length;" if count else "  return total;"]


class Python(Language):
    ext = "py"
    separator = ["", ""]

    def header(self, module):
        return [f'"""The {module} stage of the tools."""', "",
                "import logging", "from dataclasses import dataclass", "",
                "from .metrics import emit_metric", "from .util import " + ", ".join(HELPERS)]

    def types(self):
        return ["", "logger = logging.getLogger(__name__)", "", "", "@dataclass", "class Entry:",
                '    """One weighted entry of the input."""', "", "    key: str", "    weight: int"]

    def imports(self):
        return ["import itertools", "import os", "from collections import defaultdict",
                "from pathlib import Path", "from .cache import Cache", "from .config import Settings"]

    def signature(self, name):
        verb, noun = name.split("_", 1)
        return [f"def {name}(items, limit):", f'    """{verb.capitalize()} the {noun} entries up to limit."""']

    def init(self):
        return ["    total = 0", "    result = []"]

    def decl(self, var):
        return f"{var} = "

    def loop(self, bound, k):
        return ["    for item in items:", f"        if item.weight > {bound}:", "            continue",
                f"        total += item.weight * {k}", "        result.append(item.key)"]

    def guard(self, name, k):
        return [f"    if total > {k}:", f'        logger.debug("{name}: total %d over budget", total)',
                "        return total"]

    def emit(self, name, var):
        return f'    emit_metric("{name}.{var}", {var})'

    def log(self, name, var):
        return f'    logger.debug("{name}: {var} = %s", {var})'

    def ret(self, count):
        return ["    return len(result)" if count else "    return total"]

    def close(self):
        return []


class Go(Language):
    ext = "go"
    indent = "\t"

    def fn_name(self, verb, noun):
        return camel(f"{verb}_{noun}", upper=True)

    def helper(self, name):
        return camel(name)

    def header(self, module):
        return [f"// Package {module} is the {module} stage of the service.", f"package {module}", "",
                "import (", '\t"fmt"', '\t"log"', '\t"math"', '\t"sort"', ")"]

    def types(self):
        return ["", "// Entry is one weighted entry of the input.", "type Entry struct {", "\tKey    string",
                "\tWeight int", "}"]

    def imports(self):
        # Added at the end of the import block, so they sort after the base's.
        return ['\t"strconv"', '\t"strings"', '\t"sync"', '\t"time"', '\t"unicode"', '\t"unicode/utf8"']

    def signature(self, name):
        return [f"// {name} returns the weight of the entries under limit.",
                f"func {name}(items []Entry, limit int) int {{"]

    def init(self):
        return ["\ttotal := 0", "\tresult := make([]string, 0, len(items))"]

    def decl(self, var):
        return f"{var} := "

    def loop(self, bound, k):
        return ["\tfor _, item := range items {", f"\t\tif item.Weight > {bound} {{", "\t\t\tcontinue", "\t\t}",
                f"\t\ttotal += item.Weight * {k}", "\t\tresult = append(result, item.Key)", "\t}"]

    def guard(self, name, k):
        return [f"\tif total > {k} {{", f'\t\tlog.Printf("{name}: total %d over budget", total)',
                "\t\treturn total", "\t}"]

    def emit(self, name, var):
        return f'\temitMetric("{name}.{var}", {var})'

    def log(self, name, var):
        return f'\tlog.Printf("{name}: {var} = %v", {var})'

    def sort(self):
        return "\tsort.Strings(result)"

    def ret(self, count):
        return ["\treturn len(result)" if count else "\treturn total"]


LANGUAGES = [Rust(), TypeScript(), Python(), Go()]
DIRECTORIES = {"rs": "crates/engine/src", "ts": "web/src", "py": "tools", "go": "pkg"}


class SourceFile:
    """One file: its base version, and the two branches' versions with their planned hunks."""

    def __init__(self, index, lang, module, profile):
        self.lang, self.profile = lang, profile
        if lang.ext == "go":
            self.path = f"{DIRECTORIES['go']}/{module}/{module}.go"
        else:
            self.path = f"{DIRECTORIES[lang.ext]}/{module}.{lang.ext}"
        rng = random.Random(SEED * 1000 + index)
        used = set()

        def new_name(r):
            while True:
                name = lang.fn_name(r.choice(VERBS), r.choice(NOUNS))
                if name not in used:
                    used.add(name)
                    return name

        self.header = lang.header(module)
        self.types = lang.types()
        self.functions = []
        size = len(self.header) + len(self.types)
        while size < LINES_PER_FILE - 12:
            fn = lang.function(rng, new_name(rng))
            self.functions.append(fn)
            size += len(lang.separator) + len(fn)

        # Where each branch edits: function indices at least two apart, none at the edges.
        sites = list(range(1, len(self.functions) - 1))
        rng.shuffle(sites)
        chosen = []
        for site in sites:
            if all(abs(site - c) >= 2 for c in chosen):
                chosen.append(site)
        hunks = {"concurrent": ["concurrent"] * rng.randint(2, 3),
                 "structural": ["structural"] * rng.randint(2, 3),
                 "trivial": ["import"] + ["format"] * rng.randint(1, 2),
                 "mixed": ["import", "concurrent", "structural"]}[profile]
        self.hunks = hunks
        function_hunks = [h for h in hunks if h != "import"]
        self.edits = []  # (kind, function index, line in it): both sides edit the same line
        for kind, site in zip(function_hunks, chosen):
            editables = [i for i, line in enumerate(self.functions[site]) if isinstance(line, Editable)]
            self.edits.append((kind, site, editables[0] if kind == "format" else rng.choice(editables)))
        self.clean = chosen[len(self.edits):len(self.edits) + 2]  # one clean edit per side
        assert len(self.clean) == 2, f"{self.path}: too few functions to place the edits"

        extra = lang.imports()
        ours_import, theirs_import = rng.sample(extra, 2)
        self.versions = {"base": self.render({}, None, None)}
        for n, side in enumerate(("ours", "theirs"), start=1):
            side_rng = random.Random(SEED * 1000 + index + n * 10 ** 6)
            changes = {}
            inserts = {}
            for kind, site, line in self.edits:
                fn = self.functions[site]
                if kind == "concurrent":
                    step = 6 if side == "ours" else 10
                    changes[(site, line)] = fn[line].render(k=fn[line].k + step)
                elif kind == "format":
                    changes[(site, line)] = fn[line].render(style="tight" if side == "ours" else "wrapped")
                else:  # structural: a new function after this one
                    inserts[site] = lang.function(side_rng, new_name(side_rng))
            clean_site = self.clean[0 if side == "ours" else 1]
            fn = self.functions[clean_site]
            line = next(i for i, l in enumerate(fn) if isinstance(l, Editable))
            changes[(clean_site, line)] = fn[line].render(k=fn[line].k + 1)
            imported = (ours_import if side == "ours" else theirs_import) if "import" in hunks else None
            self.versions[side] = self.render(changes, inserts, imported)

    def render(self, changes, inserts, imported):
        lines = list(self.header)
        if imported:
            at = len(lines) - (1 if self.lang.ext == "go" else 0)  # Go: before the `)`
            lines.insert(at, imported)
        lines += self.types
        for i, fn in enumerate(self.functions):
            lines += self.lang.separator
            for j, line in enumerate(fn):
                if (i, j) in changes:
                    lines.append(changes[(i, j)])
                else:
                    lines.append(line.render() if isinstance(line, Editable) else line)
            if inserts and i in inserts:
                lines += self.lang.separator
                lines += [l.render() if isinstance(l, Editable) else l for l in inserts[i]]
        return "\n".join(lines) + "\n"


def generate():
    """The 50 files: languages in turn, and profiles rotated so each language gets each."""
    modules = {lang.ext: random.Random(SEED + n).sample(NOUNS, FILES // len(LANGUAGES) + 1)
               for n, lang in enumerate(LANGUAGES)}
    files = []
    for i in range(FILES):
        lang = LANGUAGES[i % len(LANGUAGES)]
        module = modules[lang.ext][i // len(LANGUAGES)]
        profile = PROFILES[(i + i // len(LANGUAGES)) % len(PROFILES)]
        files.append(SourceFile(i, lang, module, profile))
    return files


# --- the repository ------------------------------------------------------------------------


def git_env(root):
    env = dict(os.environ, HOME=root, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C",
               GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                 "PARALLEL_CC_SESSION_ID"):
        env.pop(name, None)
    return env


def git(repo, env, *args, date=None):
    if date is not None:
        env = dict(env, GIT_AUTHOR_DATE=f"{date} +0000", GIT_COMMITTER_DATE=f"{date} +0000")
    result = subprocess.run(["git", "-C", repo, *args], env=env, capture_output=True)
    if result.returncode != 0:
        sys.exit(f"setup failed: git {' '.join(args)}: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode()


def write_version(repo, files, version):
    for f in files:
        path = os.path.join(repo, f.path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", newline="\n") as out:
            out.write(f.versions[version])


def build_repo(root, env, files):
    repo = os.path.join(root, "repo")
    os.makedirs(repo)
    git(repo, env, "init", "-q", "-b", "main")
    write_version(repo, files, "base")
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", "Engine, web client, tools and services", date=BASE_EPOCH)
    for n, side in enumerate(("ours", "theirs"), start=1):
        git(repo, env, "checkout", "-q", "-b", side, "main")
        write_version(repo, files, side)
        git(repo, env, "commit", "-q", "-am", f"Rework limits and helpers ({side})", date=BASE_EPOCH + 3600 * n)
    git(repo, env, "checkout", "-q", "main")
    return repo


def check_hunks(root, env, files):
    """Each file's three-way merge must give exactly the planned conflict hunks.

    With --diff3 git does not split a hunk where the two sides happen to share lines (as
    two new functions do), so each conflict is one region of the base both sides change.
    """
    scratch = os.path.join(root, "merge-file")
    os.makedirs(scratch)
    for f in files:
        names = []
        for version in ("ours", "base", "theirs"):
            name = os.path.join(scratch, version)
            with open(name, "w") as out:
                out.write(f.versions[version])
            names.append(name)
        result = subprocess.run(["git", "merge-file", "-p", "--diff3", *names],
                                env=env, capture_output=True)
        if result.returncode != len(f.hunks):
            sys.exit(f"setup failed: {f.path}: git merge-file found {result.returncode} conflicts, "
                     f"planned {len(f.hunks)} ({', '.join(f.hunks)})")


def check_merge_tree(repo, env, files):
    """`git merge-tree --write-tree ours theirs` must report a content conflict in every file."""
    result = subprocess.run(["git", "merge-tree", "--write-tree", "ours", "theirs"], cwd=repo, env=env,
                            capture_output=True, text=True)
    if result.returncode != 1:
        sys.exit(f"setup failed: git merge-tree exited {result.returncode}, expected 1 (conflicts); "
                 f"git 2.38 or later is needed: {result.stderr}")
    lines = result.stdout.splitlines()
    staged = set()
    for line in lines[1:]:
        if not line:
            break
        staged.add(line.split("\t", 1)[1])
    content = {m.group(1) for m in map(re.compile(r"CONFLICT \(content\): Merge conflict in (.+)").match, lines)
               if m}
    expected = {f.path for f in files}
    if staged != expected or content != expected:
        sys.exit(f"setup failed: git merge-tree reports {len(content)} content conflicts in "
                 f"{len(staged)} conflicted files, expected all {len(expected)}; "
                 f"missing: {sorted(expected - content)}")
    return len(content)


# --- timing --------------------------------------------------------------------------------


def timed(cmd, env, cwd, ok=(0,)):
    """Runs one command, failing loudly on an unexpected exit code; returns seconds taken."""
    start = time.perf_counter()
    result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if result.returncode not in ok:
        sys.exit(f"benchmark command failed (exit {result.returncode}): {' '.join(cmd)}\n"
                 f"{result.stderr.decode(errors='replace')}")
    return elapsed


def alternate(ours, floor, runs, warmup=3):
    for _ in range(warmup):
        ours()
        floor()
    a, b = [], []
    for _ in range(runs):
        a.append(ours())
        b.append(floor())
    return statistics.median(a), statistics.median(b)


def check_ours(cmd, repo, env, files):
    """git-pcc's JSON must list the 50 files; returns the count of files per conflictType."""
    result = subprocess.run(cmd, cwd=repo, env=env, capture_output=True)
    if result.returncode != 0:
        sys.exit(f"setup failed: {' '.join(cmd)} exited {result.returncode}:\n"
                 f"{result.stderr.decode(errors='replace')}")
    try:
        conflicts = json.loads(result.stdout)["conflicts"]
        paths = [entry["filePath"] for entry in conflicts]
        kinds = collections.Counter(entry["conflictType"] for entry in conflicts)
    except (ValueError, KeyError, TypeError) as error:
        sys.exit(f"setup failed: unexpected JSON from {' '.join(cmd)} ({error!r}):\n"
                 f"{result.stdout.decode(errors='replace')[:2000]}")
    paths = {os.path.relpath(p, repo) if os.path.isabs(p) else p for p in paths}
    expected = {f.path for f in files}
    if len(conflicts) != len(expected) or paths != expected:
        sys.exit(f"setup failed: git-pcc lists {len(conflicts)} conflicts in {len(paths)} files, "
                 f"expected {len(expected)}; missing: {sorted(expected - paths)}, "
                 f"unexpected: {sorted(paths - expected)}")
    return dict(sorted(kinds.items()))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_bin = os.path.join(os.path.dirname(__file__), "..", "..", "target", "release")
    parser.add_argument("--bin-dir", default=default_bin, help="directory of the built git-pcc")
    parser.add_argument("--runs", type=int, default=40, help="timed runs of each side")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository and print its path")
    args = parser.parse_args()
    exe = os.path.join(os.path.abspath(args.bin_dir), "git-pcc")
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        sys.exit(f"no executable {exe}: build it with `cargo build --release`, or pass --bin-dir")

    root = tempfile.mkdtemp(prefix="pcc-bench-conflicts-")
    if args.keep:
        print(f"repository and data dir kept in {root}", file=sys.stderr)
    try:
        env = git_env(root)
        files = generate()
        repo = build_repo(root, env, files)
        check_hunks(root, env, files)
        merge_tree_files = check_merge_tree(repo, env, files)

        data = os.path.join(root, "data")
        os.makedirs(data)
        ours_env = dict(env, PARALLEL_CC_DATA_DIR=data)
        ours = [exe, "conflicts", "--detect", "--current-branch", "ours", "--target-branch", "theirs", "--json"]
        floor = ["git", "merge-tree", "--write-tree", "ours", "theirs"]
        by_type = check_ours(ours, repo, ours_env, files)

        ours_s, floor_s = alternate(lambda: timed(ours, ours_env, repo),
                                    lambda: timed(floor, env, repo, ok=(1,)), max(5, args.runs))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    lines = sum(f.versions["base"].count("\n") for f in files)
    planted = collections.Counter(h for f in files for h in f.hunks)
    planted["trivial"] = planted.pop("import", 0) + planted.pop("format", 0)
    profiles = collections.Counter(f.profile for f in files)
    ratio = ours_s / floor_s
    result = {"name": "conflicts",
              "title": f"conflicts --detect, {FILES} files in conflict vs git merge-tree --write-tree",
              "files": FILES, "lines": lines, "profiles": dict(profiles),
              "plantedHunks": dict(sorted(planted.items())),
              "mergeTreeConflicts": merge_tree_files, "conflictTypes": by_type,
              "oursMs": round(ours_s * 1000, 3), "floorMs": round(floor_s * 1000, 3), "ratio": round(ratio, 3),
              "target": TARGET, "pass": ratio <= TARGET}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        languages = collections.Counter(f.lang.ext for f in files)
        print(f"repository: {FILES} files ({', '.join(f'{n} .{e}' for e, n in languages.items())}), "
              f"{lines:,} lines")
        print("files per profile: " + ", ".join(f"{kind} {n}" for kind, n in profiles.items())
              + "; conflict hunks planted: " + ", ".join(f"{kind} {n}" for kind, n in sorted(planted.items())))
        print(f"git merge-tree: content conflicts in {merge_tree_files} files")
        print("git-pcc conflictType: " + ", ".join(f"{kind} {n}" for kind, n in by_type.items()))
        print(f"{'benchmark':<10} {'ours ms':>9} {'floor ms':>9} {'ratio':>7} {'target':>7}  result")
        verdict = "PASS" if result["pass"] else "FAIL"
        print(f"{result['name']:<10} {result['oursMs']:>9.2f} {result['floorMs']:>9.2f} {ratio:>7.3f} "
              f"{'<= ' + str(TARGET):>7}  {verdict}  ({result['title']})")


if __name__ == "__main__":
    main()
