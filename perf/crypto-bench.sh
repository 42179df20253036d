#!/usr/bin/env bash
# The WireGuard data path in memory on 1 and 2 crypto threads (seal, order, open), next to
# libsodium's seal+open on one thread, with heap allocations per packet (issue 15).
# Usage: perf/crypto-bench.sh [seconds per measurement] [rounds] [thread counts]
# Environment: NOTE=... is stored in the results (say what else loaded the machine);
# CRYPTO_BENCH_BIN=PATH runs that WireGuardParallelBench instead of building one (e.g. a binary of an
# earlier commit, to compare before and after under the same load).
# CRYPTO_BENCH_BEFORE=PATH runs that binary too (e.g. main's, built before a change), interleaved with
# this one in every round (the order alternating between rounds); each of its measurements carries
# "binary":"before" (this one's "binary":"after"), CRYPTO_BENCH_BEFORE_LABEL says what it was built from.
# Writes perf/results/<stamp>-crypto.jsonl (one JSON object per measurement, load average in each;
# <stamp>-crypto-comparison.jsonl with CRYPTO_BENCH_BIN, so that perf/tools/summary.py, which reads
# the newest -crypto.jsonl, never reports an older binary's run as the current figures)
# and prints medians: throughput, speed-up of each thread count over 1 thread, CPU s per GB.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3}
rounds=${2:-5}
threads=${3:-1,2}
. perf/crypto-bench-binary.sh
commit="$bench_origin"
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="perf/results/$stamp-crypto${CRYPTO_BENCH_BIN:+-comparison}.jsonl"
tmp_pair="$(mktemp)"
trap 'rm -f "$tmp_pair"' EXIT
mkdir -p perf/results
{
    printf '{"command":"perf/crypto-bench.sh %s %s %s","cpus":%s,"loadavg_before":"%s","commit":"%s","before":"%s","note":"%s"}\n' \
        "$seconds" "$rounds" "$threads" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$commit" \
        "${CRYPTO_BENCH_BEFORE:+binary $CRYPTO_BENCH_BEFORE ${CRYPTO_BENCH_BEFORE_LABEL:-}}" "${NOTE:-}"
    if [ -n "${CRYPTO_BENCH_BEFORE:-}" ]; then
        # One round of each binary at a time, so a change in machine load hits both alike.
        for round in $(seq 1 "$rounds"); do
            order="before after"
            [ $((round % 2)) = 0 ] && order="after before"
            for which in $order; do
                binary="$bench"
                [ "$which" = before ] && binary="$CRYPTO_BENCH_BEFORE"
                "$binary" "$seconds" 1 "$threads" | sed "s/\"round\": 1,/\"round\": $round, \"binary\": \"$which\",/"
            done
        done
    else
        "$bench" "$seconds" "$rounds" "$threads"
    fi
    # What the machine offers two threads right now: the floor in two processes at once, against
    # one alone (on a shared or overcommitted VM the second vCPU may give far less than a core).
    for round in $(seq 1 "$rounds"); do
        alone="$("$bench" "$seconds" 1 "" | tail -1)"
        "$bench" "$seconds" 1 "" | tail -1 >"$tmp_pair" &
        pair_b="$("$bench" "$seconds" 1 "" | tail -1)"
        wait
        printf '{"measurement":"parallel capacity","round":%s,"alone":%s,"pair":[%s,%s]}\n' "$round" "$alone" "$(cat "$tmp_pair")" "$pair_b"
    done
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
for r in runs:
    if "threads" in r: groups.setdefault((r.get("binary", ""), r["measurement"], r["threads"]), []).append(r)
print(f"\n{sys.argv[1]}: medians over {max(len(g) for g in groups.values())} rounds")
caps = [r for r in records if r.get("measurement") == "parallel capacity"]
if caps:
    ratio = [(r["pair"][0]["MBps"] + r["pair"][1]["MBps"]) / r["alone"]["MBps"] for r in caps]
    print(f"  machine's parallel capacity now: two floor processes at once move {med(ratio):.2f}x one alone "
          f"(spread {min(ratio):.2f}-{max(ratio):.2f}): the most 2 crypto threads can gain")
for (binary, name, t), g in sorted(groups.items()):
    mbps = [r["MBps"] for r in g]
    base = med([r["MBps"] for r in groups.get((binary, "seal+order+open", 1), [])] or [0])
    speedup = f", {med(mbps) / base:.2f}x the 1-thread pipeline" if name == "seal+order+open" and base else ""
    print(f"  {binary + ' binary, ' if binary else ''}{name}, {t} thread(s): {med(mbps):.0f} MB/s (spread {min(mbps):.0f}-{max(mbps):.0f}){speedup}; "
          f"{med([r['cpuSecondsPerGB'] for r in g]):.2f} CPU s/GB; {max(r['allocationsPerPacket'] for r in g):.4f} allocations/packet (max); "
          f"load {min(r['loadAverage1m'] for r in g):.2f}-{max(r['loadAverage1m'] for r in g):.2f}")
PY
