import Synchronization
import Testing
import WireNet

/// `Node.Options.trace` reports WireGuard events as they happen: the session each handshake begins
/// (on both sides, one initiator) and drops with their reason.
@Suite("Tracing hook")
struct TraceHookTests {
    @Test func handshakesAndDropsReachTheHook() async throws {
        let serverKey = PrivateKey()
        let clientKey = PrivateKey()
        let strangerKey = PrivateKey()
        let serverEvents = Mutex<[DeviceTraceEvent]>([])
        let clientEvents = Mutex<[DeviceTraceEvent]>([])
        var serverOptions = Node.Options()
        serverOptions.trace = { event in serverEvents.withLock { $0.append(event) } }
        var clientOptions = Node.Options()
        clientOptions.trace = { event in clientEvents.withLock { $0.append(event) } }

        let server = Node(configuration: NodeConfiguration(
            privateKey: serverKey, addresses: [IPPrefix("10.231.20.1/32")!],
            peers: [.init(publicKey: clientKey.publicKey, allowedIPs: [IPPrefix("10.231.20.2/32")!])]),
            options: serverOptions)
        try await server.start()
        defer { Task { await server.close() } }
        let port = try await server.status().listenPort
        let client = Node(configuration: NodeConfiguration(
            privateKey: clientKey, addresses: [IPPrefix("10.231.20.2/32")!],
            peers: [.init(publicKey: serverKey.publicKey, endpoint: PeerEndpoint(host: "127.0.0.1", port: port),
                          allowedIPs: [IPPrefix("10.231.20.0/24")!])]),
            options: clientOptions)
        try await client.start()
        defer { Task { await client.close() } }

        let listener = try await server.listen(tcp: 7130)
        let stream = try await bounded(.seconds(10)) { try await client.dial(tcp: IPEndpoint(IPAddress("10.231.20.1")!, 7130)) }
        _ = try await bounded { try await listener.accept() }
        stream.close()
        #expect(clientEvents.withLock { $0 }.contains(.sessionStarted(peer: serverKey.publicKey, initiator: true)))
        #expect(try await bounded {
            while !serverEvents.withLock({ $0.contains(.sessionStarted(peer: clientKey.publicKey, initiator: false)) }) {
                try await Task.sleep(for: .milliseconds(10))
            }
            return true
        })

        // A node the server does not know: its initiations are dropped as from an unknown peer.
        let stranger = Node(configuration: NodeConfiguration(
            privateKey: strangerKey, addresses: [IPPrefix("10.231.20.3/32")!],
            peers: [.init(publicKey: serverKey.publicKey, endpoint: PeerEndpoint(host: "127.0.0.1", port: port),
                          allowedIPs: [IPPrefix("10.231.20.0/24")!])]))
        try await stranger.start()
        defer { Task { await stranger.close() } }
        let refused = Task { try await stranger.dial(tcp: IPEndpoint(IPAddress("10.231.20.1")!, 7130), timeout: .seconds(2)) }
        #expect(try await bounded(.seconds(10)) {
            while !serverEvents.withLock({ $0.contains(.dropped(.unknownPeer, peer: nil)) }) {
                try await Task.sleep(for: .milliseconds(10))
            }
            return true
        })
        refused.cancel()
        _ = await refused.result
    }
}
