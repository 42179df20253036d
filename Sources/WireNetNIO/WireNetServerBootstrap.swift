import NIOCore
import NIOPosix
import WireNet

/// Serves NIO pipelines on a port of the node's tunnel addresses, in the shape of NIO's
/// `ServerBootstrap`: the same child initializers, and the same `NIOAsyncChannel` of accepted
/// connections from the async `bind`.
///
/// ```swift
/// let server = try await WireNetServerBootstrap(node: node)
///     .bind(port: 80) { channel in
///         channel.eventLoop.makeCompletedFuture {
///             try channel.pipeline.syncOperations.configureHTTPServerPipeline()
///             return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
///                 wrappingChannelSynchronously: channel)
///         }
///     }
/// try await withThrowingDiscardingTaskGroup { group in
///     try await server.executeThenClose { connections in
///         for try await connection in connections {
///             group.addTask { try await handle(connection) }
///         }
///     }
/// }
/// ```
///
/// The only difference from a `ServerBootstrap` is where it binds: a tunnel port instead of a host
/// and port (``bind(port:backlog:childChannelInitializer:)``), or a ``TCPListener`` you already
/// have (``bind(listener:childChannelInitializer:)``).
public struct WireNetServerBootstrap: Sendable {
    private let node: Node
    private let group: any EventLoopGroup
    private var childOptions: [@Sendable (any Channel) -> EventLoopFuture<Void>] = []

    /// - Parameters:
    ///   - node: a started node.
    ///   - group: the loops the server and its connections run on.
    public init(node: Node, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.node = node
        self.group = group
    }

    /// Sets `option` on every accepted connection before its initializer runs (as
    /// `ServerBootstrap.childChannelOption`).
    public func childChannelOption<Option: ChannelOption>(_ option: Option, value: Option.Value) -> Self
    where Option.Value: Sendable {
        var copy = self
        copy.childOptions.append { channel in channel.setOption(option, value: value) }
        return copy
    }

    /// Listens on `port` and returns the accepted connections, each set up by
    /// `childChannelInitializer`, as a `NIOAsyncChannel` (as `ServerBootstrap.bind(host:port:childChannelInitializer:)`).
    ///
    /// - Throws: ``NodeError/portInUse(_:)`` and the other errors of ``Node/listen(tcp:backlog:)``.
    public func bind<Output: Sendable>(
        port: UInt16, backlog: Int = 128,
        childChannelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Output>
    ) async throws -> NIOAsyncChannel<Output, Never> {
        try await bind(listener: node.listen(tcp: port, backlog: backlog), childChannelInitializer: childChannelInitializer)
    }

    /// Serves the connections of `listener` (see ``bind(port:backlog:childChannelInitializer:)``).
    public func bind<Output: Sendable>(
        listener: TCPListener,
        childChannelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Output>
    ) async throws -> NIOAsyncChannel<Output, Never> {
        let server = makeServerChannel(listener: listener) { channel in
            childChannelInitializer(channel).map { $0 as any Sendable }
        }
        return try await server.eventLoop.submit {
            let async = try NIOAsyncChannel<Output, Never>(wrappingChannelSynchronously: server)
            server.registerAlreadyConfigured0(promise: nil)
            return async
        }.get()
    }

    /// Listens on `port` and runs `childChannelInitializer` on every accepted connection, as the
    /// classic `ServerBootstrap.bind(host:port:)` with a `childChannelInitializer` does.
    ///
    /// - Returns: the server channel; close it to stop accepting.
    public func bind(
        port: UInt16, backlog: Int = 128,
        childChannelInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) async throws -> any Channel {
        let listener = try await node.listen(tcp: port, backlog: backlog)
        let server = makeServerChannel(listener: listener) { channel in
            childChannelInitializer(channel).map { () as any Sendable }
        }
        try await server.eventLoop.submit { server.registerAlreadyConfigured0(promise: nil) }.get()
        return server
    }

    private func makeServerChannel(
        listener: TCPListener, initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<any Sendable>
    ) -> WireNetListenerChannel {
        let options = childOptions
        return WireNetListenerChannel(listener: listener, eventLoop: group.next(), childGroup: group) { channel in
            let applied = options.reduce(channel.eventLoop.makeSucceededVoidFuture()) { future, apply in
                future.flatMap { apply(channel) }
            }
            return applied.flatMap { initializer(channel) }
        }
    }
}
