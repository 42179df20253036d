#!/usr/bin/env bash
# Single-flow goodput under loss and reordering (issue #13): WireNet against wireguard-go + Linux TCP,
# through perf/impair (a seeded userspace UDP relay between the two WireGuard endpoints; this kernel
# has no netem).
#
#   sudo WIRENET_BIN=.build/release/wirenet perf/loss.sh
#
# Rows (left = client in namespace L, right = server in namespace R):
#   b  wireguard-go + Linux TCP  ->  WireNet         upload: Linux sends into WireNet; download: WireNet sends
#   e  the same with WireNet's TCP congestion control set to EXTRA_CC (bbr: the loss-tolerant policy);
#      download only (upload measures Linux's sender against the same WireNet receiver as row b)
#   d  wireguard-go + Linux TCP  ->  wireguard-go + Linux TCP (the reference)
# Conditions: 0, 1, 2, 5 % random loss, and 1 % loss + 5 % reordering (reordered datagrams held
# REORDER_DELAY_US longer), the same in both directions. RUNS rounds (≥ 3), interleaved: each round
# runs every row under every condition; the table gives the median and the min–max spread.
#
# Topology: veth 10.251.4.1 (L) – 10.251.4.2 (R); the relay runs in R: L's peer endpoint is
# 10.251.4.2:40001, R's is 127.0.0.1:40002, and the relay forwards between them and R's port 51820.
# Tunnel 100.64.4.1 / 100.64.4.2, MTU 1420. Results: perf/results/<stamp>-loss.{md,jsonl}.
#
# Environment: WIRENET_BIN (required for rows b and e), RUNS (3), DURATION (8 s per test), ROWS ("b e d"),
# WIRENET_CC (cubic: row b's `--tcp-congestion-control`; empty: no option, for builds before it), EXTRA_CC (bbr: row e's),
# E_BIN (row e's wirenet, default WIRENET_BIN: another build against row b in the same run), E_TESTS (download),
# TESTS ("upload download"; "upload" alone: Linux sends into WireNet), CONDITIONS ("0 1 2 5 1r5"),
# REORDER_DELAY_US (2000), SEED (1), CAPTURE_DIR (unset: when set, tcpdump of the inner TCP in L per test,
# <row>-<condition>-<run>-<test>.pcap, for perf/tools/tcp-trace.py), UNDERLAY (10.251.4: the veth /24's first three octets), LABEL (which WireNet build ran, written into the table),
# LINUX_CC (cubic: the Linux TCP congestion control in both namespaces; a new namespace inherits the
# host's default, which is bbr on this machine, and BBR ignores random loss, so the reference rows
# measured BBR against WireNet's CUBIC).
# Every test also records the sender's counters (jsonl "sender"; a second table): Linux's from nstat in
# the sending namespace (TCPTimeouts, TCPSackRecovery, RetransSegs, TCPLossProbes), WireNet's from
# `wirenet status --json` (retransmission_timeouts, fast_recoveries, retransmitted segments, tail loss probes);
# a Linux sender's TcpOutSegs and TcpInSegs too (the receiver's ACKs per 100 segments sent).
# A namespace may only pick an algorithm in net.ipv4.tcp_allowed_congestion_control: LINUX_CC is added
# there for the run and the list restored on exit.
set -euo pipefail

perf_dir="$(cd "$(dirname "$0")" && pwd)"
bin="$perf_dir/.build/bin"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-8}"
ROWS="${ROWS:-b e d}"
WIRENET_CC="${WIRENET_CC-cubic}"
EXTRA_CC="${EXTRA_CC-bbr}"
E_BIN="${E_BIN:-}"
E_TESTS="${E_TESTS:-download}"
CONDITIONS="${CONDITIONS:-0 1 2 5 1r5}"
TESTS="${TESTS:-upload download}"
LABEL="${LABEL:-}"
REORDER_DELAY_US="${REORDER_DELAY_US:-2000}"
LINUX_CC="${LINUX_CC:-cubic}"
SEED="${SEED:-1}"
WIRENET_BIN="${WIRENET_BIN:-}"
UNDERLAY="${UNDERLAY:-10.251.4}"

