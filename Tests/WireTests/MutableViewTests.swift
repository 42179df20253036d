import Testing
import Wire

@Suite("In-place rewrites with incremental checksum updates (RFC 1624)")
struct MutableViewTests {
    @Test("IPv4 NAT of source and destination plus a TTL decrement equals rebuilding the packet from scratch",
          arguments: ["tcpv4-http.pcap", "udpv4.pcap", "icmpv4-echo.pcap", "ipv4-fragments.pcap", "tcp-sack.pcap"])
    func ipv4RewriteEqualsRebuild(fixture: String) throws {
        for original in try PcapFile(fixture: fixture).packets {
            var packet = original
            try packet.withUnsafeMutableBytes { buffer in
                let mutable = try MutableIPv4Packet(validating: buffer)
                mutable.setSource(IPv4Address(100, 64, 7, 1))
                mutable.setDestination(IPv4Address(100, 127, 255, 254))
                mutable.setTimeToLive(mutable.packet.timeToLive &- 1)
                #expect(mutable.packet.isHeaderChecksumValid)
                #expect(mutable.packet.source == IPv4Address(100, 64, 7, 1) && mutable.packet.timeToLive == 63)
            }
            // The builders recompute every checksum from scratch; the incremental ones must agree.
            #expect(try PacketRebuilder.rebuild(packet) == packet)
            #expect(packet != original)
        }
    }

    @Test("IPv6 address rewrite keeps TCP, UDP and ICMPv6 checksums valid, also behind extension headers",
          arguments: ["tcpv6-http.pcap", "udpv6.pcap", "icmpv6-echo.pcap", "ipv6-extension-headers.pcap", "ipv6-fragments.pcap"])
    func ipv6RewriteEqualsRebuild(fixture: String) throws {
        for original in try PcapFile(fixture: fixture).packets {
            var packet = original
            try packet.withUnsafeMutableBytes { buffer in
                let mutable = try MutableIPv6Packet(validating: buffer)
                mutable.setSource(IPv6Address("fd7a:115c:a1e0::77")!)
                mutable.setDestination(IPv6Address("fd7a:115c:a1e0:ab12:4843:cd96:6258:b240")!)
                mutable.setHopLimit(1)
            }
            #expect(try PacketRebuilder.rebuild(packet) == packet)
            try packet.withView { bytes in
                let ip = try IPv6Packet(validating: bytes)
                #expect(ip.hopLimit == 1 && ip.source == IPv6Address("fd7a:115c:a1e0::77"))
            }
        }
    }

    @Test("a UDP checksum of zero (none, RFC 768) stays zero through an IPv4 rewrite")
    func udpWithoutChecksumStaysWithout() throws {
        var packet = try PcapFile(fixture: "udpv4.pcap").packets[0]
        packet[26] = 0; packet[27] = 0
        try packet.withUnsafeMutableBytes { buffer in
            try MutableIPv4Packet(validating: buffer).setSource(IPv4Address(1, 2, 3, 4))
        }
        #expect(packet[26] == 0 && packet[27] == 0)
    }
}
