import Testing
import Wire
@testable import WireGuard

/// Under load (paper §5.4.7) a flood of handshake messages with a valid mac1 must cost the device
/// little per datagram, and a legitimate peer must still complete its handshake through it.
@Suite struct HandshakeFloodTests {
    /// An initiation from no one, with a valid mac1 for `target` and no mac2: what an attacker who
    /// knows the target's public key sends as fast as it can.
    func strangerInitiation(to target: SimulatedHost, filler: UInt8, now: NetInstant) -> [UInt8] {
        var bytes = [UInt8](repeating: filler, count: HandshakeInitiationLayout.size)
        bytes[0] = 1; bytes[1] = 0; bytes[2] = 0; bytes[3] = 0
        let generator = CookieGenerator(peerPublicKey: target.publicKey)
        bytes.withUnsafeMutableBytes { generator.addMACs($0, now: now) }
        return bytes
    }

    func replies(of host: SimulatedHost) -> Int {
        host.receiveResults.filter { if case .reply = $0 { true } else { false } }.count
    }

    /// One source flooding valid-mac1 initiations gets cookie replies at the handshake rate limit's
    /// pace (20/s, a new source four at once), not one per datagram: each reply costs a cookie, an
    /// XChaCha20-Poly1305 seal, a random nonce and a datagram out.
    @Test func underLoadCookieRepliesArePerSourceRateLimited() throws {
        let network = SimulatedNetwork(seed: 17)
        let b = network.addHost(2, loadThreshold: 0)
        let attacker = IPEndpoint.v4(10, 250, 9, 66, port: 40000)
        for i in 0..<20 {
            let bytes = strangerInitiation(to: b, filler: UInt8(i), now: network.now)
            network.deliver(SimulatedDatagram(from: attacker, to: b.endpoint, bytes: bytes))
        }
        #expect(replies(of: b) == 4)
        #expect(b.device.drops[.cookieRequired] == 4)
        #expect(b.device.drops[.cookieReplyRateLimited] == 16)
        // One second later the source's bucket has refilled to its burst (four, as a new source).
        network.now = network.now + .seconds(1)
        for i in 0..<10 {
            network.deliver(SimulatedDatagram(
                from: attacker, to: b.endpoint, bytes: strangerInitiation(to: b, filler: UInt8(i), now: network.now)))
        }
        #expect(replies(of: b) == 8)
        #expect(b.device.drops[.cookieReplyRateLimited] == 22)
    }

    /// While one source floods, a peer at another address still gets its cookie reply, retries with
    /// mac2 and completes its handshake; its packet is delivered.
    @Test func aPeerCompletesItsHandshakeThroughACookieFloodFromAnotherSource() throws {
        let network = SimulatedNetwork(seed: 18)
        let a = network.addHost(1)
        let b = network.addHost(2, loadThreshold: 0)
        try network.pair(a, b)
        let attacker = IPEndpoint.v4(10, 250, 9, 66, port: 40000)
        var sent = 0
        network.beforePoll = { host in
            guard host === b else { return }
            // 10 flood datagrams before every poll of b: far more than a's one initiation.
            for _ in 0..<10 {
                sent += 1
                network.deliver(SimulatedDatagram(
                    from: attacker, to: b.endpoint, bytes: strangerInitiation(to: b, filler: UInt8(truncatingIfNeeded: sent), now: network.now)))
            }
        }
        network.send(ipv4Packet(source: a.tunnelAddress, destination: b.tunnelAddress, payload: [9]), from: a)
        let done = network.advance(until: { b.delivered.count == 1 }, limit: .seconds(12))
        #expect(done)
        #expect(sent > 1000)
        // The attacker got at most its burst plus 20 per second of simulated time.
        let attackerReplies = network.log.filter { $0.to == attacker }.count
        #expect(attackerReplies <= 4 + 20 * 13)
    }

    /// Under load the device examines (mac1 and beyond) at most `handshakeMessagesPerSecondUnderLoad`
    /// handshake messages a second, a tenth of a second's worth at once; the rest are dropped after
    /// the type and length check, whatever their source (wireguard-go drops them when its handshake
    /// queue is full).
    @Test func underLoadHandshakeWorkIsBoundedAcrossSources() throws {
        let network = SimulatedNetwork(seed: 19)
        let b = network.addHost(2, loadThreshold: 0)
        b.device.handshakeMessagesPerSecondUnderLoad = 1000
        // Garbage mac1 from 500 sources at one instant: the first message puts b under load, then a
        // tenth of a second's worth (100) is examined, all others dropped unexamined.
        var bytes = [UInt8](repeating: 0x5A, count: HandshakeInitiationLayout.size)
        bytes[0] = 1; bytes[1] = 0; bytes[2] = 0; bytes[3] = 0
        let valid = strangerInitiation(to: b, filler: 1, now: network.now)
        network.deliver(SimulatedDatagram(from: .v4(10, 250, 9, 99, port: 1), to: b.endpoint, bytes: valid))
        #expect(b.device.isUnderLoad(now: network.now))
        for i in 0..<500 {
            let source = IPEndpoint.v4(10, 251, UInt8(i / 250), UInt8(i % 250), port: 1)
            network.deliver(SimulatedDatagram(from: source, to: b.endpoint, bytes: bytes))
        }
        #expect(b.device.drops[.invalidMAC1] == 100)
        #expect(b.device.drops[.handshakeBudgetExceeded] == 400)
        // 50 ms later another 50 may be examined.
        network.now = network.now + .milliseconds(50)
        for _ in 0..<100 {
            network.deliver(SimulatedDatagram(from: .v4(10, 252, 0, 1, port: 1), to: b.endpoint, bytes: bytes))
        }
        #expect(b.device.drops[.invalidMAC1] == 150)
        #expect(b.device.drops[.handshakeBudgetExceeded] == 450)
    }

    /// Not under load, nothing is dropped for the budget (the budget bounds only the flood's work).
    @Test func withoutLoadEveryHandshakeMessageIsExamined() throws {
        let network = SimulatedNetwork(seed: 20)
        let b = network.addHost(2, loadThreshold: 100_000)
        b.device.handshakeMessagesPerSecondUnderLoad = 10
        var bytes = [UInt8](repeating: 0x5A, count: HandshakeInitiationLayout.size)
        bytes[0] = 1; bytes[1] = 0; bytes[2] = 0; bytes[3] = 0
        for _ in 0..<300 {
            network.deliver(SimulatedDatagram(from: .v4(10, 252, 0, 1, port: 1), to: b.endpoint, bytes: bytes))
        }
        #expect(b.device.drops[.invalidMAC1] == 300)
        #expect(b.device.drops[.handshakeBudgetExceeded] == 0)
    }
}
