#!/usr/bin/env bash
# Where a node's time goes: `perf record -g` (cpu-clock) of two nodes in one process moving one TCP
# flow over UDP loopback (perf/alloc/DataPathAllocationProbe, release build), and the share of
# named groups: libsodium, the kernel, memmove, Internet checksum, Swift exclusivity checks.
# Usage: perf/profile-node.sh [crypto threads] [MiB]     (needs linux-perf; root or perf_event_paranoid ≤ 1)
# Writes perf/results/<stamp>-profile-node.txt (the flat profile and the group shares).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-1}
mib=${2:-1024}
swift build -c release --traits CLI --product DataPathAllocationProbe >/dev/null
probe="$(swift build -c release --traits CLI --show-bin-path)/DataPathAllocationProbe"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="perf/results/$(date -u +%Y-%m-%dT%H%MZ)-profile-node.txt"
mkdir -p perf/results
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
perf record -e cpu-clock -F 1999 -g -o "$work/perf.data" "$probe" "$threads" "$mib" 256 >"$work/probe.json" 2>/dev/null
perf report -i "$work/perf.data" --no-children --stdio --sort dso,symbol --percent-limit 0 -g none 2>/dev/null \
    | grep -E '^ +[0-9.]+%' >"$work/flat.txt"
{
    echo "# perf/profile-node.sh $threads $mib — commit $(git rev-parse --short HEAD), load $load_before → $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# probe: $(cat "$work/probe.json")"
    echo "# group shares of all samples (self time):"
    python3 - "$work/flat.txt" <<'PY'
import re, sys
groups = {"libsodium (ChaCha20-Poly1305)": r"libsodium", "kernel": r"\[kernel", "memmove/memcpy": r"memmove|memcpy",
          "Internet checksum (Wire)": r"Checksum", "Swift exclusivity checks": r"swift_beginAccess|swift_endAccess|AccessSet",
          "Swift retain/release": r"swift_retain|swift_release", "malloc/free": r"malloc|free\b|_int_free"}
shares = {g: 0.0 for g in groups}
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d.]+)%\s+(.*)", line)
    if not m: continue
    for g, pattern in groups.items():
        if re.search(pattern, m.group(2)):
            shares[g] += float(m.group(1)); break
for g, v in shares.items(): print(f"#   {v:6.2f} %  {g}")
PY
    echo "# flat profile (self time, dso and symbol), entries ≥ 0.3 %:"
    awk '{v=$1; sub("%","",v); if (v+0 >= 0.3) print}' "$work/flat.txt" | sed 's/[ -]*$//'
} >"$out"
head -12 "$out"
echo "results: $out"
