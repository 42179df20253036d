#!/usr/bin/env bash
# Floods against a running WireNet node from another network namespace, while a legitimate peer
# downloads through the tunnel; prints the peer's goodput under each flood next to the quiet baseline.
#
#   sudo perf/floods/run.sh            (WIRENET_BIN=path to use a built wirenet; default: release build)
#
# Topology (three namespaces, all traffic stays inside them):
#   rl-fp (peer: wirenet up --forward, curl)  10.235.51.2 ── 10.235.51.1  rl-fn (node: wirenet up --serve,
#   rl-fa (attacker: perf/floods/flood.py)     10.235.51.6 ── 10.235.51.5         python http.server)
# Floods (flood.py): garbage UDP, initiations with invalid mac1, with valid mac1 (cookie mode),
# with valid mac1+mac2 (a cookie answered: the per-source rate limit), replayed transport datagrams;
# and `closed-port`, the valid-mac1 flood sent to a port nobody listens on (the node's kernel answers
# with rate-limited ICMP): what the attacker's CPU and the kernel's receive path alone cost the
# peer, a floor no change in the node can lift.
# Environment: SIZE_MB (download size, 256), FLOOD_SECONDS (upper bound per flood, 60),
# PROFILE_MODE (a flood to profile the node under with perf for 5 s), MODES (the floods to run),
# NODE_ARGS (more `wirenet up` options for the node, e.g. `--transport portable`), NOTE (a line
# for the results file, e.g. the machine's load), TAG (added to the results file's name),
# ATTACKER (python: flood.py sends, one sendto per datagram; c: flood.py prepares the datagrams and
# perf/floods/blast.c sends them with sendmmsg, more datagrams per second of CPU).
# Everything printed also goes to perf/results/floods/<time>[-TAG].txt.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "floods: run as root (network namespaces)" >&2; exit 1; }
. "$here/../lib/packages.sh"
# tcpdump captures the transport datagrams the replay flood sends; gcc builds the C attacker.
ensure_packages floods iproute2 curl python3 tcpdump gcc libc6-dev
SIZE_MB="${SIZE_MB:-256}"
FLOOD_SECONDS="${FLOOD_SECONDS:-60}"
if [ -z "${WIRENET_BIN:-}" ]; then
    (cd "$repo" && swift build -c release --traits CLI --product wirenet >/dev/null)
    WIRENET_BIN="$repo/.build/release/wirenet"
fi

mkdir -p "$repo/perf/results/floods"
results_file="$repo/perf/results/floods/$(date -u +%Y-%m-%dT%H%MZ)${TAG:+-$TAG}.txt"
exec > >(tee "$results_file") 2>&1
ATTACKER="${ATTACKER:-python}"
echo "floods: $(date -u +%Y-%m-%dT%H:%MZ), wirenet $WIRENET_BIN (commit $(cd "$repo" && git rev-parse --short HEAD)), SIZE_MB=$SIZE_MB, MODES=${MODES:-all}, NODE_ARGS=${NODE_ARGS:-}, ATTACKER=$ATTACKER"
[ -z "${NOTE:-}" ] || echo "NOTE=$NOTE"
work="$(mktemp -d /tmp/rl-floods.XXXXXX)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    # Not a bare `wait`: that would also wait for the tee of the results file, which ends only
    # when this script does.
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    for ns in rl-fn rl-fp rl-fa; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
blast_args=()
case "$ATTACKER" in
    python) ;;
    c) gcc -O2 -Wall -o "$work/blast" "$here/blast.c"; blast_args=(--blast "$work/blast") ;;
    *) echo "floods: ATTACKER is python or c, not $ATTACKER" >&2; exit 1 ;;
esac

