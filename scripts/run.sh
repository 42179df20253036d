#!/usr/bin/env bash
# The main job: builds the wirenet command and runs its built-in demo on this machine.
#   scripts/run.sh [wirenet arguments...]   (default: demo)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --build
# The release command with its link options (scripts/build-wirenet.sh says which and why).
wirenet="$(scripts/build-wirenet.sh)"
# The control-plane helper (Go), which `wirenet up --control-url` loads; skipped with a note without Go.
scripts/build-control-helper.sh >&2
exec "$wirenet" "${@:-demo}"
