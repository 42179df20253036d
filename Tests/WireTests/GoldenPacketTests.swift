import Testing
import Wire

/// Packets captured from Linux (see Fixtures/README.md): parsing gives the values tcpdump shows,
/// and rebuilding them with the builders gives the captured bytes back.
@Suite("Golden packets captured from Linux")
struct GoldenPacketTests {
    static let fixtures = [
        "icmpv4-echo.pcap", "icmpv6-echo.pcap", "tcpv4-http.pcap", "tcpv6-http.pcap", "udpv4.pcap", "udpv6.pcap",
        "ipv6-extension-headers.pcap", "ipv4-fragments.pcap", "ipv6-fragments.pcap", "tcp-sack.pcap",
    ]

    @Test("every captured packet is rebuilt byte for byte by the builders", arguments: fixtures)
    func rebuildMatchesCapture(fixture: String) throws {
        let packets = try PcapFile(fixture: fixture).packets
        #expect(!packets.isEmpty)
        for (index, packet) in packets.enumerated() {
            let rebuilt = try PacketRebuilder.rebuild(packet)
            #expect(rebuilt == packet, "packet \(index): \(Bytes.hexString(rebuilt)) != \(Bytes.hexString(packet))")
        }
    }

    @Test("every captured packet's IP, TCP, UDP and ICMP checksums verify", arguments: fixtures)
    func checksumsVerify(fixture: String) throws {
        for packet in try PcapFile(fixture: fixture).packets {
            try packet.withView { bytes in
                if bytes[0] >> 4 == 4 {
                    let ip = try IPv4Packet(validating: bytes)
                    try ip.verifyHeaderChecksum()
                    guard !ip.isFragment else { return }
                    switch ip.protocol {
                    case .tcp: try TCPSegment(validating: ip.payload).verifyChecksum(source: ip.source, destination: ip.destination)
                    case .udp: try UDPDatagram(validating: ip.payload).verifyChecksum(source: ip.source, destination: ip.destination)
                    case .icmp: try ICMPv4Message(validating: ip.payload).verifyChecksum()
                    default: Issue.record("unexpected protocol \(ip.protocol)")
                    }
                } else {
                    let ip = try IPv6Packet(validating: bytes)
                    if let fragment = ip.fragmentHeader, !fragment.isAtomic { return }
                    switch ip.upperLayerProtocol {
                    case .tcp: try TCPSegment(validating: ip.payload).verifyChecksum(source: ip.source, destination: ip.destination)
                    case .udp: try UDPDatagram(validating: ip.payload).verifyChecksum(source: ip.source, destination: ip.destination)
                    case .icmpv6: try ICMPv6Message(validating: ip.payload).verifyChecksum(source: ip.source, destination: ip.destination)
                    default: Issue.record("unexpected protocol \(ip.upperLayerProtocol)")
                    }
                }
            }
        }
    }

    @Test("ping 127.0.0.1: echo request/reply fields, DF only on the request, reply echoes the data")
    func icmpv4Echo() throws {
        let packets = try PcapFile(fixture: "icmpv4-echo.pcap").packets
        #expect(packets.count == 4)
        let expected: [(ICMPv4Type, UInt16, UInt16, Bool)] = [
            (.echoRequest, 9438, 1, true), (.echoReply, 9439, 1, false),
            (.echoRequest, 9461, 2, true), (.echoReply, 9462, 2, false),
        ]
        for (packet, (type, ipID, sequence, dontFragment)) in zip(packets, expected) {
            try packet.withView { bytes in
                let ip = try IPv4Packet(validating: bytes)
                #expect(ip.version == 4 && ip.headerLength == 20 && ip.totalLength == 84)
                #expect(ip.source == .loopback && ip.destination == .loopback)
                #expect(ip.timeToLive == 64 && ip.protocol == .icmp && ip.identification == ipID)
                #expect(ip.dontFragment == dontFragment && !ip.isFragment)
                let icmp = try ICMPv4Message(validating: ip.payload)
                #expect(icmp.type == type && icmp.code == 0)
                #expect(icmp.identifier == 18710 && icmp.sequenceNumber == sequence)
                #expect(icmp.data.count == 56)
            }
        }
        let requestData = packets[0].withView { Array($0[28...]) }
        let replyData = packets[1].withView { Array($0[28...]) }
        #expect(requestData == replyData)
    }

