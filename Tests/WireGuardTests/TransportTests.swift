import Testing
import Wire
@testable import WireGuard

@Suite struct TransportTests {
    func established() throws -> (SimulatedNetwork, SimulatedHost, SimulatedHost) {
        let network = SimulatedNetwork()
        let a = network.addHost(1)
        let b = network.addHost(2)
        try network.pair(a, b)
        try a.device.initiateHandshake(with: b.publicKey, now: network.now)
        network.run()
        return (network, a, b)
    }

    func packet(_ from: SimulatedHost, _ to: SimulatedHost, _ n: Int) -> [UInt8] {
        ipv4Packet(source: from.tunnelAddress, destination: to.tunnelAddress,
                   payload: [UInt8(n >> 8), UInt8(n & 0xFF)] + (0..<(n % 300)).map { UInt8(truncatingIfNeeded: $0 &+ n) })
    }

    @Test func plaintextIsPaddedToSixteenBytesOnTheWire() throws {
        let (network, a, b) = try established()
        for size in [21, 32, 33, 100] {
            let inner = ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress,
                                   payload: [UInt8](repeating: 1, count: size - 20))
            guard case .datagram(_, let length) = network.send(inner, from: a) else {
                Issue.record("no datagram")
                continue
            }
            #expect(length == 32 + (size + 15) / 16 * 16, "inner size \(size)")
        }
        network.run()
        // The padding is stripped by the inner packet's own length.
        #expect(b.delivered.map(\.count) == [21, 32, 33, 100])
    }

    @Test func paddingNeverExceedsTheMTU() throws {
        let (network, a, b) = try established()
        a.device.mtu = 1420
        let inner = ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress,
                               payload: [UInt8](repeating: 0, count: 1419 - 20))
        guard case .datagram(_, let length) = network.send(inner, from: a) else {
            Issue.record("no datagram")
            return
        }
        #expect(length == 1420 + 32)
    }

    @Test func reorderedPacketsWithinTheWindowAreAllDeliveredAndDuplicatesDropped() throws {
        let (network, a, b) = try established()
        network.fault = { _ in .hold }
        let sent = (0..<50).map { packet(a, b, $0) }
        for p in sent { network.send(p, from: a) }
        network.fault = { _ in .deliver }
        let held = network.held
        network.releaseHeld(reversed: true)
        #expect(Set(b.delivered.map { $0 }) == Set(sent))
        #expect(b.delivered.count == 50)
        for datagram in held.prefix(5) { network.deliver(datagram) }
        #expect(b.delivered.count == 50)
        #expect(b.device.status(of: a.publicKey)?.drops[.replayedCounter] == 5)
    }

    @Test func lossyReorderingDuplicatingLinkDeliversEachPacketAtMostOnceIntact() throws {
        let (network, a, b) = try established()
        var generator = SystemRandomNumberGenerator()
        network.fault = { _ in
            switch Int.random(in: 0..<10, using: &generator) {
            case 0: .drop
            case 1: .duplicate
            case 2, 3: .hold
            default: .deliver
            }
        }
        let sent = (0..<400).map { packet(a, b, $0) }
        for (index, p) in sent.enumerated() {
            network.send(p, from: a)
            if index % 37 == 0 { network.releaseHeld() }
            network.run()
        }
        network.fault = { _ in .deliver }
        network.releaseHeld()
        let delivered = b.delivered
        #expect(Set(delivered).count == delivered.count, "a packet was delivered twice")
        #expect(Set(delivered).isSubset(of: Set(sent)))
        #expect(delivered.count >= 300)
        let digestSent = sha256(sent.filter { Set(delivered).contains($0) }.sorted { $0.lexicographicallyPrecedes($1) })
        let digestDelivered = sha256(delivered.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(digestSent == digestDelivered)
    }

    @Test func ipv6PacketsRouteAndDeliver() throws {
        let network = SimulatedNetwork()
        let a = network.addHost(1)
        let b = network.addHost(2)
        try a.device.addPeer(PeerConfiguration(publicKey: b.publicKey, endpoint: b.endpoint,
                                               allowedIPs: [IPPrefix("fd7a:115c:a1e0:9::2/128")!]))
        try b.device.addPeer(PeerConfiguration(publicKey: a.publicKey, endpoint: a.endpoint,
                                               allowedIPs: [IPPrefix("fd7a:115c:a1e0:9::1/128")!]))
        let p = ipv6Packet(source: (0xfd7a_115c_a1e0_0009, 1), destination: (0xfd7a_115c_a1e0_0009, 2), payload: [1, 2, 3])
        network.send(p, from: a)
        network.run()
        #expect(b.delivered == [p])
    }

    @Test func incomingPacketWithASourceOutsideThePeersAllowedIPsIsDropped() throws {
        let (network, a, b) = try established()
        let spoofed = ipv4Packet(source: ip(100, 64, 9, 77), destination: b.tunnelAddress, payload: [1])
        // Route it to b explicitly (a's own table would not send it there by source anyway).
        var buffer = [UInt8](repeating: 0, count: 16 + spoofed.count + WireGuardDevice.sendTailroom)
        buffer.replaceSubrange(16..<(16 + spoofed.count), with: spoofed)
        let result = buffer.withUnsafeMutableBytes { a.device.send($0, packetLength: spoofed.count, to: b.publicKey, now: network.now) }
        guard case .datagram(let to, let length) = result else {
            Issue.record("not sent")
            return
        }
        network.deliver(SimulatedDatagram(from: a.endpoint, to: to, bytes: Array(buffer[0..<length])))
        #expect(b.receiveResults.last == .dropped(.disallowedSource))
        #expect(b.delivered.isEmpty)
    }

    @Test func outgoingPacketWithoutARouteIsDropped() throws {
        let (network, a, _) = try established()
        let result = network.send(ipv4Packet(source: a.tunnelAddress, destination: ip(100, 64, 200, 1), payload: []), from: a)
        #expect(result == .dropped(.noRoute))
        #expect(a.device.drops[.noRoute] == 1)
    }

    @Test func endpointRoamsOnlyOnAuthenticatedPackets() throws {
        let (network, a, b) = try established()
        let moved = IPEndpoint.v4(10, 250, 9, 99, port: 4000)
        // An unauthenticated datagram from elsewhere does not move the endpoint.
        var junk = [UInt8](repeating: 0, count: 64)
        junk[0] = 4
        network.deliver(SimulatedDatagram(from: moved, to: b.endpoint, bytes: junk))
        #expect(b.device.status(of: a.publicKey)?.endpoint == a.endpoint)
        // A genuine packet replayed from elsewhere fails the replay check and does not move it either.
        network.fault = { _ in .hold }
        network.send(packet(a, b, 1), from: a)
        network.fault = { _ in .deliver }
        var genuine = network.held.removeFirst()
        network.deliver(genuine)
        genuine.from = moved
        network.deliver(genuine)
        #expect(b.device.status(of: a.publicKey)?.endpoint == a.endpoint)
        // A fresh authenticated packet from the new address does.
        network.fault = { _ in .hold }
        network.send(packet(a, b, 2), from: a)
        network.fault = { _ in .deliver }
        var fresh = network.held.removeFirst()
        fresh.from = moved
        network.deliver(fresh)
        #expect(b.device.status(of: a.publicKey)?.endpoint == moved)
    }

    @Test func newerStagedPacketsPushOutTheOldestBeyondTheLimit() throws {
        let network = SimulatedNetwork()
        let a = network.addHost(1)
        let b = network.addHost(2)
        try network.pair(a, b)
        network.fault = { _ in .drop }
        for n in 0..<(ProtocolConstants.stagedPacketLimit + 10) { network.send(packet(a, b, n), from: a) }
        #expect(a.device.status(of: b.publicKey)?.stagedPackets == ProtocolConstants.stagedPacketLimit)
        #expect(a.device.status(of: b.publicKey)?.drops[.stagedQueueFull] == 10)
        network.fault = { _ in .deliver }
        network.advance(by: .seconds(6))
        #expect(b.delivered.count == ProtocolConstants.stagedPacketLimit)
        #expect(b.delivered.first == packet(a, b, 10))
    }

    @Test func sendingNeedsRoomForPaddingAndTag() throws {
        let (network, a, b) = try established()
        let inner = packet(a, b, 7)
        var buffer = [UInt8](repeating: 0, count: 16 + inner.count + 4)
        buffer.replaceSubrange(16..<(16 + inner.count), with: inner)
        let result = buffer.withUnsafeMutableBytes { a.device.send($0, packetLength: inner.count, now: network.now) }
        #expect(result == .dropped(.bufferTooSmall))
    }
}

/// SHA-256 via libsodium, for checking transfers.
import CSodium
func sha256(_ packets: [[UInt8]]) -> [UInt8] {
    var state = crypto_hash_sha256_state()
    crypto_hash_sha256_init(&state)
    for packet in packets { crypto_hash_sha256_update(&state, packet, UInt64(packet.count)) }
    var digest = [UInt8](repeating: 0, count: 32)
    crypto_hash_sha256_final(&state, &digest)
    return digest
}
