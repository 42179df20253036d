#!/usr/bin/env bash
# Heap allocations of the steady-state data path, node to node in one process (TCPStream.write →
# seal → UDP → open → TCPStream.read), counted after a warm-up, with 1 and 2 crypto threads and
# three write sizes: allocations that follow the number of API calls, not the number of packets,
# belong to the async API, not to the data path (issue 15).
# Usage: perf/alloc.sh [MiB per measurement]
# Writes perf/results/<stamp>-alloc.jsonl. The optimised probe it builds is also what
# Tests/WireNetTests/ParallelCryptoTests' allocation test runs (it is skipped without one).
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-64}
swift build -c release --traits CLI --product DataPathAllocationProbe >/dev/null
probe="$(swift build -c release --traits CLI --show-bin-path)/DataPathAllocationProbe"
out="perf/results/$(date -u +%Y-%m-%dT%H%MZ)-alloc.jsonl"
mkdir -p perf/results
{
    printf '{"command":"perf/alloc.sh %s","loadavg_before":"%s","commit":"%s"}\n' "$mib" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(git rev-parse --short HEAD)"
    for threads in 1 2; do
        for chunk in 64 256 1024; do "$probe" "$threads" "$mib" "$chunk"; done
    done
} | tee "$out"
python3 - "$out" <<'PY'
import json, sys
for r in (json.loads(l) for l in open(sys.argv[1]) if l.strip()):
    if "allocations" not in r: continue
    calls = r["writeCalls"] + r["readCalls"]
    print(f"  {r['cryptoThreads']} crypto thread(s), {r['chunkBytes'] >> 10} KiB writes: {r['allocations']} allocations, "
          f"{calls} API calls ({r['allocations'] / calls:.1f} per call), {r['dataPackets']} packets "
          f"({r['allocations'] / r['dataPackets']:.3f} per packet if none were per call); "
          f"in-process single flow {r['measuredBytes'] * 8 / r['seconds'] / 1e9:.2f} Gbit/s")
PY
