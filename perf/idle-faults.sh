#!/usr/bin/env bash
# Where the resident pages of an idle `wirenet up` come from: every page fault of the process from
# exec until it settled (perf's page-faults event with the faulting address), grouped by the mapping
# the address lies in and by the function that touched it. Linux maps up to 64 KiB of already-cached
# file pages around each faulted page (fault-around), so one fault on a library's code or symbol
# table can make 16 pages resident; the report counts 64 KiB windows per mapping and names the
# functions whose faults opened them. Same namespace setup and peer as perf/idle-rss.sh. Run as root.
# Usage: sudo perf/idle-faults.sh [seconds to settle]
# Environment: WIRENET_BIN (default: this checkout's release build), PREFIX (namespace name prefix).
# Writes perf/results/<stamp>-idle-faults.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
settle=${1:-5}
PREFIX="${PREFIX:-wnp}"
if [ -z "${WIRENET_BIN:-}" ]; then
    WIRENET_BIN="$(scripts/build-wirenet.sh)"
fi
command -v perf >/dev/null || { echo "idle-faults: needs perf (Debian: linux-perf)" >&2; exit 1; }
ns="${PREFIX}flt$$"
work="$(mktemp -d)"
cleanup() {
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
(umask 077; wg genkey >"$work/key"; wg genkey >"$work/peer")
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 100.64.8.1/24\nMTU = 1420\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 100.64.8.2/32\n' \
    "$(cat "$work/key")" "$(wg pubkey <"$work/peer")" >"$work/wg.conf"
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="perf/results/$stamp-idle-faults.txt"
sync
# The node runs `settle` seconds, then a SIGTERM ends it; faults of its shutdown are left out by time.
ip netns exec "$ns" perf record -q -o "$work/perf.data" -e page-faults -c 1 -d -- \
    timeout -s TERM "$settle" "$WIRENET_BIN" up --config "$work/wg.conf" >"$work/log" 2>&1 || true
grep -q "^ready" "$work/log" || { cat "$work/log" >&2; exit 1; }
perf script -i "$work/perf.data" -F comm,pid,time,addr,ip,sym,dso --no-demangle 2>/dev/null >"$work/script.txt"
python3 - "$work/script.txt" "$settle" "$WIRENET_BIN" "$(cut -d' ' -f1-3 /proc/loadavg)" >"$out" <<'PY'
import collections, os, re, subprocess, sys
script, settle, binary, load = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
sys.path.insert(0, "perf/tools")
from resident_pages import sections
# The executable's sections by address (it is position-dependent: fault addresses are link addresses).
exe_sections = sorted((addr, addr + size, name) for name, addr, _, size in sections(binary))
def section_of(addr):
    return next((name for lo, hi, name in exe_sections if lo <= addr < hi), "(between sections)")
window = 64 * 1024
# comm pid time: address address-symbol (address-mapping) ip symbol (mapping)
line_re = re.compile(r"^\s*(\S+)\s+(\d+)\s+([\d.]+):\s+([0-9a-f]+)\s+(\S+)\s+\((.*?)\)\s+([0-9a-f]+)\s+(\S+)\s+\((.*?)\)\s*$")
faults = []
for line in open(script):
    m = line_re.match(line)
    if not m or m.group(1) == "timeout":
        continue
    t, addr, where = float(m.group(3)), int(m.group(4), 16), m.group(6).rsplit("/", 1)[-1]
    sym, dso = re.sub(r"\+0x[0-9a-f]+$", "", m.group(8)), m.group(9).rsplit("/", 1)[-1]
    if where in ("unknown", "[unknown]", "anon", ""):
        where = "[anonymous, heap, stacks]"
    faults.append((t, addr, where, sym, dso))
if not faults:
    sys.exit("no page faults recorded")
t0 = faults[0][0]
faults = [x for x in faults if x[0] - t0 < settle - 0.5]
# Demangled names for the report (swift demangle --simplified, when present).
names = sorted({x[3] for x in faults})
try:
    out = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    demangled = dict(zip(names, out)) if len(out) == len(names) else {}
except OSError:
    demangled = {}
windows = set()
per_map, per_map_windows, by_function = collections.Counter(), collections.Counter(), collections.Counter()
exe_windows = collections.Counter()
exe_name = os.path.basename(binary)
for t, addr, where, sym, dso in faults:
    per_map[where] += 1
    if (where, addr // window) not in windows:
        windows.add((where, addr // window))
        per_map_windows[where] += 1
        by_function[(where, f"{demangled.get(sym, sym)[:110]} ({dso})")] += 1
        if where == exe_name:
            exe_windows[section_of(addr)] += 1
print(f"# idle-faults: {binary}, faults in the first {settle - 0.5:.1f} s after exec, load {load}")
print(f"# {len(faults)} faults. Per mapping: 64 KiB windows touched (x 64 KiB = the most fault-around can make resident),")
print(f"# faults, and the functions whose fault opened the windows (first fault in each window)")
print(f"# The executable's windows by the ELF section of their first fault: " + ", ".join(f"{n} {k}" for n, k in exe_windows.most_common()))
for where, n in per_map_windows.most_common():
    print(f"\n{where}: {n} windows ({n * 64} KiB at most), {per_map[where]} faults")
    rows = sorted(((k[1], v) for k, v in by_function.items() if k[0] == where), key=lambda kv: -kv[1])
    for fn, k in rows[:12]:
        print(f"    {k:4d}  {fn}")
    if len(rows) > 12:
        print(f"    {sum(v for _, v in rows[12:]):4d}  ({len(rows) - 12} other functions)")
PY
echo "results: $out"
