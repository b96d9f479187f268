#!/usr/bin/env bash
# Removes what scripts/install.sh installed under a prefix (default
# ~/.local) and our entries in Claude Code's settings, ~/.claude.json and the
# shell rc file. The data directory (sessions, config, logs) is kept.
#
#   scripts/uninstall.sh [--prefix DIR]
set -euo pipefail

prefix="${PREFIX:-$HOME/.local}"
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

bin_dir="$prefix/bin"
if [ -x "$bin_dir/git-pcc" ]; then
  "$bin_dir/git-pcc" install --uninstall
fi
for binary in git-pcc git-pcc-register git-pcc-release git-pcc-watch git-pcc-sandbox pcc-mcp claude-parallel; do
  rm -f "$bin_dir/$binary" \
    "$prefix/share/bash-completion/completions/$binary" \
    "$prefix/share/zsh/site-functions/_$binary" \
    "$prefix/share/fish/vendor_completions.d/$binary.fish"
done
rm -f "$prefix"/share/man/man1/git-pcc.1 "$prefix"/share/man/man1/git-pcc-*.1 "$prefix"/share/man/man1/pcc-mcp.1
echo "removed parallel-cc from $prefix (data in ${PARALLEL_CC_DATA_DIR:-$HOME/.parallel-cc} kept)"
