#!/usr/bin/env python3
"""Writes the hand-made seeds of Fuzz/Corpus/FuzzNetStackStream (see FuzzNetStackStream.swift for the
program format): each seed is a connection set-up plus a scenario that reaches one part of the TCP state
machine. Run from the repository root; rewrites the seed-* files only."""
import os

out = "Fuzz/Corpus/FuzzNetStackStream"

def setup(flags=0x1F, mss=0xB6, scale=7, iss=0x10000000):
    return bytes([flags, mss, scale]) + iss.to_bytes(4, "big") + b"\0"

def data(choice, length, psh=False):
    bits = length | (0x8000 if psh else 0)
    return bytes([0, choice]) + bits.to_bytes(2, "big")

def ack(kind, window=0xFF, k=0, sacks=()):
    return bytes([1, kind | (len(sacks) << 5), window, k]) + b"".join(bytes(s) for s in sacks)

def fin(choice=0): return bytes([2, choice])
def rst(choice): return bytes([3, choice])
def syn(choice): return bytes([4, choice])
def read(n): return bytes([5, n])
def write(n): return bytes([6]) + n.to_bytes(2, "big")
def app(choice): return bytes([7, choice])
def wait(step): return bytes([8, step])
def raw(flags, seq=0, ackd=0, window=0xFFFF, urgent=0, length=0):
    return bytes([9, flags & 0xFF, flags >> 8]) + seq.to_bytes(2, "big") + bytes([ackd]) + \
        window.to_bytes(2, "big") + urgent.to_bytes(2, "big") + bytes([length])
def other_syn(port): return bytes([10, port])
def ts_jump(b): return bytes([11, b])

ahead = 0x10  # base = acknowledged point, 8 * 37 = 296 bytes ahead
seeds = {
    "handshake-all-options": setup(),
    "handshake-no-options-wrapping-iss": setup(flags=0x20, iss=0xFFFFFF80),
    "in-order-data-then-read": setup() + data(1, 1000) + data(1, 1000, psh=True) + read(255) + ack(0) + read(255),
    "out-of-order-then-fill": setup() + data(ahead, 500) + data(0x30, 300) + data(0, 296) + read(255) + read(255),
    "overlapping-retransmission": setup() + data(1, 800) + data(0x81, 1200) + data(0, 100) + read(255),
    "wrap-around-stream": setup(iss=0xFFFFFD00) + data(1, 2000) + data(1, 2000) + read(255) + read(255),
    "application-writes-peer-sacks": setup() + write(6000) + ack(2, k=40, sacks=[(3, 40), (10, 20)]) +
        ack(0) + write(3000) + ack(5, k=20, sacks=[(0x81, 5)]) + ack(0),
    "duplicate-acks-fast-retransmit": setup() + app(7) + write(8000) + ack(1) + ack(1, sacks=[(40, 10)]) +
        ack(1, sacks=[(40, 30)]) + ack(1, sacks=[(40, 60)]) + wait(20) + ack(0),
    "fin-then-read-to-end": setup() + data(1, 700) + fin(0x20) + read(255) + read(255) + app(0) + ack(0) + wait(255),
    "out-of-order-fin": setup() + fin(0x41) + data(0x20, 200) + data(0, 100) + read(255),
    "rst-exact-and-in-window": setup() + data(1, 100) + rst(1) + rst(9) + rst(0),
    "rst-with-unread-data": setup() + data(1, 100) + rst(4) + read(10),
    "syn-in-established": setup() + data(1, 100) + syn(10) + syn(11) + read(10),
    "backlog-and-table-full": setup() + b"".join(other_syn(p) for p in range(12)) + wait(50),
    "retransmission-timeouts-until-give-up": setup() + write(4000) + b"".join(wait(255) for _ in range(40)),
    "zero-window-persist": setup(flags=0x0F) + write(9000) + ack(0, window=0) + wait(30) + wait(60) +
        ack(0, window=0x10) + wait(60) + ack(0),
    "close-with-unread-data": setup() + data(1, 300) + app(1) + wait(10) + ack(0),
    "graceful-close-both-ways": setup() + write(1000) + ack(0) + app(0) + ack(0) + fin(0) + read(1) + wait(255) + wait(255),
    "abort": setup() + write(1000) + app(2) + data(1, 10),
    "paws-old-timestamp": setup() + data(1, 100) + ts_jump(0x80) + data(1, 100) + read(255),
    "urgent-ece-cwr-flags": setup() + raw(0x30 | 0x40 | 0x80, length=20, urgent=5) + raw(0x100 | 0x10, length=4) + read(10),
    "small-mss-small-window": setup(flags=0x03, mss=8, scale=0) + write(5000) + ack(0, window=1) + wait(40) + ack(0),
    "keepalive-idle": setup(flags=0x5F) + wait(120) + wait(120) + wait(120) + wait(120),
}
os.makedirs(out, exist_ok=True)
for name, blob in seeds.items():
    with open(os.path.join(out, "seed-" + name), "wb") as f:
        f.write(blob)
print(f"wrote {len(seeds)} seeds to {out}")
