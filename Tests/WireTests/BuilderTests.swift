import Testing
import Wire

@Suite("Builders (Repr emit) and their round trips")
struct BuilderTests {
    let v4Source = IPv4Address(100, 64, 0, 1), v4Destination = IPv4Address(100, 64, 0, 2)
    let v6Source = IPv6Address("fd7a:115c:a1e0::1")!, v6Destination = IPv6Address("fd7a:115c:a1e0::2")!

    @Test("IPv4 + UDP built in one buffer parse back with valid checksums")
    func ipv4UDPRoundTrip() throws {
        let payload = Array("an odd-length payload".utf8)
        var buffer = [UInt8](repeating: 0xEE, count: 20 + 8 + payload.count)
        try buffer.withUnsafeMutableBytes { buffer in
            payload.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[28...]).copyMemory(from: $0) }
            let ip = IPv4Header(source: v4Source, destination: v4Destination, protocol: .udp, payloadLength: 8 + payload.count,
                                timeToLive: 17, dscp: 46, ecn: 1, identification: 0xBEEF, dontFragment: true)
            try ip.emit(into: buffer)
            try UDPHeader(sourcePort: 5353, destinationPort: 53)
                .emit(into: UnsafeMutableRawBufferPointer(rebasing: buffer[20...]), source: v4Source, destination: v4Destination)
        }
        try buffer.withView { bytes in
            let ip = try IPv4Packet(validating: bytes)
            #expect(ip.isHeaderChecksumValid && ip.timeToLive == 17 && ip.dscp == 46 && ip.ecn == 1)
            #expect(ip.identification == 0xBEEF && ip.dontFragment && !ip.moreFragments && ip.protocol == .udp)
            #expect(IPv4Header(ip) == IPv4Header(source: v4Source, destination: v4Destination, protocol: .udp, payloadLength: 8 + payload.count,
                                                 timeToLive: 17, dscp: 46, ecn: 1, identification: 0xBEEF, dontFragment: true))
            let udp = try UDPDatagram(validating: ip.payload)
            #expect(udp.isChecksumValid(source: v4Source, destination: v4Destination))
            #expect(!udp.isChecksumValid(source: v4Source, destination: IPv4Address(100, 64, 0, 3)))
            #expect(Array(udp.payload) == payload && udp.sourcePort == 5353 && udp.destinationPort == 53)
        }
    }

    @Test("UDP: a computed checksum of zero is sent as 0xFFFF (RFC 768) and still verifies")
    func udpZeroChecksumIsSentAsAllOnes() throws {
        var datagram = [UInt8](repeating: 0, count: 10)
        let header = UDPHeader(sourcePort: 1, destinationPort: 2)
        try datagram.withUnsafeMutableBytes { try header.emit(into: $0, source: v6Source, destination: v6Destination) }
        // Put the checksum into the payload word: the new sum is all ones, so the computed field is zero.
        datagram[8] = datagram[6]; datagram[9] = datagram[7]
        try datagram.withUnsafeMutableBytes { try header.emit(into: $0, source: v6Source, destination: v6Destination) }
        #expect(datagram[6] == 0xFF && datagram[7] == 0xFF)
        try datagram.withView { bytes in
            let udp = try UDPDatagram(validating: bytes)
            #expect(udp.isChecksumValid(source: v6Source, destination: v6Destination))
        }
    }

    @Test("UDP over IPv6: a zero checksum is invalid (RFC 8200 §8.1); over IPv4 it means none (RFC 768)")
    func udpZeroChecksumRules() throws {
        try [0, 1, 0, 2, 0, 8, 0, 0].withView { bytes in
            let udp = try UDPDatagram(validating: bytes)
            #expect(udp.isChecksumValid(source: v4Source, destination: v4Destination))
            #expect(!udp.isChecksumValid(source: v6Source, destination: v6Destination))
        }
    }

    @Test("IPv6 + TCP SYN with every option round-trips, checksum included")
    func ipv6TCPRoundTrip() throws {
        let options = TCPOptions(maximumSegmentSize: 1380, windowScale: 7, sackPermitted: true,
                                 timestamps: TCPTimestamps(value: 123_456, echoReply: 0))
        let header = TCPHeader(sourcePort: 443, destinationPort: 50000, sequenceNumber: 0xFFFF_FFF0,
                               acknowledgmentNumber: 0, flags: [.syn, .ece, .cwr], window: 65535, options: options)
        #expect(header.length == 40)
        let data = Array("payload".utf8)
        var buffer = [UInt8](repeating: 0, count: 40 + header.length + data.count)
        try buffer.withUnsafeMutableBytes { buffer in
            try IPv6Header(source: v6Source, destination: v6Destination, nextHeader: .tcp, payloadLength: header.length + data.count,
                           hopLimit: 255, trafficClass: 0xB8, flowLabel: 0xABCDE).emit(into: buffer)
            data.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[(40 + header.length)...]).copyMemory(from: $0) }
            try header.emit(into: UnsafeMutableRawBufferPointer(rebasing: buffer[40...]), source: v6Source, destination: v6Destination)
        }
        try buffer.withView { bytes in
            let ip = try IPv6Packet(validating: bytes)
            #expect(ip.trafficClass == 0xB8 && ip.dscp == 46 && ip.flowLabel == 0xABCDE && ip.hopLimit == 255)
            let segment = try TCPSegment(validating: ip.payload)
            #expect(segment.isChecksumValid(source: v6Source, destination: v6Destination))
            #expect(TCPHeader(segment) == header)
            #expect(Array(segment.payload) == data && segment.sequenceLength == data.count + 1)
        }
    }

    @Test("TCP options emit in Linux's layout: MSS, SACK-permitted+TS, NOP+WS")
    func tcpOptionLayout() throws {
        let options = TCPOptions(maximumSegmentSize: 1460, windowScale: 10, sackPermitted: true,
                                 timestamps: TCPTimestamps(value: 1, echoReply: 2))
        var area = [UInt8](repeating: 0xEE, count: 40)
        let written = try area.withUnsafeMutableBytes { try options.emit(into: $0) }
        #expect(written == 20)
        #expect(Array(area.prefix(20)) == [2, 4, 0x05, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 10])
        let alone = TCPOptions(sackPermitted: true)
        let written2 = try area.withUnsafeMutableBytes { try alone.emit(into: $0) }
        #expect(written2 == 4 && Array(area.prefix(4)) == [1, 1, 4, 2])
    }

    @Test("SACK blocks: four fit alone, three with timestamps (RFC 2018 §3); the first ones are kept")
    func sackBlockLimits() throws {
        let blocks = TCPSACKBlocks((0..<4).map { TCPSACKBlock(left: UInt32($0) * 100, right: UInt32($0) * 100 + 50) })
        var options = TCPOptions(sackBlocks: blocks)
        #expect(options.encodedLength == 36)
        options.timestamps = TCPTimestamps(value: 9, echoReply: 8)
        #expect(options.encodedLength == 40)
        var area = [UInt8](repeating: 0, count: 40)
        try area.withUnsafeMutableBytes { _ = try options.emit(into: $0) }
        let parsed = try area.withView { try TCPOptions(parsing: $0) }
        #expect(parsed.sackBlocks == TCPSACKBlocks(blocks.prefix(3)))
        #expect(parsed.timestamps == options.timestamps)
        // A fifth block does not fit the inline storage.
        var five = blocks
        #expect(!five.append(TCPSACKBlock(left: 1, right: 2)) && five.count == 4)
    }

    @Test("random TCP options survive emit → parse (SACK trimmed to what fits)")
    func randomOptionsRoundTrip() throws {
        var rng = SplitMix64(seed: 9293)
        for _ in 0..<2000 {
            var options = TCPOptions()
            if Bool.random(using: &rng) { options.maximumSegmentSize = .random(in: 0...UInt16.max, using: &rng) }
            if Bool.random(using: &rng) { options.windowScale = .random(in: 0...14, using: &rng) }
            options.sackPermitted = Bool.random(using: &rng)
            if Bool.random(using: &rng) {
                options.timestamps = TCPTimestamps(value: .random(in: 0...UInt32.max, using: &rng), echoReply: .random(in: 0...UInt32.max, using: &rng))
            }
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                options.sackBlocks.append(TCPSACKBlock(left: .random(in: 0...UInt32.max, using: &rng), right: .random(in: 0...UInt32.max, using: &rng)))
            }
            var area = [UInt8](repeating: 0, count: 40)
            let written = try area.withUnsafeMutableBytes { try options.emit(into: $0) }
            #expect(written == options.encodedLength && written % 4 == 0 && written <= 40)
            let parsed = try Array(area.prefix(written)).withView { try TCPOptions(parsing: $0) }
            var expected = options
            expected.sackBlocks = TCPSACKBlocks(options.sackBlocks.prefix(parsed.sackBlocks.count))
            #expect(parsed == expected)
            // Whatever room the other options leave, as many blocks as fit are kept.
            var fixed = options.maximumSegmentSize == nil ? 0 : 4
            fixed += options.timestamps != nil ? 12 : (options.sackPermitted ? 4 : 0)
            fixed += options.windowScale == nil ? 0 : 4
            #expect(parsed.sackBlocks.count == min(options.sackBlocks.count, (40 - fixed - 4) / 8))
        }
    }

    @Test("ICMPv4 echo reply built in place over the request keeps the data and verifies")
    func icmpv4EchoReplyInPlace() throws {
        let data = (0..<57).map { UInt8($0) }
        var buffer = [UInt8](repeating: 0, count: 8 + data.count)
        try buffer.withUnsafeMutableBytes { buffer in
            let written = try data.withUnsafeBytes { data in
                try ICMPv4.echoRequest(identifier: 7, sequenceNumber: 9, data: data).emit(into: buffer)
            }
            #expect(written == 65)
            let message = try ICMPv4Message(validating: UnsafeRawBufferPointer(buffer))
            #expect(message.isChecksumValid && message.type == .echoRequest)
            guard case let .echoRequest(id, seq, body) = try ICMPv4(message) else { Issue.record("not echo"); return }
            try ICMPv4.echoReply(identifier: id, sequenceNumber: seq, data: body).emit(into: buffer)
            let reply = try ICMPv4Message(validating: UnsafeRawBufferPointer(buffer))
            #expect(reply.isChecksumValid && reply.type == .echoReply && reply.identifier == 7 && reply.sequenceNumber == 9)
            #expect(Array(reply.data) == data)
        }
    }

    @Test("ICMPv4 and ICMPv6 error messages round-trip through parse and emit")
    func icmpErrorsRoundTrip() throws {
        let quoted: [UInt8] = (0..<48).map { UInt8($0 * 3 & 0xFF) }
        try quoted.withView { quoted in
            let v4Messages: [ICMPv4] = [
                .destinationUnreachable(.fragmentationNeeded, nextHopMTU: 1420, invokingPacket: quoted),
                .timeExceeded(.timeToLiveExceeded, invokingPacket: quoted),
                .parameterProblem(pointer: 9, invokingPacket: quoted),
                .echoReply(identifier: 1, sequenceNumber: 2, data: quoted),
            ]
            for message in v4Messages {
                var buffer = [UInt8](repeating: 0, count: message.length)
                try buffer.withUnsafeMutableBytes { _ = try message.emit(into: $0) }
                try buffer.withView { bytes in
                    let view = try ICMPv4Message(validating: bytes)
                    #expect(view.isChecksumValid)
                    #expect(try ICMPv4(view) == message)
                }
            }
            let v6Messages: [ICMPv6] = [
                .destinationUnreachable(.addressUnreachable, invokingPacket: quoted),
                .packetTooBig(mtu: 1280, invokingPacket: quoted),
                .timeExceeded(.hopLimitExceeded, invokingPacket: quoted),
                .parameterProblem(.unrecognizedNextHeader, pointer: 6, invokingPacket: quoted),
                .echoRequest(identifier: 3, sequenceNumber: 4, data: quoted),
            ]
            for message in v6Messages {
                var buffer = [UInt8](repeating: 0, count: message.length)
                try buffer.withUnsafeMutableBytes { _ = try message.emit(into: $0, source: v6Source, destination: v6Destination) }
                try buffer.withView { bytes in
                    let view = try ICMPv6Message(validating: bytes)
                    #expect(view.isChecksumValid(source: v6Source, destination: v6Destination))
                    #expect(!view.isChecksumValid(source: v6Destination, destination: v6Destination))
                    #expect(try ICMPv6(view) == message)
                }
            }
            #expect(ICMPv6.packetTooBig(mtu: 1280, invokingPacket: quoted) != ICMPv6.packetTooBig(mtu: 1281, invokingPacket: quoted))
        }
    }

    @Test("builders refuse buffers that are too small and fields the header cannot carry")
    func builderErrors() {
        var small = [UInt8](repeating: 0, count: 19)
        small.withUnsafeMutableBytes { buffer in
            let ip = IPv4Header(source: v4Source, destination: v4Destination, protocol: .tcp, payloadLength: 0)
            #expect(throws: WireError.bufferTooSmall(.ipv4, needed: 20, available: 19)) { try ip.emit(into: buffer) }
            let v6 = IPv6Header(source: v6Source, destination: v6Destination, nextHeader: .tcp, payloadLength: 0)
            #expect(throws: WireError.bufferTooSmall(.ipv6, needed: 40, available: 19)) { try v6.emit(into: buffer) }
            let tcp = TCPHeader(sourcePort: 1, destinationPort: 2, sequenceNumber: 0, acknowledgmentNumber: 0, flags: .syn, window: 0)
            #expect(throws: WireError.bufferTooSmall(.tcp, needed: 20, available: 19)) { try tcp.emit(into: buffer, source: v4Source, destination: v4Destination) }
            #expect(throws: WireError.bufferTooSmall(.icmpv4, needed: 27, available: 19)) {
                try ICMPv4.echoRequest(identifier: 0, sequenceNumber: 0, data: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<19])).emit(into: buffer)
            }
        }
        var header = [UInt8](repeating: 0, count: 40)
        header.withUnsafeMutableBytes { buffer in
            var ip = IPv4Header(source: v4Source, destination: v4Destination, protocol: .tcp, payloadLength: 65516)
            #expect(throws: WireError.fieldOutOfRange(.ipv4, field: "payloadLength", value: 65516, maximum: 65515)) { try ip.emit(into: buffer) }
            ip.payloadLength = 0
            ip.fragmentOffset = 12
            #expect(throws: WireError.fieldOutOfRange(.ipv4, field: "fragmentOffset", value: 12, maximum: 65528)) { try ip.emit(into: buffer) }
            ip.fragmentOffset = 0
            ip.dscp = 64
            #expect(throws: WireError.fieldOutOfRange(.ipv4, field: "dscp", value: 64, maximum: 63)) { try ip.emit(into: buffer) }
            let v6 = IPv6Header(source: v6Source, destination: v6Destination, nextHeader: .udp, payloadLength: 0, flowLabel: 0x10_0000)
            #expect(throws: WireError.fieldOutOfRange(.ipv6, field: "flowLabel", value: 0x10_0000, maximum: 0xF_FFFF)) { try v6.emit(into: buffer) }
        }
    }

    @Test("IPv6 fragment header emits and parses back; offsets must be multiples of 8")
    func ipv6FragmentHeader() throws {
        let fragment = IPv6FragmentHeader(nextHeader: .udp, fragmentOffset: 1448, moreFragments: true, identification: 0xDEADBEEF)
        var bytes = [UInt8](repeating: 0, count: 8)
        try bytes.withUnsafeMutableBytes { buffer in try fragment.emit(into: buffer) }
        #expect(bytes == [17, 0, 0x05, 0xA9, 0xDE, 0xAD, 0xBE, 0xEF])
        var bad = fragment
        bad.fragmentOffset = 1449
        _ = bytes.withUnsafeMutableBytes { buffer in
            #expect(throws: WireError.fieldOutOfRange(.ipv6ExtensionHeader, field: "fragmentOffset", value: 1449, maximum: 65528)) { try bad.emit(into: buffer) }
        }
    }

    @Test("RFC 1624: NAT-rewriting an IPv4 source updates the IP and TCP checksums incrementally")
    func incrementalAddressRewrite() throws {
        var packet = try PcapFile(fixture: "tcpv4-http.pcap").packets[3]
        let newSource = IPv4Address(100, 64, 9, 9)
        let (oldSource, ipChecksum, tcpChecksum) = packet.withView { bytes in
            (IPv4Address(rawValue: UInt32(bytes[12]) << 24 | UInt32(bytes[13]) << 16 | UInt32(bytes[14]) << 8 | UInt32(bytes[15])),
             UInt16(bytes[10]) << 8 | UInt16(bytes[11]), UInt16(bytes[36]) << 8 | UInt16(bytes[37]))
        }
        let newIP = Checksum.update(ipChecksum, replacing: oldSource, with: newSource)
        let newTCP = Checksum.update(tcpChecksum, replacing: oldSource, with: newSource)
        packet.replaceSubrange(12..<16, with: [100, 64, 9, 9])
        packet.replaceSubrange(10..<12, with: [UInt8(newIP >> 8), UInt8(newIP & 0xFF)])
        packet.replaceSubrange(36..<38, with: [UInt8(newTCP >> 8), UInt8(newTCP & 0xFF)])
        try packet.withView { bytes in
            let ip = try IPv4Packet(validating: bytes)
            #expect(ip.source == newSource && ip.isHeaderChecksumValid)
            #expect(try TCPSegment(validating: ip.payload).isChecksumValid(source: newSource, destination: ip.destination))
        }
    }
}
