import Synchronization

/// The UDP flows of one forwarding rule, keyed by the far end's address. A flow is created by the
/// first datagram from a new address and expires after ``idleTimeout`` without a datagram in either
/// direction; at most ``limit`` flows exist at once (each holds a socket).
final class UDPFlowTable<Key: Hashable & Sendable, Channel: AnyObject & Sendable>: Sendable {
    private struct Flow {
        var channel: Channel
        var lastActivity: ContinuousClock.Instant
    }

    /// How long a flow lives without traffic. An implementation choice: NATs are asked to keep UDP
    /// mappings for at least 2 minutes (RFC 4787 §4.3, REQ-5), but a forwarder's flows are cheap to
    /// re-create and each holds a host socket, so a minute suffices for request/response protocols.
    static var defaultIdleTimeout: Duration { .seconds(60) }
    /// Flows per rule; datagrams from new addresses beyond it are dropped.
    static var defaultLimit: Int { 1024 }

    let idleTimeout: Duration
    let limit: Int
    private let flows = Mutex<[Key: Flow]>([:])

    init(idleTimeout: Duration = defaultIdleTimeout, limit: Int = defaultLimit) {
        self.idleTimeout = idleTimeout
        self.limit = limit
    }

    /// The flow's channel, marking it active; nil when there is none.
    func channel(for key: Key) -> Channel? {
        flows.withLock { flows in
            guard var flow = flows[key] else { return nil }
            flow.lastActivity = .now
            flows[key] = flow
            return flow.channel
        }
    }

    /// Adds a flow; false (and nothing added) when the table is full.
    func insert(_ channel: Channel, for key: Key) -> Bool {
        flows.withLock { flows in
            guard flows.count < limit else { return false }
            flows[key] = Flow(channel: channel, lastActivity: .now)
            return true
        }
    }

    /// Marks the flow active (a reply went through).
    func touch(_ key: Key) {
        flows.withLock { flows in flows[key]?.lastActivity = .now }
    }

    /// Removes the flow if `channel` is still the one for `key` (a newer flow may have replaced it).
    func remove(_ key: Key, ifChannel channel: Channel) {
        flows.withLock { flows in
            if let flow = flows[key], flow.channel === channel { flows[key] = nil }
        }
    }

    /// Removes and returns the flows idle for longer than ``idleTimeout``.
    func expire(now: ContinuousClock.Instant = .now) -> [Channel] {
        flows.withLock { flows in
            let idle = flows.filter { now - $0.value.lastActivity > idleTimeout }
            for key in idle.keys { flows[key] = nil }
            return idle.values.map(\.channel)
        }
    }

    /// Removes and returns every flow.
    func removeAll() -> [Channel] {
        flows.withLock { flows in
            defer { flows = [:] }
            return flows.values.map(\.channel)
        }
    }

    var count: Int { flows.withLock { $0.count } }

    /// How often to look for idle flows: a quarter of the timeout, so a flow outlives its timeout by
    /// at most 25 %.
    var sweepInterval: Duration { idleTimeout / 4 }

    /// A task that ends idle flows every ``sweepInterval`` with `end`, until cancelled.
    func startSweeping(_ end: @escaping @Sendable (Channel) -> Void) -> Task<Void, Never> {
        Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: sweepInterval)
                for channel in expire() { end(channel) }
            }
        }
    }
}
