#!/usr/bin/env bash
# Builds parallel-cc in release mode and installs it under a prefix
# (default ~/.local): the executables and the claude-parallel wrapper in
# <prefix>/bin, man pages in <prefix>/share/man/man1, shell completions
# under <prefix>/share. With --all it also wires parallel-cc into Claude Code
# and the shell (`git pcc install --all`: hooks, MCP server, and in the
# shell's rc file the `claude` alias and the bin directory on PATH). Then
# checks the installation as a new shell will see it, with `git pcc doctor`
# and `git pcc status`. --from DIR installs executables already built in DIR
# instead of building them.
#
#   scripts/install.sh [--prefix DIR] [--all] [--from DIR]
set -euo pipefail

prefix="${PREFIX:-$HOME/.local}"
wire_up=0
from=''
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --from) from="$2"; shift 2 ;;
    --from=*) from="${1#--from=}"; shift ;;
    --all) wire_up=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
if [ -z "$from" ]; then
  echo "install.sh: building parallel-cc in release mode (cargo build --release --locked)"
  cargo build --release --locked
  from=target/release
fi

bin_dir="$prefix/bin"
share="$prefix/share"
man_dir="$share/man/man1"
record_dir="$share/parallel-cc"
dirs=("$bin_dir" "$man_dir" "$share/bash-completion/completions" "$share/zsh/site-functions"
      "$share/fish/vendor_completions.d" "$share/fish/vendor_conf.d" "$record_dir")
# The directories this makes (and the ones above them it has to make), so
# that uninstall.sh can take them away again once they are empty.
made=()
for dir in "${dirs[@]}"; do
  while [ ! -e "$dir" ]; do
    made+=("$dir")
    dir=$(dirname "$dir")
  done
done
mkdir -p "${dirs[@]}"
if [ ${#made[@]} -gt 0 ]; then
  printf '%s\n' "${made[@]}" >> "$record_dir/made-dirs"
fi

for binary in git-pcc git-pcc-register git-pcc-release git-pcc-watch git-pcc-sandbox pcc-mcp; do
  install -m 755 "$from/$binary" "$bin_dir/$binary"
done
install -m 755 scripts/claude-parallel "$bin_dir/claude-parallel"
install -m 644 man/*.1 "$man_dir/"
for binary in git-pcc git-pcc-register git-pcc-release git-pcc-watch git-pcc-sandbox pcc-mcp; do
  "$bin_dir/git-pcc" completions bash --command "$binary" > "$share/bash-completion/completions/$binary"
  "$bin_dir/git-pcc" completions zsh --command "$binary" > "$share/zsh/site-functions/_$binary"
  "$bin_dir/git-pcc" completions fish --command "$binary" > "$share/fish/vendor_completions.d/$binary.fish"
done
# Fish's git completion does not reach git-* commands by itself.
"$bin_dir/git-pcc" completions fish --command git > "$share/fish/vendor_conf.d/git-pcc.fish"
echo "installed parallel-cc into $bin_dir (man pages in $man_dir)"

if [ "$wire_up" = 1 ]; then
  "$bin_dir/git-pcc" install --all
fi

# Check what a new shell will see, not this script's environment: the
# user's shell, started from an empty environment with a login's PATH,
# reading the user's rc file.
shell_name=$(basename "${SHELL:-bash}")
case "$shell_name" in
  bash|zsh|fish) ;;
  *) shell_name=bash ;;
esac
shell_path=$(command -v "$shell_name" || command -v bash)
login_path=$(env -i HOME="$HOME" sh -lc 'printf %s "$PATH"' 2>/dev/null || true)
login_path=${login_path:-/usr/local/bin:/usr/bin:/bin}
case "$shell_name" in
  fish) show_path='printf "<pcc-path>%s</pcc-path>" (string join : $PATH)' ;;
  *) show_path='printf "<pcc-path>%s</pcc-path>" "$PATH"' ;;
esac
interactive=-i
[ "$shell_name" = fish ] && interactive=''
new_shell_output=$(env -i HOME="$HOME" USER="${USER:-}" TERM="${TERM:-dumb}" SHELL="$shell_path" \
  PATH="$login_path" "$shell_path" $interactive -c "$show_path" 2>/dev/null </dev/null || true)
new_path=$(printf '%s' "$new_shell_output" | sed -n 's|.*<pcc-path>\(.*\)</pcc-path>.*|\1|p')
new_path=${new_path:-$login_path}

if ! PATH="$new_path" command -v git-pcc >/dev/null 2>&1; then
  echo "install.sh: a new $shell_name does not find parallel-cc: $bin_dir is not on its PATH" >&2
  echo "install.sh: run scripts/install.sh --all (or '$bin_dir/git-pcc install --alias'), which adds it in your shell's rc file, or add it there yourself" >&2
  exit 1
fi
echo "install.sh: as a new $shell_name sees it:"
data_dir=()
if [ -n "${PARALLEL_CC_DATA_DIR:-}" ]; then
  data_dir=(PARALLEL_CC_DATA_DIR="$PARALLEL_CC_DATA_DIR")
fi
run_as_new_shell() {
  env -i HOME="$HOME" USER="${USER:-}" TERM="${TERM:-dumb}" SHELL="$shell_path" PATH="$new_path" \
    ${data_dir[@]+"${data_dir[@]}"} "$@"
}
run_as_new_shell git pcc doctor
run_as_new_shell git pcc status
