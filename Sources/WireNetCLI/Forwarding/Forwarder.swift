import Logging
import WireNet
import WireNetMetrics

/// One running `--serve` or `--forward` rule: its listening socket is open (so a port in use is
/// reported before `wirenet up` says ready), ``run()`` carries connections until ``close()``.
protocol Forwarder: Sendable {
    /// The rule as the user wrote it (canonical form).
    var rule: String { get }
    /// The connections or flows it is carrying.
    var connections: ConnectionTracker { get }
    /// Accepts and carries connections until ``close()``; returns once accepting has stopped.
    /// Cancelling the calling task stops it too (the `--serve` rules also end their connections).
    func run() async
    /// Stops accepting and releases the listening socket; connections in flight end when the node
    /// closes (or on their own).
    func close()
}

extension Forwarder {
    /// `serve tcp:5201=127.0.0.1:5202: 1 active, 12 total, 0 failed`.
    var statusLine: String { "\(rule): \(connections.summary)" }

    /// The rule's counts for the metrics.
    var metricsSample: ForwardingRuleSample {
        ForwardingRuleSample(rule: rule, active: connections.active, total: connections.total,
                             refusedByRule: connections.refusedByRule, refusedBySource: connections.refusedBySource)
    }
}

/// Opens the `--forward` rules' host sockets (the node need not be started yet); bind addresses
/// that are names resolve off the cooperative pool (``SocketAddress/resolve(host:port:datagram:)``).
///
/// - Throws: ``ForwardingSetupError`` naming the rule that failed; the ones opened before are closed.
func openForwardRules(_ rules: [ForwardRule], node: Node, reactor: SocketReactor, logger: Logger,
                      limits: ForwardingLimits = .defaults) async throws(ForwardingSetupError) -> [any Forwarder] {
    var opened: [any Forwarder] = []
    for rule in rules {
        do {
            switch rule.proto {
            case .tcp: opened.append(try await TCPForwardForwarder(rule: rule, node: node, reactor: reactor, logger: logger, limits: limits))
            case .udp: opened.append(try await UDPForwardForwarder(rule: rule, node: node, reactor: reactor, logger: logger, limits: limits))
            }
        } catch {
            for forwarder in opened { forwarder.close() }
            throw ForwardingSetupError(rule: "--forward \(rule)", underlying: "\(error)")
        }
    }
    return opened
}

/// Resolves the `--serve` rules' host targets, before anything is started (names off the
/// cooperative pool, see ``SocketAddress/resolve(host:port:datagram:)``).
///
/// - Throws: ``ForwardingSetupError`` naming the rule whose target does not resolve.
func resolveServeRules(_ rules: [ServeRule]) async throws(ForwardingSetupError) -> [(ServeRule, SocketAddress)] {
    var resolved: [(ServeRule, SocketAddress)] = []
    for rule in rules {
        do {
            resolved.append((rule, try await SocketAddress.resolve(host: rule.target.host, port: rule.target.port, datagram: rule.proto == .udp)))
        } catch {
            throw ForwardingSetupError(rule: "--serve \(rule)", underlying: "\(error)")
        }
    }
    return resolved
}

/// Opens the `--serve` rules' tunnel sockets on a started node.
///
/// - Throws: ``ForwardingSetupError`` naming the rule that failed; the ones opened before are closed.
func openServeRules(_ rules: [(ServeRule, SocketAddress)], node: Node, reactor: SocketReactor,
                    logger: Logger, limits: ForwardingLimits = .defaults) async throws(ForwardingSetupError) -> [any Forwarder] {
    var opened: [any Forwarder] = []
    for (rule, target) in rules {
        do {
            switch rule.proto {
            case .tcp: opened.append(try await TCPServeForwarder(rule: rule, target: target, node: node, reactor: reactor, logger: logger, limits: limits))
            case .udp: opened.append(try await UDPServeForwarder(rule: rule, target: target, node: node, reactor: reactor, logger: logger, limits: limits))
            }
        } catch {
            for forwarder in opened { forwarder.close() }
            throw ForwardingSetupError(rule: "--serve \(rule)", underlying: "\(error)")
        }
    }
    return opened
}

/// A rule whose socket could not be opened (port in use, target that does not resolve).
public struct ForwardingSetupError: Error, Sendable, CustomStringConvertible {
    /// The option and rule, e.g. `--forward tcp:127.0.0.1:5201=100.64.8.2:5201`.
    public var rule: String
    /// Why it failed (the socket call or resolver error).
    public var underlying: String
    public var description: String { "\(rule): \(underlying)" }
}
