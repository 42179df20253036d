import NetTestSupport
import NetStack
import Testing
import Wire
import WireNet
@testable import WireNetCLI

/// `--serve` on one node and `--forward` on the other, in this process: host client → forward →
/// tunnel → serve → host service, all on loopback.
@Suite("Forwarding between host sockets and the tunnel", .serialized)
struct ForwardingTests {
    @Test func tcpBytesArriveIntactAndHalfClosesPropagateBothWays() async throws {
        let reactor = try SocketReactor.shared()
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }

        // The host service: reads to end of stream, then answers with the SHA-256 and closes.
        let service = try HostListener(address: try loopback(0), reactor: reactor)
        let serviceTask = Task {
            let connection = try #require(try await service.accept())
            var digest = SHA256Digest()
            while let chunk = try await connection.read() { digest.update(chunk) }
            let hash = digest.finish()
            try await connection.write(hash)
            connection.shutdownWrite()
            #expect(try await connection.read() == nil)
            connection.close()
            return hash
        }

        let serve = try await TCPServeForwarder(
            rule: try ServeRule(parsing: "tcp:7000=127.0.0.1:\(service.localAddress.port)"), target: service.localAddress,
            node: pair.server, reactor: reactor, logger: quietLogger)
        let forward = try await TCPForwardForwarder(
            rule: ForwardRule(proto: .tcp, bind: HostPort(host: "127.0.0.1", port: 0), target: IPEndpoint(IPAddress(TunnelPair.serverAddress)!, 7000)),
            node: pair.client, reactor: reactor, logger: quietLogger)
        let serving = Task { await serve.run() }
        let forwarding = Task { await forward.run() }

        let client = try await HostStream.connect(to: forward.localAddress, reactor: reactor)
        var source = PatternSource(seed: 7)
        var digest = SHA256Digest()
        let size = 4 << 20
        var sent = 0
        while sent < size {
            let chunk = source.next(min(50_000, size - sent))
            digest.update(chunk)
            try await client.write(chunk)
            sent += chunk.count
        }
        client.shutdownWrite()  // → FIN through the tunnel → the service's read ends
        var reply: [UInt8] = []
        while let chunk = try await client.read() { reply += chunk }  // the service's FIN came back through
        let expected = digest.finish()
        #expect(reply == expected)
        #expect(try await serviceTask.value == expected)
        client.close()

        // Both splices finished and released their sockets.
        #expect(await eventually { serve.connections.active == 0 && forward.connections.active == 0 })
        #expect(serve.connections.total == 1 && serve.connections.failed == 0)
        #expect(forward.connections.total == 1 && forward.connections.failed == 0)

        serve.close()
        forward.close()
        await serving.value
        await forwarding.value
        service.close()
    }

    @Test func aRefusedServiceResetsTheForwardedConnection() async throws {
        let reactor = try SocketReactor.shared()
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        // A port nobody listens on: bind, note the port, close.
        let closedPort = try HostListener(address: try loopback(0), reactor: reactor)
        let target = closedPort.localAddress
        closedPort.close()

        let serve = try await TCPServeForwarder(
            rule: try ServeRule(parsing: "tcp:7001=127.0.0.1:\(target.port)"), target: target,
            node: pair.server, reactor: reactor, logger: quietLogger)
        let forward = try await TCPForwardForwarder(
            rule: ForwardRule(proto: .tcp, bind: HostPort(host: "127.0.0.1", port: 0), target: IPEndpoint(IPAddress(TunnelPair.serverAddress)!, 7001)),
            node: pair.client, reactor: reactor, logger: quietLogger)
        let serving = Task { await serve.run() }
        let forwarding = Task { await forward.run() }

        let client = try await HostStream.connect(to: forward.localAddress, reactor: reactor)
        // The tunnel connection is accepted, the service refuses, the tunnel side is reset, and the
        // reset comes back to the host client.
        await #expect(throws: SystemError.self) {
            while try await client.read() != nil {}
            throw SystemError("expected a reset, got end of stream", errno: 0)
        }
        client.close()
        #expect(await eventually { serve.connections.failed == 1 && forward.connections.active == 0 })
        #expect(serve.connections.active == 0)

        serve.close()
        forward.close()
        await serving.value
        await forwarding.value
    }

    @Test func udpFlowsRelayBothWaysAndExpireWhenIdle() async throws {
        let reactor = try SocketReactor.shared()
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }

        // A host UDP echo service.
        let echo = try HostUDPSocket.bound(to: try loopback(0), reactor: reactor)
        let echoAddress = try #require(echo.localAddress)
        let echoTask = Task {
            while let (bytes, from) = try await echo.receive() { try await echo.send(bytes, to: from) }
        }
        let idle = Duration.milliseconds(300)
        let serve = try await UDPServeForwarder(
            rule: try ServeRule(parsing: "udp:7002=127.0.0.1:\(echoAddress.port)"), target: echoAddress,
            node: pair.server, reactor: reactor, logger: quietLogger, idleTimeout: idle)
        let forward = try await UDPForwardForwarder(
            rule: ForwardRule(proto: .udp, bind: HostPort(host: "127.0.0.1", port: 0), target: IPEndpoint(IPAddress(TunnelPair.serverAddress)!, 7002)),
            node: pair.client, reactor: reactor, logger: quietLogger, idleTimeout: idle)
        let serving = Task { await serve.run() }
        let forwarding = Task { await forward.run() }

        // Two host clients: two flows on each side.
        let first = try HostUDPSocket.connected(to: forward.localAddress, reactor: reactor)
        let second = try HostUDPSocket.connected(to: forward.localAddress, reactor: reactor)
        var sent: [[[UInt8]]] = [[], []]
        for round in 0..<3 {
            for (index, client) in [first, second].enumerated() {
                let message = Array("flow \(index) round \(round)".utf8)
                sent[index].append(message)
                // UDP may drop the first datagram while the handshake runs: retry a few times. A
                // retry whose first copy was only slow brings a late duplicate echo of an earlier
                // message of this flow; skip those, anything else is a wrong reply.
                var reply: [UInt8]?
                for _ in 0..<20 where reply != message {
                    try await client.send(message)
                    reply = try await receive(on: client, within: .milliseconds(250))
                    while let stale = reply, stale != message, sent[index].dropLast().contains(stale) {
                        reply = try await receive(on: client, within: .milliseconds(250))
                    }
                    if let reply, reply != message { break }
                }
                #expect(reply == message)
            }
        }
        #expect(forward.flows.count == 2)
        #expect(serve.flows.count == 2)

        // Silence: every flow expires and releases its sockets.
        #expect(await eventually { forward.flows.count == 0 && serve.flows.count == 0 })
        #expect(await eventually { forward.connections.active == 0 && serve.connections.active == 0 })

        first.close()
        second.close()
        serve.close()
        forward.close()
        await serving.value
        await forwarding.value
        echo.interrupt()
        try await echoTask.value
        echo.close()
    }
}

/// The next datagram on `socket`, or nil after `limit`.
private func receive(on socket: HostUDPSocket, within limit: Duration) async throws -> [UInt8]? {
    try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
        group.addTask { try await socket.receive()?.bytes }
        group.addTask { try await Task.sleep(for: limit); return nil }
        let first = try await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
