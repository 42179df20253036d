#!/usr/bin/env bash
# Node to node, two `wirenet` binaries side by side (issue 15: before and after a data-path change):
# `wirenet demo` (two nodes in one process over UDP loopback, one TCP download of a fixed size,
# 1 crypto thread) under `perf record -e cpu-clock`, rounds interleaved with the order alternating,
# so that a change in machine load hits both alike. Per run: goodput, CPU seconds per GB moved (the
# process's user + system time over the bytes downloaded) and the share of samples in memmove/memcpy,
# libsodium and the Internet checksum.
# Usage: perf/demo-compare.sh BEFORE_BIN AFTER_BIN [rounds] [MiB per run]
# Environment: BEFORE_LABEL / AFTER_LABEL say what each binary was built from; NOTE=... is stored.
# Take `flock /tmp/wirenet-perf.lock` around it on a shared machine (needs linux-perf; root or
# perf_event_paranoid ≤ 1). Writes perf/results/<stamp>-demo-compare.jsonl and prints medians.
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?usage: perf/demo-compare.sh BEFORE_BIN AFTER_BIN [rounds] [MiB]}
after=${2:?usage: perf/demo-compare.sh BEFORE_BIN AFTER_BIN [rounds] [MiB]}
rounds=${3:-3}
mib=${4:-1024}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="perf/results/$(date -u +%Y-%m-%dT%H%MZ)-demo-compare.jsonl"
mkdir -p perf/results
printf '{"command":"perf/demo-compare.sh %s %s %s %s","before":"%s","after":"%s","cpus":%s,"loadavg_before":"%s","note":"%s"}\n' \
    "$before" "$after" "$rounds" "$mib" "${BEFORE_LABEL:-}" "${AFTER_LABEL:-}" "$(nproc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "${NOTE:-}" >"$out"
for round in $(seq 1 "$rounds"); do
    order="before after"
    [ $((round % 2)) = 0 ] && order="after before"
    for which in $order; do
        binary="$before"
        [ "$which" = after ] && binary="$after"
        load="$(cut -d' ' -f1 /proc/loadavg)"
        /usr/bin/time -f '%U %S' -o "$work/time.txt" \
            perf record -q -e cpu-clock -F 999 -o "$work/perf.data" -- \
            "$binary" demo --bytes $((mib << 20)) --seconds 120 >"$work/demo.txt" 2>&1
        perf report -i "$work/perf.data" --no-children --stdio --sort dso,symbol --percent-limit 0 2>/dev/null \
            | grep -E '^ +[0-9.]+%' >"$work/flat.txt" || true
        python3 - "$work/demo.txt" "$work/time.txt" "$work/flat.txt" "$which" "$round" "$load" >>"$out" <<'PY'
import json, re, sys
demo, timing, flat, which, round_, load = sys.argv[1:]
text = open(demo).read()
m = re.search(r"result: (\d+) bytes .* in ([\d.]+) s", text)
if not m: sys.exit(f"no result line in the demo's output:\n{text}")
moved, seconds = int(m.group(1)), float(m.group(2))
# /usr/bin/time measured perf record and the demo it ran; perf's own share is small and alike for both.
user, system = (float(x) for x in open(timing).read().split()[-2:])
groups = {"memmove": r"memmove|memcpy", "libsodium": r"libsodium", "checksum": r"Checksum", "kernel": r"\[kernel"}
shares = {g: 0.0 for g in groups}
for line in open(flat):
    mm = re.match(r"\s*([\d.]+)%\s+(.*)", line)
    if not mm: continue
    for g, pattern in groups.items():
        if re.search(pattern, mm.group(2)): shares[g] += float(mm.group(1)); break
print(json.dumps({"binary": which, "round": int(round_), "bytes": moved, "seconds": seconds,
                  "gbitps": round(moved * 8 / seconds / 1e9, 3), "cpuSecondsPerGB": round((user + system) / (moved / 1e9), 3),
                  "sharePercent": {g: round(v, 2) for g, v in shares.items()}, "loadavg1m": float(load)}))
PY
        tail -1 "$out"
    done
done
printf '{"loadavg_after":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"
python3 - "$out" <<'PY'
import json, sys
records = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = [r for r in records if "binary" in r and "round" in r]
def med(v):
    v = sorted(v); n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
print(f"\n{sys.argv[1]}: medians over {len(runs) // 2} interleaved rounds (spread in brackets)")
for which in ("before", "after"):
    g = [r for r in runs if r["binary"] == which]
    def col(f): v = [f(r) for r in g]; return f"{med(v):.2f} [{min(v):.2f}-{max(v):.2f}]"
    print(f"  {which}: {col(lambda r: r['gbitps'])} Gbit/s, {col(lambda r: r['cpuSecondsPerGB'])} CPU s/GB, "
          f"memmove {col(lambda r: r['sharePercent']['memmove'])} %, libsodium {col(lambda r: r['sharePercent']['libsodium'])} %, "
          f"checksum {col(lambda r: r['sharePercent']['checksum'])} %; load {min(r['loadavg1m'] for r in g):.2f}-{max(r['loadavg1m'] for r in g):.2f}")
PY
