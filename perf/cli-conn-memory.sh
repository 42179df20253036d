#!/usr/bin/env bash
# Memory per idle TCP connection accepted by `wirenet up --serve` (issue 14's CLI target: <= 6 KiB of
# `wirenet up` RSS per connection, forwarder state included, the host socket's kernel memory aside),
# measured with CONNECTIONS idle connections from a wireguard-go + Linux peer.
#
#   sudo perf/cli-conn-memory.sh      (WIRENET_BIN=path to use a built wirenet; default: the static
#                                     binary users get, scripts/build-wirenet.sh)
#   BINARIES="before=/path/a after=/path/b" sudo perf/cli-conn-memory.sh
#                                     (several builds, interleaved run by run: before after before …,
#                                     so that a change of machine load hits each alike; one results
#                                     file with a row of medians per build)
#
# Topology (two namespaces, addresses in 10.234.0.0/16):
#   cm-p (peer: wireguard-go, Linux TCP)  10.234.1.2 ── 10.234.1.1  cm-n (node: wirenet up --serve
#   tunnel: node 10.234.100.1, peer 10.234.100.2                         tcp:8080=127.0.0.1:8000)
# The service at 127.0.0.1:8000 (perf/connholder.py serve) accepts and holds every connection.
#
# Each run starts a fresh node, warms it up (WARMUP connections opened and closed), samples its
# memory, opens CONNECTIONS connections from the peer and holds them idle, waits until the service
# holds all of them and SETTLE seconds more, and samples again. Per connection: the growth of
# VmRSS, PSS, private (dirty) and anonymous memory of `wirenet up` (/proc/PID/smaps_rollup) divided
# by CONNECTIONS, with the growth per mapping (heap, anonymous, stacks). The kernel's side: the
# growth of the slab (/proc/meminfo, machine-wide) and of the TCP socket slab per connection, which
# covers three sockets per connection (the peer's, wirenet's host socket, the service's) and
# anything else the machine did meanwhile — an estimate only.
# Environment: RUNS (3), CONNECTIONS (5000), WARMUP (100), SETTLE (5 s), RESULTS (perf/results),
# NOTE (free text about the machine's load, stored in the results).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
# shellcheck source=lib/wgpeer.sh
. "$here/lib/wgpeer.sh"
wgpeer_require_tools cli-conn-memory python3 ss
RUNS="${RUNS:-3}"
CONNECTIONS="${CONNECTIONS:-5000}"
WARMUP="${WARMUP:-100}"
SETTLE="${SETTLE:-5}"
RESULTS="${RESULTS:-$repo/perf/results}"
if [ -z "${BINARIES:-}" ]; then
    if [ -z "${WIRENET_BIN:-}" ]; then
        WIRENET_BIN="$("$repo/scripts/build-wirenet.sh")"
    fi
    BINARIES="wirenet=$WIRENET_BIN"
fi
for entry in $BINARIES; do
    [ -x "${entry#*=}" ] || { echo "cli-conn-memory: ${entry#*=} is not an executable (BINARIES: label=path ...)"; exit 1; }
done
first="${BINARIES%% *}"
WIRENET_BIN="${first#*=}"  # for the keys (wgpeer_key); each run sets its own
py=/usr/bin/python3
limit=$((CONNECTIONS + WARMUP + 1024))

work="$(mktemp -d /tmp/cli-conn-memory.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    wgpeer_delete_namespaces cm-n cm-p
    rm -rf "$work"
}
trap cleanup EXIT

wgpeer_namespaces cm-n cm-p
wgpeer_link cm-n cm-np 10.234.1.1/30 cm-p cm-pn 10.234.1.2/30
node_pub="$(wgpeer_key node)"
peer_pub="$(wgpeer_key peer)"
cat >"$work/node.conf" <<CONF
[Interface]
PrivateKey = $(cat "$work/node.key")
Address = 10.234.100.1/32
ListenPort = 51820

[Peer]
PublicKey = $peer_pub
AllowedIPs = 10.234.100.2/32
Endpoint = 10.234.1.2:51821
CONF
chmod 600 "$work/node.conf"
dev="wncm$$"; dev="${dev:0:15}"
wgpeer_start cm-p "$dev" peer 51821 "$node_pub" 10.234.100.1 10.234.1.1:51820 10.234.100.2/24

