#!/usr/bin/env python3
"""Writes the "Every core, reproducible figures" section of Docs/performance.md (between the
`summary:begin` / `summary:end` markers) from the newest results files of the scripts in perf/:
run.sh (<stamp>.json), crypto-bench.sh (-crypto.jsonl), alloc.sh (-alloc.jsonl), idle-rss.sh
(-idle-rss.json), profile-node.sh (-profile-node.txt), udp-bench.sh (-udp.txt). Every figure it
prints names the file it came from; nothing is typed in by hand.

usage: perf/tools/summary.py [--docs Docs/performance.md]
"""
import argparse, glob, json, os, re, statistics

results = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "results")


def newest(pattern):
    files = sorted(glob.glob(os.path.join(results, pattern)))
    return files[-1] if files else None


def rel(path):
    return "perf/results/" + os.path.basename(path)


def link(path):
    return f"[`{rel(path)}`](../{rel(path)})"


def run_section(out):
    # The newest run that measured a symmetric row's goodput: runs of other rows only (latency,
    # connection set-up, diagnosis of one row) are reported in their own Docs sections.
    def symmetric_goodput(path):
        rows = json.load(open(path))["rows"]
        return any(r["row"] in ("a", "g", "d") and r["status"] == "measured" and "upload-1" in r.get("tests", {})
                   for r in rows)
    runs = [f for f in sorted(glob.glob(os.path.join(results, "*Z.json"))) if symmetric_goodput(f)]
    if not runs:
        return
    path = runs[-1]
    summary = json.load(open(path))
    meta = summary["meta"]
    rows = {r["row"]: r for r in summary["rows"]}
    out.append(f"**Symmetric rows** ({link(path)}; {meta.get('repeat', 1)} runs per row, interleaved; "
               f"load average before {meta['loadavg_before']}, after {meta['loadavg_after']}). Medians (min–max):")
    out.append("")
    out.append("| both ends | upload 1 flow | upload 4 flows | download 1 flow | download 4 flows | CPU s/GB both nodes, upload 1 flow | download 1 flow |")
    out.append("|---|---|---|---|---|---|---|")

    def cell(t, field, digits):
        if not t or t.get(field) is None:
            return "–"
        sp = t.get("spread", {}).get(field)
        v = f"{t[field]:.{digits}f}"
        return v + (f" ({sp[0]:.{digits}f}–{sp[1]:.{digits}f})" if sp and t.get("runs", 1) > 1 else "")

    def both(t):
        if not t or t.get("cpu_per_gb_left") is None:
            return "–"
        return f"{t['cpu_per_gb_left'] + t['cpu_per_gb_right']:.1f}"

    names = {"a": "WireNet ↔ WireNet (CLI, `--forward`/`--serve` proxies)", "g": "wireguard-go + gVisor ↔ the same (tsnet options)",
             "d": "wireguard-go + Linux TCP ↔ the same"}
    for key in ("a", "g", "d"):
        r = rows.get(key)
        if not r or r["status"] != "measured":
            continue
        t = r["tests"]
        out.append(f"| {names[key]} | " + " | ".join(cell(t.get(k), "gbit_per_s", 3) for k in
                   ("upload-1", "upload-4", "download-1", "download-4")) +
                   f" | {both(t.get('upload-1'))} | {both(t.get('download-1'))} |")
    a, g = rows.get("a"), rows.get("g")
    if a and g and a["status"] == g["status"] == "measured":
        out.append("")
        ratios = []
        for k in ("upload-1", "download-1", "upload-4", "download-4"):
            ta, tg = a["tests"].get(k), g["tests"].get(k)
            if ta and tg and tg.get("gbit_per_s"):
                ratios.append(f"{k} {ta['gbit_per_s'] / tg['gbit_per_s']:.2f}×")
        cpu = []
        for k in ("upload-1", "download-1"):
            ta, tg = a["tests"].get(k), g["tests"].get(k)
            if ta and tg and ta.get("cpu_per_gb_left") is not None and tg.get("cpu_per_gb_left") is not None:
                wa = ta["cpu_per_gb_left"] + ta["cpu_per_gb_right"]
                wg = tg["cpu_per_gb_left"] + tg["cpu_per_gb_right"]
                cpu.append(f"{k} {wa:.1f} vs {wg:.1f} s/GB ({wa / wg:.2f})")
        out.append(f"WireNet ↔ WireNet against gVisor ↔ gVisor (targets: ≥ 3× goodput, ≤ 1/3 CPU per GB): goodput "
                   + ", ".join(ratios) + "; CPU per GB, both nodes: " + ", ".join(cpu) + ".")
        floor = summary.get("floor_cpu_s_per_gb")
        t = a["tests"].get("upload-1")
        if floor and t and t.get("cpu_per_gb_left") is not None:
            out.append(f"Floor in the same run (libsodium seal + open, one thread): {floor:.2f} s/GB; WireNet ↔ WireNet "
                       f"upload 1 flow uses {(t['cpu_per_gb_left'] + t['cpu_per_gb_right']) / floor:.1f}× that (target ≤ 2.5×).")
    out.append("")


