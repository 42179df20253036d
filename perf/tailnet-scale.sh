#!/usr/bin/env bash
# Tailnet scale (issue 11): how a WireNet node copes with a large netmap.
#
#   perf/tailnet-scale.sh             results in perf/results/<stamp>-tailnet-scale.txt
#   PEERS=20000 perf/tailnet-scale.sh
#   WIRENET_BIN=PATH perf/tailnet-scale.sh   (default: builds this checkout's release wirenet)
#
# Runs the Go test control server (scripts/testcontrol.sh) on loopback with PEERS synthetic peers,
# then `wirenet up` (release build, with libwirenetcontrol.so beside it) joins it, and measures:
#   - the first netmap: JSON decode, peer-table fold and engine apply times (the node's own log),
#     and the time from start to `ready` next to the same with an empty tailnet;
#   - later deltas: one peer added, one removed (admin API), decode + fold + apply each;
#   - memory: the node's resident set with PEERS peers minus with none, per peer, split into the
#     Go helper's heap (its arena mappings at 0xc0…) and the rest (Swift, glibc, Go runtime metadata).
# Synthetic peers' endpoints are in 198.18.0.0/15 (RFC 2544); nothing is sent to them: WireGuard
# installs a peer only when traffic needs it. Loopback only.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
peers="${PEERS:-10000}"
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$repo/perf/results/$stamp-tailnet-scale.txt"
work="$(mktemp -d /tmp/tn-scale-XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

if [ -z "${WIRENET_BIN:-}" ]; then
    (cd "$repo" && swift build -c release --traits CLI --product wirenet >/dev/null)
    WIRENET_BIN="$repo/.build/release/wirenet"
fi
"$repo/scripts/build-control-helper.sh" >/dev/null
[ -f "$(dirname "$WIRENET_BIN")/libwirenetcontrol.so" ] || cp "$repo/.build/control-helper/libwirenetcontrol.so" "$(dirname "$WIRENET_BIN")/"
echo tskey-scale > "$work/key"

# start_control N: a control server with N synthetic peers; sets $url.
start_control() {
    "$repo/scripts/testcontrol.sh" --listen 127.0.0.1:0 --authkey tskey-scale --synthetic-peers "$1" \
        >"$work/control-$1.out" 2>"$work/control-$1.err" &
    pids+=($!)
    for _ in $(seq 600); do grep -q '^ready ' "$work/control-$1.out" 2>/dev/null && break; sleep 0.1; done
    url="$(awk '/^ready /{print $2}' "$work/control-$1.out")"
    [ -n "$url" ] || { echo "testcontrol did not start"; cat "$work/control-$1.err"; exit 1; }
}

# start_node NAME: wirenet up against $url; sets $node_pid and $ready_ms.
start_node() {
    local begin end
    begin=$(date +%s%N)
    "$WIRENET_BIN" up --control-url "$url" --authkey-file "$work/key" --hostname "$1" --state "$work/$1" \
        --control-socket "$work/$1.sock" --log-level debug >"$work/$1.out" 2>"$work/$1.err" &
    node_pid=$!
    pids+=($node_pid)
    for _ in $(seq 600); do grep -q '^ready ' "$work/$1.out" 2>/dev/null && break; sleep 0.01; done
    end=$(date +%s%N)
    grep -q '^ready ' "$work/$1.out" || { echo "$1 did not get ready"; tail -20 "$work/$1.err"; exit 1; }
    ready_ms=$(( (end - begin) / 1000000 ))
}

# rss PID: "total_kB go_kB other_kB" from smaps (Go's heap arenas start at 0xc000000000).
rss() {
    awk '/^[0-9a-f]+-/{m=$1} /^Rss:/{ if (m ~ /^c0/) go+=$2; else other+=$2 } END {print go+other, go+0, other+0}' "/proc/$1/smaps"
}

# field FILE MESSAGE KEY N: KEY's value in the Nth log line with MESSAGE (the node's structured log).
field() {
    grep -a "\] $2\$" "$1" | sed -n "${4}p" | grep -o "$3=[0-9.]*" | cut -d= -f2
}

