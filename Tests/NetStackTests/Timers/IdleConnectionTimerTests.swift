import Testing
import Wire
@testable import NetStack

@Suite("Timers of 100,000 idle connections")
struct IdleConnectionTimerTests {
    /// Two stacks joined back to back (packets handed over at once) holding `count` established
    /// connections, keepalive off, 2 KiB buffers; returns the client's sockets.
    static func idlePair(count: Int, now: NetInstant) throws -> (client: IPStack, server: IPStack, sockets: [TCPSocketHandle]) {
        func config(_ address: String, seed: UInt64) -> IPStackConfiguration {
            var c = IPStackConfiguration(addresses: [IPAddress(address)!])
            c.randomSeed = seed
            c.maximumConnections = count + 1
            c.maximumConnectionsPerRemoteAddress = count + 1
            c.tcp.sendBufferSize = 2048
            c.tcp.receiveBufferSize = 2048
            return c
        }
        let client = IPStack(configuration: config("100.64.11.1", seed: 41))
        let server = IPStack(configuration: config("100.64.11.2", seed: 42))
        // 16,384 ephemeral ports per destination: one listener per 10,000 connections.
        let listeners = try (0..<(count + 9_999) / 10_000).map { try server.listen(port: 6000 + UInt16($0), backlog: 1024) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        var sockets: [TCPSocketHandle] = []
        sockets.reserveCapacity(count)
        var accepted = 0
        while sockets.count < count {
            for _ in 0..<Swift.min(1000, count - sockets.count) {
                let port = 6000 + UInt16(sockets.count / 10_000)
                sockets.append(try client.connect(to: IPEndpoint(IPAddress("100.64.11.2")!, port), now: now))
            }
            var moved = true
            while moved {
                moved = false
                while let n = client.nextOutgoingPacket(into: buffer, now: now) {
                    server.receive(UnsafeRawBufferPointer(rebasing: buffer.prefix(n)), now: now)
                    moved = true
                }
                while let n = server.nextOutgoingPacket(into: buffer, now: now) {
                    client.receive(UnsafeRawBufferPointer(rebasing: buffer.prefix(n)), now: now)
                    moved = true
                }
            }
            for listener in listeners {
                while (try server.accept(listener)) != nil { accepted += 1 }
            }
        }
        #expect(accepted == count)
        client.pollEvents { _, _ in }
        server.pollEvents { _, _ in }
        return (client, server, sockets)
    }

    @Test("100,000 idle connections (keepalive off): no deadline, and handleTimers visits none; with 37 due it visits exactly 37")
    func idleConnectionsCostNoVisits() throws {
        let count = 100_000
        let start = NetInstant.zero + .seconds(1)
        let (client, server, sockets) = try Self.idlePair(count: count, now: start)
        #expect(client.connectionCount == count && server.connectionCount == count)
        #expect(client.nextDeadline == nil && server.nextDeadline == nil)

        let later = start + .seconds(3600)
        client.handleTimers(now: later)
        server.handleTimers(now: later)
        #expect(client.counters.tcpTimerVisits == 0 && server.counters.tcpTimerVisits == 0)

        // 37 clients send a byte that is lost: each arms its retransmission (or loss-probe) timer.
        var random = SeededRandom(seed: 14)
        var chosen = Set<Int>()
        while chosen.count < 37 { chosen.insert(Int(random.next() % UInt64(count))) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        for i in chosen {
            _ = try [UInt8(1)].withUnsafeBytes { try client.send(sockets[i], $0) }
        }
        while client.nextOutgoingPacket(into: buffer, now: later) != nil {}
        let deadline = try #require(client.nextDeadline)
        #expect(deadline > later)
        client.handleTimers(now: deadline + .nanoseconds(-1))
        #expect(client.counters.tcpTimerVisits == 0)
        // Every one of them is due within the initial RTO (1 s, RFC 6298 §2.1).
        client.handleTimers(now: later + .seconds(1))
        #expect(client.counters.tcpTimerVisits == 37)
        #expect(Set(client.tcpDueSlots.map { Int($0) }) == Set(chosen.map { Int(sockets[$0].index) }))
    }
}
