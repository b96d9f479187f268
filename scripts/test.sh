#!/usr/bin/env bash
# Runs every check and test of parallel-cc: formatting, lints, and the unit
# and integration tests (which build temporary repositories and run the real
# binaries and git).
#
# What the tests need is installed on first use, when it is missing:
# - Debian packages, with apt-get (as root): man-db (the man page tests),
#   bubblewrap (confines local sandbox runs), bash-completion, zsh and fish
#   (the completion tests run each shell's own completion), nodejs and npm
#   (for the Claude Code CLI), tmux (runs it interactively), python3-venv
#   (for the virtual environments);
# - the pinned Claude Code CLI, from the npm registry, under
#   target/claude-code (the end-to-end tests run it offline), and the
#   pinned Codex CLI, Gemini CLI and OpenCode under target/codex,
#   target/gemini-cli and target/opencode, and the pinned Aider, from PyPI,
#   in a virtual environment of its own under target/aider (PCC_CODEX,
#   PCC_GEMINI, PCC_OPENCODE, PCC_AIDER name another installation instead);
# - the MCP Python SDK and E2B's Python SDK, pinned, from PyPI, in a virtual
#   environment under target/python (the system's Python is left as it is).
#   The E2B stand-in is held to that SDK: bumping its pin is a deliberate
#   change, and a failing tests/e2b_sdk.rs then shows how E2B's protocol
#   moved.
# Their output is shown only when an installation fails.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need git; then
  echo "test.sh: git is required" >&2
  exit 1
fi

# Runs a command with its output kept aside, shown only if it fails.
quietly() {
  local log
  log=$(mktemp)
  if "$@" >"$log" 2>&1; then
    rm -f "$log"
  else
    local code=$?
    cat "$log" >&2
    rm -f "$log"
    return "$code"
  fi
}

apt_updated=0
apt_install() {
  if ! need apt-get || [ "$(id -u)" != 0 ]; then
    echo "test.sh: missing $* (install them; apt-get as root would)" >&2
    return 0
  fi
  echo "test.sh: installing $* with apt-get"
  if [ "$apt_updated" = 0 ]; then
    quietly apt-get update -qq
    apt_updated=1
  fi
  quietly env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

missing=()
need man || missing+=(man-db)
need bwrap || missing+=(bubblewrap)
[ -f /usr/share/bash-completion/bash_completion ] || missing+=(bash-completion)
need zsh || missing+=(zsh)
need fish || missing+=(fish)
need tmux || missing+=(tmux)
need python3 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
fi

# The end-to-end tests run the real Claude Code CLI (offline, against a
# scripted model server); install the pinned version once per checkout.
claude_code_version=2.1.332
installed_claude_code() {
  sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
    target/claude-code/node_modules/@anthropic-ai/claude-code/package.json 2>/dev/null | head -n 1
}
if [ -z "${PCC_CLAUDE:-}" ] && { [ ! -x target/claude-code/node_modules/.bin/claude ] ||
  [ "$(installed_claude_code)" != "$claude_code_version" ]; }; then
  if ! need npm; then
    apt_install nodejs npm
  fi
  echo "test.sh: installing Claude Code $claude_code_version from the npm registry into target/claude-code"
  quietly npm install --prefix target/claude-code --no-audit --no-fund --no-progress --loglevel=error \
    "@anthropic-ai/claude-code@$claude_code_version"
fi

# The other agents' CLIs, pinned, each into its own prefix under target/
# (tests/agents_e2e.rs runs them offline against the same model stand-in).
install_npm_agent() { # DIR PACKAGE VERSION NAME
  local installed
  installed=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
    "target/$1/node_modules/$2/package.json" 2>/dev/null | head -n 1) || true
  if [ "$installed" != "$3" ]; then
    need npm || apt_install nodejs npm
    echo "test.sh: installing $4 $3 from the npm registry into target/$1"
    quietly npm install --prefix "target/$1" --no-audit --no-fund --no-progress --loglevel=error "$2@$3"
  fi
}
[ -n "${PCC_CODEX:-}" ] || install_npm_agent codex @openai/codex 0.169.0 "the Codex CLI"
[ -n "${PCC_GEMINI:-}" ] || install_npm_agent gemini-cli @google/gemini-cli 0.61.0 "the Gemini CLI"
[ -n "${PCC_OPENCODE:-}" ] || install_npm_agent opencode opencode-ai 1.18.33 "OpenCode"

need python3 || { echo "test.sh: python3 is required (scripted model server, MCP client)" >&2; exit 1; }
# The MCP tests drive pcc-mcp with the official MCP Python SDK, and the E2B
# SDK test drives the E2B stand-in with E2B's official Python SDK, both
# installed into a virtual environment of this checkout.
mcp_version=2.3.0
e2b_version=2.63.0
# Aider (aider-chat: the newest release, which wants Python 3.10 to 3.12)
# gets a virtual environment of its own: its many pinned dependencies stay
# out of the one the MCP and E2B SDKs share.
aider_version=0.86.2
venv=target/python
pinned() { # VENV PACKAGE VERSION
  "$1/bin/python3" -c "import importlib.metadata as m, sys; sys.exit(m.version('$2') != '$3')" 2>/dev/null
}
ensure_venv() { # DIR
  "$1/bin/python3" -c "" 2>/dev/null && return 0
  rm -rf "$1"
  if ! python3 -m venv "$1" >/dev/null 2>&1; then
    rm -rf "$1"
    apt_install python3-venv
    quietly python3 -m venv "$1"
  fi
}
pip_install() { # VENV REQUIREMENT
  quietly "$1/bin/python3" -m pip install --quiet --disable-pip-version-check --no-input "$2"
}
ensure_venv "$venv"
if ! pinned "$venv" mcp "$mcp_version"; then
  echo "test.sh: installing the MCP Python SDK $mcp_version from PyPI into $venv"
  pip_install "$venv" "mcp==$mcp_version"
fi
if ! pinned "$venv" e2b "$e2b_version"; then
  echo "test.sh: installing the E2B Python SDK $e2b_version from PyPI into $venv"
  pip_install "$venv" "e2b==$e2b_version"
fi
if [ -z "${PCC_AIDER:-}" ] && ! pinned target/aider aider-chat "$aider_version"; then
  ensure_venv target/aider
  echo "test.sh: installing Aider $aider_version from PyPI into target/aider"
  pip_install target/aider "aider-chat==$aider_version"
fi
export PCC_PYTHON="$PWD/$venv/bin/python3"

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace --all-targets
