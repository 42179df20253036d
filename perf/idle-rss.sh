#!/usr/bin/env bash
# Resident memory of an idle `wirenet up` with one peer (the README's idle-RSS figure), sampled
# after it settled, in a network namespace of its own (no traffic). Run as root.
# Usage: sudo perf/idle-rss.sh [seconds to settle] [samples]
# Environment: WIRENET_BIN (default: this checkout's release build), PREFIX (namespace name prefix).
# Writes perf/results/<stamp>-idle-rss.json: VmRSS and VmHWM of each sample, their median, and where
# the resident pages of the last sample lie (/proc/<pid>/smaps: per mapped file, anonymous memory,
# io_uring rings; shared clean pages of binaries apart from private dirty ones).
set -euo pipefail
cd "$(dirname "$0")/.."
settle=${1:-5}
samples=${2:-3}
PREFIX="${PREFIX:-wnp}"
if [ -z "${WIRENET_BIN:-}" ]; then
    swift build -c release --traits CLI --product wirenet >/dev/null
    WIRENET_BIN="$(swift build -c release --traits CLI --show-bin-path)/wirenet"
fi
ns="${PREFIX}rss$$"
work="$(mktemp -d)"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
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
out="perf/results/$stamp-idle-rss.json"
rss=()
hwm=()
for i in $(seq 1 "$samples"); do
    ip netns exec "$ns" "$WIRENET_BIN" up --config "$work/wg.conf" >"$work/log" 2>&1 &
    pid=$!
    sleep "$settle"
    kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
    rss+=("$(awk '/^VmRSS:/{print $2}' /proc/$pid/status)")
    hwm+=("$(awk '/^VmHWM:/{print $2}' /proc/$pid/status)")
    cp /proc/$pid/smaps "$work/smaps.$i"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done
python3 - "$out" "$WIRENET_BIN" "$settle" "${rss[*]}" "${hwm[*]}" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(git rev-parse --short HEAD)" "$work/smaps.$samples" <<'PY'
import json, sys
out, binary, settle, rss, hwm, load, commit, smaps = sys.argv[1:]
# Resident kB per mapping name, split into file pages (shared or clean) and private dirty pages.
where = {}
name = None
for line in open(smaps):
    fields = line.split()
    if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
        name = fields[5] if len(fields) >= 6 else "[anonymous]"
        if name.startswith("/"):
            name = name.rsplit("/", 1)[1]
        where.setdefault(name, {"rss_kib": 0, "private_dirty_kib": 0})
    elif fields[0] == "Rss:":
        where[name]["rss_kib"] += int(fields[1])
    elif fields[0] == "Private_Dirty:":
        where[name]["private_dirty_kib"] += int(fields[1])
breakdown = sorted(((n, v) for n, v in where.items() if v["rss_kib"] > 0), key=lambda x: -x[1]["rss_kib"])
rss = [int(x) for x in rss.split()]; hwm = [int(x) for x in hwm.split()]
med = lambda v: sorted(v)[len(v) // 2]
result = {"command": f"sudo perf/idle-rss.sh {settle} {len(rss)}", "binary": binary, "commit": commit,
          "what": "wirenet up, one peer, no traffic, sampled after settling",
          "settle_s": float(settle), "vmrss_kib": rss, "vmhwm_kib": hwm,
          "median_vmrss_mib": round(med(rss) / 1024, 1), "median_vmhwm_mib": round(med(hwm) / 1024, 1), "loadavg": load,
          "last_sample_smaps": [{"mapping": n, **v} for n, v in breakdown],
          "last_sample_private_dirty_kib": sum(v["private_dirty_kib"] for v in where.values())}
json.dump(result, open(out, "w"), indent=1)
print(json.dumps({k: v for k, v in result.items() if k != "last_sample_smaps"}))
for n, v in breakdown[:12]:
    print(f"  {v['rss_kib']:6d} kB resident, {v['private_dirty_kib']:5d} kB private dirty  {n}")
PY
echo "results: $out"
