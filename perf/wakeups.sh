#!/usr/bin/env bash
# Thread wake-ups of a WireNet `--serve` node per connection and per round trip (issue #13).
#
#   sudo WIRENET_BIN=$PWD/.build/release/wirenet perf/wakeups.sh              # connect, then latency
#   sudo WIRENET_BIN=... TESTS="connect" NOTE="wirenet of abc1234" perf/wakeups.sh
#
# Runs run.sh's row b (wireguard-go + Linux TCP client → WireNet `--serve` → loopback wnperf
# server) once per test, and reads for every thread of the serving wirenet process its voluntary
# and involuntary context switches (/proc/PID/task/TID/status) right after the process started and
# once more just before it exits. A voluntary switch is the thread going to sleep, so each costs one
# wake-up later; divided by the test's count (connections or round trips, from the run's
# raw.jsonl) they are the wake-ups per operation. The counts include the node's start-up and the
# tunnel handshake (a few switches). Threads of one name (the executor's pool) are summed.
#
# Writes results/<stamp>-wakeups.txt: the command, the load average, and per test one table.
# run.sh writes its own results files for each test as usual (named in the table's heading).
set -euo pipefail
perf_dir="$(cd "$(dirname "$0")" && pwd)"
: "${WIRENET_BIN:?WIRENET_BIN must name a release wirenet}"
TESTS="${TESTS:-connect latency}"
[ "$(id -u)" = 0 ] || { echo "wakeups.sh: needs root (namespaces)" >&2; exit 1; }
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$perf_dir/results/$stamp-wakeups.txt"
work="$(mktemp -d /tmp/wnwakeups.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# snapshot PID : "comm voluntary nonvoluntary" per thread
snapshot() {
    local task
    for task in /proc/"$1"/task/*; do
        # A thread may end between the glob and the reads: its line comes out short and is skipped.
        printf '%s %s %s\n' "$( { tr ' ' _ <"$task/comm"; } 2>/dev/null)" \
            "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$task/status" 2>/dev/null)" \
            "$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$task/status" 2>/dev/null)"
    done
}

{
    echo "# perf/wakeups.sh $stamp"
    echo "command: WIRENET_BIN=$WIRENET_BIN TESTS=\"$TESTS\" perf/wakeups.sh"
    [ -z "${NOTE:-}" ] || echo "note: $NOTE"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out"

for test in $TESTS; do
    log="$work/run-$test.log"
    ROWS=b TESTS="$test" REPEAT=1 PROFILE=0 DOCS=0 IPERF=0 SKIP_BUILD="${SKIP_BUILD:-1}" \
        WIRENET_BIN="$WIRENET_BIN" NOTE="perf/wakeups.sh $stamp" "$perf_dir/run.sh" >"$log" 2>&1 &
    runner=$!
    pid=""
    for _ in $(seq 1200); do
        pid="$(pgrep -f "^$WIRENET_BIN up .*--serve" | head -1 || true)"
        [ -n "$pid" ] && break
        sleep 0.1
    done
    [ -n "$pid" ] || { echo "wakeups.sh: the --serve node did not start (see $log)" >&2; cat "$log" >&2; exit 1; }
    snapshot "$pid" >"$work/first"
    : >"$work/last"
    # The last snapshot that still has the engine thread: the node's state just before it exits.
    while kill -0 "$pid" 2>/dev/null; do
        snapshot "$pid" >"$work/now" || true
        grep -q '^wirenet-engine ' "$work/now" && cp "$work/now" "$work/last"
        sleep 0.1
    done
    wait "$runner" || { echo "wakeups.sh: run.sh failed (see below)" >&2; cat "$log" >&2; exit 1; }
    results_md="$(sed -n 's/^run.sh: results: //p' "$log" | tail -1)"
    python3 - "$test" "$work/first" "$work/last" "${results_md%.md}.raw.jsonl" "$results_md" >>"$out" <<'EOF'
import json, sys
test, first_path, last_path, raw_path, md_path = sys.argv[1:]
def read(path):
    totals = {}
    for line in open(path):
        parts = line.split()
        if len(parts) != 3:
            continue
        name, vol, invol = parts[0], int(parts[1]), int(parts[2])
        v, i = totals.get(name, (0, 0))
        totals[name] = (v + vol, i + invol)
    return totals
first, last = read(first_path), read(last_path)
count = None
for line in open(raw_path):
    record = json.loads(line)
    if record.get("kind") == "wnproto" and record.get("name") == test:
        count = record["report"]["result"]["count"]
        load = record.get("loadavg1")
unit = "connection" if test == "connect" else "round trip"
print()
print(f"## {test}: {count} {unit}s (row b, run.sh results {md_path.rsplit('/', 1)[-1]}, load {load})")
print()
print(f"| thread | voluntary switches | per {unit} | involuntary switches | per {unit} |")
print("|---|---|---|---|---|")
tv = ti = 0
for name in sorted(last):
    v = last[name][0] - first.get(name, (0, 0))[0]
    i = last[name][1] - first.get(name, (0, 0))[1]
    tv += v; ti += i
    print(f"| {name} | {v} | {v / count:.2f} | {i} | {i / count:.2f} |")
print(f"| all | {tv} | {tv / count:.2f} | {ti} | {ti / count:.2f} |")
EOF
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"
echo "wakeups.sh: $out"
cat "$out"
