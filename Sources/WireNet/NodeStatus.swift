import Wire
import WireGuard

/// A snapshot of a running ``Node`` (see ``Node/status()``).
public struct NodeStatus: Sendable, CustomStringConvertible {
    /// One peer's state.
    public struct Peer: Sendable {
        public var publicKey: PublicKey
        /// The UDP endpoint packets go to (learned from the configuration or the peer's last packet).
        public var endpoint: String?
        /// Time since the last completed handshake; nil before the first.
        public var lastHandshakeAge: Duration?
        /// Transport bytes received from and sent to this peer (WireGuard datagram payloads).
        public var receivedBytes: UInt64
        public var sentBytes: UInt64
        /// Datagrams from this peer that were dropped (bad, replayed, not allowed), all reasons summed.
        public var droppedPackets: UInt64
        /// The same drops by reason (`replayedCounter`, `disallowedSource`, …; reasons with none left out).
        public var droppedPacketsByReason: [String: UInt64] = [:]
        /// Handshakes completed with this peer since the node started (either side initiating).
        public var handshakesCompleted: UInt64 = 0
    }

    public var publicKey: PublicKey
    public var addresses: [IPPrefix]
    /// The UDP port the node listens on.
    public var listenPort: UInt16
    /// The UDP I/O path in use (`ioUring` or `portable`).
    public var transport: String
    /// TCP connections in the userspace stack (all states).
    public var tcpConnections: Int
    /// The same per TCP state (`ESTABLISHED`, `TIME-WAIT`, … as RFC 9293 §3.3.2 names them).
    public var tcpConnectionsByState: [String: Int] = [:]
    public var peers: [Peer]

    /// A `wg show`-like summary.
    public var description: String {
        var lines = [
            "public key: \(publicKey)",
            "addresses: \(addresses.map(\.description).joined(separator: ", "))",
            "listening port: \(listenPort) (\(transport))",
            "tcp connections: \(tcpConnections)",
        ]
        for peer in peers {
            lines.append("")
            lines.append("peer: \(peer.publicKey)")
            if let endpoint = peer.endpoint { lines.append("  endpoint: \(endpoint)") }
            if let age = peer.lastHandshakeAge {
                lines.append("  latest handshake: \(age.components.seconds) seconds ago")
            } else {
                lines.append("  latest handshake: none")
            }
            lines.append("  transfer: \(peer.receivedBytes) B received, \(peer.sentBytes) B sent")
            if peer.droppedPackets > 0 { lines.append("  dropped: \(peer.droppedPackets)") }
        }
        return lines.joined(separator: "\n")
    }
}
