import Testing
import Wire

/// Malformed and truncated input yields typed errors, never a trap.
@Suite("Malformed and truncated input")
struct MalformedInputTests {
    /// Parses `bytes` with the view for its outermost layer and every layer inside, as a receiver would.
    static func parseAll(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard let first = bytes.first else { throw .truncated(.ipv4, needed: 1, available: 0) }
        if first >> 4 == 4 {
            let ip = try IPv4Packet(validating: bytes)
            _ = ip.isHeaderChecksumValid
            try parseTransport(ip.protocol, ip.payload)
        } else {
            let ip = try IPv6Packet(validating: bytes)
            for header in ip.extensionHeaders { _ = header.bytes.count }
            try parseTransport(ip.upperLayerProtocol, ip.payload)
        }
    }

    static func parseTransport(_ proto: IPProtocol, _ payload: UnsafeRawBufferPointer) throws(WireError) {
        switch proto {
        case .tcp: _ = try TCPSegment(validating: payload).options
        case .udp: _ = try UDPDatagram(validating: payload).payload
        case .icmp: _ = try ICMPv4(ICMPv4Message(validating: payload))
        case .icmpv6: _ = try ICMPv6(ICMPv6Message(validating: payload))
        default: break
        }
    }

    @Test("every prefix of every captured packet parses or throws a typed error", arguments: GoldenPacketTests.fixtures)
    func everyPrefixOfCapturedPackets(fixture: String) throws {
        for packet in try PcapFile(fixture: fixture).packets {
            for length in 0...packet.count {
                Array(packet.prefix(length)).withView { bytes in
                    do throws(WireError) {
                        try Self.parseAll(bytes)
                    } catch {
                        #expect(!error.description.isEmpty)
                    }
                }
            }
        }
    }

    @Test("an IPv4 packet cut short of its total length is truncated, not misread")
    func ipv4TruncatedPrefixes() throws {
        let packet = try PcapFile(fixture: "udpv4.pcap").packets[0]  // 39 bytes
        for length in 0..<20 {
            Array(packet.prefix(length)).withView { bytes in
                #expect(throws: WireError.truncated(.ipv4, needed: 20, available: length)) { try IPv4Packet(validating: bytes) }
            }
        }
        for length in 20..<packet.count {
            Array(packet.prefix(length)).withView { bytes in
                #expect(throws: WireError.truncated(.ipv4, needed: 39, available: length)) { try IPv4Packet(validating: bytes) }
            }
        }
    }

    @Test("IPv4: wrong version, IHL below 5, IHL past the buffer, total length below the header")
    func ipv4HeaderFields() throws {
        var packet = try PcapFile(fixture: "udpv4.pcap").packets[0]
        packet[0] = 0x65
        packet.withView { bytes in
            #expect(throws: WireError.unsupportedVersion(.ipv4, found: 6)) { try IPv4Packet(validating: bytes) }
        }
        for ihl in 0..<5 {
            packet[0] = 0x40 | UInt8(ihl)
            packet.withView { bytes in
                #expect(throws: WireError.badHeaderLength(.ipv4, headerLength: ihl * 4, minimum: 20)) { try IPv4Packet(validating: bytes) }
            }
        }
        packet[0] = 0x4F  // 60-byte header in a 39-byte packet
        packet.withView { bytes in
            #expect(throws: WireError.truncated(.ipv4, needed: 60, available: 39)) { try IPv4Packet(validating: bytes) }
        }
        packet[0] = 0x45
        packet[2] = 0; packet[3] = 19
        packet.withView { bytes in
            #expect(throws: WireError.badTotalLength(.ipv4, declared: 19, minimum: 20)) { try IPv4Packet(validating: bytes) }
        }
    }

    @Test("IPv4: trailing link-layer padding is excluded from the payload; a flipped bit fails the header checksum")
    func ipv4PaddingAndChecksum() throws {
        var packet = try PcapFile(fixture: "udpv4.pcap").packets[1] + [0, 0, 0, 0, 0, 0, 0]
        try packet.withView { bytes in
            let ip = try IPv4Packet(validating: bytes)
            #expect(ip.totalLength == 33 && ip.payload.count == 13 && ip.isHeaderChecksumValid)
        }
        packet[8] ^= 0x01
        try packet.withView { bytes in
            let ip = try IPv4Packet(validating: bytes)
            #expect(!ip.isHeaderChecksumValid)
            #expect(throws: WireError.badChecksum(.ipv4)) { try ip.verifyHeaderChecksum() }
        }
    }

