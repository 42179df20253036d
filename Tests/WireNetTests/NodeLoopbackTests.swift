import NetTestSupport
import NetStack
import UDPTransport
import Testing
import Wire
import WireGuard
@testable import WireNet

/// Two nodes in one process over UDP loopback: the whole path (transport, WireGuard, stack, API).
@Suite("Node to node over loopback", .serialized)
struct NodeLoopbackTests {
    @Test(arguments: [UDPTransportChoice.ioUring, .portable])
    func tcpTransferArrivesByteForByteBothWays(transport: UDPTransportChoice) async throws {
        var options = Node.Options()
        options.transportBackend = transport.backend
        let pair = try await NodePair.start(options: options)
        defer { Task { await pair.close() } }
        let size = 8 << 20
        let listener = try await pair.server.listen(tcp: 9000)

        // The server echoes the SHA-256 of what it received, then half-closes.
        let serverTask = Task {
            guard let stream = try await listener.accept() else { return [UInt8]() }
            var digest = SHA256Digest()
            var total = 0
            while let chunk = try await stream.read() { digest.update(chunk); total += chunk.count }
            let hash = digest.finish()
            try await stream.write(hash)
            try await stream.shutdownWrite()
            stream.close()
            return hash
        }

        let stream = try await pair.client.dial(tcp: NodePair.serverAddress, port: 9000)
        #expect(stream.remoteAddress == IPEndpoint(IPAddress(NodePair.serverAddress)!, 9000))
        var source = PatternSource(seed: 42)
        var digest = SHA256Digest()
        var sent = 0
        while sent < size {
            let chunk = source.next(min(100_000, size - sent))
            digest.update(chunk)
            try await stream.write(chunk)
            sent += chunk.count
        }
        try await stream.shutdownWrite()
        var reply: [UInt8] = []
        while let chunk = try await stream.read() { reply += chunk }
        let expected = digest.finish()
        #expect(reply == expected)
        #expect(try await serverTask.value == expected)
        stream.close()
        listener.close()
    }

