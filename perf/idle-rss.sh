#!/usr/bin/env bash
# Resident memory of an idle `wirenet up` with one peer (the README's idle-RSS figure), sampled
# after it settled, in a network namespace of its own (no traffic). Run as root.
# Usage: sudo perf/idle-rss.sh [seconds to settle] [samples]
# Environment: WIRENET_BIN (default: this checkout's release build), PREFIX (namespace name prefix),
# NOTE (free text about the machine's load, stored in the results).
# Writes perf/results/<stamp>-idle-rss.json: VmRSS and VmHWM of each sample, PSS
# (shared pages divided among the processes mapping them), private memory (clean + dirty) and
# anonymous memory (/proc/<pid>/smaps_rollup), their medians, and where the resident pages of the
# last sample lie (/proc/<pid>/smaps: per mapped file, anonymous memory, io_uring rings; shared
# clean pages of binaries apart from private dirty ones).
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
: >"$work/samples.jsonl"
for i in $(seq 1 "$samples"); do
    # One variant for now; more (say, other builds' binaries) would interleave their runs here.
    for variant in default; do
        ip netns exec "$ns" "$WIRENET_BIN" up --config "$work/wg.conf" >"$work/log" 2>&1 &
        pid=$!
        sleep "$settle"
        kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
        cp /proc/$pid/smaps "$work/smaps.$variant"
        python3 - "$variant" "/proc/$pid" >>"$work/samples.jsonl" <<'PY'
import json, sys
variant, proc = sys.argv[1:]
status = {l.split(":")[0]: int(l.split()[1]) for l in open(proc + "/status") if l.startswith(("VmRSS", "VmHWM"))}
rollup = {}
for line in open(proc + "/smaps_rollup"):
    f = line.split()
    if len(f) >= 3 and f[2] == "kB":
        rollup[f[0].rstrip(":")] = int(f[1])
print(json.dumps({"variant": variant, "vmrss_kib": status["VmRSS"], "vmhwm_kib": status["VmHWM"], "pss_kib": rollup["Pss"],
                  "private_kib": rollup["Private_Clean"] + rollup["Private_Dirty"], "private_dirty_kib": rollup["Private_Dirty"],
                  "anonymous_kib": rollup["Anonymous"]}))
PY
        kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    done
done
python3 - "$out" "$WIRENET_BIN" "$settle" "$work/samples.jsonl" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(git rev-parse --short HEAD)" "$work" "${NOTE:-}" <<'PY'
import json, sys
out, binary, settle, samples, load, commit, work, note = sys.argv[1:]
samples = [json.loads(line) for line in open(samples)]
def breakdown(smaps):
    # Resident kB per mapping name, split into file pages (shared or clean) and private dirty pages.
    where, name = {}, None
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
    return [{"mapping": n, **v} for n, v in sorted(where.items(), key=lambda x: -x[1]["rss_kib"]) if v["rss_kib"] > 0]
med = lambda v: sorted(v)[len(v) // 2]
variants = {}
for variant in sorted({s["variant"] for s in samples}):
    rows = [s for s in samples if s["variant"] == variant]
    v = {key: [r[key] for r in rows] for key in ("vmrss_kib", "vmhwm_kib", "pss_kib", "private_kib", "private_dirty_kib", "anonymous_kib")}
    v.update({"median_" + key.replace("_kib", "_mib"): round(med(v[key]) / 1024, 1) for key in list(v)})
    v["last_sample_smaps"] = breakdown(f"{work}/smaps.{variant}")
    variants[variant] = v
result = {"command": f"sudo perf/idle-rss.sh {settle} {len(samples) // len(variants)}", "binary": binary, "commit": commit,
          "what": "wirenet up, one peer, no traffic, sampled after settling",
          "settle_s": float(settle), "loadavg": load, "note": note, "variants": variants,
          # The default variant's figures at the top level, as earlier results had them.
          "median_vmrss_mib": variants["default"]["median_vmrss_mib"], "median_vmhwm_mib": variants["default"]["median_vmhwm_mib"]}
json.dump(result, open(out, "w"), indent=1)
for name, v in variants.items():
    print(f"{name}: " + json.dumps({k: x for k, x in v.items() if k.startswith("median_")}))
    for m in v["last_sample_smaps"][:10]:
        print(f"  {m['rss_kib']:6d} kB resident, {m['private_dirty_kib']:5d} kB private dirty  {m['mapping']}")
PY
echo "results: $out"