    /// A TCP header with the given option bytes (padded by the caller to a multiple of 4).
    static func tcpSegment(options: [UInt8], dataOffset: Int? = nil) -> [UInt8] {
        let offset = dataOffset ?? (20 + options.count) / 4
        return [0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, UInt8(offset << 4), 0x02, 0xFF, 0xFF, 0, 0, 0, 0] + options
    }

    @Test("TCP: data offset below 5 or past the buffer")
    func tcpDataOffset() {
        for offset in 0..<5 {
            Self.tcpSegment(options: [], dataOffset: offset).withView { bytes in
                #expect(throws: WireError.badHeaderLength(.tcp, headerLength: offset * 4, minimum: 20)) { try TCPSegment(validating: bytes) }
            }
        }
        Self.tcpSegment(options: [1, 1, 1, 1], dataOffset: 15).withView { bytes in
            #expect(throws: WireError.truncated(.tcp, needed: 60, available: 24)) { try TCPSegment(validating: bytes) }
        }
        Array(Self.tcpSegment(options: []).prefix(19)).withView { bytes in
            #expect(throws: WireError.truncated(.tcp, needed: 20, available: 19)) { try TCPSegment(validating: bytes) }
        }
    }

    @Test("TCP options: length 0, length 1, overrun, missing length byte, wrong fixed sizes are malformed",
          arguments: [
            ([2, 0, 0, 0], 2, 0),               // MSS with length 0
            ([1, 1, 8, 1], 8, 2),               // timestamps with length 1
            ([1, 1, 1, 30], 30, 3),             // unknown kind, no room for its length byte
            ([1, 1, 30, 9], 30, 2),             // unknown kind overrunning the area
            ([2, 3, 5, 0], 2, 0),               // MSS with length 3
            ([3, 4, 7, 0], 3, 0),               // window scale with length 4
            ([4, 3, 0, 0], 4, 0),               // SACK-permitted with length 3
            ([1, 1, 5, 6, 0, 0, 0, 0], 5, 2),   // SACK with a partial block
            ([1, 1, 5, 2], 5, 2),               // SACK with no block
            ([8, 8, 0, 0, 0, 0, 0, 0], 8, 0),   // timestamps with length 8
          ] as [([UInt8], UInt8, Int)])
    func tcpMalformedOptions(options: [UInt8], kind: UInt8, offset: Int) {
        Self.tcpSegment(options: options).withView { bytes in
            #expect(throws: WireError.malformedOption(.tcp, kind: kind, offset: offset)) { try TCPSegment(validating: bytes) }
        }
    }

    @Test("TCP options: unknown kinds are skipped, end-of-list stops parsing, NOPs pad")
    func tcpOptionSkipping() throws {
        // Unknown kind 30 (length 4), MSS, End of Option List, then garbage that must be ignored.
        try Self.tcpSegment(options: [30, 4, 0xAA, 0xBB, 2, 4, 0x05, 0xB4, 0, 2, 0, 0]).withView { bytes in
            let segment = try TCPSegment(validating: bytes)
            #expect(segment.options == TCPOptions(maximumSegmentSize: 1460))
        }
    }

    static func ipv6Packet(nextHeader: UInt8, extensions: [UInt8], payloadLength: Int? = nil) -> [UInt8] {
        let length = payloadLength ?? extensions.count
        return [0x60, 0, 0, 0, UInt8(length >> 8), UInt8(length & 0xFF), nextHeader, 64]
            + [UInt8](repeating: 0, count: 15) + [1] + [UInt8](repeating: 0, count: 15) + [1] + extensions
    }

