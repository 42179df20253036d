import Synchronization

/// The connections (or UDP flows) one forwarding rule is carrying: counts them for `wirenet status`
/// and lets shutdown wait until every one has finished and released its sockets.
///
/// A connection runs either as a task (``spawn(_:)``) or as a ``TCPSplice`` on callbacks
/// (``start(_:then:)``), which holds no task while it waits.
final class ConnectionTracker: Sendable {
    private enum Running {
        case task(Task<Void, Never>)
        case splice(TCPSplice)

        func cancel() {
            switch self {
            case .task(let task): task.cancel()
            case .splice(let splice): splice.abort()
            }
        }
    }

    private struct State {
        var connections: [UInt64: Running] = [:]
        var nextID: UInt64 = 0
        var total: UInt64 = 0
        var failed: UInt64 = 0
        var refusedByRule: UInt64 = 0
        var refusedBySource: UInt64 = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Connections running now.
    var active: Int { state.withLock { $0.connections.count } }
    /// Connections started since the rule opened.
    var total: UInt64 { state.withLock { $0.total } }
    /// Connections that ended with an error (refused, reset, timed out).
    var failed: UInt64 { state.withLock { $0.failed } }

    /// New connections (UDP: datagrams from senders without a flow) refused because the rule
    /// carried its limit.
    var refusedByRule: UInt64 { state.withLock { $0.refusedByRule } }
    /// The same, refused because their source address carried its limit on the rule.
    var refusedBySource: UInt64 { state.withLock { $0.refusedBySource } }

    /// Counts a connection or datagram a limit refused (nothing was opened for it).
    func refuse(_ refusal: LimitRefusal) {
        state.withLock { state in
            switch refusal {
            case .rule: state.refusedByRule &+= 1
            case .source: state.refusedBySource &+= 1
            }
        }
    }

    /// Runs `body` as a new task, counted until it returns. `body` returns false for a connection
    /// that failed.
    func spawn(_ body: @escaping @Sendable () async -> Bool) {
        state.withLock { state in
            let id = state.nextID
            state.nextID &+= 1
            state.total &+= 1
            // The task cannot finish before it is in the table: it takes the lock to remove itself.
            state.connections[id] = .task(Task { [self] in
                let succeeded = await body()
                finish(id, succeeded: succeeded)
            })
        }
    }

    /// Starts `splice`, counted until it ends; then `release` runs (before the count drops, so that
    /// ``waitUntilIdle()`` returns after it), on the thread that ended the splice.
    func start(_ splice: TCPSplice, then release: @escaping @Sendable () -> Void) {
        let id = state.withLock { state -> UInt64 in
            let id = state.nextID
            state.nextID &+= 1
            state.total &+= 1
            state.connections[id] = .splice(splice)
            return id
        }
        splice.start { [self] succeeded in
            release()
            finish(id, succeeded: succeeded)
        }
    }

    /// Counts a connection that failed before anything ran for it (its host socket could not be opened).
    func countFailure() {
        state.withLock { state in
            state.total &+= 1
            state.failed &+= 1
        }
    }

    private func finish(_ id: UInt64, succeeded: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.connections[id] = nil
            if !succeeded { state.failed &+= 1 }
            guard state.connections.isEmpty else { return [] }
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Suspends until no connection is running.
    func waitUntilIdle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                if state.connections.isEmpty { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Cancels every running connection's task and aborts every splice (for connections blocked in
    /// a call that only cancellation ends, and for shutdown).
    func cancelAll() {
        for running in state.withLock({ Array($0.connections.values) }) { running.cancel() }
    }

    /// `2 active, 17 total, 1 failed, 0 refused`.
    var summary: String {
        state.withLock { "\($0.connections.count) active, \($0.total) total, \($0.failed) failed, \($0.refusedByRule &+ $0.refusedBySource) refused" }
    }
}
