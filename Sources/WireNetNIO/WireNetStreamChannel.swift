import NIOCore
import Synchronization
import WireNet

/// A NIO `Channel` whose bytes travel over a ``TCPStream`` through the tunnel.
///
/// It behaves as NIO's own socket channels do, so any pipeline (NIOHTTP1, Hummingbird's, Vapor's)
/// runs on it unchanged: inbound data arrives as `ByteBuffer`, outbound `ByteBuffer`s (or
/// `IOData.byteBuffer`) are written in order and their promises complete once the stack's send
/// buffer took them.
///
/// - **Backpressure.** The stream is read only when the pipeline asks (`read()`, which
///   `ChannelOptions.autoRead` issues after each read by default): one `read()`, at most one
///   `channelRead`. A pipeline that stops asking stops the reads, the node's receive buffer fills
///   and the TCP window closes. Outbound, `isWritable` turns false above the high water mark of
///   `ChannelOptions.writeBufferWaterMark` (64 KiB by default, as NIO's socket channels) and true
///   again below the low one.
/// - **Half-close.** `close(mode: .output)` sends FIN after every flushed write;
///   the peer's FIN is `ChannelEvent.inputClosed` when `ChannelOptions.allowRemoteHalfClosure` is
///   on, and closes the channel otherwise.
/// - **Cancellation.** Closing the channel closes the stream: a read or write in flight ends, its
///   promise fails with `ChannelError.ioOnClosedChannel`.
///
/// Make them with ``WireNetServerBootstrap`` (accepted connections) or ``WireNetClientBootstrap``
/// (dialled ones); ``WireNetStreamChannel/init(stream:eventLoop:)`` wraps a stream you already have.
public final class WireNetStreamChannel: Channel, ChannelCore, @unchecked Sendable {
    // Everything below marked "loop" is touched only on `eventLoop`.

    public let eventLoop: any EventLoop
    public let allocator = ByteBufferAllocator()
    public let parent: (any Channel)?
    /// The stream under this channel.
    public let stream: TCPStream

    private let closePromise: EventLoopPromise<Void>
    private var _pipeline: ChannelPipeline!
    private let _isActive = Atomic<Bool>(false)
    private let _isWritable = Atomic<Bool>(true)
    private let local: SocketAddress?
    private let remote: SocketAddress?

    // loop
    private var isOpen = true
    private var isRegistered = false
    private var options = StreamChannelOptions()
    private var readRequested = false
    private var readInFlight: Task<Void, Never>?
    private var inputClosed = false
    private var outputClosed = false
    private var outputFinished = false
    private var outputShutdownInFlight = false
    private var outputShutdownPromises: [EventLoopPromise<Void>] = []
    private var unflushed: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var flushed: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var writeInFlight: Task<Void, Never>?
    private var bufferedBytes = 0

    /// Wraps `stream` in a channel on `eventLoop`. The channel is not yet registered: hand it to
    /// ``register(initializer:)`` (the bootstraps do).
    public init(stream: TCPStream, eventLoop: any EventLoop, parent: (any Channel)? = nil) {
        self.stream = stream
        self.eventLoop = eventLoop
        self.parent = parent
        closePromise = eventLoop.makePromise()
        local = try? SocketAddress(ipAddress: stream.localAddress.address.description, port: Int(stream.localAddress.port))
        remote = try? SocketAddress(ipAddress: stream.remoteAddress.address.description, port: Int(stream.remoteAddress.port))
        _pipeline = ChannelPipeline(channel: self)
    }

    // MARK: Channel

    public var pipeline: ChannelPipeline { _pipeline }
    public var closeFuture: EventLoopFuture<Void> { closePromise.futureResult }
    public var localAddress: SocketAddress? { local }
    public var remoteAddress: SocketAddress? { remote }
    public var isWritable: Bool { _isWritable.load(ordering: .relaxed) }
    public var isActive: Bool { _isActive.load(ordering: .relaxed) }
    public var _channelCore: any ChannelCore { self }

