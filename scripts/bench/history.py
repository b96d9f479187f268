#!/usr/bin/env python3
"""Benchmark of conflict detection and fixes on real history.

It reads the history corpus that scripts/conflict-corpus.py builds (under
target/history-corpus, or --corpus DIR): conflicted source files from merge
commits of public projects, with git's merge of the two parents and what
people committed. It runs parallel-cc's detection and fixes on every case
(through `cargo test --release --test history_corpus`, which also asserts
that every auto-applicable fix equals the human resolution or is a reviewed
exception) and prints:

  detection  files git reports conflicted that parallel-cc finds conflicted,
             and files where both find the same number of conflict hunks
  classes    how many files parallel-cc puts in each class
  coverage   auto-applicable fixes / conflicted source files   (target >= 30%)
  agreement  of those, equal to the human resolution exactly or but for
             whitespace                                        (target >= 95%)
  differing  every auto-applicable fix that differs, with the review's reason

With --mirror OWNER/NAME=PATH (one per repository in the manifest) it first
rebuilds the corpus and checks it against tests/history_corpus/manifest.json.
A missed target does not fail the run; a failure to build or run does.

Usage: history.py [--corpus DIR] [--mirror OWNER/NAME=PATH ...] [--json]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COVERAGE_TARGET = 30.0
AGREEMENT_TARGET = 95.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=os.path.join(ROOT, "target", "history-corpus"))
    parser.add_argument("--mirror", action="append", default=[])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.mirror:
        command = [sys.executable, os.path.join(ROOT, "scripts", "conflict-corpus.py"),
                   "--out", args.corpus, "--check"]
        for mirror in args.mirror:
            command += ["--mirror", mirror]
        subprocess.run(command, check=True)
    if not os.path.isfile(os.path.join(args.corpus, "manifest.json")):
        sys.exit(f"history.py: no corpus in {args.corpus}; hint: pass --mirror OWNER/NAME=PATH "
                 "for each repository of tests/history_corpus/manifest.json")
    with tempfile.TemporaryDirectory() as scratch:
        report_path = os.path.join(scratch, "report.json")
        env = dict(os.environ, PCC_HISTORY_CORPUS=os.path.abspath(args.corpus),
                   PCC_HISTORY_REPORT=report_path)
        run = subprocess.run(["cargo", "test", "--release", "--quiet", "--test", "history_corpus",
                              "fixes_of_real_conflicts_agree_with_people"],
                             cwd=ROOT, env=env, capture_output=True, text=True)
        if not os.path.isfile(report_path):
            sys.stderr.write(run.stdout[-4000:] + run.stderr[-4000:])
            sys.exit("history.py: the evaluation did not run")
        with open(report_path) as f:
            report = json.load(f)
    report["regressionTest"] = "passed" if run.returncode == 0 else "failed"
    if args.json:
        print(json.dumps(report, indent=1))
        return
    detection, fixes = report["detection"], report["fixes"]
    print(f"cases        {report['cases']} conflicted source files")
    print(f"detection    files {detection['conflictedHere']}/{detection['gitConflictedFiles']} "
          f"({detection['filesAgreement']}%), same hunk count {detection['sameHunkCount']} "
          f"({detection['hunksAgreement']}%)")
    print("classes      " + ", ".join(f"{k} {v}" for k, v in report["classes"].items()))
    print(f"coverage     {fixes['autoApplicable']}/{report['cases']} ({fixes['coverage']}%), "
          f"target >= {COVERAGE_TARGET}%  "
          f"[{', '.join(f'{k} {v}' for k, v in fixes['strategies'].items())}]")
    print(f"agreement    exact {fixes['exact']}, whitespace {fixes['whitespaceOnly']}, "
          f"differs {fixes['differs']} ({fixes['humanAgreement']}%), "
          f"target >= {AGREEMENT_TARGET}%")
    print(f"refused      {fixes['refusedAcrossFiles']} fixes refused for a name the other "
          "side changes in the merge")
    for item in fixes["differing"]:
        print(f"differs      {item['id']} {item['path']} ({item['strategy']}): "
              f"{item['reviewed'] or 'NOT REVIEWED'}")
    print(f"regression   {report['regressionTest']}")


if __name__ == "__main__":
    main()
