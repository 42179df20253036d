#!/usr/bin/env bash
# WireNet performance comparison (issue #8): every available row in one run on this machine.
#
#   sudo perf/run.sh                 all rows, results in perf/results/<stamp>.{md,json,*.png}
#   ROWS="c d" sudo perf/run.sh      some rows (a b c c-wgnetstack d)
#   WIRENET_BIN=PATH sudo perf/run.sh    uses that wirenet for rows a and b (default: builds this checkout's)
#
# Rows (left side = client, in namespace L; right side = server, in namespace R):
#   a             WireNet            <-> WireNet
#   b             wireguard-go + Linux TCP <-> WireNet
#   c             wireguard-go + Linux TCP <-> wireguard-go + gVisor netstack, tsnet's TCP options
#   c-wgnetstack  wireguard-go + Linux TCP <-> wireguard-go + gVisor netstack, gVisor defaults
#                 (what wireguard-go's tun/netstack and so wireproxy use)
#   d             wireguard-go + Linux TCP <-> wireguard-go + Linux TCP
#   g             wireguard-go + gVisor netstack <-> wireguard-go + gVisor netstack, tsnet's options
#                 and tsnet's 7 MiB UDP socket buffers at both ends
# Symmetric rows (the same implementation at both ends): a, d, g.
#
# Every row runs the same wnproto tests (perf/README.md): upload and download goodput with 1 and
# 4 flows, 64-byte request/response latency, connection set-up rate; CPU time (utime+stime from
# /proc/<pid>/stat) and memory (VmRSS/VmHWM) of each side's processes. Row d also gets an
# iperf3 cross-check. Traffic stays inside the two namespaces this script creates.
#
# Environment: DURATION (s per goodput test, 10), LAT_DURATION (5), CONN_DURATION (5),
# CONN_CONCURRENCY (4), IPERF (1), PROFILE (1: perf record rows c and d after measuring),
# WIRENET_BIN (path of the wirenet CLI; see perf/README.md "WireNet rows"), NOTE (free text
# recorded with the results, e.g. "machine idle"), DOCS (1: refresh Docs/performance.md),
# TESTS ("goodput latency connect": which kinds of test every row runs),
# REPEAT (3: every row is measured that many times, rows interleaved run by run — a b c … a b c —
# so that a change of machine load hits every row alike; the report gives medians and spread).
set -euo pipefail

perf_dir="$(cd "$(dirname "$0")" && pwd)"
repo_dir="$(dirname "$perf_dir")"
bin="$perf_dir/.build/bin"
py=/usr/bin/python3            # Debian's python3, which has python3-matplotlib

DURATION="${DURATION:-10}"
LAT_DURATION="${LAT_DURATION:-5}"
CONN_DURATION="${CONN_DURATION:-5}"
CONN_CONCURRENCY="${CONN_CONCURRENCY:-4}"
ROWS="${ROWS:-a b c c-wgnetstack d g}"
TESTS="${TESTS:-goodput latency connect}"
REPEAT="${REPEAT:-3}"
run_index=1
IPERF="${IPERF:-1}"
PROFILE="${PROFILE:-1}"
DOCS="${DOCS:-1}"
NOTE="${NOTE:-}"
# /24 of the veth pair between the namespaces (.1 left, .2 right), and the prefix of every namespace,
# interface and socket name this run creates, so that parallel users keep theirs apart
# (PERF_UNDERLAY / PERF_NAME are older names for the same).
UNDERLAY="${UNDERLAY:-${PERF_UNDERLAY:-10.250.8}}"
PREFIX="${PREFIX:-${PERF_NAME:-wnp}}"
WIRENET_BIN="${WIRENET_BIN:-}"

