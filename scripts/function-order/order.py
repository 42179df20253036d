#!/usr/bin/env python3
"""Turns the functions `wirenet up` ran, in the order they first ran (first-calls.c), into lld's
--symbol-ordering-file (scripts/record-function-order.sh).

    order.py SYMBOLS MAP HEADER CALLS... > wirenet.order

SYMBOLS: "hexaddress name" of every function symbol of the traced executable (nm); MAP: lld's link
map (-Map) of that executable; HEADER: a comment line; CALLS: "hexaddress name" lines from
first-calls, one file per run (a function only some runs reach, such as a wake-up that depends on
thread timing, follows those of the first run).

lld moves whole input sections, and a name in the list moves every section that defines a symbol of
that name. Two kinds of section make that costly: the static Swift libraries (libswiftCore's Swift.o,
_Concurrency, FoundationEssentials, ...) were compiled without function sections, so each object's
code is one `.text` section of up to 1.6 MiB; and local helpers (value witnesses, outlined copies,
merged `...Tm` thunks) have the same name in many objects. So:
  - functions in sections of their own come first, in first-call order: the dense block;
  - functions inside shared sections (holding several functions) follow, so that those sections
    sit together after the dense block instead of splitting it;
  - a name that also names a function inside a shared section that did not run is left out:
    listing it would drag that whole section forward.
"""
import bisect
import re
import sys


def text_sections(map_path):
    """(start, size, name) of each input section of .text in lld's map."""
    sections = []
    for line in open(map_path):
        m = re.match(r"\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ {9}(\S.*)$", line)
        if m and ":(.text" in m.group(3):
            sections.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3)))
    return sorted(sections)


def main(symbols_path, map_path, header, *calls_paths):
    sections = text_sections(map_path)
    starts = [s[0] for s in sections]

    def section_of(address):
        i = bisect.bisect_right(starts, address) - 1
        if i >= 0 and sections[i][0] <= address < sections[i][0] + max(sections[i][1], 1):
            return i
        return None

    functions_in = {}  # section index -> distinct function addresses
    where = {}         # name -> section indices of every symbol of that name
    for line in open(symbols_path):
        address, name = line.split(maxsplit=1)
        address, name = int(address, 16), name.strip()
        i = section_of(address)
        if i is None:
            continue
        functions_in.setdefault(i, set()).add(address)
        where.setdefault(name, set()).add(i)
    shared = {i for i, addresses in functions_in.items() if len(addresses) > 1}

    dense, late, left_out, seen, ran_shared = [], [], [], set(), set()
    calls = [(int(a, 16), n.strip()) for path in calls_paths
             for a, n in (line.split(maxsplit=1) for line in open(path))]
    for address, _ in calls:
        i = section_of(address)
        if i in shared:
            ran_shared.add(i)
    for address, name in calls:
        if name in seen:
            continue
        seen.add(name)
        i = section_of(address)
        if i is None:
            continue
        if any(j in shared and j not in ran_shared for j in where.get(name, ())):
            left_out.append(name)
        elif i in shared:
            late.append(name)
        else:
            dense.append(name)
    dense_bytes = sum(sections[i][1] for i in {section_of(a) for a, n in calls if n in set(dense)} if i is not None)
    late_bytes = sum(sections[i][1] for i in ran_shared)
    print(f"# {header}")
    print(f"# {len(dense)} functions in sections of their own ({dense_bytes // 1024} KiB), then {len(late)} inside"
          f" {len(ran_shared)} shared sections ({late_bytes // 1024} KiB); {len(left_out)} names left out"
          " (they also name functions in shared sections that did not run).")
    for name in dense + late:
        print(name)
    print(f"order: {len(dense)} dense ({dense_bytes // 1024} KiB), {len(late)} in {len(ran_shared)} shared sections"
          f" ({late_bytes // 1024} KiB), {len(left_out)} left out", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])
