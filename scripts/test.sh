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

# man renders the generated pages in tests/man_pages.rs; bwrap confines
# local sandbox runs, which the sandbox tests exercise.
missing=()
need man || missing+=(man-db)
need bwrap || missing+=(bubblewrap)
if [ ${#missing[@]} -gt 0 ] && need apt-get; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The end-to-end tests run the real Claude Code CLI (offline, against a
# scripted model server); install the pinned version once per checkout.
claude_code_version=2.1.197
if [ -z "${PCC_CLAUDE:-}" ] && [ ! -x target/claude-code/node_modules/.bin/claude ]; then
  if ! need npm && need apt-get; then
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  fi
  npm install --prefix target/claude-code --no-audit --no-fund --loglevel=error \
    "@anthropic-ai/claude-code@$claude_code_version"
fi
need python3 || { echo "test.sh: python3 is required (scripted model server, MCP client)" >&2; exit 1; }
# The MCP tests drive pcc-mcp with the official MCP Python SDK.
mcp_version=2.3.0
if ! python3 -c "import mcp" 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check "mcp==$mcp_version"
fi

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace --all-targets
