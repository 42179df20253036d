#!/usr/bin/env bash
# SYN flood against `wirenet up --serve` from one WireGuard peer while a second peer opens
# connections (issue 14's target): the second peer's success rate and set-up times, the node's RSS
# before, during and after the flood, and how long the flood's half-open connections outlive it.
#
#   sudo perf/floods/synflood.sh        (WIRENET_BIN=path to use a built wirenet; default: release build)
#
# Topology (three namespaces; underlay and tunnel in 10.235.0.0/16):
#   sf-a (peer A: wireguard-go, raw SYN sender)  10.235.1.2 ── 10.235.1.1  sf-n (node: wirenet up --serve
#   sf-b (peer B: wireguard-go, connect() timer) 10.235.2.2 ── 10.235.2.1        tcp:8080=127.0.0.1:8000)
#   tunnel: node 10.235.100.1, A 10.235.100.2, B 10.235.100.3
# A's kernel must not answer the node's SYN,ACKs with RSTs (that would end each half-open connection
# at once): an nftables rule in sf-a drops its outgoing RSTs, as a real flood's spoofed or silent
# sources do.
# Environment: RUNS (3), CONNECTIONS (1000), FLOOD_WARMUP (seconds of flood before peer B starts, 10),
# FLOOD_SECONDS (upper bound on the flood, 120), RESULTS (results directory, perf/results).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib/wgpeer.sh
. "$repo/perf/lib/wgpeer.sh"
wgpeer_require_tools synflood nft python3
RUNS="${RUNS:-3}"
CONNECTIONS="${CONNECTIONS:-1000}"
FLOOD_WARMUP="${FLOOD_WARMUP:-10}"
FLOOD_SECONDS="${FLOOD_SECONDS:-120}"
RESULTS="${RESULTS:-$repo/perf/results}"
if [ -z "${WIRENET_BIN:-}" ]; then
    (cd "$repo" && swift build -c release --traits CLI --product wirenet >/dev/null)
    WIRENET_BIN="$repo/.build/release/wirenet"
fi
py=/usr/bin/python3

work="$(mktemp -d /tmp/sf-flood.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    wgpeer_delete_namespaces sf-n sf-a sf-b
    rm -rf "$work"
}
trap cleanup EXIT

wgpeer_namespaces sf-n sf-a sf-b
wgpeer_link sf-n sf-na 10.235.1.1/30 sf-a sf-an 10.235.1.2/30
wgpeer_link sf-n sf-nb 10.235.2.1/30 sf-b sf-bn 10.235.2.2/30

node_pub="$(wgpeer_key node)"
cat >"$work/node.conf" <<CONF
[Interface]
PrivateKey = $(cat "$work/node.key")
Address = 10.235.100.1/32
ListenPort = 51820
CONF
chmod 600 "$work/node.conf"
# The peers: wireguard-go in sf-a and sf-b, each with the node as its only peer.
for side in a b; do
    pub="$(wgpeer_key "$side")"
    n=$([ "$side" = a ] && echo 1 || echo 2); host=$([ "$side" = a ] && echo 2 || echo 3)
    cat >>"$work/node.conf" <<CONF
[Peer]
PublicKey = $pub
AllowedIPs = 10.235.100.$host/32
Endpoint = 10.235.$n.2:51821
CONF
    dev="wnsf${side}$$"; dev="${dev:0:15}"
    wgpeer_start "sf-$side" "$dev" "$side" 51821 "$node_pub" 10.235.100.1 "10.235.$n.1:51820" "10.235.100.$host/24"
done
ip netns exec sf-a nft -f - <<'NFT'
table inet synflood {
    chain out { type filter hook output priority 0; tcp flags & rst == rst drop; }
}
NFT

# The served service: accepts and closes.
ip netns exec sf-n "$py" -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8000)); s.listen(4096)
while True:
    c, _ = s.accept(); c.close()
' >/dev/null 2>&1 &
pids+=($!)

