#!/usr/bin/env bash
# Removes what scripts/install.sh installed under a prefix (default
# ~/.local), and what it wired into Claude Code and the shell: our entries
# in ~/.claude/settings.json, ~/.claude.json and the shell rc file (a file
# install created is removed when nothing else is in it, and so are the
# backups it made and the directories it made, once empty). The data
# directory (sessions, config, logs) is kept, and named.
#
#   scripts/uninstall.sh [--prefix DIR]
set -euo pipefail

prefix="${PREFIX:-$HOME/.local}"
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

bin_dir="$prefix/bin"
share="$prefix/share"
if [ -x "$bin_dir/git-pcc" ]; then
  "$bin_dir/git-pcc" install --uninstall
fi
for binary in git-pcc git-pcc-register git-pcc-release git-pcc-watch git-pcc-sandbox pcc-mcp claude-parallel; do
  rm -f "$bin_dir/$binary" \
    "$share/bash-completion/completions/$binary" \
    "$share/zsh/site-functions/_$binary" \
    "$share/fish/vendor_completions.d/$binary.fish"
done
rm -f "$share/fish/vendor_conf.d/git-pcc.fish"
rm -f "$share"/man/man1/git-pcc.1 "$share"/man/man1/git-pcc-*.1 "$share"/man/man1/pcc-mcp.1

# The directories install.sh made, deepest first, where nothing else lives.
record="$share/parallel-cc/made-dirs"
if [ -f "$record" ]; then
  made=$(sort -u "$record" | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)
  rm -f "$record"
  while IFS= read -r dir; do
    [ -n "$dir" ] && rmdir "$dir" 2>/dev/null || true
  done <<< "$made"
fi

data_dir="${PARALLEL_CC_DATA_DIR:-$HOME/.parallel-cc}"
if [ -e "$data_dir" ]; then
  echo "removed parallel-cc from $prefix; your data is kept in $data_dir (delete it yourself if you no longer want it)"
else
  echo "removed parallel-cc from $prefix"
fi
