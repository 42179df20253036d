#!/usr/bin/env bash
# Where the parallel crypto pipeline's time goes, per thread: `perf record -g` (cpu-clock) of
# WireGuardParallelBench (seal, order, open; perf/crypto-bench.sh) on N crypto threads, then the
# samples of each thread by library, its top symbols, and the retain/release calls by caller.
# The bench's main thread also runs the libsodium floor for the same time after the pipeline, so
# compare the helper threads (wirenet-crypto*) across binaries, and the main thread's Swift share.
# Usage: perf/profile-crypto.sh [seconds] [threads]   (needs linux-perf; root or perf_event_paranoid ≤ 1)
# Environment: CRYPTO_BENCH_BIN=PATH profiles that binary instead of building one (e.g. main's).
# Writes perf/results/<stamp>-profile-crypto.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3}
threads=${2:-2}
. perf/crypto-bench-binary.sh
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="perf/results/$(date -u +%Y-%m-%dT%H%MZ)-profile-crypto.txt"
mkdir -p perf/results
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
perf record -e cpu-clock -F 1999 -g -o "$work/perf.data" "$bench" "$seconds" 1 "$threads" >"$work/bench.jsonl" 2>/dev/null
report() { perf report -i "$work/perf.data" --no-children --stdio "$@" 2>/dev/null | grep -E '^ +[0-9.]+%|^ +\||--[0-9.]+%--' || true; }
{
    echo "# perf/profile-crypto.sh $seconds $threads — $bench_origin, load $load_before → $(cut -d' ' -f1-3 /proc/loadavg)"
    sed 's/^/# bench: /' "$work/bench.jsonl"
    echo "# samples by thread and library (self time, share of all samples):"
    report --sort comm,dso -g none
    echo "# top symbols by thread (self time):"
    report --sort comm,dso,symbol -g none --percent-limit 0.1
    echo "# retain/release by caller:"
    report --sort comm,symbol --symbols swift_retain,swift_release -g caller,0.5,callee,function --percent-limit 0.1
} >"$out"
echo "$out"
head -30 "$out"