[ "$(id -u)" -eq 0 ] || { echo "loss.sh: run as root (network namespaces, TUN devices)" >&2; exit 1; }
for tool in wireguard-go wg go cc ip; do
    command -v "$tool" >/dev/null || { echo "loss.sh: $tool is missing (see perf/run.sh for the packages)" >&2; exit 1; }
done
[ -c /dev/net/tun ] || { mkdir -p /dev/net; mknod /dev/net/tun c 10 200; chmod 0666 /dev/net/tun; }

# Tools: wnperf (as perf/build.sh builds it) and the relay.
mkdir -p "$bin" "$perf_dir/.build/gopath/src"
ln -sfn "$perf_dir" "$perf_dir/.build/gopath/src/wirenet-perf"
GO111MODULE=off GOPATH="/usr/share/gocode:$perf_dir/.build/gopath" GOCACHE="${GOCACHE:-$perf_dir/.build/gocache}" \
    nice -n 10 go build -o "$bin/wnperf" wirenet-perf/wnperf
cc -O2 -Wall -Wextra -o "$bin/impair" "$perf_dir/impair/impair.c"

stamp="$(date -u +%Y-%m-%dT%H%MZ)"
results="$perf_dir/results"
mkdir -p "$results"
raw="$results/$stamp-loss.jsonl"
: >"$raw"
work="$(mktemp -d /tmp/tploss.XXXXXX)"
id="$$"
ns_l="tpL$id"
ns_r="tpR$id"
started_pids=()

cleanup() {
    local pid
    for pid in "${started_pids[@]+"${started_pids[@]}"}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${started_pids[@]+"${started_pids[@]}"}"; do wait "$pid" 2>/dev/null || true; done
    ip netns del "$ns_l" 2>/dev/null || true
    ip netns del "$ns_r" 2>/dev/null || true
    rm -f /var/run/wireguard/tp"${id}"*.sock
    rm -rf "$work"
    [ -z "${allowed_cc:-}" ] || sysctl -qw net.ipv4.tcp_allowed_congestion_control="$allowed_cc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "loss.sh: $*" >&2; }

start() { # NAMESPACE LOGFILE COMMAND... ; sets last_pid
    local ns="$1" logf="$2"
    shift 2
    ip netns exec "$ns" "$@" >"$logf" 2>&1 &
    last_pid=$!
    started_pids+=("$last_pid")
}

stop() { # PIDS...
    local pid keep=() p
    for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
    for p in "${started_pids[@]+"${started_pids[@]}"}"; do [[ " $* " == *" $p "* ]] || keep+=("$p"); done
    started_pids=("${keep[@]+"${keep[@]}"}")
}

wait_for() { # SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

underlay_l="$UNDERLAY.1"
underlay_r="$UNDERLAY.2"
tunnel_l=100.64.4.1
tunnel_r=100.64.4.2
wg_port=51820
relay_a=40001   # L sends here
relay_b=40002   # R sends here
app_port=5201
mtu=1420

allowed_cc="$(sysctl -n net.ipv4.tcp_allowed_congestion_control)"
case " $allowed_cc " in
    *" $LINUX_CC "*) allowed_cc="" ;;
    *) sysctl -qw net.ipv4.tcp_allowed_congestion_control="$allowed_cc $LINUX_CC" ;;
esac
ip netns add "$ns_l"
ip netns add "$ns_r"
ip link add "tp${id}l" type veth peer name "tp${id}r"
ip link set "tp${id}l" netns "$ns_l"
ip link set "tp${id}r" netns "$ns_r"
ip -n "$ns_l" addr add "$underlay_l/24" dev "tp${id}l"
ip -n "$ns_r" addr add "$underlay_r/24" dev "tp${id}r"
for ns in "$ns_l" "$ns_r"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_congestion_control="$LINUX_CC"
done
ip -n "$ns_l" link set "tp${id}l" up
ip -n "$ns_r" link set "tp${id}r" up

