import Testing
import Wire
@testable import NetStack

/// Connections that cannot make progress must cost (almost) nothing, and connections whose peer
/// vanished must be reclaimed.
@Suite("Stalled and abandoned connections between two stacks")
struct StalledConnectionSimulationTests {
    static let tenMebibytes = 10 * 1024 * 1024

    @Test("RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: both ends write 10 MiB, nobody reads: the pair goes quiet (persist backoff, no ACK ping-pong)")
    func bothWindowsClosedGoesQuiet() throws {
        let pair = StackPair()
        let (client, server) = try pair.connect()
        var clientLeft = Self.tenMebibytes
        var serverLeft = Self.tenMebibytes
        // Fill both directions until both windows are closed and both send buffers are full.
        pair.run(until: pair.now + .seconds(10)) {
            clientLeft = pair.write(pair.a, client, remaining: clientLeft)
            serverLeft = pair.write(pair.b, server, remaining: serverLeft)
        }
        #expect(clientLeft > 0 && serverLeft > 0, "the buffers took everything: no stall to test")
        let before = pair.sent
        pair.run(until: pair.now + .seconds(60)) {
            clientLeft = pair.write(pair.a, client, remaining: clientLeft)
            serverLeft = pair.write(pair.b, server, remaining: serverLeft)
        }
        let minute = pair.sent - before
        // Persist probes back off exponentially (RTO 200 ms doubling towards 60 s): about 8 probes per
        // direction in a minute, each answered by one ACK.
        #expect(minute <= 40, "\(minute) packets in one stalled minute")
        print("stalled pair: \(minute) packets in one simulated minute")
        // Both connections are alive, and the stall ends once someone reads.
        #expect(pair.a.status(of: client)?.state == .established)
        #expect(pair.b.status(of: server)?.state == .established)
        var readByA = 0
        var readByB = 0
        pair.run(until: pair.now + .seconds(120)) {
            readByA += pair.drain(pair.a, client)
            readByB += pair.drain(pair.b, server)
            clientLeft = pair.write(pair.a, client, remaining: clientLeft)
            serverLeft = pair.write(pair.b, server, remaining: serverLeft)
        }
        #expect(readByA == Self.tenMebibytes && readByB == Self.tenMebibytes)
    }

    @Test("Linux tcp_fin_timeout: a closed connection whose peer vanished in FIN-WAIT-2 leaves the table")
    func finWait2PeerVanishedReclaimed() throws {
        let pair = StackPair()
        let (client, _) = try pair.connect()
        pair.a.close(client, now: pair.now)
        pair.run(until: pair.now + .milliseconds(100))
        #expect(pair.a.connectionCount == 1)
        pair.peerVanished = true
        pair.run(until: pair.now + .seconds(59))
        #expect(pair.a.connectionCount == 1)
        pair.run(until: pair.now + .seconds(2))
        #expect(pair.a.connectionCount == 0)
    }

    @Test("RFC 1122 §4.2.3.6: with keepalive, a half-closed connection whose peer vanished fails and is reported")
    func halfClosedPeerVanishedKeepalive() throws {
        let pair = StackPair(tcp: {
            $0.keepalive = TCPConfiguration.Keepalive(idle: .seconds(30), interval: .seconds(5), count: 3)
        })
        let (client, _) = try pair.connect()
        try pair.a.shutdownWrite(client)
        pair.run(until: pair.now + .milliseconds(100))
        #expect(pair.a.status(of: client)?.state == .finWait2)
        pair.peerVanished = true
        pair.run(until: pair.now + .seconds(30 + 3 * 5 + 1))
        let status = try #require(pair.a.status(of: client))
        #expect(status.state == .closed)
        #expect(status.error == .timedOut)
        pair.a.close(client, now: pair.now)
        pair.run(until: pair.now + .milliseconds(1))
        #expect(pair.a.connectionCount == 0)
    }

    @Test("RFC 1122 §4.2.3.6: keepalive probes to a live idle peer are answered (out-of-window ACK replies are rate-limited, not suppressed): the connection stays up")
    func keepaliveToLivePeerKeepsConnection() throws {
        let pair = StackPair(tcp: {
            $0.keepalive = TCPConfiguration.Keepalive(idle: .seconds(30), interval: .seconds(5), count: 3)
        })
        let (client, server) = try pair.connect()
        let before = pair.sent
        pair.run(until: pair.now + .seconds(600))
        #expect(pair.a.status(of: client)?.state == .established)
        #expect(pair.b.status(of: server)?.state == .established)
        // Each side probes after 30 s idle and the other answers: about 2 × 20 probes and 2 × 20 ACKs.
        let packets = pair.sent - before
        #expect(packets >= 40 && packets <= 90, "\(packets) packets in 10 idle minutes")
    }
}
