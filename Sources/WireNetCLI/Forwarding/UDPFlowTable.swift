import Locking

/// The UDP flows of one forwarding rule, keyed by the far end's address and port. A flow is created
/// by the first datagram from a new sender and expires after ``idleTimeout`` without a datagram in
/// either direction; at most ``limit`` flows exist at once, and at most ``perSourceLimit`` from one
/// source address (each holds a socket).
///
/// A forwarder asks ``refusal(for:)`` before it opens a socket for a new sender, so a full table
/// drops the datagram without creating (and closing) a socket for it.
final class UDPFlowTable<Key: FlowKey, Channel: AnyObject & Sendable>: Sendable {
    private struct Flow {
        var channel: Channel
        var lastActivity: ContinuousClock.Instant
    }

    private struct State {
        var flows: [Key: Flow] = [:]
        var counts: SourceCounts<Key.Source>

        /// Removes the flow for `key`, with its count.
        mutating func remove(_ key: Key) {
            guard flows.removeValue(forKey: key) != nil else { return }
            counts.remove(key.source)
        }
    }

    /// How long a flow lives without traffic. An implementation choice: NATs are asked to keep UDP
    /// mappings for at least 2 minutes (RFC 4787 §4.3, REQ-5), but a forwarder's flows are cheap to
    /// re-create and each holds a host socket, so a minute suffices for request/response protocols.
    static var defaultIdleTimeout: Duration { .seconds(60) }
    let idleTimeout: Duration
    /// Flows at once; datagrams from new senders beyond it are dropped.
    let limit: Int
    /// Flows at once from one source address.
    let perSourceLimit: Int
    private let state: Lock<State>

    init(idleTimeout: Duration = defaultIdleTimeout, limit: Int = ForwardingLimits.defaults.flowsPerRule,
         perSourceLimit: Int = ForwardingLimits.defaults.flowsPerSource) {
        self.idleTimeout = idleTimeout
        self.limit = limit
        self.perSourceLimit = perSourceLimit
        state = Lock(State(counts: SourceCounts(perRule: limit, perSource: perSourceLimit)))
    }

    /// The flow's channel, marking it active; nil when there is none.
    func channel(for key: Key) -> Channel? {
        state.withLock { state in
            guard var flow = state.flows[key] else { return nil }
            flow.lastActivity = .now
            state.flows[key] = flow
            return flow.channel
        }
    }

    /// Why a new flow for `key` would not fit (ask before opening its socket); nil when it fits.
    func refusal(for key: Key) -> LimitRefusal? {
        state.withLock { $0.counts.refusal(for: key.source) }
    }

    /// Adds a flow; the refusal (and nothing added) when a limit is reached. Replaces the channel of
    /// an existing flow for the same key (counted once).
    func insert(_ channel: Channel, for key: Key) -> LimitRefusal? {
        state.withLock { state in
            if state.flows[key] == nil, let refusal = state.counts.add(key.source) { return refusal }
            state.flows[key] = Flow(channel: channel, lastActivity: .now)
            return nil
        }
    }

    /// Marks the flow active (a reply went through).
    func touch(_ key: Key) {
        state.withLock { state in state.flows[key]?.lastActivity = .now }
    }

    /// Removes the flow if `channel` is still the one for `key` (a newer flow may have replaced it).
    func remove(_ key: Key, ifChannel channel: Channel) {
        state.withLock { state in
            if let flow = state.flows[key], flow.channel === channel { state.remove(key) }
        }
    }

    /// Removes and returns the flows idle for longer than ``idleTimeout``.
    func expire(now: ContinuousClock.Instant = .now) -> [Channel] {
        state.withLock { state in
            let idle = state.flows.filter { now - $0.value.lastActivity > idleTimeout }
            for key in idle.keys { state.remove(key) }
            return idle.values.map(\.channel)
        }
    }

    /// Removes and returns every flow.
    func removeAll() -> [Channel] {
        state.withLock { state in
            defer {
                state.flows = [:]
                state.counts.removeAll()
            }
            return state.flows.values.map(\.channel)
        }
    }

    var count: Int { state.withLock { $0.flows.count } }

    /// Flows from `source` now.
    func count(from source: Key.Source) -> Int { state.withLock { $0.counts.count(of: source) } }

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
