#!/usr/bin/env bash
# Regenerates man/*.1 from the clap definitions of every executable.
set -euo pipefail
cd "$(dirname "$0")/.."
PCC_UPDATE_MAN=1 cargo test --quiet --test man_pages
ls man/