    /// Sets a channel option. `ChannelOptions.tcpOption(.tcp_nodelay)` goes to the stream
    /// (``WireNet/TCPStream/setNoDelay(_:)``): the future completes once the node applied it.
    public func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) -> EventLoopFuture<Void> {
        if let enabled = StreamChannelOptions.noDelay(option, value: value) {
            let (stream, promise) = (self.stream, eventLoop.makePromise(of: Void.self))
            promise.completeWithTask {
                do { try await stream.setNoDelay(enabled) } catch {
                    if (error as? NodeError) == .closed { throw ChannelError.ioOnClosedChannel }
                    throw error
                }
            }
            return promise.futureResult
        }
        if eventLoop.inEventLoop {
            return eventLoop.makeCompletedFuture { try setOption0(option, value: value) }
        }
        let value = UnsafeTransfer(value)
        return eventLoop.submit { try self.setOption0(option, value: value.wrapped) }
    }

    /// Reads a channel option; `ChannelOptions.tcpOption(.tcp_nodelay)` is the stream's setting (1: Nagle off).
    public func getOption<Option: ChannelOption>(_ option: Option) -> EventLoopFuture<Option.Value> {
        if StreamChannelOptions.isNoDelay(option) {
            let (stream, promise) = (self.stream, eventLoop.makePromise(of: SocketOptionValue.self))
            promise.completeWithTask {
                do { return try await stream.noDelay ? 1 : 0 } catch {
                    if (error as? NodeError) == .closed { throw ChannelError.ioOnClosedChannel }
                    throw error
                }
            }
            return promise.futureResult.map { $0 as! Option.Value }
        }
        if eventLoop.inEventLoop {
            return eventLoop.makeCompletedFuture { try getOption0(option) }
        }
        return eventLoop.submit { UnsafeTransfer(try self.getOption0(option)) }.map { $0.wrapped }
    }

    private func setOption0<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
        eventLoop.preconditionInEventLoop()
        let wasAutoRead = options.autoRead
        try options.set(option, value: value)
        if options.autoRead && !wasAutoRead && isActive { pipeline.read() }
        updateWritability()
    }

    private func getOption0<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
        eventLoop.preconditionInEventLoop()
        return try options.get(option)
    }

    // MARK: Registration

    /// Runs `initializer` on the channel's loop, then registers and activates the channel (firing
    /// `channelRegistered` and `channelActive`, then reading if `autoRead` is on).
    ///
    /// - Returns: what the initializer returned, once the channel is active.
    public func register<Output: Sendable>(
        initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Output>
    ) -> EventLoopFuture<Output> {
        eventLoop.flatSubmit {
            initializer(self).flatMap { output in
                let promise = self.eventLoop.makePromise(of: Void.self)
                self.pipeline.register(promise: promise)
                return promise.futureResult.map {
                    self.becomeActive()
                    return output
                }
            }.flatMapErrorThrowing { error in
                self.close(promise: nil)
                throw error
            }
        }
    }

    private func becomeActive() {
        guard isOpen else { return }
        _isActive.store(true, ordering: .relaxed)
        pipeline.syncOperations.fireChannelActive()
        if options.autoRead { pipeline.syncOperations.read() }
    }

    // MARK: ChannelCore

    public func localAddress0() throws -> SocketAddress {
        guard let local else { throw ChannelError.operationUnsupported }
        return local
    }

    public func remoteAddress0() throws -> SocketAddress {
        guard let remote else { throw ChannelError.operationUnsupported }
        return remote
    }

    public func register0(promise: EventLoopPromise<Void>?) {
        eventLoop.preconditionInEventLoop()
        guard isOpen else { promise?.fail(ChannelError.ioOnClosedChannel); return }
        guard !isRegistered else { promise?.fail(ChannelError.inappropriateOperationForState); return }
        isRegistered = true
        promise?.succeed(())
        pipeline.syncOperations.fireChannelRegistered()
    }

    public func registerAlreadyConfigured0(promise: EventLoopPromise<Void>?) {
        register0(promise: promise)
        becomeActive()
    }

    public func bind0(to: SocketAddress, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    public func connect0(to: SocketAddress, promise: EventLoopPromise<Void>?) {
        // The stream is connected before the channel exists.
        promise?.fail(ChannelError.operationUnsupported)
    }

    public func write0(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        eventLoop.preconditionInEventLoop()
        guard isOpen else { promise?.fail(ChannelError.ioOnClosedChannel); return }
        guard !outputClosed else { promise?.fail(ChannelError.outputClosed); return }
        let buffer: ByteBuffer
        if let bytes = tryUnwrapData(data, as: ByteBuffer.self) {
            buffer = bytes
        } else if let io = tryUnwrapData(data, as: IOData.self), case .byteBuffer(let bytes) = io {
            buffer = bytes
        } else {
            promise?.fail(ChannelError.operationUnsupported)
            return
        }
        unflushed.append((buffer, promise))
        bufferedBytes += buffer.readableBytes
        updateWritability()
    }

    public func flush0() {
        eventLoop.preconditionInEventLoop()
        guard isOpen else { return }
        flushed += unflushed
        unflushed.removeAll(keepingCapacity: true)
        startWriteIfNeeded()
    }

    public func read0() {
        eventLoop.preconditionInEventLoop()
        guard isOpen, isActive, !inputClosed else { return }
        readRequested = true
        startReadIfNeeded()
    }

    public func close0(error: any Error, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        eventLoop.preconditionInEventLoop()
        guard isOpen else { promise?.fail(ChannelError.alreadyClosed); return }
        switch mode {
        case .output:
            guard !outputClosed else { promise?.fail(ChannelError.outputClosed); return }
            outputClosed = true
            for (_, promise) in unflushed { promise?.fail(ChannelError.outputClosed) }
            bufferedBytes -= unflushed.reduce(0) { $0 + $1.0.readableBytes }
            unflushed.removeAll()
            if let promise { outputShutdownPromises.append(promise) }
            finishOutputIfDrained()
        case .input:
            guard !inputClosed else { promise?.fail(ChannelError.inputClosed); return }
            inputClosed = true
            readInFlight?.cancel()
            promise?.succeed(())
            pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        case .all:
            closeAll(error: error, abort: false)
            promise?.succeed(())
        }
    }

    public func triggerUserOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    public func channelRead0(_ data: NIOAny) {
        // The tail of the pipeline: nothing consumed it; drop it as NIO's socket channels do.
    }

    public func errorCaught0(error: any Error) {
        // The tail of the pipeline: an unhandled error. NIO's socket channels ignore it too.
    }

    // MARK: Reading

    private func startReadIfNeeded() {
        guard readRequested, readInFlight == nil, isOpen, !inputClosed else { return }
        readRequested = false
        let (stream, loop) = (self.stream, self.eventLoop)
        let maximum = options.readChunk
        readInFlight = Task {
            let result: Result<[UInt8]?, any Error>
            do { result = .success(try await stream.read(maximumLength: maximum)) } catch { result = .failure(error) }
            loop.execute { self.didRead(result) }
        }
    }

    private func didRead(_ result: Result<[UInt8]?, any Error>) {
        readInFlight = nil
        guard isOpen, !inputClosed else { return }
        switch result {
        case .success(.some(let bytes)):
            let buffer = allocator.buffer(bytes: bytes)
            pipeline.syncOperations.fireChannelRead(NIOAny(buffer))
            pipeline.syncOperations.fireChannelReadComplete()
            if options.autoRead && isOpen { pipeline.syncOperations.read() }
            startReadIfNeeded()
        case .success(.none):
            if options.allowRemoteHalfClosure {
                inputClosed = true
                pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
                // Both directions finished: nothing more can happen on this connection.
                if outputFinished {
                    closeAll(error: ChannelError.eof, abort: false)
                }
            } else {
                closeAll(error: ChannelError.eof, abort: false)
            }
        case .failure(let error):
            pipeline.syncOperations.fireErrorCaught(error)
            closeAll(error: error, abort: true)
        }
    }

    // MARK: Writing

    private func startWriteIfNeeded() {
        guard writeInFlight == nil, isOpen, !flushed.isEmpty else { return }
        let batch = flushed
        flushed.removeAll(keepingCapacity: true)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(batch.reduce(0) { $0 + $1.0.readableBytes })
        for (buffer, _) in batch { bytes += buffer.readableBytesView }
        let promises = batch.compactMap(\.1)
        let (stream, loop) = (self.stream, self.eventLoop)
        let count = bytes.count
        writeInFlight = Task {
            let result: Result<Void, any Error>
            do { try await stream.write(bytes); result = .success(()) } catch { result = .failure(error) }
            loop.execute { self.didWrite(result, count: count, promises: promises) }
        }
    }

    private func didWrite(_ result: Result<Void, any Error>, count: Int, promises: [EventLoopPromise<Void>]) {
        writeInFlight = nil
        bufferedBytes -= count
        switch result {
        case .success:
            promises.forEach { $0.succeed(()) }
            updateWritability()
            startWriteIfNeeded()
            finishOutputIfDrained()
        case .failure(let error):
            let failure: any Error = isOpen ? error : ChannelError.ioOnClosedChannel
            promises.forEach { $0.fail(failure) }
            if isOpen {
                pipeline.syncOperations.fireErrorCaught(error)
                closeAll(error: error, abort: true)
            }
        }
    }

    /// After `close(mode: .output)`, sends FIN once every flushed write went out.
    private func finishOutputIfDrained() {
        guard outputClosed, !outputFinished, !outputShutdownInFlight, writeInFlight == nil, flushed.isEmpty, isOpen else { return }
        outputShutdownInFlight = true
        let promises = outputShutdownPromises
        outputShutdownPromises = []
        let (stream, loop) = (self.stream, self.eventLoop)
        Task {
            let result: Result<Void, any Error>
            do { try await stream.shutdownWrite(); result = .success(()) } catch { result = .failure(error) }
            loop.execute {
                switch result {
                case .success:
                    self.outputFinished = true
                    promises.forEach { $0.succeed(()) }
                    if self.isOpen { self.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.outputClosed) }
                    if self.inputClosed { self.closeAll(error: ChannelError.eof, abort: false) }
                case .failure(let error):
                    promises.forEach { $0.fail(error) }
                }
            }
        }
    }

    private func updateWritability() {
        let writable = _isWritable.load(ordering: .relaxed)
        if writable && bufferedBytes > options.waterMark.high {
            _isWritable.store(false, ordering: .relaxed)
            if isActive { pipeline.syncOperations.fireChannelWritabilityChanged() }
        } else if !writable && bufferedBytes < options.waterMark.low {
            _isWritable.store(true, ordering: .relaxed)
            if isActive { pipeline.syncOperations.fireChannelWritabilityChanged() }
        }
    }

    // MARK: Closing

    private func closeAll(error: any Error, abort: Bool) {
        guard isOpen else { return }
        isOpen = false
        let wasActive = _isActive.exchange(false, ordering: .relaxed)
        if abort { stream.abort() } else { stream.close() }
        readInFlight?.cancel()
        writeInFlight?.cancel()
        for (_, promise) in unflushed + flushed { promise?.fail(ChannelError.ioOnClosedChannel) }
        unflushed.removeAll()
        flushed.removeAll()
        outputShutdownPromises.forEach { $0.fail(ChannelError.ioOnClosedChannel) }
        outputShutdownPromises.removeAll()
        if wasActive { pipeline.syncOperations.fireChannelInactive() }
        if isRegistered { pipeline.syncOperations.fireChannelUnregistered() }
        eventLoop.execute {
            // Later, as NIO's channels do: handlers may still be walking the pipeline now.
            self.removeHandlers(pipeline: self.pipeline)
            self.closePromise.succeed(())
        }
    }

}

/// Moves a value the compiler cannot prove `Sendable` between a caller and the event loop (channel
/// option values, which NIO declares `Sendable` only on newer versions).
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let wrapped: Value
    init(_ wrapped: Value) { self.wrapped = wrapped }
}
