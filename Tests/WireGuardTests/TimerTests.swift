import Testing
import Wire
@testable import WireGuard

@Suite struct TimerTests {
    func established(persistentKeepalive: Duration? = nil) throws -> (SimulatedNetwork, SimulatedHost, SimulatedHost) {
        let network = SimulatedNetwork()
        let a = network.addHost(1)
        let b = network.addHost(2)
        try network.pair(a, b)
        if let persistentKeepalive {
            try a.device.addPeer(PeerConfiguration(
                publicKey: b.publicKey, endpoint: b.endpoint,
                allowedIPs: [IPPrefix(.v4(IPv4Address(rawValue: b.tunnelAddress)), length: 32)!],
                persistentKeepalive: persistentKeepalive))
        }
        try a.device.initiateHandshake(with: b.publicKey, now: network.now)
        network.run()
        network.log = []
        return (network, a, b)
    }

    func data(_ from: SimulatedHost, _ to: SimulatedHost) -> [UInt8] {
        ipv4Packet(source: from.tunnelAddress, destination: to.tunnelAddress, payload: [1, 2, 3])
    }

    func sent(by host: SimulatedHost, in network: SimulatedNetwork) -> [SimulatedDatagram] {
        network.log.filter { $0.from == host.endpoint }
    }

    @Test func receiverSendsAKeepaliveAfterKeepaliveTimeoutWithoutReplying() throws {
        let (network, a, b) = try established()
        network.send(data(a, b), from: a)
        network.run()
        network.advance(by: .milliseconds(9900))
        #expect(sent(by: b, in: network).isEmpty)
        network.advance(by: .milliseconds(200))
        let fromB = sent(by: b, in: network)
        #expect(fromB.count == 1 && fromB.first?.bytes.count == 32)
    }

    @Test func unansweredDataTriggersANewHandshakeAfterKeepalivePlusRekeyTimeout() throws {
        let (network, a, b) = try established()
        network.fault = { $0.from == b.endpoint ? .drop : .deliver }
        network.send(data(a, b), from: a)
        network.advance(by: .milliseconds(14_900))
        #expect(!sent(by: a, in: network).contains { messageType($0) == 1 })
        network.advance(by: .milliseconds(500))
        #expect(sent(by: a, in: network).contains { messageType($0) == 1 })
    }

    @Test func initiatorRekeysWhenSendingWithKeysOlderThanRekeyAfterTime() throws {
        let (network, a, b) = try established()
        network.advance(by: .seconds(119), step: .seconds(1))
        network.send(data(a, b), from: a)
        network.run()
        #expect(!sent(by: a, in: network).contains { messageType($0) == 1 })
        network.advance(by: .seconds(2), step: .seconds(1))
        network.send(data(a, b), from: a)
        network.run()
        #expect(sent(by: a, in: network).contains { messageType($0) == 1 })
        #expect(a.device.status(of: b.publicKey)?.handshakesCompleted == 2)
    }

    @Test func keysOlderThanRejectAfterTimeAreNotUsedToSend() throws {
        let (network, a, b) = try established()
        network.fault = { _ in .drop }
        network.advance(by: .seconds(181), step: .seconds(1))
        #expect(network.send(data(a, b), from: a) == .queued)
        network.fault = { _ in .deliver }
        network.advance(by: .seconds(6))
        #expect(b.delivered.count == 1)
    }

    @Test func persistentKeepaliveFiresOnItsInterval() throws {
        let (network, a, _) = try established(persistentKeepalive: .seconds(25))
        network.advance(by: .seconds(24), step: .seconds(1))
        #expect(sent(by: a, in: network).isEmpty)
        network.advance(by: .seconds(52), step: .seconds(1))
        let keepalives = sent(by: a, in: network).filter { $0.bytes.count == 32 }
        #expect(keepalives.count == 3)
    }

    @Test func handshakeRetriesStopAfterRekeyAttemptTimeAndDropStagedPackets() throws {
        let network = SimulatedNetwork()
        let a = network.addHost(1)
        let b = network.addHost(2)
        try network.pair(a, b)
        network.fault = { _ in .drop }
        network.send(data(a, b), from: a)
        network.advance(by: .seconds(130), step: .milliseconds(500))
        let initiations = network.log.filter { messageType($0) == 1 }.count
        // One initiation plus retries until the attempt counter exceeds 18 (wireguard-go: 20 in all).
        #expect(initiations == 20)
        #expect(a.device.status(of: b.publicKey)?.stagedPackets == 0)
        network.advance(by: .seconds(30), step: .seconds(1))
        #expect(network.log.filter { messageType($0) == 1 }.count == initiations)
    }

    @Test func keyMaterialIsErasedAfterThreeTimesRejectAfterTime() throws {
        let (network, a, b) = try established()
        #expect(a.device.status(of: b.publicKey)?.hasSession == true)
        network.advance(by: .seconds(539), step: .seconds(1))
        #expect(a.device.status(of: b.publicKey)?.hasSession == true)
        network.advance(by: .seconds(2), step: .seconds(1))
        #expect(a.device.status(of: b.publicKey)?.hasSession == false)
        #expect(a.device.indexTable.isEmpty)
    }

    @Test func initiatorRekeysAfterRekeyAfterMessages() throws {
        let (network, a, b) = try established()
        network.advance(by: .seconds(6))  // initiations are at most one per Rekey-Timeout
        a.device.peers[b.publicKey]!.keypairs.current!.sendCounter = ProtocolConstants.rekeyAfterMessages
        network.send(data(a, b), from: a)
        network.run()
        #expect(sent(by: a, in: network).contains { messageType($0) == 1 })
        #expect(a.device.status(of: b.publicKey)?.handshakesCompleted == 2)
    }

    @Test func keypairIsNeverUsedForRejectAfterMessages() throws {
        let (network, a, b) = try established()
        network.advance(by: .seconds(6))  // initiations are at most one per Rekey-Timeout
        network.fault = { _ in .drop }
        a.device.peers[b.publicKey]!.keypairs.current!.sendCounter = ProtocolConstants.rejectAfterMessages
        #expect(network.send(data(a, b), from: a) == .queued)
        network.fault = { _ in .deliver }
        network.advance(by: .seconds(6))
        #expect(b.delivered.count == 1)
    }

    @Test func initiatorRekeysOnceWhenReceivingWithKeysNearRejectAfterTime() throws {
        let (network, a, b) = try established()
        network.advance(by: .seconds(166), step: .seconds(1))
        network.log = []
        // b -> a data with the old keypair (b is the responder, so b itself does not rekey on age).
        network.send(data(b, a), from: b)
        network.run()
        #expect(sent(by: a, in: network).filter { messageType($0) == 1 }.count == 1)
        #expect(a.device.status(of: b.publicKey)?.handshakesCompleted == 2)
    }

    @Test func pollReportsTheNextDeadline() throws {
        let (network, a, b) = try established()
        network.send(data(a, b), from: a)
        var buffer = [UInt8](repeating: 0, count: 2048)
        let result = buffer.withUnsafeMutableBytes { a.device.poll(into: $0, now: network.now) }
        guard case .idle(let deadline?) = result else {
            Issue.record("expected a deadline, got \(result)")
            return
        }
        #expect(deadline > network.now)
        #expect(deadline <= network.now + .seconds(16))
    }
}
