import Locking
import Metrics
import ServiceLifecycle
import WireNet

/// Publishes a node's counters through swift-metrics (so any backend — Prometheus, StatsD,
/// OpenTelemetry — sees them) by sampling ``WireNet/Node/status()`` at an interval.
///
/// Why sampling and not swift-metrics calls inside the engine: the engine's loop owns the counters
/// and already keeps them as plain integers (no locks, no allocation per packet); a swift-metrics
/// `Counter.increment` per packet would cost a dynamic call into the backend (a lock or an atomic
/// in most) on the hot path. Sampling costs one engine query per interval, and nothing when no one
/// runs this service. The core therefore does not depend on swift-metrics.
///
/// Metrics (labels in braces; `peer` is the peer's public key):
/// - `wirenet_peer_received_bytes_total{peer}`, `wirenet_peer_sent_bytes_total{peer}` — counters;
/// - `wirenet_peer_received_packets_total{peer}`, `wirenet_peer_sent_packets_total{peer}` — WireGuard
///   messages (one per UDP datagram), counters;
/// - `wirenet_peer_handshakes_total{peer}` — completed handshakes, counter;
/// - `wirenet_peer_dropped_packets_total{peer,reason}` — counter per drop reason;
/// - `wirenet_peer_last_handshake_seconds{peer}` — gauge, age of the last handshake (-1: none yet);
/// - `wirenet_tcp_connections` — gauge, TCP connections in the userspace stack;
/// - `wirenet_tcp_connections_by_state{state}` — gauge per TCP state (`ESTABLISHED`, `TIME-WAIT`, …);
/// - `wirenet_tcp_retransmitted_segments_total{kind}` — TCP segments the userspace stack sent
///   again, counter per kind: `timeout` (after the retransmission timer, SYNs included),
///   `fast_retransmit` (duplicate ACKs), `loss_recovery` (SACK/RACK recovery), `tail_loss_probe`;
/// - `wirenet_peers` — gauge;
/// - `wirenet_tcp_syn_cookies_sent_total`, `wirenet_tcp_syn_cookies_validated_total`,
///   `wirenet_tcp_syn_cookies_rejected_total`, `wirenet_tcp_syn_queue_evictions_total`,
///   `wirenet_tcp_listen_drops_total{reason}` (`backlog`, `per_address`, `accept_queue`) — counters of
///   the stack's listeners (``WireNet/NodeStatus/TCPListenerCounters``);
/// - `wirenet_engine_loop_turns_total` — turns of the engine's loop (one batch each), counter;
/// - `wirenet_engine_busy_ratio` — gauge, the share of wall time since the previous sample the loop
///   spent working rather than waiting (0…1; near 1 the one loop thread is the bottleneck);
/// - `wirenet_engine_turn_seconds` — gauge, the loop's mean working time per turn since the previous
///   sample (0 when it took no turn).
///
/// Run it in a `ServiceGroup` beside the node, or call ``sample()`` yourself.
public final class NodeMetrics: Service, Sendable {
    private let node: Node
    private let interval: Duration
    let factory: any MetricsFactory
    /// The engine's busy time at the previous sample, and when that sample was taken.
    private let previousLoad = Lock<(busy: Duration, turns: UInt64, at: ContinuousClock.Instant)?>(nil)
    /// Totals already reported, per metric and label set, so that counters advance by the difference.
    private let reported = Lock<[String: UInt64]>([:])

    /// - Parameters:
    ///   - node: a started node (sampling a node that is not running does nothing).
    ///   - interval: how often ``run()`` samples.
    ///   - factory: where the metrics go; by default the process's `MetricsSystem` backend.
    public init(node: Node, interval: Duration = .seconds(5), factory: any MetricsFactory = MetricsSystem.factory) {
        self.node = node
        self.interval = interval
        self.factory = factory
    }

