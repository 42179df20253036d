import Logging
import WireNet

/// `--serve tcp:PORT=HOST:PORT`: accepts TCP connections on the node's tunnel port and splices each
/// to a new host TCP connection to the target service.
///
/// A connection the service refuses is reset on the tunnel side, so the remote client sees
/// "connection refused" rather than an empty reply.
final class TCPServeForwarder: Forwarder {
    let rule: String
    let connections = ConnectionTracker()
    private let target: SocketAddress
    private let listener: TCPListener
    private let reactor: SocketReactor
    private let logger: Logger

    /// Listens on the tunnel port; `target` is the rule's resolved host service.
    init(rule: ServeRule, target: SocketAddress, node: Node, reactor: SocketReactor, logger: Logger) async throws {
        self.rule = "serve \(rule)"
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
            connections.spawn { [target, reactor, logger] in
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
