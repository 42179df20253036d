#!/usr/bin/env bash
# Builds the examples under Examples/ and runs each against a real peer: wireguard-go in a network
# namespace, with curl and Python's http.server behind it (issue 16). Also checks the CLI's
# `wirenet up --metrics` and `--tun` against the same peer (they need the same namespace set-up).
#
#   Examples/run-tests.sh            build (scratch path under each example; EXAMPLES_JOBS=N limits jobs) and test
#   EXAMPLES_SKIP_BUILD=1 ...        test what is already built
#
# Needs root, wireguard-go, wg, curl, python3, sha256sum. Uses underlay 10.251.7.64/30, tunnel
# 100.65.8.0/24, names with the prefix "nbex"; everything is removed on exit, whatever happened.
set -euo pipefail
cd "$(dirname "$0")"
EXAMPLES_DIR=$(pwd)

for tool in wireguard-go wg curl python3 sha256sum ip; do
    command -v "$tool" >/dev/null || { echo "examples: missing $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "examples: needs root (network namespaces)" >&2; exit 1; }

build() {
    local example=$1
    echo "examples: building $example"
    (cd "$EXAMPLES_DIR/$example" && swift build ${EXAMPLES_JOBS:+-j "$EXAMPLES_JOBS"} --scratch-path .build 2>&1 | tail -3)
}
binary() { echo "$EXAMPLES_DIR/$1/.build/debug/$1"; }

if [ "${EXAMPLES_SKIP_BUILD:-0}" != 1 ]; then
    build HummingbirdOnTunnel
    build VaporOnTunnel
    build FetchOverTunnel
fi

NS=nbex$$
HOST_IF=nbexh$$
PEER_IF=nbexp$$
WG_IF=nbexwg$$
WORK=$(mktemp -d /tmp/nbex.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip link del "$HOST_IF" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
in_ns() { ip netns exec "$NS" "$@"; }
fail() { echo "examples: FAIL: $*" >&2; for f in "$WORK"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }

# Underlay: root 10.251.7.65 <-> namespace 10.251.7.66.
ip netns add "$NS"
in_ns ip link set lo up
ip link add "$HOST_IF" type veth peer name "$PEER_IF"
ip link set "$PEER_IF" netns "$NS"
ip addr add 10.251.7.65/30 dev "$HOST_IF"; ip link set "$HOST_IF" up
in_ns ip addr add 10.251.7.66/30 dev "$PEER_IF"; in_ns ip link set "$PEER_IF" up

NODE_KEY=$(wg genkey); PEER_KEY=$(wg genkey)
NODE_PUB=$(echo "$NODE_KEY" | wg pubkey); PEER_PUB=$(echo "$PEER_KEY" | wg pubkey)
NODE_PORT=51871
cat > "$WORK/node.conf" <<CONF
[Interface]
PrivateKey = $NODE_KEY
Address = 100.65.8.1/32
ListenPort = $NODE_PORT

[Peer]
PublicKey = $PEER_PUB
Endpoint = 10.251.7.66:51820
AllowedIPs = 100.65.8.2/32
CONF
echo "$PEER_KEY" > "$WORK/peer.key"

WG_PROCESS_FOREGROUND=1 ip netns exec "$NS" wireguard-go "$WG_IF" > "$WORK/wireguard-go.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -S "/var/run/wireguard/$WG_IF.sock" ] && break; sleep 0.05; done
in_ns wg set "$WG_IF" private-key "$WORK/peer.key" listen-port 51820 \
    peer "$NODE_PUB" allowed-ips 100.65.8.1/32 endpoint "10.251.7.65:$NODE_PORT"
in_ns ip addr add 100.65.8.2/24 dev "$WG_IF"
in_ns ip link set "$WG_IF" up

wait_for() { # what, command...
    local what=$1; shift
    for _ in $(seq 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    fail "timed out waiting for $what"
}
pattern_sha256() { python3 -c "import hashlib,sys; n=int(sys.argv[1]); b=bytes(range(251))*(n//251+1); print(hashlib.sha256(b[:n]).hexdigest())" "$1"; }

# --- Hummingbird and Vapor on the tunnel, each answering curl from the peer ----------------------------
# The same checks for both apps (same routes): a greeting, the sha256 of a 64 MiB download, 32 MiB
# streamed up and back at once, a client hanging up mid-body, 100 concurrent requests.
check_http_app() { # example name
    local app=$1
    [ -x "$(binary "$app")" ] || fail "$(binary "$app") is not built"
    "$(binary "$app")" "$WORK/node.conf" 80 > "$WORK/$app.log" 2>&1 &
    PIDS+=($!)
    local URL=http://100.65.8.1
    wait_for "the $app app on the tunnel" in_ns curl -sS --fail --max-time 1 "$URL/"
    [ "$(in_ns curl -sS --fail "$URL/")" = "hello from the tunnel" ] || fail "$app: GET / answered wrong"
    echo "examples: $app: GET / ok"

    local N=$((64 << 20)) got sent echoed codes expected
    got=$(in_ns curl -sS --fail --max-time 120 "$URL/bytes/$N" | sha256sum | cut -c1-64)
    [ "$got" = "$(pattern_sha256 $N)" ] || fail "$app: sha256 of GET /bytes/$N: $got"
    echo "examples: $app: 64 MiB download, sha256 ok"

    [ -f "$WORK/upload" ] || head -c $((32 << 20)) /dev/urandom > "$WORK/upload"
    sent=$(sha256sum < "$WORK/upload" | cut -c1-64)
    echoed=$(in_ns curl -sS --fail --max-time 120 -H 'Expect:' -H 'Transfer-Encoding: chunked' \
        --data-binary @"$WORK/upload" "$URL/echo" | sha256sum | cut -c1-64)
    [ "$echoed" = "$sent" ] || fail "$app: POST /echo of 32 MiB came back as $echoed, sent $sent"
    echo "examples: $app: 32 MiB streamed up and back, sha256 ok"

    in_ns curl -sS -o /dev/null --limit-rate 1M --max-time 2 "$URL/bytes/$((1 << 30))" 2>/dev/null || true
    wait_for "$app to count the aborted response" sh -c "[ \"\$(ip netns exec $NS curl -sS --fail $URL/aborted)\" = 1 ]"
    [ "$(in_ns curl -sS --fail "$URL/")" = "hello from the tunnel" ] || fail "$app: no answer after a client hung up mid-body"
    echo "examples: $app: client hung up mid-body, response ended, app goes on"

    local args=() i
    for i in $(seq 0 99); do args+=(-o /dev/null "$URL/bytes/$((100000 + i))"); done
    codes=$(in_ns curl -sS --no-progress-meter --fail --max-time 60 --parallel --parallel-immediate --parallel-max 100 \
        -w '%{http_code} %{size_download}\n' "${args[@]}" | sort)
    expected=$(for i in $(seq 0 99); do echo "200 $((100000 + i))"; done | sort)
    [ "$codes" = "$expected" ] || fail "$app: 100 concurrent requests: $(echo "$codes" | sort | uniq -c | head)"
    echo "examples: $app: 100 concurrent requests ok"
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
}
check_http_app HummingbirdOnTunnel
check_http_app VaporOnTunnel

# --- The CLI: `wirenet up --metrics` after a known transfer, and `wirenet up --tun` ------------------
WIRENET=${WIRENET:-$EXAMPLES_DIR/../.build/debug/wirenet}
if [ ! -x "$WIRENET" ]; then
    echo "examples: $WIRENET is not built (swift build --traits CLI --product wirenet): skipping the CLI checks"
elif ! "$WIRENET" --help >/dev/null 2>&1; then
    # Built without the CLI package trait: that wirenet only says how to build the real one.
    echo "examples: $WIRENET was built without the CLI trait (swift build --traits CLI --product wirenet): skipping the CLI checks"
else
    # A 10 MiB file on a loopback http.server, served on the tunnel by `--serve`, fetched by the peer.
    mkdir -p "$WORK/local"
    head -c $((10 << 20)) /dev/urandom > "$WORK/local/file"
    LOCAL_PORT=18931; METRICS_PORT=18932
    python3 -m http.server --bind 127.0.0.1 --directory "$WORK/local" $LOCAL_PORT > "$WORK/local-http.log" 2>&1 &
    PIDS+=($!)
    "$WIRENET" up --config "$WORK/node.conf" --control-socket "$WORK/wn.sock" \
        --serve "tcp:80=127.0.0.1:$LOCAL_PORT" --metrics "127.0.0.1:$METRICS_PORT" > "$WORK/wirenet-up.log" 2>&1 &
    PIDS+=($!)
    wait_for "wirenet up with --metrics" grep -q '^ready' "$WORK/wirenet-up.log"
    got=$(in_ns curl -sS --fail --max-time 60 http://100.65.8.1/file | sha256sum | cut -c1-64)
    [ "$got" = "$(sha256sum < "$WORK/local/file" | cut -c1-64)" ] || fail "--serve download: sha256 $got"
    metrics=$(curl -sS --fail "http://127.0.0.1:$METRICS_PORT/metrics")
    value() { echo "$metrics" | grep "^$1{peer=\"$PEER_PUB\"" | awk '{print $2}' | head -1; }
    sent=$(value wirenet_peer_sent_bytes_total); received=$(value wirenet_peer_received_bytes_total)
    handshakes=$(value wirenet_peer_handshakes_total)
    # WireGuard payloads: the 10 MiB body plus IP/TCP headers and HTTP, so at least 10 MiB sent;
    # the peer's request and ACKs came in; one handshake at least.
    python3 - "$sent" "$received" "$handshakes" <<'PY' || fail "metrics after a 10 MiB transfer: sent=$sent received=$received handshakes=$handshakes"
import sys
sent, received, handshakes = (float(v or 0) for v in sys.argv[1:])
assert sent >= 10 * 2**20 and sent < 12 * 2**20, sent
assert received > 0, received
assert handshakes >= 1, handshakes
PY
    echo "$metrics" | grep -q '^wirenet_tcp_connections ' || fail "no wirenet_tcp_connections gauge"
    echo "$metrics" | grep -q '^wirenet_tcp_connections_by_state{state="' || fail "no wirenet_tcp_connections_by_state gauge"
    echo "examples: cli: --metrics after a 10 MiB transfer: sent=$sent received=$received handshakes=$handshakes"
    kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'

    # --tun without CAP_NET_ADMIN: a clear error naming it, exit status 1.
    set +e
    capsh --drop=cap_net_admin -- -c "exec '$WIRENET' up --config '$WORK/node.conf' --control-socket '$WORK/wn2.sock' --tun nbtun$$" \
        > "$WORK/tun-denied.log" 2>&1
    status=$?
    set -e
    [ "$status" = 1 ] && grep -q CAP_NET_ADMIN "$WORK/tun-denied.log" || fail "--tun without CAP_NET_ADMIN: status $status: $(cat "$WORK/tun-denied.log")"
    echo "examples: cli: --tun without CAP_NET_ADMIN: $(tail -1 "$WORK/tun-denied.log")"

    # --tun with it: the node in a namespace of its own, the kernel's stack behind its TUN device.
    NSN=nbexn$$
    ip netns add "$NSN"; ip netns exec "$NSN" ip link set lo up
    ip link add nbexa$$ netns "$NSN" type veth peer name nbexb$$ netns "$NS"
    ip netns exec "$NSN" ip addr add 10.251.7.69/30 dev nbexa$$; ip netns exec "$NSN" ip link set nbexa$$ up
    in_ns ip addr add 10.251.7.70/30 dev nbexb$$; in_ns ip link set nbexb$$ up
    trap 'ip netns del "$NSN" 2>/dev/null || true; cleanup' EXIT
    sed -e 's|^Address = .*|Address = 100.65.8.1/24|' -e 's|^Endpoint = .*|Endpoint = 10.251.7.70:51820|' "$WORK/node.conf" > "$WORK/node-tun.conf"
    in_ns wg set "$WG_IF" peer "$NODE_PUB" endpoint "10.251.7.69:$NODE_PORT"
    ip netns exec "$NSN" "$WIRENET" up --config "$WORK/node-tun.conf" --control-socket "$WORK/wn3.sock" --tun nbtun$$ \
        > "$WORK/wirenet-tun.log" 2>&1 &
    PIDS+=($!)
    wait_for "wirenet up --tun" grep -q '^ready' "$WORK/wirenet-tun.log"
    ip netns exec "$NSN" python3 -m http.server --bind 100.65.8.1 --directory "$WORK/local" 8080 > "$WORK/tun-http.log" 2>&1 &
    PIDS+=($!)
    wait_for "a ping through the TUN node" in_ns ping -c 1 -W 1 100.65.8.1
    wait_for "the http.server behind the TUN device" in_ns curl -sS -o /dev/null --max-time 2 http://100.65.8.1:8080/
    got=$(in_ns curl -sS --fail --max-time 60 http://100.65.8.1:8080/file | sha256sum | cut -c1-64)
    [ "$got" = "$(sha256sum < "$WORK/local/file" | cut -c1-64)" ] || fail "--tun download: sha256 $got"
    echo "examples: cli: --tun: ping and a 10 MiB download through wirenet's TUN device"
fi

# --- AsyncHTTPClient through the node, from Python's http.server behind the peer ---------------------
[ -x "$(binary FetchOverTunnel)" ] || fail "$(binary FetchOverTunnel) is not built"
mkdir -p "$WORK/www"
head -c $((20 << 20)) /dev/urandom > "$WORK/www/file"
ip netns exec "$NS" python3 -m http.server --bind 100.65.8.2 --directory "$WORK/www" 8000 > "$WORK/http.server.log" 2>&1 &
PIDS+=($!)
wait_for "python's http.server" in_ns curl -sS -o /dev/null http://100.65.8.2:8000/
got=$("$(binary FetchOverTunnel)" "$WORK/node.conf" http://100.65.8.2:8000/file 2> "$WORK/fetch.log" | sha256sum | cut -c1-64)
[ "$got" = "$(sha256sum < "$WORK/www/file" | cut -c1-64)" ] || fail "AsyncHTTPClient fetched a body with sha256 $got"
set +e
"$(binary FetchOverTunnel)" "$WORK/node.conf" http://100.65.8.2:8000/missing > /dev/null 2>> "$WORK/fetch.log"
status=$?
set -e
[ "$status" = 1 ] || fail "a 404 should exit 1, got $status"
echo "examples: async-http-client: 20 MiB fetched through the node, sha256 ok; 404 reported"

echo "examples: all passed"