    /// Samples every `interval` until cancelled or until graceful shutdown.
    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await sample()
            try? await Task.sleep(for: interval)
        }
    }

    /// Reads the node's status once and brings every metric up to date.
    ///
    /// - Throws: ``WireNet/NodeError/notStarted`` or ``WireNet/NodeError/closed``.
    public func sample() async throws(NodeError) {
        let status = try await node.status()
        Gauge(label: "wirenet_tcp_connections", factory: factory).record(status.tcpConnections)
        // Every state that was ever seen keeps a series; states now empty go back to 0.
        let states = reported.withLock { reported -> [String] in
            for state in status.tcpConnectionsByState.keys { reported["tcp-state|" + state] = 1 }
            return reported.keys.filter { $0.hasPrefix("tcp-state|") }.map { String($0.dropFirst("tcp-state|".count)) }
        }
        for state in states {
            Gauge(label: "wirenet_tcp_connections_by_state", dimensions: [("state", state)], factory: factory)
                .record(status.tcpConnectionsByState[state] ?? 0)
        }
        for (kind, count) in status.tcpRetransmissions.byKind {
            advance("wirenet_tcp_retransmitted_segments_total", ["kind": kind], to: count)
        }
        Gauge(label: "wirenet_peers", factory: factory).record(status.peers.count)
        let listeners = status.tcpListenerCounters
        advance("wirenet_tcp_syn_cookies_sent_total", [:], to: listeners.synCookiesSent)
        advance("wirenet_tcp_syn_cookies_validated_total", [:], to: listeners.synCookiesValidated)
        advance("wirenet_tcp_syn_cookies_rejected_total", [:], to: listeners.synCookiesRejected)
        advance("wirenet_tcp_syn_queue_evictions_total", [:], to: listeners.synQueueEvictions)
        advance("wirenet_tcp_listen_drops_total", ["reason": "backlog"], to: listeners.backlogDrops)
        advance("wirenet_tcp_listen_drops_total", ["reason": "per_address"], to: listeners.perAddressLimitDrops)
        advance("wirenet_tcp_listen_drops_total", ["reason": "accept_queue"], to: listeners.acceptQueueOverflows)
        recordLoad(status)
        for peer in status.peers {
            let key = peer.publicKey.description
            advance("wirenet_peer_received_bytes_total", ["peer": key], to: peer.receivedBytes)
            advance("wirenet_peer_sent_bytes_total", ["peer": key], to: peer.sentBytes)
            advance("wirenet_peer_received_packets_total", ["peer": key], to: peer.receivedPackets)
            advance("wirenet_peer_sent_packets_total", ["peer": key], to: peer.sentPackets)
            advance("wirenet_peer_handshakes_total", ["peer": key], to: peer.handshakesCompleted)
            for (reason, count) in peer.droppedPacketsByReason {
                advance("wirenet_peer_dropped_packets_total", ["peer": key, "reason": reason], to: count)
            }
            let age = peer.lastHandshakeAge.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? -1
            Gauge(label: "wirenet_peer_last_handshake_seconds", dimensions: [("peer", key)], factory: factory).record(age)
        }
    }

    /// The engine loop's turns, and its busy share and mean turn time since the previous sample.
    private func recordLoad(_ status: NodeStatus) {
        advance("wirenet_engine_loop_turns_total", [:], to: status.engineLoopTurns)
        let now = ContinuousClock.now
        let previous = previousLoad.withLock { previous in
            defer { previous = (status.engineBusyTime, status.engineLoopTurns, now) }
            return previous
        }
        // The first sample compares with the node's start: all of its busy time, over the turns so far.
        let busy = status.engineBusyTime - (previous?.busy ?? .zero)
        let turns = status.engineLoopTurns &- (previous?.turns ?? 0)
        if let previous, now > previous.at {
            Gauge(label: "wirenet_engine_busy_ratio", factory: factory).record(min(1, max(0, seconds(busy) / seconds(now - previous.at))))
        }
        Gauge(label: "wirenet_engine_turn_seconds", factory: factory).record(turns == 0 ? 0 : seconds(busy) / Double(turns))
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Increments the counter `label{dimensions}` by what `total` grew since the last sample.
    func advance(_ label: String, _ dimensions: [String: String], to total: UInt64) {
        let sorted = dimensions.sorted { $0.key < $1.key }
        let id = label + sorted.map { "|\($0.key)=\($0.value)" }.joined()
        let delta = reported.withLock { reported -> UInt64 in
            let previous = reported[id] ?? 0
            reported[id] = total
            // A peer removed and added again starts from zero: count its new total.
            return total >= previous ? total - previous : total
        }
        guard delta > 0 else { return }
        Counter(label: label, dimensions: sorted.map { ($0.key, $0.value) }, factory: factory).increment(by: Int64(clamping: delta))
    }
}
