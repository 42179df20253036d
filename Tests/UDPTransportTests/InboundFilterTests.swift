import Glibc
import Testing
@testable import UDPTransport

/// The kernel's filter of foreign datagrams on a real socket: everything a WireNet node receives
/// passes (WireGuard messages of each type at each length their type allows, disco, STUN), garbage
/// of every shape is dropped before it is queued, over IPv4 and IPv6, on both backends, with and
/// without UDP GRO.
@Suite("Inbound filter", .serialized)
struct InboundFilterTests {
    static let dropForeign = UDPTransport.InboundFilter(dropsForeignDatagrams: true)

    /// A WireGuard message: the little-endian type word `type`, then `tag` and filler to `size` bytes.
    static func wireGuard(type: UInt32, size: Int, tag: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0x5A, count: size)
        for index in 0..<min(4, size) { bytes[index] = UInt8(truncatingIfNeeded: type >> (8 * UInt32(index))) }
        if size >= 6 { bytes[4] = UInt8(truncatingIfNeeded: tag); bytes[5] = UInt8(truncatingIfNeeded: tag >> 8) }
        return bytes
    }

    /// The disco magic "TS💬" (tailscale disco.go).
    static let discoMagic: [UInt8] = [0x54, 0x53, 0xF0, 0x9F, 0x92, 0xAC]

    /// A disco packet's shape: magic, then `tag` and filler to `size` bytes (78 at least for a real
    /// one: magic 6, sender key 32, nonce 24, tag 16).
    static func disco(size: Int, tag: Int, magic: [UInt8] = discoMagic) -> [UInt8] {
        var bytes = magic + [UInt8](repeating: 0x33, count: size - magic.count)
        bytes[magic.count] = UInt8(truncatingIfNeeded: tag)
        return bytes
    }

    /// A STUN message (RFC 5389 §6): type (0x0101 binding success response), length of the
    /// attributes, magic cookie 0x2112A442, 12-byte transaction ID, then `attributes` bytes.
    static func stun(type: UInt16 = 0x0101, attributes: Int = 12, tag: Int,
                     cookie: UInt32 = 0x2112_A442) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(type >> 8), UInt8(type & 0xFF), UInt8(attributes >> 8), UInt8(attributes & 0xFF),
                              UInt8(cookie >> 24), UInt8((cookie >> 16) & 0xFF), UInt8((cookie >> 8) & 0xFF), UInt8(cookie & 0xFF)]
        bytes += [UInt8](repeating: UInt8(truncatingIfNeeded: tag), count: 12)
        if attributes >= 12 {
            // XOR-MAPPED-ADDRESS (RFC 5389 §15.2), IPv4.
            bytes += [0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xA1, 0x47, 0x5E, 0x12, 0xA4, 0x43]
            bytes += [UInt8](repeating: 0, count: attributes - 12)
        } else {
            bytes += [UInt8](repeating: 0, count: attributes)
        }
        return bytes
    }

    /// Every kind of datagram a WireNet socket receives, at the boundaries of its lengths.
    static let legitimate: [[UInt8]] = [
        wireGuard(type: 1, size: 148, tag: 1),  // initiation
        wireGuard(type: 2, size: 92, tag: 2),  // response
        wireGuard(type: 3, size: 64, tag: 3),  // cookie reply
        wireGuard(type: 4, size: 32, tag: 4),  // keepalive
        wireGuard(type: 4, size: 33, tag: 5),  // no rule finer than 32 or more: see below
        wireGuard(type: 4, size: 48, tag: 6),
        // A full packet of a peer with the default MTU 1420: padded to the MTU, not to a
        // multiple of 16 (wireguard-go calculatePaddingSize), so 1452 bytes.
        wireGuard(type: 4, size: 32 + 1420, tag: 7),
        wireGuard(type: 4, size: 32 + 1280, tag: 8),
        wireGuard(type: 4, size: 4000, tag: 9),  // under a receive buffer without GRO (4096)
        disco(size: 78, tag: 10),
        disco(size: 200, tag: 11),
        disco(size: 1400, tag: 12),
        stun(type: 0x0001, attributes: 0, tag: 13),  // binding request, header only: 20 bytes
        stun(type: 0x0101, attributes: 12, tag: 14),  // binding success response
        stun(type: 0x0111, attributes: 40, tag: 15),  // binding error response
    ]

    /// Handshake messages and cookie replies one byte longer than their size: foreign on a socket
    /// without GRO, possible super-datagrams on one with it.
    static let overlongHandshakes: [[UInt8]] = [
        wireGuard(type: 1, size: 149, tag: 20),
        wireGuard(type: 2, size: 93, tag: 21),
        wireGuard(type: 3, size: 65, tag: 22),
    ]

    /// Garbage of every shape: random (what perf/floods/flood.py sends), too short for a type word,
    /// unknown types, WireGuard types one byte short, a broken disco magic or too-short disco,
    /// STUN without its cookie, with the top bits set or too short.
    static let foreign: [[UInt8]] = {
        var random = SplitMix64(seed: 17)
        var garbage: [[UInt8]] = (0..<40).map { _ in
            (0..<Int(32 + random.next() % 1369)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
        garbage += [[], [1], [1, 0], [4, 0, 0]]
        garbage += ([0, 5, 0xFF, 0x0101, 0x0100_0001, 0x8000_0004] as [UInt32]).map { wireGuard(type: $0, size: 148, tag: 30) }
        garbage += [
            wireGuard(type: 1, size: 147, tag: 31),
            wireGuard(type: 2, size: 91, tag: 32),
            wireGuard(type: 3, size: 63, tag: 33),
            wireGuard(type: 4, size: 31, tag: 34),
            wireGuard(type: 4, size: 4, tag: 35),
            disco(size: 77, tag: 36),
            disco(size: 100, tag: 37, magic: [0x54, 0x53, 0xF0, 0x9F, 0x92, 0xAD]),
            disco(size: 100, tag: 38, magic: [0x54, 0x53]),
            Array(stun(attributes: 0, tag: 39).prefix(19)),
            stun(type: 0x4101, tag: 40),
            stun(type: 0x8101, tag: 41),
            stun(tag: 42, cookie: 0x2112_A443),
        ]
        return garbage
    }()

    /// A receiver with the foreign-datagram filter, `gro` as asked.
    static func receiver(_ backend: UDPTransport.Backend, gro: Bool) throws -> UDPTransport {
        let transport = try UDPTransport(configuration: Fixture.configuration(backend, gro: gro))
        try transport.setInboundFilter(dropForeign)
        return transport
    }

    @Test(arguments: Fixture.backends, [false, true])
    func foreignDatagramsAreDroppedAndEveryKindANodeReceivesPasses(backend: UDPTransport.Backend, gro: Bool) throws {
        let transport = try Self.receiver(backend, gro: gro)
        defer { transport.close() }
        #expect(transport.inboundFilter == Self.dropForeign)
        // Interleaved, so that a filter dropping too much or too little shows where.
        let messages: [[UInt8]] = zip(Self.foreign.prefix(Self.legitimate.count), Self.legitimate).flatMap { [$0, $1] }
            + Self.foreign.dropFirst(Self.legitimate.count) + Self.overlongHandshakes
        let arrived = try HandshakeSamplingFilterTests.deliver(messages, to: transport)
        let expected = Self.legitimate + (transport.receiveCoalescing ? Self.overlongHandshakes : [])
        #expect(Fixture.mismatch(arrived, expected) == nil, "\(arrived.map(\.count)) arrived")
    }

    @Test(arguments: Fixture.backends)
    func foreignDatagramsOverIPv6AreDroppedToo(backend: UDPTransport.Backend) throws {
        let transport = try Self.receiver(backend, gro: false)
        var senderConfiguration = Fixture.configuration(.portable, gso: false, gro: false)
        senderConfiguration.sendBufferSize = 8192
        let sender = try UDPTransport(configuration: senderConfiguration)
        defer { transport.close(); sender.close() }
        // The IPv6 path runs the filter in its own function (udpv6_queue_rcv_one_skb). The
        // transport sends no empty datagram: those go over IPv4 above.
        let foreign = Self.foreign.filter { !$0.isEmpty }
        let arrived = try Fixture.deliver(foreign + Self.legitimate + Self.overlongHandshakes, to: transport) { message in
            Fixture.send([message], from: sender, to: .loopbackIPv6(port: transport.localPort))
        }
        #expect(Fixture.mismatch(arrived, Self.legitimate) == nil, "\(arrived.map(\.count)) arrived")
    }

    /// Over loopback a UDP GSO send reaches a GRO socket as one super-datagram, and the filter sees
    /// it once, with the first segment's type and the length of all: exact handshake sizes would
    /// drop a response sent together with a keepalive.
    @Test(arguments: Fixture.backends)
    func aSuperDatagramPassesOrFallsByItsFirstSegment(backend: UDPTransport.Backend) throws {
        let transport = try Self.receiver(backend, gro: true)
        let sender = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { transport.close(); sender.close() }
        try #require(sender.segmentationOffload && transport.receiveCoalescing, "kernel without UDP GSO/GRO")
        let destination = UDPEndpoint.loopbackIPv4(port: transport.localPort)
        let passing: [[[UInt8]]] = [
            [Self.wireGuard(type: 2, size: 92, tag: 1), Self.wireGuard(type: 4, size: 32, tag: 2)],
            (0..<3).map { Self.wireGuard(type: 4, size: 1452, tag: 3 + $0) } + [Self.wireGuard(type: 1, size: 148, tag: 6)],
            [Self.disco(size: 200, tag: 7), Self.disco(size: 200, tag: 8), Self.wireGuard(type: 3, size: 64, tag: 9)],
        ]
        // Foreign first segment: the whole super-datagram goes, its WireGuard segment with it.
        // Sent first: datagrams from one socket on loopback keep their order, so once the others
        // are in, it would have been too.
        let dropped = [[UInt8](repeating: 0xAB, count: 100), Self.wireGuard(type: 4, size: 100, tag: 10)]
        for group in [dropped] + passing { Fixture.send(group, from: sender, to: destination) }
        let expected = Array(passing.joined())
        let received = try Fixture.receive(expected.count, on: transport)
        #expect(Fixture.mismatch(received.map(\.bytes), expected) == nil)
        // One receive per GSO send that passed: each arrived coalesced.
        #expect(sender.statistics.segmentedSends == passing.count + 1)
        #expect(transport.statistics.receiveMessages == passing.count)
    }

    @Test(arguments: Fixture.backends)
    func samplingAddsToTheFilterAndStoppingItKeepsDroppingForeignDatagrams(backend: UDPTransport.Backend) throws {
        let transport = try Self.receiver(backend, gro: false)
        defer { transport.close() }
        try transport.sampleHandshakes(oneIn: 8)
        #expect(transport.inboundFilter == UDPTransport.InboundFilter(dropsForeignDatagrams: true, handshakeSampling: 8))
        let initiations = (0..<800).map { Self.wireGuard(type: 1, size: 148, tag: $0) }
        let keepalives = (0..<100).map { Self.wireGuard(type: 4, size: 32, tag: $0) }
        var arrived = try HandshakeSamplingFilterTests.deliver(initiations + Self.foreign + keepalives, to: transport)
        // Binomial(800, 1/8): mean 100, standard deviation 9.4; the bounds are 6 deviations out.
        let sampled = arrived.filter { $0[0] == 1 }.count
        #expect(sampled > 43 && sampled < 157, "\(sampled) of 800 initiations passed")
        #expect(Fixture.mismatch(arrived.filter { $0[0] != 1 }, keepalives) == nil)

        try transport.sampleHandshakes(oneIn: nil)
        #expect(transport.inboundFilter == Self.dropForeign)
        arrived = try HandshakeSamplingFilterTests.deliver(initiations + Self.foreign + keepalives, to: transport)
        #expect(Fixture.mismatch(arrived, initiations + keepalives) == nil)
    }

    @Test(arguments: Fixture.backends)
    func passAllRemovesTheFilterAndEveryDatagramArrives(backend: UDPTransport.Backend) throws {
        let transport = try Self.receiver(backend, gro: false)
        defer { transport.close() }
        try transport.setInboundFilter(.passAll)
        #expect(transport.inboundFilter == .passAll)
        // (Empty datagrams left out: what the transport makes of those is not this test's business.)
        let everything = Self.foreign.filter { !$0.isEmpty } + Self.legitimate
        let arrived = try HandshakeSamplingFilterTests.deliver(everything, to: transport)
        #expect(Fixture.mismatch(arrived, everything) == nil)
        // Removing it again is not an error.
        try transport.setInboundFilter(.passAll)
    }

    @Test func aSamplingFactorBelowTwoIsRefusedAndTheFilterStaysAsItWas() throws {
        let transport = try Self.receiver(.portable, gro: false)
        defer { transport.close() }
        let refused = UDPTransport.InboundFilter(dropsForeignDatagrams: true, handshakeSampling: 1)
        #expect(throws: Errno(rawValue: EINVAL)) { try transport.setInboundFilter(refused) }
        #expect(transport.inboundFilter == Self.dropForeign)
        transport.close()
        #expect(throws: Errno(rawValue: EBADF)) { try transport.setInboundFilter(Self.dropForeign) }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a seeded generator, so the random garbage is the same in
/// every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D4_9BB9_1331_11EB
        return z ^ (z >> 31)
    }
}
