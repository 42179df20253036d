import Logging
import WireNet

/// `--serve tcp:PORT=HOST:PORT`: accepts TCP connections on the node's tunnel port and splices each
/// to a new host TCP connection to the target service.
///
/// A connection the service refuses is reset on the tunnel side, so the remote client sees
/// "connection refused" rather than an empty reply. So is a connection beyond the rule's limits
/// (``ForwardingLimits``), before any host socket is opened for it.
final class TCPServeForwarder: Forwarder {
    let rule: String
    let connections = ConnectionTracker()
    let limiter: ConnectionLimiter<IPAddress>
    private let target: SocketAddress
    private let listener: TCPListener
    private let reactor: SocketReactor
    private let logger: Logger

    /// Listens on the tunnel port; `target` is the rule's resolved host service.
    init(rule: ServeRule, target: SocketAddress, node: Node, reactor: SocketReactor, logger: Logger,
         limits: ForwardingLimits = .defaults) async throws {
        self.rule = "serve \(rule)"
        limiter = ConnectionLimiter(perRule: limits.connectionsPerRule, perSource: limits.connectionsPerSource)
        self.target = target
        listener = try await node.listen(tcp: rule.tunnelPort)
        self.reactor = reactor
        self.logger = logger
    }

    func run() async {
        while true {
            let stream: TCPStream
            do {
                guard let next = try await listener.accept() else { return }
                stream = next
            } catch {
                logger.warning("accept failed", metadata: ["rule": "\(rule)", "error": "\(error)"])
                return
            }
            let source = stream.remoteAddress.address
            if let refusal = limiter.acquire(source) {
                connections.refuse(refusal)
                logger.debug("connection refused by a limit", metadata: ["from": "\(stream.remoteAddress)", "limit": "\(refusal)"])
                stream.abort()
                continue
            }
            connections.spawn { [target, reactor, logger, limiter] in
                defer { limiter.release(source) }
                let host: HostStream
                do {
                    host = try await HostStream.connect(to: target, reactor: reactor)
                } catch {
                    logger.info("cannot reach the served service", metadata: [
                        "from": "\(stream.remoteAddress)", "error": "\(error)"])
                    stream.abort()
                    return false
                }
                return await TCPSplice.run(host: host, tunnel: stream, logger: logger)
            }
        }
    }

    func close() { listener.close() }
}
