#!/usr/bin/env bash
# Heap allocations of the steady-state data path, node to node in one process (TCPStream.write →
# seal → UDP → open → TCPStream.read), counted after a warm-up, with 1 and 2 crypto threads and
# three write sizes: allocations that follow the number of API calls, not the number of packets,
# belong to the async API, not to the data path (issue 15).
# Each measurement also reports the process's CPU time (both nodes, user + system) per GB, next to the
# floor measured in the same run: libsodium ChaCha20-Poly1305 seal + open of 1420-byte packets on
# one thread (perf/crypto/WireGuardParallelBench, at the start and the end), the cost no
# implementation can go under (issue 15: ≤ 2.5× that).
# Usage: perf/alloc.sh [MiB per measurement] [rounds (3): every measurement that often, interleaved]
# Writes perf/results/<stamp>-alloc.jsonl. The optimised probe it builds is also what
# Tests/WireNetTests/ParallelCryptoTests' allocation test runs (it is skipped without one).
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-64}
rounds=${2:-3}
swift build -c release --traits CLI --product DataPathAllocationProbe >/dev/null
swift build -c release --traits CLI --product WireGuardParallelBench >/dev/null
bin_path="$(swift build -c release --traits CLI --show-bin-path)"
probe="$bin_path/DataPathAllocationProbe"
floor() { printf '{"floor":%s}\n' "$("$bin_path/WireGuardParallelBench" 3 1 "" | tail -1)"; }
out="perf/results/$(date -u +%Y-%m-%dT%H%MZ)-alloc.jsonl"
mkdir -p perf/results
{
    printf '{"command":"perf/alloc.sh %s %s","loadavg_before":"%s","commit":"%s"}\n' "$mib" "$rounds" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(git rev-parse --short HEAD)"
    floor
    for _ in $(seq 1 "$rounds"); do
        for threads in 1 2; do
            for chunk in 64 256 1024; do "$probe" "$threads" "$mib" "$chunk"; done
        done
    done
    floor
    printf '{"loadavg_after":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out"
python3 - "$out" <<'PY'
import json, statistics, sys
records = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
floors = [r["floor"]["cpuSecondsPerGB"] for r in records if "floor" in r]
floor = statistics.median(floors) if floors else None
if floor:
    print(f"  floor (libsodium seal + open, one thread): {floor:.2f} CPU s per GB (runs: {', '.join(f'{f:.2f}' for f in floors)})")
groups = {}
for r in records:
    if "allocations" in r:
        groups.setdefault((r["cryptoThreads"], r["chunkBytes"]), []).append(r)
def spread(values, digits):
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f}, n={len(values)})"
for (threads, chunk), runs in groups.items():
    per_call = [r["allocations"] / (r["writeCalls"] + r["readCalls"]) for r in runs]
    per_packet = [r["allocations"] / r["dataPackets"] for r in runs]
    gbits = [r["measuredBytes"] * 8 / r["seconds"] / 1e9 for r in runs]
    cpu = ""
    if all("cpuSeconds" in r for r in runs):
        per_gb = [r["cpuSeconds"] / (r["measuredBytes"] / 1e9) for r in runs]
        cpu = f"; CPU s per GB, both nodes {spread(per_gb, 2)}" + (f" = {statistics.median(per_gb) / floor:.2f}x the floor" if floor else "")
    print(f"  {threads} crypto thread(s), {chunk >> 10} KiB writes: allocations per API call {spread(per_call, 1)}, "
          f"per packet if none were per call {spread(per_packet, 3)}; in-process single flow {spread(gbits, 2)} Gbit/s{cpu}")
PY
