import Locking
import WireNet

/// How much one forwarding rule carries at once, in total and per source address (`wirenet up
/// --max-connections`, `--max-connections-per-source`, `--max-udp-flows`, `--max-udp-flows-per-source`).
///
/// Each TCP connection and each UDP flow holds a host socket (a file descriptor) and a tunnel socket,
/// so a rule without limits lets one sender take the process's descriptors or the stack's connection
/// table from everyone else. The source is the sender's IP address, without the port: the tunnel
/// peer's address for `--serve`, the host client's address for `--forward`.
struct ForwardingLimits: Sendable, Equatable {
    /// TCP connections per rule. Half of the stack's connection table (16384), so that two busy
    /// rules cannot starve the rest of the node.
    var connectionsPerRule: Int = 8192
    /// TCP connections per source address and rule: the stack's own per-address share (4096), so a
    /// single peer can still open thousands of connections.
    var connectionsPerSource: Int = 4096
    /// UDP flows per rule (each holds a host socket until it has been idle a minute).
    var flowsPerRule: Int = 1024
    /// UDP flows per source address and rule: a quarter of the rule, so that one sender spraying
    /// ports leaves room for three others at least.
    var flowsPerSource: Int = 256

    static let defaults = ForwardingLimits()

    /// Checks that every limit is at least 1.
    func validated() throws -> ForwardingLimits {
        for (name, value) in [("--max-connections", connectionsPerRule), ("--max-connections-per-source", connectionsPerSource),
                              ("--max-udp-flows", flowsPerRule), ("--max-udp-flows-per-source", flowsPerSource)] where value < 1 {
            throw CommandFailure("\(name) \(value): must be at least 1")
        }
        return self
    }
}

/// Which limit refused a new connection or flow.
enum LimitRefusal: Sendable, Equatable {
    /// The rule carries its limit.
    case rule
    /// The sender's address carries its limit on this rule.
    case source
}

/// What a rule holds, counted in total and per source, against a per-rule and a per-source limit.
struct SourceCounts<Source: Hashable> {
    let perRule: Int
    let perSource: Int
    private(set) var total = 0
    private var bySource: [Source: Int] = [:]

    init(perRule: Int, perSource: Int) {
        self.perRule = perRule
        self.perSource = perSource
    }

    /// What `source` holds now.
    func count(of source: Source) -> Int { bySource[source] ?? 0 }

    /// Why one more for `source` would exceed a limit; nil when it fits. The per-source limit is
    /// reported first: it names the sender responsible.
    func refusal(for source: Source) -> LimitRefusal? {
        if count(of: source) >= perSource { return .source }
        if total >= perRule { return .rule }
        return nil
    }

    /// Counts one more for `source` if it fits; the refusal otherwise (nothing counted).
    mutating func add(_ source: Source) -> LimitRefusal? {
        if let refusal = refusal(for: source) { return refusal }
        total += 1
        bySource[source, default: 0] += 1
        return nil
    }

    /// Counts one less for `source` (one that ``add(_:)`` counted).
    mutating func remove(_ source: Source) {
        guard let held = bySource[source] else { return }
        total -= 1
        bySource[source] = held > 1 ? held - 1 : nil
    }

    mutating func removeAll() {
        total = 0
        bySource = [:]
    }
}

/// ``SourceCounts`` behind a lock, for TCP forwarders: a connection takes a place before anything
/// is opened for it, and gives it back when it ends.
final class ConnectionLimiter<Source: Hashable & Sendable>: Sendable {
    private let counts: Lock<SourceCounts<Source>>

    init(perRule: Int, perSource: Int) {
        counts = Lock(SourceCounts(perRule: perRule, perSource: perSource))
    }

    /// Takes a place for `source`; the refusal when a limit is reached.
    func acquire(_ source: Source) -> LimitRefusal? { counts.withLock { $0.add(source) } }

    /// Gives back a place ``acquire(_:)`` took.
    func release(_ source: Source) { counts.withLock { $0.remove(source) } }

    /// Places taken now.
    var held: Int { counts.withLock { $0.total } }
}

/// The key of a UDP flow (the sender's address and port) and the source its limits count it under
/// (the address alone).
protocol FlowKey: Hashable, Sendable {
    associatedtype Source: Hashable & Sendable
    var source: Source { get }
}

extension IPEndpoint: FlowKey {
    var source: IPAddress { address }
}

extension SocketAddress: FlowKey {
    var source: SocketAddress { withoutPort }
}