for ns in rl-fn rl-fp rl-fa; do ip netns del "$ns" 2>/dev/null || true; ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add rl-fnp type veth peer name rl-fpn
ip link set rl-fnp netns rl-fn; ip link set rl-fpn netns rl-fp
ip link add rl-fna type veth peer name rl-fan
ip link set rl-fna netns rl-fn; ip link set rl-fan netns rl-fa
ip -n rl-fn addr add 10.235.51.1/30 dev rl-fnp; ip -n rl-fn link set rl-fnp up
ip -n rl-fp addr add 10.235.51.2/30 dev rl-fpn; ip -n rl-fp link set rl-fpn up
ip -n rl-fn addr add 10.235.51.5/30 dev rl-fna; ip -n rl-fn link set rl-fna up
ip -n rl-fa addr add 10.235.51.6/30 dev rl-fan; ip -n rl-fa link set rl-fan up

node_key="$("$WIRENET_BIN" genkey)"; peer_key="$("$WIRENET_BIN" genkey)"
node_pub="$(echo "$node_key" | "$WIRENET_BIN" pubkey)"; peer_pub="$(echo "$peer_key" | "$WIRENET_BIN" pubkey)"
umask 077
cat >"$work/node.conf" <<CONF
[Interface]
PrivateKey = $node_key
Address = 100.64.55.1/32
ListenPort = 51820
[Peer]
PublicKey = $peer_pub
AllowedIPs = 100.64.55.2/32
CONF
cat >"$work/peer.conf" <<CONF
[Interface]
PrivateKey = $peer_key
Address = 100.64.55.2/32
[Peer]
PublicKey = $node_pub
Endpoint = 10.235.51.1:51820
AllowedIPs = 100.64.55.1/32
CONF
umask 022
mkdir -p "$work/site"
truncate -s "${SIZE_MB}M" "$work/site/big"

ip netns exec rl-fn python3 -m http.server 8000 --bind 127.0.0.1 --directory "$work/site" >/dev/null 2>&1 &
pids+=($!)
ip netns exec rl-fn "$WIRENET_BIN" up --config "$work/node.conf" --control-socket "$work/node.sock" \
    --serve tcp:8080=127.0.0.1:8000 --log-level error ${NODE_ARGS:-} >"$work/node.out" 2>&1 &
pids+=($!)
ip netns exec rl-fp "$WIRENET_BIN" up --config "$work/peer.conf" --control-socket "$work/peer.sock" \
    --forward tcp:127.0.0.1:9000=100.64.55.1:8080 --log-level error >"$work/peer.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$work/node.out" && grep -q ready "$work/peer.out" && break; sleep 0.2; done
