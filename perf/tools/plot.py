#!/usr/bin/env python3
"""Plots of one perf/run.sh summary (python3-matplotlib): <prefix>goodput.png,
<prefix>latency.png, <prefix>cpu-memory.png. Run alone: plot.py SUMMARY.json PREFIX"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SHORT = {"a": "(a) WireNet↔WireNet", "b": "(b) wg-go+Linux↔WireNet", "c": "(c) wg-go+Linux↔gVisor (tsnet)",
         "c-wgnetstack": "(c′) wg-go+Linux↔gVisor (defaults)", "d": "(d) wg-go+Linux↔wg-go+Linux"}


def measured(summary):
    return [r for r in summary["rows"] if r["status"] == "measured"]


def grouped_bars(ax, rows, series, value, ylabel, title):
    n = len(series)
    width = 0.8 / max(n, 1)
    for i, (key, label) in enumerate(series):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(rows))]
        ys = [value(r, key) or 0 for r in rows]
        bars = ax.bar(xs, ys, width, label=label)
        for b, y in zip(bars, ys):
            if y:
                ax.annotate(f"{y:.3g}", (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([SHORT.get(r["row"], r["row"]) for r in rows], rotation=15, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def subtitle(summary):
    m = summary["meta"]
    s = f"{m['cpus']} vCPU {m['cpu_model']}, Linux {m['kernel']}, {m['started_at'][:10]}, load {m['loadavg_before']}"
    return s


def test_value(field):
    return lambda r, key: r["tests"].get(key, {}).get(field)


def plot_all(summary, prefix):
    rows = measured(summary)
    files = []
    if not rows:
        return files

    fig, ax = plt.subplots(figsize=(9, 4.8))
    grouped_bars(ax, rows, [("upload-1", "upload, 1 flow"), ("upload-4", "upload, 4 flows"),
                            ("download-1", "download, 1 flow"), ("download-4", "download, 4 flows")],
                 test_value("gbit_per_s"), "Gbit/s", "TCP goodput through the tunnel")
    fig.suptitle(subtitle(summary), fontsize=8)
    fig.tight_layout()
    files.append(prefix + "goodput.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.8))
    grouped_bars(ax1, rows, [("p50_us", "p50"), ("p99_us", "p99")],
                 lambda r, k: r["tests"].get("latency", {}).get(k), "µs", "64-byte request/response round trip")
    grouped_bars(ax2, rows, [("per_second", "connections/s")],
                 lambda r, k: r["tests"].get("connect", {}).get(k), "connections/s", "Connection set-up rate")
    fig.suptitle(subtitle(summary), fontsize=8)
    fig.tight_layout()
    files.append(prefix + "latency.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.8))
    grouped_bars(ax1, rows, [("upload-1/cpu_per_gb_left", "upload: client side"), ("upload-1/cpu_per_gb_right", "upload: server side"),
                             ("download-1/cpu_per_gb_left", "download: client side"), ("download-1/cpu_per_gb_right", "download: server side")],
                 lambda r, k: r["tests"].get(k.split("/")[0], {}).get(k.split("/")[1]), "CPU s per GB", "CPU time per GB (1 flow)")
    grouped_bars(ax2, rows, [("left/hwm_mib", "client side peak"), ("right/hwm_mib", "server side peak"),
                             ("left/rss_mib", "client side at end"), ("right/rss_mib", "server side at end")],
                 lambda r, k: r.get("memory", {}).get(k.split("/")[0], {}).get(k.split("/")[1]), "MiB", "Resident memory")
    fig.suptitle(subtitle(summary), fontsize=8)
    fig.tight_layout()
    files.append(prefix + "cpu-memory.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)
    return files


if __name__ == "__main__":
    print("\n".join(plot_all(json.load(open(sys.argv[1])), sys.argv[2])))
