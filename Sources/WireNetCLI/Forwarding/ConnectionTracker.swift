import Synchronization

/// The connections (or UDP flows) one forwarding rule is carrying: counts them for `wirenet status`
/// and lets shutdown wait until every one has finished and released its sockets.
final class ConnectionTracker: Sendable {
    private struct State {
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var nextID: UInt64 = 0
        var total: UInt64 = 0
        var failed: UInt64 = 0
        var refusedByRule: UInt64 = 0
        var refusedBySource: UInt64 = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Connections running now.
    var active: Int { state.withLock { $0.tasks.count } }
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
            state.tasks[id] = Task { [self] in
                let succeeded = await body()
                finish(id, succeeded: succeeded)
            }
        }
    }

    private func finish(_ id: UInt64, succeeded: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.tasks[id] = nil
            if !succeeded { state.failed &+= 1 }
            guard state.tasks.isEmpty else { return [] }
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Suspends until no connection is running.
    func waitUntilIdle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                if state.tasks.isEmpty { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Cancels every running connection's task (for connections blocked in a call that only
    /// cancellation ends).
    func cancelAll() {
        for task in state.withLock({ Array($0.tasks.values) }) { task.cancel() }
    }

    /// `2 active, 17 total, 1 failed, 0 refused`.
    var summary: String {
        state.withLock { "\($0.tasks.count) active, \($0.total) total, \($0.failed) failed, \($0.refusedByRule &+ $0.refusedBySource) refused" }
    }
}
