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

    func run() async {
        defer { listener.close() }
        while true {
            let host: HostStream
            do {
                guard let next = try await listener.accept() else { return }
                host = next
            } catch {
                // EMFILE and friends: the next accept may succeed once connections end.
                logger.warning("accept failed", metadata: ["rule": "\(rule)", "error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            let source = host.remoteAddress?.withoutPort ?? localAddress.withoutPort
            if let refusal = limiter.acquire(source) {
                connections.refuse(refusal)
                logger.debug("connection refused by a limit", metadata: ["from": "\(source)", "limit": "\(refusal)"])
                host.close(reset: true)
                continue
            }
            connections.spawn { [node, target, logger, limiter] in
                defer { limiter.release(source) }
                let tunnel: TCPStream
                do {
                    if let name = target.targetName {
                        tunnel = try await node.dial(tcp: name, port: target.target.port, timeout: Self.dialTimeout)
                    } else {
                        tunnel = try await node.dial(tcp: target.target, timeout: Self.dialTimeout)
                    }
                } catch {
                    logger.info("cannot reach the tunnel target", metadata: [
                        "target": "\(target.targetName ?? target.target.description)", "from": "\(host.remoteAddress.map(\.description) ?? "?")",
                        "error": "\(error)"])
                    host.close(reset: true)
                    return false
                }
                return await TCPSplice(host: host, tunnel: tunnel, logger: logger).run()
            }
        }
    }

    func close() { listener.interrupt() }
}
