#!/usr/bin/env python3
"""Turns the captures of scripts/fuzz-capture-seeds.sh into seed programs (files capture-*) for
FuzzWireGuardDevice, FuzzNetStack and FuzzNetStackStream. Run from the repository root:

    scripts/fuzz-seeds-from-capture.py UNDERLAY.pcap TUNNEL.pcap

UNDERLAY.pcap holds the WireGuard datagrams between peer A (the harness's `local` key, 10.250.99.1)
and peer B (`remote`, 10.250.99.2); TUNNEL.pcap the IP packets inside the tunnel as A saw them (B is
100.64.99.2, the client of every exchange; A is 100.64.99.1, the server). Each target's program format
is described in its source file; what each seed carries:

- FuzzWireGuardDevice: B's datagrams to A, in order, handed to the local device as raw bytes from the
  peer's endpoint (operation 7), with time steps (operation 6) for the gaps. B's initiation is valid
  under the harness's keys (mac1, static key, timestamp); B's transport messages are under keys that
  A's wireguard-go agreed with B, so the device drops them after the index lookup.
- FuzzNetStack: B's packets (ICMP echo requests, TCP segments with Linux's SYN options, timestamps,
  SACK blocks), rewritten to the harness's addresses (100.64.6.1 -> 100.64.6.2, TCP port 80) with
  checksums recomputed, as raw-packet records.
- FuzzNetStackStream: each TCP connection B opened, translated into the target's operations: the
  set-up bytes are Linux's SYN (MSS, window scale, SACK-permitted, timestamps, its ISS), B's data
  segments become peer data (new or retransmitted), its ACKs become acknowledgments relative to the
  last one with Linux's window and SACK blocks, its FIN and RST theirs; A's data becomes application
  writes, and the application reads after each of B's data segments.
"""
import math
import os
import struct
import sys

MAX_SEED = 4096  # libFuzzer's default input length limit for these targets


