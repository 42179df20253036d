# Sourced by perf scripts (perf/floods/synflood.sh, perf/cli-conn-memory.sh): network namespaces
# joined by veth pairs, and wireguard-go peers of a `wirenet up` node — each a TUN device in its own
# namespace with the Linux TCP/IP stack behind it.
#
# The sourcing script sets, before calling these:
#   WIRENET_BIN  the wirenet binary (its genkey/pubkey make the keys)
#   work         a private scratch directory (keys, wireguard-go logs)
#   pids         an array; each wireguard-go process started is appended, for the script's cleanup
# and removes its namespaces with wgpeer_delete_namespaces in its EXIT trap.

wgpeer_require_tools() {  # wgpeer_require_tools SCRIPT TOOL...: root and the tools, or exit
    local script="$1"; shift
    [ "$(id -u)" -eq 0 ] || { echo "$script: run as root (network namespaces)" >&2; exit 1; }
    for tool in ip wireguard-go wg "$@"; do
        command -v "$tool" >/dev/null || { echo "$script: needs $tool (scripts/bootstrap.sh)" >&2; exit 1; }
    done
}

wgpeer_namespaces() {  # wgpeer_namespaces NS...: fresh namespaces (a stale one of the name is deleted), lo up
    for ns in "$@"; do
        ip netns del "$ns" 2>/dev/null || true
        ip netns add "$ns"
        ip -n "$ns" link set lo up
    done
}

wgpeer_delete_namespaces() {  # wgpeer_delete_namespaces NS...: for the EXIT trap (their veths go with them)
    for ns in "$@"; do ip netns del "$ns" 2>/dev/null || true; done
}

wgpeer_link() {  # wgpeer_link NS_A IF_A CIDR_A NS_B IF_B CIDR_B: a veth pair between two namespaces, addressed and up
    ip link add "$2" type veth peer name "$5"
    ip link set "$2" netns "$1"
    ip link set "$5" netns "$4"
    ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up
    ip -n "$4" addr add "$6" dev "$5"; ip -n "$4" link set "$5" up
}

wgpeer_key() {  # wgpeer_key NAME: a private key in $work/NAME.key (mode 600); prints its public key
    (umask 077; "$WIRENET_BIN" genkey >"$work/$1.key")
    "$WIRENET_BIN" pubkey <"$work/$1.key"
}

# wgpeer_start NS DEV KEYNAME LISTEN_PORT NODE_PUBLIC_KEY NODE_TUNNEL_IP NODE_ENDPOINT TUNNEL_CIDR
# wireguard-go in NS on a TUN device DEV (<= 15 characters, unique on the host: its UAPI socket
# /var/run/wireguard/DEV.sock is not per namespace), keyed with $work/KEYNAME.key, listening on
# LISTEN_PORT, with the node as its only peer (allowed IPs NODE_TUNNEL_IP/32, endpoint
# NODE_ENDPOINT, host:port), the device addressed TUNNEL_CIDR and up. Its log: $work/wg-DEV.out.
wgpeer_start() {
    local ns="$1" dev="$2" key="$3" port="$4" node_pub="$5" node_ip="$6" endpoint="$7" cidr="$8"
    ip netns exec "$ns" env WG_PROCESS_FOREGROUND=1 wireguard-go "$dev" >"$work/wg-$dev.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do [ -S "/var/run/wireguard/$dev.sock" ] && break; sleep 0.1; done
    [ -S "/var/run/wireguard/$dev.sock" ] || { echo "wireguard-go $dev did not start:" >&2; cat "$work/wg-$dev.out" >&2; return 1; }
    ip netns exec "$ns" wg set "$dev" private-key "$work/$key.key" listen-port "$port" \
        peer "$node_pub" allowed-ips "$node_ip/32" endpoint "$endpoint"
    ip -n "$ns" addr add "$cidr" dev "$dev"
    ip -n "$ns" link set "$dev" up
}

wgpeer_wait_reachable() {  # wgpeer_wait_reachable NS IP: pings IP from NS until it answers (the first handshake may wait for wireguard-go's 5 s retry)
    for _ in $(seq 20); do ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null && return 0; done
    ip netns exec "$1" ping -c 1 -W 2 "$2" >/dev/null
}
