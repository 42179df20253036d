import NetStack
import Synchronization
import Wire

/// One TCP connection through the tunnel, from ``Node/dial(tcp:port:timeout:)`` or a ``TCPListener``.
///
/// Reads and writes are `async` and never block a thread. Backpressure runs both ways: ``write(_:)``
/// returns once the stack's send buffer took every byte (a slow peer makes it wait), and data you do
/// not read fills the receive buffer and closes the TCP window (a slow reader slows the sender, it
/// never grows memory).
///
/// Close a stream with ``close()`` (graceful) or ``abort()`` (reset); a stream that is dropped
/// without either is closed gracefully.
public final class TCPStream: Sendable {
    /// This end of the connection.
    public let localAddress: IPEndpoint
    /// The other end of the connection.
    public let remoteAddress: IPEndpoint

    private let engine: Engine
    private let stack: UserspaceStack
    private let socket: TCPSocketHandle
    private let readiness: ReadReadiness
    private let isClosed = Atomic<Bool>(false)

    /// Largest chunk ``read(maximumLength:)`` returns by default.
    public static let defaultReadLength = 64 * 1024

    init(engine: Engine, stack: UserspaceStack, info: UserspaceStack.StreamInfo) {
        self.engine = engine
        self.stack = stack
        socket = info.socket
        readiness = info.readiness
        localAddress = info.local
        remoteAddress = info.remote
    }

    /// Reads what has arrived, up to `maximumLength` bytes, waiting until something has.
    ///
    /// - Returns: the bytes, or `nil` at the end of the stream (the peer closed its side).
    /// - Throws: ``NodeError/connectionReset``, ``NodeError/timedOut`` (retransmissions unanswered),
    ///   ``NodeError/closed`` after ``close()``; `CancellationError` when the task is cancelled, at
    ///   once if it already was when it called (no data is consumed then). Untyped for that
    ///   `CancellationError` (see ``NodeError``).
    public func read(maximumLength: Int = TCPStream.defaultReadLength) async throws -> [UInt8]? {
        guard !isClosed.load(ordering: .relaxed) else { throw NodeError.closed }
        guard maximumLength > 0 else { return [] }
        let (stack, socket, readiness) = (self.stack, self.socket, self.readiness)
        // With nothing buffered the read waits for a packet, and the loop registers it before it looks
        // at what a packet brought: no need to wake the loop thread for it.
        return try await engine.suspend(wakeIf: { readiness.isReady }) { _, continuation in
            let id = stack.makeCallID()
            stack.read(socket, id: id, maximumLength: maximumLength, continuation: .task(continuation))
            return { _ in stack.cancel(id, on: socket) }
        }
    }

    /// Like ``read(maximumLength:)``, but the bytes go first to `consume`, which runs on the node's
    /// loop thread as soon as they are there, and returns how many it took; the caller gets the rest
    /// (empty when `consume` took everything), or `nil` at the end of the stream.
    ///
    /// For forwarders: `consume` writes into a non-blocking host socket, so a forwarded chunk leaves
    /// without first waking a task to carry it. It must not block, and must not call into the node.
    package func read(maximumLength: Int = TCPStream.defaultReadLength,
                      passingTo consume: @escaping @Sendable (UnsafeRawBufferPointer) -> Int) async throws -> [UInt8]? {
        guard !isClosed.load(ordering: .relaxed) else { throw NodeError.closed }
        guard maximumLength > 0 else { return [] }
        let (stack, socket, readiness) = (self.stack, self.socket, self.readiness)
        return try await engine.suspend(wakeIf: { readiness.isReady }) { _, continuation in
            let id = stack.makeCallID()
            stack.read(socket, id: id, maximumLength: maximumLength, consume: consume, continuation: .task(continuation))
            return { _ in stack.cancel(id, on: socket) }
        }
    }

    /// ``read(maximumLength:passingTo:)`` without a task: `completion` gets its result on the loop
    /// thread (at once on the calling thread if the stream or the node is closed). Neither closure may
    /// block or call into the node except through this type's methods, which only queue work.
    ///
    /// For forwarders: an idle connection waits as two closures in the loop's tables, not as a
    /// suspended task. Nothing cancels it but ``abort()``, ``close()`` or the node's close.
    package func read(maximumLength: Int = TCPStream.defaultReadLength,
                      passingTo consume: @escaping @Sendable (UnsafeRawBufferPointer) -> Int,
                      then completion: @escaping @Sendable (Result<[UInt8]?, any Error>) -> Void) {
        guard !isClosed.load(ordering: .relaxed) else { return completion(.failure(NodeError.closed)) }
        let (stack, socket, readiness) = (self.stack, self.socket, self.readiness)
        let accepted = engine.perform({ _ in
            stack.read(socket, id: stack.makeCallID(), maximumLength: Swift.max(maximumLength, 1), consume: consume,
                       continuation: .callback(completion))
        }, wakeIf: { readiness.isReady })
        if !accepted { completion(.failure(NodeError.closed)) }
    }

    /// Queues `bytes` for sending from any thread without suspending: `continuation` resumes once the
    /// stack's send buffer took all of them (or with the error ``write(_:)`` would throw). The loop is
    /// woken from the calling thread, so a forwarder's reactor hands a chunk straight to the loop.
    /// Unlike ``write(_:)`` it takes no notice of task cancellation: ``abort()`` or ``close()`` end it.
    package func write(_ bytes: [UInt8], resuming continuation: CheckedContinuation<Void, any Error>) {
        guard !isClosed.load(ordering: .relaxed) else { return continuation.resume(throwing: NodeError.closed) }
        guard !bytes.isEmpty else { return continuation.resume() }
        let (stack, socket) = (self.stack, self.socket)
        let accepted = engine.perform { _ in
            stack.write(socket, id: stack.makeCallID(), bytes, continuation: .task(continuation))
        }
        if !accepted { continuation.resume(throwing: NodeError.closed) }
    }

