#!/usr/bin/env bash
# Thread wake-ups and system calls per connection and per round trip (issue #13).
#
#   sudo WIRENET_BIN=$PWD/.build/release/wirenet perf/wakeups.sh              # row b: connect, then latency
#   sudo ROW=a TESTS="latency" WIRENET_BIN=... NOTE="wirenet of abc1234" perf/wakeups.sh
#   sudo ROW=d TESTS="latency" WIRENET_BIN=none perf/wakeups.sh               # wireguard-go + Linux
#
# Runs one row of run.sh (ROW: a = WireNet `--forward` ↔ WireNet `--serve`, b = wireguard-go + Linux
# TCP client → WireNet `--serve`, d = wireguard-go + Linux TCP at both ends) once per test, and for
# every thread of the row's long-running processes — the WireNet nodes (row a: both, row b: the
# `--serve` one) or both wireguard-go processes (row d), and the wnperf server behind them — reads
# its voluntary and involuntary context switches (/proc/PID/task/TID/status) right after the process
# started and once more just before it exits, and counts its system calls (`perf stat -a --per-thread
# -e raw_syscalls:sys_enter` over the test, the threads picked by thread id). A voluntary switch is the thread
# going to sleep, so each costs one wake-up later; divided by the test's count (connections or
# round trips, from the run's raw.jsonl) they are the figures per operation. The counts include the
# process's start-up, the tunnel handshake and the test's warm-up (0.5 s of the latency test, whose
# round trips the count leaves out): figures per operation are a few percent high, alike for every
# build. Threads of one name (the executor's pool; all of a Go process's threads) are summed.
#
# Writes results/<stamp>-wakeups.txt: the command, the load average, and per test and process one
# table. run.sh writes its own results files for each test as usual (named in the table's heading).
set -euo pipefail
perf_dir="$(cd "$(dirname "$0")" && pwd)"
ROW="${ROW:-b}"
case "$ROW" in
    a|b) : "${WIRENET_BIN:?WIRENET_BIN must name a release wirenet}" ;;
    d) WIRENET_BIN="${WIRENET_BIN:-none}" ;;
    *) echo "wakeups.sh: ROW must be a, b or d" >&2; exit 1 ;;
esac
TESTS="${TESTS:-connect latency}"
PREFIX="${PREFIX:-${PERF_NAME:-wnp}}"
[ "$(id -u)" = 0 ] || { echo "wakeups.sh: needs root (namespaces)" >&2; exit 1; }
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$perf_dir/results/$stamp-wakeups.txt"
work="$(mktemp -d /tmp/wnwakeups.XXXXXX)"
counter=""
cleanup() {
    [ -z "$counter" ] || kill -INT "$counter" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# System calls counted one by one (all of them are counted together as well).
calls="io_uring_enter epoll_wait epoll_pwait epoll_ctl ppoll futex read write recvfrom sendto recvmsg sendmsg nanosleep sched_yield"

# The processes measured in ROW: "label pattern" lines (pgrep -f patterns of run.sh's command lines).
processes() {
    case "$ROW" in
        a) echo "wirenet-serve ^$WIRENET_BIN up .*--serve"
           echo "wirenet-forward ^$WIRENET_BIN up .*--forward"
           echo "wnperf-backend wnperf server -listen 127\\.0\\.0\\.1:" ;;
        b) echo "wirenet-serve ^$WIRENET_BIN up .*--serve"
           echo "wnperf-backend wnperf server -listen 127\\.0\\.0\\.1:" ;;
        d) echo "wireguard-go-r ^wireguard-go $PREFIX[0-9]+dr\$"
           echo "wireguard-go-l ^wireguard-go $PREFIX[0-9]+dl\$"
           echo "wnperf-server wnperf server -listen :" ;;
    esac
}