status_json() { ip netns exec sf-n "$WIRENET_BIN" status --json --socket "$work/node.sock" 2>/dev/null || echo '{}'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
field() { "$py" -c 'import json, sys
d = json.loads(sys.argv[1] or "{}")
if "tcpConnections" not in d: print("invalid"); sys.exit()
for key in sys.argv[2].split("."): d = d.get(key) if isinstance(d, dict) else None
print(0 if d is None else d)' "$1" "$2"; }

: >"$work/runs.jsonl"
for run in $(seq "$RUNS"); do
    ip netns exec sf-n "$WIRENET_BIN" up --config "$work/node.conf" --control-socket "$work/node.sock" \
        --serve tcp:8080=127.0.0.1:8000 --log-level error >"$work/node.out" 2>&1 &
    node=$!
    pids+=("$node")
    for _ in $(seq 100); do grep -q ready "$work/node.out" && break; sleep 0.1; done
    grep -q ready "$work/node.out" || { echo "synflood: wirenet up did not start"; cat "$work/node.out"; exit 1; }
    for side in a b; do
        wgpeer_wait_reachable "sf-$side" 10.235.100.1 || {
            echo "synflood: peer $side cannot reach the node"; cat "$work/node.out"; exit 1; }
    done
    # Warm-up: the handshakes are done and the listener has served a few connections.
    ip netns exec sf-b "$py" "$here/synflood.py" connect 10.235.100.1 8080 20 >/dev/null
    sleep 1
    rss_before="$(rss_kib "$node")"

    ( while kill -0 "$node" 2>/dev/null; do rss_kib "$node"; sleep 0.2; done ) >"$work/rss.txt" 2>/dev/null &
    sampler=$!
    ip netns exec sf-a "$py" "$here/synflood.py" flood 10.235.100.2 10.235.100.1 8080 "$FLOOD_SECONDS" >"$work/flood.out" 2>&1 &
    flood=$!
    sleep "$FLOOD_WARMUP"
    during="$(status_json)"
    connect="$(ip netns exec sf-b "$py" "$here/synflood.py" connect 10.235.100.1 8080 "$CONNECTIONS")"
    during_end="$(status_json)"
    kill -INT "$flood" 2>/dev/null || true
    wait "$flood" 2>/dev/null || true
    flood_end="$(date +%s.%N)"
    # How long the flood's half-open connections (SYN-RECEIVED) outlive it.
    gone=""
    for _ in $(seq 240); do
        after="$(status_json)"
        if [ "$(field "$after" tcpConnectionsByState.SYN-RECEIVED)" = 0 ]; then
            gone="$(awk -v a="$flood_end" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
            break
        fi
        sleep 0.25
    done
    sleep 2
    rss_after="$(rss_kib "$node")"
    after="$(status_json)"
    kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
    rss_max="$(sort -n "$work/rss.txt" | tail -1)"
    sent="$(tail -1 "$work/flood.out")"
    kill -INT "$node"; wait "$node" 2>/dev/null || true

    "$py" - "$run" "$connect" "$during" "$during_end" "$after" "$sent" "$rss_before" "$rss_max" "$rss_after" "${gone:-null}" \
        >>"$work/runs.jsonl" <<'PY'
import json, re, sys
run, connect, during, during_end, after, sent, before, peak, after_rss, gone = sys.argv[1:]
during, during_end, after = (json.loads(x or "{}") for x in (during, during_end, after))
m = re.search(r"sent (\d+) in ([\d.]+) s", sent)
listeners = lambda d: d.get("tcpListeners", {})
states = lambda d: d.get("tcpConnectionsByState", {})
print(json.dumps({
    "run": int(run), "client": json.loads(connect),
    "flood_sent": int(m.group(1)) if m else None, "flood_seconds": float(m.group(2)) if m else None,
    "flood_rate_per_s": round(int(m.group(1)) / float(m.group(2))) if m else None,
    "syn_received_during": states(during).get("SYN-RECEIVED", 0),
    "connections_during": during.get("tcpConnections"),
    "syn_cookies_sent_during_client": listeners(during_end).get("synCookiesSent", 0) - listeners(during).get("synCookiesSent", 0),
    "listeners_after": listeners(after), "states_after": states(after), "connections_after": after.get("tcpConnections"),
    "half_open_gone_after_s": None if gone == "null" else float(gone),
    "rss_kib": {"before": int(before), "max_during": int(peak), "after": int(after_rss)},
}))
PY
    echo "synflood: run $run: $(tail -1 "$work/runs.jsonl")"
    sleep 2
done

stamp="$(date -u +%Y-%m-%dT%H%MZ)"
mkdir -p "$RESULTS"
"$py" - "$work/runs.jsonl" "$RESULTS/$stamp-synflood.json" "$RESULTS/$stamp-synflood.md" "$CONNECTIONS" <<'PY'
import json, statistics, subprocess, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
summary = {
    "success_percent": med([100 * r["client"]["ok"] / r["client"]["connections"] for r in runs]),
    "p50_ms": med([r["client"]["p50_ms"] for r in runs]),
    "p99_ms": med([r["client"]["p99_ms"] for r in runs]),
    "flood_rate_per_s": med([r["flood_rate_per_s"] for r in runs]),
    "syn_cookies_per_s_during_client": med([r["syn_cookies_sent_during_client"] / max(r["client"]["seconds"], 0.001) for r in runs]),
    "syn_received_during": med([r["syn_received_during"] for r in runs]),
    "rss_before_kib": med([r["rss_kib"]["before"] for r in runs]),
    "rss_max_during_kib": med([r["rss_kib"]["max_during"] for r in runs]),
    "rss_after_kib": med([r["rss_kib"]["after"] for r in runs]),
    "half_open_gone_after_s": med([r["half_open_gone_after_s"] for r in runs]),
    "connections_after": med([r["connections_after"] for r in runs]),
}
machine = {"cores": int(subprocess.run(["nproc"], capture_output=True, text=True).stdout),
           "loadavg": open("/proc/loadavg").read().split()[:3]}
json.dump({"runs": runs, "median": summary, "machine": machine, "connections": int(sys.argv[4])},
          open(sys.argv[2], "w"), indent=1)
def f(v, fmt="%.1f"):
    return "–" if v is None else fmt % v
with open(sys.argv[3], "w") as out:
    out.write("# SYN flood against `wirenet up --serve` (perf/floods/synflood.sh)\n\n")
    out.write("Median of %d runs; %d connections per run from peer B during the flood; machine: %d cores, load %s.\n\n"
              % (len(runs), int(sys.argv[4]), machine["cores"], " ".join(machine["loadavg"])))
    out.write("| run | flood (SYN/s sent) | B ok | p50 set-up | p99 set-up | SYN-RECEIVED during | cookies/s | RSS before / max / after | half-open gone after | connections after |\n")
    out.write("|---|---|---|---|---|---|---|---|---|---|\n")
    for r in runs:
        c = r["client"]
        out.write("| %d | %s | %d / %d | %s ms | %s ms | %d | %s | %s / %s / %s MiB | %s s | %s |\n" % (
            r["run"], f(r["flood_rate_per_s"], "%.0f"), c["ok"], c["connections"], f(c["p50_ms"], "%.2f"),
            f(c["p99_ms"], "%.2f"), r["syn_received_during"],
            f(r["syn_cookies_sent_during_client"] / max(c["seconds"], 0.001), "%.0f"),
            f(r["rss_kib"]["before"] / 1024), f(r["rss_kib"]["max_during"] / 1024), f(r["rss_kib"]["after"] / 1024),
            f(r["half_open_gone_after_s"]), r["connections_after"]))
    s = summary
    out.write("| **median** | %s | %s %% | %s ms | %s ms | %s | %s | %s / %s / %s MiB | %s s | %s |\n" % (
        f(s["flood_rate_per_s"], "%.0f"), f(s["success_percent"], "%.2f"), f(s["p50_ms"], "%.2f"), f(s["p99_ms"], "%.2f"),
        f(s["syn_received_during"], "%.0f"), f(s["syn_cookies_per_s_during_client"], "%.0f"),
        f(s["rss_before_kib"] / 1024), f(s["rss_max_during_kib"] / 1024), f(s["rss_after_kib"] / 1024),
        f(s["half_open_gone_after_s"]), f(s["connections_after"], "%.0f")))
print(open(sys.argv[3]).read())
PY
echo "synflood: results in $RESULTS/$stamp-synflood.json and .md"
