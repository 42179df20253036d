#!/usr/bin/env python3
"""Medians of perf/floods/run.sh results files, per binary: summary.py FILE... (see compare.sh).

A file's side (before/after) is read from its name (…-before-rN.txt / …-after-rN.txt). For every
flood: the peer's goodput as a share of that run's quiet baseline, the attacker's rate, the node's
CPU and the kernel's drops, as the median with the range over the runs."""
import re
import statistics
import sys


def rows(path):
    """(flood, attacker rate/s, goodput Mbit/s, share %, node CPU %, overflows, filtered) per table row."""
    out = []
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not re.match(r"^\d+ Mbit/s$", cells[2]):
            continue
        if cells[1] != "–" and not cells[1].startswith("sent "):
            continue  # the attacker failed (e.g. no transport datagrams captured to replay)
        rate = re.search(r"\((\d+)/s\)", cells[1])
        number = lambda text: int(text) if re.match(r"^-?\d+$", text or "") else None
        out.append((cells[0], int(rate.group(1)) if rate else None, int(cells[2].split()[0]),
                    int(cells[3].split()[0]), number(cells[4].split()[0]),
                    number(cells[5]) if len(cells) > 5 else None, number(cells[6]) if len(cells) > 6 else None))
    return out


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    median = statistics.median(values)
    return f"{median:g} ({min(values)}–{max(values)})" if len(values) > 1 else f"{median:g}"


def main():
    sides = {}
    for path in sys.argv[1:]:
        side = "after" if re.search(r"-after-r\d+\.txt$", path) else "before"
        sides.setdefault(side, []).append(path)
    load = []
    for path in sys.argv[1:]:
        match = re.search(r"load average ([\d.]+)", open(path).read())
        if match:
            load.append(float(match.group(1)))
    print(f"Runs: {len(sys.argv) - 1} ({', '.join(p.rsplit('/', 1)[-1] for p in sys.argv[1:])})")
    print(f"Load average (1 min) at the end of each run: {', '.join(f'{v:g}' for v in load)}")
    print()
    print("| binary | flood | peer goodput, median (range), Mbit/s | of baseline, median (range) | attacker/s | node CPU % | socket buffer overflows | socket filter drops |")
    print("|---|---|---|---|---|---|---|---|")
    for side in ("before", "after"):
        per_flood = {}
        for path in sides.get(side, []):
            for row in rows(path):
                per_flood.setdefault(row[0], []).append(row)
        for flood, runs in per_flood.items():
            column = lambda i: [r[i] for r in runs]
            print(f"| {side} | {flood} | {spread(column(2))} | {spread(column(3))} % | {spread(column(1))} | "
                  f"{spread(column(4))} | {spread(column(5))} | {spread(column(6))} |")


if __name__ == "__main__":
    main()
