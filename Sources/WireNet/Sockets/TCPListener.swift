import NetStack
import Synchronization

/// Accepts TCP connections on one port of the node's tunnel addresses; an `AsyncSequence` of
/// ``TCPStream``s that ends when the listener is closed.
///
/// ```swift
/// let listener = try await node.listen(tcp: 80)
/// for try await stream in listener { Task { try await serve(stream) } }
/// ```
public final class TCPListener: AsyncSequence, Sendable {
    public typealias Element = TCPStream

    /// The port connections are accepted on.
    public let port: UInt16

    private let engine: Engine
    private let stack: UserspaceStack
    private let listener: TCPListenerHandle
    private let isClosed = Atomic<Bool>(false)

    init(engine: Engine, stack: UserspaceStack, listener: TCPListenerHandle, port: UInt16) {
        self.engine = engine
        self.stack = stack
        self.listener = listener
        self.port = port
    }

    /// The next connection, waiting until one arrives; `nil` once the listener (or the node) is closed.
    ///
    /// - Throws: `CancellationError` when the task is cancelled while waiting, or at once if it already
    ///   was (no connection is taken from the backlog then); nothing else. Untyped for that
    ///   `CancellationError` (see ``NodeError``).
    public func accept() async throws -> TCPStream? {
        guard !isClosed.load(ordering: .relaxed) else { return nil }
        let (engine, stack, listener) = (self.engine, self.stack, self.listener)
        let info: UserspaceStack.StreamInfo?
        do {
            info = try await engine.suspend { _, continuation in
                let id = stack.makeCallID()
                stack.accept(listener, id: id, continuation: continuation)
                return { _ in stack.cancel(id, on: listener) }
            }
        } catch NodeError.closed {
            return nil
        }
        return info.map { TCPStream(engine: engine, stack: stack, info: $0) }
    }

    /// Hands every connection to `handler` as it is accepted, until the listener (or the node) is
    /// closed; then returns.
    ///
    /// Unlike a loop of ``accept()`` calls, no task wakes up per connection: `handler` runs on the
    /// node's loop thread as soon as the handshake completes. It must return quickly and must not
    /// block; it may call the stream's methods (they queue their work on the loop) or start a task
    /// for the stream. Meanwhile ``accept()`` calls wait behind it.
    ///
    /// ```swift
    /// try await listener.acceptEach { stream in
    ///     Task { try await serve(stream) }
    /// }
    /// ```
    ///
    /// - Throws: `CancellationError` when the task is cancelled (at once if it already was); the
    ///   listener stays open then, and connections not yet handed over wait for the next caller.
    ///   Untyped for that `CancellationError` (see ``NodeError``).
    public func acceptEach(_ handler: @escaping @Sendable (TCPStream) -> Void) async throws {
        guard !isClosed.load(ordering: .relaxed) else { return }
        let (engine, stack, listener) = (self.engine, self.stack, self.listener)
        do {
            _ = try await engine.suspend { _, continuation in
                let id = stack.makeCallID()
                stack.acceptEach(listener, id: id, handler: { info in
                    handler(TCPStream(engine: engine, stack: stack, info: info))
                }, continuation: continuation)
                return { _ in stack.cancel(id, on: listener) }
            }
        } catch NodeError.closed {
            return
        }
    }

    /// Stops accepting; connections not yet accepted are reset, waiting ``accept()`` calls return nil.
    public func close() {
        guard !isClosed.exchange(true, ordering: .relaxed) else { return }
        let (stack, listener) = (self.stack, self.listener)
        engine.perform { _ in stack.close(listener) }
    }

    deinit { close() }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let listener: TCPListener
        public mutating func next() async throws -> TCPStream? { try await listener.accept() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(listener: self) }
}