grep -q ready "$work/peer.out" || { echo "floods: wirenet up did not start"; cat "$work"/*.out; exit 1; }

node_pid="${pids[1]}"
# Datagrams the kernel dropped because the node's socket buffer was full, so far.
socket_drops() { ip netns exec rl-fn awk '/^Udp:/ { if (seen++) print $6 }' /proc/net/snmp; }
# Datagrams the kernel counted as receive errors, so far: those a socket filter dropped
# (SKB_DROP_REASON_SOCKET_FILTER counts as InErrors) and those the buffer overflow above counts again.
receive_errors() { ip netns exec rl-fn awk '/^Udp:/ { if (seen++) print $4 }' /proc/net/snmp; }
# CPU seconds (user + system) the node has used so far.
node_cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$node_pid/stat"; }

# Goodput of one download through the tunnel, in Mbit/s.
goodput() {
    { ip netns exec rl-fp curl -sS -o /dev/null --max-time 120 -w '%{speed_download}' http://127.0.0.1:9000/big \
        2>>"$work/curl.err" || true; } \
        | awk '{ printf "%.0f", $1 * 8 / 1e6 }'
}

# Transport datagrams from the peer for the replay flood.
# The first downloads may fail while the tunnel comes up on a loaded machine (curl: empty reply from
# the forwarder): warm up until one succeeds (the capture ends at 200 datagrams), and take the
# baseline from a download that succeeded.
ip netns exec rl-fn timeout 30 tcpdump -i rl-fnp -w "$work/transport.pcap" -c 200 'udp dst port 51820 and greater 200' \
    >/dev/null 2>&1 &
capture=$!
sleep 0.5
echo "floods: warming up"
for _ in 1 2 3 4 5; do [ "$(goodput)" -gt 0 ] 2>/dev/null && break; sleep 1; done
wait "$capture" || true
case " ${MODES:-replay} " in *" replay "*)
    [ -s "$work/transport.pcap" ] || { echo "floods: no transport datagrams captured for the replay flood"; exit 1; } ;;
esac
for _ in 1 2 3; do
    cpu0="$(node_cpu)"; t0="$(date +%s.%N)"
    base="$(goodput)"
    [ "${base:-0}" -gt 0 ] && break
done
cpu_base="$(awk -v a="$cpu0" -v b="$(node_cpu)" -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.0f", (b - a) / (t1 - t0) * 100 }')"
echo "floods: quiet baseline ${base} Mbit/s, node CPU ${cpu_base} %"
results=("| none (baseline) | – | ${base} Mbit/s | 100 % | ${cpu_base} % | – | – |")
for mode in ${MODES:-garbage init-nomac init-mac1 init-mac2 replay}; do
    flood_mode="$mode"; port=51820
    if [ "$mode" = closed-port ]; then flood_mode=init-mac1; port=51821; fi
    ip netns exec rl-fa python3 "$here/flood.py" "$flood_mode" 10.235.51.5 "$port" "$FLOOD_SECONDS" \
        --peer-key "$node_pub" --pcap "$work/transport.pcap" "${blast_args[@]}" >"$work/flood.out" 2>&1 &
    flood=$!
    sleep 2
    if [ "${PROFILE_MODE:-}" = "$mode" ]; then
        # perf exits with its workload's SIGTERM status (143) here: not a failure of the run.
        perf record -g -p "$node_pid" -o "$work/perf.data" -- sleep 5 >/dev/null 2>&1 || true
        perf report -i "$work/perf.data" --no-children --percent-limit 2 --stdio 2>/dev/null | grep -E "^ +[0-9]" | head -25 || true
    fi
    cpu0="$(node_cpu)"; t0="$(date +%s.%N)"; drops0="$(socket_drops)"; errors0="$(receive_errors)"
    rate="$(goodput)"
    drops=$(( $(socket_drops) - drops0 ))
    filtered=$(( $(receive_errors) - errors0 - drops ))
    cpu="$(awk -v a="$cpu0" -v b="$(node_cpu)" -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.0f", (b - a) / (t1 - t0) * 100 }')"
    kill -INT "$flood" 2>/dev/null || true
    wait "$flood" 2>/dev/null || true
    sent="$(tail -1 "$work/flood.out")"
    if ! kill -0 "${pids[1]}" 2>/dev/null; then echo "floods: the node exited:"; cat "$work/node.out"; exit 1; fi
    share=$(( base > 0 ? rate * 100 / base : 0 ))
    echo "floods: $mode: ${rate} Mbit/s (${share} % of baseline), node CPU ${cpu} %, socket buffer overflows ${drops}, socket filter drops ${filtered}; attacker: $sent"
    results+=("| $mode | $sent | ${rate} Mbit/s | ${share} % | ${cpu} % | ${drops} | ${filtered} |")
    sleep 2
done
status="$(ip netns exec rl-fn "$WIRENET_BIN" status --socket "$work/node.sock" || true)"
if [ -s "$work/curl.err" ]; then echo "curl errors:"; sed 's/^/    /' "$work/curl.err"; fi

echo
echo "| flood | attacker ($ATTACKER, one process) | peer goodput | of baseline | node CPU | socket buffer overflows | socket filter drops |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
echo
echo "node status afterwards:"
echo "$status" | sed 's/^/    /'
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
