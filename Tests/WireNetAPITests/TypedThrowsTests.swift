import Testing
import WireNet

/// The calls that do not wait on the network state `throws(NodeError)`: a `catch` gets a
/// ``NodeError`` with no cast, so these tests compare `error` with a case directly — they do not
/// compile if a signature goes back to an untyped `throws`. The calls that wait on the network stay
/// untyped for `CancellationError` (``CancellationTests``), and throw nothing else but `NodeError`.
@Suite("What each call throws", .serialized)
struct TypedThrowsTests {
    @Test func startingTwiceAndCallsOnANodeThatIsNotRunningAreNodeErrors() async throws {
        let node = Node(configuration: NodeConfiguration(privateKey: PrivateKey(), addresses: [IPPrefix("10.231.0.20/32")!]))
        do {
            _ = try await node.listen(tcp: 7200)
            Issue.record("listen on a node that is not started")
        } catch {
            #expect(error == .notStarted)
        }
        do {
            _ = try await node.status()
            Issue.record("status of a node that is not started")
        } catch {
            #expect(error == .notStarted)
        }
        try await node.start()
        do {
            try await node.start()
            Issue.record("a second start")
        } catch {
            #expect(error == .alreadyStarted)
        }
        await node.close()
        do {
            try await node.start()
            Issue.record("start after close")
        } catch {
            #expect(error == .closed)
        }
        do {
            _ = try await node.listenPacket(udp: 7200)
            Issue.record("listenPacket on a closed node")
        } catch {
            #expect(error == .closed)
        }
    }

    @Test func aConfigurationErrorFromStartIsANodeError() async {
        // Two peers with one key: the configuration names the problem.
        let key = PrivateKey().publicKey
        let node = Node(configuration: NodeConfiguration(
            privateKey: PrivateKey(), addresses: [IPPrefix("10.231.0.21/32")!],
            peers: [.init(publicKey: key, allowedIPs: [IPPrefix("10.231.0.22/32")!]),
                    .init(publicKey: key, allowedIPs: [IPPrefix("10.231.0.23/32")!])]))
        do {
            try await node.start()
            Issue.record("a configuration with a duplicate peer started")
            await node.close()
        } catch {
            guard case .configuration = error else {
                Issue.record("expected .configuration, got \(error)")
                return
            }
        }
    }

    @Test func socketCallsThatDoNotWaitNameTheirNodeError() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 7201)
        defer { listener.close() }
        do {
            _ = try await pair.server.listen(tcp: 7201)
            Issue.record("a second listener on one port")
        } catch {
            #expect(error == .portInUse(7201))
        }
        let conn = try await pair.client.listenPacket()
        defer { conn.close() }
        do {
            // Larger than one packet of the tunnel (MTU 1420) in either family.
            try await conn.send([UInt8](repeating: 1, count: 2000), to: IPEndpoint(LoopbackPair.serverAddress, 9))
            Issue.record("an oversize datagram was sent")
        } catch {
            guard case .datagramTooLarge(size: 2000, let limit) = error else { Issue.record("\(error)"); return }
            #expect(limit >= conn.maximumDatagramSize && limit < 1420)
        }
        do {
            try await conn.send([1], to: IPEndpoint(IPAddress("10.231.1.1")!, 9))
            Issue.record("a datagram with no route was sent")
        } catch {
            #expect(error == .noRouteToHost("10.231.1.1"))
        }

        let stream = try await pair.client.dial(tcp: IPEndpoint(LoopbackPair.serverAddress, 7201))
        #expect(try await stream.noDelay == false)
        try await stream.setNoDelay()
        #expect(try await stream.noDelay == true)
        stream.close()
        do {
            try await stream.shutdownWrite()
            Issue.record("shutdownWrite after close")
        } catch {
            #expect(error == .closed)
        }
        do {
            try await stream.setNoDelay(false)
            Issue.record("setNoDelay after close")
        } catch {
            #expect(error == .closed)
        }
        do {
            try await pair.client.removePeer(PrivateKey().publicKey)
            Issue.record("removed a peer that was never added")
        } catch {
            guard case .unknownPeer = error else { Issue.record("expected .unknownPeer, got \(error)"); return }
        }
    }

    /// The untyped calls throw `NodeError` for everything but cancellation.
    @Test func waitingCallsThrowNodeErrorsOtherThanCancellation() async throws {
        let pair = try await LoopbackPair.start()
        defer { Task { await pair.close() } }
        let (client, _, listener) = try await pair.connect(port: 7202)
        client.close()
        await #expect(throws: NodeError.closed) { try await client.read() }
        await #expect(throws: NodeError.closed) { try await client.write("after close") }
        await #expect(throws: NodeError.connectionRefused(IPEndpoint(LoopbackPair.serverAddress, 7203))) {
            try await pair.client.dial(tcp: IPEndpoint(LoopbackPair.serverAddress, 7203))
        }
        listener.close()
        #expect(try await listener.accept() == nil)
    }
}