key_l="$work/l.key"; key_r="$work/r.key"
(umask 077; wg genkey >"$key_l"; wg genkey >"$key_r")
pub_l="$(wg pubkey <"$key_l")"; pub_r="$(wg pubkey <"$key_r")"
endpoint_for_l="$underlay_r:$relay_a"     # where L sends (the relay)
endpoint_for_r="127.0.0.1:$relay_b"       # where R sends (the relay)

start_wg_side() { # SIDE TAG
    local side="$1" tag="$2" ns key peer_pub peer_ep addr peer_addr ifname="tp${id}${2}${1}"
    if [ "$side" = l ]; then
        ns=$ns_l key=$key_l peer_pub=$pub_r peer_ep=$endpoint_for_l addr=$tunnel_l peer_addr=$tunnel_r
    else
        ns=$ns_r key=$key_r peer_pub=$pub_l peer_ep=$endpoint_for_r addr=$tunnel_r peer_addr=$tunnel_l
    fi
    start "$ns" "$work/$ifname.log" env WG_PROCESS_FOREGROUND=1 wireguard-go "$ifname"
    side_pids="$last_pid"
    wait_for 10 test -S "/var/run/wireguard/$ifname.sock" || { log "wireguard-go $ifname did not start"; return 1; }
    ip netns exec "$ns" wg set "$ifname" private-key "$key" listen-port "$wg_port" \
        peer "$peer_pub" endpoint "$peer_ep" allowed-ips "$peer_addr/32"
    ip -n "$ns" addr add "$addr/24" dev "$ifname"
    ip -n "$ns" link set "$ifname" mtu "$mtu" up
    if [ "$side" = r ]; then
        start "$ns" "$work/wnperf-server-$tag.log" "$bin/wnperf" server -listen ":$app_port"
        side_pids="$side_pids $last_pid"
        wait_for 5 grep -q listening "$work/wnperf-server-$tag.log"
    fi
}

start_wirenet_server() { # TAG CONGESTION-CONTROL BINARY
    local tag="$1" cc="$2" binary="$3" conf="$work/wirenet-$1.conf"
    printf '[Interface]\nPrivateKey = %s\nListenPort = %s\nAddress = %s/24\nMTU = %s\n\n[Peer]\nPublicKey = %s\nEndpoint = %s\nAllowedIPs = %s/32\n' \
        "$(cat "$key_r")" "$wg_port" "$tunnel_r" "$mtu" "$pub_l" "$endpoint_for_r" "$tunnel_l" >"$conf"
    start "$ns_r" "$work/wnperf-backend-$tag.log" "$bin/wnperf" server -listen "127.0.0.1:$((app_port + 1))"
    local backend=$last_pid
    wait_for 5 grep -q listening "$work/wnperf-backend-$tag.log"
    wirenet_socket="$work/wirenet-$tag.sock"
    # An empty congestion control passes no option (a build from before the option existed).
    wirenet_bin="$binary"
    start "$ns_r" "$work/wirenet-$tag.log" "$binary" up --config "$conf" --serve "tcp:$app_port=127.0.0.1:$((app_port + 1))" \
        ${cc:+--tcp-congestion-control "$cc"} --control-socket "$wirenet_socket"
    side_pids="$last_pid $backend"
}

start_relay() { # CONDITION
    local cond="$1" loss reorder=0
    case "$cond" in
        *r*) loss="${cond%r*}"; reorder="${cond#*r}" ;;
        *) loss="$cond" ;;
    esac
    start "$ns_r" "$work/impair.log" "$bin/impair" -a "$relay_a" -b "$relay_b" \
        -A "$underlay_l:$wg_port" -B "127.0.0.1:$wg_port" \
        -l "$(awk -v p="$loss" 'BEGIN{print p/100}')" -r "$(awk -v p="$reorder" 'BEGIN{print p/100}')" \
        -R "$REORDER_DELAY_US" -s "$SEED"
    relay_pid=$last_pid
    sleep 0.2
}