[ "$(id -u)" -eq 0 ] || { echo "run.sh: run as root (network namespaces, TUN devices)" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Packages and build
packages=(iproute2 procps wireguard-go wireguard-tools iperf3 iputils-ping python3 python3-matplotlib
          golang-go golang-golang.zx2c4-wireguard-dev golang-gvisor-gvisor-dev golang-golang-x-crypto-dev
          golang-golang-x-net-dev golang-golang-x-sys-dev)
[ "$PROFILE" = 1 ] && packages+=(linux-perf)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "run.sh: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -c /dev/net/tun ] || { mkdir -p /dev/net; mknod /dev/net/tun c 10 200; chmod 0666 /dev/net/tun; }

# SKIP_BUILD=1 uses the tools already in perf/.build/bin (e.g. only wnperf for rows a, b, d).
[ "${SKIP_BUILD:-0}" = 1 ] || "$perf_dir/build.sh"

# WireNet's side (rows a, b): the release `wirenet` of this checkout unless WIRENET_BIN names one.
# WIRENET_BIN=none skips those rows.
if [ -z "$WIRENET_BIN" ]; then
    echo "run.sh: building wirenet (release) for rows a and b"
    (cd "$perf_dir/.." && swift build -c release --traits CLI --product wirenet >/dev/null)
    WIRENET_BIN="$(cd "$perf_dir/.." && swift build -c release --traits CLI --show-bin-path)/wirenet"
elif [ "$WIRENET_BIN" = none ]; then
    WIRENET_BIN=""
fi
# The floor for CPU per GB: libsodium's ChaCha20-Poly1305 seal + open of 1420-byte packets on one
# thread, measured at the start and the end of this run (perf/crypto/WireGuardParallelBench). Only
# goodput tests have a CPU per GB, so FLOOR defaults to 0 without them: no release build of the
# benchmark (minutes on 2 cores) for a latency or set-up run.
case " $TESTS " in *" goodput "*) FLOOR="${FLOOR:-1}" ;; *) FLOOR="${FLOOR:-0}" ;; esac
crypto_bench=""
if [ "$FLOOR" = 1 ]; then
    (cd "$perf_dir/.." && swift build -c release --traits CLI --product WireGuardParallelBench >/dev/null)
    crypto_bench="$(cd "$perf_dir/.." && swift build -c release --traits CLI --show-bin-path)/WireGuardParallelBench"
fi

# ---------------------------------------------------------------------------------------------
# Run state and cleanup
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
results="$perf_dir/results"
mkdir -p "$results"
work="$(mktemp -d /tmp/wnperf.XXXXXX)"
raw="$results/$stamp.raw.jsonl"    # written as the run goes, so a failed run keeps its data
: >"$raw"
id="$$"
ns_l="${PREFIX}${id}L"
ns_r="${PREFIX}${id}R"
started_pids=()