    @Test("ping -6 ::1: fixed header fields, flow label, echo id/seq")
    func icmpv6Echo() throws {
        let packets = try PcapFile(fixture: "icmpv6-echo.pcap").packets
        #expect(packets.count == 4)
        for (index, packet) in packets.enumerated() {
            try packet.withView { bytes in
                let ip = try IPv6Packet(validating: bytes)
                #expect(ip.version == 6 && ip.payloadLength == 64 && ip.hopLimit == 64)
                #expect(ip.flowLabel == (index % 2 == 0 ? 0x45552 : 0x0C787))
                #expect(ip.nextHeader == .icmpv6 && ip.upperLayerProtocol == .icmpv6 && ip.upperLayerOffset == 40)
                #expect(ip.source == .loopback && ip.destination == .loopback && !ip.isFragment)
                let message = try ICMPv6Message(validating: ip.payload)
                #expect(message.type == (index % 2 == 0 ? .echoRequest : .echoReply))
                #expect(message.identifier == 18781 && message.sequenceNumber == UInt16(index / 2 + 1))
                guard case let .some(.echoRequest(_, _, data)) = try? ICMPv6(message), index == 0 else { return }
                #expect(data.count == 56)
            }
        }
    }

    @Test("curl over IPv4: SYN options, sequence numbers, flags, the GET payload, the FINs")
    func tcpv4Connection() throws {
        let packets = try PcapFile(fixture: "tcpv4-http.pcap").packets
        #expect(packets.count == 12)
        let client = IPv4Address(10, 250, 3, 1), server = IPv4Address(10, 250, 3, 2)
        try packets[0].withView { bytes in
            let ip = try IPv4Packet(validating: bytes)
            #expect(ip.source == client && ip.destination == server && ip.identification == 63787 && ip.dontFragment)
            let syn = try TCPSegment(validating: ip.payload)
            #expect(syn.sourcePort == 49786 && syn.destinationPort == 18080)
            #expect(syn.sequenceNumber == 100_505_138 && syn.flags == .syn && syn.window == 64240)
            #expect(syn.headerLength == 40 && syn.checksum == 0x5ED2 && syn.sequenceLength == 1)
            #expect(syn.options == TCPOptions(
                maximumSegmentSize: 1460, windowScale: 10, sackPermitted: true,
                timestamps: TCPTimestamps(value: 1_924_446_788, echoReply: 0)))
        }
        try packets[1].withView { bytes in
            let synAck = try TCPSegment(validating: IPv4Packet(validating: bytes).payload)
            #expect(synAck.flags == [.syn, .ack] && synAck.sequenceNumber == 4_294_156_896)
            #expect(synAck.acknowledgmentNumber == 100_505_139 && synAck.window == 65160)
            #expect(synAck.options.timestamps == TCPTimestamps(value: 3_526_257_068, echoReply: 1_924_446_788))
        }
        try packets[3].withView { bytes in
            let get = try TCPSegment(validating: IPv4Packet(validating: bytes).payload)
            #expect(get.flags == [.psh, .ack] && get.payload.count == 89 && get.headerLength == 32)
            #expect(get.options == TCPOptions(timestamps: TCPTimestamps(value: 1_924_446_788, echoReply: 3_526_257_068)))
            #expect(String(decoding: get.payload.prefix(23), as: UTF8.self) == "GET /hello.txt HTTP/1.1")
        }
        try packets[9].withView { bytes in
            let fin = try TCPSegment(validating: IPv4Packet(validating: bytes).payload)
            #expect(fin.flags == [.fin, .ack] && fin.sequenceLength == 1 && fin.sourcePort == 18080)
        }
    }

    @Test("curl over IPv6: SYN with MSS 1440 and the same option layout")
    func tcpv6Connection() throws {
        let packets = try PcapFile(fixture: "tcpv6-http.pcap").packets
        #expect(packets.count == 13)
        try packets[0].withView { bytes in
            let ip = try IPv6Packet(validating: bytes)
            #expect(ip.source == IPv6Address("fd7a:115c:a1e0:253::1") && ip.destination == IPv6Address("fd7a:115c:a1e0:253::2"))
            #expect(ip.flowLabel == 0x23A81 && ip.upperLayerProtocol == .tcp)
            let syn = try TCPSegment(validating: ip.payload)
            #expect(syn.sourcePort == 50060 && syn.destinationPort == 18081 && syn.sequenceNumber == 436_867_798)
            #expect(syn.window == 64800 && syn.checksum == 0x349D)
            #expect(syn.options == TCPOptions(
                maximumSegmentSize: 1440, windowScale: 10, sackPermitted: true,
                timestamps: TCPTimestamps(value: 2_685_655_321, echoReply: 0)))
        }
    }

    @Test("nc -u over IPv4: two datagrams (one odd-length) and the port-unreachable quoting the second")
    func udpv4Datagrams() throws {
        let packets = try PcapFile(fixture: "udpv4.pcap").packets
        #expect(packets.count == 3)
        try packets[0].withView { bytes in
            let datagram = try UDPDatagram(validating: IPv4Packet(validating: bytes).payload)
            #expect(datagram.sourcePort == 35898 && datagram.destinationPort == 18082 && datagram.length == 19)
            #expect(Array(datagram.payload) == Array("hello wire\n".utf8))
        }
        try packets[1].withView { bytes in
            let datagram = try UDPDatagram(validating: IPv4Packet(validating: bytes).payload)
            #expect(datagram.destinationPort == 18083 && datagram.checksum == 0xD3B1)
            #expect(Array(datagram.payload) == Array("odd!!".utf8))
        }
        try packets[2].withView { bytes in
            let ip = try IPv4Packet(validating: bytes)
            #expect(ip.dscp == 48 && ip.ecn == 0 && ip.source == IPv4Address(10, 250, 3, 2) && !ip.dontFragment)
            let message = try ICMPv4Message(validating: ip.payload)
            guard case let .destinationUnreachable(code, mtu, invoking) = try ICMPv4(message) else {
                Issue.record("expected destination unreachable")
                return
            }
            #expect(code == .portUnreachable && mtu == 0)
            let quoted = try IPv4Packet(validating: invoking)
            #expect(quoted.identification == 19429 && quoted.protocol == .udp)
            #expect(try UDPDatagram(validating: quoted.payload).destinationPort == 18083)
        }
    }

    @Test("nc -6 -u: datagrams and the ICMPv6 port unreachable quoting the second")
    func udpv6Datagrams() throws {
        let packets = try PcapFile(fixture: "udpv6.pcap").packets
        #expect(packets.count == 3)
        try packets[1].withView { bytes in
            let ip = try IPv6Packet(validating: bytes)
            let datagram = try UDPDatagram(validating: ip.payload)
            #expect(datagram.sourcePort == 37066 && datagram.destinationPort == 18085 && datagram.payload.count == 5)
        }
        try packets[2].withView { bytes in
            let ip = try IPv6Packet(validating: bytes)
            let message = try ICMPv6Message(validating: ip.payload)
            guard case let .destinationUnreachable(code, invoking) = try ICMPv6(message) else {
                Issue.record("expected destination unreachable")
                return
            }
            #expect(code == .portUnreachable)
            let quoted = try IPv6Packet(validating: invoking)
            #expect(quoted.flowLabel == 0x9B312 && quoted.upperLayerProtocol == .udp)
            #expect(try UDPDatagram(validating: quoted.payload).destinationPort == 18085)
        }
    }

    @Test("crafted IPv6 chain: hop-by-hop, routing, atomic fragment, destination options, then UDP")
    func ipv6ExtensionHeaderChain() throws {
        let packets = try PcapFile(fixture: "ipv6-extension-headers.pcap").packets
        #expect(packets.count == 1)
        try packets[0].withView { bytes in
            let ip = try IPv6Packet(validating: bytes)
            #expect(ip.nextHeader == .ipv6HopByHop && ip.payloadLength == 73)
            #expect(ip.extensionHeaders.map(\.kind) == [.ipv6HopByHop, .ipv6Routing, .ipv6Fragment, .ipv6DestinationOptions])
            #expect(ip.extensionHeaders.map(\.bytes.count) == [8, 24, 8, 8])
            #expect(ip.upperLayerProtocol == .udp && ip.upperLayerOffset == 88)
            #expect(ip.fragmentHeader == IPv6FragmentHeader(
                nextHeader: .ipv6DestinationOptions, fragmentOffset: 0, moreFragments: false, identification: 0x1234_ABCD))
            #expect(ip.fragmentHeader?.isAtomic == true)
            let datagram = try UDPDatagram(validating: ip.payload)
            #expect(datagram.sourcePort == 40000 && datagram.destinationPort == 18086)
            #expect(String(decoding: datagram.payload, as: UTF8.self) == "extension headers")
        }
    }

    @Test("ping -s 3000 over a 1500-byte MTU: three IPv4 fragments that reassemble to a valid echo")
    func ipv4Fragments() throws {
        let packets = try PcapFile(fixture: "ipv4-fragments.pcap").packets
        #expect(packets.count == 6)
        for (direction, identification) in [(0, UInt16(64977)), (1, UInt16(3861))] {
            var reassembled: [UInt8] = []
            for (index, (offset, more)) in [(0, true), (1480, true), (2960, false)].enumerated() {
                try packets[direction * 3 + index].withView { bytes in
                    let ip = try IPv4Packet(validating: bytes)
                    #expect(ip.identification == identification && ip.fragmentOffset == offset)
                    #expect(ip.moreFragments == more && ip.isFragment && !ip.dontFragment)
                    #expect(reassembled.count == ip.fragmentOffset)
                    reassembled += ip.payload
                }
            }
            #expect(reassembled.count == 3008)
            try reassembled.withView { bytes in
                let message = try ICMPv4Message(validating: bytes)
                #expect(message.isChecksumValid && message.identifier == 19616 && message.data.count == 3000)
                #expect(message.type == (direction == 0 ? .echoRequest : .echoReply))
            }
        }
    }

    @Test("ping -6 -s 3000: fragment headers report offset, M and identification; data reassembles")
    func ipv6Fragments() throws {
        let packets = try PcapFile(fixture: "ipv6-fragments.pcap").packets
        #expect(packets.count == 6)
        for (direction, identification) in [(0, UInt32(0x06C2_F03C)), (1, UInt32(0x32B5_47A2))] {
            var reassembled: [UInt8] = []
            var addresses: (IPv6Address, IPv6Address)? = nil
            for (index, (offset, more)) in [(0, true), (1448, true), (2896, false)].enumerated() {
                try packets[direction * 3 + index].withView { bytes in
                    let ip = try IPv6Packet(validating: bytes)
                    let fragment = try #require(ip.fragmentHeader)
                    #expect(fragment.identification == identification && fragment.fragmentOffset == offset)
                    #expect(fragment.moreFragments == more && fragment.nextHeader == .icmpv6 && ip.isFragment)
                    #expect(ip.upperLayerProtocol == .icmpv6 && ip.upperLayerOffset == 48)
                    #expect(reassembled.count == fragment.fragmentOffset)
                    reassembled += ip.payload
                    addresses = (ip.source, ip.destination)
                }
            }
            #expect(reassembled.count == 3008)
            let (source, destination) = try #require(addresses)
            try reassembled.withView { bytes in
                let message = try ICMPv6Message(validating: bytes)
                #expect(message.isChecksumValid(source: source, destination: destination))
                #expect(message.identifier == 19672 && message.data.count == 3000)
            }
        }
    }

    @Test("ACKs under loss carry 1, 2 and 3 SACK blocks with the edges tcpdump -S shows")
    func sackBlocks() throws {
        let packets = try PcapFile(fixture: "tcp-sack.pcap").packets
        #expect(packets.count == 6)
        let expected: [[(UInt32, UInt32)]] = [
            [(1_543_471_081, 1_543_476_873)],
            [(1_543_478_321, 1_543_479_769), (1_543_471_081, 1_543_476_873)],
            [(1_543_478_321, 1_543_481_217), (1_543_471_081, 1_543_476_873)],
            [(1_543_478_321, 1_543_494_249)],
            [(1_543_532_273, 1_543_546_753), (1_543_529_377, 1_543_530_825), (1_543_520_689, 1_543_527_929)],
            [(1_543_548_201, 1_543_553_993), (1_543_532_273, 1_543_546_753), (1_543_529_377, 1_543_530_825)],
        ]
        for (packet, blocks) in zip(packets, expected) {
            try packet.withView { bytes in
                let segment = try TCPSegment(validating: IPv4Packet(validating: bytes).payload)
                #expect(segment.flags == .ack && segment.payload.isEmpty)
                #expect(segment.options.timestamps?.value == 2_797_613_118 || segment.options.timestamps?.value == 2_797_613_119)
                #expect(segment.options.sackBlocks.map { [$0.left, $0.right] } == blocks.map { [$0.0, $0.1] })
            }
        }
    }
}