ip netns exec cm-n "$py" "$here/connholder.py" serve 127.0.0.1 8000 >"$work/service.out" 2>&1 &
pids+=($!)

status_json() { ip netns exec cm-n "$WIRENET_BIN" status --json --socket "$work/node.sock" 2>/dev/null || echo '{}'; }
# One JSON object: the process's smaps_rollup, its resident memory per mapping, and the kernel's slab.
snapshot() {
    "$py" - "$1" <<'PY'
import json, sys
pid = sys.argv[1]
rollup = {}
for line in open(f"/proc/{pid}/smaps_rollup"):
    f = line.split()
    if len(f) >= 3 and f[2] == "kB":
        rollup[f[0].rstrip(":")] = int(f[1])
mappings, name = {}, None
for line in open(f"/proc/{pid}/smaps"):
    f = line.split()
    if "-" in f[0] and len(f) >= 5 and ":" in f[3]:
        name = f[5] if len(f) >= 6 else "[anonymous]"
        if name.startswith("/"):
            name = name.rsplit("/", 1)[1]
        mappings.setdefault(name, {"rss_kib": 0, "private_dirty_kib": 0})
    elif f[0] == "Rss:":
        mappings[name]["rss_kib"] += int(f[1])
    elif f[0] == "Private_Dirty:":
        mappings[name]["private_dirty_kib"] += int(f[1])
status = {l.split(":")[0]: int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith(("VmRSS", "VmHWM", "Threads", "RssAnon", "RssFile"))}
meminfo = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith(("Slab", "SUnreclaim"))}
slabs = {}
try:
    for line in open("/proc/slabinfo"):
        f = line.split()
        if f[0] in ("TCP", "TCPv6", "sock_inode_cache", "request_sock_TCP", "eventpoll_epi", "filp", "dentry", "skbuff_head_cache"):
            slabs[f[0]] = int(f[1]) * int(f[3])  # active objects x object size, bytes
except OSError:
    pass
fds = len(__import__("os").listdir(f"/proc/{pid}/fd"))
print(json.dumps({"rollup_kib": rollup, "status_kib": status, "mappings": mappings, "kernel_kib": meminfo,
                  "slab_bytes": slabs, "fds": fds}))
PY
}
service_held() { ip netns exec cm-n ss -Htn state established '( sport = :8000 )' | wc -l; }

: >"$work/runs.jsonl"
for run in $(seq "$RUNS"); do
for entry in $BINARIES; do
    label="${entry%%=*}"
    WIRENET_BIN="${entry#*=}"
    # Removed, not truncated by the redirections below: a background job opens its output file
    # later, and the waits would see the previous run's.
    rm -f "$work/node.sock" "$work/warmup.out" "$work/client.out"
    ip netns exec cm-n "$WIRENET_BIN" up --config "$work/node.conf" --control-socket "$work/node.sock" \
        --serve tcp:8080=127.0.0.1:8000 --max-connections "$limit" --max-connections-per-source "$limit" \
        --max-tunnel-connections-per-address "$limit" --log-level error >"$work/node.out" 2>&1 &
    node=$!
    pids+=("$node")
    for _ in $(seq 100); do grep -q ready "$work/node.out" && break; sleep 0.1; done
    grep -q ready "$work/node.out" || { echo "cli-conn-memory: wirenet up did not start"; cat "$work/node.out"; exit 1; }
    wgpeer_wait_reachable cm-p 10.234.100.1 || { echo "cli-conn-memory: the peer cannot reach the node"; cat "$work/node.out"; exit 1; }

    # Warm-up: connections opened, held a moment and closed, so that first-use allocations (the
    # forwarder's tasks, the reactor's tables) are in the baseline.
    ip netns exec cm-p "$py" "$here/connholder.py" connect 10.234.100.1 8080 "$WARMUP" >"$work/warmup.out" &
    warm=$!
    for _ in $(seq 300); do [ -s "$work/warmup.out" ] && break; sleep 0.1; done
    kill -TERM "$warm"; wait "$warm" 2>/dev/null || true
    for _ in $(seq 100); do [ "$(service_held)" -eq 0 ] && break; sleep 0.1; done
    sleep "$SETTLE"
    before="$(snapshot "$node")"

    ip netns exec cm-p "$py" "$here/connholder.py" connect 10.234.100.1 8080 "$CONNECTIONS" >"$work/client.out" &
    client=$!
    pids+=("$client")
    for _ in $(seq 1800); do [ -s "$work/client.out" ] && break; sleep 0.1; done
    opened="$(head -1 "$work/client.out")"
    [ -n "$opened" ] || { echo "cli-conn-memory: the peer did not finish connecting"; exit 1; }
    for _ in $(seq 300); do [ "$(service_held)" -ge "$CONNECTIONS" ] && break; sleep 0.1; done
    sleep "$SETTLE"
    held="$(service_held)"
    after="$(snapshot "$node")"
    status="$(status_json)"
    kill -TERM "$client"; wait "$client" 2>/dev/null || true
    kill -INT "$node"; wait "$node" 2>/dev/null || true

    "$py" - "$run" "$opened" "$held" "$before" "$after" "$status" "$label" "$WIRENET_BIN" >>"$work/runs.jsonl" <<'PY'
