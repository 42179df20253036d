import Testing
import Wire
@testable import NetStack

/// Many connections closed actively leave compact TIME-WAIT records, not connections with buffers
/// (issue 14, memory).
@Suite("TIME-WAIT at scale")
struct TimeWaitScaleSimulationTests {
    @Test("10,000 connections closed actively leave 10,000 TIME-WAIT records, no connection objects or buffers, and all expire after 2 MSL")
    func tenThousandActiveCloses() throws {
        let total = 10_000
        let concurrent = 200
        let pair = StackPair(tcp: {
            $0.sendBufferSize = 16384
            $0.receiveBufferSize = 16384
        })
        let listener = try pair.b.listen(port: 9000, backlog: 1024)
        var opened = 0
        var clients: [TCPSocketHandle] = []
        var servers: [TCPSocketHandle] = []
        var slotsInUse = 0
        let deadline = pair.now + .seconds(30)
        while pair.a.timeWaitCount < total && pair.now < deadline {
            pair.run(until: pair.now + .milliseconds(1)) {
                while clients.count < concurrent && opened < total,
                    let socket = try? pair.a.connect(to: IPEndpoint(pair.bAddress, 9000), now: pair.now)
                {
                    clients.append(socket)
                    opened += 1
                }
                // The client closes first (active close: it ends in TIME-WAIT) ...
                clients.removeAll { socket in
                    guard pair.a.status(of: socket)?.state == .established else { return false }
                    pair.a.close(socket, now: pair.now)
                    return true
                }
                // ... and the server closes when it sees the end of the stream.
                while let accepted = try? pair.b.accept(listener) { servers.append(accepted) }
                servers.removeAll { socket in
                    guard pair.b.status(of: socket)?.isAtEndOfStream == true else { return false }
                    pair.b.close(socket, now: pair.now)
                    return true
                }
                slotsInUse = Swift.max(slotsInUse, pair.a.tcpSlots.count { $0.connection != nil })
            }
        }
        pair.run(until: pair.now + .milliseconds(50))
        #expect(opened == total)
        #expect(pair.a.timeWaitCount == total)
        #expect(pair.a.connectionCount == total)
        #expect(pair.a.connectionsByState == [.timeWait: total])
        // No connection (and so no send or receive ring) is left; the slot array stayed at the
        // number of connections open at once (those closing overlap the next ones opened).
        #expect(pair.a.tcpByFlow.isEmpty)
        #expect(pair.a.tcpSlots.allSatisfy { $0.connection == nil })
        #expect(pair.a.tcpSlots.count <= 2 * concurrent + 8, "\(pair.a.tcpSlots.count) slots")
        #expect(pair.b.connectionCount == 0, "the passive closer keeps nothing")
        let recordBytes = MemoryLayout<TimeWaitRecord>.stride
        print("TIME-WAIT: \(total) records of \(recordBytes) bytes (+ table overhead); at most \(slotsInUse) connections at once; set up and closed in \(pair.now)")
        // 2 MSL later (60 s by default) every record is gone and no timer is left.
        pair.run(until: pair.now + .seconds(61))
        #expect(pair.a.timeWaitCount == 0)
        #expect(pair.a.connectionCount == 0)
        #expect(pair.a.nextDeadline == nil)
    }
}