def crypto_section(out):
    path = newest("*-crypto.jsonl")
    if not path:
        return
    recs = [json.loads(l) for l in open(path) if l.strip()]
    head = recs[0]
    # A run comparing two binaries (CRYPTO_BENCH_BEFORE) reports the current one ("after") here.
    runs = [r for r in recs if "measurement" in r and r.get("binary") != "before"]
    before = [r for r in recs if r.get("binary") == "before"]
    groups = {}
    for r in runs:
        if "threads" in r: groups.setdefault((r["measurement"], r["threads"]), []).append(r)
    med = lambda v: statistics.median(v)
    one = groups.get(("seal+order+open", 1), [])
    two = groups.get(("seal+order+open", 2), [])
    floor = groups.get(("libsodium seal+open (floor)", 1), [])
    loads = [r["loadAverage1m"] for r in runs if "loadAverage1m" in r]
    out.append(f"**WireGuard data path in memory** ({link(path)}, `{head['command']}`, load {min(loads):.2f}–{max(loads):.2f}): "
               "batches of 256 × 1420-byte packets sealed, taken back in order, opened and completed.")
    out.append("")
    out.append("| | MB/s, median (min–max) | CPU s per GB | allocations per packet | helpers' share of jobs |")
    out.append("|---|---|---|---|---|")
    for name, g in (("1 crypto thread", one), ("2 crypto threads", two), ("libsodium seal+open, 1 thread (floor)", floor)):
        if not g:
            continue
        m = [r["MBps"] for r in g]
        out.append(f"| {name} | {med(m):.0f} ({min(m):.0f}–{max(m):.0f}) | {med([r['cpuSecondsPerGB'] for r in g]):.2f} | "
                   f"{max(r['allocationsPerPacket'] for r in g):.4f} | {med([r.get('helperJobShare', 0) for r in g]):.2f} |")
    caps = [r for r in recs if r.get("measurement") == "parallel capacity"]
    if caps:
        ratio = [(r["pair"][0]["MBps"] + r["pair"][1]["MBps"]) / r["alone"]["MBps"] for r in caps]
        out.append("")
        out.append(f"The machine's parallel capacity in the same run: libsodium in two processes at once moved "
                   f"{med(ratio):.2f}× ({min(ratio):.2f}–{max(ratio):.2f}) what one process moves alone — the most a "
                   "second crypto thread can add on this VM at that moment.")
    if one and two:
        out.append("")
        out.append(f"2 threads / 1 thread: **{med([r['MBps'] for r in two]) / med([r['MBps'] for r in one]):.2f}×** (target ≥ 1.8×); "
                   f"pipeline CPU per GB / libsodium floor: {med([r['cpuSecondsPerGB'] for r in one]) / med([r['cpuSecondsPerGB'] for r in floor]):.2f}.")
    b1 = [r for r in before if r.get("measurement") == "seal+order+open" and r.get("threads") == 1]
    b2 = [r for r in before if r.get("measurement") == "seal+order+open" and r.get("threads") == 2]
    if b1 and b2:
        mb = lambda g: [r["MBps"] for r in g]
        cpu = lambda g: med([r["cpuSecondsPerGB"] for r in g])
        label = re.search(r"\(([^()]*)\)\s*$", head.get("before", ""))
        out.append(f"In the same run, interleaved round by round, the before binary ({label.group(1) if label else head.get('before', '').strip()}): "
                   f"1 thread {med(mb(b1)):.0f} MB/s ({min(mb(b1)):.0f}–{max(mb(b1)):.0f}), 2 threads {med(mb(b2)):.0f} "
                   f"({min(mb(b2)):.0f}–{max(mb(b2)):.0f}), **{med(mb(b2)) / med(mb(b1)):.2f}×**; CPU s per GB {cpu(b1):.2f} / {cpu(b2):.2f}.")
    out.append("")


