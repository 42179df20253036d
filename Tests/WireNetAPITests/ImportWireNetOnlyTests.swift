// This file imports WireNet and nothing else of the package: it compiles only while every type a
// user needs for the public API (keys, addresses, endpoints, TCP options) comes with `import WireNet`.
import Testing
import WireNet

/// A user's program, written against `import WireNet` alone: keys and a configuration built in code,
/// two nodes over UDP loopback, TCP and UDP through the tunnel (addresses 10.231.0.0/24).
@Suite("import WireNet is enough", .serialized)
struct ImportWireNetOnlyTests {
    @Test func aProgramUsingTheWholePublicSurfaceNeedsOnlyImportWireNet() async throws {
        // Keys generated and parsed in code.
        let serverKey = PrivateKey()
        let clientKey = try PrivateKey(parsing: PrivateKey().base64)
        let presharedKey = try PresharedKey(parsing: PrivateKey().base64)
        let peerKey: PublicKey = try PublicKey(parsing: serverKey.publicKey.description)
        #expect(peerKey == serverKey.publicKey)
        #expect(throws: KeyParseError.self) { try PublicKey(parsing: "not a key") }

        // Addresses, prefixes and endpoints.
        let serverAddress = try IPAddress(parsing: "10.231.0.1")
        let tunnel: IPPrefix = try IPPrefix(parsing: "10.231.0.0/24")
        #expect(tunnel.contains(serverAddress))
        #expect(tunnel.contains(IPv4Address(rawValue: 0x0AE7_0002)))
        #expect(!tunnel.contains(IPv6Address(high: 0xfd7a_115c_a1e0_0000, low: 1)))
        #expect(throws: AddressParseError.self) { try IPPrefix(parsing: "10.231.0.0/33") }
        let underlay = IPEndpoint(try IPAddress(parsing: "127.0.0.1"), 51820)
        #expect(PeerEndpoint(underlay).description == "127.0.0.1:51820")

        // Options: UDP backend and TCP settings.
        var options = Node.Options()
        options.transportBackend = Node.TransportBackend.portable
        var tcp = TCPConfiguration()
        tcp.noDelay = true
        tcp.keepalive = TCPConfiguration.Keepalive(idle: .seconds(60), interval: .seconds(5), count: 3)
        tcp.congestionControl = TCPCongestionControlAlgorithm.cubic
        options.tcp = tcp

        let server = Node(
            configuration: NodeConfiguration(
                privateKey: serverKey, addresses: [try IPPrefix(parsing: "10.231.0.1/32")],
                peers: [NodeConfiguration.Peer(publicKey: clientKey.publicKey, presharedKey: presharedKey,
                                               allowedIPs: [try IPPrefix(parsing: "10.231.0.2/32")])]),
            options: options)
        try await server.start()
        let port = try await server.status().listenPort
        let client = Node(
            configuration: NodeConfiguration(
                privateKey: clientKey, addresses: [try IPPrefix(parsing: "10.231.0.2/32")],
                peers: [NodeConfiguration.Peer(publicKey: serverKey.publicKey, presharedKey: presharedKey,
                                               endpoint: PeerEndpoint(host: "127.0.0.1", port: port),
                                               allowedIPs: [tunnel])]),
            options: options)
        try await client.start()

        // TCP: listen, dial, write, read, half-close.
        let listener: TCPListener = try await server.listen(tcp: 7000)
        let echo = Task {
            guard let stream = try await listener.accept() else { return 0 }
            var count = 0
            while let chunk = try await stream.read() { count += chunk.count; try await stream.write(chunk) }
            try await stream.shutdownWrite()
            return count
        }
        let stream: TCPStream = try await client.dial(tcp: IPEndpoint(serverAddress, 7000))
        #expect(stream.remoteAddress == IPEndpoint(serverAddress, 7000))
        try await stream.setNoDelay(true)
        try await stream.write("hello, tunnel")
        try await stream.shutdownWrite()
        var reply: [UInt8] = []
        while let chunk = try await stream.read() { reply += chunk }
        #expect(String(decoding: reply, as: UTF8.self) == "hello, tunnel")
        #expect(try await echo.value == 13)

        // UDP: a PacketConn each way.
        let serverSocket: PacketConn = try await server.listenPacket(udp: 7001)
        let clientSocket = try await client.listenPacket()
        try await clientSocket.send(Array("ping".utf8), to: IPEndpoint(serverAddress, 7001))
        let (bytes, sender) = try await serverSocket.receive()
        #expect(bytes == Array("ping".utf8))
        #expect(sender.port == clientSocket.localPort)

        // Status and errors.
        let status: NodeStatus = try await server.status()
        #expect(status.peers.map(\.publicKey) == [clientKey.publicKey])
        await #expect(throws: NodeError.portInUse(7000)) { try await server.listen(tcp: 7000) }

        stream.close()
        listener.close()
        serverSocket.close()
        clientSocket.close()
        await client.close()
        await server.close()
    }
}