    @Test("IPv6: version, payload length past the buffer, jumbogram")
    func ipv6FixedHeader() {
        Self.ipv6Packet(nextHeader: 59, extensions: [], payloadLength: 8).withView { bytes in
            #expect(throws: WireError.truncated(.ipv6, needed: 48, available: 40)) { try IPv6Packet(validating: bytes) }
        }
        Self.ipv6Packet(nextHeader: 0, extensions: [59, 0, 1, 4, 0, 0, 0, 0], payloadLength: 0).withView { bytes in
            #expect(throws: WireError.badPayloadLength(.ipv6, declared: 0, available: 8)) { try IPv6Packet(validating: bytes) }
        }
        var wrongVersion = Self.ipv6Packet(nextHeader: 59, extensions: [])
        wrongVersion[0] = 0x45
        wrongVersion.withView { bytes in
            #expect(throws: WireError.unsupportedVersion(.ipv6, found: 4)) { try IPv6Packet(validating: bytes) }
        }
    }

    @Test("IPv6 extension headers: a header overrunning the payload is truncated")
    func ipv6ExtensionOverrun() {
        // Destination options claiming 16 bytes in an 8-byte payload.
        Self.ipv6Packet(nextHeader: 60, extensions: [59, 1, 1, 4, 0, 0, 0, 0]).withView { bytes in
            #expect(throws: WireError.truncated(.ipv6ExtensionHeader, needed: 56, available: 48)) { try IPv6Packet(validating: bytes) }
        }
        // Fewer than 8 bytes left for a routing header.
        Self.ipv6Packet(nextHeader: 43, extensions: [59, 0, 0, 0]).withView { bytes in
            #expect(throws: WireError.truncated(.ipv6ExtensionHeader, needed: 48, available: 44)) { try IPv6Packet(validating: bytes) }
        }
    }

    @Test("IPv6 extension headers: a chain longer than the limit is rejected, so no chain can loop")
    func ipv6ChainLimit() {
        // Nine destination-options headers, each pointing to another.
        var chain: [UInt8] = []
        for index in 0..<9 { chain += [index == 8 ? 59 : 60, 0, 1, 4, 0, 0, 0, 0] }
        Self.ipv6Packet(nextHeader: 60, extensions: chain).withView { bytes in
            #expect(throws: WireError.tooManyExtensionHeaders(limit: IPv6Packet.maximumExtensionHeaders)) { try IPv6Packet(validating: bytes) }
        }
        // Eight, the limit, are walked.
        var eight = Array(chain.prefix(64))
        eight[56] = 59
        Self.ipv6Packet(nextHeader: 60, extensions: eight).withView { bytes in
            let ip = try? IPv6Packet(validating: bytes)
            #expect(ip?.upperLayerProtocol == .ipv6NoNextHeader && ip?.extensionHeaders.map(\.kind).count == 8)
        }
    }

    @Test("IPv6 extension headers: hop-by-hop after the first position, a second fragment header")
    func ipv6MisplacedHeaders() {
        Self.ipv6Packet(nextHeader: 60, extensions: [0, 0, 1, 4, 0, 0, 0, 0, 59, 0, 1, 4, 0, 0, 0, 0]).withView { bytes in
            #expect(throws: WireError.misplacedExtensionHeader(.ipv6HopByHop, index: 1)) { try IPv6Packet(validating: bytes) }
        }
        Self.ipv6Packet(nextHeader: 44, extensions: [44, 0, 0, 0, 0, 0, 0, 1, 59, 0, 0, 0, 0, 0, 0, 2]).withView { bytes in
            #expect(throws: WireError.misplacedExtensionHeader(.ipv6Fragment, index: 1)) { try IPv6Packet(validating: bytes) }
        }
    }

    @Test("IPv6 option TLVs: an option overrunning its header is malformed; Pad1 and PadN are fine")
    func ipv6OptionTLVs() throws {
        Self.ipv6Packet(nextHeader: 0, extensions: [59, 0, 0x1E, 5, 0, 0, 0, 0]).withView { bytes in
            #expect(throws: WireError.malformedOption(.ipv6ExtensionHeader, kind: 0x1E, offset: 2)) { try IPv6Packet(validating: bytes) }
        }
        Self.ipv6Packet(nextHeader: 60, extensions: [59, 0, 0, 0, 0, 0, 0, 0x1E]).withView { bytes in
            #expect(throws: WireError.malformedOption(.ipv6ExtensionHeader, kind: 0x1E, offset: 7)) { try IPv6Packet(validating: bytes) }
        }
        try Self.ipv6Packet(nextHeader: 60, extensions: [59, 0, 0, 0, 1, 2, 0, 0]).withView { bytes in
            let ip = try IPv6Packet(validating: bytes)
            #expect(ip.upperLayerProtocol == .ipv6NoNextHeader && ip.payload.isEmpty)
        }
    }

