#!/usr/bin/env bash
# Engine-thread CPU of idle TCP connections (issue 14 target: 100k idle connections cost < 1 % of a
# core). Two NetStack stacks in one process hold the connections (both ends: 2 x connections in the
# timer heaps); one engine thread drives them as WireNet's engine does and sleeps until the earliest
# deadline. Each row is one run of perf/timers/NetStackIdleTimersBench: the engine thread's CPU over
# an idle window, from CLOCK_THREAD_CPUTIME_ID and from /proc/self/task/<tid>/stat.
# Rows: keepalive off / on (Linux defaults: every connection holds a deadline 2 h out), and with the
# loop forced to wake every millisecond (a turn that finds nothing due: 1000 turns/s), with 100k and
# with 1k connections, so the cost of a turn can be compared across table sizes.
# It measures CPU, not memory, of NetStack alone: no `wirenet` executable is involved, so there is no
# static build (scripts/build-wirenet.sh) to use; the link options of that build change start-up pages,
# not the loop's work per turn.
# Usage: perf/idle-timers.sh [connections] [idle seconds]. Output also in perf/results/<stamp>-idle-timers.txt.
set -eu
cd "$(dirname "$0")/.."
connections=${1:-100000}
seconds=${2:-30}
results="perf/results/$(date -u +%Y-%m-%dT%H%MZ)-idle-timers.txt"
mkdir -p perf/results
exec > >(tee "$results")

swift build -c release --product NetStackIdleTimersBench >/dev/null
bench=$(swift build -c release --show-bin-path)/NetStackIdleTimersBench

echo "idle connections, engine-thread CPU over ${seconds} s; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD)"
for args in "$connections 0 0" "$connections 0 1" "$connections 1 0" "$connections 1 1" "1000 1 0"; do
    set -- $args
    echo "--- connections $1, tick $2 ms, keepalive $3"
    "$bench" "$1" "$seconds" "$2" "$3"
done
