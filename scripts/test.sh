#!/usr/bin/env bash
# Runs every test: unit, golden-packet, simulated-network, real-peer interop (as root), and a fuzz smoke run.
# Installs missing Debian packages first (as root). Environment:
#   FUZZ_SECONDS  seconds per fuzz target (default 30; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh

echo "test: building (release, testable)"
swift build -c release --build-tests -Xswiftc -enable-testing

echo "test: running the test suite"
[ "$(id -u)" -eq 0 ] || echo "test: not root: tests that need network namespaces are skipped"
swift test -c release -Xswiftc -enable-testing --skip-build

fuzz_seconds="${FUZZ_SECONDS:-30}"
if [ "$fuzz_seconds" != "0" ]; then
    scripts/fuzz.sh "$fuzz_seconds"
fi
echo "test: all passed"