cleanup() {
    local pid
    for pid in "${started_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${started_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    ip netns del "$ns_l" 2>/dev/null || true
    ip netns del "$ns_r" 2>/dev/null || true
    rm -f /var/run/wireguard/"${PREFIX}${id}"*.sock
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "run.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

log() { echo "run.sh: $*" >&2; }

# start NAMESPACE LOGFILE COMMAND... : starts a long-running process in a namespace and sets
# $last_pid. `ip netns exec` execs the command, so the pid is the command's own.
start() {
    local ns="$1" logf="$2"
    shift 2
    ip netns exec "$ns" "$@" >"$logf" 2>&1 &
    last_pid=$!
    started_pids+=("$last_pid")
}

# stop PID... : terminates processes this script started and waits for them.
stop() {
    local pid
    for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
    local keep=() p
    for p in "${started_pids[@]}"; do
        [[ " $* " == *" $p "* ]] || keep+=("$p")
    done
    started_pids=("${keep[@]+"${keep[@]}"}")
}

wait_for() { # SECONDS COMMAND... : polls until the command succeeds
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

# ---------------------------------------------------------------------------------------------
# Underlay: two namespaces joined by a veth pair (10.250.8.0/24).
underlay_l=$UNDERLAY.1
underlay_r=$UNDERLAY.2
tunnel_l=100.64.8.1
tunnel_r=100.64.8.2
tunnel6_l=fd7a:115c:a1e0:8::1
tunnel6_r=fd7a:115c:a1e0:8::2
wg_port=51820
app_port=5201
mtu=1420

ip netns add "$ns_l"
ip netns add "$ns_r"
ip link add "${PREFIX}${id}l" type veth peer name "${PREFIX}${id}r"
ip link set "${PREFIX}${id}l" netns "$ns_l"
ip link set "${PREFIX}${id}r" netns "$ns_r"
ip -n "$ns_l" addr add "$underlay_l/24" dev "${PREFIX}${id}l"
ip -n "$ns_r" addr add "$underlay_r/24" dev "${PREFIX}${id}r"
for ns in "$ns_l" "$ns_r"; do
    ip -n "$ns" link set lo up
done
ip -n "$ns_l" link set "${PREFIX}${id}l" up
ip -n "$ns_r" link set "${PREFIX}${id}r" up

key_l="$work/l.key"; key_r="$work/r.key"
(umask 077; wg genkey >"$key_l"; wg genkey >"$key_r")
pub_l="$(wg pubkey <"$key_l")"; pub_r="$(wg pubkey <"$key_r")"

# wgquick_config SIDE FILE : a wg-quick style file for a userspace node (gvisor-peer, wirenet).
wgquick_config() {
    local side="$1" file="$2"
    if [ "$side" = l ]; then
        printf '[Interface]\nPrivateKey = %s\nListenPort = %s\nAddress = %s/24, %s/64\nMTU = %s\n\n[Peer]\nPublicKey = %s\nEndpoint = %s:%s\nAllowedIPs = %s/32, %s/128\n' \
            "$(cat "$key_l")" "$wg_port" "$tunnel_l" "$tunnel6_l" "$mtu" "$pub_r" "$underlay_r" "$wg_port" "$tunnel_r" "$tunnel6_r" >"$file"
    else
        printf '[Interface]\nPrivateKey = %s\nListenPort = %s\nAddress = %s/24, %s/64\nMTU = %s\n\n[Peer]\nPublicKey = %s\nEndpoint = %s:%s\nAllowedIPs = %s/32, %s/128\n' \
            "$(cat "$key_r")" "$wg_port" "$tunnel_r" "$tunnel6_r" "$mtu" "$pub_l" "$underlay_l" "$wg_port" "$tunnel_l" "$tunnel6_l" >"$file"
    fi
}

# ---------------------------------------------------------------------------------------------
# Sides. Each start_* sets side_pids (long-running processes whose CPU and memory count for
# the side) and, for the left side, connect_addr (where the client dials).

# wireguard-go on a TUN device + Linux TCP (+ wnperf server on the right side).
start_wg_side() { # SIDE ROWTAG [WG_BINARY]
    local side="$1" tag="$2" wgbin="${3:-wireguard-go}"
    local ns key peer_pub peer_ep addr addr6 peer_addr peer_addr6 ifname="${PREFIX}${id}${tag}${1}"
    if [ "$side" = l ]; then
        ns=$ns_l key=$key_l peer_pub=$pub_r peer_ep=$underlay_r addr=$tunnel_l addr6=$tunnel6_l peer_addr=$tunnel_r peer_addr6=$tunnel6_r
    else
        ns=$ns_r key=$key_r peer_pub=$pub_l peer_ep=$underlay_l addr=$tunnel_r addr6=$tunnel6_r peer_addr=$tunnel_l peer_addr6=$tunnel6_l
    fi
    start "$ns" "$work/$ifname.log" env WG_PROCESS_FOREGROUND=1 "$wgbin" "$ifname"
    local wg_pid=$last_pid
    wait_for 10 test -S "/var/run/wireguard/$ifname.sock" || { log "wireguard-go $ifname did not start"; cat "$work/$ifname.log" >&2; return 1; }
    ip netns exec "$ns" wg set "$ifname" private-key "$key" listen-port "$wg_port" \
        peer "$peer_pub" endpoint "$peer_ep:$wg_port" allowed-ips "$peer_addr/32,$peer_addr6/128" || return 1
    ip -n "$ns" addr add "$addr/24" dev "$ifname" || return 1
    ip -n "$ns" addr add "$addr6/64" dev "$ifname" nodad || return 1
    ip -n "$ns" link set "$ifname" mtu "$mtu" up || return 1
    side_pids="$wg_pid"
    side_desc="wireguard-go $(wireguard_go_version "$wgbin") (TUN) + Linux TCP"
    if [ "$side" = r ]; then
        start "$ns" "$work/wnperf-server-$tag.log" "$bin/wnperf" server -listen ":$app_port"
        side_pids="$wg_pid $last_pid"
        wait_for 5 grep -q listening "$work/wnperf-server-$tag.log" || return 1
    else
        connect_addr="$tunnel_r:$app_port"
        client_cmd=("$bin/wnperf" client)
    fi
}

wireguard_go_version() { "$1" --version 2>/dev/null | head -1 | awk '{print $2}'; }

# gvisor-peer: wireguard-go device + gVisor netstack in one process. On the right it serves; on
# the left each test is one `gvisor-peer client` process (its own device, handshake and gVisor
# stack), which reports its own CPU and memory the way `wnperf client` does.
start_gvisor_side() { # SIDE ROWTAG TUNING
    local side="$1" tag="$2" tuning="$3"
    side_desc="wireguard-go 0.0.20220316 (library) + gVisor netstack $(dpkg-query -W -f='${Version}' golang-gvisor-gvisor-dev), tuning $tuning"
    [ "$tuning" = tsnet ] && side_desc+=", 7 MiB UDP socket buffers (magicsock)"
    if [ "$side" = l ]; then
        wgquick_config l "$work/gvisor-$tag-l.conf"
        side_pids=""
        connect_addr="$tunnel_r:$app_port"
        client_cmd=("$bin/gvisor-peer" client -config "$work/gvisor-$tag-l.conf" -tuning "$tuning" --)
        return 0
    fi
    wgquick_config r "$work/gvisor-$tag.conf"
    start "$ns_r" "$work/gvisor-$tag.log" "$bin/gvisor-peer" serve -config "$work/gvisor-$tag.conf" -tuning "$tuning" -listen ":$app_port"
    side_pids="$last_pid"
    wait_for 10 grep -q listening "$work/gvisor-$tag.log" || { cat "$work/gvisor-$tag.log" >&2; return 1; }
}

# WireNet: `wirenet up` from WIRENET_BIN (perf/README.md, "WireNet rows").
wirenet_available() {
    [ -n "$WIRENET_BIN" ] && [ -x "$WIRENET_BIN" ] || return 1
    local help
    help="$("$WIRENET_BIN" up --help 2>&1)" || return 1
    grep -q -- "--config" <<<"$help" && grep -q -- "--serve" <<<"$help" || return 1
    if [ "${1:-}" = l ]; then grep -q -- "--forward" <<<"$help" || return 1; fi
}

start_wirenet_side() { # SIDE ROWTAG
    local side="$1" tag="$2"
    # The configuration's base name is the node's interface name and so its control socket's
    # (/run/wirenet/NAME.sock): the run's prefix keeps parallel runs from sharing one.
    local conf="$work/${PREFIX}${id}-wirenet-$tag-$side.conf"
    wgquick_config "$side" "$conf"
    if [ "$side" = r ]; then
        # The wnproto server listens on loopback; WireNet forwards tunnel port 5201 to it.
        start "$ns_r" "$work/wnperf-backend-$tag.log" "$bin/wnperf" server -listen "127.0.0.1:$((app_port + 1))"
        local backend=$last_pid
        wait_for 5 grep -q listening "$work/wnperf-backend-$tag.log" || return 1
        start "$ns_r" "$work/wirenet-$tag-r.log" "$WIRENET_BIN" up --config "$conf" \
            --serve "tcp:$app_port=127.0.0.1:$((app_port + 1))"
        side_pids="$last_pid $backend"
        wirenet_socket_r="/run/wirenet/$(basename "$conf" .conf).sock"
    else
        # Clients dial 127.0.0.1:5201 in namespace L; WireNet carries them to the right side.
        start "$ns_l" "$work/wirenet-$tag-l.log" "$WIRENET_BIN" up --config "$conf" \
            --forward "tcp:127.0.0.1:$app_port=$tunnel_r:$app_port"
        side_pids="$last_pid"
        connect_addr="127.0.0.1:$app_port"
        client_cmd=("$bin/wnperf" client)
    fi
    side_desc="WireNet ($WIRENET_BIN)"
}

# ---------------------------------------------------------------------------------------------
# Measurements

procstat() { # PIDS... -> JSON array
    if [ $# -eq 0 ]; then echo '[]'; else "$bin/wnperf" procstat "$@" || echo '[]'; fi
}

# snmp : the Tcp and Udp lines of /proc/net/snmp in both namespaces, as a JSON object of strings
# (UDP receive-buffer drops show where a starved reader loses packets; Linux TCP retransmits).
# Also Linux's TcpExt counters (/proc/net/netstat: fast retransmits, loss probes, timeouts, D-SACKs
# received, reordering seen) and every interface's drop counts (/proc/net/dev, as "Dev:" lines in the
# same header/value form: a TUN device's tx_drop is a packet its reader — wireguard-go — left behind).
snmp_lines() { # NAMESPACE
    ip netns exec "$1" grep -hE '^(Tcp|Udp|TcpExt):' /proc/net/snmp /proc/net/netstat
    ip netns exec "$1" awk 'NR > 2 { sub(/:/, " "); split($0, f, " ")
            h = h " " f[1] ".rx_drop " f[1] ".tx_drop"; v = v " " f[5] " " f[13] }
        END { print "Dev:" h; print "Dev:" v }' /proc/net/dev
}

snmp() {
    printf '{"left":%s,"right":%s}' "$(json_str "$(snmp_lines "$ns_l")")" "$(json_str "$(snmp_lines "$ns_r")")"
}

# wirenet_status : `wirenet status --json` of the row's right-side WireNet node (its peer's drop
# counts by reason, its TCP state), or null.
wirenet_status() {
    local out
    if [ -n "${wirenet_socket_r:-}" ] && out="$("$WIRENET_BIN" status --json --socket "$wirenet_socket_r" 2>/dev/null)"; then
        tr -d '\n' <<<"$out"
    else
        echo null
    fi
}

json_str() { "$py" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

# measure ROW NAME CLIENT-FLAGS... : one wnproto test, with both sides' /proc before and after.
measure() {
    local row="$1" name="$2"
    shift 2
    local before_l before_r after_l after_r out rc=0 load snmp_before snmp_after wn_before wn_after
    snmp_before="$(snmp)"; wn_before="$(wirenet_status)"
    before_l="$(procstat $pids_l)"; before_r="$(procstat $pids_r)"
    out="$(ip netns exec "$ns_l" "${client_cmd[@]}" -connect "$connect_addr" "$@" 2>"$work/client.err")" || rc=$?
    after_l="$(procstat $pids_l)"; after_r="$(procstat $pids_r)"
    snmp_after="$(snmp)"; wn_after="$(wirenet_status)"
    load="$(cut -d' ' -f1 /proc/loadavg)"
    if [ $rc -ne 0 ] || [ -z "$out" ]; then
        log "  $name: FAILED: $(cat "$work/client.err")"
        printf '{"row":"%s","run":%s,"name":"%s","kind":"wnproto","error":%s}\n' "$row" "$run_index" "$name" "$(json_str "$(cat "$work/client.err")")" >>"$raw"
        return 0
    fi
    printf '{"row":"%s","run":%s,"name":"%s","kind":"wnproto","loadavg1":%s,"left_before":%s,"left_after":%s,"right_before":%s,"right_after":%s,"snmp_before":%s,"snmp_after":%s,"wirenet_before":%s,"wirenet_after":%s,"report":%s}\n' \
        "$row" "$run_index" "$name" "$load" "$before_l" "$after_l" "$before_r" "$after_r" "$snmp_before" "$snmp_after" "$wn_before" "$wn_after" "$out" >>"$raw"
    "$py" - "$out" <<'EOF' >&2
import json, sys
r = json.loads(sys.argv[1])["result"]
if "gbit_per_s" in r: print(f"run.sh:   {r['test']} x{r['flows']}: {r['gbit_per_s']:.3f} Gbit/s")
elif r["test"] == "latency": print(f"run.sh:   latency: p50 {r['p50_us']:.0f} us, p99 {r['p99_us']:.0f} us ({r['count']} round trips)")
else: print(f"run.sh:   connect: {r['per_second']:.0f}/s, p99 {r['p99_us']:.0f} us, {r['errors']} errors")
EOF
}

# iperf3_check ROW NAME FLOWS : iperf3 between the two Linux TCP ends (row d only).
iperf3_check() {
    local row="$1" name="$2" flows="$3" before_l before_r after_l after_r out
    before_l="$(procstat $pids_l)"; before_r="$(procstat $pids_r)"
    if out="$(ip netns exec "$ns_l" iperf3 -c "$tunnel_r" -p $((app_port + 10)) -t "$DURATION" -P "$flows" -J 2>&1)"; then
        after_l="$(procstat $pids_l)"; after_r="$(procstat $pids_r)"
        printf '{"row":"%s","run":%s,"name":"%s","kind":"iperf3","left_before":%s,"left_after":%s,"right_before":%s,"right_after":%s,"report":%s}\n' \
            "$row" "$run_index" "$name" "$before_l" "$after_l" "$before_r" "$after_r" "$(tr -d '\n' <<<"$out")" >>"$raw"
        "$py" -c 'import json,sys; e=json.loads(sys.argv[1])["end"]; print("run.sh:   iperf3 x%s: %.3f Gbit/s received" % (sys.argv[2], e["sum_received"]["bits_per_second"]/1e9))' "$out" "$flows" >&2
    else
        log "  $name: iperf3 FAILED"
    fi
}

row_status() { # ROW STATUS LEFT-DESC RIGHT-DESC
    printf '{"row":"%s","run":%s,"kind":"row","status":%s,"left":%s,"right":%s}\n' "$1" "$run_index" "$(json_str "$2")" "$(json_str "$3")" "$(json_str "$4")" >>"$raw"
}

# start_row ROW [WG_BINARY] : starts both sides; sets pids_l, pids_r, desc_l, desc_r.
start_row() {
    local row="$1" wgbin="${2:-wireguard-go}" tag
    tag="$(tr -dc 'a-z' <<<"$row" | head -c 3)"
    case "$row" in
        a) start_wirenet_side l "$tag" || return 1 ;;
        g) start_gvisor_side l "$tag" tsnet || return 1 ;;
        *) start_wg_side l "$tag" "$wgbin" || return 1 ;;
    esac
    pids_l="$side_pids"; desc_l="$side_desc"
    case "$row" in
        a|b) start_wirenet_side r "$tag" || return 1 ;;
        c) start_gvisor_side r "$tag" tsnet || return 1 ;;
        c-wgnetstack) start_gvisor_side r "$tag" wgnetstack || return 1 ;;
        d) start_wg_side r "$tag" "$wgbin" || return 1 ;;
        g) start_gvisor_side r "$tag" tsnet || return 1 ;;
        *) log "unknown row $row"; return 1 ;;
    esac
    pids_r="$side_pids"; desc_r="$side_desc"
    # The first connection also carries the WireGuard handshake: wait until one succeeds.
    wait_for 20 ip netns exec "$ns_l" "${client_cmd[@]}" -connect "$connect_addr" -test connect -duration 200ms \
        || { log "row $row: no connection through the tunnel"; return 1; }
}