    @Test("IPv6: a non-first fragment ends the walk; its data is not parsed as headers")
    func ipv6NonFirstFragment() throws {
        // Fragment at offset 8 whose data looks like a bogus routing header.
        try Self.ipv6Packet(nextHeader: 44, extensions: [43, 0, 0, 9, 0, 0, 0, 7, 0xFF, 0xFF, 0xFF, 0xFF]).withView { bytes in
            let ip = try IPv6Packet(validating: bytes)
            #expect(ip.fragmentHeader == IPv6FragmentHeader(nextHeader: .ipv6Routing, fragmentOffset: 8, moreFragments: true, identification: 7))
            #expect(ip.upperLayerProtocol == .ipv6Routing && ip.payload.count == 4)
        }
    }

    @Test("UDP: length below 8, length past the buffer")
    func udpLength() {
        [0, 1, 0, 2, 0, 7, 0, 0].withView { bytes in
            #expect(throws: WireError.badTotalLength(.udp, declared: 7, minimum: 8)) { try UDPDatagram(validating: bytes) }
        }
        [0, 1, 0, 2, 0, 9, 0, 0].withView { bytes in
            #expect(throws: WireError.truncated(.udp, needed: 9, available: 8)) { try UDPDatagram(validating: bytes) }
        }
        [0, 1, 0, 2, 0].withView { bytes in
            #expect(throws: WireError.truncated(.udp, needed: 8, available: 5)) { try UDPDatagram(validating: bytes) }
        }
    }

    @Test("ICMP: fewer than 8 bytes; unknown types are reported, not misread")
    func icmpShortAndUnknown() throws {
        [8, 0, 0, 0].withView { bytes in
            #expect(throws: WireError.truncated(.icmpv4, needed: 8, available: 4)) { try ICMPv4Message(validating: bytes) }
            #expect(throws: WireError.truncated(.icmpv6, needed: 8, available: 4)) { try ICMPv6Message(validating: bytes) }
        }
        [13, 0, 0, 0, 0, 0, 0, 0].withView { bytes in
            #expect(throws: WireError.unsupportedMessageType(.icmpv4, type: 13, code: 0)) { try ICMPv4(ICMPv4Message(validating: bytes)) }
        }
        [135, 0, 0, 0, 0, 0, 0, 0].withView { bytes in
            #expect(throws: WireError.unsupportedMessageType(.icmpv6, type: 135, code: 0)) { try ICMPv6(ICMPv6Message(validating: bytes)) }
        }
    }

    @Test("random bytes never trap any view (20 000 inputs; the fuzz targets go further)")
    func randomBytes() {
        var rng = SplitMix64(seed: 0xBAD)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...80, using: &rng)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !bytes.isEmpty { bytes[0] = Bool.random(using: &rng) ? 0x45 : 0x60 | (bytes[0] & 0x0F) }
            bytes.withView { view in
                _ = try? Self.parseAll(view)
                _ = try? TCPSegment(validating: view)
                _ = try? ICMPv6(ICMPv6Message(validating: view))
            }
        }
    }

    @Test("every error explains itself")
    func errorMessages() {
        let errors: [WireError] = [
            .truncated(.tcp, needed: 20, available: 3), .unsupportedVersion(.ipv4, found: 6),
            .badHeaderLength(.ipv4, headerLength: 16, minimum: 20), .badTotalLength(.udp, declared: 4, minimum: 8),
            .badPayloadLength(.ipv6, declared: 0, available: 8), .badChecksum(.icmpv6),
            .malformedOption(.tcp, kind: 2, offset: 0), .misplacedExtensionHeader(.ipv6HopByHop, index: 2),
            .tooManyExtensionHeaders(limit: 8), .unsupportedMessageType(.icmpv4, type: 13, code: 0),
            .bufferTooSmall(.tcp, needed: 40, available: 20), .fieldOutOfRange(.ipv4, field: "dscp", value: 70, maximum: 63),
        ]
        for error in errors { #expect(error.description.count > 20) }
        #expect(WireError.badPayloadLength(.ipv6, declared: 0, available: 8).description.contains("jumbogram"))
    }
}
