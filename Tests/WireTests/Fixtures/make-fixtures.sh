#!/bin/bash
# Regenerates the golden pcap fixtures of Tests/WireTests (see README.md). Needs root, tcpdump,
# iputils-ping, curl, python3, netcat-openbsd, iproute2 (netns, veth), nftables.
# Everything runs inside two network namespaces this script creates (wire-fx-a, wire-fx-b): their
# loopback devices, and a veth pair between them (10.250.3.0/24,
# fd7a:115c:a1e0:253::/64). Output: *.pcap next to this script.
set -euo pipefail
cd "$(dirname "$0")"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    ip netns del wire-fx-a 2>/dev/null || true
    ip netns del wire-fx-b 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# capture NAME [ip netns exec NS] -- tcpdump args...; stop with stop_capture
capture() {
    local name=$1; shift
    "$@" -U -s 0 -w "$name.pcap" >/dev/null 2>&1 &
    CAPTURE_PID=$!
    PIDS+=("$CAPTURE_PID")
    sleep 1
}
stop_capture() { sleep 1; kill -INT "$CAPTURE_PID" 2>/dev/null || true; wait "$CAPTURE_PID" 2>/dev/null || true; }

# Two namespaces joined by a veth pair with a 1500-byte MTU, for fragments and SACK.
ip netns add wire-fx-a
ip netns add wire-fx-b
ip link add wirefx-a netns wire-fx-a type veth peer name wirefx-b netns wire-fx-b
ip -n wire-fx-a addr add 10.250.3.1/24 dev wirefx-a
ip -n wire-fx-b addr add 10.250.3.2/24 dev wirefx-b
ip -n wire-fx-a addr add fd7a:115c:a1e0:253::1/64 dev wirefx-a nodad
ip -n wire-fx-b addr add fd7a:115c:a1e0:253::2/64 dev wirefx-b nodad
ip -n wire-fx-a link set lo up
ip -n wire-fx-b link set lo up
ip -n wire-fx-a link set wirefx-a up
ip -n wire-fx-b link set wirefx-b up
# Checksum offload off, so captures hold real TCP/UDP checksums rather than the partial
# pseudo-header sums the kernel leaves for the NIC; segmentation offload off, so every captured
# and every dropped packet is one MSS-sized segment.
for ns in a b; do
    ip netns exec wire-fx-$ns ethtool -K wirefx-$ns tx off tso off gso off gro off >/dev/null
done
sleep 2
ip netns exec wire-fx-a ping -c 1 -W 2 10.250.3.2 >/dev/null
ip netns exec wire-fx-a ping -6 -c 1 -W 2 fd7a:115c:a1e0:253::2 >/dev/null

# 1. ICMPv4 echo on loopback: two requests with the default 56 data bytes and their replies.
capture icmpv4-echo ip netns exec wire-fx-a tcpdump -i lo icmp
ip netns exec wire-fx-a ping -c 2 -i 0.2 127.0.0.1 >/dev/null
stop_capture

# 2. ICMPv6 echo on loopback.
capture icmpv6-echo ip netns exec wire-fx-a tcpdump -i lo 'icmp6 and ip6[40] >= 128 and ip6[40] <= 129'
ip netns exec wire-fx-a ping -6 -c 2 -i 0.2 ::1 >/dev/null
stop_capture

# 3./4. HTTP over TCP from wire-fx-a to a server in wire-fx-b, over the veth (IPv4 and IPv6; not
# loopback, whose checksum offload is fixed on, so its captures hold partial checksums):
# handshake with MSS/SACK-permitted/timestamps/window scale, a GET, the response, and the close.
mkdir -p "$WORK/www" && printf 'hello from the wire fixtures\n' > "$WORK/www/hello.txt"
ip netns exec wire-fx-b python3 -m http.server 18080 --bind 10.250.3.2 --directory "$WORK/www" >/dev/null 2>&1 & PIDS+=($!)
ip netns exec wire-fx-b python3 -m http.server 18081 --bind fd7a:115c:a1e0:253::2 --directory "$WORK/www" >/dev/null 2>&1 & PIDS+=($!)
sleep 1
capture tcpv4-http ip netns exec wire-fx-a tcpdump -i wirefx-a 'tcp port 18080'
ip netns exec wire-fx-a curl -s -o /dev/null http://10.250.3.2:18080/hello.txt
stop_capture
capture tcpv6-http ip netns exec wire-fx-a tcpdump -i wirefx-a 'tcp port 18081'
ip netns exec wire-fx-a curl -s -o /dev/null 'http://[fd7a:115c:a1e0:253::2]:18081/hello.txt'
stop_capture

# 5./6. UDP datagrams over the veth (an odd-length payload too, to exercise the checksum's odd
# tail), and the ICMP port-unreachable errors a closed port answers with (quoting the datagram).
capture udpv4 ip netns exec wire-fx-a tcpdump -i wirefx-a 'udp port 18082 or udp port 18083 or icmp'
ip netns exec wire-fx-b nc -u -l 10.250.3.2 18082 >/dev/null & PIDS+=($!)
sleep 0.5
printf 'hello wire\n' | ip netns exec wire-fx-a nc -u -w1 -q1 10.250.3.2 18082 || true
printf 'odd!!' | ip netns exec wire-fx-a nc -u -w1 -q1 10.250.3.2 18083 || true
stop_capture
capture udpv6 ip netns exec wire-fx-a tcpdump -i wirefx-a 'udp port 18084 or udp port 18085 or (icmp6 and ip6[40] == 1)'
ip netns exec wire-fx-b nc -6 -u -l fd7a:115c:a1e0:253::2 18084 >/dev/null & PIDS+=($!)
sleep 0.5
printf 'hello wire\n' | ip netns exec wire-fx-a nc -6 -u -w1 -q1 fd7a:115c:a1e0:253::2 18084 || true
printf 'odd!!' | ip netns exec wire-fx-a nc -6 -u -w1 -q1 fd7a:115c:a1e0:253::2 18085 || true
stop_capture