stop_row() {
    # shellcheck disable=SC2086
    stop ${pids_l:-} ${pids_r:-}
    pids_l=""; pids_r=""; wirenet_socket_r=""
}

wants() { [[ " $TESTS " == *" $1 "* ]]; }  # wants KIND: KIND is in TESTS

run_row() {
    local row="$1"
    case "$row" in
        a) wirenet_available l || { log "row a: not yet built (set WIRENET_BIN; perf/README.md)"; row_status a "not yet built" "WireNet" "WireNet"; return 0; } ;;
        b) wirenet_available r || { log "row b: not yet built (set WIRENET_BIN; perf/README.md)"; row_status b "not yet built" "wireguard-go + Linux TCP" "WireNet"; return 0; } ;;
    esac
    log "row $row: starting"
    desc_l="" desc_r=""
    if ! start_row "$row"; then
        row_status "$row" "failed to start" "${desc_l:-?}" "${desc_r:-?}"
        stop_row
        return 0
    fi
    row_status "$row" "measured" "$desc_l" "$desc_r"
    local d="${DURATION}s"
    if wants goodput; then
        measure "$row" upload-1 -test upload -flows 1 -duration "$d"
        measure "$row" upload-4 -test upload -flows 4 -duration "$d"
        measure "$row" download-1 -test download -flows 1 -duration "$d"
        measure "$row" download-4 -test download -flows 4 -duration "$d"
    fi
    wants latency && measure "$row" latency -test latency -size 64 -duration "${LAT_DURATION}s"
    wants connect && measure "$row" connect -test connect -concurrency "$CONN_CONCURRENCY" -duration "${CONN_DURATION}s"
    if [ "$row" = d ] && [ "$IPERF" = 1 ] && wants goodput; then
        start "$ns_r" "$work/iperf3.log" iperf3 -s -p $((app_port + 10))
        local iperf_pid=$last_pid
        sleep 0.3
        iperf3_check "$row" iperf3-1 1
        iperf3_check "$row" iperf3-4 4
        stop "$iperf_pid"
    fi
    # Memory at the end of the row: VmRSS now, VmHWM = peak over the row.
    printf '{"row":"%s","run":%s,"kind":"memory","left":%s,"right":%s}\n' "$row" "$run_index" "$(procstat $pids_l)" "$(procstat $pids_r)" >>"$raw"
    stop_row
}

