#!/usr/bin/env python3
"""Summarises one bulk TCP flow from a pcap taken at the sender's side (raw IP, as tcpdump writes on a
TUN device: perf/loss.sh with CAPTURE_DIR): what the sender did and how the receiver acknowledged.

    perf/tools/tcp-trace.py FILE.pcap [...]

Per file: data segments and retransmissions; stalls (no data sent for > 100 ms: retransmission
timeouts); pure ACKs and how many carried SACK / D-SACK blocks; the ACK delay (time from sending the
segment that completed an ACK's cumulative point to that ACK: round trip plus the receiver's delay),
its percentiles and how many exceeded 20 ms (delayed ACKs); the window advertised.
"""
import struct, sys

def packets(path):
    with open(path, "rb") as f:
        header = f.read(24)
        magic, = struct.unpack("<I", header[:4])
        endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
        nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
        linktype, = struct.unpack(endian + "I", header[20:24])
        while True:
            h = f.read(16)
            if len(h) < 16: return
            sec, frac, incl, _ = struct.unpack(endian + "IIII", h)
            data = f.read(incl)
            t = sec + frac / (1e9 if nano else 1e6)
            if linktype == 1: data = data[14:]          # Ethernet
            elif linktype == 113: data = data[16:]      # Linux cooked
            yield t, data

def parse(ip):
    if not ip or ip[0] >> 4 != 4 or ip[9] != 6: return None
    ihl = (ip[0] & 15) * 4
    total, = struct.unpack(">H", ip[2:4])
    tcp = ip[ihl:]
    sport, dport, seq, ack, off = struct.unpack(">HHIIB", tcp[:13])
    flags = tcp[13]
    win, = struct.unpack(">H", tcp[14:16])
    doff = (off >> 4) * 4
    opts, sack, i = tcp[20:doff], [], 0
    while i < len(opts):
        k = opts[i]
        if k == 0: break
        if k == 1: i += 1; continue
        if i + 1 >= len(opts): break
        n = opts[i + 1]
        if n < 2: break
        if k == 5: sack = [struct.unpack(">II", opts[j:j + 8]) for j in range(i + 2, i + n, 8)]
        i += n
    return dict(src=(ip[12:16], sport), dst=(ip[16:20], dport), seq=seq, ack=ack, flags=flags, win=win,
                payload=total - ihl - doff, sack=sack)

def pct(values, p):
    if not values: return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]

def summarise(path):
    pk = [(t, p) for t, raw in packets(path) if (p := parse(raw))]
    if not pk: return f"{path}: no TCP"
    volume = {}
    for _, p in pk: volume[p["src"]] = volume.get(p["src"], 0) + p["payload"]
    sender = max(volume, key=volume.get)
    highest, sent_at, data, rtx, last_data, stalls, stall_time = None, {}, 0, 0, None, 0, 0.0
    acks, sacked, dsacks, delays, windows, last_ack = 0, 0, 0, [], [], None
    for t, p in pk:
        if p["src"] == sender and p["payload"] > 0:
            end = (p["seq"] + p["payload"]) & 0xffffffff
            data += 1
            if highest is not None and ((end - highest) & 0xffffffff) > 0x7fffffff or end == highest: rtx += 1
            else: highest = end
            sent_at[end] = t
            if last_data is not None and t - last_data > 0.1:
                stalls += 1; stall_time += t - last_data
            last_data = t
        elif p["src"] != sender and p["flags"] & 0x10:
            acks += 1
            windows.append(p["win"])
            if p["sack"]:
                sacked += 1
                l, r = p["sack"][0]
                if ((p["ack"] - r) & 0xffffffff) < 0x7fffffff or (len(p["sack"]) > 1 and p["sack"][1][0] <= l and r <= p["sack"][1][1]):
                    dsacks += 1
            if p["ack"] != last_ack and p["ack"] in sent_at:
                delays.append((t - sent_at[p["ack"]]) * 1000)
            last_ack = p["ack"]
    duration = pk[-1][0] - pk[0][0]
    return (f"{path}: {duration:.1f} s, {data} data segments ({rtx} resent), {stalls} stalls > 100 ms "
            f"({stall_time:.2f} s idle); {acks} ACKs ({sacked} with SACK, {dsacks} D-SACK); ACK delay ms "
            f"p50 {pct(delays, 50):.2f} p90 {pct(delays, 90):.2f} p99 {pct(delays, 99):.2f}, "
            f"{sum(d > 20 for d in delays)} over 20 ms of {len(delays)}; window field p50 {pct(windows, 50)}")

for path in sys.argv[1:]:
    print(summarise(path))
