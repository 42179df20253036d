import NIOCore
import NIOPosix
import Testing
import WireNet
import WireNetNIO

/// `ChannelOptions.tcpOption(.tcp_nodelay)` on a bridge channel reaches its ``TCPStream`` (Nagle's
/// switch in the node's TCP), through both bootstraps and on a registered channel. Two nodes in this
/// process on UDP loopback; tunnel addresses 10.231.16.1 and 10.231.16.2.
@Suite("TCP_NODELAY through the NIO bridge", .serialized)
struct NoDelayOptionTests {
    static let port: UInt16 = 7316

    /// Runs `body` with two started nodes that know each other, and closes them.
    func withNodes(_ body: (_ server: Node, _ client: Node) async throws -> Void) async throws {
        let serverKey = PrivateKey()
        let clientKey = PrivateKey()
        let server = Node(configuration: NodeConfiguration(
            privateKey: serverKey, addresses: [IPPrefix("10.231.16.1/32")!],
            peers: [.init(publicKey: clientKey.publicKey, allowedIPs: [IPPrefix("10.231.16.2/32")!])]))
        try await server.start()
        let client = Node(configuration: NodeConfiguration(
            privateKey: clientKey, addresses: [IPPrefix("10.231.16.2/32")!],
            peers: [.init(publicKey: serverKey.publicKey,
                          endpoint: PeerEndpoint(host: "127.0.0.1", port: try await server.status().listenPort),
                          allowedIPs: [IPPrefix("10.231.16.1/32")!])]))
        do {
            try await client.start()
            try await body(server, client)
        } catch {
            await client.close()
            await server.close()
            throw error
        }
        await client.close()
        await server.close()
    }

    @Test func theChildOptionTurnsNagleOffOnTheAcceptedStream() async throws {
        try await withNodes { server, client in
            let accepted = AsyncStream.makeStream(of: WireNetStreamChannel.self)
            let listening = try await WireNetServerBootstrap(node: server)
                .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                .bind(port: Self.port) { channel in
                    accepted.continuation.yield(channel as! WireNetStreamChannel)
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
            let dialled = try await client.dial(tcp: "10.231.16.1", port: Self.port)
            var channels = accepted.stream.makeAsyncIterator()
            let channel = try #require(await channels.next())
            // The node's default is Nagle on: the option, and nothing else, turned it off.
            #expect(try await dialled.noDelay == false)
            #expect(try await channel.stream.noDelay == true)
            #expect(try await channel.getOption(ChannelOptions.tcpOption(.tcp_nodelay)).get() == 1)

            // Set again on the running channel: back on, and the stream says so.
            try await channel.setOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 0).get()
            #expect(try await channel.stream.noDelay == false)
            #expect(try await channel.getOption(ChannelOptions.tcpOption(.tcp_nodelay)).get() == 0)

            // Another socket option is accepted and leaves Nagle alone.
            try await channel.setOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1).get()
            #expect(try await channel.stream.noDelay == false)

            try await channel.close()
            try await listening.close()
            dialled.close()
        }
    }

    @Test func theClientOptionTurnsNagleOffOnTheDialledStream() async throws {
        try await withNodes { server, client in
            let listener = try await server.listen(tcp: Self.port)
            let channel = try await WireNetClientBootstrap(node: client)
                .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                .connect(host: "10.231.16.1", port: Self.port) { channel in
                    channel.eventLoop.makeSucceededFuture(channel as! WireNetStreamChannel)
                }
            #expect(try await channel.stream.noDelay == true)
            let peer = try #require(try await listener.accept())
            #expect(try await peer.noDelay == false)
            try await channel.close()
            // Closed: the option cannot reach a stream any more, and says so as NIO does.
            await #expect(throws: ChannelError.ioOnClosedChannel) {
                try await channel.setOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 0).get()
            }
            peer.close()
            listener.close()
        }
    }
}
