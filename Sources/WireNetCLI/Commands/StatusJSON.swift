#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import WireNet

/// `wirenet status --json`: the node's state as one JSON object, for scripts and tests.
///
/// ```json
/// {"publicKey": "…", "name": "web.tailnet.test.", "addresses": ["100.64.0.1/32"], "control": "running",
///  "peers": [{"hostName": "db", "name": "db.tailnet.test.", "addresses": ["100.64.0.2/32"], "online": true,
///             "lastHandshakeSecondsAgo": 3, "receivedBytes": 1200, "sentBytes": 900, …}], "forwarding": […]}
/// ```
struct StatusJSON: Encodable {
    struct Peer: Encodable {
        var publicKey: String
        var hostName: String?
        var name: String?
        var addresses: [String]
        var online: Bool?
        var lastSeen: String?
        var expired: Bool?
        var endpoint: String?
        /// Seconds since the last completed handshake; nil before the first.
        var lastHandshakeSecondsAgo: Int64?
        var receivedBytes: UInt64
        var sentBytes: UInt64
        var droppedPackets: UInt64
        /// `direct` or `relayed` (tailnet peers), with the direct endpoint or the DERP region.
        var path: String?
        var derpRegion: Int?
        /// The path's round trip in milliseconds, when measured.
        var latencyMs: Double?
    }

    var publicKey: String
    var name: String?
    var addresses: [String]
    var listenPort: UInt16
    var control: String?
    var controlMessage: String?
    var filteredPackets: UInt64
    var tcpConnections: Int
    /// TCP connections per state (`SYN-RECEIVED` counts the half-open ones).
    var tcpConnectionsByState: [String: Int]
    /// The stack's listener counters: SYN cookies, SYN-queue evictions, limit drops.
    var tcpListeners: NodeStatus.TCPListenerCounters
    /// The stack's retransmitted segments by kind, with timeout and recovery events.
    var tcpRetransmissions: [String: UInt64]
    var peers: [Peer]
    /// The rules' status lines, as `wirenet status` prints them.
    var forwarding: [String]
    /// The rules' counts.
    var forwarders: [Forwarding]

    /// One forwarding rule's counts.
    struct Forwarding: Codable {
        var rule: String
        var active: Int
        var total: UInt64
        var failed: UInt64
        /// New connections (UDP: datagrams from senders without a flow) refused by the rule's limit.
        var refusedByRule: UInt64
        /// The same, refused by the per-source limit.
        var refusedBySource: UInt64
    }

    init(_ status: NodeStatus, forwarders: [any Forwarder]) {
        publicKey = status.publicKey.description
        name = status.name
        addresses = status.addresses.map(\.description)
        listenPort = status.listenPort
        control = status.controlState?.rawValue
        controlMessage = status.controlMessage
        filteredPackets = status.filteredPackets
        tcpConnections = status.tcpConnections
        tcpConnectionsByState = status.tcpConnectionsByState
        tcpListeners = status.tcpListenerCounters
        let retransmissions = status.tcpRetransmissions
        var counts = Dictionary(uniqueKeysWithValues: retransmissions.byKind.map { ($0.kind, $0.count) })
        counts["retransmission_timeouts"] = retransmissions.retransmissionTimeouts
        counts["fast_recoveries"] = retransmissions.fastRecoveries
        tcpRetransmissions = counts
        peers = status.peers.map { peer in
            Peer(publicKey: peer.publicKey.description, hostName: peer.tailnet?.hostName, name: peer.tailnet?.name,
                 addresses: peer.tailnet?.addresses.map(\.description) ?? [], online: peer.tailnet?.online,
                 lastSeen: peer.tailnet?.lastSeen, expired: peer.tailnet?.expired, endpoint: peer.endpoint,
                 lastHandshakeSecondsAgo: peer.lastHandshakeAge.map { $0.components.seconds },
                 receivedBytes: peer.receivedBytes, sentBytes: peer.sentBytes, droppedPackets: peer.droppedPackets,
                 path: peer.path?.kind.rawValue, derpRegion: peer.path?.region,
                 latencyMs: peer.path?.latency.map { Double($0.components.seconds) * 1000 + Double($0.components.attoseconds) / 1e15 })
        }
        forwarding = forwarders.map(\.statusLine)
        self.forwarders = forwarders.map { forwarder in
            let connections = forwarder.connections
            return Forwarding(rule: forwarder.rule, active: connections.active, total: connections.total,
                              failed: connections.failed, refusedByRule: connections.refusedByRule,
                              refusedBySource: connections.refusedBySource)
        }
    }

    func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
