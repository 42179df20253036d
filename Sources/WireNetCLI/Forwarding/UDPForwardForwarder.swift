import Logging
import NetStack
import WireNet
import Wire

/// `--forward udp:[BIND:]PORT=TUNNEL_IP:PORT`: receives datagrams on a host UDP socket and relays
/// each sender's datagrams through its own tunnel UDP socket (an ephemeral port of the node) to the
/// target; the target's replies go back to that sender from the bound host socket. A sender beyond
/// the rule's flow limits (``ForwardingLimits``) has its datagrams dropped without a tunnel socket
/// being opened.
final class UDPForwardForwarder: Forwarder {
    let rule: String
    let connections = ConnectionTracker()
    let flows: UDPFlowTable<SocketAddress, PacketConn>
    /// The host address datagrams are accepted on.
    let localAddress: SocketAddress
    private let target: IPEndpoint
    /// A tailnet peer's name, resolved from the netmap for each datagram (the peer may join later).
    private let targetName: String?
    private let socket: HostUDPSocket
    private let node: Node
    private let logger: Logger

    /// Binds the host UDP socket; flows open tunnel sockets on `node` once it runs.
    init(rule: ForwardRule, node: Node, reactor: SocketReactor, logger: Logger, limits: ForwardingLimits = .defaults,
         idleTimeout: Duration = UDPFlowTable<SocketAddress, PacketConn>.defaultIdleTimeout) async throws {
        self.rule = "forward \(rule)"
        let address = try await SocketAddress.resolve(host: rule.bind.host, port: rule.bind.port, datagram: true)
        socket = try HostUDPSocket.bound(to: address, reactor: reactor)
        localAddress = socket.localAddress ?? address
        target = rule.target
        targetName = rule.targetName
        flows = UDPFlowTable(idleTimeout: idleTimeout, limit: limits.flowsPerRule, perSourceLimit: limits.flowsPerSource)
        self.node = node
        self.logger = logger
    }

    func run() async {
        let sweeper = flows.startSweeping { $0.close() }
        await relayDatagrams()
        sweeper.cancel()
        for conn in flows.removeAll() { conn.close() }
        // Reply tasks send on the host socket: release it only once they are done.
        await connections.waitUntilIdle()
        socket.close()
    }

    /// Relays host datagrams into the tunnel until the host socket is interrupted or the node closes.
    private func relayDatagrams() async {
        var warnedFull = false
        while true {
            let datagram: (bytes: [UInt8], from: SocketAddress)
            do {
                guard let next = try await socket.receive() else { return }
                datagram = next
            } catch {
                logger.warning("UDP receive failed", metadata: ["rule": "\(rule)", "error": "\(error)"])
                return
            }
            var conn = flows.channel(for: datagram.from)
            if conn == nil {
                if let refusal = flows.refusal(for: datagram.from) {
                    connections.refuse(refusal)
                    if !warnedFull { logger.warning("UDP flow limit reached; dropping datagrams from new senders", metadata: ["rule": "\(rule)", "limit": "\(refusal)"]) }
                    warnedFull = true
                    continue
                }
                do {
                    let created = try await node.listenPacket()
                    if let refusal = flows.insert(created, for: datagram.from) {
                        // Not reached: this loop is the only one adding flows, and it asked first.
                        created.close()
                        connections.refuse(refusal)
                        continue
                    }
                    warnedFull = false
                    startReplies(from: created, to: datagram.from)
                    conn = created
                } catch {
                    // The node is closed: nothing more can be forwarded.
                    logger.debug("cannot open a tunnel UDP socket", metadata: ["error": "\(error)"])
                    return
                }
            }
            guard let destination = Self.currentTarget(target, name: targetName, node: node) else {
                logger.debug("forward target is not a tailnet peer (yet)", metadata: ["target": "\(targetName ?? "")"])
                continue
            }
            do { try await conn?.send(datagram.bytes, to: destination) } catch {
                logger.debug("UDP send through the tunnel failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Relays the target's replies for one flow until its tunnel socket is closed (expired or shut down).
    private func startReplies(from conn: PacketConn, to sender: SocketAddress) {
        connections.spawn { [socket, flows, target, targetName, node, logger] in
            defer {
                flows.remove(sender, ifChannel: conn)
                conn.close()
            }
            do {
                while true {
                    let (reply, from) = try await conn.receive()
                    // Only the target's replies belong to the flow.
                    guard from == Self.currentTarget(target, name: targetName, node: node) else { continue }
                    flows.touch(sender)
                    try await socket.send(reply, to: sender)
                }
            } catch NodeError.closed {
                return true
            } catch {
                logger.debug("UDP flow ended with an error", metadata: ["sender": "\(sender)", "error": "\(error)"])
                return false
            }
        }
    }

    /// The target's address now: the literal, or the peer name's address in the current netmap.
    private static func currentTarget(_ target: IPEndpoint, name: String?, node: Node) -> IPEndpoint? {
        guard let name else { return target }
        return node.resolve(host: name).map { IPEndpoint($0, target.port) }
    }

    func close() { socket.interrupt() }
}
