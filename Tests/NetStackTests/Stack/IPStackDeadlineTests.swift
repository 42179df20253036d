import Testing
import Wire
@testable import NetStack

@Suite("IPStack timer deadlines")
struct IPStackDeadlineTests {
    /// The earliest deadline of every connection, read from the connections themselves.
    static func earliestOfAllConnections(_ stack: IPStack) -> NetInstant? {
        let connections = stack.tcpSlots.compactMap { $0.connection?.nextDeadline }.min()
        return earliest(connections, stack.tcpTimeWait.records.values.map(\.expiry).min())
    }

    @Test("RFC 9293 §3.8: the stack's next deadline is the earliest timer of all its connections through set-up, data, close and TIME-WAIT")
    func nextDeadlineFollowsEveryConnection() throws {
        let clientAddress = IPAddress("100.64.7.1")!
        let serverAddress = IPAddress("100.64.7.2")!
        var clientConfig = IPStackConfiguration(addresses: [clientAddress])
        clientConfig.randomSeed = 31
        clientConfig.tcp.timeWaitDuration = .milliseconds(500)
        var serverConfig = IPStackConfiguration(addresses: [serverAddress])
        serverConfig.randomSeed = 32
        serverConfig.tcp.timeWaitDuration = .milliseconds(500)
        let client = IPStack(configuration: clientConfig)
        let server = IPStack(configuration: serverConfig)
        let listener = try server.listen(port: 8080)
        let oneWay: Int64 = 1_000_000
        var toServer: [(NetInstant, [UInt8])] = []
        var toClient: [(NetInstant, [UInt8])] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        var now = NetInstant.zero
        var sockets: [TCPSocketHandle] = []
        var checks = 0
        var mismatches = 0

        func check() {
            for stack in [client, server] {
                checks += 1
                if stack.nextDeadline != Self.earliestOfAllConnections(stack) { mismatches += 1 }
            }
        }
        func pump() {
            while let n = client.nextOutgoingPacket(into: buffer, now: now) {
                toServer.append((now + oneWay, Array(buffer.prefix(n))))
            }
            while let n = server.nextOutgoingPacket(into: buffer, now: now) {
                toClient.append((now + oneWay, Array(buffer.prefix(n))))
            }
            check()
        }

        // Connections open in waves, so that set-up, transfer, close and TIME-WAIT overlap.
        for step in 0..<20000 {
            if step % 20 == 0 && sockets.count < 120 {
                sockets.append(try client.connect(to: IPEndpoint(serverAddress, 8080), now: now))
            }
            pump()
            let next = [toServer.first?.0, toClient.first?.0, client.nextDeadline, server.nextDeadline]
                .compactMap { $0 }.min()
            guard let next else {
                if sockets.count < 120 { continue }
                break
            }
            now = Swift.max(now, next)
            while let first = toServer.first, first.0 <= now {
                toServer.removeFirst()
                first.1.withUnsafeBytes { server.receive($0, now: now) }
            }
            while let first = toClient.first, first.0 <= now {
                toClient.removeFirst()
                first.1.withUnsafeBytes { client.receive($0, now: now) }
            }
            check()
            client.handleTimers(now: now)
            server.handleTimers(now: now)
            check()
            client.pollEvents { _, _ in }
            server.pollEvents { _, _ in }
            while let accepted = try server.accept(listener) {
                _ = try [UInt8](repeating: 7, count: 3000).withUnsafeBytes { try server.send(accepted, $0) }
                server.close(accepted, now: now)
            }
            for socket in sockets {
                guard let status = client.status(of: socket) else { continue }
                if status.readableBytes > 0 {
                    var bytes = [UInt8](repeating: 0, count: status.readableBytes)
                    _ = bytes.withUnsafeMutableBytes { try? client.receive(socket, into: $0) }
                }
                if status.isAtEndOfStream { client.close(socket, now: now) }
            }
            check()
        }
        #expect(checks > 1000)
        #expect(mismatches == 0, "\(mismatches) of \(checks) checks differed from the connections' own deadlines")
        #expect(client.nextDeadline == nil && server.nextDeadline == nil, "every connection finished, TIME-WAIT included")
    }
}
