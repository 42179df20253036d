#!/usr/bin/env python3
"""SYN flood and connection timing for perf/floods/synflood.sh (issue 14).

  synflood.py flood SRC DST PORT SECONDS
      Sends TCP SYNs from SRC (random source ports and sequence numbers, MSS 1360) to DST:PORT on a
      raw socket as fast as one python process can, for SECONDS or until SIGINT; prints
      `sent N in T s (R/s)` at the end. Run it where DST is routed through the tunnel.
  synflood.py connect DST PORT COUNT
      Opens COUNT connections to DST:PORT one after the other (5 s timeout each), closing each once
      connected; prints one JSON object: ok, failed, p50/p99/max set-up in ms (a failure counts as
      infinitely slow).
"""
import json, math, random, signal, socket, struct, sys, time


def checksum_fold(total):
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def flood(src, dst, port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    src_b, dst_b = socket.inet_aton(src), socket.inet_aton(dst)
    tcp_len = 24
    # IPv4 header: the kernel fills in the checksum, and the id when it is 0.
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + tcp_len, 0, 0x4000, 64, socket.IPPROTO_TCP, 0, src_b, dst_b)
    # TCP header with source port, sequence number and checksum zero, then the MSS option.
    template = struct.pack("!HHIIBBHHH", 0, port, 0, 0, (6 << 4), 0x02, 65535, 0, 0) + struct.pack("!BBH", 2, 4, 1360)
    pseudo = src_b + dst_b + struct.pack("!BBH", 0, socket.IPPROTO_TCP, tcp_len)
    words = pseudo + template
    base = sum(struct.unpack("!%dH" % (len(words) // 2), words))
    stop = [False]
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__(0, True))
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    sent, start = 0, time.monotonic()
    deadline = start + seconds
    rand = random.getrandbits
    pack_into = struct.pack_into
    packet = bytearray(ip + template)
    target = (dst, 0)
    while not stop[0]:
        for _ in range(256):
            sport = 1024 + rand(16) % 64000
            seq = rand(32)
            c = ~checksum_fold(base + sport + (seq >> 16) + (seq & 0xFFFF)) & 0xFFFF
            pack_into("!HHI", packet, 20, sport, port, seq)
            pack_into("!H", packet, 36, c)
            try:
                s.sendto(packet, target)
                sent += 1
            except (BlockingIOError, OSError):
                pass  # the tunnel's queue is full: drop, as a flood does
        if time.monotonic() >= deadline:
            break
    elapsed = time.monotonic() - start
    print("sent %d in %.1f s (%.0f/s)" % (sent, elapsed, sent / elapsed if elapsed else 0), flush=True)


def percentile(sorted_values, p):
    index = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[index]


def connect(dst, port, count):
    times, failed, errors = [], 0, {}
    start = time.monotonic()
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        t0 = time.perf_counter()
        try:
            s.connect((dst, port))
            times.append((time.perf_counter() - t0) * 1000)
        except OSError as error:
            failed += 1
            name = type(error).__name__
            errors[name] = errors.get(name, 0) + 1
        finally:
            s.close()
    ranked = sorted(times) + [math.inf] * failed
    def ms(value):
        return None if math.isinf(value) else round(value, 2)
    print(json.dumps({
        "connections": count, "ok": len(times), "failed": failed, "errors": errors,
        "p50_ms": ms(percentile(ranked, 50)), "p99_ms": ms(percentile(ranked, 99)),
        "max_ms": ms(ranked[-1]), "seconds": round(time.monotonic() - start, 2),
    }), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "flood":
        flood(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    elif sys.argv[1] == "connect":
        connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
