import NIOCore
import Synchronization
import WireNet

/// The server channel of a ``WireNetServerBootstrap``: a NIO `Channel` over a ``TCPListener``.
///
/// Like NIO's `ServerSocketChannel`, each `read()` accepts one connection; the accepted connection
/// becomes a ``WireNetStreamChannel`` on the next loop of the group, gets the child initializer, and
/// what the initializer returned travels through this channel's pipeline as one `channelRead`.
/// Connections are accepted only while the pipeline asks: a server that stops reading leaves them in
/// the listener's backlog (where the node refuses more).
public final class WireNetListenerChannel: Channel, ChannelCore, @unchecked Sendable {
    public let eventLoop: any EventLoop
    public let allocator = ByteBufferAllocator()
    public var parent: (any Channel)? { nil }
    /// The listener under this channel.
    public let listener: TCPListener

    private let childGroup: any EventLoopGroup
    private let childInitializer: @Sendable (any Channel) -> EventLoopFuture<any Sendable>
    private let closePromise: EventLoopPromise<Void>
    private var _pipeline: ChannelPipeline!
    private let _isActive = Atomic<Bool>(false)
    private let local: SocketAddress?

    // loop
    private var isOpen = true
    private var isRegistered = false
    private var autoRead = true
    private var readRequested = false
    private var acceptInFlight: Task<Void, Never>?

    init(listener: TCPListener, eventLoop: any EventLoop, childGroup: any EventLoopGroup,
         childInitializer: @escaping @Sendable (any Channel) -> EventLoopFuture<any Sendable>) {
        self.listener = listener
        self.eventLoop = eventLoop
        self.childGroup = childGroup
        self.childInitializer = childInitializer
        closePromise = eventLoop.makePromise()
        local = try? SocketAddress(ipAddress: "0.0.0.0", port: Int(listener.port))
        _pipeline = ChannelPipeline(channel: self)
    }

    public var pipeline: ChannelPipeline { _pipeline }
    public var closeFuture: EventLoopFuture<Void> { closePromise.futureResult }
    public var localAddress: SocketAddress? { local }
    public var remoteAddress: SocketAddress? { nil }
    public var isWritable: Bool { false }
    public var isActive: Bool { _isActive.load(ordering: .relaxed) }
    public var _channelCore: any ChannelCore { self }

    public func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) -> EventLoopFuture<Void> {
        let value = UnsafeTransfer(value)
        return eventLoop.submit {
            switch option {
            case is ChannelOptions.Types.AutoReadOption:
                self.autoRead = value.wrapped as! Bool
                if self.autoRead && self.isActive { self.pipeline.read() }
            case is ChannelOptions.Types.SocketOption, is ChannelOptions.Types.BacklogOption,
                 is ChannelOptions.Types.MaxMessagesPerReadOption:
                // Socket-level knobs of a kernel listener; the node's listener has its own backlog.
                break
            default:
                throw ChannelError.operationUnsupported
            }
        }
    }

    public func getOption<Option: ChannelOption>(_ option: Option) -> EventLoopFuture<Option.Value> {
        eventLoop.submit {
            switch option {
            case is ChannelOptions.Types.AutoReadOption: return UnsafeTransfer(self.autoRead as! Option.Value)
            default: throw ChannelError.operationUnsupported
            }
        }.map { $0.wrapped }
    }

    func activate() {
        eventLoop.preconditionInEventLoop()
        guard isOpen else { return }
        _isActive.store(true, ordering: .relaxed)
        pipeline.syncOperations.fireChannelActive()
        if autoRead { pipeline.syncOperations.read() }
    }

    public func localAddress0() throws -> SocketAddress {
        guard let local else { throw ChannelError.operationUnsupported }
        return local
    }

    public func remoteAddress0() throws -> SocketAddress { throw ChannelError.operationUnsupported }

    public func register0(promise: EventLoopPromise<Void>?) {
        eventLoop.preconditionInEventLoop()
        guard isOpen, !isRegistered else { promise?.fail(ChannelError.inappropriateOperationForState); return }
        isRegistered = true
        promise?.succeed(())
        pipeline.syncOperations.fireChannelRegistered()
    }

    public func registerAlreadyConfigured0(promise: EventLoopPromise<Void>?) {
        register0(promise: promise)
        activate()
    }

    public func bind0(to: SocketAddress, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    public func connect0(to: SocketAddress, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    public func write0(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    public func flush0() {}

    public func read0() {
        eventLoop.preconditionInEventLoop()
        guard isOpen, isActive else { return }
        readRequested = true
        acceptIfNeeded()
    }

    private func acceptIfNeeded() {
        guard readRequested, acceptInFlight == nil, isOpen else { return }
        readRequested = false
        let (listener, loop) = (self.listener, self.eventLoop)
        acceptInFlight = Task {
            let result: Result<TCPStream?, any Error>
            do { result = .success(try await listener.accept()) } catch { result = .failure(error) }
            loop.execute { self.didAccept(result) }
        }
    }

    private func didAccept(_ result: Result<TCPStream?, any Error>) {
        acceptInFlight = nil
        guard isOpen else {
            if case .success(let stream?) = result { stream.abort() }
            return
        }
        switch result {
        case .success(let stream?):
            let child = WireNetStreamChannel(stream: stream, eventLoop: childGroup.next(), parent: self)
            let initializer = childInitializer
            child.register(initializer: initializer).hop(to: eventLoop).whenComplete { result in
                guard self.isOpen else {
                    child.close(promise: nil)
                    return
                }
                switch result {
                case .success(let output):
                    self.pipeline.syncOperations.fireChannelRead(NIOAny(output))
                    self.pipeline.syncOperations.fireChannelReadComplete()
                case .failure(let error):
                    // One connection's setup failed; the server goes on, as ServerBootstrap's does.
                    self.pipeline.syncOperations.fireErrorCaught(error)
                }
                if self.autoRead { self.pipeline.syncOperations.read() }
                self.acceptIfNeeded()
            }
        case .success(nil):
            closeAll()
        case .failure(let error):
            pipeline.syncOperations.fireErrorCaught(error)
            closeAll()
        }
    }

    public func close0(error: any Error, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        eventLoop.preconditionInEventLoop()
        guard isOpen else { promise?.fail(ChannelError.alreadyClosed); return }
        guard mode == .all else { promise?.fail(ChannelError.operationUnsupported); return }
        closeAll()
        promise?.succeed(())
    }

    private func closeAll() {
        guard isOpen else { return }
        isOpen = false
        listener.close()
        acceptInFlight?.cancel()
        if _isActive.exchange(false, ordering: .relaxed) { pipeline.syncOperations.fireChannelInactive() }
        if isRegistered { pipeline.syncOperations.fireChannelUnregistered() }
        eventLoop.execute {
            self.removeHandlers(pipeline: self.pipeline)
            self.closePromise.succeed(())
        }
    }

    public func triggerUserOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    public func channelRead0(_ data: NIOAny) {}
    public func errorCaught0(error: any Error) {}
}
