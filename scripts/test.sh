#!/usr/bin/env bash
# Runs every check and test of parallel-cc: formatting, lints, and the unit
# and integration tests (which build temporary repositories and run the real
# binaries and git).
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need git; then
  echo "test.sh: git is required" >&2
  exit 1
fi

# man renders the generated pages in tests/man_pages.rs.
if ! need man && need apt-get; then
  apt-get update -qq && apt-get install -y -qq man-db >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace --all-targets
