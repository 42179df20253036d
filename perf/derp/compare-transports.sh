#!/usr/bin/env bash
# perf/derp/run.sh with the io_uring and the portable UDP backend, interleaved (order alternating per
# round), each run under flock /tmp/wirenet-perf.lock, with the load average before each run. Writes
# perf/results/<stamp>-derp-transports.txt (every run's lines) and prints the per-backend medians of
# the direct and relayed paths. Root only (run.sh creates namespaces).
#   perf/derp/compare-transports.sh [MiB (default 50)] [rounds per run (default 1)] [runs per backend (default 3)]
set -euo pipefail
perf="$(cd "$(dirname "$0")/.." && pwd)"
mib="${1:-50}"
rounds="${2:-1}"
runs="${3:-3}"
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$perf/results/$stamp-derp-transports.txt"
{
    echo "# perf/derp/compare-transports.sh $mib $rounds $runs ($stamp, commit $(git -C "$perf" rev-parse --short HEAD)$(git -C "$perf" diff --quiet HEAD -- ../Sources || echo '+uncommitted'))"
    echo "# each run: flock /tmp/wirenet-perf.lock env WIRENET_NODE_ARGS=\"--transport <backend>\" perf/derp/run.sh $mib $rounds"
} >"$out"
for run in $(seq "$runs"); do
    if [ $((run % 2)) = 1 ]; then order="io_uring portable"; else order="portable io_uring"; fi
    for backend in $order; do
        echo "run $run $backend load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
        flock /tmp/wirenet-perf.lock env WIRENET_NODE_ARGS="--transport $backend" "$perf/derp/run.sh" "$mib" "$rounds" \
            | sed "s/^/run $run $backend: /" | tee -a "$out"
    done
done
python3 - "$out" <<'EOF' | tee -a "$out"
import re, statistics, sys
rates = {}
for line in open(sys.argv[1]):
    m = re.match(r"run \d+ (\S+): (relayed|direct)\s+([\d.]+) MB/s", line)
    if m: rates.setdefault((m.group(1), m.group(2)), []).append(float(m.group(3)))
for (backend, path), values in sorted(rates.items()):
    print(f"median {backend:9} {path:8} {statistics.median(values):6.1f} MB/s  of {values}")
EOF
echo "results: $out"