def read_pcap(path):
    """Yields (time in seconds, IP packet bytes) for every IPv4 packet of a pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    else:
        endian = ">"
        magic = struct.unpack(">I", data[:4])[0]
    nano = magic == 0xA1B23C4D
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    offset = 24
    while offset + 16 <= len(data):
        seconds, fraction, length, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + length]
        offset += 16 + length
        t = seconds + fraction / (1e9 if nano else 1e6)
        if linktype == 1:  # Ethernet
            if len(frame) < 14 or frame[12:14] != b"\x08\x00":
                continue
            packet = frame[14:]
        elif linktype in (12, 14, 101):  # raw IP
            packet = frame
        elif linktype == 113:  # Linux cooked
            if frame[14:16] != b"\x08\x00":
                continue
            packet = frame[16:]
        elif linktype == 276:  # Linux cooked v2
            if frame[0:2] != b"\x08\x00":
                continue
            packet = frame[20:]
        else:
            raise SystemExit(f"{path}: link type {linktype} not handled")
        if packet and packet[0] >> 4 == 4:
            total = struct.unpack(">H", packet[2:4])[0]
            yield t, packet[:total]


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip4(text):
    return bytes(int(x) for x in text.split("."))


class Segment:
    def __init__(self, t, packet):
        ihl = (packet[0] & 0x0F) * 4
        tcp = packet[ihl:]
        self.t = t
        self.source, self.destination = packet[12:16], packet[16:20]
        self.sport, self.dport, self.seq, self.ack = struct.unpack(">HHII", tcp[:12])
        offset = (tcp[12] >> 4) * 4
        self.flags = tcp[13] | (tcp[12] & 1) << 8
        self.window = struct.unpack(">H", tcp[14:16])[0]
        self.payload = tcp[offset:]
        self.mss = self.wscale = None
        self.sack_permitted = self.timestamps = False
        self.sack = []
        options, i = tcp[20:offset], 0
        while i < len(options):
            kind = options[i]
            if kind == 0:
                break
            if kind == 1:
                i += 1
                continue
            if i + 1 >= len(options) or options[i + 1] < 2:
                break
            body = options[i + 2:i + options[i + 1]]
            if kind == 2 and len(body) == 2:
                self.mss = struct.unpack(">H", body)[0]
            elif kind == 3 and len(body) == 1:
                self.wscale = body[0]
            elif kind == 4:
                self.sack_permitted = True
            elif kind == 5:
                self.sack = [struct.unpack(">II", body[j:j + 8]) for j in range(0, len(body) - 7, 8)]
            elif kind == 8:
                self.timestamps = True
            i += options[i + 1]

    def has(self, flag):
        return bool(self.flags & {"fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16}[flag])


def write_seeds(directory, seeds):
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.startswith("capture-"):
            os.remove(os.path.join(directory, name))
    for name, blob in seeds.items():
        with open(os.path.join(directory, "capture-" + name), "wb") as f:
            f.write(blob)
    print(f"fuzz-seeds-from-capture: {len(seeds)} seeds in {directory}: "
          + ", ".join(f"{n} ({len(b)} B)" for n, b in seeds.items()))


# FuzzWireGuardDevice: operation 7 = raw bytes to the local device (length byte, stranger flag, bytes);
# operation 6 = time passes (one byte, 250 ms units). At most 64 operations run.
def wireguard_seeds(underlay):
    to_local = []
    for t, packet in read_pcap(underlay):
        ihl = (packet[0] & 0x0F) * 4
        if packet[9] != 17 or packet[12:16] != ip4("10.250.99.2"):
            continue
        payload = packet[ihl + 8:]
        if payload and payload[0] in (1, 2, 3, 4) and len(payload) <= 255:
            to_local.append((t, payload))
    if not to_local:
        raise SystemExit(f"{underlay}: no WireGuard datagrams from peer B")
    seeds = {}
    names = {1: "initiation", 2: "response", 3: "cookie-reply", 4: "transport"}
    for kind, name in names.items():
        first = next((p for _, p in to_local if p[0] == kind), None)
        if first is not None:
            seeds[f"wg-{name}"] = bytes([7, len(first), 0]) + first
    program, steps, last = b"", 0, to_local[0][0]
    for t, payload in to_local:
        quarter_seconds = int((t - last) / 0.25)
        if quarter_seconds > 0 and steps < 63:
            program += bytes([6, min(255, quarter_seconds)])
            steps += 1
        if steps >= 64 or len(program) + 3 + len(payload) > MAX_SEED:
            break
        program += bytes([7, len(payload), 0]) + payload
        steps += 1
        last = t
    seeds["wg-session"] = program
    return seeds


CLIENT, SERVER = ip4("100.64.99.2"), ip4("100.64.99.1")
HARNESS_CLIENT, HARNESS_SERVER = ip4("100.64.6.1"), ip4("100.64.6.2")


def rewritten(packet):
    """B's packet as if 100.64.6.1 sent it to the harness's stack (100.64.6.2), TCP to port 80."""
    p = bytearray(packet)
    ihl = (p[0] & 0x0F) * 4
    p[12:16], p[16:20] = HARNESS_CLIENT, HARNESS_SERVER
    p[10:12] = b"\0\0"
    p[10:12] = struct.pack(">H", checksum(bytes(p[:ihl])))
    if p[9] == 6:
        p[ihl + 2:ihl + 4] = struct.pack(">H", 80)
        p[ihl + 16:ihl + 18] = b"\0\0"
        segment = bytes(p[ihl:])
        pseudo = bytes(p[12:20]) + struct.pack(">BBH", 0, 6, len(segment))
        p[ihl + 16:ihl + 18] = struct.pack(">H", checksum(pseudo + segment))
    return bytes(p)


# FuzzNetStack: a record is a kind byte (even: raw packet; the time step in ms) and a length byte
# (units of 4 bytes), then the record.
def netstack_record(packet, gap_ms):
    padded = packet + b"\0" * (-len(packet) % 4)
    return bytes([min(254, int(gap_ms)) & 0xFE, len(padded) // 4]) + padded


def netstack_seeds(tunnel):
    packets = [(t, p) for t, p in read_pcap(tunnel) if p[12:16] == CLIENT and p[16:20] == SERVER]
    seeds = {}
    echo = [(t, p) for t, p in packets if p[9] == 1]
    flows = {}
    for t, p in packets:
        if p[9] == 6:
            flows.setdefault(Segment(t, p).sport, []).append((t, p))
    groups = [("ping", echo)] + [(f"tcp-{i}", flow) for i, flow in enumerate(flows.values())]
    # The part of a flow with SACK blocks (a lossy download), after its SYN: Linux's SACK option.
    for i, flow in enumerate(flows.values()):
        sacked = [(t, p) for t, p in flow if Segment(t, p).sack]
        if sacked:
            groups.append((f"tcp-{i}-sack", flow[:1] + sacked))
    for name, group in groups:
        blob, last = b"", group[0][0] if group else 0
        for t, p in group:
            record = netstack_record(rewritten(p), (t - last) * 1000)
            if len(blob) + len(record) > MAX_SEED:
                break
            blob += record
            last = t
        if blob:
            seeds[name] = blob
    return seeds


# FuzzNetStackStream operations (FuzzNetStackStream.swift): 0 data, 1 ACK, 2 FIN, 3 RST, 5 read,
# 6 write, 8 time passes (step*step ms). At most 256 operations run.
def stream_program(flow):
    syn = next((s for s in flow if s.source == CLIENT and s.has("syn") and not s.has("ack")), None)
    synack = next((s for s in flow if s.source == SERVER and s.has("syn") and s.has("ack")), None)
    if syn is None or synack is None:
        return None
    flags = 0x30  # 64 KB receive buffer
    flags |= 1 if syn.mss else 0
    flags |= 2 if syn.wscale is not None else 0
    flags |= 4 if syn.sack_permitted else 0
    flags |= 8 if syn.timestamps else 0
    program = bytes([flags, min(255, (syn.mss or 0) >> 3), (syn.wscale or 0) & 0x0F]) + struct.pack(">I", syn.seq) + b"\0"
    operations = []
    client_next = 0          # highest client stream offset sent plus one
    acknowledged = 0         # server stream offset our ACKs told the harness (units the harness rounds to)
    server_written = 0       # server stream bytes the harness's application has written
    server_seen = 0          # server stream bytes A had sent so far in the capture
    last_t = syn.t
    handshake_done = False
    for s in flow:
        if s is syn or s is synack:
            continue
        if s.source == SERVER:
            if s.payload:
                server_seen = max(server_seen, (s.seq - synack.seq - 1 + len(s.payload)) & 0xFFFFFFFF)
            continue
        if not handshake_done and not s.payload and s.has("ack") and not (s.has("fin") or s.has("rst")):
            handshake_done = True  # the harness makes its own third segment
            last_t = s.t
            continue
        handshake_done = True
        gap_ms = (s.t - last_t) * 1000
        if gap_ms >= 5:
            operations.append(bytes([8, min(255, round(math.sqrt(gap_ms)))]))
        last_t = s.t
        while server_written < server_seen:
            chunk = min(19999, server_seen - server_written)
            operations.append(bytes([6]) + struct.pack(">H", chunk))
            server_written += chunk
        offset = (s.seq - syn.seq - 1) & 0xFFFFFFFF
        if s.has("rst"):
            operations.append(bytes([3, 0]))
            continue
        if s.payload:
            length = min(len(s.payload), 2048) | (0x8000 if s.has("psh") else 0)
            choice = 1 if offset >= client_next else 0  # new data after the highest sent, or a retransmission
            operations.append(bytes([0, choice]) + struct.pack(">H", length))
            client_next = max(client_next, offset + len(s.payload))
            operations.append(bytes([5, 255]))
        if s.has("fin"):
            operations.append(bytes([2, 0]))
        elif not s.payload and s.has("ack"):
            ack_offset = (s.ack - synack.seq - 1) & 0xFFFFFFFF
            k = max(0, min(255, (ack_offset - acknowledged) // 16))
            acknowledged += k * 16
            window = max(1, min(255, s.window >> 8))
            blocks = b""
            for left, right in s.sack[:4]:
                at = max(0, min(127, ((left - s.ack) & 0xFFFFFFFF) // 32))
                size = max(0, min(255, ((right - left) & 0xFFFFFFFF) // 16))
                blocks += bytes([at, size])
            operations.append(bytes([1, 2 | len(s.sack[:4]) << 5, window, k]) + blocks)
    for op in operations[:250]:
        if len(program) + len(op) > MAX_SEED:
            break
        program += op
    return program


def stream_seeds(tunnel):
    flows = {}
    for t, p in read_pcap(tunnel):
        if p[9] != 6:
            continue
        s = Segment(t, p)
        port = s.sport if s.source == CLIENT else s.dport
        flows.setdefault(port, []).append(s)
    seeds = {}
    for i, flow in enumerate(flows.values()):
        server_port = flow[0].dport if flow[0].source == CLIENT else flow[0].sport
        name = {8080: "http-download", 5201: "iperf3"}.get(server_port, "tcp")
        sacks = sum(1 for s in flow if s.sack)
        program = stream_program(flow)
        if program:
            seeds[f"{name}-{i}"] = program
            print(f"fuzz-seeds-from-capture: stream {name}-{i}: {len(flow)} segments, {sacks} with SACK blocks, "
                  f"program {len(program)} bytes")
    return seeds


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: scripts/fuzz-seeds-from-capture.py UNDERLAY.pcap TUNNEL.pcap")
    underlay, tunnel = sys.argv[1], sys.argv[2]
    write_seeds("Fuzz/Corpus/FuzzWireGuardDevice", wireguard_seeds(underlay))
    write_seeds("Fuzz/Corpus/FuzzNetStack", netstack_seeds(tunnel))
    write_seeds("Fuzz/Corpus/FuzzNetStackStream", stream_seeds(tunnel))


if __name__ == "__main__":
    main()
