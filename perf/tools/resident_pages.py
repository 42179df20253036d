#!/usr/bin/env python3
"""Where a running process's resident pages lie, finer than smaps: for the executable, per ELF
section (.text, .rodata, .eh_frame, the Swift metadata sections, .data, ...); for anonymous memory,
per kind (each thread's stack, malloc arenas, the rest). Reads /proc/PID/maps and /proc/PID/pagemap
(present bit of each page; run as root or as the process's owner) and the executable's section
headers. Prints JSON: {"executable": [{"section", "kib"}], "anonymous": [{"kind", "kib"}],
"anonymous_mappings_over_64_kib": [...], "threads": N, "mappings": [{"mapping", "kib"}]}.

Usage: perf/tools/resident_pages.py PID
"""
import json
import os
import struct
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")
ARENA_ALIGN = 64 << 20  # glibc's HEAP_MAX_SIZE on 64-bit: every non-main malloc arena starts aligned to it


def sections(path):
    """(name, address, file offset, size) of each loaded ELF64 section that occupies file bytes."""
    with open(path, "rb") as f:
        ident = f.read(64)
        if ident[:4] != b"\x7fELF" or ident[4] != 2:
            return []
        shoff, = struct.unpack_from("<Q", ident, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ident, 0x3A)
        f.seek(shoff)
        raw = f.read(shentsize * shnum)
        headers = [struct.unpack_from("<IIQQQQIIQQ", raw, i * shentsize) for i in range(shnum)]
        strtab = headers[shstrndx]
        f.seek(strtab[4])
        names = f.read(strtab[5])
    out = []
    for name_off, sh_type, _flags, addr, offset, size, *_ in headers:
        if sh_type == 8 or size == 0 or addr == 0:  # NOBITS (.bss), empty, or not loaded
            continue
        name = names[name_off:names.index(b"\0", name_off)].decode()
        out.append((name, addr, offset, size))
    return sorted(out, key=lambda s: s[2])


def present_pages(pid, start, end):
    """Virtual addresses of the pages in [start, end) that are resident (pagemap bit 63)."""
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        data = f.read((end - start) // PAGE * 8)
    return [start + i * PAGE for i, (entry,) in enumerate(struct.iter_unpack("<Q", data)) if entry >> 63]


def thread_stack_pointers(pid):
    """Stack pointer of each thread blocked in a system call (/proc/PID/task/TID/syscall)."""
    sps = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = open(f"/proc/{pid}/task/{tid}/syscall").read().split()
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
        except OSError:
            continue
        if len(fields) >= 9:
            sps[int(fields[7], 16)] = f"{comm} ({tid})"
    return sps


def main(pid):
    exe = os.readlink(f"/proc/{pid}/exe")
    secs = sections(exe)
    stacks = thread_stack_pointers(pid)
    per_section, per_kind, per_mapping, large = {}, {}, {}, []
    for line in open(f"/proc/{pid}/maps"):
        fields = line.split()
        start, end = (int(x, 16) for x in fields[0].split("-"))
        offset = int(fields[2], 16)
        name = fields[5] if len(fields) >= 6 else ""
        pages = present_pages(pid, start, end) if not name.startswith("[v") else []
        if not pages:
            continue
        kib = len(pages) * PAGE // 1024
        label = name.rsplit("/", 1)[-1] if name.startswith("/") else (name or "[anonymous]")
        per_mapping[label] = per_mapping.get(label, 0) + kib
        if name == exe:
            for page in pages:
                off = page - start + offset
                sec = next((s for s, _, o, n in secs if o <= off < o + n), "(between sections: headers, padding)")
                per_section[sec] = per_section.get(sec, 0) + PAGE // 1024
        elif not name:
            owner = next((t for sp, t in stacks.items() if start <= sp < end), None)
            if owner:
                kind = f"stack of thread {owner}"
            elif start % ARENA_ALIGN == 0:
                kind = "malloc arena of a thread (64 MiB-aligned heap)"
            else:
                kind = "other anonymous (mmap'd allocations, the executable's .bss)"
            per_kind[kind] = per_kind.get(kind, 0) + kib
            if kib >= 64:
                large.append({"kind": kind, "kib": kib, "mapping_kib": (end - start) // 1024, "start": hex(start)})
    order = lambda d: sorted(d.items(), key=lambda kv: -kv[1])
    print(json.dumps({
        "executable": [{"section": s, "kib": k} for s, k in order(per_section)],
        "anonymous": [{"kind": s, "kib": k} for s, k in order(per_kind)],
        "anonymous_mappings_over_64_kib": large,
        "threads": len(os.listdir(f"/proc/{pid}/task")),
        "mappings": [{"mapping": s, "kib": k} for s, k in order(per_mapping)],
    }, indent=1))


if __name__ == "__main__":
    main(int(sys.argv[1]))
