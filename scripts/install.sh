#!/usr/bin/env bash
# Builds parallel-cc in release mode and installs it under a prefix
# (default ~/.local): the executables and the claude-parallel wrapper in
# <prefix>/bin, man pages in <prefix>/share/man/man1, shell completions
# under <prefix>/share. With --all it also wires parallel-cc into Claude Code
# and the shell (`git pcc install --all`: hooks, MCP server, alias). Then
# checks the installation with `git pcc doctor` and shows `git pcc status`.
#
#   scripts/install.sh [--prefix DIR] [--all]
set -euo pipefail

prefix="${PREFIX:-$HOME/.local}"
wire_up=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --all) wire_up=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
cargo build --release --locked --quiet

bin_dir="$prefix/bin"
man_dir="$prefix/share/man/man1"
mkdir -p "$bin_dir" "$man_dir"
for binary in git-pcc git-pcc-register git-pcc-release git-pcc-watch git-pcc-sandbox pcc-mcp; do
  install -m 755 "target/release/$binary" "$bin_dir/$binary"
done
install -m 755 scripts/claude-parallel "$bin_dir/claude-parallel"
install -m 644 man/*.1 "$man_dir/"
share="$prefix/share"
mkdir -p "$share/bash-completion/completions" "$share/zsh/site-functions" "$share/fish/vendor_completions.d"
for binary in git-pcc git-pcc-register git-pcc-release git-pcc-watch git-pcc-sandbox pcc-mcp; do
  "$bin_dir/git-pcc" completions bash --command "$binary" > "$share/bash-completion/completions/$binary"
  "$bin_dir/git-pcc" completions zsh --command "$binary" > "$share/zsh/site-functions/_$binary"
  "$bin_dir/git-pcc" completions fish --command "$binary" > "$share/fish/vendor_completions.d/$binary.fish"
done
echo "installed parallel-cc into $bin_dir (man pages in $man_dir)"

case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "note: $bin_dir is not on PATH; add it, e.g. export PATH=\"$bin_dir:\$PATH\""
     export PATH="$bin_dir:$PATH" ;;
esac

if [ "$wire_up" = 1 ]; then
  git pcc install --all
fi
git pcc doctor
git pcc status