# profile_row ROW : perf record -g (cpu-clock; this VM has no hardware counters) of each side's
# main process during a single-flow upload, with a wireguard-go built from the same Debian
# source but not stripped (Debian's binary has no symbols).
profile_row() {
    local row="$1"
    log "row $row: profiling (perf record -g during a ${DURATION}s single-flow upload)"
    start_row "$row" "$bin/wireguard-go-symbols" || { log "row $row: profile start failed"; stop_row; return 0; }
    local main_l main_r perf_l perf_r
    main_l="${pids_l%% *}"; main_r="${pids_r%% *}"
    perf record -e cpu-clock -F 999 -g -p "$main_l" -o "$work/perf-$row-l.data" -- sleep "$((DURATION + 1))" >/dev/null 2>&1 &
    perf_l=$!
    perf record -e cpu-clock -F 999 -g -p "$main_r" -o "$work/perf-$row-r.data" -- sleep "$((DURATION + 1))" >/dev/null 2>&1 &
    perf_r=$!
    started_pids+=("$perf_l" "$perf_r")
    ip netns exec "$ns_l" "$bin/wnperf" client -connect "$connect_addr" -test upload -flows 1 -duration "${DURATION}s" >"$work/profile-$row.json" 2>&1 || true
    wait "$perf_l" "$perf_r" 2>/dev/null || true
    stop "$perf_l" "$perf_r"
    local side
    for side in l r; do
        local out="$results/$stamp-profile-$row-$side.txt"
        {
            echo "# perf record -e cpu-clock -g, row $row, side $side ($([ "$side" = l ] && echo "$desc_l" || echo "$desc_r")), single-flow upload"
            echo "# flat profile (self time), top symbols"
            perf report -i "$work/perf-$row-$side.data" --no-children --stdio --sort dso,symbol --percent-limit 1 2>/dev/null \
                | grep -E '^ +[0-9]' | sed 's/[ -]*$//' | head -40 || true
            echo "# inclusive (children) view, top entries"
            perf report -i "$work/perf-$row-$side.data" --children --stdio --sort symbol --percent-limit 5 -g none 2>/dev/null \
                | grep -E '^ +[0-9]' | sed 's/[ -]*$//' | head -40 || true
        } >"$out"
    done
    printf '{"row":"%s","kind":"profile","upload":%s,"files":["%s","%s"]}\n' "$row" \
        "$(head -1 "$work/profile-$row.json" | grep '^{' || echo null)" "$stamp-profile-$row-l.txt" "$stamp-profile-$row-r.txt" >>"$raw"
    stop_row
}

