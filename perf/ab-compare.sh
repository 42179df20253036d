#!/usr/bin/env bash
# Two wirenet builds against each other on run.sh's rows, run after run (issue 13):
#
#   sudo BEFORE=/work/main/.build/release/wirenet AFTER=$PWD/.build/release/wirenet perf/ab-compare.sh
#   sudo ROUNDS=3 TESTS="goodput" ROWS="a d" BEFORE=... AFTER=... perf/ab-compare.sh
#
# run.sh takes one wirenet per run, so each round runs it twice, once per build, the order
# alternating from round to round (before after, after before, ...), each run with run.sh's own
# REPEAT interleaved repetitions of ROWS. The machine's load moves between runs, so every figure is
# also given as a ratio to row d of the same run (wireguard-go + Linux TCP at both ends): that is
# what compares the builds. Writes results/<stamp>-ab.md: the command, the load, one line per run
# (its results file, the figures and the ratios), and per build the median of its runs' ratios.
# run.sh writes its own results files for every run as usual (DOCS=0: the docs are left alone).
set -euo pipefail
perf_dir="$(cd "$(dirname "$0")" && pwd)"
: "${BEFORE:?BEFORE must name the wirenet to compare against}"
: "${AFTER:?AFTER must name the wirenet under test}"
ROUNDS="${ROUNDS:-2}"
ROWS="${ROWS:-a b d}"
TESTS="${TESTS:-latency connect}"
[ "$(id -u)" = 0 ] || { echo "ab-compare.sh: needs root (run.sh creates namespaces)" >&2; exit 1; }
case " $ROWS " in *" d "*) ;; *) echo "ab-compare.sh: ROWS must include d (the reference row)" >&2; exit 1 ;; esac
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$perf_dir/results/$stamp-ab.md"
work="$(mktemp -d /tmp/wnab.XXXXXX)"
trap 'rm -rf "$work"' EXIT
: >"$work/runs"

{
    echo "# perf/ab-compare.sh $stamp"
    echo
    echo "Command: \`ROUNDS=$ROUNDS ROWS=\"$ROWS\" TESTS=\"$TESTS\" REPEAT=${REPEAT:-3} BEFORE=$BEFORE AFTER=$AFTER perf/ab-compare.sh\`"
    [ -z "${NOTE:-}" ] || echo "Note: $NOTE"
    echo
    echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out"

for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order="before after"; else order="after before"; fi
    for which in $order; do
        if [ "$which" = before ]; then binary="$BEFORE"; else binary="$AFTER"; fi
        log="$work/run-$round-$which.log"
        # run.sh names its results by the minute: never start two runs in the same one.
        while [ "$(date -u +%Y-%m-%dT%H%MZ)" = "$(tail -1 "$work/started" 2>/dev/null || true)" ]; do sleep 1; done
        date -u +%Y-%m-%dT%H%MZ >>"$work/started"
        echo "ab-compare.sh: round $round, $which ($binary)" >&2
        ROWS="$ROWS" TESTS="$TESTS" PROFILE=0 DOCS=0 IPERF=0 SKIP_BUILD="${SKIP_BUILD:-1}" WIRENET_BIN="$binary" \
            NOTE="perf/ab-compare.sh $stamp, round $round, $which: $binary" "$perf_dir/run.sh" >"$log" 2>&1 \
            || { echo "ab-compare.sh: run.sh failed:" >&2; tail -30 "$log" >&2; exit 1; }
        results_md="$(sed -n 's/^run.sh: results: //p' "$log" | tail -1)"
        echo "$which ${results_md%.md}.json" >>"$work/runs"
    done
done
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"

python3 - "$work/runs" >>"$out" <<'EOF'
import json, statistics, sys
runs = [line.split() for line in open(sys.argv[1]) if line.strip()]
# (test, field, label, higher is better)
figures = [("connect", "per_second", "connections/s", True), ("connect", "p99_us", "connection p99 µs", False),
           ("latency", "p50_us", "RTT p50 µs", False), ("latency", "p99_us", "RTT p99 µs", False),
           ("upload-1", "gbit_per_s", "upload-1 Gbit/s", True), ("download-1", "gbit_per_s", "download-1 Gbit/s", True),
           ("upload-4", "gbit_per_s", "upload-4 Gbit/s", True), ("download-4", "gbit_per_s", "download-4 Gbit/s", True)]
ratios = {}  # (build, row, label) -> [ratio]
def show(value):
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"
print()
print("## Runs (figures are run.sh's medians of its REPEAT repetitions; ratio = row / row d of the same run)")
print()
for which, path in runs:
    summary = json.load(open(path))
    rows = {row["row"]: row.get("tests", {}) for row in summary["rows"] if row.get("status") == "measured"}
    reference = rows.get("d", {})
    parts = []
    for test, field, label, _ in figures:
        for row in sorted(rows):
            value = rows[row].get(test, {}).get(field)
            if value is None:
                continue
            if row == "d":
                parts.append(f"d {label} {show(value)}")
                continue
            base = reference.get(test, {}).get(field)
            ratio = value / base if base else None
            if ratio is not None:
                ratios.setdefault((which, row, label), []).append(ratio)
            parts.append(f"{row} {label} {show(value)}" + (f" ({ratio:.2f}× d)" if ratio is not None else ""))
    load = summary["meta"].get("loadavg_before", "?")
    print(f"- **{which}** `{path.rsplit('/', 1)[-1].replace('.json', '.md')}` (load before {load}): " + "; ".join(parts))
print()
print("## Ratio to row d, median over runs (min–max, n)")
print()
print("| row | figure | before | after |")
print("|---|---|---|---|")
labels = [(label, better) for _, _, label, better in figures]
for row in sorted({key[1] for key in ratios}):
    for label, better in labels:
        cells = []
        for which in ("before", "after"):
            values = ratios.get((which, row, label))
            if not values:
                cells.append("–")
                continue
            cells.append(f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f}, n={len(values)})")
        if cells != ["–", "–"]:
            print(f"| {row} | {label} ({'higher' if better else 'lower'} is better) | {cells[0]} | {cells[1]} |")
EOF
echo "ab-compare.sh: $out"
cat "$out"
