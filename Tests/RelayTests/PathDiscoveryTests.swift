import Relay
import Testing
import Wire
import WireGuard

/// Two nodes' path discovery, wired by hand: each action of one is delivered (or not) to the other.
struct PathPair {
    let aNode = PrivateKey(), bNode = PrivateKey()
    let aDisco = PrivateKey(), bDisco = PrivateKey()
    let aEndpoint = IPEndpoint.v4(10, 251, 6, 1, port: 41641)
    let bEndpoint = IPEndpoint.v4(10, 251, 6, 2, port: 41641)
    let a: PathDiscovery, b: PathDiscovery

    init() {
        a = PathDiscovery(discoKey: aDisco, nodeKey: aNode.publicKey, seed: 1)
        b = PathDiscovery(discoKey: bDisco, nodeKey: bNode.publicKey, seed: 2)
        a.localEndpoints = [aEndpoint]
        b.localEndpoints = [bEndpoint]
        a.upsert(PathPeer(nodeKey: bNode.publicKey, discoKey: bDisco.publicKey, homeRegion: 900, endpoints: [bEndpoint]))
        b.upsert(PathPeer(nodeKey: aNode.publicKey, discoKey: aDisco.publicKey, homeRegion: 900, endpoints: [aEndpoint]))
    }

    /// Delivers `actions` sent by `from` to `to`; UDP only when `udpWorks`. Returns the answers.
    func deliver(_ actions: [PathAction], from sender: PathDiscovery, to receiver: PathDiscovery, udpWorks: Bool, now: NetInstant) -> [PathAction] {
        let senderEndpoint = sender === a ? aEndpoint : bEndpoint
        let senderNode = sender === a ? aNode.publicKey : bNode.publicKey
        var answers: [PathAction] = []
        for action in actions {
            switch action {
            case let .sendUDP(bytes, to):
                guard udpWorks, to == (receiver === a ? aEndpoint : bEndpoint) else { continue }
                answers += bytes.withUnsafeBytes { receiver.receive($0, via: .udp(senderEndpoint), now: now) }
            case let .sendRelay(bytes, _, region):
                answers += bytes.withUnsafeBytes { receiver.receive($0, via: .relay(region: region, source: senderNode), now: now) }
            }
        }
        return answers
    }

    /// One round: A polls, B answers, A takes the answers (and B's answers to those).
    func round(udpWorks: Bool, now: NetInstant, rtt: Duration = .milliseconds(2)) {
        let fromA = a.poll(now: now)
        let fromB = deliver(fromA, from: a, to: b, udpWorks: udpWorks, now: now + rtt / 2)
        let back = deliver(fromB, from: b, to: a, udpWorks: udpWorks, now: now + rtt)
        _ = deliver(back, from: a, to: b, udpWorks: udpWorks, now: now + rtt)
    }
}

func t(_ seconds: Double) -> NetInstant { NetInstant(nanoseconds: UInt64(seconds * 1e9) + 1_000_000_000) }

@Suite("Path discovery")
struct PathDiscoveryTests {
    @Test("a peer starts relayed through its home region; an active peer's candidates are pinged and a call-me-maybe goes via the relay")
    func startsRelayed() {
        let pair = PathPair()
        #expect(pair.a.route(to: pair.bNode.publicKey, now: t(0)) == .relay(region: 900))
        let actions = pair.a.poll(now: t(0))
        #expect(actions.count == 2)
        guard case .sendUDP(_, let to) = actions[0], case .sendRelay(_, let peer, let region) = actions[1] else {
            Issue.record("\(actions)"); return
        }
        #expect(to == pair.bEndpoint)
        #expect(peer == pair.bNode.publicKey && region == 900)
    }

    @Test("a pong over UDP upgrades the route to direct, with the measured latency")
    func upgradesToDirect() {
        let pair = PathPair()
        _ = pair.a.route(to: pair.bNode.publicKey, now: t(0))
        pair.round(udpWorks: true, now: t(0), rtt: .milliseconds(4))
        #expect(pair.a.route(to: pair.bNode.publicKey, now: t(0.01)) == .direct(pair.bEndpoint))
        #expect(pair.a.status(of: pair.bNode.publicKey, now: t(0.01))?.latency == .milliseconds(4))
    }

    @Test("with UDP blocked nothing answers and the route stays on the relay; the call-me-maybe makes the peer ping back")
    func blockedStaysRelayed() {
        let pair = PathPair()
        _ = pair.a.route(to: pair.bNode.publicKey, now: t(0))
        let actions = pair.a.poll(now: t(0))
        let answers = pair.deliver(actions, from: pair.a, to: pair.b, udpWorks: false, now: t(0))
        #expect(answers.contains { if case .sendUDP(_, let to) = $0 { to == pair.aEndpoint } else { false } })
        #expect(pair.a.route(to: pair.bNode.publicKey, now: t(1)) == .relay(region: 900))
    }

    @Test("a direct path without pongs for 6.5 s falls back to the relay, and heartbeats bring it back once UDP works again")
    func fallsBackAndRecovers() {
        let pair = PathPair()
        _ = pair.a.route(to: pair.bNode.publicKey, now: t(0))
        pair.round(udpWorks: true, now: t(0))
        var now = 0.0
        while now < 6 {
            now += 1
            _ = pair.a.route(to: pair.bNode.publicKey, now: t(now))
            pair.round(udpWorks: false, now: t(now))
        }
        #expect(pair.a.route(to: pair.bNode.publicKey, now: t(6.6)) == .relay(region: 900))
        // Relayed: probes every 5 s after the last heartbeat (at 6 s).
        #expect(pair.a.nextDeadline(now: t(6.6)) == t(11))
        pair.round(udpWorks: true, now: t(11))
        #expect(pair.a.route(to: pair.bNode.publicKey, now: t(11.1)) == .direct(pair.bEndpoint))
    }

    @Test("disco packets from unknown keys or with bad boxes are dropped and counted")
    func dropsBadPackets() {
        let pair = PathPair()
        let stranger = PrivateKey()
        let foreign = DiscoPacket.seal(.ping(DiscoTransactionID(high: 1, low: 2), nodeKey: nil), from: stranger.publicKey,
                                       with: NaClBox(privateKey: stranger, peer: pair.aDisco.publicKey)!)
        #expect(foreign.withUnsafeBytes { pair.a.receive($0, via: .udp(pair.bEndpoint), now: t(0)) }.isEmpty)
        var forged = DiscoPacket.seal(.ping(DiscoTransactionID(high: 1, low: 2), nodeKey: nil), from: pair.bDisco.publicKey,
                                      with: NaClBox(privateKey: stranger, peer: pair.aDisco.publicKey)!)
        #expect(forged.withUnsafeBytes { pair.a.receive($0, via: .udp(pair.bEndpoint), now: t(0)) }.isEmpty)
        forged = Array(forged.prefix(20))
        #expect(forged.withUnsafeBytes { pair.a.receive($0, via: .udp(pair.bEndpoint), now: t(0)) }.isEmpty)
        #expect(pair.a.counters.unknownSender == 1 && pair.a.counters.badBox == 1 && pair.a.counters.malformed == 1)
    }

    @Test("an idle peer is not probed")
    func idleNotProbed() {
        let pair = PathPair()
        #expect(pair.a.poll(now: t(0)).isEmpty)
        _ = pair.a.route(to: pair.bNode.publicKey, now: t(0))
        #expect(!pair.a.poll(now: t(0)).isEmpty)
        #expect(pair.a.poll(now: t(50)).isEmpty)
        #expect(pair.a.nextDeadline(now: t(50)) == nil)
    }
}
