#!/usr/bin/env bash
# The long fuzzing run (issue 17: >= 10 million executions per target): builds the targets optimised
# (release, -sanitize=fuzzer, -enable-testing for the targets that check internal bounds) and runs each
# until it has executed RUNS inputs or SECONDS have passed, whichever comes first. The corpus grows in
# .build-fuzz-corpus/<target> (seeded from Fuzz/Corpus/<target>) across runs; a crash's input is kept
# in .build-fuzz-artifacts/. Writes one results file per target to perf/results/fuzz/.
#   RUNS=10000000 SECONDS_PER_TARGET=86400 scripts/fuzz-long.sh TARGET...
# A target whose run does not reach RUNS is reported with the count it did reach. `kill -INT` of the
# fuzzer process (pgrep -x TARGET) ends its run early and records it as interrupted, not failed, so a
# long campaign can be split over several runs of the growing corpus when the machine is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: scripts/fuzz-long.sh TARGET..." >&2; exit 2; }
runs="${RUNS:-10000000}"
seconds="${SECONDS_PER_TARGET:-86400}"
flags=(-c release --sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -enable-testing)
echo "fuzz-long: building ${*} (release)"
for t in "$@"; do (cd Fuzz && swift build "${flags[@]}" --product "$t"); done
bin="$(cd Fuzz && swift build "${flags[@]}" --show-bin-path)"
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Fuzz || echo '+changes')"
mkdir -p perf/results/fuzz .build-fuzz-artifacts
export SWIFT_BACKTRACE=enable=no
status=0
for t in "$@"; do
    corpus=".build-fuzz-corpus/$t"
    mkdir -p "$corpus"
    seeds=()
    [ -d "Fuzz/Corpus/$t" ] && seeds=("Fuzz/Corpus/$t")
    stamp="$(date -u +%Y-%m-%dT%H%MZ)"
    log="$(mktemp)"
    echo "fuzz-long: $t: up to $runs inputs or ${seconds}s"
    load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
    result=clean
    code=0
    "$bin/$t" "$corpus" "${seeds[@]}" -runs="$runs" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix=".build-fuzz-artifacts/$t-" -print_final_stats=1 -interrupt_exit_code=72 >"$log" 2>&1 || code=$?
    # SIGINT to the fuzzer (not to this script) ends a run early but cleanly: libFuzzer prints its final
    # statistics and exits 72. Such a run counts towards a campaign over the same corpus.
    case "$code" in
        0) ;;
        72) result="interrupted (no crash or timeout before the interrupt)" ;;
        *) result=failed; status=1 ;;
    esac
    out="perf/results/fuzz/$stamp-$t.txt"
    {
        echo "target: $t"
        echo "commit: $commit"
        echo "build: release, -sanitize=fuzzer, -enable-testing"
        echo "limit: $runs inputs or ${seconds}s"
        echo "load average before / after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg) (nproc $(nproc))"
        echo "result: $result"
        grep -E "^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)" "$log" | tail -1 | sed 's/^/last status: /' || true
        grep -E "^Done [0-9]+ runs|^stat::" "$log" || true
        [ "$result" != failed ] || tail -30 "$log"
    } >"$out"
    rm -f "$log"
    echo "fuzz-long: $t: $result; $(grep number_of_executed_units "$out" || true) -> $out"
done
exit $status
