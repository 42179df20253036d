#!/usr/bin/env bash
# Interleaved flood runs of two wirenet binaries (perf/floods/run.sh each time), then the medians
# and spreads of every flood's share of the quiet baseline per binary.
#
#   sudo BEFORE_BIN=path AFTER_BIN=path perf/floods/compare.sh
#
# Environment: ROUNDS (3), LABEL (names the summary, default compare), and everything run.sh reads
# (MODES, ATTACKER, SIZE_MB, NOTE...). Rounds alternate before, after, before, after..., each run
# under `flock /tmp/wirenet-perf.lock`. Each run
# writes its own results file (TAG=<LABEL>-before-r<N> / -after-r<N>); the summary goes to
# perf/results/floods/<time>-<LABEL>-summary.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
: "${BEFORE_BIN:?path of the before binary}" "${AFTER_BIN:?path of the after binary}"
ROUNDS="${ROUNDS:-3}"
LABEL="${LABEL:-compare}"
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
files=()
for round in $(seq "$ROUNDS"); do
    for side in before after; do
        bin="$BEFORE_BIN"; [ "$side" = after ] && bin="$AFTER_BIN"
        echo "compare: round $round, $side ($bin), load average $(cut -d' ' -f1-3 /proc/loadavg)"
        # The machine's perf lock per run, not for the whole comparison, so nobody waits too long.
        WIRENET_BIN="$bin" TAG="$LABEL-$side-r$round" flock /tmp/wirenet-perf.lock "$here/run.sh" >/dev/null
        files+=("$(ls -t "$repo"/perf/results/floods/*-"$LABEL-$side-r$round".txt | head -1)")
    done
done
summary="$repo/perf/results/floods/$stamp-$LABEL-summary.md"
python3 "$here/summary.py" "${files[@]}" | tee "$summary"
echo "compare: summary in $summary"
