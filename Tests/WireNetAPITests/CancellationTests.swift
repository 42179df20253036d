import Testing
import WireNet

/// Every suspending socket call ends with `CancellationError` when its task is cancelled: at once
/// (taking nothing) when the task was cancelled before the call, and promptly when cancelled while
/// the call waits. A lost cancellation shows as a task still running after 5 s.
///
/// That is why these calls keep an untyped `throws` while the others are `throws(NodeError)`
/// (``TypedThrowsTests``): `isCancellation` below is the `error is CancellationError` test that task
/// groups, swift-service-lifecycle and user code rely on, and it must keep matching.
@Suite("Cancellation of suspending calls", .serialized)
struct CancellationTests {
    @Test func readInAnAlreadyCancelledTaskThrowsAndConsumesNothing() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let (client, server, _) = try await pair.connect(port: 7100)
        try await server.write("ready")
        try await Task.sleep(for: .milliseconds(100))  // let the bytes reach the client's buffer

        let cancelled = inCancelledTask { try await client.read() }
        #expect(isCancellation(await outcome(of: cancelled)))
        // The data is still there for the next read.
        #expect(try await bounded { try await client.read() }.map { String(decoding: $0, as: UTF8.self) } == "ready")
    }

    @Test func readCancelledWhileWaitingThrowsAndTheStreamGoesOn() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let (client, server, _) = try await pair.connect(port: 7101)
        let waiting = Task { try await client.read() }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        #expect(isCancellation(await outcome(of: waiting)))
        try await server.write("later")
        #expect(try await bounded { try await client.read() }.map { String(decoding: $0, as: UTF8.self) } == "later")
    }

    @Test func writeInAnAlreadyCancelledTaskThrowsAndSendsNothing() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let (client, server, _) = try await pair.connect(port: 7102)
        let cancelled = inCancelledTask { try await client.write("lost") }
        #expect(isCancellation(await outcome(of: cancelled)))
        try await client.write("kept")
        try await client.shutdownWrite()
        let received = try await bounded {
            var received: [UInt8] = []
            while let chunk = try await server.read() { received += chunk }
            return received
        }
        #expect(String(decoding: received, as: UTF8.self) == "kept")
    }

    @Test func writeCancelledWhileWaitingForBufferSpaceThrows() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let (client, server, listener) = try await pair.connect(port: 7103)
        // The server holds its end open but never reads: 8 MiB cannot fit its 1 MiB window plus the
        // 1 MiB send buffer.
        let waiting = Task { try await client.write([UInt8](repeating: 7, count: 8 << 20)) }
        try await Task.sleep(for: .milliseconds(300))
        waiting.cancel()
        let result = await outcome(of: waiting)
        #expect(isCancellation(result), "\(String(describing: result))")
        withExtendedLifetime((server, listener)) {}
    }

    @Test func acceptInAnAlreadyCancelledTaskThrowsAndLeavesTheConnectionQueued() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 7104)
        let client = try await pair.client.dial(tcp: IPEndpoint(LoopbackPair.serverAddress, 7104))
        let cancelled = inCancelledTask { try await listener.accept() }
        #expect(isCancellation(await outcome(of: cancelled)))
        let accepted = try #require(try await bounded { try await listener.accept() })
        #expect(accepted.remoteAddress == client.localAddress)
    }

    @Test func acceptCancelledWhileWaitingThrows() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 7105)
        let waiting = Task { try await listener.accept() }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        #expect(isCancellation(await outcome(of: waiting)))
    }

    @Test func acceptEachInAnAlreadyCancelledTaskThrowsAndLeavesTheConnectionQueued() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 7114)
        let client = try await pair.client.dial(tcp: IPEndpoint(LoopbackPair.serverAddress, 7114))
        let cancelled = inCancelledTask { try await listener.acceptEach { _ in Issue.record("handed a connection") } }
        #expect(isCancellation(await outcome(of: cancelled)))
        let accepted = try #require(try await bounded { try await listener.accept() })
        #expect(accepted.remoteAddress == client.localAddress)
    }

    @Test func acceptEachCancelledWhileWaitingThrowsAndTheListenerGoesOn() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 7115)
        let waiting = Task { try await listener.acceptEach { _ in Issue.record("handed a connection") } }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        #expect(isCancellation(await outcome(of: waiting)))
        // The cancelled call took nothing: the next connection goes to the next accept.
        let client = try await pair.client.dial(tcp: IPEndpoint(LoopbackPair.serverAddress, 7115))
        let accepted = try #require(try await bounded { try await listener.accept() })
        #expect(accepted.remoteAddress == client.localAddress)
    }

    @Test func receiveInAnAlreadyCancelledTaskThrowsAndConsumesNothing() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let server = try await pair.server.listenPacket(udp: 7106)
        let client = try await pair.client.listenPacket()
        try await client.send(Array("datagram".utf8), to: IPEndpoint(LoopbackPair.serverAddress, 7106))
        try await Task.sleep(for: .milliseconds(200))  // let it be queued on the server socket
        let cancelled = inCancelledTask { try await server.receive() }
        #expect(isCancellation(await outcome(of: cancelled)))
        let (bytes, sender) = try await bounded { try await server.receive() }
        #expect(bytes == Array("datagram".utf8))
        #expect(sender.port == client.localPort)
    }

    @Test func receiveCancelledWhileWaitingThrows() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let server = try await pair.server.listenPacket(udp: 7107)
        let waiting = Task { try await server.receive() }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        #expect(isCancellation(await outcome(of: waiting)))
    }

    @Test func dialInAnAlreadyCancelledTaskThrowsInsteadOfConnecting() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 7108)
        let client = pair.client
        let cancelled = inCancelledTask { try await client.dial(tcp: IPEndpoint(LoopbackPair.serverAddress, 7108)) }
        #expect(isCancellation(await outcome(of: cancelled)))
        // The listener still works for a dial that is not cancelled.
        _ = try await bounded { try await client.dial(tcp: IPEndpoint(LoopbackPair.serverAddress, 7108)) }
        #expect(try await bounded { try await listener.accept() } != nil)
    }

    @Test func dialCancelledDuringTheHandshakeThrows() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let client = pair.client
        let waiting = Task { try await client.dial(tcp: IPEndpoint(LoopbackPair.unansweredAddress, 7109), timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(200))
        waiting.cancel()
        #expect(isCancellation(await outcome(of: waiting)))
    }

    /// The race the helper closes: a cancellation that lands just before, while or just after the
    /// call reaches the loop thread. 100 cancellations at seeded points between 0 and 7 yields after
    /// the call starts, per call; every one must end the call.
    @Test func cancellationsAtAnyMomentAreNeverLost() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let (client, server, listener) = try await pair.connect(port: 7110)
        defer { withExtendedLifetime(server) {} }  // open, silent: the client's reads wait
        let socket = try await pair.server.listenPacket(udp: 7111)
        var random = SplitMix(seed: 0x7110)
        for round in 0..<100 {
            let calls: [Task<Void, any Error>] = [
                Task { _ = try await client.read() },
                Task { _ = try await listener.accept() },
                Task { _ = try await socket.receive() },
            ]
            for _ in 0..<(random.next() % 8) { await Task.yield() }
            for call in calls { call.cancel() }
            for (index, call) in calls.enumerated() {
                let result = await outcome(of: call, within: .seconds(2))
                #expect(isCancellation(result), "round \(round), call \(index): \(String(describing: result))")
                if result == nil { return }  // a lost cancellation: one report is enough
            }
        }
    }
}
