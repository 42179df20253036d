#!/usr/bin/env python3
"""UDP floods against a WireGuard endpoint, for perf/floods/run.sh (measurement only, never tests).

    flood.py MODE HOST PORT SECONDS [--peer-key BASE64] [--pcap FILE] [--blast PATH]

MODE:
  garbage     random 32-1400 byte datagrams
  init-nomac  148-byte initiations (type 1) with random contents: mac1 invalid
  init-mac1   initiations with a valid mac1 for --peer-key (the target's public key), random rest:
              each costs the target a BLAKE2s, and pushes it into cookie mode
  init-mac2   as init-mac1, but answers the first cookie reply and then sends initiations with a
              valid mac2 too: what the per-source rate limit exists for
  replay      replays the WireGuard transport datagrams (type 4) found in --pcap
Prints one line: `sent N datagrams in S s (R/s)`.

With --blast (perf/floods/blast.c, built), this process only prepares the datagrams (for init-mac2
it first sends until it has a cookie) and then execs the C sender on its own socket, which sends them
with sendmmsg: more datagrams per second for the same CPU than python's one sendto per datagram.
"""
import hashlib
import os
import random
import signal
import socket
import struct
import sys
import time

M = 0xFFFFFFFF


def blake2s(data, key=b"", size=32):
    return hashlib.blake2s(data, digest_size=size, key=key).digest()


def rotl(v, c):
    return ((v << c) & M) | (v >> (32 - c))


def quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & M; s[d] = rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & M; s[b] = rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & M; s[d] = rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & M; s[b] = rotl(s[b] ^ s[c], 7)


def hchacha20(key, nonce16):
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574] + list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    for _ in range(10):
        quarter(s, 0, 4, 8, 12); quarter(s, 1, 5, 9, 13); quarter(s, 2, 6, 10, 14); quarter(s, 3, 7, 11, 15)
        quarter(s, 0, 5, 10, 15); quarter(s, 1, 6, 11, 12); quarter(s, 2, 7, 8, 13); quarter(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xchacha20poly1305_open(key, nonce24, ciphertext, aad):
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    return ChaCha20Poly1305(hchacha20(key, nonce24[:16])).decrypt(b"\0" * 4 + nonce24[16:], ciphertext, aad)


def initiation(mac1_key=None, cookie=None):
    """A 148-byte initiation with random contents; mac1 (and mac2) valid when keys are given."""
    body = struct.pack("<I", 1) + os.urandom(112)
    mac1 = blake2s(body, key=mac1_key, size=16) if mac1_key else os.urandom(16)
    mac2 = blake2s(body + mac1, key=cookie, size=16) if cookie else b"\0" * 16
    return body + mac1 + mac2


def transport_datagrams(path):
    """UDP payloads of type 4 in a pcap file (Ethernet or Linux cooked capture)."""
    data = open(path, "rb").read()
    link = struct.unpack("<I", data[20:24])[0]
    offset, out = 24, []
    while offset + 16 <= len(data):
        length = struct.unpack("<I", data[offset + 8:offset + 12])[0]
        frame = data[offset + 16:offset + 16 + length]
        offset += 16 + length
        ip = frame[14:] if link == 1 else frame[16:] if link == 113 else frame
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        payload = ip[(ip[0] & 15) * 4 + 8:]
        if len(payload) >= 32 and payload[0] == 4:
            out.append(payload)
    return out


def cookie_from(sock, packets, cookie_key):
    """The cookie of a cookie reply to one of `packets` waiting on `sock`, or None."""
    try:
        while True:
            reply = sock.recv(2048)
            if len(reply) != 64 or reply[0] != 3:
                continue
            trigger = next((p for p in packets if p[4:8] == reply[4:8]), None)
            if trigger is not None:
                return xchacha20poly1305_open(cookie_key, reply[8:32], reply[32:64], trigger[116:132])
    except BlockingIOError:
        return None


def blast(path, sock, packets, mode, target, seconds, mac1_key, cookie_key):
    """Hands the flood to the C sender (sendmmsg) on this socket; for init-mac2 answers a cookie first."""
    start = time.monotonic()
    if mode == "init-mac2":
        cookie = None
        while cookie is None and time.monotonic() < start + seconds:
            for packet in packets:
                try:
                    sock.sendto(packet, target)
                except BlockingIOError:
                    pass
            cookie = cookie_from(sock, packets, cookie_key)
        if cookie is None:
            sys.exit("flood.py: no cookie obtained")
        packets = [initiation(mac1_key, cookie) for _ in range(256)]
    import tempfile
    with tempfile.NamedTemporaryFile(prefix="flood-", delete=False) as file:
        for packet in packets:
            file.write(struct.pack("<H", len(packet)) + packet)
    os.set_inheritable(sock.fileno(), True)
    remaining = max(0.1, seconds - (time.monotonic() - start))
    os.execv(path, [path, str(sock.fileno()), target[0], str(target[1]), f"{remaining:.1f}", file.name])


def main():
    mode, host, port, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    args = dict(zip(sys.argv[5::2], sys.argv[6::2]))
    target = (host, port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    mac1_key = cookie_key = None
    if "--peer-key" in args:
        import base64
        public = base64.b64decode(args["--peer-key"])
        mac1_key = blake2s(b"mac1----" + public)
        cookie_key = blake2s(b"cookie--" + public)

    if mode == "garbage":
        packets = [os.urandom(random.randint(32, 1400)) for _ in range(256)]
    elif mode == "init-nomac":
        packets = [initiation() for _ in range(256)]
    elif mode in ("init-mac1", "init-mac2"):
        packets = [initiation(mac1_key) for _ in range(256)]
    elif mode == "replay":
        packets = transport_datagrams(args["--pcap"])[:256]
        if not packets:
            sys.exit("flood.py: no transport datagrams in the capture")
    else:
        sys.exit("flood.py: unknown mode " + mode)

    if "--blast" in args:
        blast(args["--blast"], sock, packets, mode, target, seconds, mac1_key, cookie_key)

    running = [True]
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: running.__setitem__(0, False))
    sent, start, end = 0, time.monotonic(), time.monotonic() + seconds
    have_cookie = False
    while running[0] and time.monotonic() < end:
        for packet in packets:
            try:
                sock.sendto(packet, target)
                sent += 1
            except BlockingIOError:
                pass
        if mode == "init-mac2" and not have_cookie:
            cookie = cookie_from(sock, packets, cookie_key)
            if cookie is not None:
                packets = [initiation(mac1_key, cookie) for _ in range(256)]
                have_cookie = True
    elapsed = time.monotonic() - start
    extra = "" if mode != "init-mac2" else (", with a valid cookie" if have_cookie else ", no cookie obtained")
    print(f"sent {sent} datagrams in {elapsed:.1f} s ({sent / elapsed:.0f}/s){extra}")


if __name__ == "__main__":
    main()