# 7. IPv6 extension headers, crafted: a UDP datagram to ::1 sent on a raw socket with hop-by-hop
# (PadN), routing (type 4, segments left 0), an atomic fragment header, and destination options
# (an RFC 4727 experimental option 0x1e) before the UDP header.
capture ipv6-extension-headers ip netns exec wire-fx-a tcpdump -i lo 'ip6 and ip6[6] == 0'
ip netns exec wire-fx-a python3 - <<'PY'
import socket, struct
src = dst = socket.inet_pton(socket.AF_INET6, "::1")
payload = b"extension headers"
udp_len = 8 + len(payload)
def csum(data):
    if len(data) % 2: data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
pseudo = src + dst + struct.pack("!I3xB", udp_len, 17)
udp = struct.pack("!HHHH", 40000, 18086, udp_len, 0) + payload
c = csum(pseudo + udp) or 0xffff
udp = udp[:6] + struct.pack("!H", c) + udp[8:]
hbh = bytes([43, 0, 1, 4, 0, 0, 0, 0])                      # next: routing; PadN(4)
rh = bytes([44, 2, 4, 0, 0, 0, 0, 0]) + src                  # next: fragment; type 4 (SRH), segments left 0, one segment
frag = bytes([60, 0, 0, 0]) + struct.pack("!I", 0x1234abcd)  # next: dest opts; offset 0, M=0 (atomic)
dst_opts = bytes([17, 0, 0x1e, 2, 0xab, 0xcd, 1, 0])         # next: UDP; option 0x1e len 2, PadN(0)
ext = hbh + rh + frag + dst_opts
hdr = struct.pack("!IHBB", 6 << 28, len(ext) + len(udp), 0, 64) + src + dst
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(hdr + ext + udp, ("::1", 0))
PY
stop_capture

# 8./9. Fragments: one 3000-byte echo request and its reply, fragmented to the 1500-byte MTU.
capture ipv4-fragments ip netns exec wire-fx-a tcpdump -i wirefx-a 'ip and (icmp or (ip[6:2] & 0x1fff) != 0)'
ip netns exec wire-fx-a ping -c 1 -s 3000 10.250.3.2 >/dev/null
stop_capture
capture ipv6-fragments ip netns exec wire-fx-a tcpdump -i wirefx-a 'ip6 and ip6[6] == 44'
ip netns exec wire-fx-a ping -6 -c 1 -s 3000 fd7a:115c:a1e0:253::2 >/dev/null
stop_capture

# 10. SACK: a server in wire-fx-b sends 4 MB to curl in wire-fx-a; an nftables rule in wire-fx-a
# drops 5 % of the arriving segments at random (this kernel has no sch_netem), so the ACKs
# wire-fx-a sends back carry SACK blocks. Of those ACKs (header longer than 32 bytes, i.e.
# timestamps + SACK; SYNs excluded), the first two with each block count 1, 2, 3 are kept.
head -c 4000000 /dev/urandom > "$WORK/www/big.bin"
ip netns exec wire-fx-b python3 -m http.server 18087 --bind 10.250.3.2 --directory "$WORK/www" >/dev/null 2>&1 & PIDS+=($!)
ip netns exec wire-fx-a nft add table inet wirefx
ip netns exec wire-fx-a nft 'add chain inet wirefx in { type filter hook prerouting priority -300; }'
ip netns exec wire-fx-a nft 'add rule inet wirefx in tcp sport 18087 numgen random mod 100 < 5 drop'
sleep 1
capture "$WORK/sack-all" ip netns exec wire-fx-a tcpdump -i wirefx-a 'src host 10.250.3.1 and tcp port 18087 and (tcp[12] & 0xf0) > 0x80 and (tcp[13] & 2) == 0'
ip netns exec wire-fx-a curl -s -o /dev/null --max-time 20 http://10.250.3.2:18087/big.bin || true
stop_capture
python3 - "$WORK/sack-all.pcap" tcp-sack.pcap <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
out, offset, kept = [data[:24]], 24, {}
while offset + 16 <= len(data):
    caplen = struct.unpack("<I", data[offset + 8:offset + 12])[0]
    record = data[offset:offset + 16 + caplen]
    offset += 16 + caplen
    frame = record[16:]
    tcp = frame[14 + (frame[14] & 15) * 4:]
    header_length = (tcp[12] >> 4) * 4
    blocks = (header_length - 32 - 4) // 8  # after NOP NOP TS (12) and NOP NOP SACK header (4)
    if 1 <= blocks <= 3 and kept.get(blocks, 0) < 2:
        kept[blocks] = kept.get(blocks, 0) + 1
        out.append(record)
open(sys.argv[2], "wb").write(b"".join(out))
print("tcp-sack.pcap: kept", kept)
PY
ls -l *.pcap
