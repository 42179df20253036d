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
    public func accept() async throws -> TCPStream? {
        guard !isClosed.load(ordering: .relaxed) else { return nil }
        let (engine, stack, listener) = (self.engine, self.stack, self.listener)
        let id = Mutex<UserspaceStack.CallID?>(nil)
        let info: UserspaceStack.StreamInfo?
        do {
            info = try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let accepted = engine.perform { _ in
                        let callID = stack.makeCallID()
                        id.withLock { $0 = callID }
                        stack.accept(listener, id: callID, continuation: continuation)
                    }
                    if !accepted { continuation.resume(returning: nil) }
                }
            } onCancel: {
                engine.perform { _ in if let callID = id.withLock({ $0 }) { stack.cancel(callID, on: listener) } }
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
