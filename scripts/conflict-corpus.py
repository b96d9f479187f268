#!/usr/bin/env python3
"""Builds the history corpus: real conflicts from the public history of a
few projects, with the resolution their developers committed.

For each repository in REPOSITORIES (pinned at a commit), it lists the merge
commits reachable from that commit, sorted by id and shuffled with a fixed
seed, and merges each one's two parents again with
`git merge-tree --write-tree`. Every file git reports as a content or add/add
conflict in a language parallel-cc parses (.rs .ts .tsx .js .jsx .mjs .cjs
.py .go) becomes a case with four versions:

  base    stage 1 of git's merge (the merge base's file; empty for add/add)
  ours    stage 2 (first parent)
  theirs  stage 3 (second parent)
  human   the file in the merge commit: what people committed

plus git's own conflicted file (`git.<ext>`, with markers) and, per merge,
every file each side changed in those languages (base and side text, in
<repository>/merges/<merge>.json), so
fixes can be checked against what the other side renamed or removed in other
files. Selection is deterministic: at most MAX_PER_MERGE files per merge,
MAX_PER_REPO cases per repository, no version over MAX_FILE_BYTES.

The extracted files are written under --out (default target/history-corpus),
not into the repository; the manifest (repositories, commits, paths and blob
ids of every case) is written to --manifest, which is checked in, so the
same corpus can be rebuilt and verified (--check) from clones of the listed
repositories at the listed commits. No network is used: --mirror points at
local clones (bare or not).

Usage: conflict-corpus.py --mirror OWNER/NAME=PATH ... [--out DIR]
                          [--manifest FILE] [--check]
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys

# (repository, licence, pinned commit, licence file at that commit, language)
REPOSITORIES = [
    ("tokio-rs/axum", "MIT", "3d78036dcac289d6c1d54934708acb6a5bd73686", "LICENSE", "rust"),
    ("pallets/click", "BSD-3-Clause", "2c8cd3ac958a7eb316d67f2d316c27086c4c0369", "LICENSE.txt",
     "python"),
    ("urfave/cli", "MIT", "1305a08200f7c4d873e28bd2bbad1ff257c6cfc4", "LICENSE", "go"),
    ("go-chi/chi", "MIT", "735ae2b87f8c733d616e809ae86e0985c1bc3350", "LICENSE", "go"),
    ("clap-rs/clap", "MIT", "6982fb1c98c7247e38a6d4f04191b94e30497e7b", "LICENSE-MIT", "rust"),
    ("axios/axios", "MIT", "23a25af0688d1db2c396deb09229d2271cc24f6c", "LICENSE", "javascript"),
]
EXTENSIONS = (".rs", ".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs", ".py", ".pyi",
              ".go")
SEED = 20260421
MAX_PER_REPO = 60
MAX_PER_MERGE = 3
MAX_FILE_BYTES = 60_000
MAX_CHANGED_FILES = 400
KINDS = {"CONFLICT (contents)": "content", "CONFLICT (add/add)": "add/add"}


def git(repo, *args, check=True, binary=False):
    result = subprocess.run(["git", "-C", repo, *args], capture_output=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed in {repo}: "
                         f"{result.stderr.decode(errors='replace').strip()}")
    return result if binary else result.stdout.decode()


def blob(repo, oid):
    return git(repo, "cat-file", "blob", oid, binary=True).stdout


def text_of(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def merge_tree(repo, ours, theirs):
    """git's merge of two commits: result tree, conflicted stages per path,
    and the kind of each conflict."""
    result = git(repo, "merge-tree", "--write-tree", "-z", ours, theirs, check=False, binary=True)
    if result.returncode not in (0, 1):
        return None
    parts = result.stdout.split(b"\0")
    tree = parts[0].decode()
    stages, at = {}, 1
    while at < len(parts) and parts[at]:
        info, path = parts[at].decode(errors="replace").split("\t", 1)
        _mode, oid, stage = info.split(" ")
        stages.setdefault(path, {})[int(stage)] = oid
        at += 1
    at += 1
    kinds = {}
    while at < len(parts) and parts[at]:
        count = int(parts[at])
        paths = [p.decode(errors="replace") for p in parts[at + 1:at + 1 + count]]
        kind = parts[at + 1 + count].decode()
        at += count + 3
        if kind.startswith("CONFLICT"):
            for path in paths:
                kinds.setdefault(path, kind)
    return tree, stages, kinds


def tree_blob(repo, commit, path):
    out = git(repo, "ls-tree", "-z", commit, "--", path, binary=True).stdout
    if not out:
        return None
    info = out.split(b"\0")[0].decode(errors="replace")
    meta, _ = info.split("\t", 1)
    mode, kind, oid = meta.split(" ")
    return oid if kind == "blob" else None


def side_changes(repo, base, side):
    """Files in parsed languages that `side` changes against `base`."""
    out = git(repo, "diff-tree", "-r", "-z", "--no-renames", base, side, binary=True).stdout
    fields = out.split(b"\0")
    changes, at = [], 0
    while at + 1 < len(fields) and fields[at]:
        meta = fields[at].decode().lstrip(":").split(" ")
        path = fields[at + 1].decode(errors="replace")
        at += 2
        if path.endswith(EXTENSIONS) and meta[0] != "160000" and meta[1] != "160000":
            changes.append((path, meta[2], meta[3]))
    return changes


def changes_of(repo, base, side):
    files = []
    for path, old, new in side_changes(repo, base, side)[:MAX_CHANGED_FILES]:
        zero = "0" * 40
        old_text = "" if old == zero else text_of(blob(repo, old))
        new_text = "" if new == zero else text_of(blob(repo, new))
        if old_text is None or new_text is None:
            continue
        if len(old_text) > 4 * MAX_FILE_BYTES or len(new_text) > 4 * MAX_FILE_BYTES:
            continue
        files.append({"path": path, "base": old_text, "side": new_text,
                      "deleted": new == zero, "added": old == zero})
    return files


def cases_of(name, repo, head, rng):
    merges = sorted(git(repo, "rev-list", "--merges", head).split())
    rng.shuffle(merges)
    cases = []
    for merge in merges:
        if len(cases) >= MAX_PER_REPO:
            break
        parents = git(repo, "rev-list", "--parents", "-n", "1", merge).split()[1:]
        if len(parents) != 2:
            continue
        merged = merge_tree(repo, *parents)
        if merged is None:
            continue
        tree, stages, kinds = merged
        chosen = []
        for path in sorted(stages):
            kind = KINDS.get(kinds.get(path, ""))
            by_stage = stages[path]
            if kind is None or not path.endswith(EXTENSIONS) or 2 not in by_stage \
                    or 3 not in by_stage:
                continue
            human = tree_blob(repo, merge, path)
            if human is None:
                continue
            oids = {"base": by_stage.get(1), "ours": by_stage[2], "theirs": by_stage[3],
                    "human": human, "git": tree_blob(repo, tree, path)}
            texts = {k: ("" if v is None else text_of(blob(repo, v))) for k, v in oids.items()}
            if any(t is None or len(t.encode()) > MAX_FILE_BYTES for t in texts.values()):
                continue
            chosen.append((path, kind, oids, texts))
            if len(chosen) == MAX_PER_MERGE:
                break
        if not chosen:
            continue
        bases = git(repo, "merge-base", "--all", *parents).split()
        conflicts = {p: KINDS.get(kinds.get(p, ""), kinds.get(p, "")) for p in sorted(stages)}
        for path, kind, oids, texts in chosen[:MAX_PER_REPO - len(cases)]:
            cases.append({"repository": name, "merge": merge, "parents": parents,
                          "mergeBases": bases, "path": path, "gitKind": kind,
                          "gitHunks": sum(1 for line in texts["git"].splitlines()
                                          if line.startswith("<<<<<<<")),
                          "gitConflicts": conflicts, "blobs": oids, "texts": texts})
    return cases


def write_corpus(out, mirrors):
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    manifest = {"seed": SEED, "maxPerRepository": MAX_PER_REPO, "maxPerMerge": MAX_PER_MERGE,
                "maxFileBytes": MAX_FILE_BYTES, "repositories": [], "cases": []}
    for name, licence, head, licence_file, language in REPOSITORIES:
        repo = mirrors.get(name)
        if repo is None:
            raise SystemExit(f"no --mirror for {name}; hint: --mirror {name}=PATH-TO-CLONE")
        if git(repo, "cat-file", "-t", head, check=False).strip() != "commit":
            raise SystemExit(f"{name}: commit {head} is not in {repo}; hint: update the clone")
        slug = name.replace("/", "+")
        os.makedirs(os.path.join(out, slug))
        with open(os.path.join(out, slug, "LICENSE"), "wb") as f:
            f.write(blob(repo, tree_blob(repo, head, licence_file)))
        rng = random.Random(f"{SEED}:{name}")
        cases = cases_of(name, repo, head, rng)
        manifest["repositories"].append({"name": name, "licence": licence, "commit": head,
                                         "language": language, "cases": len(cases)})
        changes_cache = {}
        for number, case in enumerate(cases, 1):
            directory = os.path.join(out, slug, f"{number:03}")
            os.makedirs(directory)
            extension = os.path.splitext(case["path"])[1]
            for version, text in case.pop("texts").items():
                with open(os.path.join(directory, version + extension), "w", newline="") as f:
                    f.write(text)
            key = case["merge"]
            case["changes"] = f"merges/{key}.json"
            if key not in changes_cache:
                base = case["mergeBases"][0] if case["mergeBases"] else None
                changes_cache[key] = True
                os.makedirs(os.path.join(out, slug, "merges"), exist_ok=True)
                with open(os.path.join(out, slug, case["changes"]), "w") as f:
                    json.dump({side: (changes_of(repo, base, parent) if base else [])
                               for side, parent in zip(("ours", "theirs"), case["parents"])}, f)
            case["id"] = f"{slug}/{number:03}"
            with open(os.path.join(directory, "case.json"), "w") as f:
                json.dump(case, f, indent=1, sort_keys=True)
            manifest["cases"].append({k: case[k] for k in
                                      ("id", "repository", "merge", "parents", "path", "gitKind",
                                       "gitHunks", "blobs")})
        print(f"{name}: {len(cases)} cases", file=sys.stderr)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return manifest


def digest(manifest):
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirror", action="append", default=[],
                        help="OWNER/NAME=PATH of a local clone (repeat per repository)")
    parser.add_argument("--out", default="target/history-corpus")
    parser.add_argument("--manifest", default="tests/history_corpus/manifest.json")
    parser.add_argument("--check", action="store_true",
                        help="rebuild and fail unless the result matches the checked-in manifest")
    args = parser.parse_args()
    mirrors = {}
    for item in args.mirror:
        name, sep, path = item.partition("=")
        if not sep or not os.path.isdir(path):
            raise SystemExit(f"--mirror {item}: expected OWNER/NAME=PATH of an existing clone")
        mirrors[name] = path
    manifest = write_corpus(args.out, mirrors)
    if args.check:
        with open(args.manifest) as f:
            expected = json.load(f)
        if digest(expected) != digest(manifest):
            raise SystemExit(f"the rebuilt corpus differs from {args.manifest}")
        print(f"{len(manifest['cases'])} cases, as in {args.manifest}")
        return
    os.makedirs(os.path.dirname(args.manifest), exist_ok=True)
    with open(args.manifest, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(manifest['cases'])} cases in {args.out}; manifest {args.manifest}")


if __name__ == "__main__":
    main()
