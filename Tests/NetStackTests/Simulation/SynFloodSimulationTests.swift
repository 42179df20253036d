import Testing
import Wire
@testable import NetStack

/// One address floods a listener with SYNs it never completes while another address keeps opening
/// connections to it (issue 14, listener protection).
@Suite("SYN flood against a listener")
struct SynFloodSimulationTests {
    @Test("RFC 4987 §3.4 (SYN queue, oldest dropped; SYN cookies off): under 20 SYNs per ms from one address, another address connects 100 times, each within 20 ms")
    func synFloodDoesNotLockOutOthers() throws {
        let pair = StackPair(stack: { $0.synCookies = false })
        let listener = try pair.b.listen(port: 9000, backlog: 128)
        let attacker = IPAddress("100.64.7.66")!
        var attackerPort: UInt16 = 1024
        var socket: TCPSocketHandle? = nil
        var startedAt = pair.now
        var completed = 0
        var slowest: Int64 = 0
        for _ in 0..<3000 {
            for _ in 0..<20 {
                let syn = tcpPacket(
                    from: IPEndpoint(attacker, attackerPort), to: IPEndpoint(pair.bAddress, 9000), seq: 1, flags: .syn)
                deliver(syn, to: pair.b, now: pair.now)
                attackerPort = attackerPort == .max ? 1024 : attackerPort + 1
            }
            pair.run(until: pair.now + .milliseconds(1)) {
                while let accepted = try? pair.b.accept(listener) { pair.b.abort(accepted) }
                if let s = socket {
                    if pair.a.status(of: s)?.state == .established {
                        completed += 1
                        slowest = Swift.max(slowest, pair.now - startedAt)
                        pair.a.abort(s)
                        socket = nil
                    }
                } else if completed < 100 {
                    socket = try? pair.a.connect(to: IPEndpoint(pair.bAddress, 9000), now: pair.now)
                    startedAt = pair.now
                }
            }
            if completed == 100 { break }
        }
        #expect(completed == 100)
        #expect(slowest <= 20_000_000, "slowest set-up \(Double(slowest) / 1e6) ms")
        #expect(pair.b.counters.tcpSynQueueEvictions > 1000)
        // The flood holds no more than the SYN queue.
        #expect(pair.b.connectionCount <= 128 + 2)
        print("SYN flood: 100 connections, slowest set-up \(Double(slowest) / 1e6) ms, \(pair.b.counters.tcpSynQueueEvictions) half-open evicted")
    }
}
