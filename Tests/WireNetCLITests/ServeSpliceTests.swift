import NetTestSupport
import NetStack
import Testing
import Wire
import WireNet
@testable import WireNetCLI

/// `--serve`'s connections run as callback splices (``TCPSplice``, no task per connection): bytes
/// both ways at once with both sides slow in turn (backpressure through both buffers), the
/// forwarder's end on cancellation, and the host socket's release when the tunnel peer vanishes.
/// The remote client is a second node dialling the tunnel port directly.
@Suite("Serve splices on callbacks", .serialized)
struct ServeSpliceTests {
    @Test(.timeLimit(.minutes(2))) func bothDirectionsAtOnceArriveIntactWhenEachReaderIsSlowAtFirst() async throws {
        let reactor = try SocketReactor.shared()
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        let size = 6 << 20
        // The host service sleeps before reading (the host socket fills: tunnel bytes wait for it to
        // drain), sends its own stream meanwhile, and answers with the digest of what it received.
        let service = try HostListener(address: try loopback(0), reactor: reactor)
        let serviceTask = Task {
            let connection = try #require(try await service.accept())
            let sending = Task {
                var source = PatternSource(seed: 11)
                var sent = 0
                while sent < size {
                    let chunk = source.next(min(40_000, size - sent))
                    try await connection.write(chunk)
                    sent += chunk.count
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            var digest = SHA256Digest()
            while let chunk = try await connection.read() { digest.update(chunk) }
            try await sending.value
            try await connection.write(digest.finish())
            connection.shutdownWrite()
            connection.close()
        }
        let serve = try await TCPServeForwarder(
            rule: try ServeRule(parsing: "tcp:7020=127.0.0.1:\(service.localAddress.port)"), target: service.localAddress,
            node: pair.server, reactor: reactor, logger: quietLogger)
        let serving = Task { await serve.run() }

        let client = try await pair.client.dial(tcp: TunnelPair.serverAddress, port: 7020)
        let uploading = Task {
            var source = PatternSource(seed: 12)
            var digest = SHA256Digest()
            var sent = 0
            while sent < size {
                let chunk = source.next(min(50_000, size - sent))
                digest.update(chunk)
                try await client.write(chunk)
                sent += chunk.count
            }
            try await client.shutdownWrite()
            return digest.finish()
        }
        // The client reads late too (the tunnel's receive window closes: the service's bytes wait).
        try await Task.sleep(for: .milliseconds(300))
        var received: [UInt8] = []
        while let chunk = try await client.read() { received += chunk }
        let uploaded = try await uploading.value
        try await serviceTask.value
        client.close()

        var expected = PatternSource(seed: 11)
        var expectedDigest = SHA256Digest()
        expectedDigest.update(expected.next(size))
        #expect(received.count == size + 32)
        var receivedDigest = SHA256Digest()
        receivedDigest.update(Array(received.prefix(size)))
        #expect(receivedDigest.finish() == expectedDigest.finish())  // service → client intact
        #expect(Array(received.suffix(32)) == uploaded)  // client → service intact

        #expect(await eventually { serve.connections.active == 0 })
        #expect(serve.connections.total == 1 && serve.connections.failed == 0)
        serve.close()
        await serving.value
        service.close()
    }

    @Test(.timeLimit(.minutes(1))) func cancellingTheForwarderEndsItAndReleasesEveryConnection() async throws {
        let reactor = try SocketReactor.shared()
        let pair = try await TunnelPair.start()
        defer { Task { await pair.close() } }
        let service = try HostListener(address: try loopback(0), reactor: reactor)
        let serve = try await TCPServeForwarder(
            rule: try ServeRule(parsing: "tcp:7021=127.0.0.1:\(service.localAddress.port)"), target: service.localAddress,
            node: pair.server, reactor: reactor, logger: quietLogger)
        let serving = Task { await serve.run() }

        // Two idle connections, each proven spliced by one round trip.
        var clients: [TCPStream] = []
        var held: [HostStream] = []
        for index in 0..<2 {
            let client = try await pair.client.dial(tcp: TunnelPair.serverAddress, port: 7021)
            let connection = try #require(try await service.accept())
            try await client.write([UInt8(index)])
            #expect(try await connection.read() == [UInt8(index)])
            try await connection.write([UInt8(index)])
            #expect(try await client.read() == [UInt8(index)])
            clients.append(client)
            held.append(connection)
        }
        #expect(serve.connections.active == 2)

        serving.cancel()
        await serving.value  // returns: cancellation ends run(), not only the listener's close
        #expect(serve.connections.active == 0)
        // Both host sockets were closed (reset) and both tunnel connections reset.
        for connection in held {
            await #expect(throws: SystemError.self) {
                while try await connection.read() != nil {}
                throw SystemError("expected a reset, got end of stream", errno: 0)
            }
            connection.close()
        }
        for client in clients {
            await #expect(throws: NodeError.self) { _ = try await client.read() }
            client.close()
        }
        // And the listener is closed: a new connection is refused.
        await #expect(throws: NodeError.self) {
            _ = try await pair.client.dial(tcp: TunnelPair.serverAddress, port: 7021, timeout: .seconds(5))
        }
        service.close()
    }

    @Test("Issue 14: a tunnel peer that vanishes from an idle splice frees its host socket (keepalive)",
          .timeLimit(.minutes(1)))
    func aVanishedTunnelPeerReleasesTheHostSocket() async throws {
        let reactor = try SocketReactor.shared()
        var options = Node.Options()
        options.tcp.keepalive = TCPConfiguration.Keepalive(idle: .seconds(1), interval: .seconds(1), count: 2)
        let pair = try await TunnelPair.start(serverOptions: options)
        defer { Task { await pair.close() } }
        let service = try HostListener(address: try loopback(0), reactor: reactor)
        let serve = try await TCPServeForwarder(
            rule: try ServeRule(parsing: "tcp:7022=127.0.0.1:\(service.localAddress.port)"), target: service.localAddress,
            node: pair.server, reactor: reactor, logger: quietLogger)
        let serving = Task { await serve.run() }

        let client = try await pair.client.dial(tcp: TunnelPair.serverAddress, port: 7022)
        let connection = try #require(try await service.accept())
        try await client.write([7])
        #expect(try await connection.read() == [7])
        #expect(serve.connections.active == 1)

        // The client's node stops without a word (no FIN, no RST): its peer is gone.
        await pair.client.close()
        // The server's keepalive gives up after about 3 s; the splice resets the host socket.
        await #expect(throws: SystemError.self) {
            while try await connection.read() != nil {}
            throw SystemError("expected a reset, got end of stream", errno: 0)
        }
        connection.close()
        #expect(await eventually { serve.connections.active == 0 })
        #expect(serve.connections.failed == 1)
        serve.close()
        await serving.value
        service.close()
    }
}
