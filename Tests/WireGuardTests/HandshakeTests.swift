import Testing
@testable import WireGuard
import Wire

@Suite struct HandshakeTests {
    /// Two configured hosts; `a` sends the first packet.
    func makePair(presharedKey: PresharedKey? = nil, loadThresholdB: Int = 1000, seed: UInt64? = nil) throws
        -> (SimulatedNetwork, SimulatedHost, SimulatedHost)
    {
        let network = SimulatedNetwork(seed: seed)
        let a = network.addHost(1)
        let b = network.addHost(2, loadThreshold: loadThresholdB)
        try network.pair(a, b, presharedKey: presharedKey)
        return (network, a, b)
    }

    @Test func firstPacketIsStagedAndDeliveredAfterTheHandshake() throws {
        let (network, a, b) = try makePair()
        let packet = ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: Array("ping".utf8))
        #expect(network.send(packet, from: a) == .queued)
        network.run()
        #expect(b.delivered == [packet])
        // Wire: initiation (148), response (92), the staged packet as transport data.
        #expect(network.log.map { $0.bytes.count }.prefix(2) == [148, 92])
        #expect(network.log.map(messageType).prefix(3) == [1, 2, 4])
        #expect(a.device.status(of: b.publicKey)?.hasSession == true)
        // The responder's keypair is confirmed by that first packet and it may now send directly.
        let reply = ipv4Packet(source: b.tunnelAddress, destination: a.tunnelAddress, payload: Array("pong".utf8))
        guard case .datagram = network.send(reply, from: b) else {
            Issue.record("responder could not send after confirmation")
            return
        }
        network.run()
        #expect(a.delivered == [reply])
        #expect(a.device.drops.total == 0 && b.device.drops.total == 0)
    }

    @Test func initiatorConfirmsWithAKeepaliveWhenNothingIsStaged() throws {
        let (network, a, b) = try makePair()
        try a.device.initiateHandshake(with: b.publicKey, now: network.now)
        network.run()
        #expect(network.log.map(messageType) == [1, 2, 4])
        #expect(network.log[2].bytes.count == 32)  // keepalive: header + tag
        #expect(b.device.status(of: a.publicKey)?.hasSession == true)
        #expect(b.delivered.isEmpty)
    }

    @Test func handshakeWithPresharedKeyInteroperatesAndMismatchFails() throws {
        let psk = PresharedKey()
        let (network, a, b) = try makePair(presharedKey: psk)
        let packet = ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [1, 2, 3])
        network.send(packet, from: a)
        network.run()
        #expect(b.delivered == [packet])

        let mismatched = SimulatedNetwork()
        let c = mismatched.addHost(3)
        let d = mismatched.addHost(4)
        try mismatched.pair(c, d, presharedKey: PresharedKey(), presharedKeyB: PresharedKey())
        mismatched.send(ipv4Packet(source: c.tunnelAddress, destination: d.tunnelAddress, payload: [1]), from: c)
        mismatched.run()
        #expect(d.delivered.isEmpty)
        #expect(c.device.status(of: d.publicKey)?.drops[.invalidHandshake] == 1)
    }

    @Test func bothDirectionsWorkWhicheverSideInitiates() throws {
        let (network, a, b) = try makePair()
        let fromB = ipv4Packet(source: b.tunnelAddress, destination: a.tunnelAddress, payload: [9])
        network.send(fromB, from: b)
        network.run()
        #expect(a.delivered == [fromB])
        let fromA = ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [8])
        network.send(fromA, from: a)
        network.run()
        #expect(b.delivered == [fromA])
    }

    @Test func underLoadTheResponderDemandsACookieAndAcceptsTheRetryWithMAC2() throws {
        let (network, a, b) = try makePair(loadThresholdB: 0)
        let packet = ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [7])
        network.send(packet, from: a)
        network.run()
        // Initiation answered by a cookie reply (type 3, 64 bytes); nothing delivered yet.
        #expect(network.log.map(messageType) == [1, 3])
        #expect(network.log[1].bytes.count == 64)
        #expect(b.device.drops[.cookieRequired] == 1)
        #expect(b.delivered.isEmpty)
        // The retry after Rekey-Timeout carries mac2 and completes the handshake.
        network.advance(by: .milliseconds(5400))
        #expect(b.delivered == [packet])
        let retry = network.log[2]
        #expect(messageType(retry) == 1)
        #expect(retry.bytes[132..<148].contains { $0 != 0 })
        #expect(b.device.drops[.cookieRequired] == 1)
    }

    @Test func aLostInitiationIsRetransmittedAfterRekeyTimeoutWithJitter() throws {
        let (network, a, b) = try makePair()
        var dropped = 0
        network.fault = { datagram in
            if messageType(datagram) == 1 && dropped == 0 { dropped += 1; return .drop }
            return .deliver
        }
        network.send(ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [1]), from: a)
        network.run()
        #expect(b.delivered.isEmpty)
        network.advance(by: .milliseconds(4900))
        #expect(network.log.filter { messageType($0) == 1 }.count == 1)
        network.advance(by: .milliseconds(500))
        #expect(network.log.filter { messageType($0) == 1 }.count == 2)
        #expect(b.delivered.count == 1)
    }

    @Test func aLostResponseIsRecoveredByTheNextInitiation() throws {
        let (network, a, b) = try makePair()
        var dropped = false
        network.fault = { datagram in
            if messageType(datagram) == 2 && !dropped { dropped = true; return .drop }
            return .deliver
        }
        network.send(ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [1]), from: a)
        network.advance(by: .seconds(6))
        #expect(b.delivered.count == 1)
    }

    @Test func replayedInitiationIsRejectedByItsTimestamp() throws {
        let (network, a, b) = try makePair()
        network.send(ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [1]), from: a)
        network.run()
        let initiation = network.log.first { messageType($0) == 1 }!
        network.advance(by: .seconds(1))
        network.deliver(initiation)
        #expect(b.receiveResults.last == .dropped(.staleTimestamp))
        #expect(b.device.status(of: a.publicKey)?.drops[.staleTimestamp] == 1)
    }

    @Test func initiationsFasterThanFiftyPerSecondArePerPeerFlood() throws {
        let (network, a, b) = try makePair()
        try a.device.initiateHandshake(with: b.publicKey, now: network.now)
        network.run()
        #expect(b.device.status(of: a.publicKey)?.handshakesCompleted == 1)

        // 5 ms later a second initiation with a newer timestamp (the wall clock stepped 1 s).
        func freshInitiation(after delay: Duration) throws -> SimulatedDatagram {
            network.now = network.now + delay
            a.device.wallClock.unixNanoseconds += 1_000_000_000
            network.fault = { _ in .hold }
            defer { network.fault = { _ in .deliver }; network.held = [] }
            try a.device.initiateHandshake(with: b.publicKey, now: network.now)
            network.run()
            return network.held.first { messageType($0) == 1 }!
        }
        network.deliver(try freshInitiation(after: .milliseconds(5)))
        #expect(b.receiveResults.last == .dropped(.initiationFlood))
        #expect(b.device.status(of: a.publicKey)?.drops[.initiationFlood] == 1)

        // After 1/50 s the next one is accepted.
        network.deliver(try freshInitiation(after: .milliseconds(25)))
        #expect(b.receiveResults.last == .reply(to: a.endpoint, length: 92))
    }

    @Test func forcedRekeyRotatesKeysAndKeepsTrafficFlowing() throws {
        let (network, a, b) = try makePair()
        let packet = ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [1])
        network.send(packet, from: a)
        network.run()
        let firstIndex = a.device.peers[b.publicKey]!.keypairs.current!.localIndex
        network.advance(by: .seconds(1))
        try a.device.initiateHandshake(with: b.publicKey, now: network.now)
        network.run()
        let secondIndex = a.device.peers[b.publicKey]!.keypairs.current!.localIndex
        #expect(firstIndex != secondIndex)
        #expect(a.device.peers[b.publicKey]!.keypairs.previous?.localIndex == firstIndex)
        #expect(a.device.status(of: b.publicKey)?.handshakesCompleted == 2)
        network.send(packet, from: a)
        network.send(ipv4Packet(source: b.tunnelAddress, destination: a.tunnelAddress, payload: [2]), from: b)
        network.run()
        #expect(b.delivered.count == 2)
        #expect(a.delivered.count == 1)
    }

    @Test func packetsInFlightUnderThePreviousKeypairAreStillAccepted() throws {
        let (network, a, b) = try makePair()
        network.send(ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [1]), from: a)
        network.run()
        // Encrypt with the old keys, hold it, rekey, then deliver.
        network.fault = { _ in .hold }
        network.send(ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [2]), from: a)
        network.fault = { _ in .deliver }
        network.advance(by: .seconds(1))
        try a.device.initiateHandshake(with: b.publicKey, now: network.now)
        network.run()
        network.releaseHeld()
        #expect(b.delivered.count == 2)
    }

    /// Both sides initiate at the same instant, so the initiations cross on the wire, at one-way
    /// delays from 1 ms to 300 ms. wireguard-go and the kernel answer both and drop both responses,
    /// leaving it to the jittered retries (Rekey-Timeout + 0–333 ms, paper §6.1): at 300 ms that
    /// failed to converge within Rekey-Attempt-Time for 7 % of seeds. With the tie-break (the greater
    /// static key's initiation goes first) every seed converges within one round trip of the crossing,
    /// and traffic then flows both ways.
    @Test(arguments: [1, 10, 100, 300])
    func crossingInitiationsConvergeForEverySeed(oneWayDelayMilliseconds: Int) throws {
        var failing: [UInt64] = []
        var slowest: Duration = .zero
        let seeds = UInt64(0)..<1000
        for seed in seeds {
            let (network, a, b) = try makePair(seed: seed)
            network.latency = .milliseconds(oneWayDelayMilliseconds)
            let start = network.now
            try a.device.initiateHandshake(with: b.publicKey, now: network.now)
            try b.device.initiateHandshake(with: a.publicKey, now: network.now)
            let converged = network.advance(until: {
                a.device.status(of: b.publicKey)!.hasSession && b.device.status(of: a.publicKey)!.hasSession
            }, limit: ProtocolConstants.rekeyAttemptTime)
            slowest = max(slowest, network.now.since(start))
            network.send(ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [1]), from: a)
            network.send(ipv4Packet(source: b.tunnelAddress, destination: a.tunnelAddress, payload: [2]), from: b)
            network.advance(by: network.latency + .milliseconds(1))
            if !converged || a.delivered.count != 1 || b.delivered.count != 1 { failing.append(seed) }
        }
        #expect(failing.isEmpty, "seeds that did not converge: \(failing.prefix(20)) (\(failing.count) of \(seeds.count))")
        // Crossing, response, confirmation: three one-way delays (the retry timer is never needed).
        #expect(slowest <= .milliseconds(3 * oneWayDelayMilliseconds) + .milliseconds(100), "slowest: \(slowest)")
    }

    /// Both sides initiate while each other's initiation is held, then the held initiations cross.
    /// The retries (Rekey-Timeout + 0–333 ms jitter, paper §6.1) must untangle it for every seed.
    /// (With the simulation's old fixed 100 ms time steps, distinct jittered retries fell into one
    /// step about 27 % of the time, so they crossed again and again: the "1 run in 20" flake.)
    @Test func heldCrossingInitiationsConvergeForEverySeed() throws {
        var failing: [UInt64] = []
        for seed in UInt64(0)..<1000 {
            let (network, a, b) = try makePair(seed: seed)
            network.fault = { _ in .hold }
            try a.device.initiateHandshake(with: b.publicKey, now: network.now)
            try b.device.initiateHandshake(with: a.publicKey, now: network.now)
            network.run()
            network.fault = { _ in .deliver }
            network.releaseHeld()
            network.advance(by: .seconds(12))
            network.send(ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [1]), from: a)
            network.send(ipv4Packet(source: b.tunnelAddress, destination: a.tunnelAddress, payload: [2]), from: b)
            network.advance(by: .seconds(6))
            if a.delivered.count != 1 || b.delivered.count != 1 { failing.append(seed) }
        }
        #expect(failing.isEmpty, "seeds that did not converge: \(failing.prefix(20)) (\(failing.count) of 1000)")
    }

    /// A seeded simulation replays exactly: the same seed gives the same datagrams at the same times
    /// with the same session indices (jitter and indices come from the injected source).
    @Test func aSeededRunReplaysExactly() throws {
        func trace(seed: UInt64) throws -> [String] {
            let (network, a, b) = try makePair(seed: seed)
            var events: [String] = []
            network.fault = { datagram in
                let index = datagram.bytes.count >= 8 ? Array(datagram.bytes[4..<8]) : []
                events.append("\(network.now) \(datagram.from) type \(datagram.bytes[0]) index \(index)")
                // Lose every other initiation, so retries (and their jitter) happen.
                return messageType(datagram) == 1 && events.count % 2 == 1 ? .drop : .deliver
            }
            network.send(ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [1]), from: a)
            network.advance(by: .seconds(20))
            try b.device.initiateHandshake(with: a.publicKey, now: network.now)
            network.advance(by: .seconds(20))
            return events
        }
        let first = try trace(seed: 42)
        #expect(first.count >= 4)
        #expect(try trace(seed: 42) == first)
        #expect(try trace(seed: 43) != first)
    }

    /// The side whose initiation goes first sets the other's aside; if its own initiation was lost,
    /// its retry after Rekey-Timeout (+ jitter) completes the handshake.
    @Test func aCrossingInitiationSetAsideConvergesWhenTheOtherIsLost() throws {
        let (network, a, b) = try makePair(seed: 7)
        let aGoesFirst = !a.publicKey.key.orders(before: b.publicKey.key)
        let (first, second) = aGoesFirst ? (a, b) : (b, a)
        network.latency = .milliseconds(10)
        var dropped = false
        network.fault = { datagram in
            // The first initiation of the side that goes first is lost.
            if !dropped, datagram.from == first.endpoint, messageType(datagram) == 1 { dropped = true; return .drop }
            return .deliver
        }
        try first.device.initiateHandshake(with: second.publicKey, now: network.now)
        try second.device.initiateHandshake(with: first.publicKey, now: network.now)
        network.advance(by: .seconds(1))
        #expect(first.device.drops[.crossingInitiation] == 1)
        #expect(first.device.status(of: second.publicKey)?.hasSession == false)
        let converged = network.advance(until: {
            a.device.status(of: b.publicKey)!.hasSession && b.device.status(of: a.publicKey)!.hasSession
        }, limit: .seconds(6))
        #expect(converged)
    }
}
