import Logging
import WireNet

/// `--forward tcp:[BIND:]PORT=TUNNEL_IP:PORT`: accepts host TCP connections and splices each to a
/// new connection through the tunnel.
///
/// A connection the tunnel side cannot open (refused, no route, no handshake within the dial
/// timeout) is reset on the host side; so is a connection beyond the rule's limits
/// (``ForwardingLimits``), before anything is dialled for it.
final class TCPForwardForwarder: Forwarder {
    let rule: String
    let connections = ConnectionTracker()
    let limiter: ConnectionLimiter<SocketAddress>
    /// The host address accepted on (the kernel's port when the rule asked for port 0 in tests).
    let localAddress: SocketAddress
    private let target: ForwardRule
    private let listener: HostListener
    private let node: Node
    private let logger: Logger

    /// How long a tunnel connection may take (the WireGuard handshake included) before the host
    /// connection is reset.
    static let dialTimeout: Duration = .seconds(10)

    /// Resolves the bind address and listens on it.
    init(rule: ForwardRule, node: Node, reactor: SocketReactor, logger: Logger, limits: ForwardingLimits = .defaults) async throws {
        self.rule = "forward \(rule)"
        limiter = ConnectionLimiter(perRule: limits.connectionsPerRule, perSource: limits.connectionsPerSource)
        let address = try await SocketAddress.resolve(host: rule.bind.host, port: rule.bind.port)
        listener = try HostListener(address: address, reactor: reactor)
        localAddress = listener.localAddress
        target = rule
        self.node = node
        self.logger = logger
    }

    /// Accepts until ``close()`` or cancellation of the calling task (connections in flight go on;
    /// they end with the node). Each connection is accepted on the node's loop thread (through a
    /// reactor ``SocketReactor/driven(by:)`` the node), which dials its tunnel side on callbacks and
    /// starts its ``TCPSplice`` once the handshake completes: no task runs or wakes per connection.
    func run() async {
        defer { listener.close() }
        // The node's loop thread accepts, dials and splices; a node that is not running (its dials
        // fail anyway) leaves the accepts to the rule's reactor.
        let loopReactor = try? SocketReactor.driven(by: node)
        while !Task.isCancelled {
            let failure: (any Error)? = await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<(any Error)?, Never>) in
                    listener.acceptEach(on: loopReactor, { [self] host in accepted(host) },
                                        until: { continuation.resume(returning: $0) })
                }
            } onCancel: {
                listener.interrupt()
            }
            guard let failure else { return }
            // EMFILE and friends: the next accept may succeed once connections end.
            logger.warning("accept failed", metadata: ["rule": "\(rule)", "error": "\(failure)"])
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// On the loop thread (or the reactor's): checks the limits and dials the tunnel side; the splice
    /// starts on the loop thread when the dial completes.
    private func accepted(_ host: HostStream) {
        let source = host.remoteAddress?.withoutPort ?? localAddress.withoutPort
        if let refusal = limiter.acquire(source) {
            connections.refuse(refusal)
            logger.debug("connection refused by a limit", metadata: ["from": "\(source)", "limit": "\(refusal)"])
            host.close(reset: true)
            return
        }
        let id = connections.beginOpening()
        let dialled: @Sendable (Result<TCPStream, any Error>) -> Void = { [self] result in
            switch result {
            case .success(let tunnel):
                connections.start(TCPSplice(host: host, tunnel: tunnel, logger: logger), opened: id) { [limiter] in
                    limiter.release(source)
                }
            case .failure(let error):
                logger.info("cannot reach the tunnel target", metadata: [
                    "target": "\(target.targetName ?? target.target.description)", "from": "\(host.remoteAddress.map(\.description) ?? "?")",
                    "error": "\(error)"])
                host.close(reset: true)
                limiter.release(source)
                connections.openingFailed(id)
            }
        }
        var endpoint = target.target
        if let name = target.targetName {
            guard let address = node.resolve(host: name) else { return dialled(.failure(NodeError.unresolvableHost(name))) }
            endpoint = IPEndpoint(address, target.target.port)
        }
        let attempt = node.dial(tcp: endpoint, timeout: Self.dialTimeout, then: dialled)
        connections.setWithdraw({ attempt.cancel() }, for: id)
    }

    func close() { listener.interrupt() }
}
