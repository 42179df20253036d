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
