#!/usr/bin/env bash
# Fuzzing throughput per target: builds the targets as scripts/fuzz-long.sh does (release,
# -sanitize=fuzzer), runs each for SECONDS (default 60) from a fresh copy of its seed corpus with a
# fixed libFuzzer seed, and writes one results file, perf/results/fuzz/<time>-rate.txt, with each
# target's executions, executions per wall-clock second (what libFuzzer prints, and what a long run
# gets on this machine at this load) and per CPU second (user + system time of the fuzzer process:
# what the target costs, much less disturbed by other work on the machine).
#   scripts/fuzz-rate.sh [TARGET...]            (default: FuzzWireGuardDevice FuzzNetStackStream)
#   FUZZ_BIN=DIR LABEL=before scripts/fuzz-rate.sh ...   measures the binaries in DIR instead (no build)
#   SEED_ROOT=DIR ...   seeds from DIR/<target> instead of Fuzz/Corpus/<target> (to compare two harnesses
#                       from the same seeds when Fuzz/Corpus has changed)
#   KEEP_CORPUS=DIR ... keeps each run's corpus in DIR/<label>-<target>-<time> (coverage comparisons)
# The DONE line of each run is kept: its cov (edges) and ft (features) are what the target reached
# in SECONDS from the seeds, the figure to compare two harnesses of the same target by.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${SECONDS_PER_TARGET:-60}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzWireGuardDevice FuzzNetStackStream)
flags=(-c release --sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -enable-testing)
if [ -n "${FUZZ_BIN:-}" ]; then
    bin="$FUZZ_BIN"
else
    for t in "${targets[@]}"; do (cd Fuzz && swift build "${flags[@]}" --product "$t" | tail -1); done
    bin="$(cd Fuzz && swift build "${flags[@]}" --show-bin-path)"
fi
export SWIFT_BACKTRACE=enable=no
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p perf/results/fuzz
out="perf/results/fuzz/$(date -u +%Y-%m-%dT%H%MZ)-rate${LABEL:+-$LABEL}.txt"
{
    echo "fuzzing throughput, ${seconds}s per target from the seed corpus, -seed=1"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Fuzz || echo '+changes')"
    echo "binaries: $bin${LABEL:+ ($LABEL)}"
    echo "build: release, -sanitize=fuzzer, -enable-testing"
    echo "seeds: ${SEED_ROOT:-Fuzz/Corpus}/<target>"
} >"$out"
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    seeds="${SEED_ROOT:-Fuzz/Corpus}/$t"
    [ -d "$seeds" ] && cp "$seeds"/* "$work/$t/"
    load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
    TIMEFORMAT='%U %S'
    cpu="$( { time "$bin/$t" "$work/$t" -seed=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$work/$t.log" 2>&1; } 2>&1 )"
    runs="$(grep -E '^stat::number_of_executed_units' "$work/$t.log" | awk '{print $2}')"
    per_cpu="$(echo "$cpu" | awk -v r="$runs" '{ s = $1 + $2; printf "%.0f (%.1f CPU-s)", (s > 0 ? r / s : 0), s }')"
    {
        echo "$t: executions $runs, per wall-clock second $(grep -E '^stat::average_exec_per_sec' "$work/$t.log" | awk '{print $2}'), per CPU second $per_cpu; load before $load_before (nproc $(nproc))"
        grep -E "DONE|^fuzz-crypto:" "$work/$t.log" | sed 's/^/  /'
    } >>"$out"
    if [ -n "${KEEP_CORPUS:-}" ]; then
        kept="$KEEP_CORPUS/${LABEL:-run}-$t-$(date -u +%H%M%S)"
        mkdir -p "$kept" && cp "$work/$t"/* "$kept/" 2>/dev/null || true
    fi
done
cat "$out"
echo "fuzz-rate: $out"
