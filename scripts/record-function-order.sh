#!/usr/bin/env bash
# Records the order in which `wirenet up` first runs its functions, from exec until it idles, into
# scripts/function-order/wirenet.order: the list scripts/build-wirenet.sh gives lld
# (--symbol-ordering-file) so that start-up and idle-loop code lie together (issue 14, idle RSS;
# Docs/performance.md). Rerun it when start-up code changed much; the list is committed.
#   sudo scripts/record-function-order.sh [seconds to run, default 10]
# The node runs as perf/idle-rss.sh runs it (one peer, no traffic, a network namespace of its own),
# under scripts/function-order/first-calls (ptrace, one breakpoint per function: see its source),
# linked by scripts/build-wirenet.sh without an ordering list and with a link map; order.py turns the
# calls into the list (it says which functions it leaves out and why). Environment: PREFIX
# (namespace name prefix).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
PREFIX="${PREFIX:-wnp}"
out=scripts/function-order/wirenet.order
work="$(mktemp -d)"
ns="${PREFIX}ord$$"
cleanup() {
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
bin="$(WIRENET_FUNCTION_ORDER=none scripts/build-wirenet.sh -Xlinker -Map="$work/map")"
clang -O2 -Wall -o "$work/first-calls" scripts/function-order/first-calls.c
# A copy: the next scripts/build-wirenet.sh relinks the same path with the list.
cp "$bin" "$work/wirenet"
# Every function symbol of the executable (text: t/T, weak: w/W), at its address in the running
# process (the executable is position-dependent).
nm -n --defined-only "$work/wirenet" | awk '$2 ~ /^[tTwW]$/ { print $1, $3 }' >"$work/symbols"
ip netns add "$ns"
ip -n "$ns" link set lo up
(umask 077; wg genkey >"$work/key"; wg genkey >"$work/peer")
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 100.64.8.1/24\nMTU = 1420\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 100.64.8.2/32\n' \
    "$(cat "$work/key")" "$(wg pubkey <"$work/peer")" >"$work/wg.conf"
# Three runs: which thread wakes which depends on timing, so a run can miss a function others run.
for run in 1 2 3; do
    ip netns exec "$ns" "$work/first-calls" "$work/symbols" "$seconds" "$work/calls.$run" -- \
        "$work/wirenet" up --config "$work/wg.conf" --control-socket "$work/node.sock" >"$work/log" 2>&1 \
        || { cat "$work/log" >&2; exit 1; }
    grep -q "^ready" "$work/log" || { echo "record-function-order: the node never became ready" >&2; cat "$work/log" >&2; exit 1; }
    grep "first-calls:" "$work/log" >&2 || true
done
python3 scripts/function-order/order.py "$work/symbols" "$work/map" \
    "scripts/record-function-order.sh $seconds, commit $(git rev-parse --short HEAD): \`wirenet up\` (one peer, idle), 3 runs, lld --symbol-ordering-file (scripts/build-wirenet.sh)" \
    "$work/calls.1" "$work/calls.2" "$work/calls.3" >"$out"
echo "$out"