start_control 0
start_node empty
sleep 2
read -r empty_total empty_go empty_other < <(rss "$node_pid")
empty_ready=$ready_ms

start_control "$peers"
start_node large
sleep 3
read -r large_total large_go large_other < <(rss "$node_pid")
large_ready=$ready_ms
decode=$(grep -a "peers=$((peers)) " "$work/large.err" | grep -o "decodeMilliseconds=[0-9.]*" | head -1 | cut -d= -f2)
decode=${decode:-$(grep -a "full=true" "$work/large.err" | grep -o "decodeMilliseconds=[0-9.]*" | head -1 | cut -d= -f2)}
fold=$(grep -a "full=true" "$work/large.err" | grep -o "foldMilliseconds=[0-9.]*" | head -1 | cut -d= -f2)
apply=$(grep -a "netmap applied" "$work/large.err" | grep -o "milliseconds=[0-9.]*" | head -1 | cut -d= -f2)

# Deltas: add one synthetic peer, then remove it again.
lines_before=$(grep -ac "\] netmap\$" "$work/large.err")
curl -sf -X POST "$url/test/synthetic?count=1" >/dev/null
for _ in $(seq 100); do [ "$(grep -ac "\] netmap\$" "$work/large.err")" -gt "$lines_before" ] && break; sleep 0.05; done
sleep 0.2
added=$(grep -a "\] netmap\$" "$work/large.err" | tail -1)
added_apply=$(grep -a "netmap applied" "$work/large.err" | tail -1 | grep -o "milliseconds=[0-9.]*" | cut -d= -f2)
newest=$(curl -sf "$url/test/nodes?synthetic=1" | python3 -c 'import json,sys; print(max(n["id"] for n in json.load(sys.stdin)))')
lines_before=$(grep -ac "\] netmap\$" "$work/large.err")
curl -sf -X DELETE "$url/test/nodes?id=$newest" >/dev/null
for _ in $(seq 100); do [ "$(grep -ac "\] netmap\$" "$work/large.err")" -gt "$lines_before" ] && break; sleep 0.05; done
sleep 0.2
removed=$(grep -a "\] netmap\$" "$work/large.err" | tail -1)
removed_apply=$(grep -a "netmap applied" "$work/large.err" | tail -1 | grep -o "milliseconds=[0-9.]*" | cut -d= -f2)

per_peer() { echo "scale=0; ($1 - $2) * 1024 / $peers" | bc; }
{
    echo "# Tailnet scale, $stamp, $(nproc) cores, $peers synthetic peers, release wirenet"
    echo "note: ${NOTE:-}"
    echo
    echo "first netmap ($peers peers):"
    echo "  JSON decode              ${decode} ms"
    echo "  peer table fold          ${fold} ms"
    echo "  engine apply             ${apply} ms  (disco keys, policy; WireGuard peers are installed on demand)"
    echo "  start to ready           ${large_ready} ms  (empty tailnet: ${empty_ready} ms)"
    echo
    echo "deltas:"
    echo "  one peer added           decode $(echo "$added" | grep -o 'decodeMilliseconds=[0-9.]*' | cut -d= -f2) ms, fold $(echo "$added" | grep -o 'foldMilliseconds=[0-9.]*' | cut -d= -f2) ms, apply ${added_apply} ms"
    echo "  one peer removed         decode $(echo "$removed" | grep -o 'decodeMilliseconds=[0-9.]*' | cut -d= -f2) ms, fold $(echo "$removed" | grep -o 'foldMilliseconds=[0-9.]*' | cut -d= -f2) ms, apply ${removed_apply} ms"
    echo
    echo "memory (resident, kB):        total    go-heap   other"
    echo "  empty tailnet             $empty_total  $empty_go  $empty_other"
    echo "  $peers peers              $large_total  $large_go  $large_other"
    echo "  per idle peer (bytes)     $(per_peer "$large_total" "$empty_total")  $(per_peer "$large_go" "$empty_go")  $(per_peer "$large_other" "$empty_other")"
} | tee "$out"
echo "tailnet-scale: wrote $out"
