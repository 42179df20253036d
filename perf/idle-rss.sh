#!/usr/bin/env bash
# Resident memory of an idle `wirenet up` with one peer (the README's idle-RSS figure), sampled
# after it settled, in a network namespace of its own (no traffic). Run as root.
# Usage: sudo perf/idle-rss.sh [seconds to settle] [samples]
# Environment: WIRENET_BIN (the `default` variant; default: this checkout's release build),
# WIRENET_BINS (more `wirenet` builds to compare, as space-separated label=path pairs), GVISOR_PEER (the wireguard-go + gVisor node of perf/build.sh,
# run idle with the same configuration as variant `wireguard-go+gvisor`; default
# perf/.build/bin/gvisor-peer when it exists, GVISOR_PEER=none to leave it out), PREFIX (namespace
# name prefix), NOTE (free text about the machine's load, stored in the results).
# Variants run interleaved (sample 1 of each, then sample 2 of each, ...), one at a time in the same
# namespace (no addresses outside it: 100.64.8.1/24 inside the tunnel, UDP 51820 on its loopback).
# Writes perf/results/<stamp>-idle-rss.json: per variant, VmRSS and VmHWM of each sample, PSS
# (shared pages divided among the processes mapping them), private memory (clean + dirty) and
# anonymous memory (/proc/<pid>/smaps_rollup), their medians, and where the resident pages of the
# last sample lie (/proc/<pid>/smaps: per mapped file, anonymous memory, io_uring rings: Rss, Pss,
# private and private dirty kB) and, finer, per section of the executable and per kind of anonymous
# memory (perf/tools/resident_pages.py).
set -euo pipefail
cd "$(dirname "$0")/.."
settle=${1:-5}
samples=${2:-3}
PREFIX="${PREFIX:-wnp}"
if [ -z "${WIRENET_BIN:-}" ]; then
    WIRENET_BIN="$(scripts/build-wirenet.sh)"
fi
GVISOR_PEER="${GVISOR_PEER:-perf/.build/bin/gvisor-peer}"
declare -A binary=([default]="$WIRENET_BIN")
variants="default"
for pair in ${WIRENET_BINS:-}; do
    binary[${pair%%=*}]="${pair#*=}"
    variants="$variants ${pair%%=*}"
done
if [ "$GVISOR_PEER" != none ] && [ -x "$GVISOR_PEER" ]; then
    binary[wireguard-go+gvisor]="$GVISOR_PEER"
    variants="$variants wireguard-go+gvisor"
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
# A binary just built or copied sits in the page cache as dirty pages until written back, and its
# mapped pages would count as private dirty memory: written back first.
sync
for i in $(seq 1 "$samples"); do
    for variant in $variants; do
        if [ "$variant" = wireguard-go+gvisor ]; then
            ip netns exec "$ns" "${binary[$variant]}" serve -config "$work/wg.conf" >"$work/log" 2>&1 &
        else
            ip netns exec "$ns" "${binary[$variant]}" up --config "$work/wg.conf" >"$work/log" 2>&1 &
        fi
        pid=$!
        sleep "$settle"
        kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
        cp /proc/$pid/smaps "$work/smaps.$variant"
        python3 perf/tools/resident_pages.py "$pid" >"$work/pages.$variant"
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
binaries="$(for v in $variants; do printf '%s=%s\n' "$v" "${binary[$v]}"; done)"
python3 - "$out" "$binaries" "$settle" "$work/samples.jsonl" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(git rev-parse --short HEAD)" "$work" "${NOTE:-}" <<'PY'
import json, sys
out, binaries, settle, samples, load, commit, work, note = sys.argv[1:]
binaries = dict(line.split("=", 1) for line in binaries.splitlines())
samples = [json.loads(line) for line in open(samples)]
def breakdown(smaps):
    # Resident kB per mapping name: all (Rss), shared pages divided among their processes (Pss),
    # this process's alone (private: clean + dirty) and private dirty pages.
    keys = {"Rss:": "rss_kib", "Pss:": "pss_kib", "Private_Clean:": "private_kib", "Private_Dirty:": "private_kib"}
    where, name = {}, None
    for line in open(smaps):
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
            name = fields[5] if len(fields) >= 6 else "[anonymous]"
            if name.startswith("/"):
                name = name.rsplit("/", 1)[1]
            where.setdefault(name, {"rss_kib": 0, "pss_kib": 0, "private_kib": 0, "private_dirty_kib": 0})
        elif fields[0] in keys:
            where[name][keys[fields[0]]] += int(fields[1])
            if fields[0] == "Private_Dirty:":
                where[name]["private_dirty_kib"] += int(fields[1])
    return [{"mapping": n, **v} for n, v in sorted(where.items(), key=lambda x: -x[1]["rss_kib"]) if v["rss_kib"] > 0]
med = lambda v: sorted(v)[len(v) // 2]
variants = {}
for variant in sorted({s["variant"] for s in samples}):
    rows = [s for s in samples if s["variant"] == variant]
    v = {key: [r[key] for r in rows] for key in ("vmrss_kib", "vmhwm_kib", "pss_kib", "private_kib", "private_dirty_kib", "anonymous_kib")}
    v.update({"median_" + key.replace("_kib", "_mib"): round(med(v[key]) / 1024, 1) for key in list(v)})
    v["binary"] = binaries[variant]
    v["last_sample_smaps"] = breakdown(f"{work}/smaps.{variant}")
    # The same sample, finer (perf/tools/resident_pages.py): the executable's resident pages per ELF
    # section, anonymous memory per kind (each thread's stack, malloc arenas), the thread count.
    v["last_sample_pages"] = json.load(open(f"{work}/pages.{variant}"))
    variants[variant] = v
result = {"command": f"sudo perf/idle-rss.sh {settle} {len(samples) // len(variants)}", "binary": binaries["default"], "commit": commit,
          "what": "wirenet up, one peer, no traffic, sampled after settling",
          "settle_s": float(settle), "loadavg": load, "note": note, "variants": variants,
          # The default variant's figures at the top level, as earlier results had them.
          "median_vmrss_mib": variants["default"]["median_vmrss_mib"], "median_vmhwm_mib": variants["default"]["median_vmhwm_mib"]}
json.dump(result, open(out, "w"), indent=1)
for name, v in variants.items():
    print(f"{name}: " + json.dumps({k: x for k, x in v.items() if k.startswith("median_")}))
    for m in v["last_sample_smaps"][:10]:
        print(f"  {m['rss_kib']:6d} kB resident, pss {m['pss_kib']:6d}, private {m['private_kib']:6d}, dirty {m['private_dirty_kib']:5d}  {m['mapping']}")
    pages = v["last_sample_pages"]
    print("  executable by section: " + ", ".join(f"{s['section']} {s['kib']}" for s in pages["executable"][:8]))
    print(f"  anonymous by kind ({pages['threads']} threads): " + ", ".join(f"{a['kind']} {a['kib']}" for a in pages["anonymous"]))
PY
echo "results: $out"