    /// ``write(_:resuming:)`` with a callback: `completion` runs on the loop thread once the stack's
    /// send buffer took every byte, or with the error (at once on the calling thread if the stream or
    /// the node is closed). It must not block.
    package func write(_ bytes: [UInt8], then completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard !isClosed.load(ordering: .relaxed) else { return completion(.failure(NodeError.closed)) }
        guard !bytes.isEmpty else { return completion(.success(())) }
        let (stack, socket) = (self.stack, self.socket)
        let accepted = engine.perform { _ in
            stack.write(socket, id: stack.makeCallID(), bytes, continuation: .callback(completion))
        }
        if !accepted { completion(.failure(NodeError.closed)) }
    }

    /// Sends `bytes`, returning once all of them are queued in the stack's send buffer.
    ///
    /// - Throws: ``NodeError/closed`` after ``close()`` or ``shutdownWrite()``,
    ///   ``NodeError/connectionReset`` or ``NodeError/timedOut`` when the connection failed;
    ///   `CancellationError` when the task is cancelled (at once if it already was: nothing is queued
    ///   then; cancelled while waiting, the bytes already in the send buffer stay there). Untyped for
    ///   that `CancellationError` (see ``NodeError``).
    public func write<Bytes: Collection>(_ bytes: Bytes) async throws where Bytes.Element == UInt8 {
        guard !isClosed.load(ordering: .relaxed) else { throw NodeError.closed }
        guard !bytes.isEmpty else { return }
        let payload = Array(bytes)
        let (stack, socket) = (self.stack, self.socket)
        try await engine.suspend { (_, continuation: CheckedContinuation<Void, any Error>) in
            let id = stack.makeCallID()
            stack.write(socket, id: id, payload, continuation: .task(continuation))
            return { _ in stack.cancel(id, on: socket) }
        }
    }

    /// Sends the UTF-8 bytes of `text`.
    public func write(_ text: String) async throws {
        try await write(Array(text.utf8))
    }

    /// Turns Nagle's algorithm off for this stream (`true`, like `TCP_NODELAY`) or back on. With it off,
    /// every ``write(_:)`` goes out at once even while earlier data is unacknowledged: what
    /// request/response protocols with small messages want. The node's default comes from its TCP
    /// configuration (`noDelay`, off).
    ///
    /// - Throws: ``NodeError/closed`` after ``close()``, or the connection's error if it failed.
    public func setNoDelay(_ enabled: Bool = true) async throws(NodeError) {
        guard !isClosed.load(ordering: .relaxed) else { throw NodeError.closed }
        let (stack, socket) = (self.stack, self.socket)
        let error = try await engine.query { _ -> NodeError? in
            do throws(NodeError) { try stack.setNoDelay(socket, enabled); return nil } catch { return error }
        }
        if let error { throw error }
    }

    /// Whether Nagle's algorithm is off for this stream: the node's `noDelay` TCP setting until
    /// ``setNoDelay(_:)`` changes it.
    ///
    /// - Throws: ``NodeError/closed`` after ``close()``, or the connection's error if it failed.
    public var noDelay: Bool {
        get async throws(NodeError) {
            guard !isClosed.load(ordering: .relaxed) else { throw NodeError.closed }
            let (stack, socket) = (self.stack, self.socket)
            let result = try await engine.query { _ in Result { () throws(NodeError) in try stack.noDelay(of: socket) } }
            return try result.get()
        }
    }

    /// Half-close: sends FIN after everything written so far. Reading goes on until the peer closes.
    ///
    /// - Throws: ``NodeError/closed`` after ``close()``, or the connection's error
    ///   if it failed.
    public func shutdownWrite() async throws(NodeError) {
        guard !isClosed.load(ordering: .relaxed) else { throw NodeError.closed }
        let (stack, socket) = (self.stack, self.socket)
        let error = try await engine.query { _ -> NodeError? in
            do throws(NodeError) { try stack.shutdownWrite(socket); return nil } catch { return error }
        }
        if let error { throw error }
    }

    /// ``shutdownWrite()`` with a callback: `completion` runs on the loop thread with nil once the FIN
    /// is queued, or with the error (at once on the calling thread if the stream or the node is closed).
    package func shutdownWrite(then completion: @escaping @Sendable (NodeError?) -> Void) {
        guard !isClosed.load(ordering: .relaxed) else { return completion(.closed) }
        let (stack, socket) = (self.stack, self.socket)
        let accepted = engine.perform { _ in
            do throws(NodeError) { try stack.shutdownWrite(socket); completion(nil) } catch { completion(error) }
        }
        if !accepted { completion(.closed) }
    }

    /// Closes the connection: queued data is still delivered, then FIN. Pending reads and writes fail
    /// with ``NodeError/closed``. Calling it again does nothing.
    ///
    /// Synchronous, like every socket's `close()`: it hands the close to the node's loop thread and
    /// returns without waiting (so `deinit` can call it). ``Node/close()`` is `async` because it waits
    /// for the engine to stop and release its socket and buffers.
    public func close() {
        guard !isClosed.exchange(true, ordering: .relaxed) else { return }
        let (stack, socket) = (self.stack, self.socket)
        engine.perform { _ in stack.close(socket) }
    }

    /// Resets the connection (RST) and discards queued data.
    public func abort() {
        guard !isClosed.exchange(true, ordering: .relaxed) else { return }
        let (stack, socket) = (self.stack, self.socket)
        engine.perform { _ in stack.abort(socket) }
    }

    deinit { close() }
}
