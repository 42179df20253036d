#!/usr/bin/env bash
# Two builds of the same fuzz targets, compared on speed and reach: for each target and round, runs the
# "before" and the "after" binary (order alternating between rounds) for SECONDS each from the same
# seeds with the same libFuzzer seed, then replays each run's final corpus through the *before*
# binary (-runs=0), so that the two corpora are measured by one coverage accounting: a harness that
# stops running set-up code (a replayed handshake instead of a second stack) reports fewer edges of
# its own, but the corpus it found must still cover, in the old harness, at least what the old
# harness's own corpus covers. Writes perf/results/fuzz/<time>-compare.txt.
#   BEFORE=DIR AFTER=DIR [SECONDS_PER_RUN=45] [ROUNDS=2] [SEED_ROOT=DIR] scripts/fuzz-compare.sh TARGET...
# Per run: executions, per wall-clock second (libFuzzer's exec/s), per CPU second (user + system of the
# fuzzer process), the DONE line's edges (cov) and features (ft), and the corpus replay's cov and ft.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] && [ -n "${BEFORE:-}" ] && [ -n "${AFTER:-}" ] || {
    echo "usage: BEFORE=DIR AFTER=DIR scripts/fuzz-compare.sh TARGET..." >&2; exit 2; }
seconds="${SECONDS_PER_RUN:-45}"
rounds="${ROUNDS:-2}"
seed_root="${SEED_ROOT:-Fuzz/Corpus}"
export SWIFT_BACKTRACE=enable=no
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p perf/results/fuzz
out="perf/results/fuzz/$(date -u +%Y-%m-%dT%H%MZ)-compare.txt"
{
    echo "fuzz harness comparison: ${seconds}s per run from $seed_root/<target>, -seed=1, $rounds rounds, order alternating"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Fuzz || echo '+changes')"
    echo "before: $BEFORE"
    echo "after:  $AFTER"
    echo "build: release, -sanitize=fuzzer, -enable-testing; replay = the run's final corpus through the before binary, -runs=0"
} >"$out"
field() { grep -oE "$1: *[0-9]+" | tail -1 | grep -oE "[0-9]+$"; }
run() {  # label, binary dir, target, round
    local label="$1" dir="$2" t="$3" r="$4" corpus="$work/$1-$3-$4"
    mkdir -p "$corpus"
    [ -d "$seed_root/$t" ] && cp "$seed_root/$t"/* "$corpus/"
    local load cpu log="$work/$label-$t-$r.log"
    load="$(cut -d' ' -f1-3 /proc/loadavg)"
    TIMEFORMAT='%U %S'
    cpu="$( { time "$dir/$t" "$corpus" -seed=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; } 2>&1 )"
    local runs per_wall done_line replay
    runs="$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')"
    per_wall="$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')"
    done_line="$(grep -E 'DONE' "$log" | tail -1)"
    replay="$("$BEFORE/$t" "$corpus" -runs=0 2>&1 | grep -E 'INITED|DONE' | tail -1)"
    echo "$cpu" | awk -v t="$t" -v l="$label" -v r="$r" -v n="$runs" -v w="$per_wall" \
        -v c="$(echo "$done_line" | field cov)" -v f="$(echo "$done_line" | field ft)" \
        -v rc="$(echo "$replay" | field cov)" -v rf="$(echo "$replay" | field ft)" -v load="$load" \
        '{ s = $1 + $2; printf "%s round %s %-6s executions %s, per wall-clock s %s, per CPU s %.0f (%.1f CPU-s); cov %s ft %s; replayed by before: cov %s ft %s; load before %s\n", t, r, l, n, w, (s > 0 ? n / s : 0), s, c, f, rc, rf, load }' >>"$out"
}
for t in "$@"; do
    for r in $(seq "$rounds"); do
        if [ $((r % 2)) -eq 1 ]; then run before "$BEFORE" "$t" "$r"; run after "$AFTER" "$t" "$r"
        else run after "$AFTER" "$t" "$r"; run before "$BEFORE" "$t" "$r"; fi
        tail -2 "$out"
    done
done
echo "fuzz-compare: $out"
