import NIOCore
import NIOPosix
import WireNet

/// Opens NIO channels to hosts inside the tunnel, in the shape of NIO's `ClientBootstrap`.
///
/// ```swift
/// let client = try await WireNetClientBootstrap(node: node)
///     .connect(host: "100.64.0.2", port: 80) { channel in
///         channel.eventLoop.makeCompletedFuture {
///             try channel.pipeline.syncOperations.addHTTPClientHandlers()
///             return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
///                 wrappingChannelSynchronously: channel)
///         }
///     }
/// ```
public struct WireNetClientBootstrap: Sendable {
    private let node: Node
    private let group: any EventLoopGroup
    private var connectTimeout: Duration = .seconds(10)
    private var options: [@Sendable (any Channel) -> EventLoopFuture<Void>] = []

    /// - Parameters:
    ///   - node: a started node.
    ///   - group: the loops the channels run on.
    public init(node: Node, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.node = node
        self.group = group
    }

    /// How long to wait for the TCP handshake (10 s by default).
    public func connectTimeout(_ timeout: Duration) -> Self {
        var copy = self
        copy.connectTimeout = timeout
        return copy
    }

    /// Sets `option` on the channel before its initializer runs.
    public func channelOption<Option: ChannelOption>(_ option: Option, value: Option.Value) -> Self
    where Option.Value: Sendable {
        var copy = self
        copy.options.append { channel in channel.setOption(option, value: value) }
        return copy
    }

    /// Dials `host`:`port` through the node and returns what `channelInitializer` made of the
    /// connected channel.
    ///
    /// - Throws: the errors of ``Node/dial(tcp:port:timeout:)`` (``NodeError/connectionRefused(_:)``,
    ///   ``NodeError/noRouteToHost(_:)``, …), or the initializer's.
    public func connect<Output: Sendable>(
        host: String, port: UInt16,
        channelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Output>
    ) async throws -> Output {
        let stream = try await node.dial(tcp: host, port: port, timeout: connectTimeout)
        return try await channel(for: stream, channelInitializer: channelInitializer).get()
    }

    /// Wraps a stream that is already connected (from ``Node/dial(tcp:port:timeout:)``) the way
    /// ``connect(host:port:channelInitializer:)`` does.
    public func channel<Output: Sendable>(
        for stream: TCPStream,
        channelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Output>
    ) -> EventLoopFuture<Output> {
        let channel = WireNetStreamChannel(stream: stream, eventLoop: group.next())
        let options = self.options
        return channel.register { channel in
            let applied = options.reduce(channel.eventLoop.makeSucceededVoidFuture()) { future, apply in
                future.flatMap { apply(channel) }
            }
            return applied.flatMap { channelInitializer(channel) }
        }
    }
}