    @Test func tcpOverIPv6InsideTheTunnel() async throws {
        let pair = try await NodePair.start()
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 9001)
        let serverTask = Task {
            let stream = try #require(try await listener.accept())
            let remote = stream.remoteAddress
            try await stream.write("hello \(remote.address)")
            stream.close()
        }
        let stream = try await pair.client.dial(tcp: "fd7a:115c:a1e0:10::1", port: 9001)
        var text: [UInt8] = []
        while let chunk = try await stream.read() { text += chunk }
        #expect(String(decoding: text, as: UTF8.self) == "hello fd7a:115c:a1e0:10::2")
        try await serverTask.value
    }

    @Test func datagramsGoBothWaysThroughPacketConns() async throws {
        let pair = try await NodePair.start()
        defer { Task { await pair.close() } }
        let server = try await pair.server.listenPacket(udp: 5353)
        let client = try await pair.client.listenPacket()
        #expect(client.localPort != 0)
        let serverEndpoint = IPEndpoint(IPAddress(NodePair.serverAddress)!, 5353)
        try await client.send(Array("ping".utf8), to: serverEndpoint)
        let (bytes, from) = try await server.receive()
        #expect(bytes == Array("ping".utf8))
        #expect(from == IPEndpoint(IPAddress(NodePair.clientAddress)!, client.localPort))
        try await server.send(Array("pong".utf8), to: from)
        let (reply, replyFrom) = try await client.receive()
        #expect(reply == Array("pong".utf8))
        #expect(replyFrom == serverEndpoint)

        // Over IPv4 the limit is the MTU less 28 bytes of IPv4 and UDP headers.
        await #expect(throws: NodeError.datagramTooLarge(size: 5000, limit: NodeConfiguration.defaultMTU - 28)) {
            try await client.send([UInt8](repeating: 1, count: 5000), to: serverEndpoint)
        }
    }

    @Test func misuseGetsTypedErrors() async throws {
        let pair = try await NodePair.start()
        defer { Task { await pair.close() } }
        // Nothing listens on 9999: the server's stack answers the SYN with RST.
        await #expect(throws: NodeError.connectionRefused(IPEndpoint(IPAddress(NodePair.serverAddress)!, 9999))) {
            try await pair.client.dial(tcp: NodePair.serverAddress, port: 9999)
        }
        await #expect(throws: NodeError.noRouteToHost("100.99.0.1")) {
            try await pair.client.dial(tcp: "100.99.0.1", port: 80)
        }
        await #expect(throws: NodeError.unresolvableHost("not-an-address")) {
            try await pair.client.dial(tcp: "not-an-address", port: 80)
        }
        let listener = try await pair.server.listen(tcp: 9002)
        await #expect(throws: NodeError.portInUse(9002)) { try await pair.server.listen(tcp: 9002) }
        listener.close()
        await #expect(throws: NodeError.alreadyStarted) { try await pair.server.start() }

        await pair.server.close()
        await #expect(throws: NodeError.closed) { try await pair.server.listen(tcp: 9003) }
        await #expect(throws: NodeError.closed) { try await pair.server.start() }
    }

    @Test func aDialToASilentPeerTimesOut() async throws {
        let pair = try await NodePair.start()
        await pair.server.close()  // the peer is gone: no handshake will ever complete
        defer { Task { await pair.close() } }
        await #expect(throws: NodeError.timedOut) {
            try await pair.client.dial(tcp: NodePair.serverAddress, port: 80, timeout: .milliseconds(300))
        }
    }

    @Test func closingTheNodeFailsPendingCalls() async throws {
        let pair = try await NodePair.start()
        let listener = try await pair.server.listen(tcp: 9004)
        let accepting = Task { try await listener.accept() }
        let conn = try await pair.server.listenPacket(udp: 7000)
        let receiving = Task { try await conn.receive() }
        try await Task.sleep(for: .milliseconds(50))
        await pair.server.close()
        #expect(try await accepting.value == nil)
        await #expect(throws: NodeError.closed) { try await receiving.value }
        await pair.client.close()
    }

    @Test func statusReportsPeersAfterAHandshake() async throws {
        let pair = try await NodePair.start(presharedKey: PresharedKey())
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 9005)
        let stream = try await pair.client.dial(tcp: NodePair.serverAddress, port: 9005)
        let accepted = try #require(try await listener.accept())
        let client = try await pair.client.status()
        #expect(client.peers.count == 1)
        #expect(client.peers[0].lastHandshakeAge != nil)
        #expect(client.peers[0].sentBytes > 0)
        #expect(client.tcpConnections == 1)
        let server = try await pair.server.status()
        // The server learnt the client's endpoint from its authenticated handshake.
        #expect(server.peers[0].endpoint?.hasPrefix("127.0.0.1:") == true)
        #expect(server.description.contains("latest handshake"))
        stream.close()
        accepted.close()
    }

    /// The engine reads its injected clock for every `now` (timers, handshake times, status): with a
    /// stopped clock, a handshake that completed a while ago is still zero seconds old.
    @Test func theEngineReadsTheInjectedClock() async throws {
        var options = Node.Options()
        let stopped = NetInstant(nanoseconds: 7_000_000_000_000)
        options.clock = EngineClock(monotonic: { stopped }, realtimeNanoseconds: { 1_700_000_000_000_000_000 })
        options.randomSeed = 1
        let pair = try await NodePair.start(options: options)
        defer { Task { await pair.close() } }
        let listener = try await pair.server.listen(tcp: 9006)
        let stream = try await pair.client.dial(tcp: NodePair.serverAddress, port: 9006)
        let accepted = try #require(try await listener.accept())
        try await Task.sleep(for: .milliseconds(200))
        let client = try await pair.client.status()
        #expect(client.peers.first?.lastHandshakeAge == .zero)
        stream.close()
        accepted.close()
    }

    /// When the engine loop stops on its own (here: its UDP socket is closed under it, as a broken
    /// socket or ring would), the node says so: ``Node/failure``, ``Node/waitUntilStopped()`` and every
    /// call report the error instead of a node that looks alive.
    @Test(arguments: [UDPTransportChoice.ioUring, .portable])
    func aTransportFailureStopsTheNodeVisibly(transport: UDPTransportChoice) async throws {
        var options = Node.Options()
        options.transportBackend = transport.backend
        let pair = try await NodePair.start(options: options)
        defer { Task { await pair.close() } }
        #expect(pair.server.failure == nil)
        let (engine, _) = try pair.server.runningEngine()
        engine.perform { $0.transport.close() }
        let failure = await pair.server.waitUntilStopped()
        #expect(failure != nil)
        #expect(pair.server.failure == failure)
        #expect(failure?.description.contains("receive from the UDP socket") == true)
        await #expect(throws: failure!) { try await pair.server.status() }
        // A node closed on purpose stops without a failure.
        await pair.client.close()
        #expect(await pair.client.waitUntilStopped() == nil)
    }
}

enum UDPTransportChoice: String, CustomTestStringConvertible, Sendable {
    case ioUring, portable
    var backend: UDPTransport.Backend { self == .ioUring ? .ioUring : .portable }
    var testDescription: String { rawValue }
}