def alloc_section(out):
    path = newest("*-alloc.jsonl")
    if not path:
        return
    recs = [json.loads(l) for l in open(path) if l.strip()]
    rows = [r for r in recs if "allocations" in r]
    floors = [r["floor"]["cpuSecondsPerGB"] for r in recs if "floor" in r]
    floor = statistics.median(floors) if floors else None
    out.append(f"**Allocations of the steady-state data path** ({link(path)}, `{recs[0]['command']}`, node to node in one "
               "process, counted after a 16 MiB warm-up):")
    out.append("")
    cpu_header = " CPU s per GB, both nodes (× floor) |" if floor else ""
    out.append("| crypto threads | write size | packets | API calls (writes + reads) | allocations | per API call | in-process single flow (library API, no proxies) |" + cpu_header)
    out.append("|---|---|---|---|---|---|---|" + ("---|" if floor else ""))
    # Runs of the same configuration (perf/alloc.sh's rounds) as medians with their spread.
    groups = {}
    for r in rows:
        groups.setdefault((r["cryptoThreads"], r["chunkBytes"]), []).append(r)
    def med(values, digits):
        if len(values) == 1:
            return f"{values[0]:.{digits}f}"
        return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"
    for (threads, chunk), runs in groups.items():
        calls = [r["writeCalls"] + r["readCalls"] for r in runs]
        cpu = ""
        if floor:
            per_gb = [r["cpuSeconds"] / (r["measuredBytes"] / 1e9) for r in runs if "cpuSeconds" in r]
            cpu = f" {med(per_gb, 2)} ({statistics.median(per_gb) / floor:.2f}×) |" if per_gb else " – |"
        out.append(f"| {threads} | {chunk >> 10} KiB | {runs[0]['dataPackets']} | {med(calls, 0)} | "
                   f"{med([r['allocations'] for r in runs], 0)} | {med([r['allocations'] / (r['writeCalls'] + r['readCalls']) for r in runs], 1)} | "
                   f"{med([r['measuredBytes'] * 8 / r['seconds'] / 1e9 for r in runs], 2)} Gbit/s |{cpu}")
    if floor:
        after = next((r["loadavg_after"] for r in recs if "loadavg_after" in r), "?")
        out.append("")
        out.append(f"Floor in the same run (libsodium seal + open of 1420-byte packets, one thread, start and end): "
                   f"{floor:.2f} CPU s per GB; load average {recs[0].get('loadavg_before', '?')} before, {after} after.")
    out.append("")
    out.append("Allocations follow the number of API calls (continuations and the arrays `read` returns), not the number "
               "of packets: the data path itself allocates nothing per packet. `ParallelCryptoTests` fails when a run "
               "exceeds 24 allocations per API call, i.e. as soon as the data path allocates about once per four packets.")
    out.append("")


def rss_section(out):
    path = newest("*-idle-rss.json")
    if not path:
        return
    r = json.load(open(path))
    rows = "; ".join(f"{name} {v['median_vmrss_mib']} MiB ({', '.join(str(x) for x in v['vmrss_kib'])} kB; PSS {v['median_pss_mib']} MiB)"
                     for name, v in r["variants"].items())
    out.append(f"**Idle memory** ({link(path)}, `{r['command']}`): `wirenet up` with one peer, no traffic: VmRSS "
               f"median **{r['median_vmrss_mib']} MiB** — per variant: {rows}; load {r['loadavg']}.")
    out.append("")


def profile_section(out):
    path = newest("*-profile-node.txt")
    if not path:
        return
    lines = open(path).read().splitlines()
    shares = [l.lstrip("# ").strip() for l in lines if re.match(r"#\s+[\d.]+ %", l)]
    out.append(f"**Where a node's time goes** ({link(path)}, `{lines[0].lstrip('# ').split(' — ')[0]}`, two nodes in one "
               "process, one TCP flow, self time): " + "; ".join(shares) + ".")
    out.append("")


def udp_section(out):
    path = newest("*-udp.txt")
    if not path:
        return
    text = open(path).read().splitlines()
    out.append(f"**UDP transport** ({link(path)}, `perf/udp-bench.sh`): loopback, like with like — offload rows against C "
               "with `UDP_SEGMENT`/`UDP_GRO`, plain rows against plain C; what io_uring adds is its row against the "
               "`sendmmsg`/`recvmmsg` (portable) row of the same offload setting:")
    out.append("")
    out.append("```")
    out += [l for l in text if l.strip()]
    out.append("```")
    out.append("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs")
    args = ap.parse_args()
    out = []
    for section in (run_section, crypto_section, alloc_section, rss_section, profile_section, udp_section):
        section(out)
    block = "\n".join(["<!-- summary:begin (generated by perf/tools/summary.py from perf/results; edit outside these markers) -->", ""]
                      + out + ["<!-- summary:end -->"])
    if not args.docs:
        print(block)
        return
    text = open(args.docs).read()
    new, n = re.subn(r"<!-- summary:begin.*?<!-- summary:end -->", lambda _: block, text, flags=re.S)
    if n == 0:
        new = text.rstrip() + "\n\n" + block + "\n"
    open(args.docs, "w").write(new)


if __name__ == "__main__":
    main()
