#!/usr/bin/env bash
# UDPTransport loopback benchmark next to a plain C sendmmsg/recvmmsg reference, same run,
# same datagram size and count. Usage: perf/udp-bench.sh [size] [count] [rounds]
#
# Columns: datagrams received, received datagrams/s, Gbit/s of payload, datagrams lost (the
# sender outruns the receiver; rates are what the receiver got), CPU time of both threads per
# received datagram, heap allocations per datagram (Swift rows), rate relative to the C reference of
# the same kind (offload rows against C with UDP_SEGMENT/UDP_GRO, the others against plain C).
# What io_uring adds is the io_uring row against the portable (sendmmsg/recvmmsg) row of the same
# offload setting. The output is also written to perf/results/<stamp>-udp.txt.
set -eu
cd "$(dirname "$0")/.."
size=${1:-1200}
count=${2:-1000000}
rounds=${3:-1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
results="perf/results/$(date -u +%Y-%m-%dT%H%MZ)-udp.txt"
mkdir -p perf/results
exec > >(tee "$results")

cc -O2 -Wall -pthread -o "$out/udp-reference" perf/udp-reference.c
swift build -c release --traits CLI --product UDPTransportBench >/dev/null
bench=$(swift build -c release --traits CLI --show-bin-path)/UDPTransportBench

echo "UDP loopback, $size-byte datagrams, $count per path, batches of 64; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %10s %12s %8s %7s %10s %9s %7s\n' path received datagrams/s Gbit/s loss "CPU ns/dg" allocs/dg "vs ref"
round=1
while [ "$round" -le "$rounds" ]; do
    reference=$("$out/udp-reference" -s "$size" -n "$count")
    echo "$reference"
    offload_reference=$("$out/udp-reference" -s "$size" -n "$count" -o)
    echo "$offload_reference"
    rate=$(echo "$reference" | awk '{print $(NF-3)}')
    offload_rate=$(echo "$offload_reference" | awk '{print $(NF-3)}')
    "$bench" "$size" "$count" "$rate" "$offload_rate"
    round=$((round + 1))
done
