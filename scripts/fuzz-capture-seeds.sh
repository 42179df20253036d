#!/usr/bin/env bash
# Fuzz seeds from real traffic (issue 17, "corpora from real captures"): two wireguard-go peers in
# network namespaces of our own, Linux TCP and ping through their tunnel, captured with tcpdump, and
# the packets turned into seed programs for FuzzWireGuardDevice, FuzzNetStack and FuzzNetStackStream
# by scripts/fuzz-seeds-from-capture.py. Nobody here wrote these peers: wireguard-go makes the WireGuard
# datagrams, the Linux kernel the TCP segments (SYN options, timestamps, window scaling, SACK).
#
# The peers use the fuzz targets' fixed keys and addresses (Fuzz/Sources/FuzzWireGuardDevice): peer A
# has the harness's `local` key (32 bytes of 0x11) on 10.250.99.1:51820, tunnel address 100.64.99.1;
# peer B the `remote` key (0x22) on 10.250.99.2:51820, 100.64.99.2. B starts every exchange, so its
# handshake initiation is valid for the harness's local device (mac1 and the static key check pass).
# Traffic, all from B to A: ping, curl downloading a file from an HTTP server on A while 5 % of A's
# download packets are dropped in front of B's TCP (so B's kernel sends SACK blocks), and an iperf3
# upload.
#
#   sudo scripts/fuzz-capture-seeds.sh            captures, converts, writes seed files (capture-*)
#   KEEP_PCAP=DIR sudo scripts/fuzz-capture-seeds.sh   also keeps the two pcap files in DIR
# Needs root, wireguard-go, wg, tcpdump, curl, iperf3, ping, nft (scripts/bootstrap.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "fuzz-capture-seeds: needs root (network namespaces)" >&2; exit 1; }
for tool in wireguard-go wg tcpdump curl iperf3 ping nft python3; do
    command -v "$tool" >/dev/null || { echo "fuzz-capture-seeds: $tool missing (scripts/bootstrap.sh)" >&2; exit 1; }
done

a=wnfz-a
b=wnfz-b
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip netns pids "$a" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns pids "$b" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ip netns del "$a" 2>/dev/null || true
ip netns del "$b" 2>/dev/null || true

key_of() { python3 -c "import base64,sys; print(base64.b64encode(bytes([int(sys.argv[1], 16)] * 32)).decode())" "$1"; }
key_a="$(key_of 11)"
key_b="$(key_of 22)"
pub_a="$(echo "$key_a" | wg pubkey)"
pub_b="$(echo "$key_b" | wg pubkey)"

ip netns add "$a"
ip netns add "$b"
ip link add wnfz-va netns "$a" type veth peer name wnfz-vb netns "$b"
ip -n "$a" addr add 10.250.99.1/24 dev wnfz-va
ip -n "$b" addr add 10.250.99.2/24 dev wnfz-vb
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set wnfz-va up
ip -n "$b" link set wnfz-vb up

# wireguard-go daemonizes unless told not to; run it in the foreground, in the background of this shell.
# wireguard-go's control socket is /var/run/wireguard/<name>.sock, shared by all namespaces: each peer's
# interface has a name of its own. It daemonizes unless told not to; it runs in this shell's background.
start_peer() {  # namespace, interface, private key, peer public key, peer endpoint, own and peer tunnel address
    local ns="$1" dev="$2"
    WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" wireguard-go "$dev" >"$work/wireguard-go-$ns.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do [ -S "/var/run/wireguard/$dev.sock" ] && break; sleep 0.1; done
    echo "$3" >"$work/$ns.key"
    ip netns exec "$ns" wg set "$dev" private-key "$work/$ns.key" listen-port 51820 \
        peer "$4" endpoint "$5:51820" allowed-ips "$7/32"
    # MTU 1000: every tunnelled packet fits in one FuzzNetStack record (at most 1020 bytes).
    ip -n "$ns" link set "$dev" mtu 1000 up
    ip -n "$ns" addr add "$6/24" dev "$dev"
}
start_peer "$a" wnfz-wga "$key_a" "$pub_b" 10.250.99.2 100.64.99.1 100.64.99.2
start_peer "$b" wnfz-wgb "$key_b" "$pub_a" 10.250.99.1 100.64.99.2 100.64.99.1

ip netns exec "$a" tcpdump -i wnfz-va -U -s 0 -w "$work/underlay.pcap" udp port 51820 2>"$work/tcpdump-underlay.log" &
pids+=($!)
ip netns exec "$a" tcpdump -i wnfz-wga -U -s 0 -w "$work/tunnel.pcap" 2>"$work/tcpdump-tunnel.log" &
pids+=($!)
sleep 1

# A's side: an HTTP server with a 300 KB file, an iperf3 server.
mkdir -p "$work/www"
head -c 300000 /dev/urandom >"$work/www/file"
(cd "$work/www" && exec ip netns exec "$a" python3 -m http.server --bind 100.64.99.1 8080 >"$work/http.log" 2>&1) &
pids+=($!)
ip netns exec "$a" iperf3 -s -B 100.64.99.1 -p 5201 >"$work/iperf3-server.log" 2>&1 &
pids+=($!)
sleep 1

ip netns exec "$b" ping -c 3 -i 0.2 100.64.99.1 >/dev/null
ip netns exec "$b" ping -c 2 -i 0.2 -s 900 100.64.99.1 >/dev/null
# Loss in front of B's TCP: B receives the download with holes and acknowledges with SACK blocks.
ip netns exec "$b" nft -f - <<'EOF'
table inet wnfz {
    chain in {
        type filter hook input priority 0; policy accept;
        iifname "wnfz-wgb" tcp sport 8080 numgen random mod 20 == 0 counter drop
    }
}
EOF
ip netns exec "$b" curl -s -o /dev/null --max-time 20 http://100.64.99.1:8080/file
ip netns exec "$b" nft list table inet wnfz | grep -o "counter packets [0-9]*" | sed "s/^/fuzz-capture-seeds: dropped (loss for SACK): /"
ip netns exec "$b" nft delete table inet wnfz
ip netns exec "$b" iperf3 -c 100.64.99.1 -p 5201 -n 200K >"$work/iperf3-client.log" 2>&1
sleep 1

kill "${pids[2]}" "${pids[3]}" 2>/dev/null || true  # the two tcpdumps: flush and close their files
wait "${pids[2]}" "${pids[3]}" 2>/dev/null || true
echo "fuzz-capture-seeds: captured $(stat -c %s "$work/underlay.pcap") bytes of WireGuard datagrams, $(stat -c %s "$work/tunnel.pcap") bytes of tunnel packets"
if [ -n "${KEEP_PCAP:-}" ]; then
    mkdir -p "$KEEP_PCAP"
    cp "$work/underlay.pcap" "$work/tunnel.pcap" "$KEEP_PCAP/"
fi
python3 scripts/fuzz-seeds-from-capture.py "$work/underlay.pcap" "$work/tunnel.pcap"