# Sender counters: Linux's per namespace (nstat, absolute values), WireNet's from its control socket.
counters() { # ROW -> one JSON object on stdout
    local row="$1" l r w="{}"
    l="$(ip netns exec "$ns_l" nstat -asz --json 2>/dev/null || echo '{}')"
    r="$(ip netns exec "$ns_r" nstat -asz --json 2>/dev/null || echo '{}')"
    if [ "$row" != d ]; then
        w="$(ip netns exec "$ns_r" "$wirenet_bin" status --json --socket "$wirenet_socket" 2>/dev/null || echo '{}')"
    fi
    python3 -c 'import json,sys
def load(t):
    try: return json.loads(t)
    except Exception: return {}
l, r, w = (load(a) for a in sys.argv[1:4])
print(json.dumps({"l": l.get("kernel", {}), "r": r.get("kernel", {}), "wirenet": w.get("tcpRetransmissions", {})}))' "$l" "$r" "$w"
}

measure() { # ROW CONDITION RUN TEST
    local row="$1" cond="$2" run="$3" test="$4" out rc=0 before after
    before="$(counters "$row")"
    local capture_pid=""
    if [ -n "${CAPTURE_DIR:-}" ]; then
        mkdir -p "$CAPTURE_DIR"
        # The inner TCP as the Linux end in L sees it, on its wireguard-go TUN device.
        start "$ns_l" "$work/tcpdump.log" tcpdump -i "tp${id}${row}${run}l" -s 128 -U -w "$CAPTURE_DIR/$row-$cond-$run-$test.pcap" tcp
        capture_pid=$last_pid
        sleep 0.5
    fi
    out="$(ip netns exec "$ns_l" timeout $((DURATION + 30)) "$bin/wnperf" client -connect "$tunnel_r:$app_port" \
        -test "$test" -flows 1 -duration "${DURATION}s" 2>"$work/client.err")" || rc=$?
    if [ $rc -ne 0 ] || [ -z "$out" ]; then
        [ -z "$capture_pid" ] || stop "$capture_pid"
        log "  row $row, $cond %, $test: FAILED ($(tr '\n' ' ' <"$work/client.err"))"
        printf '{"row":"%s","condition":"%s","run":%s,"test":"%s","error":true}\n' "$row" "$cond" "$run" "$test" >>"$raw"
        return 0
    fi
    [ -z "$capture_pid" ] || stop "$capture_pid"
    after="$(counters "$row")"
    local gbps sender
    gbps="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["result"]["gbit_per_s"])' "$out")"
    # The sender: Linux in L uploads; WireNet (rows b, e) or Linux in R (row d) downloads.
    sender="$(python3 - "$row" "$test" "$before" "$after" <<'PY'
import json, sys
row, test, before, after = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
def diff(side, key):
    return after.get(side, {}).get(key, 0) - before.get(side, {}).get(key, 0)
if test == "upload" or row == "d":
    side = "l" if test == "upload" else "r"
    out = {"by": "linux", "timeouts": diff(side, "TcpExtTCPTimeouts"), "recoveries": diff(side, "TcpExtTCPSackRecovery") + diff(side, "TcpExtTCPRenoRecovery"),
           "retransmitted": diff(side, "TcpRetransSegs"), "loss_probes": diff(side, "TcpExtTCPLossProbes"),
           "spurious_rtos": diff(side, "TcpExtTCPSpuriousRTOs"), "dsack_received": diff(side, "TcpExtTCPDSACKRecv"),
           "lost_retransmits": diff(side, "TcpExtTCPLostRetransmit"),
           "segments_out": diff(side, "TcpOutSegs"), "segments_in": diff(side, "TcpInSegs")}
else:
    out = {"by": "wirenet", "timeouts": diff("wirenet", "retransmission_timeouts"), "recoveries": diff("wirenet", "fast_recoveries"),
           "retransmitted": sum(diff("wirenet", k) for k in ("timeout", "fast_retransmit", "loss_recovery", "tail_loss_probe")),
           "loss_probes": diff("wirenet", "tail_loss_probe")}
print(json.dumps(out))
PY
)"
    log "  row $row, condition $cond, run $run, $test: $gbps Gbit/s; sender $sender"
    printf '{"row":"%s","condition":"%s","run":%s,"test":"%s","gbit_per_s":%s,"sender":%s}\n' "$row" "$cond" "$run" "$test" "$gbps" "$sender" >>"$raw"
}

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
    for row in $ROWS; do
        if [ "$row" != d ] && { [ -z "$WIRENET_BIN" ] || [ ! -x "$WIRENET_BIN" ]; }; then
            log "row $row needs WIRENET_BIN (a release wirenet); skipped"
            continue
        fi
        tag="$row$run"
        start_wg_side l "$tag"; pids_l="$side_pids"
        case "$row" in
            b) start_wirenet_server "$tag" "$WIRENET_CC" "$WIRENET_BIN" ;;
            e) start_wirenet_server "$tag" "$EXTRA_CC" "${E_BIN:-$WIRENET_BIN}" ;;
            d) start_wg_side r "$tag" ;;
        esac
        pids_r="$side_pids"
        for cond in $CONDITIONS; do
            start_relay "$cond"
            if ! wait_for 20 ip netns exec "$ns_l" "$bin/wnperf" client -connect "$tunnel_r:$app_port" -test connect -duration 200ms; then
                log "row $row: no connection through the tunnel"; cat "$work"/*.log >&2 || true
                stop "$relay_pid"; continue
            fi
            for test in $TESTS; do
                # Row e differs from b only in the sender's congestion control: WireNet sends in download.
                [ "$row" = e ] && [[ " $E_TESTS " != *" $test "* ]] && continue
                measure "$row" "$cond" "$run" "$test"
            done
            stop "$relay_pid"
            grep '^{' "$work/impair.log" | sed "s/^/{\"row\":\"$row\",\"condition\":\"$cond\",\"run\":$run,\"relay\":/; s/\$/}/" >>"$raw" || true
        done
        stop $pids_l $pids_r
        sleep 0.5
    done
done

load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$raw" "$results/$stamp-loss.md" "$DURATION" "$RUNS" "$REORDER_DELAY_US" "$LINUX_CC" "$LABEL" "$WIRENET_CC" "$EXTRA_CC" "$load_start" "$load_end" "${E_BIN:-$WIRENET_BIN}" "$WIRENET_BIN" <<'PY'
import json, statistics, sys
raw, md, duration, runs, reorder_delay, linux_cc, label, wirenet_cc, extra_cc, load_start, load_end, e_bin, b_bin = sys.argv[1:14]
rows = [json.loads(l) for l in open(raw) if l.strip()]
data, senders = {}, {}
for r in rows:
    if "gbit_per_s" in r:
        data.setdefault((r["row"], r["condition"], r["test"]), []).append(r["gbit_per_s"])
        if "sender" in r:
            senders.setdefault((r["row"], r["condition"], r["test"]), []).append(r["sender"])
conds = []
for r in rows:
    if "condition" in r and r["condition"] not in conds: conds.append(r["condition"])
present = [x for x in ("b", "e", "d") if any(k[0] == x for k in data)]
def cell(key):
    v = data.get(key)
    if not v: return None, "–"
    m = statistics.median(v)
    return m, f"{m:.3f} ({min(v):.3f}–{max(v):.3f}, n={len(v)})"
name = lambda c: (c.replace("r", " % loss + ") + " % reordering") if "r" in c else f"{c} % loss"
titles = {("b", "upload"): "Linux sends into WireNet (b upload)", ("b", "download"): "WireNet sends (b download)",
          ("e", "upload"): f"Linux sends into WireNet, {extra_cc} (e upload)", ("e", "download"): f"WireNet sends, {extra_cc} (e download)",
          ("d", "upload"): "Linux ↔ Linux (d upload)", ("d", "download"): "Linux ↔ Linux (d download)"}
cols = [(x, t) for x in present for t in ("upload", "download")]
ratio_cols = []
for x in ("b", "e"):
    if x in present and "d" in present:
        ratio_cols += [(f"{x} up / d up", (x, "upload"), ("d", "upload"), False), (f"{x} down / d down", (x, "download"), ("d", "download"), False)]
for x in ("b", "e"):
    if x in present:
        ratio_cols += [(f"{x} up / {x} up at 0 %", (x, "upload"), (x, "upload"), True), (f"{x} down / {x} down at 0 %", (x, "download"), (x, "download"), True)]
if "e" in present and "b" in present:
    ratio_cols += [("e down / b down at 0 %", ("e", "download"), ("b", "download"), True)]
out = [f"# Single-flow goodput under loss (perf/loss.sh)\n",
       f"Median Gbit/s (min–max, n runs) of {duration} s single-flow tests, {runs} interleaved rounds; "
       f"loss/reordering by perf/impair in both directions (reordered datagrams held {reorder_delay} µs); "
       f"Linux TCP congestion control {linux_cc}; WireNet row b {wirenet_cc or 'its default'}, row e {extra_cc or 'its default'}"
       + (f" (row e's binary: {e_bin})" if e_bin != b_bin else "") + "."
       + (f" WireNet build: {label}." if label else "") + f" Load average (1/5/15 min) at the start {load_start}, at the end {load_end}.\n",
       "| condition | " + " | ".join(titles[c] for c in cols) + " | " + " | ".join(r[0] for r in ratio_cols) + " |",
       "|---" * (1 + len(cols) + len(ratio_cols)) + "|"]
for c in conds:
    cells = [cell((x, c, t))[1] for x, t in cols]
    ratios = []
    for _, (x, t), (y, u), at_zero in ratio_cols:
        a = cell((x, c, t))[0]; b = cell((y, "0" if at_zero else c, u))[0]
        ratios.append(f"{100*a/b:.0f} %" if a is not None and b else "–")
    out.append(f"| {name(c)} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
if senders:
    out += ["", "The sender's counters per test (median over the runs): retransmission timeouts, loss recoveries entered, "
            "segments retransmitted, tail loss probes; for a Linux sender also the segments it received per 100 it sent (the receiver's ACKs). "
            "Linux's from nstat in the sending namespace, WireNet's from `wirenet status --json`.\n",
            "| condition | test | " + " | ".join(f"row {x}: sender" for x in present) + " |", "|---" * (2 + len(present)) + "|"]
    for c in conds:
        for t in ("upload", "download"):
            parts = []
            for x in present:
                v = senders.get((x, c, t))
                if not v: parts.append("–"); continue
                med = lambda k: statistics.median(s.get(k, 0) for s in v)
                acks = ""
                if all(s.get("segments_out") for s in v):
                    # The receiver's ACKs per 100 segments the sender sent (Linux's TcpInSegs / TcpOutSegs:
                    # in an upload test nearly everything the sender receives is the receiver's ACKs).
                    acks = f", {statistics.median(100 * s['segments_in'] / s['segments_out'] for s in v):.0f} ACK/100 seg"
                parts.append(f"{v[0]['by']}: {med('timeouts'):.0f} RTO, {med('recoveries'):.0f} rec, {med('retransmitted'):.0f} rtx, {med('loss_probes'):.0f} TLP{acks}")
            out.append(f"| {name(c)} | {t} | " + " | ".join(parts) + " |")
open(md, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
log "results: $results/$stamp-loss.md"