# snapshot PID : "tid comm voluntary nonvoluntary" per thread
snapshot() {
    local task
    for task in /proc/"$1"/task/*; do
        # A thread may end between the glob and the reads: its line comes out short and is skipped.
        printf '%s %s %s %s\n' "${task##*/}" "$( { tr ' ' _ <"$task/comm"; } 2>/dev/null)" \
            "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$task/status" 2>/dev/null)" \
            "$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$task/status" 2>/dev/null)"
    done
}

{
    echo "# perf/wakeups.sh $stamp"
    echo "command: ROW=$ROW WIRENET_BIN=$WIRENET_BIN TESTS=\"$TESTS\" perf/wakeups.sh"
    [ -z "${NOTE:-}" ] || echo "note: $NOTE"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out"

for test in $TESTS; do
    log="$work/run-$test.log"
    ROWS="$ROW" TESTS="$test" REPEAT=1 PROFILE=0 DOCS=0 IPERF=0 SKIP_BUILD="${SKIP_BUILD:-1}" \
        WIRENET_BIN="$WIRENET_BIN" NOTE="perf/wakeups.sh $stamp" "$perf_dir/run.sh" >"$log" 2>&1 &
    runner=$!
    labels=()
    pids=()
    while read -r label pattern; do
        pid=""
        for _ in $(seq 1200); do
            pid="$(pgrep -f "$pattern" | head -1 || true)"
            [ -n "$pid" ] && break
            sleep 0.1
        done
        [ -n "$pid" ] || { echo "wakeups.sh: $label did not start (see $log)" >&2; cat "$log" >&2; exit 1; }
        labels+=("$label")
        pids+=("$pid")
    done < <(processes)
    events="raw_syscalls:sys_enter"
    for call in $calls; do events+=",syscalls:sys_enter_$call"; done
    # Its start walks every thread of the machine and fails when one ends meanwhile (builds start
    # and end processes all the time): start it again until it runs.
    for _ in $(seq 20); do
        perf stat -a --per-thread -x, -e "$events" -o "$work/syscalls" 2>/dev/null &
        counter=$!
        sleep 0.3
        kill -0 "$counter" 2>/dev/null && break
        wait "$counter" 2>/dev/null || true
        counter=""
    done
    [ -n "$counter" ] || echo "wakeups.sh: perf stat did not start: no system call counts" >&2
    for index in "${!pids[@]}"; do
        pid="${pids[$index]}"
        snapshot "$pid" >"$work/first-$index"
        cp "$work/first-$index" "$work/seen-$index"
    done
    # Every thread's counts until the process exits (a thread's last snapshot holds its totals).
    while true; do
        alive=0
        for index in "${!pids[@]}"; do
            pid="${pids[$index]}"
            kill -0 "$pid" 2>/dev/null || continue
            alive=1
            snapshot "$pid" >>"$work/seen-$index" || true
        done
        [ "$alive" = 1 ] || break
        sleep 0.1
    done
    if [ -n "$counter" ]; then
        kill -INT "$counter" 2>/dev/null || true
        wait "$counter" 2>/dev/null || true
    fi
    counter=""
    wait "$runner" || { echo "wakeups.sh: run.sh failed (see below)" >&2; cat "$log" >&2; exit 1; }
    results_md="$(sed -n 's/^run.sh: results: //p' "$log" | tail -1)"
    for index in "${!pids[@]}"; do
        python3 - "$ROW" "$test" "${labels[$index]}" "$work/first-$index" "$work/seen-$index" "$work/syscalls" \
            "${results_md%.md}.raw.jsonl" "$results_md" >>"$out" <<'EOF'
import json, re, sys
row, test, label, first_path, seen_path, syscalls_path, raw_path, md_path = sys.argv[1:]
def read(path):
    # thread id -> (name, voluntary, involuntary), the highest counts seen (they only grow)
    threads = {}
    for line in open(path):
        parts = line.split()
        if len(parts) != 4 or not parts[2].isdigit() or not parts[3].isdigit():
            continue
        tid, name, vol, invol = parts[0], parts[1], int(parts[2]), int(parts[3])
        _, v, i = threads.get(tid, (name, 0, 0))
        threads[tid] = (name, max(v, vol), max(i, invol))
    return threads
first, seen = read(first_path), read(seen_path)
# Per thread name: switches since the first snapshot (threads started later count from 0).
last = {}
for tid, (name, v, i) in seen.items():
    _, v0, i0 = first.get(tid, (name, 0, 0))
    lv, li = last.get(name, (0, 0))
    last[name] = (lv + v - v0, li + i - i0)
def syscalls(path):
    # perf stat -a --per-thread -x, lines: "comm-tid,count,,event,...": thread name -> event -> count
    totals = {}
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return totals
    for line in lines:
        fields = line.split(",")
        if len(fields) < 4 or not fields[1].isdigit():
            continue
        match = re.search(r"-(\d+)$", fields[0])
        if not match or match.group(1) not in seen:
            continue
        name = seen[match.group(1)][0]
        event = fields[3].split(":")[-1].replace("sys_enter_", "")
        per = totals.setdefault(name, {})
        per[event] = per.get(event, 0) + int(fields[1])
    return totals
calls = syscalls(syscalls_path)
count = None
load = "?"
for line in open(raw_path):
    record = json.loads(line)
    if record.get("kind") == "wnproto" and record.get("name") == test:
        count = record["report"]["result"]["count"]
        load = record.get("loadavg1")
unit = "connection" if test == "connect" else "round trip"
print()
print(f"## {test}, {label}: {count} {unit}s (row {row}, run.sh results {md_path.rsplit('/', 1)[-1]}, load {load})")
print()
print(f"| thread | voluntary switches | per {unit} | involuntary switches | per {unit} | system calls | per {unit} | system calls per {unit}, by call |")
print("|---|---|---|---|---|---|---|---|")
tv = ti = ts = 0
for name in sorted(set(last) | set(calls)):
    v, i = last.get(name, (0, 0))
    s = calls.get(name, {}).get("sys_enter", 0)
    byCall = ", ".join(f"{call} {n / count:.2f}" for call, n in sorted(calls.get(name, {}).items(), key=lambda x: -x[1])
                       if call != "sys_enter" and n / count >= 0.01)
    tv += v; ti += i; ts += s
    print(f"| {name} | {v} | {v / count:.2f} | {i} | {i / count:.2f} | {s} | {s / count:.2f} | {byCall} |")
print(f"| all | {tv} | {tv / count:.2f} | {ti} | {ti / count:.2f} | {ts} | {ts / count:.2f} | |")
EOF
    done
    python3 - "$test" "${results_md%.md}.raw.jsonl" >>"$out" <<'EOF'
import json, sys
test, raw_path = sys.argv[1:]
def counters(text):
    # /proc/net/snmp: a header line, then a value line, per protocol.
    lines, values = text.splitlines(), {}
    for header, line in zip(lines, lines[1:]):
        names, numbers = header.split(), line.split()
        if names and numbers and names[0] == numbers[0] and names[1:2] != numbers[1:2]:
            values.update({names[0] + n: int(v) for n, v in zip(names[1:], numbers[1:]) if v.lstrip("-").isdigit()})
    return values
for line in open(raw_path):
    record = json.loads(line)
    if record.get("kind") != "wnproto" or record.get("name") != test:
        continue
    count = record["report"]["result"]["count"]
    parts = []
    for side, name in (("left", "L"), ("right", "R")):
        before, after = counters(record["snmp_before"][side]), counters(record["snmp_after"][side])
        delta = lambda key: (after.get(key, 0) - before.get(key, 0)) / count
        parts.append(f"{name} out {delta('Udp:OutDatagrams'):.2f} in {delta('Udp:InDatagrams'):.2f}")
    print()
    print(f"UDP datagrams per operation (the namespaces' /proc/net/snmp, warm-up included): {'; '.join(parts)}")
EOF
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"
echo "wakeups.sh: $out"
cat "$out"
