#!/usr/bin/env bash
# Runs test suites under a sanitizer, each sanitizer in its own build directory (.build-asan,
# .build-tsan) so the normal .build is left alone.
#   scripts/sanitizers.sh address|thread [SUITE...]
# SUITE is a `swift test --filter` pattern (a test target or suite name), or one of two sets:
#   default     the sanitizer's default suites:
#     address:  WireTests WireGuardTests NetStackTests RelayTests UDPTransportTests
#               (the sans-IO cores and the C boundary: libsodium, io_uring rings, unsafe-pointer
#               parsing — where an out-of-bounds access would live)
#     thread:   UDPTransportTests LockingTests WireNetTests.NodeLoopbackTests
#               WireNetTests.ParallelCryptoTests WireNetTests.NodeServiceTests WireNetCLITests
#               (the code that has threads: the io_uring transport, the locks, the engine loop and its
#               parallel crypto workers, the node's API called from other tasks, the CLI's forwarders on
#               their epoll thread and the pool; the sans-IO cores are single-threaded by design and
#               only slow TSan down)
#   real-peer   every real-peer suite (root, namespaces, wireguard-go, the kernel, curl, iperf3,
#               `wirenet up` processes, the test control server and DERP relay, arkitekt-mesh):
#               NodeInteropTests PathInteropTests TailnetTests.TailnetInteropTests
#               TailnetTests.TailnetNamespaceTests TailnetTests.TailnetTopologyJournalTests
#               WireGuardTests.WireGuardGoInteropTests NetStackTests.TUNInteropTests
#               WireNetTests.KernelTUNTests WireNetNIOTests.NIOServerOnTunnelTests
#               WireNetCLITests.CommandLineTests
#               Run scripts/build-control-helper.sh first (it also puts libwirenetcontrol.so into
#               .build-asan/.build-tsan) and scripts/testcontrol.sh --build-only.
# No SUITE: default. The full pass: scripts/sanitizers.sh thread default real-peer (Docs/reliability.md,
# Sanitizers, says which runs were clean).
# Reports: every instrumented process of the run (the test processes and each `wirenet` they start,
# whose own logs the tests delete) writes its reports to a file of a directory of this run
# (log_path); the script prints them and puts their WARNING/SUMMARY lines into the summary.
# Suppressions: scripts/sanitizers/<sanitizer>.supp (each entry says why). Environment:
#   SANITIZER_JOBS  build jobs (default: all cores)
#   SANITIZER_SKIP  a `swift test --skip` pattern, e.g. the long simulations on a loaded machine:
#                   SANITIZER_SKIP='BurstLossSimulationTests|LossRecoverySimulationTests'
# Leftovers: a sanitizer's halt kills the process it fires in, so that process's namespaces, veths and
# children are never removed by the test. The tests record them in journals (NetTestSupport's
# ResourceJournal), here in a directory of this run; a journal's reaper removes what a killed test
# process left, and this script lists what was reaped (or is still there) in the summary.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitizer="${1:-}"
shift || true
extra_flags=()
case "$sanitizer" in
address)
    scratch=.build-asan
    default_suites=(WireTests WireGuardTests NetStackTests RelayTests UDPTransportTests)
    # detect_leaks=0: LeakSanitizer reports the Swift runtime's and swift-testing's process-lifetime
    # allocations (metadata caches, the test registry) as leaks at exit; descriptor/thread/memory
    # leaks of a node are checked by NodeLifecycleLeakTests instead.
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    ;;
thread)
    scratch=.build-tsan
    default_suites=(UDPTransportTests LockingTests WireNetTests.NodeLoopbackTests WireNetTests.ParallelCryptoTests
                    WireNetTests.NodeServiceTests WireNetCLITests)
    # Locking's Lock tells TSan about Synchronization.Mutex's hand-over only when its C annotations
    # are compiled in: Swift does not pass -fsanitize=thread to its Clang importer, so say it here.
    extra_flags=(-Xcc -DWIRENET_THREAD_SANITIZER)
    # print_suppressions: each process lists the suppressions that matched (into its report file).
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:print_suppressions=1:suppressions=$PWD/scripts/sanitizers/thread.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
    ;;
*)
    echo "usage: scripts/sanitizers.sh address|thread [SUITE...]" >&2
    exit 2
    ;;
esac
# Each instrumented process writes its reports to $reports/report.<pid> (see above).
reports="$(mktemp -d /tmp/wirenet-sanitizer-reports.XXXXXX)"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$reports/report"
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$reports/report"
real_peer_suites=(NodeInteropTests PathInteropTests TailnetTests.TailnetInteropTests TailnetTests.TailnetNamespaceTests
                  TailnetTests.TailnetTopologyJournalTests WireGuardTests.WireGuardGoInteropTests NetStackTests.TUNInteropTests
                  WireNetTests.KernelTUNTests WireNetNIOTests.NIOServerOnTunnelTests WireNetCLITests.CommandLineTests)
