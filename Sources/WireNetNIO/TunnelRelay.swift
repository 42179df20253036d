import NIOCore
import NIOPosix
import WireNet

/// Serves a server that binds only host sockets on a tunnel port: every connection accepted on the
/// tunnel is carried to the server's unix domain socket (or a host TCP address) in this process.
///
/// For frameworks whose HTTP pipeline cannot be handed a channel (Vapor 4 builds its
/// `ServerBootstrap` internally): bind the app to a private unix socket and relay the tunnel to it.
///
/// ```swift
/// app.http.server.configuration.address = .unixDomainSocket(path: "/run/myapp/http.sock")
/// let relay = try await TunnelRelay.start(node: node, port: 80, to: try SocketAddress(unixDomainSocketPath: "/run/myapp/http.sock"))
/// ```
///
/// Each connection is spliced with backpressure both ways (a side is read only as fast as the other
/// side takes the bytes), half-close carried across, and either side's failure ending both.
/// The server sees the relay's unix socket as its client: the tunnel peer's address is the
/// ``WireNet/TCPStream/remoteAddress`` this relay logs, not the server's remote address.
public final class TunnelRelay: Sendable {
    /// The tunnel port connections are accepted on.
    public let port: UInt16
    private let listener: TCPListener
    private let task: Task<Void, Never>

    private init(port: UInt16, listener: TCPListener, task: Task<Void, Never>) {
        self.port = port
        self.listener = listener
        self.task = task
    }

    /// Accepts on `port` of the node's tunnel addresses and relays each connection to `target`.
    ///
    /// - Throws: the errors of ``WireNet/Node/listen(tcp:backlog:)``.
    public static func start(node: Node, port: UInt16, to target: SocketAddress,
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> TunnelRelay {
        let listener = try await node.listen(tcp: port)
        let loops = group
        let task = Task<Void, Never> {
            await withDiscardingTaskGroup { connections in
                while let stream = try? await listener.accept() {
                    connections.addTask { await relay(stream, to: target, on: loops) }
                }
            }
        }
        return TunnelRelay(port: port, listener: listener, task: task)
    }

    private static func relay(_ stream: TCPStream, to target: SocketAddress, on group: any EventLoopGroup) async {
        let server: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            server = try await ClientBootstrap(group: group).connect(to: target) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.syncOptions?.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        } catch {
            stream.abort()
            return
        }
        try? await server.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            await Splice.run(stream, channel: server.channel, leftover: [], &iterator, outbound)
        }
    }

    /// Stops accepting; relayed connections end as their sides close.
    public func close() {
        listener.close()
        task.cancel()
    }
}

/// Copies between a ``TCPStream`` and a NIO async channel until both directions ended.
enum Splice {
    static func run(_ stream: TCPStream, channel: any Channel, leftover: [UInt8],
                    _ inbound: inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
                    _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async {
        await withTaskGroup { group in
            group.addTask {
                // Tunnel → channel, then FIN.
                do {
                    while let bytes = try await stream.read() {
                        try await outbound.write(ByteBuffer(bytes: bytes))
                    }
                    outbound.finish()
                } catch {
                    stream.abort()
                    channel.close(promise: nil)
                }
            }
            // Channel → tunnel, then FIN.
            do {
                if !leftover.isEmpty { try await stream.write(leftover) }
                while let buffer = try await inbound.next() {
                    try await stream.write(buffer.readableBytesView)
                }
                try await stream.shutdownWrite()
            } catch {
                stream.abort()
            }
            await group.waitForAll()
        }
        stream.close()
    }
}
