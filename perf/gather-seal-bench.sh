#!/usr/bin/env bash
# The seal of one 1420-byte TCP segment on one thread (issue 15, "Copies and overheads"): libsodium's
# in-place seal (the floor), today's copy of the payload from the send buffer followed by that seal,
# and GatherSeal reading the payload straight from the send buffer (one span, or two across a chunk
# boundary); CPU seconds per GB sealed and heap allocations (must be 0), rounds interleaved.
# Usage: perf/gather-seal-bench.sh [seconds per measurement] [rounds]
# Environment: NOTE=... is stored in the results (say what else loaded the machine);
# GATHER_SEAL_BENCH_BIN=PATH runs that GatherSealBench instead of building one (e.g. a release build
# made with another --scratch-path while this tree's .build is busy).
# Writes perf/results/<stamp>-gather-seal.jsonl (one JSON object per measurement, load average in
# each) and prints medians with their spread.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-2}
rounds=${2:-5}
if [ -n "${GATHER_SEAL_BENCH_BIN:-}" ]; then
    bench="$GATHER_SEAL_BENCH_BIN"
    commit="binary $bench, tree at $(git rev-parse --short HEAD)"
else
    swift build -c release --traits CLI --product GatherSealBench >/dev/null
    bench="$(swift build -c release --traits CLI --show-bin-path)/GatherSealBench"
    commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources perf/crypto || echo '+changes')"
fi
out="perf/results/$(date -u +%Y-%m-%dT%H%MZ)-gather-seal.jsonl"
mkdir -p perf/results
{
    printf '{"command":"perf/gather-seal-bench.sh %s %s","cpus":%s,"loadavg_before":"%s","commit":"%s","note":"%s"}\n' \
        "$seconds" "$rounds" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$commit" "${NOTE:-}"
    "$bench" "$seconds" "$rounds"
    printf '{"loadavg_after":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out"
python3 - "$out" <<'PY'
import json, sys
records = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = [r for r in records if "measurement" in r]
def med(v):
    v = sorted(v); n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
groups = {}
for r in runs: groups.setdefault(r["measurement"], []).append(r)
floor = med([r["cpuSecondsPerGB"] for r in groups["libsodium seal (in place)"]])
copy = med([r["cpuSecondsPerGB"] for r in groups["copy + seal"]])
print(f"\n{sys.argv[1]}: medians over {max(len(g) for g in groups.values())} rounds")
for name, g in groups.items():
    cpu = [r["cpuSecondsPerGB"] for r in g]
    ns = [r["nsPerPacket"] for r in g]
    print(f"  {name}: {med(cpu):.3f} CPU s/GB (spread {min(cpu):.3f}-{max(cpu):.3f}), {med(ns):.0f} ns/packet, "
          f"{med(cpu) / floor:.3f}x the in-place seal, {med(cpu) / copy:.3f}x copy + seal; "
          f"{max(r['allocations'] for r in g)} allocations (max); load {min(r['loadAverage1m'] for r in g):.2f}-{max(r['loadAverage1m'] for r in g):.2f}")
PY