[ $# -gt 0 ] || set -- default
suites=()
for suite in "$@"; do
    case "$suite" in
    default) suites+=("${default_suites[@]}") ;;
    real-peer) suites+=("${real_peer_suites[@]}") ;;
    *) suites+=("$suite") ;;
    esac
done

jobs=()
[ -n "${SANITIZER_JOBS:-}" ] && jobs=(-j "$SANITIZER_JOBS")
# Swift's backtracer would otherwise take the sanitizer's signal and hide its report.
export SWIFT_BACKTRACE=enable=no

echo "sanitizers: building the tests with --sanitize=$sanitizer in $scratch"
swift build --traits CLI --build-tests --sanitize="$sanitizer" "${extra_flags[@]}" --scratch-path "$scratch" "${jobs[@]}"

filter="$(IFS='|'; echo "${suites[*]}")"
echo "sanitizers: running ($filter) under $sanitizer"
# One test at a time, as scripts/test.sh does: a sanitizer makes every test several times slower and
# the suites that start nodes time out when run side by side on 2 cores.
skip=()
[ -n "${SANITIZER_SKIP:-}" ] && skip=(--skip "$SANITIZER_SKIP")
log="$(mktemp)"
export WIRENET_TEST_RESOURCES
WIRENET_TEST_RESOURCES="$(mktemp -d /tmp/wirenet-sanitizer-resources.XXXXXX)"
trap 'rm -f "$log"; rm -rf "$WIRENET_TEST_RESOURCES" "$reports"' EXIT
result=clean
swift test --traits CLI --sanitize="$sanitizer" "${extra_flags[@]}" --scratch-path "$scratch" --skip-build --no-parallel --filter "$filter" "${skip[@]}" \
    2>&1 | tee "$log" || result=failed
# The reapers start when the test processes have ended; give them time to finish.
for _ in $(seq 300); do
    pgrep -f "wirenet-reaper $WIRENET_TEST_RESOURCES/" >/dev/null || break
    sleep 0.2
done
# A report in any process fails the run, also one in a `wirenet` whose test passed regardless.
if grep -lqsE "WARNING: (ThreadSanitizer|AddressSanitizer)|ERROR: AddressSanitizer" "$reports"/report.* 2>/dev/null; then
    result=failed
    echo "sanitizers: reports:" >&2
    cat "$reports"/report.* >&2
fi
leftovers="$(cat "$WIRENET_TEST_RESOURCES"/wirenet-resources-* 2>/dev/null | grep '^reaped ' || true)"
if pgrep -f "wirenet-reaper $WIRENET_TEST_RESOURCES/" >/dev/null; then
    leftovers="$leftovers${leftovers:+$'\n'}a reaper did not finish: journals in $WIRENET_TEST_RESOURCES kept"
    trap 'rm -f "$log"; rm -rf "$reports"' EXIT
fi
if [ -n "$leftovers" ]; then
    echo "sanitizers: a test process ended without removing what it created; removed now:" >&2
    echo "$leftovers" >&2
fi
# A summary for Docs/reliability.md: perf/results/sanitizers/<time>-<sanitizer>.txt
mkdir -p perf/results/sanitizers
out="perf/results/sanitizers/$(date -u +%Y-%m-%dT%H%MZ)-$sanitizer.txt"
{
    echo "sanitizer: $sanitizer"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Tests || echo '+changes')"
    echo "suites: $filter"
    echo "skipped: ${SANITIZER_SKIP:-none}"
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (nproc $(nproc))"
    echo "result: $result"
    echo "leftovers: $( [ -n "$leftovers" ] && echo "$leftovers" | paste -sd ';' - || echo none)"
    sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -aE '^. Test run with|Executed [0-9]+ tests|^. Suite .* (passed|failed) after|SUMMARY: |WARNING: ThreadSanitizer|And [0-9]+ more similar|ERROR: AddressSanitizer' || true
    for report in "$reports"/report.*; do
        [ -f "$report" ] || continue
        grep -aE 'SUMMARY: |WARNING: ThreadSanitizer|ERROR: AddressSanitizer|Matched [0-9]+ suppressions|^[0-9]+ race:' "$report" \
            | sed "s|^|$(basename "$report"): |" || true
    done
} >"$out"
echo "sanitizers: $sanitizer $result (summary: $out)"
[ "$result" = clean ]