import json, sys
run, opened, held = int(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
before, after, status = (json.loads(x or "{}") for x in sys.argv[4:7])
label, binary = sys.argv[7], sys.argv[8]
n = opened["ok"]
def per_conn_bytes(a, b): return round((b - a) * 1024 / n) if n else None
rb, ra = before["rollup_kib"], after["rollup_kib"]
growth = {name: per_conn_bytes(before["mappings"].get(name, {}).get("rss_kib", 0), m["rss_kib"])
          for name, m in after["mappings"].items()}
growth = {k: v for k, v in sorted(growth.items(), key=lambda kv: -abs(kv[1])) if v}
forwarders = status.get("forwarders", [{}])
print(json.dumps({
    "run": run, "binary_label": label, "binary": binary, "client": opened, "service_held": held,
    "tunnel_connections": status.get("tcpConnections"), "forwarder_active": forwarders[0].get("active") if forwarders else None,
    "refused": {k: forwarders[0].get(k) for k in ("refusedByRule", "refusedBySource")} if forwarders else None,
    "per_address_limit_drops": status.get("tcpListeners", {}).get("perAddressLimitDrops"),
    "before_kib": {"rss": rb["Rss"], "pss": rb["Pss"], "private": rb["Private_Clean"] + rb["Private_Dirty"], "anonymous": rb["Anonymous"]},
    "after_kib": {"rss": ra["Rss"], "pss": ra["Pss"], "private": ra["Private_Clean"] + ra["Private_Dirty"], "anonymous": ra["Anonymous"]},
    "per_connection_bytes": {
        "rss": per_conn_bytes(rb["Rss"], ra["Rss"]), "pss": per_conn_bytes(rb["Pss"], ra["Pss"]),
        "private": per_conn_bytes(rb["Private_Clean"] + rb["Private_Dirty"], ra["Private_Clean"] + ra["Private_Dirty"]),
        "anonymous": per_conn_bytes(rb["Anonymous"], ra["Anonymous"]),
        "by_mapping": growth,
        "kernel_slab_machine_wide": per_conn_bytes(before["kernel_kib"]["Slab"], after["kernel_kib"]["Slab"]),
        "kernel_slab_by_cache": {k: round((after["slab_bytes"].get(k, 0) - v) / n) for k, v in before["slab_bytes"].items()} if n else {},
    },
    "fds": {"before": before["fds"], "after": after["fds"]},
    "threads": {"before": before["status_kib"].get("Threads"), "after": after["status_kib"].get("Threads")},
}))
PY
    echo "cli-conn-memory: run $run ($label): $(tail -1 "$work/runs.jsonl")"
    sleep 1
done
done

stamp="$(date -u +%Y-%m-%dT%H%MZ)"
mkdir -p "$RESULTS"
"$py" - "$work/runs.jsonl" "$RESULTS/$stamp-cli-conn-memory.json" "$RESULTS/$stamp-cli-conn-memory.md" \
    "$CONNECTIONS" "$BINARIES" "$(cd "$repo" && git rev-parse --short HEAD)" "${NOTE:-}" <<'PY'
import json, statistics, subprocess, sys
all_runs = [json.loads(line) for line in open(sys.argv[1])]
connections, binaries, commit, note = int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
labels = [entry.split("=", 1)[0] for entry in binaries.split()]
def summarize(runs):
    def stats(key):
        values = [r["per_connection_bytes"][key] for r in runs if r["per_connection_bytes"][key] is not None]
        return {"median": statistics.median(values), "min": min(values), "max": max(values)} if values else None
    summary = {key: stats(key) for key in ("rss", "pss", "private", "anonymous", "kernel_slab_machine_wide")}
    tcp_slab = [r["per_connection_bytes"]["kernel_slab_by_cache"].get("TCP", 0) for r in runs]
    summary["kernel_tcp_socket_slab"] = {"median": statistics.median(tcp_slab), "min": min(tcp_slab), "max": max(tcp_slab)}
    return summary
summaries = {label: summarize([r for r in all_runs if r["binary_label"] == label]) for label in labels}
single = len(labels) == 1
summary = summaries[labels[0]]
runs = all_runs
machine = {"cores": int(subprocess.run(["nproc"], capture_output=True, text=True).stdout),
           "loadavg": open("/proc/loadavg").read().split()[:3]}
result = {"command": "sudo perf/cli-conn-memory.sh" if single else 'BINARIES="%s" sudo perf/cli-conn-memory.sh' % binaries,
          "binaries": dict(entry.split("=", 1) for entry in binaries.split()), "commit": commit, "connections": connections,
          "what": "growth of `wirenet up --serve` memory per idle TCP connection held from a wireguard-go + Linux peer, to a local service holding it too",
          "target_bytes": 6144, "median_per_connection_bytes": summary if single else summaries, "runs": runs, "machine": machine, "note": note}
if single:
    result["binary"] = binaries.split("=", 1)[1]
json.dump(result, open(sys.argv[2], "w"), indent=1)
with open(sys.argv[3], "w") as out:
    out.write("# Idle connections through `wirenet up --serve` (perf/cli-conn-memory.sh)\n\n")
    out.write("%d idle connections per run from a wireguard-go + Linux peer; growth of `wirenet up`'s memory per connection "
              "(smaps_rollup, after minus before); commit %s; machine: %d cores, load %s. %s\n\n"
              % (connections, commit, machine["cores"], " ".join(machine["loadavg"]), note))
    if not single:
        out.write("Builds, interleaved run by run: %s\n\n" % ", ".join("%s = `%s`" % tuple(e.split("=", 1)) for e in binaries.split()))
    out.write("| run | build | held | RSS | PSS | private | anonymous | kernel slab (machine-wide, 3 sockets) | TCP socket slab (3 sockets) |\n|---|---|---|---|---|---|---|---|---|\n")
    for r in runs:
        p = r["per_connection_bytes"]
        out.write("| %d | %s | %d | %d B | %d B | %d B | %d B | %d B | %d B |\n" % (r["run"], r["binary_label"], r["service_held"], p["rss"], p["pss"],
                  p["private"], p["anonymous"], p["kernel_slab_machine_wide"], p["kernel_slab_by_cache"].get("TCP", 0)))
    for label in labels:
        s = summaries[label]
        out.write("| **median (min–max)** | **%s** | | %s |\n" % (label, " | ".join("%d B (%d–%d)" % (s[k]["median"], s[k]["min"], s[k]["max"])
                  for k in ("rss", "pss", "private", "anonymous", "kernel_slab_machine_wide", "kernel_tcp_socket_slab"))))
    out.write("\n")
    for label in labels:
        last = [r for r in runs if r["binary_label"] == label][-1]
        out.write("Growth per mapping (%s, last run, bytes per connection): %s\n\n" % (label, json.dumps(last["per_connection_bytes"]["by_mapping"])))
print(open(sys.argv[3]).read())
PY
echo "cli-conn-memory: results in $RESULTS/$stamp-cli-conn-memory.json and .md"
