import Glibc
import Testing
@testable import UDPTransport

/// The kernel's handshake sampling filter on a real socket: initiations and responses are let
/// through one in N at random, transport data and cookie replies always.
@Suite("Handshake sampling filter", .serialized)
struct HandshakeSamplingFilterTests {
    /// A datagram of WireGuard message type `type` (little-endian u32), `size` bytes, tagged `tag`.
    static func message(type: UInt8, size: Int, tag: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        bytes[0] = type
        bytes[4] = UInt8(truncatingIfNeeded: tag)
        bytes[5] = UInt8(truncatingIfNeeded: tag >> 8)
        return bytes
    }

    /// Sends `messages` from a plain IPv4 socket (``Fixture/deliver(_:to:send:)``); returns what arrived.
    static func deliver(_ messages: [[UInt8]], to transport: UDPTransport) throws -> [[UInt8]] {
        let sender = PlainSocket()
        return try Fixture.deliver(messages, to: transport) { sender.send($0, to: transport.localPort) }
    }

    @Test(arguments: Fixture.backends)
    func oneInEightHandshakeMessagesPassAndEveryOtherDatagram(backend: UDPTransport.Backend) throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { transport.close() }
        try transport.sampleHandshakes(oneIn: 8)
        let initiations = (0..<1600).map { Self.message(type: 1, size: 148, tag: $0) }
        let responses = (0..<800).map { Self.message(type: 2, size: 92, tag: $0) }
        let transportData = (0..<400).map { Self.message(type: 4, size: 32 + $0 % 100, tag: $0) }
        let cookieReplies = (0..<200).map { Self.message(type: 3, size: 64, tag: $0) }
        let others = (0..<100).map { Self.message(type: UInt8(5 + $0 % 200), size: 20, tag: $0) }
        // STUN binding responses start 0x01 0x01: the filter compares the whole type word, so
        // they are not taken for initiations.
        let stunResponses = (0..<100).map { tag -> [UInt8] in
            var bytes = Self.message(type: 1, size: 44, tag: tag)
            bytes[1] = 0x01
            return bytes
        }
        let arrived = try Self.deliver(initiations + transportData + stunResponses + responses + cookieReplies + others,
                                       to: transport)
        let isStun = { (bytes: [UInt8]) in bytes[0] == 1 && bytes[1] == 1 }
        #expect(arrived.filter(isStun) == stunResponses)
        let counts = Dictionary(grouping: arrived.filter { !isStun($0) }, by: { $0[0] }).mapValues(\.count)
        // Binomial(2400, 1/8): mean 300, standard deviation 16; the bounds are 6 deviations out.
        let handshakes = (counts[1] ?? 0) + (counts[2] ?? 0)
        #expect(handshakes > 200 && handshakes < 400, "\(handshakes) of 2400 handshake messages passed")
        #expect((counts[1] ?? 0) > 0 && (counts[2] ?? 0) > 0)
        #expect(arrived.filter { $0[0] == 4 } == transportData)
        #expect(arrived.filter { $0[0] == 3 } == cookieReplies)
        #expect(arrived.filter { $0[0] >= 5 } == others)
    }

    @Test(arguments: Fixture.backends)
    func removingTheFilterLetsEveryHandshakeMessageThrough(backend: UDPTransport.Backend) throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(backend))
        defer { transport.close() }
        try transport.sampleHandshakes(oneIn: 1000)
        try transport.sampleHandshakes(oneIn: nil)
        let initiations = (0..<300).map { Self.message(type: 1, size: 148, tag: $0) }
        #expect(try Self.deliver(initiations, to: transport) == initiations)
        // Removing it again is not an error: nothing attached is what was asked for.
        try transport.sampleHandshakes(oneIn: nil)
    }

    @Test func aFactorBelowTwoIsRefused() throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(.portable))
        defer { transport.close() }
        #expect(throws: Errno(rawValue: EINVAL)) { try transport.sampleHandshakes(oneIn: 1) }
        #expect(throws: Errno(rawValue: EINVAL)) { try transport.sampleHandshakes(oneIn: 0) }
    }

    @Test func aClosedTransportHasNoSocketToFilter() throws {
        let transport = try UDPTransport(configuration: Fixture.configuration(.portable))
        transport.close()
        #expect(throws: Errno(rawValue: EBADF)) { try transport.sampleHandshakes(oneIn: 4) }
    }
}
