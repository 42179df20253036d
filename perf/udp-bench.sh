#!/bin/sh
# UDPTransport loopback benchmark next to a plain C sendmmsg/recvmmsg reference, same run,
# same datagram size and count. Usage: perf/udp-bench.sh [size] [count] [rounds]
#
# Columns: datagrams received, received datagrams/s, Gbit/s of payload, datagrams lost (the
# sender outruns the receiver; rates are what the receiver got), CPU time of both threads per
# received datagram, heap allocations per datagram (Swift rows), rate relative to the plain reference.
set -eu
cd "$(dirname "$0")/.."
size=${1:-1200}
count=${2:-1000000}
rounds=${3:-1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cc -O2 -Wall -pthread -o "$out/udp-reference" perf/udp-reference.c
swift build -c release --product UDPTransportBench >/dev/null
bench=$(swift build -c release --show-bin-path)/UDPTransportBench

echo "UDP loopback, $size-byte datagrams, $count per path, batches of 64; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %10s %12s %8s %7s %10s %9s %7s\n' path received datagrams/s Gbit/s loss "CPU ns/dg" allocs/dg "vs ref"
round=1
while [ "$round" -le "$rounds" ]; do
    reference=$("$out/udp-reference" -s "$size" -n "$count")
    echo "$reference"
    "$out/udp-reference" -s "$size" -n "$count" -o
    rate=$(echo "$reference" | awk '{print $(NF-3)}')
    "$bench" "$size" "$count" "$rate"
    round=$((round + 1))
done
