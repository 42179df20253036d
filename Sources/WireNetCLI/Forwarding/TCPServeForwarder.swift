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
    /// Waits for the host connections: driven by the node's loop thread, which accepts and splices.
    private let reactor: SocketReactor
    private let logger: Logger

    /// Listens on the tunnel port; `target` is the rule's resolved host service. The host
    /// connections wait in a reactor ``SocketReactor/driven(by:)`` the node; `reactor` (the process's,
    /// which the UDP rules use) is not needed.
    ///
    /// - Throws: ``NodeError`` (port in use, node not running), ``SystemError`` (no epoll instance).
    init(rule: ServeRule, target: SocketAddress, node: Node, reactor: SocketReactor, logger: Logger,
         limits: ForwardingLimits = .defaults) async throws {
        self.rule = "serve \(rule)"
        limiter = ConnectionLimiter(perRule: limits.connectionsPerRule, perSource: limits.connectionsPerSource)
        self.target = target
        listener = try await node.listen(tcp: rule.tunnelPort)
        do {
            self.reactor = try SocketReactor.driven(by: node)
        } catch {
            listener.close()
            throw error
        }
        self.logger = logger
    }

    /// Accepts until ``close()`` (or the node's close). Each connection is accepted on the node's loop
    /// thread, which opens its host connection and starts its ``TCPSplice``, and carries both
    /// directions: no task runs per connection, no other thread wakes per chunk. Cancelling the
    /// calling task stops accepting, closes the listener and ends every connection the rule carries,
    /// releasing their sockets, before this returns.
    func run() async {
        do {
            try await listener.acceptEach { [self] stream in accepted(stream) }
        } catch is CancellationError {
            listener.close()
            connections.cancelAll()
            await connections.waitUntilIdle()
        } catch {
            logger.warning("accept failed", metadata: ["rule": "\(rule)", "error": "\(error)"])
        }
    }

    /// On the loop thread: checks the limits, opens the host connection, starts the splice.
    private func accepted(_ stream: TCPStream) {
        let source = stream.remoteAddress.address
        if let refusal = limiter.acquire(source) {
            connections.refuse(refusal)
            logger.debug("connection refused by a limit", metadata: ["from": "\(stream.remoteAddress)", "limit": "\(refusal)"])
            stream.abort()
            return
        }
        let host: HostStream
        let connected: Bool
        do {
            (host, connected) = try HostStream.open(to: target, reactor: reactor)
        } catch {
            logger.info("cannot reach the served service", metadata: ["from": "\(stream.remoteAddress)", "error": "\(error)"])
            stream.abort()
            limiter.release(source)
            connections.countFailure()
            return
        }
        let splice = TCPSplice(host: host, tunnel: stream, hostConnecting: !connected, logger: logger)
        connections.start(splice) { [limiter] in limiter.release(source) }
    }

    func close() { listener.close() }
}
