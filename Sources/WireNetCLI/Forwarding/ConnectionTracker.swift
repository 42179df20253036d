import Locking

/// The connections (or UDP flows) one forwarding rule is carrying: counts them for `wirenet status`
/// and lets shutdown wait until every one has finished and released its sockets.
///
/// A connection runs either as a task (``spawn(_:)``) or as a ``TCPSplice`` on callbacks
/// (``start(_:then:)``), which holds no task while it waits. A splice whose second side is still
/// being opened on callbacks (a `--forward` dial) is counted from ``beginOpening()`` on.
///
/// After ``cancelAll()`` (shutdown) whatever starts later is ended at once, so that
/// ``waitUntilIdle()`` is not left waiting for a connection whose dial completed after it.
final class ConnectionTracker: Sendable {
    private enum Running {
        case task(Task<Void, Never>)
        case splice(TCPSplice)
        /// The connection's other side is being opened; the closure (once set) withdraws that.
        case opening((@Sendable () -> Void)?)

        func cancel() {
            switch self {
            case .task(let task): task.cancel()
            case .splice(let splice): splice.abort()
            case .opening(let withdraw): withdraw?()
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
        /// Set by ``cancelAll()``: connections that start afterwards are ended at once.
        var cancelled = false
    }

    private let state = Lock(State())

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
        let cancelled = state.withLock { state -> Task<Void, Never>? in
            let id = state.nextID
            state.nextID &+= 1
            state.total &+= 1
            // The task cannot finish before it is in the table: it takes the lock to remove itself.
            let task = Task { [self] in
                let succeeded = await body()
                finish(id, succeeded: succeeded)
            }
            state.connections[id] = .task(task)
            return state.cancelled ? task : nil
        }
        cancelled?.cancel()
    }

    /// Starts `splice`, counted until it ends; then `release` runs (before the count drops, so that
    /// ``waitUntilIdle()`` returns after it), on the thread that ended the splice.
    func start(_ splice: TCPSplice, then release: @escaping @Sendable () -> Void) {
        start(splice, opened: beginOpening(), then: release)
    }

    /// Counts a connection whose other side is still being opened (a `--forward` dial);
    /// returns its id for ``setWithdraw(_:for:)``, then ``start(_:opened:then:)`` or ``openingFailed(_:)``.
    func beginOpening() -> UInt64 {
        state.withLock { state -> UInt64 in
            let id = state.nextID
            state.nextID &+= 1
            state.total &+= 1
            state.connections[id] = .opening(nil)
            return id
        }
    }

    /// How to withdraw the opening of connection `id` (``cancelAll()`` calls it). Runs it at once if
    /// ``cancelAll()`` came first; does nothing when the opening already ended.
    func setWithdraw(_ withdraw: @escaping @Sendable () -> Void, for id: UInt64) {
        let now = state.withLock { state -> Bool in
            guard case .opening? = state.connections[id] else { return false }
            if state.cancelled { return true }
            state.connections[id] = .opening(withdraw)
            return false
        }
        if now { withdraw() }
    }

    /// Starts `splice` for connection `id` (from ``beginOpening()``), counted until it ends; then
    /// `release` runs as in ``start(_:then:)``. After ``cancelAll()`` the splice is aborted at once.
    func start(_ splice: TCPSplice, opened id: UInt64, then release: @escaping @Sendable () -> Void) {
        let cancelled = state.withLock { state -> Bool in
            state.connections[id] = .splice(splice)
            return state.cancelled
        }
        splice.start { [self] succeeded in
            release()
            finish(id, succeeded: succeeded)
        }
        if cancelled { splice.abort() }
    }

    /// Connection `id` (from ``beginOpening()``) ended before its splice started: counted as failed.
    func openingFailed(_ id: UInt64) {
        finish(id, succeeded: false)
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

    /// Cancels every running connection's task, aborts every splice and withdraws every opening (for
    /// connections blocked in a call that only cancellation ends, and for shutdown); connections
    /// started afterwards are ended at once.
    func cancelAll() {
        let running = state.withLock { state -> [Running] in
            state.cancelled = true
            return Array(state.connections.values)
        }
        for connection in running { connection.cancel() }
    }

    /// `2 active, 17 total, 1 failed, 0 refused`.
    var summary: String {
        state.withLock { "\($0.connections.count) active, \($0.total) total, \($0.failed) failed, \($0.refusedByRule &+ $0.refusedBySource) refused" }
    }
}
