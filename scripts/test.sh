#!/usr/bin/env bash
# Runs every test: unit, golden-packet, simulated-network, real-peer interop (as root), and a fuzz smoke run.
# Installs missing Debian packages first (as root). Environment:
#   FUZZ_SECONDS        seconds per fuzz target (default 30; 0 skips fuzzing)
#   TEST_CONFIGURATION  debug (default) or release
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh

# Debug builds compile in a fraction of a release build's time on 2 cores; the suite's heavy parts
# (simulated 10 MB transfers, real-peer transfers) still run in a few minutes. Set
# TEST_CONFIGURATION=release to run the same suite optimised.
configuration="${TEST_CONFIGURATION:-debug}"
flags=(-c "$configuration")
[ "$configuration" = release ] && flags+=(-Xswiftc -enable-testing)

echo "test: building ($configuration)"
swift build "${flags[@]}" --build-tests

echo "test: running the test suite"
[ "$(id -u)" -eq 0 ] || echo "test: not root: tests that need network namespaces are skipped"
swift test "${flags[@]}" --skip-build

fuzz_seconds="${FUZZ_SECONDS:-30}"
if [ "$fuzz_seconds" != "0" ]; then
    scripts/fuzz.sh "$fuzz_seconds"
fi
# --- The test control server (Go, Tests/TestControl): go vet, go test, interop with arkitekt-mesh ---
if command -v go >/dev/null 2>&1; then
    Tests/TestControl/run-tests.sh
else
    echo "test: Go is not installed: skipping the test control server's tests"
fi

# --- control-plane helper (Go, Sources/ControlHelper): go vet, go test, C smoke test of the .so ---
# Skips itself with a message when Go is not installed.
echo "test: control-plane helper"
Sources/ControlHelper/run-tests.sh
# --- end control-plane helper ---

# --- Examples (Examples/: Hummingbird on the tunnel, AsyncHTTPClient through the node) and the CLI's
# --- `up --metrics` / `up --tun`, against wireguard-go in a namespace. EXAMPLES=0 skips (heavy builds).
if [ "${EXAMPLES:-1}" != "0" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "test: examples"
        Examples/run-tests.sh
    else
        echo "test: not root: skipping the examples' tests (network namespaces)"
    fi
fi
# --- end examples ---

echo "test: all passed"
