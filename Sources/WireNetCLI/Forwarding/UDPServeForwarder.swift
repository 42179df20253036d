import Logging
import NetStack
import WireNet
import Wire

/// `--serve udp:PORT=HOST:PORT`: receives datagrams on the node's tunnel UDP port and relays each
/// sender's datagrams through its own host UDP socket connected to the target service; the
/// service's replies go back to that sender from the tunnel port. A sender beyond the rule's flow
/// limits (``ForwardingLimits``) has its datagrams dropped without a host socket being opened.
final class UDPServeForwarder: Forwarder {
    let rule: String
    let connections = ConnectionTracker()
    let flows: UDPFlowTable<IPEndpoint, HostUDPSocket>
    private let target: SocketAddress
    private let conn: PacketConn
    private let reactor: SocketReactor
    private let logger: Logger

    /// Opens the tunnel UDP port; `target` is the rule's resolved host service.
    init(rule: ServeRule, target: SocketAddress, node: Node, reactor: SocketReactor, logger: Logger,
         limits: ForwardingLimits = .defaults,
         idleTimeout: Duration = UDPFlowTable<IPEndpoint, HostUDPSocket>.defaultIdleTimeout) async throws {
        self.rule = "serve \(rule)"
        self.target = target
        conn = try await node.listenPacket(udp: rule.tunnelPort)
        flows = UDPFlowTable(idleTimeout: idleTimeout, limit: limits.flowsPerRule, perSourceLimit: limits.flowsPerSource)
        self.reactor = reactor
        self.logger = logger
    }

    func run() async {
        let sweeper = flows.startSweeping { $0.interrupt() }
        await relayDatagrams()
        sweeper.cancel()
        for socket in flows.removeAll() { socket.interrupt() }
    }

    /// Relays tunnel datagrams to the service until the tunnel socket (or the node) is closed.
    private func relayDatagrams() async {
        var warnedFull = false
        while true {
            let datagram: (bytes: [UInt8], from: IPEndpoint)
            do { datagram = try await conn.receive() } catch { return }
            var socket = flows.channel(for: datagram.from)
            if socket == nil {
                // Refused before a socket is opened: a full table costs no socket per datagram.
                if let refusal = flows.refusal(for: datagram.from) {
                    connections.refuse(refusal)
                    if !warnedFull { logger.warning("UDP flow limit reached; dropping datagrams from new senders", metadata: ["rule": "\(rule)", "limit": "\(refusal)"]) }
                    warnedFull = true
                    continue
                }
                do {
                    let created = try HostUDPSocket.connected(to: target, reactor: reactor)
                    if let refusal = flows.insert(created, for: datagram.from) {
                        // Not reached: this loop is the only one adding flows, and it asked first.
                        created.close()
                        connections.refuse(refusal)
                        continue
                    }
                    warnedFull = false
                    startReplies(from: created, to: datagram.from)
                    socket = created
                } catch {
                    logger.warning("cannot open a UDP socket to the served service", metadata: ["error": "\(error)"])
                    continue
                }
            }
            do { try await socket?.send(datagram.bytes) } catch {
                logger.debug("UDP send to the service failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Relays the service's replies for one flow until the flow is interrupted (expired or closed).
    private func startReplies(from socket: HostUDPSocket, to sender: IPEndpoint) {
        connections.spawn { [conn, flows, logger] in
            defer {
                flows.remove(sender, ifChannel: socket)
                socket.close()
            }
            do {
                while let (reply, _) = try await socket.receive() {
                    flows.touch(sender)
                    try await conn.send(reply, to: sender)
                }
                return true
            } catch {
                logger.debug("UDP flow ended with an error", metadata: ["sender": "\(sender)", "error": "\(error)"])
                return false
            }
        }
    }

    func close() { conn.close() }
}
