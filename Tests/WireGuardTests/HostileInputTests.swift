import Testing
import Wire
@testable import WireGuard

@Suite struct HostileInputTests {
    func established() throws -> (SimulatedNetwork, SimulatedHost, SimulatedHost) {
        let network = SimulatedNetwork()
        let a = network.addHost(1)
        let b = network.addHost(2)
        try network.pair(a, b)
        network.send(ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [1]), from: a)
        network.run()
        return (network, a, b)
    }

    func deliver(_ bytes: [UInt8], to host: SimulatedHost, in network: SimulatedNetwork,
                 from: IPEndpoint = .v4(10, 250, 9, 66, port: 1)) -> ReceiveResult {
        network.deliver(SimulatedDatagram(from: from, to: host.endpoint, bytes: bytes))
        return host.receiveResults.last!
    }

    @Test func wrongLengthsForEachTypeAreDropped() throws {
        let (network, _, b) = try established()
        for (type, length) in [(1, 147), (1, 149), (2, 91), (2, 93), (3, 63), (3, 65), (4, 31), (4, 0), (1, 3)] {
            var bytes = [UInt8](repeating: 0, count: length)
            if length > 0 { bytes[0] = UInt8(type) }
            #expect(deliver(bytes, to: b, in: network) == .dropped(.invalidLength), "type \(type) length \(length)")
        }
    }

    @Test func unknownTypesAndNonZeroReservedBytesAreDropped() throws {
        let (network, _, b) = try established()
        #expect(deliver([0, 0, 0, 0] + [UInt8](repeating: 0, count: 60), to: b, in: network) == .dropped(.unknownMessageType))
        #expect(deliver([5, 0, 0, 0] + [UInt8](repeating: 0, count: 60), to: b, in: network) == .dropped(.unknownMessageType))
        #expect(deliver([4, 1, 0, 0] + [UInt8](repeating: 0, count: 60), to: b, in: network) == .dropped(.unknownMessageType))
    }

    @Test func handshakeMessagesWithABadMAC1AreDroppedBeforeAnyCryptography() throws {
        let (network, a, b) = try established()
        let initiation = network.log.first { messageType($0) == 1 }!
        var tampered = initiation.bytes
        tampered[120] ^= 0x40
        #expect(deliver(tampered, to: b, in: network) == .dropped(.invalidMAC1))
        var response = network.log.first { messageType($0) == 2 }!.bytes
        response[64] ^= 1
        #expect(deliver(response, to: a, in: network) == .dropped(.invalidMAC1))
    }

    @Test func tamperedInitiationBodyWithRecomputedMAC1FailsDecryption() throws {
        let (network, a, b) = try established()
        var bytes = network.log.first { messageType($0) == 1 }!.bytes
        bytes[50] ^= 1  // inside the encrypted static key
        // Recompute mac1 as an attacker who knows b's public key can.
        let generator = CookieGenerator(peerPublicKey: b.publicKey)
        bytes.withUnsafeMutableBytes { generator.addMACs($0, now: network.now) }
        #expect(deliver(bytes, to: b, in: network) == .dropped(.invalidHandshake))
        _ = a
    }

    @Test func initiationFromAnUnknownKeyIsDropped() throws {
        let (network, _, b) = try established()
        let stranger = network.addHost(7)
        try stranger.device.addPeer(PeerConfiguration(publicKey: b.publicKey, endpoint: b.endpoint,
                                                      allowedIPs: [IPPrefix("0.0.0.0/0")!]))
        try stranger.device.initiateHandshake(with: b.publicKey, now: network.now)
        network.run()
        #expect(b.device.drops[.unknownPeer] == 1)
    }

    @Test func unknownReceiverIndicesAreDropped() throws {
        let (network, _, b) = try established()
        var transport = [UInt8](repeating: 0, count: 48)
        transport[0] = 4
        transport[4] = 0xEF; transport[5] = 0xBE; transport[6] = 0xAD; transport[7] = 0xDE
        #expect(deliver(transport, to: b, in: network) == .dropped(.unknownReceiverIndex))
        var cookie = [UInt8](repeating: 0, count: 64)
        cookie[0] = 3
        cookie[4] = 0xEF
        #expect(deliver(cookie, to: b, in: network) == .dropped(.unknownReceiverIndex))
    }

    @Test func forgedCookieReplyForARealIndexIsRejected() throws {
        let (network, a, b) = try established()
        let index = a.device.peers[b.publicKey]!.keypairs.current!.localIndex
        var cookie = [UInt8](repeating: 0x55, count: 64)
        cookie[0] = 3; cookie[1] = 0; cookie[2] = 0; cookie[3] = 0
        withUnsafeBytes(of: index.littleEndian) { for i in 0..<4 { cookie[4 + i] = $0[i] } }
        #expect(deliver(cookie, to: a, in: network) == .dropped(.invalidCookieReply))
    }

    @Test func tamperedTransportDataFailsDecryptionAndIsCountedForThePeer() throws {
        let (network, a, b) = try established()
        var data = network.log.last { messageType($0) == 4 && $0.bytes.count > 32 }!.bytes
        data[8] &+= 100  // a fresh counter, so the replay check passes and decryption fails
        data[20] ^= 1
        #expect(deliver(data, to: b, in: network, from: a.endpoint) == .dropped(.decryptionFailed))
        #expect(b.device.status(of: a.publicKey)?.drops[.decryptionFailed] == 1)
    }

    @Test func replayedTransportDataIsDropped() throws {
        let (network, a, b) = try established()
        let data = network.log.last { messageType($0) == 4 && $0.bytes.count > 32 }!.bytes
        #expect(deliver(data, to: b, in: network, from: a.endpoint) == .dropped(.replayedCounter))
    }

    @Test func decryptedGarbageThatIsNotIPIsDropped() throws {
        let (network, a, b) = try established()
        var buffer = [UInt8](repeating: 0, count: 16 + 24 + WireGuardDevice.sendTailroom)
        buffer[16] = 0x10  // version 1
        let result = buffer.withUnsafeMutableBytes { a.device.send($0, packetLength: 24, to: b.publicKey, now: network.now) }
        guard case .datagram(_, let length) = result else {
            Issue.record("not sent")
            return
        }
        #expect(deliver(Array(buffer[0..<length]), to: b, in: network, from: a.endpoint) == .dropped(.invalidInnerPacket))
    }

    @Test func randomDatagramsNeverCrashAndAreAllCounted() throws {
        let (network, _, b) = try established()
        let before = b.device.drops.total
        var generator = SystemRandomNumberGenerator()
        for round in 0..<2000 {
            let length = Int.random(in: 0...200, using: &generator)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if length >= 4 {
                bytes[0] = UInt8(round % 5)
                bytes[1] = 0; bytes[2] = 0; bytes[3] = 0
            }
            if case .packet = deliver(bytes, to: b, in: network) { Issue.record("garbage delivered") }
        }
        #expect(b.device.drops.total - before == 2000)
    }
}
