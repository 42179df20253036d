import Locking
import NetStack
import Wire

/// A tunnel connection being opened on callbacks (``Node/dial(tcp:timeout:then:)``), with no task
/// waiting for it; ``cancel()`` withdraws it.
///
/// For forwarders: a `--forward` connection is accepted on the reactor thread, dialled from there,
/// and its splice started on the loop thread when the handshake completes — no task is woken for
/// the accept, the dial or the splice's start (issue 13: connection set-up rate).
package final class TCPDialAttempt: Sendable {
    private struct State {
        var cancelled = false
        var finished = false
        /// The connecting socket, once the loop thread has started the open.
        var socket: TCPSocketHandle?
    }

    private let engine: Engine?
    private let stack: UserspaceStack?
    private let state = Lock(State())

    init(engine: Engine?, stack: UserspaceStack?) {
        self.engine = engine
        self.stack = stack
    }

    /// Gives up the attempt: its completion gets `CancellationError` and the half-open connection is
    /// reset, unless the completion already ran (then nothing happens: the caller owns the stream).
    /// Safe from any thread, any number of times.
    package func cancel() {
        let first = state.withLock { state -> Bool in
            guard !state.cancelled, !state.finished else { return false }
            state.cancelled = true
            return true
        }
        guard first, let engine, let stack else { return }
        // On the loop thread, after the open (if it started) has recorded its socket.
        engine.perform { [self] _ in
            guard let socket = state.withLock({ $0.finished ? nil : $0.socket }) else { return }
            stack.cancelConnect(socket, with: CancellationError())
        }
    }

    /// Loop thread: whether the attempt was cancelled before its open started.
    fileprivate var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Loop thread: the open started on `socket`.
    fileprivate func started(_ socket: TCPSocketHandle) { state.withLock { $0.socket = socket } }

    /// The completion is running (or ran): a later ``cancel()`` does nothing.
    fileprivate func finish() { state.withLock { $0.finished = true } }
}

extension Node {
    /// ``dial(tcp:timeout:)`` without a task: `completion` runs on the node's loop thread once the
    /// connection is established, or with the error the async call would throw (at once on the
    /// calling thread when the node is not running). It must return quickly and must not block; it
    /// may call the stream's methods, which queue their work.
    ///
    /// - Returns: the attempt, whose ``TCPDialAttempt/cancel()`` withdraws it (its completion then
    ///   gets `CancellationError`).
    @discardableResult
    package func dial(tcp endpoint: IPEndpoint, timeout: Duration = .seconds(10),
                      then completion: @escaping @Sendable (Result<TCPStream, any Error>) -> Void) -> TCPDialAttempt {
        let engine: Engine
        let stack: UserspaceStack
        do {
            (engine, stack) = try running()
        } catch {
            completion(.failure(error))
            return TCPDialAttempt(engine: nil, stack: nil)
        }
        let attempt = TCPDialAttempt(engine: engine, stack: stack)
        let accepted = engine.perform { engine in
            guard !attempt.isCancelled else {
                attempt.finish()
                return completion(.failure(CancellationError()))
            }
            guard engine.device.route(for: endpoint.address) != nil
                || engine.tailnet?.activate(routing: endpoint.address, in: engine) == true else {
                attempt.finish()
                return completion(.failure(NodeError.noRouteToHost(endpoint.address.description)))
            }
            let socket = stack.connect(to: endpoint, timeout: timeout, continuation: .callback { result in
                attempt.finish()
                completion(result.map { TCPStream(engine: engine, stack: stack, info: $0) })
            })
            if let socket { attempt.started(socket) }
        }
        if !accepted { completion(.failure(NodeError.closed)) }
        return attempt
    }
}
