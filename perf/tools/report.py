#!/usr/bin/env python3
"""Turns the raw records of one perf/run.sh run into results: <out>.json (summary), <out>.md
(tables) and <out>-*.png (plots), and optionally refreshes the generated part of
Docs/performance.md (between the `results:begin` / `results:end` markers).

CPU time of a side = the increase of utime+stime (/proc/<pid>/stat) of the side's long-running
processes during the test, plus, on the client side, the client process's own utime+stime.
CPU per GB = that time / (payload bytes / 1e9). Memory of a side = sum of VmRSS (end of the row)
and of VmHWM (peak) of its long-running processes; the client side adds the largest VmHWM of
its client runs.

With REPEAT > 1 every test has one record per run (rows interleaved); each figure in the tables
is the median over the runs, followed by the spread (min–max) and the number of runs.
"""
import argparse
import json
import os
import re
import shutil
import sys

ROW_ORDER = ["a", "d", "g", "b", "c", "c-wgnetstack"]
ROW_TITLES = {
    "a": "(a) WireNet ↔ WireNet",
    "b": "(b) wireguard-go + Linux TCP ↔ WireNet",
    "c": "(c) wireguard-go + Linux TCP ↔ wireguard-go + gVisor (tsnet options)",
    "c-wgnetstack": "(c′) wireguard-go + Linux TCP ↔ wireguard-go + gVisor (gVisor defaults, as wireguard-go tun/netstack)",
    "d": "(d) wireguard-go + Linux TCP ↔ wireguard-go + Linux TCP",
    "g": "(g) wireguard-go + gVisor ↔ wireguard-go + gVisor (tsnet options and UDP buffers, both ends)",
}
# Fields reported as median with spread when a test ran more than once.
SPREAD_FIELDS = ["gbit_per_s", "cpu_per_gb_left", "cpu_per_gb_right", "p50_us", "p99_us", "per_second"]


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def aggregate(runs):
    """One test's records over several runs -> the record of the median run (by goodput, else by
    the first spread field present) with every numeric field replaced by its median, plus
    `runs` (n) and `spread` {field: [min, max]}."""
    if len(runs) == 1:
        t = dict(runs[0])
        t["runs"] = 1
        return t
    key = next((f for f in SPREAD_FIELDS if all(isinstance(r.get(f), (int, float)) for r in runs)), None)
    ordered = sorted(runs, key=lambda r: r.get(key) or 0) if key else runs
    t = dict(ordered[len(ordered) // 2])
    for f, v in list(t.items()):
        vals = [r.get(f) for r in runs]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vals):
            t[f] = median(vals)
    t["runs"] = len(runs)
    t["spread"] = {f: [min(r[f] for r in runs), max(r[f] for r in runs)] for f in SPREAD_FIELDS
                   if all(isinstance(r.get(f), (int, float)) for r in runs)}
    return t


def with_spread(t, field, digits=2):
    """'median (min–max, n=3)' or the plain value for a single run."""
    v = t.get(field)
    if v is None:
        return "–"
    sp = t.get("spread", {}).get(field)
    if not sp or t.get("runs", 1) < 2:
        return fmt(v, digits)
    return f"{fmt(v, digits)} ({fmt(sp[0], digits)}–{fmt(sp[1], digits)}, n={t['runs']})"
GOODPUT_TESTS = ["upload-1", "upload-4", "download-1", "download-4"]


def cpu_seconds(procs):
    return {p["pid"]: p["user_s"] + p["sys_s"] for p in procs}


def cpu_delta(before, after):
    b, a = cpu_seconds(before), cpu_seconds(after)
    return sum(a[p] - b.get(p, 0.0) for p in a)


def snmp_counters(text):
    """{'Tcp.RetransSegs': n, 'Udp.RcvbufErrors': n, ...} from /proc/net/snmp header/value lines."""
    out, lines = {}, text.splitlines()
    for head, vals in zip(lines[::2], lines[1::2]):
        proto = head.split(":")[0]
        for k, v in zip(head.split()[1:], vals.split()[1:]):
            try:
                out[f"{proto}.{k}"] = int(v)
            except ValueError:
                pass
    return out


def snmp_delta(rec, side, key):
    try:
        a = snmp_counters(rec["snmp_after"][side])
        b = snmp_counters(rec["snmp_before"][side])
        return a[key] - b[key]
    except (KeyError, TypeError):
        return None


# Linux TCP's own loss signals (TcpExt, /proc/net/netstat), per namespace: fast retransmits, tail
# loss probes, retransmission timeouts, D-SACKs received (the peer got a segment twice: a spurious
# retransmit), reordering events detected.
TCPEXT_SIGNALS = [("TCPFastRetrans", "fr"), ("TCPLossProbes", "tlp"), ("TCPTimeouts", "rto"),
                  ("TCPDSACKRecv", "dsack"), ("TCPSACKReorder", "reord")]


def dev_drops(rec, side, direction):
    """Sum over the namespace's interfaces of rx_drop or tx_drop during the test ("Dev:" lines)."""
    try:
        a = snmp_counters(rec["snmp_after"][side])
        b = snmp_counters(rec["snmp_before"][side])
    except (KeyError, TypeError):
        return None
    keys = [k for k in a if k.startswith("Dev.") and k.endswith("." + direction)]
    if not keys:
        return None
    return sum(a[k] - b.get(k, 0) for k in keys)


def wirenet_peer_drops(rec):
    """Packets the right-side WireNet node dropped for its peers during the test (status --json)."""
    a, b = rec.get("wirenet_after"), rec.get("wirenet_before")
    if not a or not b:
        return None
    return sum(p.get("droppedPackets", 0) for p in a.get("peers", [])) - \
        sum(p.get("droppedPackets", 0) for p in b.get("peers", []))


def stalls(per_second, duration):
    """Seconds in which a bulk test moved < 10% of its median second, counting only whole seconds
    inside the test's nominal duration after the first (slow start) second."""
    s = (per_second or [])[1:int(duration)]
    if len(s) < 3:
        return 0
    med = sorted(s)[len(s) // 2]
    return sum(1 for x in s if x < 0.1 * med)


def summarise(raw_path, meta):
    rows = {}

    def row(name):
        return rows.setdefault(name, {"row": name, "title": ROW_TITLES.get(name, name), "status": "?",
                                       "left": "", "right": "", "tests": {}, "errors": {}, "runs": {}})

    client_hwm = {}
    floors = []
    for line in open(raw_path):
        line = line.strip()
        if not line:
            continue
        rec = json.loads(line)
        kind = rec["kind"]
        if kind == "floor":
            floors.append(rec["report"])
            continue
        r = row(rec["row"])
        if kind == "row":
            r.update(status=rec["status"], left=rec["left"], right=rec["right"])
        elif kind == "wnproto" and "error" in rec:
            r["errors"][rec["name"]] = rec["error"]
        elif kind == "wnproto":
            res = rec["report"]["result"]
            client = rec["report"]["client"]
            left_cpu = cpu_delta(rec["left_before"], rec["left_after"]) + client["user_s"] + client["sys_s"]
            right_cpu = cpu_delta(rec["right_before"], rec["right_after"])
            t = dict(res)
            t.update(cpu_left_s=round(left_cpu, 3), cpu_right_s=round(right_cpu, 3), loadavg1=rec.get("loadavg1"))
            for side in ("left", "right"):
                t[f"udp_rcvbuf_errors_{side}"] = snmp_delta(rec, side, "Udp.RcvbufErrors")
                t[f"tcp_retrans_segs_{side}"] = snmp_delta(rec, side, "Tcp.RetransSegs")
                t[f"if_tx_drops_{side}"] = dev_drops(rec, side, "tx_drop")
                for counter, _ in TCPEXT_SIGNALS:
                    t[f"tcpext_{counter}_{side}"] = snmp_delta(rec, side, "TcpExt." + counter)
            t["wirenet_peer_drops"] = wirenet_peer_drops(rec)
            if "per_second_mbit" in res:
                t["stall_seconds"] = stalls(res["per_second_mbit"], meta["durations"]["goodput_s"])
            if "bytes" in res and res["bytes"] > 0:
                gb = res["bytes"] / 1e9
                t.update(cpu_per_gb_left=round(left_cpu / gb, 3), cpu_per_gb_right=round(right_cpu / gb, 3))
            r["runs"].setdefault(rec["name"], []).append(t)
            client_hwm[rec["row"]] = max(client_hwm.get(rec["row"], 0), client["vmhwm_kib"])
        elif kind == "iperf3":
            end = rec["report"].get("end", {})
            rx = end.get("sum_received", {})
            r["runs"].setdefault(rec["name"], []).append({
                "test": "iperf3", "bytes": rx.get("bytes"), "seconds": rx.get("seconds"),
                "gbit_per_s": (rx.get("bits_per_second") or 0) / 1e9,
                "retransmits": end.get("sum_sent", {}).get("retransmits"),
                "cpu_left_s": round(cpu_delta(rec["left_before"], rec["left_after"]), 3),
                "cpu_right_s": round(cpu_delta(rec["right_before"], rec["right_after"]), 3),
            })
        elif kind == "memory":
            mem = {}
            for side in ("left", "right"):
                procs = rec[side]
                mem[side] = {
                    "rss_mib": sum(p["vmrss_kib"] for p in procs) / 1024,
                    "hwm_mib": sum(p["vmhwm_kib"] for p in procs) / 1024,
                    "processes": procs,
                }
            mem["left"]["client_hwm_mib"] = client_hwm.get(rec["row"], 0) / 1024
            mem["left"]["hwm_mib"] += mem["left"]["client_hwm_mib"]
            r["memory"] = mem
        elif kind == "profile":
            r["profile"] = {"upload": rec.get("upload"), "files": rec["files"]}
    for r in rows.values():
        for name, runs in r.pop("runs").items():
            r["tests"][name] = aggregate(runs)
            r["errors"].pop(name, None)   # a test that succeeded in some run is reported, not failed
    ordered = [rows[k] for k in ROW_ORDER if k in rows] + [v for k, v in rows.items() if k not in ROW_ORDER]
    summary = {"meta": meta, "rows": ordered}
    if floors:
        summary["floor_cpu_s_per_gb"] = median([f["cpuSecondsPerGB"] for f in floors])
        summary["floor_runs"] = floors
    return summary


def fmt(v, digits=2):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def under_load(meta):
    try:
        return max(float(meta["loadavg_before"].split()[0]), float(meta["loadavg_after"].split()[0])) > 0.5
    except (KeyError, ValueError, IndexError):
        return True


def goodput_test_table(out, summary, cell):
    """A table with one row per measured row and one column per goodput test; `cell` renders a test's
    summary (an empty dict when the row lacks the test)."""
    out.append("| row | " + " | ".join(GOODPUT_TESTS) + " |")
    out.append("|---|" + "---|" * len(GOODPUT_TESTS))
    for r in summary["rows"]:
        if r["status"] == "measured":
            out.append(f"| {r['row']} | " + " | ".join(cell(r["tests"].get(k, {})) for k in GOODPUT_TESTS) + " |")
    out.append("")


def tables(summary, image_prefix):
    meta = summary["meta"]
    out = []
    out.append(f"Run `{meta['stamp']}` ({meta['started_at']} – {meta['finished_at']}), machine: {meta['cpus']} vCPU "
               f"{meta['cpu_model']}, {meta['memory_total']} RAM, Linux {meta['kernel']}. "
               f"Load average (1/5/15 min) before: {meta['loadavg_before']}, after: {meta['loadavg_after']}.")
    d = meta["durations"]
    out.append(f"Goodput tests {d['goodput_s']} s each, latency {d['latency_s']} s (64-byte request and response, one "
               f"outstanding), connection set-up {d['connect_s']} s with {d['connect_concurrency']} parallel workers.")
    if meta.get("repeat", 1) > 1:
        out.append(f"Every row ran {meta['repeat']} times, rows interleaved (a d g … a d g …); figures are medians, "
                   f"with the spread (min–max) and the number of runs in brackets.")
    if meta.get("note"):
        out.append(f"Note: {meta['note']}")
    if under_load(meta):
        out.append("**Taken under load**: other work was running on this machine's 2 cores during the run, so these "
                   "figures are noisy and lower than an idle machine gives. Compare rows of the same run only.")
    out.append("")
    out.append("Client side (left) dials, server side (right) listens. Upload = client → server.")
    out.append("")
    out.append("| row | client side | server side | status |")
    out.append("|---|---|---|---|")
    for r in summary["rows"]:
        out.append(f"| {r['row']} | {r['left'] or '–'} | {r['right'] or '–'} | {r['status']} |")
    out.append("")
    out.append("**Goodput (Gbit/s)**")
    out.append("")
    out.append("| row | upload 1 flow | upload 4 flows | download 1 flow | download 4 flows | iperf3 1 / 4 flows |")
    out.append("|---|---|---|---|---|---|")
    for r in summary["rows"]:
        t = r["tests"]
        if r["status"] != "measured":
            out.append(f"| {r['row']} | {r['status']} | | | | |")
            continue
        cells = []
        for k in GOODPUT_TESTS:
            if k not in t:
                cells.append("failed" if k in r["errors"] else "–")
                continue
            c = with_spread(t[k], "gbit_per_s", 3)
            if t[k].get("stall_seconds"):
                c += f" ({t[k]['stall_seconds']} s stalled)"
            cells.append(c)
        ip = "–"
        if "iperf3-1" in t or "iperf3-4" in t:
            ip = f"{fmt(t.get('iperf3-1', {}).get('gbit_per_s'), 3)} / {fmt(t.get('iperf3-4', {}).get('gbit_per_s'), 3)}"
        out.append(f"| {r['row']} | " + " | ".join(cells) + f" | {ip} |")
    out.append("")
    out.append("A second is *stalled* when it moved under 10 % of the test's median second (client-side count per second, "
               "in the JSON as `per_second_mbit`).")
    out.append("")
    out.append("**Loss signals during the goodput tests** (UDP receive-buffer drops in namespace L / R from /proc/net/snmp; "
               "Linux TCP retransmitted segments L / R — gVisor's own retransmits are not visible there)")
    out.append("")
    goodput_test_table(out, summary, lambda t:
                       f"drops {fmt(t.get('udp_rcvbuf_errors_left'))} / {fmt(t.get('udp_rcvbuf_errors_right'))}, "
                       f"retrans {fmt(t.get('tcp_retrans_segs_left'))} / {fmt(t.get('tcp_retrans_segs_right'))}")
    if any(t.get("if_tx_drops_left") is not None for r in summary["rows"] for t in r["tests"].values()):
        out.append("**Where the loss is** (namespace L / R: packets dropped on transmit by an interface — a TUN "
                   "device's are packets wireguard-go did not read in time; Linux TCP's fast retransmits, tail loss "
                   "probes, timeouts, D-SACKs received and reordering events (TcpExt); packets the WireNet node "
                   "dropped for its peer)")
        out.append("")
        def where_the_loss_is(t):
            cell = f"if drops {fmt(t.get('if_tx_drops_left'))} / {fmt(t.get('if_tx_drops_right'))}; " + ", ".join(
                f"{short} {fmt(t.get(f'tcpext_{c}_left'))} / {fmt(t.get(f'tcpext_{c}_right'))}"
                for c, short in TCPEXT_SIGNALS)
            if t.get("wirenet_peer_drops") is not None:
                cell += f"; WireNet drops {fmt(t.get('wirenet_peer_drops'))}"
            return cell
        goodput_test_table(out, summary, where_the_loss_is)
    out.append("**Latency and connection set-up**")
    out.append("")
    out.append("| row | RTT p50 (µs) | RTT p99 (µs) | RTT p99.9 (µs) | round trips/s | connections/s | connection p50 / p99 (µs) |")
    out.append("|---|---|---|---|---|---|---|")
    for r in summary["rows"]:
        if r["status"] != "measured":
            out.append(f"| {r['row']} | {r['status']} | | | | | |")
            continue
        l = r["tests"].get("latency", {})
        c = r["tests"].get("connect", {})
        conn = f"{fmt(c.get('p50_us'), 0)} / {fmt(c.get('p99_us'), 0)}" if c else "–"
        if c.get("errors"):
            conn += f" ({c['errors']} errors)"
        out.append(f"| {r['row']} | {with_spread(l, 'p50_us', 0)} | {with_spread(l, 'p99_us', 0)} | {fmt(l.get('p999_us'), 0)} | "
                   f"{fmt(l.get('per_second'), 0)} | {fmt(c.get('per_second'), 0)} | {conn} |")
    out.append("")
    out.append("**CPU time per GB of payload (s/GB, utime+stime) and memory (MiB)**")
    out.append("")
    out.append("| row | upload 1 flow: client / server | download 1 flow: client / server | upload 4 flows: client / server | "
               "RSS end: client / server | peak RSS (VmHWM): client / server |")
    out.append("|---|---|---|---|---|---|")
    for r in summary["rows"]:
        if r["status"] != "measured":
            out.append(f"| {r['row']} | {r['status']} | | | | |")
            continue
        cells = []
        for k in ("upload-1", "download-1", "upload-4"):
            t = r["tests"].get(k, {})
            cells.append(f"{with_spread(t, 'cpu_per_gb_left')} / {with_spread(t, 'cpu_per_gb_right')}")
        m = r.get("memory")
        if m:
            cells.append(f"{fmt(m['left']['rss_mib'], 1)} / {fmt(m['right']['rss_mib'], 1)}")
            cells.append(f"{fmt(m['left']['hwm_mib'], 1)} / {fmt(m['right']['hwm_mib'], 1)}")
        else:
            cells += ["–", "–"]
        out.append(f"| {r['row']} | " + " | ".join(cells) + " |")
    out.append("")
    if summary.get("floor_cpu_s_per_gb"):
        out.append(f"The floor, libsodium ChaCha20-Poly1305 seal + open of 1420-byte packets on one thread (median of "
                   f"{len(summary['floor_runs'])} measurements, start and end of this run): "
                   f"**{summary['floor_cpu_s_per_gb']:.2f} s per GB** — what any implementation spends for one GB "
                   f"through a tunnel, both nodes together.")
        out.append("")
    out.append("Client side processes: wireguard-go + the wnperf client (or WireNet). Server side: wireguard-go + wnperf "
               "server (row d), gvisor-peer alone (rows c), WireNet + its loopback wnperf backend (rows a, b). Kernel "
               "TCP socket buffers and softirq work not charged to these processes are not counted.")
    errors = [(r["row"], k, v) for r in summary["rows"] for k, v in r["errors"].items()]
    if errors:
        out.append("")
        out.append("**Failed tests**")
        out.append("")
        for row, k, v in errors:
            out.append(f"- row {row}, {k}: `{v.strip()[:300]}`")
    if image_prefix is not None:
        out.append("")
        for name, title in (("goodput", "Goodput"), ("latency", "Latency and connection set-up"), ("cpu-memory", "CPU per GB and memory")):
            out.append(f"![{title}]({image_prefix}{name}.png)")
    return "\n".join(out)


def profile_section(summary, results_dir, top=8):
    out = []
    for r in summary["rows"]:
        p = r.get("profile")
        if not p:
            continue
        for f in p["files"]:
            path = os.path.join(results_dir, f)
            if not os.path.exists(path):
                continue
            lines = open(path).read().splitlines()
            header = lines[0].lstrip("# ") if lines else f
            flat = []
            in_flat = False
            for l in lines:
                if l.startswith("# flat"):
                    in_flat = True
                    continue
                if l.startswith("#"):
                    in_flat = False
                    continue
                if in_flat and len(flat) < top:
                    flat.append(l.strip())
            out.append(f"- {header} — top self time:")
            for l in flat:
                m = re.match(r"([\d.]+%)\s+(\S+)\s+\[[.k]\]\s+(.*)", l)
                out.append(f"  - {m.group(1)} `{m.group(3).strip()}` ({m.group(2)})" if m else f"  - `{l}`")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--out", required=True, help="path prefix, e.g. perf/results/2026-11-27T2200Z")
    ap.add_argument("--docs", help="Docs/performance.md to refresh")
    ap.add_argument("--docs-images", help="directory for the latest plots referenced by the docs")
    args = ap.parse_args()

    meta = json.load(open(args.meta))
    meta = meta.get("meta", meta)   # a previous summary works too (re-running the report)
    summary = summarise(args.raw, meta)
    with open(args.out + ".json", "w") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import plot
    images = plot.plot_all(summary, args.out + "-")

    results_dir = os.path.dirname(args.out)
    base = os.path.basename(args.out)
    prof = profile_section(summary, results_dir)
    md = [f"# WireNet performance comparison, run {meta['stamp']}", "", tables(summary, base + "-")]
    if prof:
        md += ["", "**Profiles** (perf record -g, cpu-clock, single-flow upload; full reports next to this file)", "", prof]
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(md) + "\n")

    if args.docs:
        img_dir = args.docs_images
        os.makedirs(img_dir, exist_ok=True)
        for img in images:
            shutil.copy(img, os.path.join(img_dir, os.path.basename(img)[len(base) + 1:]))
        rel = os.path.relpath(img_dir, os.path.dirname(args.docs)) + "/"
        block = ["<!-- results:begin (generated by perf/run.sh; edit outside these markers) -->", "",
                 f"Latest run: [`perf/results/{base}.md`](../perf/results/{base}.md)", "", tables(summary, rel)]
        if prof:
            block += ["", "Profiles of this run (top self time):", "", prof]
        block += ["", "<!-- results:end -->"]
        text = open(args.docs).read() if os.path.exists(args.docs) else "# Performance\n\n<!-- results:begin -->\n<!-- results:end -->\n"
        new, n = re.subn(r"<!-- results:begin.*?<!-- results:end -->", lambda _: "\n".join(block), text, flags=re.S)
        if n == 0:
            new = text.rstrip() + "\n\n" + "\n".join(block) + "\n"
        with open(args.docs, "w") as f:
            f.write(new)


if __name__ == "__main__":
    main()