# ---------------------------------------------------------------------------------------------
# Run
loadavg_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
measure_floor() {
    [ -n "$crypto_bench" ] || return 0
    local line
    line="$("$crypto_bench" 3 1 "" | tail -1)" || return 0
    printf '{"row":"floor","kind":"floor","report":%s}\n' "$line" >>"$raw"
    log "libsodium seal+open floor: $line"
}
measure_floor
for run_index in $(seq 1 "$REPEAT"); do
    log "run $run_index of $REPEAT (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    for row in $ROWS; do
        run_row "$row"
    done
done
if [ "$PROFILE" = 1 ]; then
    for row in $ROWS; do
        case "$row" in c|d) profile_row "$row" ;; esac
    done
fi
measure_floor
loadavg_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# Machine and run description.
"$py" - "$work/meta.json" <<EOF
import json, subprocess, sys, os
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
model = next((l.split(":",1)[1].strip() for l in sh("lscpu").splitlines() if l.startswith("Model name")), "?")
meta = {
    "stamp": "$stamp", "started_at": "$started_at", "finished_at": sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
    "cpu_model": model, "cpus": os.cpu_count(), "kernel": sh("uname -r"),
    "memory_total": sh("free -h | awk '/Mem:/{print \$2}'"),
    "loadavg_before": "$loadavg_before", "loadavg_after": "$loadavg_after",
    "note": $(json_str "$NOTE"),
    "repeat": $REPEAT, "tests": "$TESTS",
    "durations": {"goodput_s": $DURATION, "latency_s": $LAT_DURATION, "connect_s": $CONN_DURATION, "connect_concurrency": $CONN_CONCURRENCY},
    "versions": {
        "wireguard-go": sh("dpkg-query -W -f='\${Version}' wireguard-go"),
        "golang.zx2c4.com/wireguard (library)": sh("dpkg-query -W -f='\${Version}' golang-golang.zx2c4-wireguard-dev"),
        "gvisor": sh("dpkg-query -W -f='\${Version}' golang-gvisor-gvisor-dev"),
        "go": sh("go version"), "iperf3": sh("iperf3 --version | head -1"),
    },
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
EOF

"$py" "$perf_dir/tools/report.py" --raw "$raw" --meta "$work/meta.json" --out "$results/$stamp" \
    $( [ "$DOCS" = 1 ] && echo --docs "$repo_dir/Docs/performance.md" --docs-images "$repo_dir/Docs/performance" )
log "results: $results/$stamp.md"
