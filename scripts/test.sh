#!/usr/bin/env bash
# Runs every test: unit, golden-packet, simulated-network, real-peer interop (as root), and a fuzz smoke run.
# Installs missing Debian packages first (as root). Environment:
#   FUZZ_SECONDS        seconds per fuzz target (default 20; 0 skips fuzzing)
#   TEST_CONFIGURATION  debug (default) or release
#   REQUIRE_ALL_TESTS   1 fails the run when any test was skipped (e.g. real-peer tests without root)
#   SANITIZERS          off by default (a run adds two full instrumented builds: far past CI's 30 minutes
#                       on 2 cores); `address`, `thread` or `address,thread` also runs
#                       scripts/sanitizers.sh with that sanitizer's default suites
set -euo pipefail
cd "$(dirname "$0")/.."
SANITIZERS="${SANITIZERS:-}"

scripts/bootstrap.sh

# Debug builds compile in a fraction of a release build's time on 2 cores; the suite's heavy parts
# (simulated 10 MB transfers, real-peer transfers) still run in a few minutes. Set
# TEST_CONFIGURATION=release to run the same suite optimised.
configuration="${TEST_CONFIGURATION:-debug}"
flags=(-c "$configuration" --traits CLI)
[ "$configuration" = release ] && flags+=(-Xswiftc -enable-testing)

echo "test: building ($configuration)"
swift build "${flags[@]}" --build-tests
# The zero-allocations-per-packet test (ParallelCryptoTests) runs an optimised probe in a process of
# its own: debug builds allocate in unspecialised generic code. About a minute on 2 cores.
if [ "$configuration" = debug ]; then
    swift build -c release --traits CLI --product DataPathAllocationProbe
fi
# The tailnet tests load the Go control helper next to the wirenet executable (skipped without Go).
scripts/build-control-helper.sh
# The tailnet tests start the test control server; build it once here rather than inside a test's
# start-up wait, which a loaded machine can outlast.
if command -v go >/dev/null 2>&1; then scripts/testcontrol.sh --build-only; fi

echo "test: running the test suite"
[ "$(id -u)" -eq 0 ] || echo "test: not root: real-peer tests that need network namespaces or TUN are skipped" \
    "(two wirenet processes and node pairs on loopback UDP still run)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# One test at a time: the real-peer suites each start several processes (wireguard-go, wirenet up,
# control servers, curl) and, run together on 2 cores, starved each other into timeouts.
swift test "${flags[@]}" --skip-build --no-parallel 2>&1 | tee "$log"

# Say how many tests were skipped and why (swift-testing prints `Test <name> skipped: "<reason>"`).
skipped="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^[^ ]+ Test .* skipped: ' || true)"
if [ -n "$skipped" ]; then
    echo "test: $(printf '%s\n' "$skipped" | wc -l) tests skipped, by reason:"
    printf '%s\n' "$skipped" | sed -E 's/.* skipped: "?([^"]*)"?$/\1/' | sort | uniq -c | sort -rn | sed 's/^ */test:   /'
    if [ "${REQUIRE_ALL_TESTS:-0}" = 1 ]; then
        echo "test: REQUIRE_ALL_TESTS=1 and tests were skipped: failing"
        exit 1
    fi
else
    echo "test: no tests skipped"
fi

for sanitizer in ${SANITIZERS//,/ }; do
    scripts/sanitizers.sh "$sanitizer"
done

fuzz_seconds="${FUZZ_SECONDS:-20}"
if [ "$fuzz_seconds" != "0" ]; then
    scripts/fuzz.sh "$fuzz_seconds"
fi
# --- The test control server (Go, Tests/TestControl): go vet, go test, interop with arkitekt-mesh ---
if command -v go >/dev/null 2>&1; then
    Tests/TestControl/run-tests.sh
    echo "test: the DERP relay (Go, Tests/TestControl/derp)"
    Tests/TestControl/derp/run-tests.sh
    # (Tests/TestControl/derp/interop/run.sh, a standalone arkitekt check of the relay, is run by hand:
    # it requires every one of 2000 relayed datagrams, which a loaded machine's bounded queues can
    # drop; the control server's interop test above already relays arkitekt's traffic through DERP.)
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
