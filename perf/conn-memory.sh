#!/usr/bin/env bash
# Memory of idle established TCP connections to one listener, library level (issue 14): a release
# build of perf/conn-memory/ConnectionMemoryProbe opens N connections to one NetStack listener from a
# stateless raw-packet client in the same process (addresses 10.234.0.0/16, no host sockets) and
# reports VmRSS and malloc'd bytes before and after. The same is measured for a gVisor netstack with
# Tailscale's TCP options (perf/gvisor-conn-memory, Go heap in use instead of malloc'd bytes). Each
# count runs RUNS times per node (fresh processes); the results file gives the median with min–max.
# Usage: perf/conn-memory.sh [count ...]   (default: 10000 100000)
# Environment: RUNS (default 3); MODES (default "idle exchange": connections that never carried data,
# and connections that carried one request/response before idling, see the probe's header; the
# gVisor node runs the idle mode only); GVISOR=0 skips the gVisor node (it needs Debian's golang-go and
# golang-gvisor-gvisor-dev, as perf/build.sh); PROBE (a built ConnectionMemoryProbe to run instead of
# this checkout's, e.g. an earlier commit's; the results name it); GVISOR_COUNTS limits the counts run on it (its
# 100,000-connection run did not finish in 10 minutes on the 2-core machine).
# NOTE: free text stored in the results (which build, the machine's load).
# Writes perf/results/<stamp>-conn-memory.json.
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10000 100000)
runs=${RUNS:-3}
if [ -n "${PROBE:-}" ]; then
    probe="$PROBE"
else
    swift build -c release --product ConnectionMemoryProbe >/dev/null
    probe="$(swift build -c release --show-bin-path)/ConnectionMemoryProbe"
fi
gvisor=""
if [ "${GVISOR:-1}" = 1 ]; then
    mkdir -p perf/.build/bin perf/.build/gopath/src
    ln -sfn "$PWD/perf" perf/.build/gopath/src/wirenet-perf
    GOPATH="/usr/share/gocode:$PWD/perf/.build/gopath" GOCACHE="${GOCACHE:-$PWD/perf/.build/gocache}" GO111MODULE=off \
        go build -o perf/.build/bin/gvisor-conn-memory wirenet-perf/gvisor-conn-memory
    gvisor=perf/.build/bin/gvisor-conn-memory
fi
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
out="perf/results/$stamp-conn-memory.json"
raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT
mkdir -p perf/results
read -r -a modes <<<"${MODES:-idle exchange}"
for count in "${counts[@]}"; do
    for run in $(seq 1 "$runs"); do
        for mode in "${modes[@]}"; do
            "$probe" "$count" "$mode" | tee -a "$raw"
        done
        if [ -n "$gvisor" ] && [[ " ${GVISOR_COUNTS:-${counts[*]}} " == *" $count "* ]]; then
            "$gvisor" "$count" | tee -a "$raw"
        fi
    done
done
python3 - "$out" "$raw" "$runs" "${counts[*]}" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(git rev-parse --short HEAD)" \
    "$(git status --porcelain --untracked-files=no | wc -l)" "$probe" "${NOTE:-}" <<'PY'
import json, sys
out, raw, runs, counts, load, load_after, commit, dirty, probe, note = sys.argv[1:]
records = [json.loads(l) for l in open(raw) if l.strip()]
def summary(values):
    v = sorted(values)
    return {"median": v[len(v) // 2], "min": v[0], "max": v[-1], "n": len(v)}
rows = []
for r in records:
    r.setdefault("node", "wirenet")
    r.setdefault("mode", "idle")
for node, mode, count in sorted({(r["node"], r["mode"], r["connections"]) for r in records}, key=lambda k: (k[0] != "wirenet", k)):
    rs = [r for r in records if r["connections"] == count and r["node"] == node and r["mode"] == mode]
    row = {"node": node, "mode": mode, "connections": count, "established": summary([r["established"] for r in rs])}
    row["rss_total_mib"] = summary([round(r["rss_after_kib"] / 1024, 1) for r in rs])
    row["rss_delta_per_connection_bytes"] = summary([r["rss_per_connection_bytes"] for r in rs])
    row["heap_delta_per_connection_bytes"] = summary([r["heap_per_connection_bytes"] for r in rs])
    if node == "wirenet":
        row["tcp_connection_table_entry_bytes"] = rs[0]["tcp_connection_struct_bytes"]
    rows.append(row)
result = {"command": "perf/conn-memory.sh " + counts, "commit": commit + ("+dirty" if int(dirty) else ""),
          "probe": probe, "note": note,
          "loadavg_before": load, "loadavg_after": load_after, "runs": int(runs),
          "what": "N idle established connections to one listener in one process, raw-packet client without "
                  "per-connection state; mode idle: never carried data, mode exchange: one 100-byte request and "
                  "4 KiB response each, all read and acknowledged, before idling; RSS total after, deltas per connection. wirenet: NetStack (release build), "
                  "heap = malloc'd bytes; gvisor: gVisor netstack with Tailscale's TCP options, heap = Go HeapInuse+StackInuse",
          "rows": rows, "records": records}
json.dump(result, open(out, "w"), indent=1)
print(f"wrote {out}")
for r in rows:
    print(f"  {r['node']} ({r['mode']}), {r['connections']} connections: RSS {r['rss_total_mib']['median']} MiB total "
          f"({r['rss_total_mib']['min']}–{r['rss_total_mib']['max']}), "
          f"{r['rss_delta_per_connection_bytes']['median']} B RSS and "
          f"{r['heap_delta_per_connection_bytes']['median']} B heap per connection"
          + (f"; table entry {r['tcp_connection_table_entry_bytes']} B" if "tcp_connection_table_entry_bytes" in r else ""))
PY
